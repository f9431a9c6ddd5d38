#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""rawreg: hand-built OCI distribution requests, for the cases no real client sends.

A test tool, never linked into regwarden. Everything goes over a plain socket so that
nothing is normalised on the way: the request target is sent byte for byte (curl
--path-as-is semantics: no dot-segment removal, no re-encoding), Content-Range/Range and
Transfer-Encoding are exactly what the caller gives, and a response body is read to the
end the server announced, so a body that stops early or a reset connection is reported as
such instead of being papered over (CASES.md C08: a bad blob must never end cleanly).

Library (what the case tests import):
  Client(base).request(method, target, headers, body)  -> Reply (status, headers, body, ending)
  Client.raw(bytes)                                      -> Reply for an arbitrary request
  Upload helpers: start(repo) / patch(loc, data, content_range) / patch_chunked(loc, chunks)
                  / status(loc) / finish(loc, digest, data) / monolithic(repo, data)
  Client.get_range(repo, digest, range_value)
  resolve(base, location) -> absolute URL for an absolute or relative Location

Reply.ending is "clean" (the announced length or the chunked terminator arrived), "short"
(the peer closed early), "reset" (ECONNRESET), "timeout", or "bad-chunk".

CLI:
  rawreg.py --base URL upload REPO --chunks 3 --chunk-size 1048576   chunked upload, prints steps
  rawreg.py --base URL range REPO DIGEST 'bytes=100-'                 one Range GET
  rawreg.py --base URL raw 'GET /v2/../_catalog HTTP/1.1'              one request line, as is
"""
import argparse
import hashlib
import json
import os
import socket
import sys
import urllib.parse

MANIFEST_ACCEPT = ", ".join(("application/vnd.oci.image.manifest.v1+json",
                             "application/vnd.oci.image.index.v1+json",
                             "application/vnd.docker.distribution.manifest.v2+json",
                             "application/vnd.docker.distribution.manifest.list.v2+json"))


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def resolve(base, location):
    """Absolute URL of an upload Location (absolute, or relative to the registry origin)."""
    return urllib.parse.urljoin(base.rstrip("/") + "/", location)


def target_of(url):
    """The request target of an absolute URL, query kept byte for byte."""
    u = urllib.parse.urlsplit(url)
    return (u.path or "/") + ("?" + u.query if u.query else "")


class Reply:
    def __init__(self, status, reason, headers, body, ending, raw_head=b""):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.ending = ending
        self.raw_head = raw_head

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def error_codes(self):
        try:
            return [e.get("code") for e in self.json().get("errors", [])]
        except (ValueError, AttributeError):
            return []

    def __repr__(self):
        return "<Reply %s %s ending=%s %r body=%r>" % (self.status, self.reason, self.ending,
                                                       self.headers, self.body[:300])


class Client:
    def __init__(self, base, timeout=60, headers=None):
        u = urllib.parse.urlsplit(base)
        self.base = "%s://%s" % (u.scheme, u.netloc)
        self.host = u.hostname
        self.port = u.port or 80
        self.timeout = timeout
        self.default_headers = dict(headers or {})

    # -- the wire ------------------------------------------------------------------------
    def _connect(self):
        s = socket.create_connection((self.host, self.port), timeout=self.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def raw(self, data, method_hint="GET", timeout=None):
        """Send bytes as they are, read one response. For malformed requests."""
        s = self._connect()
        try:
            if timeout:
                s.settimeout(timeout)
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass        # answered early and closed; the answer may still be readable
            return _read_reply(s, method_hint)
        finally:
            s.close()

    def request(self, method, target, headers=None, body=None, chunks=None, timeout=None):
        """One request on a fresh connection. target: '/v2/...' (sent as is) or an absolute URL.

        body: bytes (Content-Length), an iterable of bytes (streamed; pass Content-Length in
        headers) or None; chunks: iterable of bytes sent with Transfer-Encoding: chunked (one
        chunk each, as given).
        """
        if target.startswith("http://") or target.startswith("https://"):
            target = target_of(target)
        h = {"Host": "%s:%d" % (self.host, self.port), "User-Agent": "rawreg/1", "Connection": "close"}
        h.update(self.default_headers)
        h.update(headers or {})
        if chunks is not None:
            h["Transfer-Encoding"] = "chunked"
            h.pop("Content-Length", None)
        elif isinstance(body, (bytes, bytearray)) and not any(k.lower() == "content-length" for k in h):
            h["Content-Length"] = str(len(body))
        elif body is None and method in ("PUT", "POST", "PATCH") and "Content-Length" not in h:
            h["Content-Length"] = "0"
        head = "%s %s HTTP/1.1\r\n" % (method, target)
        head += "".join("%s: %s\r\n" % (k, v) for k, v in h.items() if v is not None)
        s = self._connect()
        try:
            if timeout:
                s.settimeout(timeout)
            try:
                s.sendall(head.encode("latin-1") + b"\r\n")
                if chunks is not None:
                    for c in chunks:
                        if c:
                            s.sendall(b"%x\r\n" % len(c) + c + b"\r\n")
                    s.sendall(b"0\r\n\r\n")
                elif isinstance(body, (bytes, bytearray)):
                    s.sendall(body)
                elif body is not None:          # an iterable of chunks, Content-Length given
                    for c in body:
                        s.sendall(c)
            except (BrokenPipeError, ConnectionResetError):
                # The server answered early (e.g. 413/400 on a body it refuses) and closed;
                # its answer may still be readable.
                pass
            return _read_reply(s, method)
        finally:
            s.close()

    # -- OCI helpers ---------------------------------------------------------------------
    def get(self, path, headers=None, **kw):
        return self.request("GET", path, headers, **kw)

    def manifest(self, repo, ref, method="GET", accept=MANIFEST_ACCEPT, query=""):
        return self.request(method, "/v2/%s/manifests/%s%s" % (repo, ref, query), {"Accept": accept})

    def put_manifest(self, repo, ref, body, media_type, headers=None):
        h = {"Content-Type": media_type}
        h.update(headers or {})
        return self.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), h, body)

    def blob(self, repo, digest, method="GET", headers=None):
        return self.request(method, "/v2/%s/blobs/%s" % (repo, digest), headers)

    def get_range(self, repo, digest, range_value):
        return self.blob(repo, digest, headers={"Range": range_value})

    def start(self, repo, query=""):
        return self.request("POST", "/v2/%s/blobs/uploads/%s" % (repo, query))

    def patch(self, location, data, content_range=True, headers=None, offset=None):
        """PATCH one chunk to an upload Location. content_range: True (computed from offset),
        a string (sent as is) or False/None (no header)."""
        h = {"Content-Type": "application/octet-stream"}
        if content_range is True:
            start = offset or 0
            h["Content-Range"] = "%d-%d" % (start, start + len(data) - 1)
        elif content_range:
            h["Content-Range"] = content_range
        h.update(headers or {})
        return self.request("PATCH", resolve(self.base, location), h, data)

    def patch_chunked(self, location, chunks, headers=None):
        h = {"Content-Type": "application/octet-stream"}
        h.update(headers or {})
        return self.request("PATCH", resolve(self.base, location), h, chunks=chunks)

    def status(self, location):
        return self.request("GET", resolve(self.base, location))

    def finish(self, location, digest, data=None):
        loc = resolve(self.base, location)
        loc += ("&" if "?" in loc else "?") + "digest=" + urllib.parse.quote(digest, safe=":")
        h = {"Content-Type": "application/octet-stream"}
        return self.request("PUT", loc, h, data if data is not None else b"")

    def monolithic(self, repo, data):
        """POST + PUT ?digest= with the whole body; returns (digest, final Reply)."""
        r = self.start(repo)
        if r.status != 202:
            return None, r
        d = sha256(data)
        return d, self.finish(r.header("Location"), d, data)

    def chunked_upload(self, repo, data, chunk_size):
        """POST, PATCH per chunk following each newest Location, PUT. Returns (digest, steps)."""
        steps = []
        r = self.start(repo)
        steps.append(("POST", r))
        if r.status != 202:
            return None, steps
        loc = r.header("Location")
        off = 0
        while off < len(data):
            c = data[off:off + chunk_size]
            r = self.patch(loc, c, offset=off)
            steps.append(("PATCH", r))
            if r.status != 202:
                return None, steps
            loc = r.header("Location")
            off += len(c)
        d = sha256(data)
        r = self.finish(loc, d)
        steps.append(("PUT", r))
        return d, steps


def _read_reply(sock, method):
    f = sock.makefile("rb")
    try:
        status_line = f.readline(65537)
        while status_line.startswith(b"HTTP/1.1 1") and not status_line.startswith(b"HTTP/1.1 101"):
            # 1xx (100 Continue): skip its header block
            while f.readline(65537) not in (b"\r\n", b"\n", b""):
                pass
            status_line = f.readline(65537)
    except socket.timeout:
        return Reply(0, "", [], b"", "timeout")
    except ConnectionResetError:
        return Reply(0, "", [], b"", "reset")
    if not status_line:
        return Reply(0, "", [], b"", "short")
    parts = status_line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    raw_head = status_line
    try:
        while True:
            line = f.readline(65537)
            raw_head += line
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").rstrip("\r\n").partition(":")
            headers.append((k.strip(), v.strip()))
    except (socket.timeout, ConnectionResetError):
        return Reply(status, reason, headers, b"", "reset", raw_head)
    rep = Reply(status, reason, headers, b"", "clean", raw_head)
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return rep
    te = (rep.header("Transfer-Encoding") or "").lower()
    cl = rep.header("Content-Length")
    body = bytearray()
    try:
        if "chunked" in te:
            while True:
                line = f.readline(65537)
                if not line:
                    rep.ending = "short"
                    break
                try:
                    n = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    rep.ending = "bad-chunk"
                    break
                if n == 0:
                    while f.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                c = f.read(n)
                body += c
                if len(c) < n:
                    rep.ending = "short"
                    break
                f.readline(3)
        elif cl is not None:
            n = int(cl)
            while len(body) < n:
                c = f.read(min(n - len(body), 1 << 16))
                if not c:
                    rep.ending = "short"
                    break
                body += c
        else:
            while True:      # read to close: cannot tell short from complete
                c = f.read(1 << 16)
                if not c:
                    break
                body += c
    except ConnectionResetError:
        rep.ending = "reset"
    except socket.timeout:
        rep.ending = "timeout"
    rep.body = bytes(body)
    return rep


def main(argv=None):
    ap = argparse.ArgumentParser(description="hand-built OCI requests")
    ap.add_argument("--base", default="http://127.0.0.1:5001")
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("upload")
    u.add_argument("repo")
    u.add_argument("--chunks", type=int, default=3)
    u.add_argument("--chunk-size", type=int, default=1 << 20)
    r = sub.add_parser("range")
    r.add_argument("repo")
    r.add_argument("digest")
    r.add_argument("range")
    w = sub.add_parser("raw")
    w.add_argument("line", help="request line, e.g. 'GET /v2/../_catalog HTTP/1.1'")
    a = ap.parse_args(argv)
    c = Client(a.base)
    if a.cmd == "upload":
        data = os.urandom(a.chunks * a.chunk_size)
        d, steps = c.chunked_upload(a.repo, data, a.chunk_size)
        for name, rep in steps:
            print("%-5s %d Location=%s Range=%s" % (name, rep.status, rep.header("Location"), rep.header("Range")))
        print("digest", d)
        return 0 if d and steps[-1][1].status == 201 else 1
    if a.cmd == "range":
        rep = c.get_range(a.repo, a.digest, a.range)
        print(rep.status, rep.header("Content-Range"), len(rep.body), rep.ending)
        return 0
    rep = c.raw(("%s\r\nHost: %s:%d\r\nConnection: close\r\n\r\n" % (a.line, c.host, c.port)).encode())
    print(rep.status, rep.reason, rep.ending)
    sys.stdout.write(rep.body.decode("utf-8", "replace") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
