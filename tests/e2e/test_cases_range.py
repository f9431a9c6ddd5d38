# SPDX-License-Identifier: MIT
"""C14 (shared/CASES.md): Range on blob GETs through regwarden (RFC 9110 §14).

A satisfiable single range -> 206 + Content-Range: bytes a-b/total + exactly those bytes
(open-ended and suffix forms too); unsatisfiable -> 416 + Content-Range: bytes */total;
200 only with the whole body and no Content-Range. Clients that read one chunk and close
early must not disturb later full reads.
"""
import socket
import threading

import pytest

import rawreg
from casekit import *  # noqa: F401,F403
from casekit import blob_image, push_direct, rw_client
from lib import util

MiB = 1 << 20


@pytest.fixture
def big_blob(upstream, regwarden, image_factory):
    lay, digest, size = blob_image(image_factory, 40 * MiB)
    push_direct(lay, "v1", upstream.host, "library/app")
    # a client fetches the manifest before its blobs
    r = rw_client(regwarden).manifest("library/app", "v1")
    assert r.status == 200, r
    return lay.blob(digest), digest, size


RANGES = [("bytes=100-", 100, None), ("bytes=0-0", 0, 0), ("bytes=-10", -10, None),
          ("bytes=1048576-2097151", MiB, 2 * MiB - 1)]


def test_c14_ranges(big_blob, regwarden):
    """206/206/206/206 with exact bytes and Content-Range; 416 with bytes */total; full 200."""
    data, digest, size = big_blob
    c = rw_client(regwarden)
    problems = []
    for rng, first, last in RANGES:
        a = first if first >= 0 else size + first
        b = size - 1 if last is None else last
        r = c.get_range("library/app", digest, rng)
        want = (206, "bytes %d-%d/%d" % (a, b, size), str(b - a + 1), "clean", True)
        got = (r.status, r.header("Content-Range"), r.header("Content-Length"), r.ending, r.body == data[a:b + 1])
        if got != want:
            problems.append("%s: want %s, got %s" % (rng, want, got))
    r = c.get_range("library/app", digest, "bytes=99999999999-")
    if (r.status, r.header("Content-Range")) != (416, "bytes */%d" % size):
        problems.append("bytes=99999999999-: want 416 bytes */%d, got %s %s" % (size, r.status, r.header("Content-Range")))
    r = c.blob("library/app", digest)
    if (r.status, r.ending, r.header("Content-Range"), util.sha256_bytes(r.body)) != (200, "clean", None, digest):
        problems.append("full GET: %s %s Content-Range=%s" % (r.status, r.ending, r.header("Content-Range")))
    assert problems == [], "\n".join(problems)


def _early_close_reader(host, port, path, start, chunk, out, i):
    s = socket.create_connection((host, port), timeout=30)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nRange: bytes=%d-\r\nConnection: close\r\n\r\n"
                   % (path, host, port, start)).encode())
        got = 0
        head = b""
        while got < chunk:
            b = s.recv(1 << 16)
            if not b:
                break
            if len(head) < 16:
                head += b[:16]
            got += len(b)
        out[i] = (head[:12].decode("latin-1"), got)
    finally:
        s.close()       # early: the rest of the open-ended range is never read


def test_c14_parallel_open_ranges_with_early_close(big_blob, regwarden):
    data, digest, size = big_blob
    chunk = 8 * MiB
    path = "/v2/library/app/blobs/%s" % digest
    out = {}
    ts = [threading.Thread(target=_early_close_reader,
                           args=("127.0.0.1", regwarden.port, path, i * chunk, chunk, out, i))
          for i in range((size + chunk - 1) // chunk)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert len(out) == len(ts) and all(v[0] == "HTTP/1.1 206" and v[1] > 0 for v in out.values()), out
    # then one full GET: complete and correct (nothing poisoned by the early closes)
    r = rawreg.Client(regwarden.url, timeout=120).blob("library/app", digest)
    assert r.status == 200 and r.ending == "clean", r
    assert util.sha256_bytes(r.body) == digest
    assert regwarden.proc.alive()
