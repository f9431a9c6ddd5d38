# SPDX-License-Identifier: MIT
"""Uploads through regwarden: C11 (Location rewriting), C12 (chunked uploads), C13 (bounded memory).

C11: the upstream (docker-registry with http.host set) answers absolute Locations naming
itself; regwarden hands the client Locations on its own origin (or relative), keeping path and
query (_state) byte for byte, and maps them back when the client uses them.
C12: each PATCH goes to the newest Location; a stale Location gets the upstream's own answer
(distribution 2.8.2: 404 BLOB_UPLOAD_INVALID), never a 500; a wrong Content-Range start gets
416 (FAKE, since distribution 2.8.2 does not check it); a Transfer-Encoding: chunked PATCH works.
C13: a large streamed upload leaves regwarden's RSS flat.
"""
import hashlib
import os
import re
import urllib.parse

import pytest

import rawreg
from casekit import *  # noqa: F401,F403
from casekit import skopeo_copy
from casekit import fake_upstream, rw_client
from lib import images, util
from lib import registry as _registry
from lib.regwarden import RssSampler

MiB = 1 << 20


@pytest.fixture
def up_host(workdir):
    """docker-registry whose http.host is its own URL: every Location it sends is absolute."""
    port = util.free_port()
    up = _registry.Registry(workdir / "up-http-host", http_host="http://127.0.0.1:%d" % port)
    up.start(port)
    yield up
    up.stop()


def _own_location(rw, loc, upstream):
    assert loc, "no Location"
    assert loc.startswith(rw.url + "/") or loc.startswith("/"), \
        "Location not on regwarden's origin nor relative: %s" % loc
    assert upstream.host not in loc, "upstream origin leaked in Location: %s" % loc


def test_c11_upload_locations_rewritten_query_kept(up_host, main_config, regwarden_factory):
    rw = regwarden_factory(main_config(up_host))
    direct = rawreg.Client(up_host.url).start("team/probe")
    assert direct.status == 202 and direct.header("Location").startswith(up_host.url + "/"), \
        "fixture: upstream should answer absolute Locations: %r" % direct
    c = rw_client(rw)
    r = c.start("team/app")
    assert r.status == 202, r
    loc = r.header("Location")
    _own_location(rw, loc, up_host)
    assert "_state=" in loc
    data = os.urandom(MiB)
    off = 0
    for i in range(2):
        chunk = data[i * (MiB // 2):(i + 1) * (MiB // 2)]
        m = up_host.mark()
        url = rawreg.resolve(rw.url, loc)
        r = c.patch(loc, chunk, offset=off)
        assert r.status == 202, r
        off += len(chunk)
        assert r.header("Range") == "0-%d" % (off - 1)
        # what regwarden sent upstream is exactly the path and query we were given
        seen = up_host.requests_for("/blobs/uploads/", since=m, method="PATCH")
        assert [a.uri for a in seen] == [rawreg.target_of(url)], (seen, url)
        loc = r.header("Location")
        _own_location(rw, loc, up_host)
    digest = util.sha256_bytes(data)
    m = up_host.mark()
    put_url = rawreg.resolve(rw.url, loc)
    put_url += ("&" if "?" in put_url else "?") + "digest=" + digest
    r = c.request("PUT", put_url, {"Content-Type": "application/octet-stream"}, b"")
    assert r.status == 201, r
    assert r.header("Docker-Content-Digest") == digest
    _own_location(rw, r.header("Location"), up_host)
    seen = up_host.requests_for("/blobs/uploads/", since=m, method="PUT")
    assert [a.uri for a in seen] == [rawreg.target_of(put_url)], (seen, put_url)
    assert util.sha256_bytes(up_host.get_blob("team/app", digest).body) == digest


def test_c11_skopeo_push_never_sees_upstream_origin(up_host, main_config, regwarden_factory, image_factory):
    rw = regwarden_factory(main_config(up_host))
    lay = image_factory()
    p = skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % rw.host, extra=["--debug"], check=False)
    assert p.returncode == 0, p.stderr[-3000:]
    urls = re.findall(r'msg="(?:GET|HEAD|PUT|PATCH|POST|DELETE) (\S+)"', p.stderr)
    assert urls, "no request lines in skopeo --debug output"
    # skopeo pings https first, then falls back to http: the origin that matters is host:port
    stray = [u for u in urls if urllib.parse.urlsplit(u).netloc != rw.host]
    assert stray == [], "skopeo was sent off regwarden: %s" % stray[:5]
    assert up_host.manifest_digest("team/app", "v1") == lay.digest("v1")


# -- C12 ---------------------------------------------------------------------------------
def test_c12_chunked_upload_follows_newest_location(upstream, regwarden):
    c = rw_client(regwarden)
    data = os.urandom(3 * MiB)
    r = c.start("team/app")
    assert r.status == 202, r
    locs = [r.header("Location")]
    for i in range(3):
        r = c.patch(locs[-1], data[i * MiB:(i + 1) * MiB], offset=i * MiB)
        assert r.status == 202, r
        assert r.header("Range") == "0-%d" % ((i + 1) * MiB - 1), r
        locs.append(r.header("Location"))
    assert len(set(locs)) == 4, "each response must carry the newest Location: %s" % locs
    r = c.status(locs[-1])
    assert r.status == 204 and r.header("Range") == "0-%d" % (3 * MiB - 1), r
    digest = util.sha256_bytes(data)
    r = c.finish(locs[-1], digest)
    assert r.status == 201 and r.header("Docker-Content-Digest") == digest, r
    h = upstream.get_blob("team/app", digest)
    assert h.status == 200 and util.sha256_bytes(h.body) == digest


def _stale_sequence(c):
    """POST; PATCH L1; PATCH L1 again (stale _state); PATCH L2 (the newest). Status + codes."""
    out = []
    r = c.start("team/app")
    out.append((r.status, r.error_codes()))
    l1 = r.header("Location")
    r = c.patch(l1, b"a" * 1024, offset=0)
    out.append((r.status, r.error_codes()))
    l2 = r.header("Location")
    r = c.patch(l1, b"b" * 1024, offset=1024)
    out.append((r.status, r.error_codes()))
    r = c.patch(l2, b"b" * 1024, offset=1024)
    out.append((r.status, r.error_codes()))
    return out


def test_c12_stale_location_gets_upstreams_answer(upstream, regwarden):
    direct = _stale_sequence(rawreg.Client(upstream.url))
    via = _stale_sequence(rw_client(regwarden))
    assert direct[2][0] in (400, 404) and "BLOB_UPLOAD_INVALID" in direct[2][1], direct
    assert via[2][0] < 500, "stale Location turned into a server error: %s" % (via,)
    assert via == direct, "regwarden must relay the upstream's answers as-is: via %s, direct %s" % (via, direct)


def test_c12_wrong_content_range_416_relayed(fake, main_config, regwarden_factory):
    rw = regwarden_factory(main_config(fake_upstream(fake)))
    c = rw_client(rw)
    r = c.start("team/app")
    assert r.status == 202, r
    r = c.patch(r.header("Location"), b"a" * 1024, offset=0)
    assert r.status == 202, r
    r = c.patch(r.header("Location"), b"b" * 1024, content_range="4096-5119")
    assert r.status == 416, "out-of-order PATCH: want the upstream's 416: %r" % r
    assert r.header("Range") == "0-1023", r
    loc = r.header("Location")
    assert loc and (loc.startswith(rw.url + "/") or loc.startswith("/")), loc


def test_c12_transfer_encoding_chunked_patch(upstream, regwarden):
    c = rw_client(regwarden)
    r = c.start("team/app")
    assert r.status == 202, r
    pieces = [os.urandom(n) for n in (1000, 70000, 1, 300000, 65536)]
    data = b"".join(pieces)
    r = c.patch_chunked(r.header("Location"), pieces)
    assert r.status == 202, r
    assert r.header("Range") == "0-%d" % (len(data) - 1), r
    digest = util.sha256_bytes(data)
    r = c.finish(r.header("Location"), digest)
    assert r.status == 201, r
    assert util.sha256_bytes(upstream.get_blob("team/app", digest).body) == digest


# -- C13 ---------------------------------------------------------------------------------
class _Stream:
    """total bytes made of a repeated random block, hashed as they are sent."""

    def __init__(self, total, block):
        self.total, self.block = total, block
        self.h = hashlib.sha256()
        self.sent = 0

    def __iter__(self):
        while self.sent < self.total:
            b = self.block[:min(len(self.block), self.total - self.sent)]
            self.h.update(b)
            self.sent += len(b)
            yield b

    @property
    def digest(self):
        return "sha256:" + self.h.hexdigest()


@pytest.mark.slow
def test_c13_large_upload_rss_flat(upstream, regwarden):
    size = int(os.environ.get("RW_C13_MIB", "512")) * MiB
    c = rw_client(regwarden, timeout=300)
    base_kib = util.proc_kib(regwarden.pid, "VmRSS")
    body = _Stream(size, os.urandom(4 * MiB))
    with RssSampler(regwarden.pid, interval=0.05) as s:
        r = c.start("team/big")
        assert r.status == 202, r
        r = c.request("PATCH", rawreg.resolve(regwarden.url, r.header("Location")),
                      {"Content-Type": "application/octet-stream", "Content-Length": str(size),
                       "Content-Range": "0-%d" % (size - 1)}, body=body)
        assert r.status == 202, r
        assert body.sent == size
        digest = body.digest
        r = c.finish(r.header("Location"), digest)
        assert r.status == 201, r
    growth = s.peak_kib - base_kib
    print("C13: %d MiB upload, regwarden RSS base %d KiB, peak %d KiB (+%d KiB), %d samples"
          % (size // MiB, base_kib, s.peak_kib, growth, s.samples))
    assert s.peak_kib < 64 * 1024, "RSS peaked at %d KiB during a %d MiB upload" % (s.peak_kib, size // MiB)
    assert growth < 32 * 1024, "RSS grew by %d KiB during a %d MiB upload: not streaming" % (growth, size // MiB)
    h = util.http("HEAD", "%s/v2/team/big/blobs/%s" % (upstream.url, digest))
    assert h.status == 200 and h.header("Content-Length") == str(size), h
