# SPDX-License-Identifier: MIT
"""Pushes of things attached to an image are relayed, not signed (issue 7, found by the fresh-user
trial): cosign's own tags (`sha256-<hex>.sig|.att|.sbom`), the referrers tag-schema index
(`sha256-<hex>`), and any manifest with a `subject` (OCI 1.1 referrers: cosign oci-1-1 signatures,
Sigstore bundles, SBOMs pushed by oras). Signing them would hang `.sig`/`.att` tags off evidence
itself. A runnable image pushed beside them is still signed."""
import json

import pytest

import rawreg
from lib import sigtool, util
from test_main_job import push_via

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def artifact(upstream, repo, subject=None, artifact_type="application/vnd.example.sbom.v1+json"):
    cfg = upstream.put_blob(repo, b"{}")
    layer = upstream.put_blob(repo, b'{"sbom": "example"}')
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
         "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg, "size": 2},
         "layers": [{"mediaType": "application/json", "digest": layer, "size": 19}]}
    if subject is not None:
        m["subject"] = subject
    return json.dumps(m, separators=(",", ":")).encode()


@pytest.fixture
def image(upstream, regwarden, image_factory):
    img = image_factory()
    push_via(regwarden, img, "v1", "team/att:v1")
    digest = img.digest("v1")
    r = upstream.get_manifest("team/att", digest)
    assert r.status == 200
    return {"mediaType": r.header("Content-Type"), "digest": digest, "size": len(r.body)}


def signed_tags(upstream, digest):
    hexd = digest.split(":", 1)[1]
    return [t for t in ("sha256-%s.sig" % hexd, "sha256-%s.att" % hexd)
            if upstream.get_manifest("team/att", t).status == 200]


@pytest.mark.parametrize("suffix", [".sbom", ".sig", ".att", ""])
def test_cosign_and_referrers_tags_are_relayed_unsigned(upstream, regwarden, image, suffix):
    body = artifact(upstream, "team/att")
    tag = "sha256-%s%s" % (image["digest"].split(":", 1)[1], suffix)
    if suffix == "":
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode()
    r = rawreg.Client(regwarden.url).put_manifest("team/att", tag, body, OCI_INDEX if suffix == "" else OCI_MANIFEST)
    assert r.status == 201, r
    if suffix in (".sig", ".att"):
        return  # the image's own attachment was replaced; its digest is not an image
    assert signed_tags(upstream, util.sha256_bytes(body)) == [], "an attachment pushed to %s was signed" % tag


def test_manifest_with_subject_is_relayed_unsigned(upstream, regwarden, image):
    body = artifact(upstream, "team/att", subject=image)
    digest = util.sha256_bytes(body)
    r = rawreg.Client(regwarden.url).put_manifest("team/att", digest, body, OCI_MANIFEST)
    assert r.status == 201, r
    assert r.header("Docker-Content-Digest") == digest, r
    assert upstream.get_manifest("team/att", digest).body == body
    assert signed_tags(upstream, digest) == [], "a referrer (manifest with subject) was signed"
    # the image it refers to keeps its own signature
    assert upstream.get_manifest("team/att", sigtool.sig_tag(image["digest"])).status == 200


def test_same_artifact_without_subject_is_signed(upstream, regwarden, image):
    """The control: a plain artifact manifest (no subject, ordinary tag) is a push like any other."""
    body = artifact(upstream, "team/att")
    r = rawreg.Client(regwarden.url).put_manifest("team/att", "plain", body, OCI_MANIFEST)
    assert r.status == 201, r
    assert upstream.get_manifest("team/att", sigtool.sig_tag(util.sha256_bytes(body))).status == 200
