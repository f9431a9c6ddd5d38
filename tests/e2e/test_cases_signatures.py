# SPDX-License-Identifier: MIT
"""C18 (shared/CASES.md): the sha256-<hex>.sig tag, as clients and as regwarden see it.

- An absent .sig tag through regwarden: 404, application/json, MANIFEST_UNKNOWN (clients
  such as skopeo read it before writing a signature).
- As a client of the upstream, regwarden treats a 404 on the .sig tag as "no signatures yet"
  whatever the error code (FAKE --sig-404-code) and signs; anything else (FAKE --sig-500) is
  an error: the client gets a 5xx and nothing is reported signed; a retry then signs.
- Signing appends to an existing .sig manifest (a foreign signature stays: 2 layers).
- Pushing signature tags through regwarden does not trigger signing of the signature.
"""
import json

import pytest

import rawreg
from casekit import *  # noqa: F401,F403
from casekit import skopeo_copy
from casekit import fake_upstream, push_direct, rw_client, seed_fake, sig_tag
from lib import images, sigtool, util


def _signed_events(rw, digest):
    return [e for e in rw.events("signed") if digest in json.dumps(e)]


def test_c18_absent_sig_tag_is_manifest_unknown(upstream, regwarden, image_factory):
    lay = image_factory()
    push_direct(lay, "v1", upstream.host, "team/app")
    digest = lay.digest("v1")
    c = rw_client(regwarden)
    r = c.manifest("team/app", sig_tag(digest), accept="application/vnd.oci.image.manifest.v1+json")
    assert r.status == 404, r
    assert (r.header("Content-Type") or "").startswith("application/json"), r
    assert r.error_codes()[:1] == ["MANIFEST_UNKNOWN"], r
    r = c.manifest("team/app", sig_tag(digest), method="HEAD")
    assert r.status == 404, r


@pytest.mark.parametrize("code", ["NOT_FOUND", ""], ids=["code-NOT_FOUND", "bare-404"])
def test_c18_sig_lookup_404_with_other_code_still_signs(fake, main_config, regwarden_factory, image_factory,
                                                         keys, code):
    rw = regwarden_factory(main_config(fake_upstream(fake)))
    fake.set_faults(sig_404_code=code)
    lay = image_factory()
    p = skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % rw.host, check=False)
    assert p.returncode == 0, "push through regwarden failed:\n%s\n--- regwarden\n%s" % (
        p.stderr[-2000:], util.tail(rw.stderr_path))
    digest = lay.digest("v1")
    v = sigtool.verify(sigtool.RegClient(fake.url), "team/app", digest, {"team": keys.team.public_key()})
    assert v.ok, v
    assert _signed_events(rw, digest), "no \"signed\" line for %s" % digest


def test_c18_sig_lookup_500_fails_the_push_then_retry_signs(fake, main_config, regwarden_factory, image_factory,
                                                            keys):
    rw = regwarden_factory(main_config(fake_upstream(fake)))
    lay = image_factory()
    # blobs (and the manifest, under another tag) straight to FAKE; then the PUT through regwarden
    seed_fake(fake, lay, "v1", "team/app", ref="seed")
    digest = lay.digest("v1")
    body = lay.manifest_bytes("v1")
    fake.set_faults(sig_500=True)
    c = rw_client(rw)
    r = c.put_manifest("team/app", "v1", body, images.OCI_MANIFEST)
    assert 500 <= r.status < 600, "signature store failed upstream: the client must get a 5xx, got %r" % r
    assert (r.header("Content-Type") or "").startswith("application/json") and r.error_codes(), r
    assert _signed_events(rw, digest) == [], "reported signed although no signature was stored"
    repo = fake.store.repo("team/app")
    assert sig_tag(digest) not in repo["tags"]
    # the fault clears; the client's retry signs
    fake.set_faults(reset=True)
    r = c.put_manifest("team/app", "v1", body, images.OCI_MANIFEST)
    assert r.status == 201 and r.header("Docker-Content-Digest") == digest, r
    v = sigtool.verify(sigtool.RegClient(fake.url), "team/app", digest, {"team": keys.team.public_key()})
    assert v.ok, v
    assert _signed_events(rw, digest)


def test_c18_skopeo_push_with_sig_500_fails(fake, main_config, regwarden_factory, image_factory):
    rw = regwarden_factory(main_config(fake_upstream(fake)))
    fake.set_faults(sig_500=True)
    lay = image_factory()
    p = skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % rw.host, check=False, timeout=300)
    assert p.returncode != 0, "skopeo push succeeded although the signature could not be stored"
    assert _signed_events(rw, lay.digest("v1")) == []


def test_c18_signing_appends_to_foreign_signature(upstream, regwarden, image_factory, keys):
    lay = image_factory()
    push_direct(lay, "v1", upstream.host, "team/app")
    digest = lay.digest("v1")
    client = sigtool.RegClient(upstream.url)
    sigtool.attach(client, "team/app", digest, keys.other.private_key(), "registry.local/team/app")
    foreign = json.loads(upstream.get_manifest("team/app", sig_tag(digest)).body)["layers"]
    assert len(foreign) == 1
    skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % regwarden.host)
    v = sigtool.verify(client, "team/app", digest, {"team": keys.team.public_key()})
    assert v.ok, v
    layers = v.manifest["layers"]
    assert len(layers) == 2, "want the foreign signature kept and ours appended: %s" % layers
    assert layers[0]["digest"] == foreign[0]["digest"]
    assert sum(1 for x in v.layers if x.ok and x.key == "team") == 1


def test_c18_pushing_signature_tags_does_not_sign_them(upstream, regwarden, image_factory, keys):
    lay = image_factory()
    skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % regwarden.host)
    digest = lay.digest("v1")
    # a second signature written by a client THROUGH regwarden (cosign-style)
    body, sig_digest = sigtool.attach(sigtool.RegClient(regwarden.url), "team/app", digest, keys.other.private_key(),
                                      "registry.local/team/app")
    r = upstream.get_manifest("team/app", sig_tag(sig_digest))
    assert r.status == 404, "regwarden signed a signature manifest: %r" % r
    assert _signed_events(regwarden, sig_digest) == []


_ = rawreg
