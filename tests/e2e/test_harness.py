# SPDX-License-Identifier: MIT
"""Self-tests of the e2e harness against the real components only (no regwarden needed).

They prove the tools the scenarios rely on are sound: docker-registry + access log parsing,
umoci images, skopeo pushes, the independent cosign checker/forger, containerd via hosts.toml.
"""
import json

import pytest

from lib import images, sigtool, util
from lib.registry import ACCEPT_ALL


def test_registry_access_log(upstream):
    m = upstream.mark()
    r = util.http("GET", upstream.url + "/v2/", headers={"User-Agent": "probe/1"})
    assert r.status == 200
    lines = upstream.access(since=m)
    assert [(a.method, a.path, a.ua) for a in lines] == [("GET", "/v2/", "probe/1")]


def test_registry_htpasswd(registry_factory):
    up = registry_factory(auth=("alice", "s3cret"))
    r = util.http("GET", up.url + "/v2/")
    assert r.status == 401 and r.header("WWW-Authenticate", "").startswith("Basic")
    assert util.http("GET", up.url + "/v2/", headers=up.headers()).status == 200


def test_image_push_and_sigtool_roundtrip(upstream, image_factory, keys):
    lay = image_factory()
    images.skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % upstream.host)
    digest = upstream.manifest_digest("team/app", "v1")
    assert digest == lay.digest("v1")
    assert json.loads(upstream.get_manifest("team/app", "v1").body)["mediaType"] == images.OCI_MANIFEST
    client = sigtool.RegClient(upstream.url)
    team = {"team": keys.team.public_key()}
    assert sigtool.verify(client, "team/app", digest, team).reason == "no-signature"
    sigtool.attach(client, "team/app", digest, keys.other.private_key(), "registry.local/team/app")
    assert sigtool.verify(client, "team/app", digest, team).reason == "untrusted-key"
    sigtool.attach(client, "team/app", digest, keys.team.private_key(), "registry.local/team/app")
    v = sigtool.verify(client, "team/app", digest, team)
    assert v.ok and len(v.layers) == 2 and v.layers[1].key == "team", v
    # CLI form
    p = util.run(["/usr/bin/python3", sigtool.__file__, "verify", "--registry", upstream.url, "--repo", "team/app",
                  "--digest", digest, "--key", keys.team.pub_path], check=False)
    assert p.returncode == 0 and json.loads(p.stdout)["ok"], p


def test_sigtool_detects_tampering(upstream, image_factory, keys):
    lay = image_factory()
    images.skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % upstream.host)
    digest = lay.digest("v1")
    client = sigtool.RegClient(upstream.url)
    team = {"team": keys.team.public_key()}
    # valid signature over a payload that names another digest
    other = "sha256:" + "ab" * 32
    sigtool.attach(client, "team/app", digest, keys.team.private_key(), "registry.local/team/app",
                   payload=sigtool.make_payload("registry.local/team/app", other), append=False)
    assert sigtool.verify(client, "team/app", digest, team).reason == "bad-signature"
    # signature over the right payload, but the stored blob is edited
    good = sigtool.make_payload("registry.local/team/app", digest)
    edited = good.replace(b'"optional":null', b'"optional":{"x":"y"}')
    sigtool.attach(client, "team/app", digest, keys.team.private_key(), "registry.local/team/app",
                   payload=good, blob_override=edited, append=False)
    v = sigtool.verify(client, "team/app", digest, team)
    assert not v.ok and v.reason in ("bad-signature", "untrusted-key"), v


def test_index_and_docker_list_push(upstream, index_factory):
    lay = index_factory()
    images.skopeo_copy(lay.ref("v1"), "docker://%s/team/multi:v1" % upstream.host, all_images=True)
    images.skopeo_copy(lay.ref("v1"), "docker://%s/team/multi-d:v1" % upstream.host, all_images=True, fmt="v2s2")
    r = upstream.get_manifest("team/multi", "v1")
    assert r.header("Content-Type") == images.OCI_INDEX and util.sha256_bytes(r.body) == lay.digest("v1")
    r = upstream.get_manifest("team/multi-d", "v1", accept=ACCEPT_ALL)
    assert r.header("Content-Type") == images.DOCKER_LIST
    assert json.loads(r.body)["mediaType"] == images.DOCKER_LIST


@pytest.mark.needs_root
def test_ctr_pull_via_hosts_toml_direct(upstream, image_factory, ctr):
    """Baseline: ctr pulls straight from docker-registry with the same hosts.toml shape we give regwarden."""
    lay = image_factory()
    images.skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % upstream.host)

    class Fake:
        url = upstream.url
    ctr.mirror(Fake)
    m = upstream.mark()
    p = ctr.pull("registry.local/team/app:v1")
    assert p.returncode == 0, p.stderr
    assert ctr.image_digest("registry.local/team/app:v1") == lay.digest("v1")
    seen = upstream.access(since=m)
    assert seen[0].method == "HEAD" and "ns=registry.local" in seen[0].query, seen
    assert all(a.ua.startswith("containerd/") for a in seen)
