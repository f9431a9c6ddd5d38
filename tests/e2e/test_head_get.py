# SPDX-License-Identifier: MIT
"""HEAD on a manifest (containerd's first request) answers exactly like GET, cached or not (cases C04/C06 shape):
same Content-Type, Content-Length and Docker-Content-Digest; Content-Type is the body's own mediaType;
the bytes are the upstream's. For OCI manifest, OCI index, Docker manifest and Docker manifest list."""
import pytest

from lib import images, util
from lib.checks import CONTAINERD_ACCEPT, assert_manifest_headers_consistent

KINDS = {
    "oci-manifest": dict(index=False, fmt=None, want=images.OCI_MANIFEST),
    "oci-index": dict(index=True, fmt=None, want=images.OCI_INDEX),
    "docker-manifest": dict(index=False, fmt="v2s2", want=images.DOCKER_MANIFEST),
    "docker-list": dict(index=True, fmt="v2s2", want=images.DOCKER_LIST),
}


def _probe(rw, repo, ref, rounds=2, ns=False):
    q = "?ns=registry.local" if ns else ""
    out, bodies = [], []
    for _ in range(rounds):
        for method in ("HEAD", "GET"):
            r = util.http(method, "%s/v2/%s/manifests/%s%s" % (rw.url, repo, ref, q),
                          headers={"Accept": CONTAINERD_ACCEPT, "User-Agent": "containerd/1.6.20~ds1"})
            out.append(r)
            if method == "GET":
                bodies.append(r.body)
    return out, bodies


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_head_equals_get(kind, upstream, regwarden, regwarden_factory, main_config, image_factory, index_factory):
    k = KINDS[kind]
    lay = index_factory() if k["index"] else image_factory()
    repo = "team/" + kind
    images.skopeo_copy(lay.ref("v1"), "docker://%s/%s:v1" % (regwarden.host, repo), all_images=k["index"], fmt=k["fmt"])
    up = upstream.get_manifest(repo, "v1")
    assert up.status == 200 and up.header("Content-Type") == k["want"], up
    body, digest = up.body, util.sha256_bytes(up.body)

    # a regwarden with a cold cache: the very first request is a HEAD
    cold = regwarden_factory(main_config(upstream))
    for rw in (cold, regwarden):
        for ref in ("v1", digest):
            rs, bodies = _probe(rw, repo, ref)
            rs2, bodies2 = _probe(rw, repo, ref, rounds=1, ns=True)
            assert all(b == body for b in bodies + bodies2), "served bytes differ from upstream's"
            assert_manifest_headers_consistent(rs + rs2, body, digest)
            assert all(r.header("Content-Type") == up.header("Content-Type") for r in rs + rs2)
    # verdicts and bytes from the on-disk cache after a restart
    cold.restart()
    rs, bodies = _probe(cold, repo, "v1")
    assert all(b == body for b in bodies)
    assert_manifest_headers_consistent(rs, body, digest)
