# SPDX-License-Identifier: MIT
"""C02 (shared/CASES.md): a blob 307 to object storage; the registry credential never follows it.

FAKE (fake.local) answers blob GETs with 307 to a presigned-style URL on STORE, which lives on
another host (127.0.0.3) and answers 400 InvalidArgument to any Authorization header, as S3
does. FAKE also requires a bearer token. Whether regwarden relays the 307 or follows it itself,
STORE must never see Authorization; signature payload blobs regwarden fetches for its own
verification are redirected too, so its own upstream client must follow without credentials.
"""
import os
import time

import pytest

import rawreg
from casekit import *  # noqa: F401,F403
from casekit import skopeo_copy
from casekit import fake_upstream, rw_client, seed_fake
from lib import images, sigtool, util

BEARER = {"Authorization": "Bearer fake-token"}


def _seed_signed(fake, image_factory, keys, repo):
    lay = image_factory()
    digest = seed_fake(fake, lay, "v1", repo)
    sigtool.attach(sigtool.RegClient(fake.url), repo, digest, keys.team.private_key(), "fake.local/" + repo)
    return lay, digest


def _check_blob(c, store, repo, digest):
    """GET a blob through regwarden as a correct client would: a cross-origin redirect is
    followed WITHOUT the registry credential. Returns how regwarden answered."""
    r = c.blob(repo, digest, headers=BEARER)
    assert r.status in (200, 307), "blob GET through regwarden: want 200 (followed) or 307 (relayed): %r" % r
    if r.status == 307:
        loc = r.header("Location") or ""
        # A presigned URL is relayed untouched: not rewritten to regwarden's origin, query intact.
        assert loc.startswith(store.url + "/") and "X-Amz-Signature=" in loc, loc
        r2 = rawreg.Client(store.url).request("GET", loc)
        assert r2.status == 200 and r2.ending == "clean", r2
        body = r2.body
    else:
        assert r.ending == "clean"
        body = r.body
    assert util.sha256_bytes(body) == digest
    return r.status


def test_c02_blob_redirect_never_carries_credentials(fake, store, main_config, regwarden_factory, image_factory):
    lay = image_factory()
    seed_fake(fake, lay, "v1", "library/app")
    rw = regwarden_factory(with_store(main_config(fake_upstream(fake)), store))
    fake.set_faults(redirect_blobs=store.url, require_bearer=True)
    c = rw_client(rw)
    # without a token: the upstream's 401 challenge comes back (auth is end to end)
    r = c.manifest("library/app", "v1")
    assert r.status == 401 and (r.header("WWW-Authenticate") or "").startswith("Bearer "), r
    r = c.request("GET", "/v2/library/app/manifests/v1", dict(BEARER, Accept=rawreg.MANIFEST_ACCEPT))
    assert r.status == 200 and util.sha256_bytes(r.body) == lay.digest("v1"), r
    for d in lay.layer_digests("v1"):
        _check_blob(c, store, "library/app", d)
    assert store.log, "STORE was never reached: the redirect was not exercised"
    assert store.authorization_seen() == [], "registry credentials reached the storage origin"


def test_c02_skopeo_pull_with_redirects_and_signature_check(fake, store, keys, main_config, regwarden_factory,
                                                            image_factory, workdir):
    # team/** requires a signature: regwarden itself fetches the .sig payload blob, which FAKE
    # also redirects to STORE, so its own client must follow the 307 without Authorization.
    lay, digest = _seed_signed(fake, image_factory, keys, "team/app")
    rw = regwarden_factory(with_store(main_config(fake_upstream(fake)), store))
    fake.set_faults(redirect_blobs=store.url, require_bearer=True)
    out = workdir / "out"
    p = skopeo_copy("docker://%s/team/app:v1" % rw.host, "oci:%s:v1" % out, check=False)
    assert p.returncode == 0, "skopeo pull through regwarden failed:\n%s\n--- regwarden\n%s" % (
        p.stderr[-3000:], util.tail(rw.stderr_path))
    got = images.Layout(str(out))
    assert got.digest("v1") == digest
    for d in got.layer_digests("v1"):
        assert util.sha256_file(got.blob_path(d)) == d
    assert store.log, "STORE was never reached: the redirect was not exercised"
    assert store.authorization_seen() == [], "registry credentials reached the storage origin: %r" % (
        store.authorization_seen(),)
    assert not any(x.get("event") == "deny" for x in rw.deny_lines())


@pytest.mark.needs_root
def test_c02_ctr_pull_with_redirects(fake, store, keys, main_config, regwarden_factory, image_factory, ctr):
    lay, digest = _seed_signed(fake, image_factory, keys, "team/app")
    rw = regwarden_factory(with_store(main_config(fake_upstream(fake)), store))
    fake.set_faults(redirect_blobs=store.url, require_bearer=True)
    ctr.mirror(rw, registry="fake.local")
    p = ctr.pull("fake.local/team/app:v1")
    assert p.returncode == 0, "ctr pull failed:\n%s\n--- regwarden\n%s" % (p.stderr[-3000:], util.tail(rw.stderr_path))
    assert ctr.image_digest("fake.local/team/app:v1") == digest
    assert store.log and store.authorization_seen() == []


_ = os


def with_store(cfg, store):
    """The object store FAKE redirects blobs to is a host regwarden may dial for fake.local
    (upstreams.<name>.allowed_hosts); invariant 4 keeps every other host out."""
    url = cfg["upstreams"]["fake.local"]
    cfg["upstreams"]["fake.local"] = {"url": url, "allowed_hosts": [store.host]}
    return cfg


def test_c02_storage_host_not_allowed_is_never_dialed(fake, store, keys, main_config, regwarden_factory,
                                                      image_factory):
    """Invariant 4: without allowed_hosts, regwarden's own payload fetch does not follow the 307 to
    STORE: the pull is denied (upstream-error), and STORE sees no connection from regwarden."""
    lay, digest = _seed_signed(fake, image_factory, keys, "team/app")
    rw = regwarden_factory(main_config(fake_upstream(fake)))
    fake.set_faults(redirect_blobs=store.url)
    r = util.http("GET", "%s/v2/team/app/manifests/v1" % rw.url,
                  headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status == 403, r
    assert [x["reason"] for x in rw.deny_lines() if x.get("event") == "deny"] == ["upstream-error"]
    assert store.log == [], "regwarden dialed a host its config does not name: %r" % (store.log,)


@pytest.mark.parametrize("trick", ["userinfo", "userinfo-port"])
def test_c02_allowed_host_spoofed_with_userinfo_is_not_dialed(trick, fake, store, keys, main_config,
                                                               regwarden_factory, image_factory):
    """allowed_hosts names STORE; a redirect whose authority is "STORE@SINK" (or "STORE:1@SINK")
    would make libcurl connect to SINK: regwarden must refuse it, and SINK sees nothing."""
    from redteam_up import Sink
    sink = Sink()
    lay, digest = _seed_signed(fake, image_factory, keys, "team/app")
    rw = regwarden_factory(with_store(main_config(fake_upstream(fake)), store))
    fake_host = store.host if trick == "userinfo" else "%s:1" % store.host
    fake.set_faults(redirect_blobs="http://%s@%s:%d" % (fake_host, sink.host, sink.port))
    r = util.http("GET", "%s/v2/team/app/manifests/v1" % rw.url,
                  headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status == 403, r
    time.sleep(0.3)
    assert sink.hits == [], "regwarden dialed the host behind the userinfo: %r" % sink.hits[:1]
