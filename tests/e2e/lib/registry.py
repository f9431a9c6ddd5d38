# SPDX-License-Identifier: MIT
"""Registry: a real docker-registry (distribution 2.8) as regwarden's upstream.

Started with a generated config: filesystem storage in a temp dir, delete enabled,
optional htpasswd basic auth, optional http.host (forces absolute Location URLs).
Its access log (combined log format, one line per request, with the User-Agent) is
parsed by access() so tests can assert what did / did not reach the upstream.
"""
import base64
import json
import os
import re
import shutil
import time

from . import util

DOCKER_REGISTRY = os.environ.get("RW_DOCKER_REGISTRY", "/usr/bin/docker-registry")

MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.oci.image.index.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json",
                  "application/vnd.docker.distribution.manifest.list.v2+json")
ACCEPT_ALL = ", ".join(MANIFEST_TYPES)

# 127.0.0.1 - - [03/Dec/2026:14:43:57 +0000] "GET /v2/x?ns=y HTTP/1.1" 200 346 "" "containerd/1.6.20~ds1"
_ACCESS_RE = re.compile(r'^(\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) (\S+) (HTTP/[\d.]+)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"\s*$')


class AccessLine:
    __slots__ = ("addr", "user", "method", "uri", "path", "query", "status", "size", "ua", "raw")

    def __init__(self, m, raw):
        self.addr, self.user, _, self.method, self.uri, _, status, size, _, self.ua = m.groups()
        self.status = int(status)
        self.size = 0 if size == "-" else int(size)
        self.path, _, self.query = self.uri.partition("?")
        self.raw = raw

    def __repr__(self):
        return "<%s %s %d ua=%s>" % (self.method, self.uri, self.status, self.ua)


def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))


class Registry:
    def __init__(self, workdir, name="registry.local", auth=None, http_host=None, extra_config=None):
        """auth: (user, password) enables htpasswd basic auth. http_host: value of http.host."""
        self.workdir = str(workdir)
        self.name = name
        self.auth = auth
        self.http_host = http_host
        self.extra_config = extra_config or ""
        self.port = None
        self.proc = None
        os.makedirs(self.workdir, exist_ok=True)
        self.storage = os.path.join(self.workdir, "storage")
        self.config_path = os.path.join(self.workdir, "registry.yml")
        self.log_path = os.path.join(self.workdir, "registry.log")

    # -- lifecycle ---------------------------------------------------------
    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://%s" % self.host

    def _write_config(self):
        lines = ["version: 0.1",
                 "log:",
                 "  level: info",
                 "  accesslog:",
                 "    disabled: false",
                 "storage:",
                 "  filesystem:",
                 "    rootdirectory: %s" % _yaml_scalar(self.storage),
                 "  delete:",
                 "    enabled: true",
                 "  maintenance:",
                 "    uploadpurging:",
                 "      enabled: false",
                 "http:",
                 "  addr: %s" % _yaml_scalar(self.host),
                 "  secret: %s" % _yaml_scalar("e2e-secret-%d" % self.port)]
        if self.http_host:
            lines.append("  host: %s" % _yaml_scalar(self.http_host))
        if self.auth:
            htpasswd = os.path.join(self.workdir, "htpasswd")
            util.run(["htpasswd", "-Bbc", htpasswd, self.auth[0], self.auth[1]])
            lines += ["auth:",
                      "  htpasswd:",
                      "    realm: %s" % _yaml_scalar("e2e-realm"),
                      "    path: %s" % _yaml_scalar(htpasswd)]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n" + self.extra_config)

    def start(self, port=None):
        self.port = port or self.port or util.free_port()
        self._write_config()
        self.proc = util.Proc([DOCKER_REGISTRY, "serve", self.config_path], self.log_path).start()

        def ready():
            if not self.proc.alive():
                raise AssertionError("docker-registry exited:\n" + util.tail(self.log_path))
            r = util.http("GET", self.url + "/v2/", timeout=2)
            return r.status in (200, 401)
        try:
            util.wait_until(ready, timeout=20, what="docker-registry on %s" % self.host)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None

    def wipe(self):
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- access log --------------------------------------------------------
    def access(self, since=0):
        """Parsed access-log lines (optionally only those after mark `since`)."""
        out = []
        try:
            with open(self.log_path, "r", errors="replace") as f:
                for raw in f:
                    m = _ACCESS_RE.match(raw)
                    if m:
                        out.append(AccessLine(m, raw.rstrip("\n")))
        except FileNotFoundError:
            pass
        return out[since:]

    def mark(self):
        """A position in the access log; pass it to access(since=...)."""
        time.sleep(0.05)  # let the registry flush a line for a just-finished request
        return len(self.access())

    def requests_for(self, path_fragment, since=0, method=None, settle=0.1):
        """Access lines whose path contains path_fragment (after mark `since`); waits `settle` s first so a
        just-served request's line is written (keeps "no such request" assertions honest)."""
        time.sleep(settle)
        return [a for a in self.access(since) if path_fragment in a.path and (method is None or a.method == method)]

    # -- direct client (bypasses regwarden) ---------------------------------
    def headers(self, extra=None):
        h = {}
        if self.auth:
            h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % self.auth).encode()).decode()
        if extra:
            h.update(extra)
        return h

    def get_manifest(self, repo, ref, accept=ACCEPT_ALL, method="GET"):
        return util.http(method, "%s/v2/%s/manifests/%s" % (self.url, repo, ref),
                         headers=self.headers({"Accept": accept, "User-Agent": "rw-e2e-direct"}))

    def manifest_digest(self, repo, ref):
        r = self.get_manifest(repo, ref)
        assert r.status == 200, "direct GET %s:%s -> %r" % (repo, ref, r)
        return util.sha256_bytes(r.body)

    def put_manifest(self, repo, ref, body, media_type):
        r = util.http("PUT", "%s/v2/%s/manifests/%s" % (self.url, repo, ref), body=body,
                      headers=self.headers({"Content-Type": media_type, "User-Agent": "rw-e2e-direct"}))
        assert r.status == 201, "direct PUT manifest %s:%s -> %r" % (repo, ref, r)
        return r.header("Docker-Content-Digest")

    def get_blob(self, repo, digest):
        return util.http("GET", "%s/v2/%s/blobs/%s" % (self.url, repo, digest),
                         headers=self.headers({"User-Agent": "rw-e2e-direct"}))

    def put_blob(self, repo, data):
        """Monolithic upload (POST then PUT ?digest=). Returns the digest."""
        digest = util.sha256_bytes(data)
        r = util.http("POST", "%s/v2/%s/blobs/uploads/" % (self.url, repo),
                      headers=self.headers({"Content-Length": "0", "User-Agent": "rw-e2e-direct"}))
        assert r.status == 202, "direct POST upload -> %r" % r
        loc = r.header("Location")
        if loc.startswith("/"):
            loc = self.url + loc
        sep = "&" if "?" in loc else "?"
        r = util.http("PUT", loc + sep + "digest=" + digest, body=data,
                      headers=self.headers({"Content-Type": "application/octet-stream",
                                            "User-Agent": "rw-e2e-direct"}))
        assert r.status == 201, "direct PUT blob -> %r" % r
        return digest

    def delete_manifest(self, repo, digest):
        return util.http("DELETE", "%s/v2/%s/manifests/%s" % (self.url, repo, digest), headers=self.headers())
