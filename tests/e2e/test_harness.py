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


def test_contract_checkers_accept_contract_examples():
    """lib.checks accepts DESIGN.md's own examples (with a current time) and rejects a wrong reason."""
    import datetime
    from lib import checks
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.123Z")
    line = {"time": now, "event": "deny", "request_id": "7f3a",
            "client": {"addr": "127.0.0.1", "identity": None, "user_agent": "containerd/1.6.20"},
            "image": {"registry": "registry.local", "repository": "team/app", "reference": "v1",
                      "digest": "sha256:" + "a" * 64},
            "rule": "registry.local/team/**", "mode": "enforce",
            "reason": "no-signature", "detail": "no signature by key team"}
    checks.assert_deny_line(line, "no-signature", "team/app", digest="sha256:" + "a" * 64, reference="v1",
                            rule="registry.local/team/**", ua_prefix="containerd/")
    with pytest.raises(AssertionError):
        checks.assert_deny_line(line, "untrusted-key", "team/app")
    body = json.dumps({"errors": [{"code": "DENIED", "message": "registry.local/team/app:v1 denied by rule",
                                   "detail": {"reason": "no-signature", "request_id": "7f3a"}}]}).encode()
    r = util.Response(403, "Forbidden", [("Content-Type", "application/json")], body)
    assert checks.assert_denied_body(r, "no-signature") == "7f3a"


@pytest.mark.parametrize("kind", ["oci-manifest", "oci-index", "docker-manifest", "docker-list"])
def test_head_get_checker_holds_for_upstream(kind, upstream, image_factory, index_factory):
    """The HEAD==GET property test (test_head_get.py) holds for docker-registry itself."""
    import test_head_get as hg
    k = hg.KINDS[kind]
    lay = index_factory() if k["index"] else image_factory()
    images.skopeo_copy(lay.ref("v1"), "docker://%s/team/x:v1" % upstream.host, all_images=k["index"], fmt=k["fmt"])
    up = upstream.get_manifest("team/x", "v1")
    assert up.header("Content-Type") == k["want"]

    class Direct:
        url = upstream.url
    rs, bodies = hg._probe(Direct, "team/x", "v1")
    from lib.checks import assert_manifest_headers_consistent, curl, CONTAINERD_ACCEPT
    assert_manifest_headers_consistent(rs, up.body, util.sha256_bytes(up.body))
    c = curl(upstream.url + "/v2/team/x/manifests/v1", headers={"Accept": CONTAINERD_ACCEPT})
    h = curl(upstream.url + "/v2/team/x/manifests/v1", method="HEAD", headers={"Accept": CONTAINERD_ACCEPT})
    assert_manifest_headers_consistent([c, h], up.body, util.sha256_bytes(up.body))


def test_big_blob_helpers_direct(upstream, monkeypatch):
    """The streamed upload / curl|sha256sum path of test_big_blob.py, at 24 MiB + 5 bytes, straight upstream."""
    import os
    import test_big_blob as bb
    monkeypatch.setattr(bb, "SIZE", 24 * (1 << 20) + 5)
    seed = os.urandom(bb.BLOCK)
    d = bb._digest(seed)
    bb._stream_put(upstream.url, "direct/big", d, seed)
    got, _ = bb._curl_sha256("%s/v2/direct/big/blobs/%s" % (upstream.url, d))
    assert got == d
    md = bb._put_manifest(upstream.url, "direct/big", "v1", d)
    assert upstream.manifest_digest("direct/big", "v1") == md
