#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sigtool: an INDEPENDENT cosign simple-signing checker and forger.

Written from the cosign spec (shared/PROTOCOLS.md §5) with python cryptography;
it shares no code with regwarden. Used to

  * verify what regwarden stored upstream after a signed push
    (GET manifest sha256-<hex>.sig, fetch each payload blob, check its digest,
    the payload claims and the ECDSA P-256 / SHA-256 / DER signature);
  * make signature fixtures directly on the upstream: signed by another key,
    tampered payload, payload naming another digest, ...

CLI:
  sigtool.py verify --registry URL --repo R --digest D --key PUB [--user U:P]
  sigtool.py sign   --registry URL --repo R --digest D --key PRIV [--user U:P] [--ref REGISTRY/REPO]
"""
import argparse
import base64
import hashlib
import json
import sys
import urllib.parse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

if __package__ in (None, ""):
    import os
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from lib import util  # noqa: E402
else:
    from . import util

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ANNOTATION = "dev.cosignproject.cosign/signature"
COSIGN_TYPE = "cosign container image signature"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def sig_tag(digest):
    alg, _, hexpart = digest.partition(":")
    return "%s-%s.sig" % (alg, hexpart)


def make_payload(docker_reference, digest, optional=None):
    """cosign's payload bytes: Go encoding/json, compact, fixed field order."""
    obj = {"critical": {"identity": {"docker-reference": docker_reference},
                        "image": {"docker-manifest-digest": digest},
                        "type": COSIGN_TYPE},
           "optional": optional}
    return json.dumps(obj, separators=(",", ":")).encode()


def sign_bytes(private_key, data):
    """std base64 of the DER ECDSA(SHA-256) signature over data."""
    der = private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(der).decode()


def verify_bytes(public_key, data, b64sig):
    try:
        der = base64.b64decode(b64sig, validate=True)
        public_key.verify(der, data, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def load_public(path):
    with open(path, "rb") as f:
        return serialization.load_pem_public_key(f.read())


def load_private(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


class RegClient:
    """Minimal OCI distribution client for direct upstream access (basic auth optional)."""

    def __init__(self, base_url, auth=None, user_agent="rw-e2e-sigtool"):
        self.base = base_url.rstrip("/")
        self.auth = auth
        self.ua = user_agent

    def _h(self, extra=None):
        h = {"User-Agent": self.ua}
        if self.auth:
            h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % tuple(self.auth)).encode()).decode()
        h.update(extra or {})
        return h

    def get_manifest(self, repo, ref, accept=OCI_MANIFEST):
        return util.http("GET", "%s/v2/%s/manifests/%s" % (self.base, repo, ref), headers=self._h({"Accept": accept}))

    def put_manifest(self, repo, ref, body, media_type=OCI_MANIFEST):
        r = util.http("PUT", "%s/v2/%s/manifests/%s" % (self.base, repo, ref), body=body,
                      headers=self._h({"Content-Type": media_type}))
        if r.status != 201:
            raise AssertionError("PUT manifest %s:%s -> %r" % (repo, ref, r))
        return r

    def get_blob(self, repo, digest):
        return util.http("GET", "%s/v2/%s/blobs/%s" % (self.base, repo, digest), headers=self._h())

    def put_blob(self, repo, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        r = util.http("POST", "%s/v2/%s/blobs/uploads/" % (self.base, repo), headers=self._h({"Content-Length": "0"}))
        if r.status != 202:
            raise AssertionError("POST upload -> %r" % r)
        loc = r.header("Location")
        if loc.startswith("/"):
            loc = self.base + loc
        sep = "&" if urllib.parse.urlsplit(loc).query else "?"
        r = util.http("PUT", loc + sep + "digest=" + digest, body=data,
                      headers=self._h({"Content-Type": "application/octet-stream"}))
        if r.status != 201:
            raise AssertionError("PUT blob -> %r" % r)
        return digest


class LayerResult:
    def __init__(self, digest, ok, problem, payload=None, key=None):
        self.digest, self.ok, self.problem, self.payload, self.key = digest, ok, problem, payload, key

    def __repr__(self):
        return "<layer %s ok=%s %s key=%s>" % (self.digest, self.ok, self.problem, self.key)


class Verdict:
    """ok: some layer verified with some key. reason mirrors regwarden's deny reasons."""

    def __init__(self, ok, reason, layers, manifest=None):
        self.ok, self.reason, self.layers, self.manifest = ok, reason, layers, manifest

    def __bool__(self):
        return self.ok

    def __repr__(self):
        return "<Verdict ok=%s reason=%s layers=%r>" % (self.ok, self.reason, self.layers)


def verify(client, repo, digest, public_keys):
    """Verify cosign signatures of `digest` in `repo`. public_keys: {name: public key object}."""
    r = client.get_manifest(repo, sig_tag(digest))
    if r.status == 404:
        return Verdict(False, "no-signature", [])
    if r.status != 200:
        return Verdict(False, "upstream-error", [], None)
    try:
        man = json.loads(r.body)
        layers = man["layers"]
    except (ValueError, KeyError, TypeError):
        return Verdict(False, "invalid-manifest", [])
    results = []
    for layer in layers:
        ld = layer.get("digest", "")
        if layer.get("mediaType") != SIMPLESIGNING:
            results.append(LayerResult(ld, False, "media type %r" % layer.get("mediaType")))
            continue
        b64 = (layer.get("annotations") or {}).get(SIG_ANNOTATION)
        if not b64:
            results.append(LayerResult(ld, False, "no signature annotation"))
            continue
        br = client.get_blob(repo, ld)
        if br.status != 200:
            results.append(LayerResult(ld, False, "payload blob GET -> %d" % br.status))
            continue
        blob = br.body
        if "sha256:" + hashlib.sha256(blob).hexdigest() != ld:
            results.append(LayerResult(ld, False, "payload blob digest mismatch"))
            continue
        if layer.get("size") is not None and layer["size"] != len(blob):
            results.append(LayerResult(ld, False, "payload size mismatch"))
            continue
        try:
            payload = json.loads(blob)
            crit = payload["critical"]
            claimed = crit["image"]["docker-manifest-digest"]
            ptype = crit["type"]
        except (ValueError, KeyError, TypeError):
            results.append(LayerResult(ld, False, "payload not simple-signing JSON"))
            continue
        if ptype != COSIGN_TYPE:
            results.append(LayerResult(ld, False, "critical.type %r" % ptype, payload))
            continue
        if claimed != digest:
            results.append(LayerResult(ld, False, "payload names %s" % claimed, payload))
            continue
        good = [name for name, pk in public_keys.items() if verify_bytes(pk, blob, b64)]
        if good:
            results.append(LayerResult(ld, True, None, payload, good[0]))
        else:
            results.append(LayerResult(ld, False, "signature does not verify with %s" % sorted(public_keys), payload))
    if any(x.ok for x in results):
        return Verdict(True, None, results, man)
    # Mirror the contract's reasons: a well-formed payload for this digest whose signature
    # fails every trusted key is untrusted-key; broken payload/claims is bad-signature.
    if results and all(x.problem and x.problem.startswith("signature does not verify") for x in results):
        return Verdict(False, "untrusted-key", results, man)
    return Verdict(False, "bad-signature", results, man)


def attach(client, repo, digest, private_key, docker_reference, payload=None, signature=None,
           append=True, blob_override=None):
    """Store a cosign signature for `digest` directly on a registry.

    payload:       bytes to sign and store (default: a correct simple-signing payload)
    signature:     b64 signature to annotate instead of signing payload (forgeries)
    blob_override: bytes stored as the payload blob instead of `payload` (layer digest = its sha256
                   unless the caller tampers further); the signature still covers `payload`.
    Returns (sig manifest bytes, sig manifest digest).
    """
    if payload is None:
        payload = make_payload(docker_reference, digest)
    if signature is None:
        signature = sign_bytes(private_key, payload)
    stored = payload if blob_override is None else blob_override
    layer_digest = client.put_blob(repo, stored)
    layer = {"mediaType": SIMPLESIGNING, "size": len(stored), "digest": layer_digest,
             "annotations": {SIG_ANNOTATION: signature}}
    layers = []
    if append:
        r = client.get_manifest(repo, sig_tag(digest))
        if r.status == 200:
            layers = json.loads(r.body).get("layers", [])
    layers.append(layer)
    config = json.dumps({"architecture": "", "os": "", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in layers]}},
                        separators=(",", ":")).encode()
    config_digest = client.put_blob(repo, config)
    man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": config_digest},
           "layers": layers}
    body = json.dumps(man, separators=(",", ":")).encode()
    client.put_manifest(repo, sig_tag(digest), body)
    return body, "sha256:" + hashlib.sha256(body).hexdigest()


def _main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=("verify", "sign"))
    ap.add_argument("--registry", required=True, help="upstream base URL, e.g. http://127.0.0.1:5000")
    ap.add_argument("--repo", required=True)
    ap.add_argument("--digest", required=True)
    ap.add_argument("--key", required=True, action="append", help="public (verify) / private (sign) PEM")
    ap.add_argument("--user", help="basic auth user:password")
    ap.add_argument("--ref", help="docker-reference for sign (default: registry.local/<repo>)")
    a = ap.parse_args(argv)
    client = RegClient(a.registry, tuple(a.user.split(":", 1)) if a.user else None)
    if a.cmd == "verify":
        v = verify(client, a.repo, a.digest, {k: load_public(k) for k in a.key})
        print(json.dumps({"ok": v.ok, "reason": v.reason,
                          "layers": [{"digest": x.digest, "ok": x.ok, "problem": x.problem, "key": x.key}
                                     for x in v.layers]}))
        return 0 if v.ok else 1
    _, d = attach(client, a.repo, a.digest, load_private(a.key[0]), a.ref or "registry.local/" + a.repo)
    print(d)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
