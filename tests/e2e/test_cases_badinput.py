# SPDX-License-Identifier: MIT
"""C26 (shared/CASES.md) and issue 2 item 8: bad input gets a clean 4xx before anything else.

Odd paths are sent byte for byte (curl --path-as-is semantics, rawreg): each gets 400 or 404
and the upstream never hears of them. A manifest naming a layer digest `sha256:../../x` is
rejected with 400 and never signed. Malformed request lines, oversized headers and a manifest
over 4 MiB get 4xx answers and regwarden keeps serving.
"""
import json
import time

import pytest

from casekit import *  # noqa: F401,F403
from casekit import skopeo_copy
from casekit import rw_client, sig_tag
from lib import images, util

HEX = "0123456789abcdef" * 4

ODD_PATHS = [
    "/v2/team/app/blobs/sha256:..%2F..%2Fx",
    "/v2/team/app/blobs/sha256:..%2f..%2fv2%2fother%2fmanifests%2fx",
    "/v2/team/%2e%2e/other/manifests/v1",
    "/v2/team/%2E%2E/other/manifests/v1",
    "/v2/../_catalog",
    "/v2/team/../_catalog",
    "/v2/team/app/../other/manifests/v1",
    "/v2/team/./app/manifests/v1",
    "/v2/Team//app/manifests/v1",
    "/v2/team//app/manifests/v1",
    "/v2/Team/app/manifests/v1",
    "/v2/team/app/manifests/" + "a" * 129,
    "/v2/team/app/manifests/sha256:" + HEX[:63],
    "/v2/team/app/manifests/sha256:" + HEX.upper(),
    "/v2/team/app/blobs/sha256:" + HEX[:63],
    "/v2/team/app/blobs/md5:" + HEX[:32],
    "/v2/team/app/blobs/sha256:" + HEX + "/../../x",
    "/v2/team/app/manifests/..%2f..%2fx",
    "/v2/team/app/manifests/%2e%2e",
    "/v2/team/app%00/manifests/v1",
    "/v2/team/app/manifests/v1%00",
    "/v2/-team/app/manifests/v1",
]


@pytest.fixture
def seeded(upstream, regwarden, image_factory):
    lay = image_factory()
    skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % upstream.host)
    return lay


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE"])
def test_c26_path_battery_refused_before_upstream(upstream, regwarden, seeded, method):
    c = rw_client(regwarden)
    m = upstream.mark()
    bad = []
    for p in ODD_PATHS:
        r = c.request(method, p, {"Accept": "application/vnd.oci.image.manifest.v1+json"})
        if r.status not in (400, 404):
            bad.append("%s %s -> %s %s" % (method, p, r.status, r.body[:120]))
    time.sleep(0.2)
    reached = [a.uri for a in upstream.access(since=m)]
    assert bad == [], "want 400/404 for each:\n" + "\n".join(bad)
    assert reached == [], "odd paths reached the upstream: %s" % reached
    assert regwarden.proc.alive()


def test_c26_curl_path_as_is_battery(upstream, regwarden, seeded):
    """The same battery as curl sends it (--path-as-is: no dot-segment squashing)."""
    m = upstream.mark()
    bad = []
    for p in ODD_PATHS:
        if "%00" in p:
            continue
        out = util.run(["curl", "-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
                        regwarden.url + p], check=False)
        if out.stdout.strip() not in ("400", "404"):
            bad.append("%s -> %s" % (p, out.stdout.strip()))
    time.sleep(0.2)
    assert bad == [], "\n".join(bad)
    assert [a.uri for a in upstream.access(since=m)] == []


def test_c26_manifest_with_traversal_digest_rejected_not_signed(upstream, regwarden, seeded):
    cfg = seeded.manifest("v1")["config"]
    man = {"schemaVersion": 2, "mediaType": images.OCI_MANIFEST, "config": cfg,
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 32,
                       "digest": "sha256:../../x"}]}
    body = json.dumps(man, separators=(",", ":")).encode()
    digest = util.sha256_bytes(body)
    r = rw_client(regwarden).put_manifest("team/app", "evil", body, images.OCI_MANIFEST)
    assert r.status == 400, "want 400 MANIFEST_INVALID/DIGEST_INVALID: %r" % r
    assert set(r.error_codes()) & {"MANIFEST_INVALID", "DIGEST_INVALID"}, r
    assert upstream.get_manifest("team/app", "evil").status == 404
    assert upstream.get_manifest("team/app", sig_tag(digest)).status == 404
    assert not [e for e in regwarden.events("signed") if digest in json.dumps(e)]


@pytest.mark.parametrize("line", [
    b"NOT HTTP AT ALL\r\n\r\n",
    b"GET /v2/ HTTP/1.1 trailing\r\nHost: x\r\n\r\n",
    b"GET\r\nHost: x\r\n\r\n",
    b"GET /v2/ HTTP/1.1\r\nHost x\r\n\r\n",
    b"GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",
], ids=["garbage", "trailing-token", "no-target", "header-no-colon", "negative-cl", "double-cl", "tls-hello"])
def test_malformed_request_400(regwarden, line):
    r = rw_client(regwarden, timeout=10).raw(line)
    assert r.status == 400, "want 400 for %r, got %r" % (line[:40], r)
    assert rw_client(regwarden).get("/v2/").status == 200
    assert regwarden.proc.alive()


@pytest.mark.parametrize("shape", ["one-big-header", "many-headers"])
def test_oversized_headers_431_or_400(upstream, regwarden, shape):
    if shape == "one-big-header":
        extra = "X-Big: %s\r\n" % ("a" * (70 * 1024))
    else:
        extra = "".join("X-H%04d: %s\r\n" % (i, "b" * 60) for i in range(1200))
    m = upstream.mark()
    req = ("GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n" % (regwarden.port, extra)).encode()
    r = rw_client(regwarden, timeout=10).raw(req)
    assert r.status in (431, 400), "want 431/400 for > 64 KiB of headers, got %r" % r
    time.sleep(0.2)
    assert upstream.access(since=m) == []
    assert rw_client(regwarden).get("/v2/").status == 200


def test_manifest_over_4mib_4xx(upstream, regwarden, seeded):
    man = seeded.manifest("v1")
    man["annotations"] = {"pad": "x" * ((4 << 20) + 1024)}
    body = json.dumps(man, separators=(",", ":")).encode()
    assert len(body) > 4 << 20
    r = rw_client(regwarden, timeout=60).put_manifest("team/app", "huge", body, images.OCI_MANIFEST)
    assert 400 <= r.status < 500, "want a 4xx OCI error for a %d-byte manifest, got %r" % (len(body), r)
    assert (r.header("Content-Type") or "").startswith("application/json") and r.error_codes(), r
    assert upstream.get_manifest("team/app", "huge").status == 404
    assert rw_client(regwarden).get("/v2/").status == 200
