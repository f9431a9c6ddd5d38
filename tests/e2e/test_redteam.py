# SPDX-License-Identifier: MIT
"""Red-team findings against DESIGN.md's invariants. Each test states the promised behaviour; each
currently FAILS against the tree it was written for (see the FINDING comments)."""
import json

import pytest

from casekit import push_direct, sig_tag
from lib import util
from redteam_up import HookProxy, Sink

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def hooked(upstream):
    """A hostile/odd upstream in front of the real docker-registry; set .hook per test."""
    p = HookProxy(upstream.url)
    yield p
    p.stop()


def hooked_cfg(main_config, upstream, hooked, **kw):
    cfg = main_config(upstream, **kw)
    cfg["upstreams"] = {upstream.name: hooked.url}
    return cfg


def is_manifest_path(path, repo, ref):
    return path.split("?")[0] == "/v2/%s/manifests/%s" % (repo, ref)


# FINDING (invariant 3): push rule `attest: true` is parsed (policy/config.c) but never acted on:
# proxy/route_push.c signs and acknowledges with 201 without writing any sha256-<hex>.att, so an
# acknowledged push under an attesting rule carries no attestation.
def test_push_with_attest_rule_stores_attestation_before_ack(upstream, regwarden_factory, main_config,
                                                             image_factory):
    cfg = main_config(upstream)
    cfg["push"] = [{"match": "registry.local/team/**", "sign": True, "attest": True}]
    rw = regwarden_factory(cfg)
    lay = image_factory()
    p = push_direct(lay, "v1", rw.host, "team/app", check=False)
    digest = lay.digest("v1")
    if p.returncode != 0:
        return  # not acknowledged: allowed by invariant 3
    assert upstream.get_manifest("team/app", sig_tag(digest)).status == 200
    att = upstream.get_manifest("team/app", sig_tag(digest).replace(".sig", ".att"))
    assert att.status == 200, "push acknowledged under attest: true, but no %s upstream" % \
        sig_tag(digest).replace(".sig", ".att")


# FINDING (invariant 3): proxy/route_push.c:on_forwarded relays any non-201 answer to the manifest
# PUT as is, nothing signed. An upstream that stores the manifest and answers 200 (or 202) gets the
# client a 2xx acknowledgement for an unsigned push.
@pytest.mark.parametrize("code", [200, 202])
def test_push_2xx_other_than_201_is_not_acknowledged_unsigned(upstream, hooked, regwarden_factory,
                                                               main_config, image_factory, code):
    def hook(req):
        if req["method"] == "PUT" and is_manifest_path(req["path"], "team/app", "v1"):
            req["rewrite"] = lambda ans: (code, ans[1], ans[2])
        return None
    hooked.hook = hook
    rw = regwarden_factory(hooked_cfg(main_config, upstream, hooked))
    lay = image_factory()
    push_direct(lay, "v1", upstream.host, "team/app", ref="seed")  # blobs in place
    raw = lay.manifest_bytes("v1")
    digest = util.sha256_bytes(raw)
    r = util.http("PUT", rw.url + "/v2/team/app/manifests/v1", headers={"Content-Type": OCI_MANIFEST},
                  body=raw)
    signed = upstream.get_manifest("team/app", sig_tag(digest)).status == 200
    assert not (200 <= r.status < 300 and not signed), \
        "client got %d for a manifest PUT and no signature is stored" % r.status


# FINDING (invariant 1/2): proxy/route_pull.c:on_manifest treats every status but 200 as "not
# decided" and relay()s the upstream's body unverified. A 2xx other than 200 (203 here) carrying an
# unsigned manifest reaches the client under an enforcing rule; containerd accepts any 2xx.
@pytest.mark.parametrize("code", [203, 206])
def test_manifest_2xx_other_than_200_is_not_served_unverified(upstream, hooked, regwarden_factory,
                                                              main_config, image_factory, code):
    lay = image_factory()
    push_direct(lay, "v1", upstream.host, "team/app")  # unsigned

    def hook(req):
        if req["method"] == "GET" and is_manifest_path(req["path"], "team/app", "v1"):
            req["rewrite"] = lambda ans: (code, ans[1], ans[2])
        return None
    hooked.hook = hook
    rw = regwarden_factory(hooked_cfg(main_config, upstream, hooked))
    r = util.http("GET", rw.url + "/v2/team/app/manifests/v1?ns=registry.local",
                  headers={"Accept": OCI_MANIFEST})
    assert not (200 <= r.status < 300), \
        "unsigned manifest served with %d under an enforcing rule: %r" % (r.status, r.body[:120])
    assert r.status == 403, r.status


# FINDING (invariant 1/2): a redirect answer to the manifest GET is relayed with its Location to
# another origin verbatim (proxy/route_pull.c:relay + upstream.c:rw_upstream_rewrite_location):
# the client then fetches a manifest regwarden never verified, from a host regwarden would not name.
def test_manifest_redirect_to_other_origin_is_not_relayed(upstream, hooked, regwarden_factory, main_config,
                                                          image_factory):
    sink = Sink()
    try:
        def hook(req):
            if req["method"] == "GET" and is_manifest_path(req["path"], "team/app", "v1"):
                return (307, [("Location", sink.url + "/v2/team/app/manifests/v1")], b"")
            return None
        hooked.hook = hook
        rw = regwarden_factory(hooked_cfg(main_config, upstream, hooked))
        r = util.http("GET", rw.url + "/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
        loc = r.header("Location") if hasattr(r, "header") else dict(r.headers).get("Location")
        assert r.status == 403 or not (loc or "").startswith(sink.url), \
            "status %d relays Location %s (unverified manifest elsewhere)" % (r.status, loc)
    finally:
        sink.stop()


# FINDING (invariant 4, SSRF): evidence fetches (proxy/upstream.c:on_evidence) follow a redirect to
# ANY http(s) origin. An upstream answering the .sig lookup with 307 to 127.0.0.2 makes regwarden
# connect there (metadata/internal host). Manifests are never redirected by registries.
def test_sig_manifest_redirect_does_not_reach_unconfigured_host(upstream, hooked, regwarden_factory,
                                                                main_config, image_factory):
    lay = image_factory()
    push_direct(lay, "v1", upstream.host, "team/app")
    digest = lay.digest("v1")
    sink = Sink()
    try:
        def hook(req):
            if req["method"] == "GET" and is_manifest_path(req["path"], "team/app", sig_tag(digest)):
                return (307, [("Location", sink.url + "/latest/meta-data/iam")], b"")
            return None
        hooked.hook = hook
        rw = regwarden_factory(hooked_cfg(main_config, upstream, hooked))
        r = util.http("GET", rw.url + "/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert r.status == 403, r.status
        assert sink.hits == [], "regwarden connected to an unconfigured host: %r" % sink.hits[:1]
    finally:
        sink.stop()


# FINDING (blob gating, DESIGN reason `unreferenced-blob`): a cross-repository mount is a write, so
# proxy/routes.c:rw_routes_dispatch never gates it (blob_gate_ok runs for blob GETs only, and the
# mount's `from=` repository is never looked at). A blob of an unsigned image in team/app (GET is
# 403 unreferenced-blob) is mounted into library/x (no push rule, allow rule) and read from there.
def test_blob_gating_not_bypassed_by_cross_repo_mount(upstream, regwarden, image_factory):
    lay = image_factory()
    push_direct(lay, "v1", upstream.host, "team/app")  # unsigned, straight to the upstream
    d = lay.manifest("v1")["layers"][0]["digest"]
    assert util.http("GET", regwarden.url + "/v2/team/app/blobs/" + d).status == 403
    util.http("POST", regwarden.url + "/v2/library/x/blobs/uploads/?mount=%s&from=team/app" % d, body=b"")
    r = util.http("GET", regwarden.url + "/v2/library/x/blobs/" + d)
    assert not (r.status == 200 and util.sha256_bytes(r.body) == d), \
        "blob of an unsigned team/app image (gated: 403) read through a mount into library/x"


# FINDING (invariant 2): proxy/routes.c:fwd_on_headers skips the blob digest check whenever the
# client sent a Range header, even when the upstream ignores the range and answers 200 with the
# whole (here: corrupted) body. The client gets a clean 200 whose sha256 is not the digest asked.
def test_blob_200_answer_to_range_request_is_still_digest_checked(upstream, hooked, regwarden_factory,
                                                                  main_config, image_factory):
    lay = image_factory()
    push_direct(lay, "v1", upstream.host, "library/app")
    d = lay.manifest("v1")["layers"][0]["digest"]

    def hook(req):
        if req["method"] == "GET" and req["path"].split("?")[0] == "/v2/library/app/blobs/" + d:
            def corrupt(ans):
                st, hdrs, body = ans
                body = bytearray(body)
                body[len(body) // 2] ^= 1
                return (200, [(k, v) for k, v in hdrs if k.lower() != "content-range"], bytes(body))
            req["headers"].pop("Range", None)
            req["rewrite"] = corrupt
        return None
    hooked.hook = hook
    rw = regwarden_factory(hooked_cfg(main_config, upstream, hooked))
    try:
        r = util.http("GET", rw.url + "/v2/library/app/blobs/" + d, headers={"Range": "bytes=0-"})
    except Exception:
        return  # connection reset: the promised behaviour
    assert not (r.status == 200 and util.sha256_bytes(r.body) != d), \
        "clean 200 with a body hashing to %s for blob %s" % (util.sha256_bytes(r.body), d)
