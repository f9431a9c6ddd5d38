#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""store: an object-storage stand-in that fakeup.py redirects blob downloads to (STORE).

A test tool, never linked into regwarden. It serves <root>/blobs/sha256/<hex> (fakeup's
--root) at /<bucket>/sha256/<hex> when the presigned-style query checks out:
X-Amz-Signature = HMAC-SHA256(secret, METHOD \\n path \\n X-Amz-Expires) (fakeup.presign).
Like S3, it allows only one authentication mechanism per request: any Authorization header
gets 400 InvalidArgument (XML), the symptom of a proxy that forwards registry credentials
across origins (CASES.md C02). Every request is logged, with its Authorization and Cookie
headers verbatim, so a test can assert that none ever arrived.

  GET /_log          JSON list of {method, path, authorization, cookie, headers, status}
  POST /_log/clear

CLI: store.py --listen 127.0.0.1:0 --root DIR; prints "READY <port>". In-process: Store(...).
"""
import argparse
import hmac
import http.server
import json
import os
import re
import socketserver
import sys
import threading
import time
import urllib.parse

try:
    from fakeup import STORE_SECRET, parse_range, presign
except ImportError:  # imported as tests.e2e.store
    from .fakeup import STORE_SECRET, parse_range, presign

S3_AUTH_ERROR = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code>'
                 b"<Message>Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                 b"Signature query string parameter or the Authorization header should be specified"
                 b"</Message><ArgumentName>Authorization</ArgumentName></Error>")
S3_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>'
             b"<Message>The request signature we calculated does not match the signature you provided."
             b"</Message></Error>")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakestore/1"
    store = None

    def log_message(self, fmt, *args):
        pass

    def _reply(self, code, body=b"", ctype="application/xml", extra=()):
        self.send_response(code)
        for k, v in extra:
            self.send_header(k, v)
        if ctype:
            self.send_header("Content-Type", ctype)
        if not any(k.lower() == "content-length" for k, _ in extra):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
        return code

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if self.path == "/_log/clear":
            self.store.log.clear()
            return self._reply(204, ctype=None)
        return self._reply(405)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/_log":
            return self._reply(200, json.dumps(self.store.log).encode(), "application/json")
        entry = {"time": time.time(), "method": self.command, "path": self.path,
                 "authorization": self.headers.get("Authorization"),
                 "cookie": self.headers.get("Cookie"),
                 "headers": [[k, v] for k, v in self.headers.items()], "status": None}
        self.store.log.append(entry)
        entry["status"] = self._serve(u)

    def _serve(self, u):
        if self.headers.get("Authorization") is not None:
            return self._reply(400, S3_AUTH_ERROR)
        q = urllib.parse.parse_qs(u.query)
        m = re.match(r"^/[^/]+/sha256/([a-f0-9]{64})$", u.path)
        if not m:
            return self._reply(404, b"<Error><Code>NoSuchKey</Code></Error>")
        try:
            expires = int(q["X-Amz-Expires"][0])
            sig = q["X-Amz-Signature"][0]
        except (KeyError, ValueError):
            return self._reply(403, S3_DENIED)
        # A HEAD may use a GET-signed URL (clients HEAD what they were redirected to).
        good = any(hmac.compare_digest(sig, presign(meth, u.path, expires, self.store.secret))
                   for meth in {self.command, "GET"})
        if not good or expires < time.time():
            return self._reply(403, S3_DENIED)
        path = os.path.join(self.store.root, "blobs", "sha256", m.group(1))
        if not os.path.exists(path):
            return self._reply(404, b"<Error><Code>NoSuchKey</Code></Error>")
        size = os.path.getsize(path)
        start, end, code = 0, size - 1, 200
        extra = [("Accept-Ranges", "bytes"), ("ETag", '"%s"' % m.group(1)[:32])]
        rng = self.headers.get("Range")
        if rng:
            r = parse_range(rng, size)
            if r is None:
                return self._reply(416, b"", None, [("Content-Range", "bytes */%d" % size)])
            if r != "ignore":
                start, end = r
                code = 206
                extra.append(("Content-Range", "bytes %d-%d/%d" % (start, end, size)))
        length = end - start + 1 if size else 0
        extra.append(("Content-Length", str(length)))
        self._reply(code, b"", "application/octet-stream", extra)
        if self.command == "GET":
            with open(path, "rb") as f:
                f.seek(start)
                left = length
                while left > 0:
                    b = f.read(min(left, 1 << 16))
                    if not b:
                        break
                    self.wfile.write(b)
                    left -= len(b)
        return code


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Store:
    def __init__(self, root, host="127.0.0.1", port=0, secret=STORE_SECRET):
        self.root = root
        self.secret = secret
        self.log = []
        handler = type("StoreHandler", (_Handler,), {"store": self})
        self.httpd = _Server((host, port), handler)
        self.host, self.port = self.httpd.server_address[:2]

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def authorization_seen(self):
        """Every request that carried Authorization or Cookie (must stay empty)."""
        return [e for e in self.log if e["authorization"] is not None or e["cookie"] is not None]

    def start(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv=None):
    ap = argparse.ArgumentParser(description="object-storage stand-in for fakeup --redirect-blobs")
    ap.add_argument("--listen", default="127.0.0.1:5004")
    ap.add_argument("--root", required=True, help="fakeup's --root")
    a = ap.parse_args(argv)
    host, _, port = a.listen.rpartition(":")
    s = Store(a.root, host, int(port))
    print("READY %d" % s.port, flush=True)
    try:
        s.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
