# SPDX-License-Identifier: MIT
"""Issue 7 item 3: signatures found through OCI 1.1 referrers (PROTOCOLS.md §1.9, §5.6, §5.7).

FAKE serves the referrers API one descriptor per page (`referrers: true, page_size: 1`), or no
API at all (then regwarden reads the `sha256-<hex>` tag-schema fallback index). The image has no
`sha256-<hex>.sig` tag: its signature is
  - a cosign oci-1-1 signature manifest (config.mediaType
    application/vnd.dev.cosign.artifact.sig.v1+json, a simple-signing layer), or
  - a Sigstore bundle v0.3 manifest whose layer is a messageSignature over the image manifest,
    or a DSSE envelope over an in-toto statement of type https://sigstore.dev/cosign/sign/v1,
made here with the team key (python cryptography) and pushed by digest with a `subject`.
Also: neither API nor tag -> 403 no-signature; a referrer whose subject is another image is not
counted.
"""
import base64
import hashlib
import json
import urllib.parse

import pytest

from casekit import *  # noqa: F401,F403
from casekit import fake_upstream, rw_client, wait_deny
from lib import sigtool

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
AT_SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
INTOTO = "application/vnd.in-toto+json"
SIGN_V1 = "https://sigstore.dev/cosign/sign/v1"
REPO = "team/app"


def _sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def _push_image(c, name=b"one"):
    """A small image straight to FAKE; returns (digest, manifest bytes)."""
    cfg = _dumps({"architecture": "amd64", "os": "linux",
                  "rootfs": {"type": "layers", "diff_ids": []}, "comment": name.decode()})
    layer = b"layer " + name
    cd, ld = c.put_blob(REPO, cfg), c.put_blob(REPO, layer)
    man = _dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                             "digest": cd, "size": len(cfg)},
                  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                              "digest": ld, "size": len(layer)}]})
    c.put_manifest(REPO, "v1" if name == b"one" else name.decode(), man)
    return _sha(man), man


def _push_referrer(c, subject, subject_size, config_type, layer_type, blob, annotations=None,
                   artifact_type=None):
    """A manifest with one layer `blob` and `subject`, pushed by digest; returns its descriptor."""
    empty = c.put_blob(REPO, b"{}")
    bd = c.put_blob(REPO, blob)
    layer = {"mediaType": layer_type, "digest": bd, "size": len(blob)}
    if annotations:
        layer["annotations"] = annotations
    man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": config_type, "digest": empty, "size": 2},
           "layers": [layer],
           "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_size}}
    if artifact_type:
        man["artifactType"] = artifact_type
    body = _dumps(man)
    md = _sha(body)
    c.put_manifest(REPO, md, body)
    return {"mediaType": OCI_MANIFEST, "digest": md, "size": len(body),
            "artifactType": artifact_type or config_type}


def _cosign_sig_referrer(c, key, digest, man, subject=None):
    """cosign sign --registry-referrers-mode oci-1-1 (PROTOCOLS.md §5.6)."""
    payload = sigtool.make_payload("fake.local/" + REPO, digest)
    sig = sigtool.sign_bytes(key, payload)
    return _push_referrer(c, subject or digest, len(man), AT_SIG, sigtool.SIMPLESIGNING, payload,
                          {sigtool.SIG_ANNOTATION: sig})


def _bundle_referrer(c, key, digest, man, kind="message"):
    """cosign sign --new-bundle-format (PROTOCOLS.md §5.7): a Sigstore bundle v0.3 manifest."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    vm = {"publicKey": {"hint": "team"}, "tlogEntries": []}
    if kind == "message":
        sig = key.sign(man, ec.ECDSA(hashes.SHA256()))
        content = {"messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256",
                              "digest": base64.b64encode(hashlib.sha256(man).digest()).decode()},
            "signature": base64.b64encode(sig).decode()}}
    else:
        st = _dumps({"_type": "https://in-toto.io/Statement/v1",
                     "subject": [{"digest": {"sha256": digest.split(":", 1)[1]}}],
                     "predicateType": SIGN_V1})
        pae = b"DSSEv1 %d %s %d %s" % (len(INTOTO), INTOTO.encode(), len(st), st)
        sig = key.sign(pae, ec.ECDSA(hashes.SHA256()))
        content = {"dsseEnvelope": {"payloadType": INTOTO,
                                    "payload": base64.b64encode(st).decode(),
                                    "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}]}}
    bundle = _dumps(dict({"mediaType": BUNDLE, "verificationMaterial": vm}, **content))
    return _push_referrer(c, digest, len(man), OCI_EMPTY, BUNDLE, bundle,
                          artifact_type=BUNDLE)


def _sbom_referrer(c, digest, man):
    return _push_referrer(c, digest, len(man), "application/spdx+json", "application/spdx+json",
                          b'{"spdxVersion":"SPDX-2.3"}')


def _fallback_index(c, digest, descs):
    body = _dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs})
    c.put_manifest(REPO, "sha256-" + digest.split(":", 1)[1], body, OCI_INDEX)


def _pull(rw):
    return rw_client(rw).manifest(REPO, "v1")


def _referrers_requests(fake, digest):
    return [r for r in fake.requests
            if urllib.parse.urlsplit(r["path"]).path == "/v2/%s/referrers/%s" % (REPO, digest)]


@pytest.fixture
def setup(fake, main_config, regwarden_factory):
    fake.set_faults(referrers=True, page_size=1)
    rw = regwarden_factory(main_config(fake_upstream(fake)))
    return fake, rw, sigtool.RegClient(fake.url)


@pytest.mark.parametrize("kind", ["cosign-oci-1-1", "bundle-message", "bundle-dsse"])
def test_signature_found_through_referrers_api(setup, keys, kind):
    fake, rw, c = setup
    digest, man = _push_image(c)
    _sbom_referrer(c, digest, man)  # an unrelated referrer: two pages of one each
    if kind == "cosign-oci-1-1":
        _cosign_sig_referrer(c, keys.team.private_key(), digest, man)
    else:
        _bundle_referrer(c, keys.team.private_key(), digest, man, kind.split("-")[1])
    r = _pull(rw)
    assert r.status == 200, "%r\n%s" % (r, rw.deny_lines())
    assert r.body == man
    pages = _referrers_requests(fake, digest)
    assert len(pages) == 2, pages  # page 1, then the Link rel="next"
    tag = "/v2/%s/manifests/sha256-%s" % (REPO, digest.split(":", 1)[1])
    assert not [x for x in fake.requests if x["path"] == tag], "fallback read although the API answered"


def test_signature_found_through_fallback_tag(setup, keys):
    fake, rw, c = setup
    fake.set_faults(referrers=False)  # distribution 2.8: 404 on /referrers/
    digest, man = _push_image(c)
    descs = [_sbom_referrer(c, digest, man), _cosign_sig_referrer(c, keys.team.private_key(), digest, man),
             _bundle_referrer(c, keys.team.private_key(), digest, man)]
    _fallback_index(c, digest, descs)
    r = _pull(rw)
    assert r.status == 200, "%r\n%s" % (r, rw.deny_lines())
    assert len(_referrers_requests(fake, digest)) == 1


def test_neither_api_nor_tag_is_no_signature(setup):
    fake, rw, c = setup
    fake.set_faults(referrers=False)
    digest, _ = _push_image(c)
    since = len(rw.deny_lines())
    r = _pull(rw)
    assert r.status == 403, r
    d = wait_deny(rw, since, "no-signature")
    assert d is not None, rw.deny_lines(since)
    assert "0 referrers" in d["detail"] and ".sig" in d["detail"], d


def test_untrusted_referrer_and_other_subject_do_not_count(setup, keys):
    fake, rw, c = setup
    fake.set_faults(referrers=False)
    digest, man = _push_image(c)
    other, other_man = _push_image(c, b"two")
    # a valid team signature of this image, but its manifest's subject is the other image:
    # listed under this digest by a (forged) fallback index
    wrong_subject = _cosign_sig_referrer(c, keys.team.private_key(), digest, man, subject=other)
    # and a signature by a key the rule does not trust
    untrusted = _cosign_sig_referrer(c, keys.other.private_key(), digest, man)
    _fallback_index(c, digest, [wrong_subject, untrusted])
    since = len(rw.deny_lines())
    r = _pull(rw)
    assert r.status == 403, r
    lines = rw.deny_lines(since)
    assert lines and lines[-1]["reason"] in ("untrusted-key", "bad-signature"), lines
    # listed under the image its subject names, it still does not allow that image: its payload
    # signs `digest` (the subject binds the manifest, the payload binds the signature)
    _fallback_index(c, other, [wrong_subject])
    r = rw_client(rw).manifest(REPO, "two")
    assert r.status == 403, r
    _ = other_man
