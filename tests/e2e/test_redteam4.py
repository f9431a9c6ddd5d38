# SPDX-License-Identifier: MIT
"""Fourth red-team pass (push-side evidence relay, provenance, hostile existing attachments).

- Relayed writes (cosign tags `sha256-<hex>.sig|.att|.sbom`, the referrers tag `sha256-<hex>`, a
  manifest with a `subject`) go through the same `push[].identities` gate as signed pushes: a
  client the rule does not name can neither overwrite nor erase an image's evidence.
- A runnable image pushed with a `subject` is relayed unsigned, so a pull of it is denied.
- A hostile existing `.sig` / `.att` (not JSON, not a manifest, too many layers, foreign media
  types, a blob the registry does not have) never makes a push hang, crash regwarden, or get a 201
  without a signature (and attestation) that verifies.
"""
import json
import time

import pytest

from casekit import fake, fake_upstream, rw_client, seed_fake, wait_deny  # noqa: F401 (fixture)
from lib import images, sigtool
from test_attest import att_tag

OCI_MANIFEST = images.OCI_MANIFEST
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
REPO = "team/app"


def _identity_rw(fake, main_config, regwarden_factory):
    cfg = main_config(fake_upstream(fake))
    cfg["push"] = [{"match": "fake.local/team/**", "sign": True, "attest": True,
                    "identities": ["spiffe://example.org/ci/*"]}]
    return regwarden_factory(cfg)


def _artifact(fake, subject=None):
    st = fake.store
    cfg = st.put_bytes(b"{}")
    layer = st.put_bytes(b'{"sbom": "example"}')
    with st.lock:
        st.repo(REPO, create=True)
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
         "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg, "size": 2},
         "layers": [{"mediaType": "application/json", "digest": layer, "size": 19}]}
    if subject is not None:
        m["subject"] = subject
    return json.dumps(m, separators=(",", ":")).encode()


@pytest.mark.parametrize("what", ["sig", "att", "sbom", "referrers-tag", "subject", "delete-sig"])
def test_relayed_evidence_writes_need_an_allowed_identity(what, fake, main_config, regwarden_factory,
                                                          image_factory, keys):
    rw = _identity_rw(fake, main_config, regwarden_factory)
    lay = image_factory()
    digest = seed_fake(fake, lay, "v1", REPO)
    hexd = digest.split(":", 1)[1]
    # the team's own evidence, stored upstream directly
    sig = sigtool.RegClient(fake.url)
    sigtool.attach(sig, REPO, digest, keys.team.private_key(), "fake.local/" + REPO)
    before = dict(fake.store.repo(REPO)["tags"])
    c = rw_client(rw)  # the plain listener: no client certificate, so no identity
    since = len(rw.deny_lines())
    if what == "delete-sig":
        r = c.request("DELETE", "/v2/%s/manifests/%s" % (REPO, before["sha256-%s.sig" % hexd]))
    elif what == "subject":
        r = c.put_manifest(REPO, "evil", _artifact(fake, {"mediaType": OCI_MANIFEST, "digest": digest,
                                                          "size": len(lay.manifest_bytes("v1"))}),
                           OCI_MANIFEST)
    elif what == "referrers-tag":
        r = c.put_manifest(REPO, "sha256-" + hexd,
                           json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode(),
                           OCI_INDEX)
    else:
        r = c.put_manifest(REPO, "sha256-%s.%s" % (hexd, what), _artifact(fake), OCI_MANIFEST)
    assert r.status == 403, "an anonymous %s write was not refused: %r" % (what, r)
    assert wait_deny(rw, since, "push-not-allowed") is not None, rw.deny_lines(since)
    assert fake.store.repo(REPO)["tags"] == before
    assert sigtool.verify(sig, REPO, digest, {"team": keys.team.public_key()}), "the team's signature was touched"


def test_runnable_image_with_subject_is_never_served(fake, main_config, regwarden_factory, image_factory):
    """Relayed unsigned (it has a subject), so a pull of it must be denied like any unsigned image."""
    rw = regwarden_factory(main_config(fake_upstream(fake)))
    lay = image_factory()
    base = seed_fake(fake, lay, "v1", REPO)
    m = lay.manifest("v1")
    m["subject"] = {"mediaType": OCI_MANIFEST, "digest": base, "size": len(lay.manifest_bytes("v1"))}
    body = json.dumps(m, separators=(",", ":")).encode()
    c = rw_client(rw)
    r = c.put_manifest(REPO, "v2", body, OCI_MANIFEST)
    assert r.status == 201, r
    digest = r.header("Docker-Content-Digest")
    assert sigtool.sig_tag(digest) not in fake.store.repo(REPO)["tags"]
    since = len(rw.deny_lines())
    for ref in ("v2", digest):
        r = c.manifest(REPO, ref)
        assert r.status == 403, "an unsigned image with a subject was served by %s: %r" % (ref, r)
    assert wait_deny(rw, since, "no-signature") is not None, rw.deny_lines(since)


def _hostile(fake, kind, digest, which):
    """Bytes and media type for a hostile manifest under the image's .sig/.att tag."""
    st = fake.store
    blob = st.put_bytes(b"not a signature payload")
    layer = {"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": blob, "size": 23,
             "annotations": {"dev.cosignproject.cosign/signature": "AAAA"}}
    cfg = st.put_bytes(b"{}")
    man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": 2},
           "layers": []}
    if kind == "not-json":
        return b"\x00\xffnot json at all" * 10, OCI_MANIFEST
    if kind == "json-array":
        return b"[1,2,3]", OCI_MANIFEST
    if kind == "index":
        return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode(), OCI_INDEX
    if kind in ("64-foreign", "1024-foreign"):
        # well-formed layers by someone else (their blobs exist): the .sig/.att is simply full
        mt_l = layer["mediaType"] if which == "sig" else "application/vnd.dsse.envelope.v1+json"
        n = 64 if kind == "64-foreign" else 1024
        man["layers"] = [dict(layer, mediaType=mt_l,
                              annotations={"dev.cosignproject.cosign/signature": "Zm9v%04d" % i})
                         for i in range(n)]
    elif kind == "many-layers":
        man["layers"] = [dict(layer, annotations={"n": str(i)}) for i in range(3000)]
    elif kind == "foreign-types":
        man["layers"] = [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")] * 3
    elif kind == "missing-blob":
        man["layers"] = [dict(layer, digest="sha256:" + "0" * 64)]
    elif kind == "bad-digest":
        man["layers"] = [dict(layer, digest="sha256:../../etc/passwd")]
    elif kind == "huge":
        man["annotations"] = {"pad": "x" * (5 * 1024 * 1024)}
    elif kind == "deep":
        man["annotations"] = {"pad": "x"}
        return json.dumps(man)[:-1].encode() + b',"deep":' + b"[" * 100000 + b"]" * 100000 + b"}", OCI_MANIFEST
    return json.dumps(man).encode(), OCI_MANIFEST


def _plant(fake, tag, body, mt):
    st = fake.store
    d = st.put_bytes(body)
    with st.lock:
        r = st.repo(REPO, create=True)
        r["manifests"].add(d)
        r["tags"][tag] = d
        st.media[d] = mt


KINDS = ["64-foreign", "1024-foreign", "not-json", "json-array", "index", "many-layers", "foreign-types", "missing-blob", "bad-digest",
         "huge", "deep"]


@pytest.mark.parametrize("which", ["sig", "att"])
@pytest.mark.parametrize("kind", KINDS)
def test_hostile_existing_attachment_never_acknowledges_unsigned(which, kind, fake, main_config,
                                                                 regwarden_factory, image_factory, keys):
    cfg = main_config(fake_upstream(fake))
    cfg["push"] = [{"match": "fake.local/team/**", "sign": True, "attest": True}]
    cfg["pull"]["rules"][0]["require"]["attestations"] = ["https://slsa.dev/provenance/v1"]
    rw = regwarden_factory(cfg)
    lay = image_factory()
    digest = lay.digest("v1")
    seed_fake(fake, lay, "v1", REPO, ref="seed")
    tag = sigtool.sig_tag(digest) if which == "sig" else att_tag(digest)
    body, mt = _hostile(fake, kind, digest, which)
    _plant(fake, tag, body, mt)
    c = rw_client(rw, timeout=60)
    t0 = time.monotonic()
    r = c.put_manifest(REPO, "v1", lay.manifest_bytes("v1"), OCI_MANIFEST)
    assert time.monotonic() - t0 < 30, "the push hung on a hostile existing .%s" % which
    assert r.status == 201 or 500 <= r.status < 600, r
    if kind.endswith("-foreign"):
        # a full but well-formed .sig/.att is no reason to refuse a push, nor to hide what it signed
        assert r.status == 201, r
    if r.status == 201:
        reg = sigtool.RegClient(fake.url)
        assert sigtool.verify(reg, REPO, digest, {"team": keys.team.public_key()}), \
            "201 without a verifiable signature (hostile .%s: %s)" % (which, kind)
        # what was acknowledged pulls: signature and provenance found by the pull gate itself
        p = rw_client(rw).manifest(REPO, digest)
        assert p.status == 200, "201, but the pull of what was pushed is refused (hostile .%s: %s): %r" % (
            which, kind, p)
    # still serving
    assert rw_client(rw).request("GET", "/v2/").status in (200, 401)
