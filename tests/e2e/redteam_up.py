# SPDX-License-Identifier: MIT
"""Red-team helpers: a hostile "upstream" that forwards to a real docker-registry except where a hook
answers itself, and a sink listener that records every connection (SSRF probe)."""
import http.client
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lib import util


class HookProxy:
    """Forwards every request to `target` (http://host:port); hook(req) may return
    (status, [(k, v)], body) to answer instead, or a callable resp -> (status, hdrs, body) via
    req["rewrite"]. req = dict(method, path, headers, body)."""

    def __init__(self, target, hook=None):
        self.target = urllib.parse.urlsplit(target)
        self.hook = hook
        self.log = []
        self.port = util.free_port()
        proxy = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _do(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = b""
                    while True:
                        ln = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if ln == 0:
                            self.rfile.readline()
                            break
                        body += self.rfile.read(ln)
                        self.rfile.readline()
                req = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                       "body": body}
                proxy.log.append(req)
                ans = proxy.hook(req) if proxy.hook else None
                if ans is None:
                    ans = proxy.forward(req)
                    if req.get("rewrite"):
                        ans = req["rewrite"](ans)
                status, hdrs, data = ans
                self.send_response(status)
                has_len = False
                for k, v in hdrs:
                    if k.lower() in ("transfer-encoding", "connection", "content-length"):
                        continue
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _do

        self.srv = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def forward(self, req):
        c = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=30)
        hdrs = {k: v for k, v in req["headers"].items() if k.lower() not in ("host", "transfer-encoding",
                                                                             "content-length")}
        c.request(req["method"], req["path"], body=req["body"] if req["method"] not in ("GET", "HEAD") else None,
                  headers=hdrs)
        r = c.getresponse()
        data = r.read()
        out = (r.status, r.getheaders(), data)
        c.close()
        return out

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class Sink:
    """A TCP listener on 127.0.0.2 that records each connection's first bytes."""

    def __init__(self, host="127.0.0.2"):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.host, self.port = self.sock.getsockname()
        self.hits = []
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(2)
            try:
                data = c.recv(65536)
            except OSError:
                data = b""
            self.hits.append(data)
            try:
                c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            c.close()

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def stop(self):
        self.sock.close()
