# SPDX-License-Identifier: MIT
"""Every golden vector in tests/data/vectors/ through the real pull path (issue 7).

The vectors were made by real signing tools (vectors/README.md). Their bytes are served AS-IS by
upstream stand-ins (fakeup, in process: one that serves the referrers API, one that does not, like
distribution 2.8) and pulled through regwarden (two, started once for the module: one for the
signature rules, one for the attestation rules), configured with the vectors' own public keys. One
test id per vector and variant.

- Vectors 1, 2, 3 carry the manifest they sign: it is served as-is (Docker v2s2, its blobs are
  absent: a manifest pull does not need them), the `sha256-<hex>.sig` manifest is built here from
  payload.json and the base64 signature (PROTOCOLS.md §5.2). Right key -> 200 with exactly those
  bytes, by tag and by digest; wrong key, unknown-key.sig, a payload with one bit flipped, and
  manifest-modified.json served for the tag (its .sig holding the vector's signature) -> 403.
  manifest-modified.json served for the signed digest -> 403 digest-mismatch.
- The other vectors sign or attest some other digest, for which no manifest exists. A test image M
  is served, and the vector's evidence is attached to M as-is: a `.sig` layer (simple-signing
  payloads, vector 14's raw Ed25519 message), a `.att` DSSE layer (envelopes), a sigstore bundle
  referrer (PROTOCOLS.md §5.7; through the referrers API and through the `sha256-<hex>` tag
  fallback). M's own signature (team key) passes where the vector is an attestation. The expected
  verdict is a deny whose detail shows the signature verified and the binding refused; a tampered
  copy (one bit) and a wrong key give a different detail.
- Vector 9's key-corrupt.pub: `regwarden check` fails (fail closed).
"""
import base64
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from types import SimpleNamespace

import pytest

import fakeup
import rawreg
from lib import regwarden as _regwarden
from lib import util

HERE = os.path.dirname(os.path.abspath(__file__))
VEC = os.path.join(os.path.dirname(HERE), "data", "vectors")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_MT = "application/vnd.dsse.envelope.v1+json"
INTOTO = "application/vnd.in-toto+json"
SIG_ANN = "dev.cosignproject.cosign/signature"
BUNDLE_ANN = "dev.sigstore.cosign/bundle"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
SLSA1 = "https://slsa.dev/provenance/v1"

UP = "fake.local"      # serves the referrers API
PLAIN = "plain.local"  # no referrers API (404, like distribution 2.8): tag-schema fallback


def vec(folder, name):
    return os.path.join(VEC, folder, name)


def vread(folder, name):
    with open(vec(folder, name), "rb") as f:
        return f.read()


def vb64(folder, name):
    return vread(folder, name).decode().strip()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def flip(b, at):
    """One bit of b flipped at byte offset `at` (vectors/README.md: "tampered")."""
    bb = bytearray(b)
    bb[at] ^= 0x01
    return bytes(bb)


def flip_in(b, needle):
    """Flip a bit inside the first occurrence of `needle` (a place that keeps JSON valid)."""
    i = b.index(needle)
    return flip(b, i + len(needle) // 2)


def tampered_envelope(env_bytes):
    env = json.loads(env_bytes)
    body = base64.b64decode(env["payload"])
    env["payload"] = base64.b64encode(flip(body, len(body) // 2)).decode()
    return json.dumps(env).encode()


# -- the upstream stand-ins, fed directly (bytes as-is, no blob checks) ------------------------
class Feed:
    def __init__(self, fake):
        self.fake = fake
        self.st = fake.store

    def blob(self, repo, data):
        d = self.st.put_bytes(data)
        with self.st.lock:
            self.st.repo(repo, create=True)["blobs"].add(d)
        return d

    def manifest(self, repo, body, media_type, tag=None):
        d = self.st.put_bytes(body)
        with self.st.lock:
            r = self.st.repo(repo, create=True)
            r["manifests"].add(d)
            self.st.media[d] = media_type
            if tag:
                r["tags"][tag] = d
        return d

    def overwrite(self, digest, body):
        """Serve `body` wherever `digest` is asked for (a registry serving other bytes)."""
        with open(self.st.blob_path(digest), "wb") as f:
            f.write(body)

    def image(self, repo, tag="v1"):
        """A small test image M (config + one random layer), OCI manifest. Returns (digest, bytes)."""
        cfg = json.dumps({"architecture": "amd64", "os": "linux",
                          "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        layer = os.urandom(64)
        man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": OCI_CONFIG, "digest": self.blob(repo, cfg), "size": len(cfg)},
               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                           "digest": self.blob(repo, layer), "size": len(layer)}]}
        body = json.dumps(man, separators=(",", ":")).encode()
        return self.manifest(repo, body, OCI_MANIFEST, tag), body

    def attach(self, repo, digest, suffix, layers):
        """cosign's tag layout: sha256-<hex>.<suffix>, one layer per (mediaType, blob, annotations)."""
        descs = []
        for mt, blob, ann in layers:
            descs.append({"mediaType": mt, "size": len(blob), "digest": self.blob(repo, blob),
                          "annotations": ann})
        cfg = json.dumps({"architecture": "", "os": "", "config": {},
                          "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in descs]}},
                         separators=(",", ":")).encode()
        man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": OCI_CONFIG, "size": len(cfg), "digest": self.blob(repo, cfg)},
               "layers": descs}
        tag = "sha256-%s.%s" % (digest.split(":", 1)[1], suffix)
        return self.manifest(repo, json.dumps(man, separators=(",", ":")).encode(), OCI_MANIFEST, tag)

    def sig(self, repo, digest, payload, sig_b64, extra_ann=None):
        ann = {SIG_ANN: sig_b64}
        ann.update(extra_ann or {})
        return self.attach(repo, digest, "sig", [(SIMPLESIGNING, payload, ann)])

    def att(self, repo, digest, envelopes):
        """envelopes: [(envelope bytes, predicateType annotation)]"""
        return self.attach(repo, digest, "att", [(DSSE_MT, e, {"predicateType": pt, SIG_ANN: ""})
                                                 for e, pt in envelopes])

    def bundle_referrer(self, repo, subject_digest, subject_body, bundle, predicate_type, content,
                        via_tag=False):
        """A sigstore bundle referrer (PROTOCOLS.md §5.7), pushed by digest; with via_tag the
        `sha256-<hex>` tag-schema index lists it (for registries without the referrers API)."""
        bmt = json.loads(bundle)["mediaType"]
        empty = self.blob(repo, b"{}")
        man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": bmt,
               "config": {"mediaType": EMPTY_CONFIG, "digest": empty, "size": 2},
               "layers": [{"mediaType": bmt, "digest": self.blob(repo, bundle), "size": len(bundle)}],
               "subject": {"mediaType": OCI_MANIFEST, "digest": subject_digest,
                           "size": len(subject_body)},
               "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z",
                               "dev.sigstore.bundle.content": content,
                               "dev.sigstore.bundle.predicateType": predicate_type}}
        body = json.dumps(man, separators=(",", ":")).encode()
        d = self.manifest(repo, body, OCI_MANIFEST)
        if via_tag:
            idx = {"schemaVersion": 2, "mediaType": OCI_INDEX,
                   "manifests": [{"mediaType": OCI_MANIFEST, "digest": d, "size": len(body),
                                  "artifactType": bmt, "annotations": man["annotations"]}]}
            self.manifest(repo, json.dumps(idx, separators=(",", ":")).encode(), OCI_INDEX,
                          tag="sha256-" + subject_digest.split(":", 1)[1])
        return d


# -- expectations -------------------------------------------------------------------------------
class Allow(SimpleNamespace):
    pass


class Deny(SimpleNamespace):
    """reason; detail must match every regex in `has` and none in `hasnt`."""


# Stable parts of the details (policy/eval.c). A binding refusal must say that the signature
# verified and that it is for something else; a bad signature must not claim it verified.
VERIFIED = r"(valid signature|signature (is )?valid\b|verified|verifies with key \S+ but)"
NOT_VERIFIED = r"(no signature on \S+ verifies|no envelope verifies|verifies with no listed key|does not verify)"
OTHER_DIGEST = r"(another|other|not this image|not bound|no subject|does not bind|binds? )"

CASES = {}


def case(cid, repo, up=UP, keys=None, require=None, deny=None, allow=None, setup=None):
    CASES[cid] = SimpleNamespace(id=cid, repo=repo, up=up, keys=keys or {}, require=require,
                                 deny=deny, allow=allow, setup=setup)


def rule_sig(key):
    return {"signed_by": [key]}


def rule_att(predicate_type, key):
    return {"signed_by": ["team"], "attestations": [{"predicate_type": predicate_type,
                                                     "signed_by": [key]}]}


# ---- vectors 1-3: the signed manifest is included --------------------------------------------
def _served_signed(folder, payload_name="payload.json", sig_name="payload.sig", tamper=None,
                   manifest="manifest.json", extra_ann=None):
    def setup(w, c):
        f = w.feed[c.up]
        body = vread(folder, manifest)
        d = f.manifest(c.repo, body, DOCKER_MANIFEST, tag="v1")
        payload = vread(folder, payload_name)
        if tamper:
            payload = flip_in(payload, tamper)
        f.sig(c.repo, d, payload, vb64(folder, sig_name), extra_ann)
        return d, body
    return setup


V1 = "cosign-ecdsa-ci-valid"
V1_DIGEST = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
for cid, sig_name in (("v1-payload.sig", "payload.sig"), ("v1-payload.sig2", "payload.sig2")):
    case(cid, "vec/v1-" + sig_name.replace(".", "-"), keys={"v1cosign": vec(V1, "cosign.pub")},
         require=rule_sig("v1cosign"), allow=Allow(digest=V1_DIGEST),
         setup=_served_signed(V1, sig_name=sig_name))
case("v1-wrong-key-cosign2", "vec/v1-wrongkey", keys={"v1cosign2": vec(V1, "cosign2.pub")},
     require=rule_sig("v1cosign2"),
     deny=Deny(reason="untrusted-key", has=[NOT_VERIFIED, "v1cosign2"], hasnt=[VERIFIED]),
     setup=_served_signed(V1))
case("v1-unknown-key-sig", "vec/v1-unknownkey", keys={"v1cosign": vec(V1, "cosign.pub")},
     require=rule_sig("v1cosign"),
     deny=Deny(reason="untrusted-key", has=[NOT_VERIFIED, "v1cosign"], hasnt=[VERIFIED]),
     setup=_served_signed(V1, sig_name="unknown-key.sig"))
case("v1-tampered-payload", "vec/v1-tampered", keys={"v1cosign": vec(V1, "cosign.pub")},
     require=rule_sig("v1cosign"),
     deny=Deny(reason="untrusted-key", has=[NOT_VERIFIED], hasnt=[VERIFIED]),
     setup=_served_signed(V1, tamper=b"192.168.64.2"))


def _modified_manifest(w, c):
    """manifest-modified.json served for the tag; its .sig holds the vector's valid signature
    (over a payload that names the original digest)."""
    f = w.feed[c.up]
    body = vread(V1, "manifest-modified.json")
    d = f.manifest(c.repo, body, DOCKER_MANIFEST, tag="v1")
    f.sig(c.repo, d, vread(V1, "payload.json"), vb64(V1, "payload.sig"))
    return d, body


case("v1-manifest-modified", "vec/v1-modified", keys={"v1cosign": vec(V1, "cosign.pub")},
     require=rule_sig("v1cosign"),
     deny=Deny(reason="bad-signature", has=[VERIFIED, OTHER_DIGEST], hasnt=[NOT_VERIFIED]),
     setup=_modified_manifest)


def _modified_for_signed_digest(w, c):
    """The upstream answers the signed digest with manifest-modified.json's bytes."""
    f = w.feed[c.up]
    body = vread(V1, "manifest.json")
    d = f.manifest(c.repo, body, DOCKER_MANIFEST)
    assert d == V1_DIGEST
    f.sig(c.repo, d, vread(V1, "payload.json"), vb64(V1, "payload.sig"))
    f.overwrite(d, vread(V1, "manifest-modified.json"))
    return d, body


case("v1-manifest-modified-by-digest", "vec/v1-modbydigest", up=PLAIN,
     keys={"v1cosign": vec(V1, "cosign.pub")}, require=rule_sig("v1cosign"),
     deny=Deny(reason="digest-mismatch", has=["d9dcafdb480aa7c4"], hasnt=[],
               by_digest=True),
     setup=_modified_for_signed_digest)

V2 = "cosign-ecdsa-skopeo-tag"
case("v2-payload.sig", "vec/v2-valid", keys={"v2cosign": vec(V2, "cosign.pub")},
     require=rule_sig("v2cosign"), allow=Allow(digest=V1_DIGEST), setup=_served_signed(V2))
case("v2-tampered-payload", "vec/v2-tampered", keys={"v2cosign": vec(V2, "cosign.pub")},
     require=rule_sig("v2cosign"),
     deny=Deny(reason="untrusted-key", has=[NOT_VERIFIED], hasnt=[VERIFIED]),
     setup=_served_signed(V2, tamper=b"skopeo-signed"))

V3 = "cosign-ecdsa-rekor-bundle"
V3_DIGEST = "sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a"
_V3_ANN = {BUNDLE_ANN: vread(V3, "rekor-bundle.json").decode().strip()}
case("v3-payload.sig-cosign2", "vec/v3-valid", keys={"v3cosign2": vec(V3, "cosign2.pub")},
     require=rule_sig("v3cosign2"), allow=Allow(digest=V3_DIGEST),
     setup=_served_signed(V3, extra_ann=_V3_ANN))
case("v3-wrong-key-cosign", "vec/v3-wrongkey", keys={"v3cosign": vec(V3, "cosign.pub")},
     require=rule_sig("v3cosign"),
     deny=Deny(reason="untrusted-key", has=[NOT_VERIFIED, "v3cosign"], hasnt=[VERIFIED]),
     setup=_served_signed(V3, extra_ann=_V3_ANN))
case("v3-tampered-payload", "vec/v3-tampered", keys={"v3cosign2": vec(V3, "cosign2.pub")},
     require=rule_sig("v3cosign2"),
     deny=Deny(reason="untrusted-key", has=[NOT_VERIFIED], hasnt=[VERIFIED]),
     setup=_served_signed(V3, tamper=b"cosign-signed/key-1", extra_ann=_V3_ANN))


# ---- simple-signing payloads for another digest, attached to a test image M ---------------------
def _sig_on_m(folder, payload_name, sig_name, tamper=None):
    def setup(w, c):
        f = w.feed[c.up]
        d, body = f.image(c.repo)
        payload = vread(folder, payload_name)
        if tamper:
            payload = flip_in(payload, tamper)
        f.sig(c.repo, d, payload, vb64(folder, sig_name))
        return d, body
    return setup


def binding_refused_sig(bound_hex):
    """Valid signature by the vector's key, payload bound to another digest (named)."""
    return Deny(reason="bad-signature", has=[VERIFIED, OTHER_DIGEST], hasnt=[NOT_VERIFIED],
                names=bound_hex[:12])


V4 = "cosign-ecdsa-sigstore-rs"
case("v4-payload.sig-other-digest", "vec/v4-valid", keys={"v4key": vec(V4, "pub.pem")},
     require=rule_sig("v4key"), deny=binding_refused_sig("f3cfc9d0dbf931d3"),
     setup=_sig_on_m(V4, "payload.json", "payload.sig"))
case("v4-wrong-key", "vec/v4-wrongkey", keys={"v4wrong": vec(V4, "wrong-key.pub")},
     require=rule_sig("v4wrong"),
     deny=Deny(reason="untrusted-key", has=[NOT_VERIFIED, "v4wrong"], hasnt=[VERIFIED]),
     setup=_sig_on_m(V4, "payload.json", "payload.sig"))
case("v4-tampered-payload", "vec/v4-tampered", keys={"v4key": vec(V4, "pub.pem")},
     require=rule_sig("v4key"), deny=Deny(reason="untrusted-key", has=[NOT_VERIFIED], hasnt=[VERIFIED]),
     setup=_sig_on_m(V4, "payload.json", "payload.sig", tamper=b"busybox"))

V5 = "cosign-rsa-obs"
case("v5-rsa-pkcs1-other-digest", "vec/v5-valid", keys={"v5rsa": vec(V5, "pub.pem")},
     require=rule_sig("v5rsa"), deny=binding_refused_sig("356631f7603526a0"),
     setup=_sig_on_m(V5, "payload.json", "payload.sig"))
case("v5-tampered-payload", "vec/v5-tampered", keys={"v5rsa": vec(V5, "pub.pem")},
     require=rule_sig("v5rsa"), deny=Deny(reason="untrusted-key", has=[NOT_VERIFIED], hasnt=[VERIFIED]),
     setup=_sig_on_m(V5, "payload.json", "payload.sig", tamper=b"toolbox"))

V14 = "ed25519-sigstore-lib"
case("v14-ed25519-not-a-payload", "vec/v14-valid", keys={"v14ed": vec(V14, "pub.pem")},
     require=rule_sig("v14ed"),
     deny=Deny(reason="bad-signature", has=[VERIFIED, r"simple-signing|not a cosign"],
               hasnt=[NOT_VERIFIED]),
     setup=_sig_on_m(V14, "message.txt", "message.sig"))
case("v14-tampered", "vec/v14-tampered", keys={"v14ed": vec(V14, "pub.pem")},
     require=rule_sig("v14ed"), deny=Deny(reason="untrusted-key", has=[NOT_VERIFIED], hasnt=[VERIFIED]),
     setup=_sig_on_m(V14, "message.txt", "message.sig", tamper=b"sign"))


# ---- DSSE envelopes on M's .att (M signed by the team key) -------------------------------------
def _att_on_m(folder, names, predicate_type, tamper=False, transform=None):
    def setup(w, c):
        f = w.feed[c.up]
        d, body = f.image(c.repo)
        f.sig(c.repo, d, w.team_payload(c, d), w.team_sig(c, d))
        envs = []
        for n in names:
            e = vread(folder, n)
            if transform:
                e = transform(e)
            if tamper:
                e = tampered_envelope(e)
            envs.append((e, predicate_type))
        f.att(c.repo, d, envs)
        return d, body
    return setup


def att_binding_refused(ptype, bound=None):
    return Deny(reason="missing-attestation", has=[re.escape(ptype), VERIFIED, OTHER_DIGEST],
                hasnt=[NOT_VERIFIED], names=bound)


def att_bad_sig(ptype, key):
    return Deny(reason="missing-attestation", has=[re.escape(ptype), NOT_VERIFIED, key],
                hasnt=[VERIFIED])


V6 = "dsse-cosign-attest-blob-slsa"
SLSA02 = "https://slsa.dev/provenance/v0.2"
for cid, name in (("v6-envelope", "envelope.json"),
                  ("v6-multiple-subjects", "envelope-multiple-subjects.json"),
                  ("v6-multiple-subjects-nomatch", "envelope-multiple-subjects-nomatch.json"),
                  ("v6-empty-subject", "envelope-empty-subject.json"),
                  ("v6-missing-sha256", "envelope-missing-sha256.json")):
    case(cid, "vec/" + cid, keys={"v6key": vec(V6, "pub.pem")}, require=rule_att(SLSA02, "v6key"),
         deny=att_binding_refused(SLSA02), setup=_att_on_m(V6, [name], SLSA02))
case("v6-bad-sig", "vec/v6-bad-sig", keys={"v6key": vec(V6, "pub.pem")},
     require=rule_att(SLSA02, "v6key"), deny=att_bad_sig(SLSA02, "v6key"),
     setup=_att_on_m(V6, ["envelope-bad-sig.json"], SLSA02))
case("v6-tampered", "vec/v6-tampered", keys={"v6key": vec(V6, "pub.pem")},
     require=rule_att(SLSA02, "v6key"), deny=att_bad_sig(SLSA02, "v6key"),
     setup=_att_on_m(V6, ["envelope.json"], SLSA02, tamper=True))
case("v6-wrong-key", "vec/v6-wrongkey", keys={},
     require=rule_att(SLSA02, "team"), deny=att_bad_sig(SLSA02, "team"),
     setup=_att_on_m(V6, ["envelope.json"], SLSA02))


def _retype(t):
    def tr(e):
        env = json.loads(e)
        env["payloadType"] = t
        return json.dumps(env).encode()
    return tr


case("v6-payloadtype-changed", "vec/v6-retyped", keys={"v6key": vec(V6, "pub.pem")},
     require=rule_att(SLSA02, "v6key"), deny=att_bad_sig(SLSA02, "v6key"),
     setup=_att_on_m(V6, ["envelope.json"], SLSA02, transform=_retype("application/vnd.in-toto.x+json")))

V7 = "dsse-cosign-attest-legacy-kyverno"
CODEREVIEW = "https://example.com/CodeReview/v1"
# The rule names a predicate type URI (config refuses the bare "cosign.sigstore.dev/..." form);
# the envelope, as-is, carries its legacy payloadType, which the deny must name.
for cid, name, pt, ptype in (
        ("v7-codereview", "envelope-codereview.json", CODEREVIEW, CODEREVIEW),
        ("v7-codereview-2", "envelope-codereview-2.json", CODEREVIEW, CODEREVIEW),
        ("v7-cosign-v1", "envelope-cosign-v1.json", "https://cosign.sigstore.dev/attestation/v1",
         "cosign.sigstore.dev/attestation/v1")):
    case(cid, "vec/" + cid, keys={"v7key": vec(V7, "pub.pem")}, require=rule_att(pt, "v7key"),
         deny=Deny(reason="missing-attestation",
                   has=[VERIFIED, r"payload ?type \"?" + re.escape(ptype)], hasnt=[NOT_VERIFIED]),
         setup=_att_on_m(V7, [name], pt))
case("v7-intoto-type-in-pae", "vec/v7-intoto-pae", keys={"v7key": vec(V7, "pub.pem")},
     require=rule_att(CODEREVIEW, "v7key"), deny=att_bad_sig(CODEREVIEW, "v7key"),
     setup=_att_on_m(V7, ["envelope-codereview.json"], CODEREVIEW, transform=_retype(INTOTO)))

V11 = "dsse-intoto-rsa-pss"
LINK = "https://in-toto.io/Link/v0.9"
for cid, name, key in (("v11-write-code-bob", "write-code.776a00e2.link", "bob"),
                       ("v11-package-carl", "package.2f89b927.link", "carl")):
    case(cid, "vec/" + cid, keys={"v11" + key: vec(V11, key + ".pub")},
         require=rule_att(LINK, "v11" + key),
         deny=Deny(reason="missing-attestation", has=[VERIFIED, r"(not an|no) in-toto statement"],
                   hasnt=[NOT_VERIFIED]),
         setup=_att_on_m(V11, [name], LINK))
case("v11-crossed-keys", "vec/v11-crossed", keys={"v11carl": vec(V11, "carl.pub")},
     require=rule_att(LINK, "v11carl"), deny=att_bad_sig(LINK, "v11carl"),
     setup=_att_on_m(V11, ["write-code.776a00e2.link"], LINK))

V12 = "dsse-spec-ecdsa-p1363"
HELLO = "http://example.com/HelloWorld"


def _der_sig(e):
    env = json.loads(e)
    env["signatures"][0]["sig"] = vb64(V12, "sig-der.b64")
    return json.dumps(env).encode()


for cid, tr in (("v12-p1363", None), ("v12-der", _der_sig)):
    case(cid, "vec/" + cid, keys={"v12key": vec(V12, "pub.pem")}, require=rule_att(HELLO, "v12key"),
         deny=Deny(reason="missing-attestation",
                   has=[VERIFIED, r"payload ?type \"?" + re.escape(HELLO)], hasnt=[NOT_VERIFIED]),
         setup=_att_on_m(V12, ["envelope.json"], HELLO, transform=tr))
case("v12-tampered", "vec/v12-tampered", keys={"v12key": vec(V12, "pub.pem")},
     require=rule_att(HELLO, "v12key"), deny=att_bad_sig(HELLO, "v12key"),
     setup=_att_on_m(V12, ["envelope.json"], HELLO, tamper=True))

V13 = "dsse-google-vsa-p1363"
VSA = "https://slsa.dev/verification_summary/v1"
case("v13-vsa-p1363", "vec/v13-valid", keys={"v13key": vec(V13, "pub.pem")},
     require=rule_att(VSA, "v13key"), deny=att_binding_refused(VSA),
     setup=_att_on_m(V13, ["envelope.json"], VSA))
case("v13-tampered", "vec/v13-tampered", keys={"v13key": vec(V13, "pub.pem")},
     require=rule_att(VSA, "v13key"), deny=att_bad_sig(VSA, "v13key"),
     setup=_att_on_m(V13, ["envelope.json"], VSA, tamper=True))


# ---- sigstore bundles as referrers of M ---------------------------------------------------------
def _bundle_on_m(folder, name, ptype, content, via_tag=False, tamper=None, sign_m=True):
    def setup(w, c):
        f = w.feed[c.up]
        d, body = f.image(c.repo)
        if sign_m:
            f.sig(c.repo, d, w.team_payload(c, d), w.team_sig(c, d))
        b = vread(folder, name)
        if tamper:
            b = tamper(b)
        f.bundle_referrer(c.repo, d, body, b, ptype, content, via_tag=via_tag)
        return d, body
    return setup


def _tamper_bundle_dsse(b):
    o = json.loads(b)
    o["dsseEnvelope"] = json.loads(tampered_envelope(json.dumps(o["dsseEnvelope"]).encode()))
    return json.dumps(o).encode()


def _tamper_bundle_digest(b):
    o = json.loads(b)
    md = o["messageSignature"]["messageDigest"]
    md["digest"] = base64.b64encode(flip(base64.b64decode(md["digest"]), 5)).decode()
    return json.dumps(o).encode()


V8 = "bundle-v01-npm-publish-dsse"
NPM = "https://github.com/npm/attestation/tree/main/specs/publish/v0.1"
V9 = "bundle-v03-managed-key"
V10 = "bundle-v03-cosign-oci-attestation"
COSIGN_ATT = "https://cosign.sigstore.dev/attestation/v1"
COSIGN_SIGN = "https://sigstore.dev/cosign/sign/v1"
for via_tag, up, sfx in ((False, UP, "referrers-api"), (True, PLAIN, "tag-fallback")):
    case("v8-npm-dsse-" + sfx, "vec/v8-" + sfx, up=up, keys={"v8key": vec(V8, "publish_key.pub")},
         require=rule_att(NPM, "v8key"), deny=att_binding_refused(NPM),
         setup=_bundle_on_m(V8, "bundle.json", NPM, "dsse-envelope", via_tag))
    case("v9-message-signature-" + sfx, "vec/v9-" + sfx, up=up, keys={"v9key": vec(V9, "key.pub")},
         require=rule_sig("v9key"),
         deny=Deny(reason="bad-signature", has=[VERIFIED, OTHER_DIGEST], hasnt=[NOT_VERIFIED],
                   names="a0cfc71271d6"),
         setup=_bundle_on_m(V9, "bundle.sigstore.json", COSIGN_SIGN, "message-signature", via_tag,
                            sign_m=False))
    case("v10-dsse-cert-key-" + sfx, "vec/v10-" + sfx, up=up, keys={"v10key": vec(V10, "leaf-pub.pem")},
         require=rule_att(COSIGN_ATT, "v10key"), deny=att_binding_refused(COSIGN_ATT),
         setup=_bundle_on_m(V10, "bundle.sigstore.json", COSIGN_ATT, "dsse-envelope", via_tag))
case("v8-tampered", "vec/v8-tampered", keys={"v8key": vec(V8, "publish_key.pub")},
     require=rule_att(NPM, "v8key"), deny=att_bad_sig(NPM, "v8key"),
     setup=_bundle_on_m(V8, "bundle.json", NPM, "dsse-envelope", tamper=_tamper_bundle_dsse))
case("v9-staging-bundle", "vec/v9-staging", keys={"v9key": vec(V9, "key.pub")},
     require=rule_sig("v9key"),
     deny=Deny(reason="bad-signature", has=[VERIFIED, OTHER_DIGEST], hasnt=[NOT_VERIFIED],
               names="a0cfc71271d6"),
     setup=_bundle_on_m(V9, "bundle-staging.sigstore.json", COSIGN_SIGN, "message-signature",
                        sign_m=False))
case("v9-tampered-digest", "vec/v9-tampered", keys={"v9key": vec(V9, "key.pub")},
     require=rule_sig("v9key"),
     deny=Deny(reason="untrusted-key", has=[NOT_VERIFIED], hasnt=[VERIFIED]),
     setup=_bundle_on_m(V9, "bundle.sigstore.json", COSIGN_SIGN, "message-signature",
                        tamper=_tamper_bundle_digest, sign_m=False))
case("v10-tampered", "vec/v10-tampered", keys={"v10key": vec(V10, "leaf-pub.pem")},
     require=rule_att(COSIGN_ATT, "v10key"), deny=att_bad_sig(COSIGN_ATT, "v10key"),
     setup=_bundle_on_m(V10, "bundle.sigstore.json", COSIGN_ATT, "dsse-envelope",
                        tamper=_tamper_bundle_dsse))


# -- two regwardens (signature rules / attestation rules), two upstream stand-ins, per module -------
# The rules are split so that a config feature missing in one group cannot hide the other group's
# verdicts; each regwarden starts on first use and its start error fails that group's tests.
def _group(c):
    return "att" if "attestations" in (c.require or {}) else "sig"


def _config(fakes, keys, group):
    cfg_keys = {"team": {"file": keys.team.pub_path}}
    rules = []
    for c in CASES.values():
        if _group(c) != group:
            continue
        for name, path in c.keys.items():
            assert cfg_keys.get(name, {"file": path})["file"] == path, name
            cfg_keys[name] = {"file": path}
        rules.append({"match": "%s/%s" % (c.up, c.repo), "require": c.require})
    return {"upstreams": {UP: fakes[UP].url, PLAIN: fakes[PLAIN].url},
            "default_upstream": UP,
            "keys": cfg_keys,
            "pull": {"mode": "enforce", "rules": rules}}


class World:
    def __init__(self, d, keys):
        from lib import sigtool
        self.d = d
        self.fakes = {UP: fakeup.FakeUp(root=os.path.join(d, "fake"), referrers=True).start(),
                      PLAIN: fakeup.FakeUp(root=os.path.join(d, "plain")).start()}
        self.feed = {k: Feed(v) for k, v in self.fakes.items()}
        self.keys = keys
        self.rws = {}
        self.errors = {}
        team = keys.team.private_key()
        self.team_payload = lambda c, dg: sigtool.make_payload("%s/%s" % (c.up, c.repo), dg)
        self.team_sig = lambda c, dg: sigtool.sign_bytes(team, self.team_payload(c, dg))

    def rw(self, c):
        g = _group(c)
        if g in self.errors:
            raise AssertionError("regwarden for the %s rules did not start: %s" % (g, self.errors[g]))
        if g not in self.rws:
            rw = _regwarden.Regwarden(os.path.join(self.d, "regwarden-" + g),
                                      _config(self.fakes, self.keys, g))
            self.rws[g] = rw
            try:
                rw.start()
            except AssertionError as e:
                self.errors[g] = str(e)[-600:]
                raise AssertionError("regwarden for the %s rules did not start: %s" % (g, self.errors[g]))
        return self.rws[g]


@pytest.fixture(scope="module")
def world(rw_state, keys):
    d = tempfile.mkdtemp(prefix="vectors-", dir=str(rw_state))
    w = World(d, keys)
    try:
        yield w
    finally:
        problems = []
        for rw in w.rws.values():
            try:
                rw.stop(check=True)
            except AssertionError as e:
                problems.append(str(e))
        for f in w.fakes.values():
            f.stop()
        if not problems and not os.environ.get("RW_KEEP"):
            shutil.rmtree(d, ignore_errors=True)
        assert not problems, problems


def _deny_line(rw, request_id, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        for x in rw.deny_lines():
            if x.get("request_id") == request_id:
                return x
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def _pull(rw, c, ref):
    q = "" if c.up == UP else "?ns=" + c.up
    return rawreg.Client(rw.url).manifest(c.repo, ref, query=q)


@pytest.mark.parametrize("cid", list(CASES))
def test_vector_through_pull_path(world, cid):
    c = CASES[cid]
    w = world
    rw = w.rw(c)
    digest, body = c.setup(w, c)
    if c.allow is not None:
        assert digest == c.allow.digest, "the vector's manifest is not the one it signs"
        for ref in ("v1", digest):
            r = _pull(rw, c, ref)
            assert r.status == 200, "%s %s: %r\n%s" % (cid, ref, r, rw.deny_lines()[-3:])
            assert r.body == body, "served bytes differ from the vector's manifest"
            assert r.header("Docker-Content-Digest") == digest
            assert r.header("Content-Type") == DOCKER_MANIFEST
        return
    dn = c.deny
    r = _pull(rw, c, digest if getattr(dn, "by_digest", False) else "v1")
    assert r.status == 403, "%s: %r" % (cid, r)
    err = json.loads(r.body)["errors"][0]
    assert err["code"] == "DENIED", err
    assert err["detail"]["reason"] == dn.reason, "%s: %s" % (cid, err)
    line = _deny_line(rw, err["detail"]["request_id"])
    assert line is not None, "no deny line for %s" % err["detail"]["request_id"]
    assert line["reason"] == dn.reason, line
    if getattr(dn, "by_digest", False):
        # asked for the signed digest, got other bytes: either digest may name the image
        assert line["image"]["digest"] in (digest, sha(vread(V1, "manifest-modified.json"))), line
        assert line["image"]["reference"] == digest, line
    else:
        assert line["image"]["digest"] == digest, line
    assert line["rule"] == "%s/%s" % (c.up, c.repo), line
    detail = line["detail"]
    for rx in dn.has:
        assert re.search(rx, detail), "%s: detail %r lacks /%s/" % (cid, detail, rx)
    for rx in dn.hasnt:
        assert not re.search(rx, detail), "%s: detail %r has /%s/" % (cid, detail, rx)
    if getattr(dn, "names", None):
        assert dn.names in detail, "%s: detail %r does not name the bound digest %s" % (
            cid, detail, dn.names)


def test_vector9_corrupt_key_fails_closed(rw_state, keys, tmp_path):
    """key-corrupt.pub does not parse: `regwarden check` refuses the config (exit 2, names the key)."""
    cfg = {"upstreams": {UP: "http://127.0.0.1:9"}, "default_upstream": UP,
           "keys": {"v9corrupt": {"file": vec(V9, "key-corrupt.pub")}},
           "pull": {"mode": "enforce",
                    "rules": [{"match": UP + "/vec/**", "require": {"signed_by": ["v9corrupt"]}}]}}
    rw = _regwarden.Regwarden(tmp_path / "rw", cfg)
    p = rw.cmd("check")
    out = p.stdout + p.stderr
    assert p.returncode == 2, out
    assert "v9corrupt" in out or "key-corrupt.pub" in out, out
    assert "regwarden.yml:" in out, out
    # and serve refuses to start with it (no half-configured proxy that would allow)
    p = util.run([rw.bin, "serve", "-c", rw.config_path], check=False, timeout=20, cwd=str(tmp_path))
    assert p.returncode != 0, p
