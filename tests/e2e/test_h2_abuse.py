# SPDX-License-Identifier: MIT
"""Issue 3: HTTP/2 abuse (raw frames on the h2c listener, python3-h2 for the polite parts) and
TLS certificate rotation. After each attack regwarden still answers another client at once and
its VmRSS stays bounded."""
import hashlib
import os
import socket
import ssl
import struct
import subprocess
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
from cryptography import x509

from lib import util
from lib.checks import CONTAINERD_ACCEPT
from lib.tlsca import CA

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
BIG = 48 << 20


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack_get(path, authority="x"):
    # literal headers without indexing, static-table name indexes (RFC 7541 appendix A)
    def lit(idx, value):
        v = value.encode()
        return bytes([idx]) + bytes([len(v)]) + v
    return bytes([0x82, 0x86]) + lit(0x04, path) + lit(0x01, authority)  # :method GET, :scheme http


@pytest.fixture
def big_blob(upstream):
    data = os.urandom(1 << 20) * (BIG >> 20)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = util.http("POST", upstream.url + "/v2/library/big/blobs/uploads/")
    assert r.status == 202, r
    loc = r.header("Location")
    loc = loc if loc.startswith("http") else upstream.url + loc
    r = util.http("PUT", loc + ("&" if "?" in loc else "?") + "digest=" + digest, body=data,
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status == 201, r
    return digest


def healthy(rw):
    t0 = time.time()
    r = util.http("GET", rw.url + "/v2/", timeout=5)
    assert r.status in (200, 401), r
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
                        "--max-time", "5", rw.url + "/v2/"], capture_output=True, text=True)
    assert p.stdout == "200", p
    return time.time() - t0


def rss_kib(rw):
    return util.proc_kib(rw.pid, "VmRSS")


def raw_conn(rw):
    s = socket.create_connection(("127.0.0.1", rw.port), timeout=10)
    s.sendall(PREFACE + frame(4, 0, 0))
    return s


def read_until_closed(s, limit=30):
    """Read until the server closes; True when it closed the connection (a GOAWAY is sent first,
    but when the peer's unread flood is still queued the kernel turns the close into a RST and
    the GOAWAY may be lost on the way, so the close itself is what is asserted)."""
    s.settimeout(limit)
    buf = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return True


def blast(s, data):
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def test_rapid_reset(regwarden):
    base = rss_kib(regwarden)
    s = raw_conn(regwarden)
    out = b"".join(frame(1, 0x4, sid, hpack_get("/v2/")) + frame(3, 0, sid, struct.pack(">I", 8))
                   for sid in range(1, 20001, 2))
    blast(s, out)
    assert read_until_closed(s), "connection kept after 10000 rapid resets"
    assert healthy(regwarden) < 2
    assert rss_kib(regwarden) < base + 64 * 1024


def test_continuation_flood(regwarden):
    s = raw_conn(regwarden)
    out = frame(1, 0, 1, hpack_get("/v2/")) + b"".join(frame(9, 0, 1, b"\x40\x01a\x01b") for _ in range(5000))
    blast(s, out)
    assert read_until_closed(s), "connection kept after a CONTINUATION flood"
    assert healthy(regwarden) < 2


def test_settings_and_ping_flood(regwarden):
    for f in (frame(4, 0, 0, struct.pack(">HI", 3, 100)), frame(6, 0, 0, b"12345678")):
        s = raw_conn(regwarden)
        blast(s, f * 20000)
        assert read_until_closed(s), "connection kept after a flood"
        assert healthy(regwarden) < 2


def test_many_streams_refused_beyond_limit(regwarden):
    s = raw_conn(regwarden)
    # 300 streams whose requests never end (no END_STREAM): only 100 may be open at once
    blast(s, b"".join(frame(1, 0x4, sid, hpack_get("/v2/library/x/blobs/uploads/")) for sid in range(1, 601, 2)))
    s.settimeout(5)
    buf = b""
    try:
        while len(buf) < 1 << 20:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except socket.timeout:
        pass
    rst = 0
    i = 0
    while i + 9 <= len(buf):
        ln = int.from_bytes(buf[i:i + 3], "big")
        rst += buf[i + 3] == 3 or buf[i + 3] == 7
        i += 9 + ln
    assert rst > 0, "streams beyond SETTINGS_MAX_CONCURRENT_STREAMS were accepted"
    assert healthy(regwarden) < 2
    s.close()


def test_zero_window_reader_holding_a_big_blob(regwarden, big_blob):
    """The client advertises a zero window and never reads: regwarden buffers a bounded amount
    (its upstream transfer pauses), other clients are served, RSS stays bounded."""
    base = rss_kib(regwarden)
    conns = []
    for _ in range(8):
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        c.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        c.initiate_connection()
        s = socket.create_connection(("127.0.0.1", regwarden.port))
        for sid in (1, 3, 5, 7):
            c.send_headers(sid, [(":method", "GET"), (":path", "/v2/library/big/blobs/" + big_blob),
                                 (":scheme", "http"), (":authority", regwarden.host)], end_stream=True)
        s.sendall(c.data_to_send())
        conns.append((c, s))
    time.sleep(3)
    assert healthy(regwarden) < 2
    grown = rss_kib(regwarden) - base
    # 32 streams x 48 MiB would be 1.5 GiB; bounded queues keep it to a few MiB per stream
    assert grown < 160 * 1024, "VmRSS grew by %d KiB" % grown
    for _, s in conns:
        s.close()
    time.sleep(0.5)
    assert healthy(regwarden) < 2


def _serial(port, ca_path):
    ctx = ssl.create_default_context(cafile=ca_path)
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
            return x509.load_der_x509_certificate(t.getpeercert(binary_form=True)).serial_number


def test_certificate_rotation(regwarden_factory, main_config, upstream, workdir, big_blob):
    ca = CA(workdir / "ca")
    crt, key, serial1 = ca.server()
    port, plain = util.free_port(), util.free_port()
    cfg = main_config(upstream)
    cfg["listen"] = [{"address": "127.0.0.1:%d" % plain},
                     {"address": "127.0.0.1:%d" % port, "tls": {"cert": crt, "key": key}}]
    rw = regwarden_factory(cfg, start=False)
    rw.port = plain
    rw.start()
    assert _serial(port, ca.ca_path) == serial1
    out = str(workdir / "big.out")
    dl = subprocess.Popen(["curl", "-sS", "--http2", "--cacert", ca.ca_path, "--limit-rate", "12M", "-o", out,
                           "https://127.0.0.1:%d/v2/library/big/blobs/%s" % (port, big_blob)])
    time.sleep(0.5)
    _, _, serial2 = ca.server(cert_path=crt, key_path=key)   # rewrite both files (cert-manager)
    util.wait_until(lambda: _serial(port, ca.ca_path) == serial2, timeout=10, what="new certificate served")
    # a broken pair is refused, the running one stays
    with open(crt, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    util.wait_until(lambda: "refused" in rw.stderr(), timeout=10, what="refusal logged")
    assert _serial(port, ca.ca_path) == serial2
    assert dl.wait(timeout=60) == 0
    assert "sha256:" + hashlib.sha256(open(out, "rb").read()).hexdigest() == big_blob
