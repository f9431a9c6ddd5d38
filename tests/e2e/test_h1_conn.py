# SPDX-License-Identifier: MIT
"""HTTP/1.1 connection behaviour found by the h1 fuzz target (tests/fuzz/fuzz_h1.c):
an answer regwarden gives during dispatch keeps a keep-alive connection and its pipelined
requests; an over-long request target is 414, not 400."""
import re
import socket


def _exchange(port, data, want):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(data)
        got = b""
        while got.count(b"HTTP/1.1 ") < want:
            b = s.recv(65536)
            if not b:
                break
            got += b
        return got
    finally:
        s.close()


def test_dispatch_answer_keeps_pipelined_requests(regwarden):
    req = (b"OPTIONS /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /v2/Bad_Name/manifests/v1 HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
    got = _exchange(regwarden.port, req, 3)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", got)
    assert statuses == [b"405", b"400", b"200"], got[:2000]
    assert b"Connection: close" not in got


def test_early_answer_with_unread_body_says_connection_close(regwarden):
    req = (b"PUT /v2/Bad_Name/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
           + b"x" * 10)
    got = _exchange(regwarden.port, req, 1)
    assert got.startswith(b"HTTP/1.1 400"), got[:500]
    assert b"Connection: close" in got.split(b"\r\n\r\n")[0]


def test_overlong_target_is_414(regwarden):
    got = _exchange(regwarden.port, b"GET /v2/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 1)
    assert got.startswith(b"HTTP/1.1 414"), got[:200]
