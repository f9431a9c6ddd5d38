#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""fakeup: a tiny OCI registry with fault switches (FAKE in shared/CASES.md).

A test tool, never linked into regwarden. It speaks enough of the OCI distribution API for
regwarden to sit in front of it: /v2/ ping, manifests GET/HEAD/PUT/DELETE, blobs GET/HEAD/
DELETE (with Range), uploads POST/PATCH/PUT/GET/DELETE (monolithic, chunked with
Content-Range, Transfer-Encoding: chunked, cross-repo mount), tags list, catalog, referrers.
Blobs are content-addressed files under --root (an OCI-layout-style blobs/sha256/<hex>), so
the STORE stand-in (store.py --root <same dir>) can serve redirected blobs.

Faults (command line, and at runtime through POST /_fault with a JSON object):
  redirect_blobs   URL    blob GET/HEAD -> 307 to a presigned-style URL on STORE
  require_bearer   bool   401 + WWW-Authenticate: Bearer realm=<this>/token unless
                          "Authorization: Bearer fake-token" (GET /token hands it out)
  require_basic    U:P    401 + WWW-Authenticate: Basic unless those credentials
  corrupt_manifest [dig]  serve other valid-JSON bytes for these manifest digests
                          (Docker-Content-Digest still claims the digest asked for)
  flip_byte_blob   [dig]  flip one bit at offset 1 MiB (or the last byte if smaller)
  sig_404_code     str    an absent sha256-<hex>.sig tag answers 404 with this error code
                          ("" = a bare 404 with no body) instead of MANIFEST_UNKNOWN
  sig_500          bool   every request for a sha256-<hex>.sig tag answers 500
  slow_sig         float  seconds to wait before answering a sha256-<hex>.sig tag request
  att_500          bool   every request for a sha256-<hex>.att tag answers 500
  referrers        bool   serve the referrers API (off: 404 like distribution 2.8)
  page_size        int    referrers / tags / catalog page size (Link: rel="next")
  slow_commit      float  seconds to wait before answering an upload's final PUT
  location_base    URL    absolute Locations with this origin (like distribution http.host)

Test endpoints (never logged as registry traffic):
  GET  /_fault            current faults            POST /_fault  {"...": ...} merge;
  GET  /_requests?since=N requests seen so far      {"reset": true} clears every fault
  POST /_requests/clear   forget them               GET /token    {"token": "fake-token"}

CLI: fakeup.py --listen 127.0.0.1:0 --root DIR [--seed LAYOUT=REPO ...] [faults]; prints
"READY <port>" on stdout when listening. In-process: FakeUp(...).start() / .stop().
"""
import argparse
import base64
import copy
import hashlib
import hmac
import http.server
import json
import os
import re
import shutil
import socketserver
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
MAX_MANIFEST = 4 << 20
BEARER_TOKEN = "fake-token"
STORE_SECRET = b"fakeup-store-secret"

NAME_RE = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
SIG_TAG_RE = re.compile(r"^sha256-[a-f0-9]{64}\.(sig|att|sbom)$")

DEFAULT_FAULTS = {
    "redirect_blobs": None,
    "require_bearer": False,
    "require_basic": None,
    "corrupt_manifest": [],
    "flip_byte_blob": [],
    "sig_404_code": None,
    "sig_500": False,
    "slow_sig": 0.0,
    "att_500": False,
    "referrers": False,
    "page_size": 0,
    "slow_commit": 0.0,
    "location_base": None,
}


def presign(method, path, expires, secret=STORE_SECRET):
    """The fake X-Amz-Signature: HMAC-SHA256(secret, METHOD \\n path \\n expires)."""
    msg = ("%s\n%s\n%d" % (method, path, expires)).encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def sha256_hex(b):
    return hashlib.sha256(b).hexdigest()


class Store:
    """Content-addressed blobs on disk; repositories, tags and manifest types in memory."""

    def __init__(self, root):
        self.root = root
        self.lock = threading.RLock()
        self.repos = {}          # repo -> {"tags": {tag: digest}, "manifests": set, "blobs": set}
        self.media = {}          # manifest digest -> media type it was pushed with
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        os.makedirs(os.path.join(root, "uploads"), exist_ok=True)

    def repo(self, name, create=False):
        with self.lock:
            r = self.repos.get(name)
            if r is None and create:
                r = self.repos[name] = {"tags": {}, "manifests": set(), "blobs": set()}
            return r

    def blob_path(self, digest):
        return os.path.join(self.root, "blobs", "sha256", digest.split(":", 1)[1])

    def has_blob(self, digest):
        return os.path.exists(self.blob_path(digest))

    def put_bytes(self, data):
        d = "sha256:" + sha256_hex(data)
        p = self.blob_path(d)
        if not os.path.exists(p):
            tmp = p + ".tmp%d" % threading.get_ident()
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, p)
        return d

    def read(self, digest):
        with open(self.blob_path(digest), "rb") as f:
            return f.read()

    def seed_layout(self, layout, repo):
        """Import every tagged manifest of an OCI image layout into repo (blobs copied)."""
        src = os.path.join(layout, "blobs", "sha256")
        for h in os.listdir(src):
            dst = os.path.join(self.root, "blobs", "sha256", h)
            if not os.path.exists(dst):
                shutil.copyfile(os.path.join(src, h), dst)
        with open(os.path.join(layout, "index.json")) as f:
            idx = json.load(f)
        r = self.repo(repo, create=True)
        for d in idx.get("manifests", []):
            self._seed_manifest(r, d["digest"], d.get("mediaType"))
            tag = (d.get("annotations") or {}).get("org.opencontainers.image.ref.name")
            if tag:
                r["tags"][tag] = d["digest"]

    def _seed_manifest(self, r, digest, media_type):
        body = self.read(digest)
        man = json.loads(body)
        self.media[digest] = man.get("mediaType") or media_type or OCI_MANIFEST
        r["manifests"].add(digest)
        for child in man.get("manifests", []):
            self._seed_manifest(r, child["digest"], child.get("mediaType"))
        for b in ([man["config"]] if "config" in man else []) + man.get("layers", []):
            r["blobs"].add(b["digest"])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeup/1"
    fake = None              # set per server class

    # -- plumbing ------------------------------------------------------------------------
    def log_message(self, fmt, *args):  # noqa: D401 - quiet; requests go to fake.requests
        if self.fake.verbose:
            sys.stderr.write("fakeup: " + fmt % args + "\n")

    def _send(self, code, body=b"", headers=None, ctype=None, head_only=False):
        self.send_response(code)
        hdrs = list(headers or [])
        if ctype:
            hdrs.append(("Content-Type", ctype))
        if not any(k.lower() == "content-length" for k, _ in hdrs):
            hdrs.append(("Content-Length", str(len(body))))
        hdrs.append(("Docker-Distribution-API-Version", "registry/2.0"))
        for k, v in hdrs:
            self.send_header(k, v)
        self.end_headers()
        if body and not head_only and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, code, err, msg, headers=None, detail=None):
        e = {"code": err, "message": msg}
        if detail is not None:
            e["detail"] = detail
        body = json.dumps({"errors": [e]}).encode()
        self._send(code, body, headers, "application/json")

    def _body_chunks(self):
        """The request body, as a generator of byte chunks (Content-Length or chunked)."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("EOF in chunked body")
                n = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if n == 0:
                    while True:     # trailers
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    return
                left = n
                while left > 0:
                    b = self.rfile.read(min(left, 1 << 16))
                    if not b:
                        raise ConnectionError("EOF in chunk")
                    left -= len(b)
                    yield b
                self.rfile.readline(3)
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                b = self.rfile.read(min(left, 1 << 16))
                if not b:
                    raise ConnectionError("EOF in body")
                left -= len(b)
                yield b

    def _body(self, limit=None):
        out = bytearray()
        for c in self._body_chunks():
            out += c
            if limit is not None and len(out) > limit:
                # drain the rest so the connection stays usable
                for _ in self._body_chunks():
                    pass
                return None
        return bytes(out)

    def _origin(self):
        f = self.fake.faults
        if f.get("location_base"):
            return f["location_base"].rstrip("/")
        return ""

    # -- dispatch ------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PATCH(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        u = urllib.parse.urlsplit(self.path)
        self.q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        path = u.path
        if path.startswith("/_") or path == "/token":
            return self._control(path)
        self.fake.record(self)
        try:
            self._route(path)
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - a fake answers 500 and keeps serving
            self.fake.errors.append(repr(e))
            try:
                self._error(500, "UNKNOWN", "fakeup internal error: %r" % e)
            except OSError:
                pass
            self.close_connection = True

    def _control(self, path):
        f = self.fake
        if path == "/_fault" and self.command == "GET":
            return self._send(200, json.dumps(f.faults).encode(), ctype="application/json")
        if path == "/_fault" and self.command == "POST":
            upd = json.loads(self._body() or b"{}")
            f.set_faults(**upd)
            return self._send(200, json.dumps(f.faults).encode(), ctype="application/json")
        if path == "/_requests" and self.command == "GET":
            since = int((self.q.get("since") or ["0"])[0])
            return self._send(200, json.dumps(f.requests[since:]).encode(), ctype="application/json")
        if path == "/_requests/clear" and self.command == "POST":
            self._body()
            f.requests.clear()
            return self._send(204)
        if path == "/token":
            body = json.dumps({"token": BEARER_TOKEN, "access_token": BEARER_TOKEN,
                               "expires_in": 300}).encode()
            return self._send(200, body, ctype="application/json")
        return self._send(404, b"no such control endpoint\n", ctype="text/plain")

    def _authorized(self, name):
        f = self.fake.faults
        auth = self.headers.get("Authorization") or ""
        if f.get("require_bearer"):
            if auth != "Bearer " + BEARER_TOKEN:
                host = self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1]
                scope = ',scope="repository:%s:pull,push"' % name if name else ""
                self._error(401, "UNAUTHORIZED", "authentication required", headers=[
                    ("WWW-Authenticate", 'Bearer realm="http://%s/token",service="fake.local"%s' % (host, scope))])
                return False
        if f.get("require_basic"):
            want = "Basic " + base64.b64encode(f["require_basic"].encode()).decode()
            if auth != want:
                self._error(401, "UNAUTHORIZED", "authentication required",
                            headers=[("WWW-Authenticate", 'Basic realm="fakeup"')])
                return False
        return True

    def _route(self, path):
        m = self.command
        if path == "/v2/" or path == "/v2":
            if not self._authorized(None):
                return None
            return self._send(200, b"{}", ctype="application/json")
        if path == "/v2/_catalog":
            if not self._authorized(None):
                return None
            return self._list(sorted(self.fake.store.repos), "repositories", "/v2/_catalog", {})
        for pat, fn in ((r"^/v2/(?P<name>.+)/tags/list$", self._tags),
                        (r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$", self._manifest),
                        (r"^/v2/(?P<name>.+)/blobs/uploads/(?P<uid>[^/]*)$", self._upload),
                        (r"^/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)$", self._blob),
                        (r"^/v2/(?P<name>.+)/referrers/(?P<digest>[^/]+)$", self._referrers)):
            mm = re.match(pat, path)
            if mm:
                name = mm.group("name")
                if not NAME_RE.match(name):
                    self._body()
                    return self._error(400, "NAME_INVALID", "invalid repository name")
                if not self._authorized(name):
                    self._body()
                    return None
                return fn(**mm.groupdict())
        self._body()
        return self._error(404, "NOT_FOUND" if m != "HEAD" else "NOT_FOUND", "no route for %s" % path)

    # -- lists ---------------------------------------------------------------------------
    def _list(self, items, key, path, extra):
        n = int((self.q.get("n") or ["0"])[0] or 0) or int(self.fake.faults.get("page_size") or 0)
        last = (self.q.get("last") or [None])[0]
        if last is not None:
            items = [i for i in items if i > last]
        headers = []
        if n and len(items) > n:
            items = items[:n]
            qs = urllib.parse.urlencode({"n": n, "last": items[-1]})
            headers.append(("Link", '<%s%s?%s>; rel="next"' % (self._origin(), path, qs)))
        body = json.dumps(dict(extra, **{key: items})).encode()
        return self._send(200, body, headers, "application/json")

    def _tags(self, name):
        if self.command not in ("GET", "HEAD"):
            return self._error(405, "UNSUPPORTED", "method not allowed")
        r = self.fake.store.repo(name)
        if r is None:
            return self._error(404, "NAME_UNKNOWN", "repository name not known to registry")
        return self._list(sorted(r["tags"]), "tags", "/v2/%s/tags/list" % name, {"name": name})

    # -- manifests -----------------------------------------------------------------------
    def _manifest(self, name, ref):
        st = self.fake.store
        f = self.fake.faults
        is_sig = bool(SIG_TAG_RE.match(ref)) and ref.endswith(".sig")
        if is_sig and f.get("slow_sig"):
            time.sleep(float(f["slow_sig"]))
        if is_sig and f.get("sig_500"):
            self._body()
            return self._error(500, "UNKNOWN", "fakeup: injected failure on signature tag")
        if bool(SIG_TAG_RE.match(ref)) and ref.endswith(".att") and f.get("att_500"):
            self._body()
            return self._error(500, "UNKNOWN", "fakeup: injected failure on attestation tag")
        if not (DIGEST_RE.match(ref) or TAG_RE.match(ref)):
            self._body()
            return self._error(400, "TAG_INVALID" if ":" not in ref else "DIGEST_INVALID", "invalid reference")
        if self.command == "PUT":
            return self._manifest_put(name, ref)
        if self.command == "DELETE":
            r = st.repo(name)
            if r is None or not DIGEST_RE.match(ref) or ref not in r["manifests"]:
                return self._error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            with st.lock:
                r["manifests"].discard(ref)
                for t in [t for t, d in r["tags"].items() if d == ref]:
                    del r["tags"][t]
            return self._send(202)
        if self.command not in ("GET", "HEAD"):
            return self._error(405, "UNSUPPORTED", "method not allowed")
        r = st.repo(name)
        digest = None
        if r is not None:
            digest = ref if DIGEST_RE.match(ref) and ref in r["manifests"] else r["tags"].get(ref)
        if digest is None:
            if is_sig and f.get("sig_404_code") is not None:
                code = f["sig_404_code"]
                if code == "":
                    return self._send(404)
                return self._error(404, code, "not found")
            if r is None:
                return self._error(404, "NAME_UNKNOWN", "repository name not known to registry")
            return self._error(404, "MANIFEST_UNKNOWN", "manifest unknown", detail={"Tag": ref})
        body = st.read(digest)
        mt = st.media.get(digest, OCI_MANIFEST)
        if digest in (f.get("corrupt_manifest") or []):
            obj = json.loads(body)
            ann = dict(obj.get("annotations") or {})
            ann["org.regwarden.fakeup.corrupted"] = "these are not the bytes you asked for"
            obj["annotations"] = ann
            body = json.dumps(obj, separators=(",", ":")).encode()
        return self._send(200, body, [("Docker-Content-Digest", digest), ("ETag", '"%s"' % digest)], mt)

    def _manifest_put(self, name, ref):
        st = self.fake.store
        body = self._body(limit=MAX_MANIFEST)
        if body is None:
            return self._error(413, "SIZE_INVALID", "manifest too large")
        try:
            man = json.loads(body)
            assert isinstance(man, dict)
        except (ValueError, AssertionError):
            return self._error(400, "MANIFEST_INVALID", "manifest invalid")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        mt = man.get("mediaType") or ctype or OCI_MANIFEST
        digest = "sha256:" + sha256_hex(body)
        if DIGEST_RE.match(ref) and ref != digest:
            return self._error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
        refs = ([man["config"]] if isinstance(man.get("config"), dict) else []) + \
            [x for x in man.get("layers", []) if isinstance(x, dict)]
        children = [x for x in man.get("manifests", []) if isinstance(x, dict)]
        for d in refs + children:
            dg = d.get("digest", "")
            if not isinstance(dg, str) or not DIGEST_RE.match(dg):
                return self._error(400, "DIGEST_INVALID", "invalid digest in manifest", detail=dg)
            if not st.has_blob(dg):
                return self._error(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", detail=dg)
        st.put_bytes(body)
        with st.lock:
            r = st.repo(name, create=True)
            r["manifests"].add(digest)
            st.media[digest] = mt
            if not DIGEST_RE.match(ref):
                r["tags"][ref] = digest
        hdrs = [("Location", "%s/v2/%s/manifests/%s" % (self._origin(), name, digest)),
                ("Docker-Content-Digest", digest)]
        if isinstance(man.get("subject"), dict) and self.fake.faults.get("referrers"):
            hdrs.append(("OCI-Subject", man["subject"].get("digest", "")))
        return self._send(201, b"", hdrs)

    # -- referrers -----------------------------------------------------------------------
    def _referrers(self, name, digest):
        if not self.fake.faults.get("referrers"):
            return self._error(404, "NOT_FOUND", "referrers API not supported")
        if not DIGEST_RE.match(digest):
            return self._error(400, "DIGEST_INVALID", "invalid digest")
        st = self.fake.store
        r = st.repo(name) or {"manifests": set()}
        want = (self.q.get("artifactType") or [None])[0]
        out = []
        for d in sorted(r["manifests"]):
            man = json.loads(st.read(d))
            if (man.get("subject") or {}).get("digest") != digest:
                continue
            at = man.get("artifactType") or (man.get("config") or {}).get("mediaType")
            if want and at != want:
                continue
            desc = {"mediaType": st.media.get(d, OCI_MANIFEST), "digest": d,
                    "size": os.path.getsize(st.blob_path(d))}
            if at:
                desc["artifactType"] = at
            if man.get("annotations"):
                desc["annotations"] = man["annotations"]
            out.append(desc)
        headers = []
        if want:
            headers.append(("OCI-Filters-Applied", "artifactType"))
        n = int(self.fake.faults.get("page_size") or 0)
        last = (self.q.get("last") or [None])[0]
        if last:
            out = [x for x in out if x["digest"] > last]
        if n and len(out) > n:
            out = out[:n]
            qs = {"last": out[-1]["digest"]}
            if want:
                qs["artifactType"] = want
            headers.append(("Link", '<%s/v2/%s/referrers/%s?%s>; rel="next"'
                            % (self._origin(), name, digest, urllib.parse.urlencode(qs))))
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": out}).encode()
        return self._send(200, body, headers, OCI_INDEX)

    # -- blobs ---------------------------------------------------------------------------
    def _blob(self, name, digest):
        st = self.fake.store
        f = self.fake.faults
        if not DIGEST_RE.match(digest):
            self._body()
            return self._error(400, "DIGEST_INVALID", "invalid digest")
        r = st.repo(name)
        known = r is not None and (digest in r["blobs"] or digest in r["manifests"]) and st.has_blob(digest)
        if self.command == "DELETE":
            if not known:
                return self._error(404, "BLOB_UNKNOWN", "blob unknown to registry")
            with st.lock:
                r["blobs"].discard(digest)
            return self._send(202, headers=[("Docker-Content-Digest", digest)])
        if self.command not in ("GET", "HEAD"):
            return self._error(405, "UNSUPPORTED", "method not allowed")
        if not known:
            return self._error(404, "BLOB_UNKNOWN", "blob unknown to registry", detail=digest)
        if f.get("redirect_blobs"):
            expires = int(time.time()) + 600
            p = "/fake-bucket/sha256/%s" % digest.split(":", 1)[1]
            q = urllib.parse.urlencode([
                ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                ("X-Amz-Credential", "FAKEKEY/20261203/us-east-1/s3/aws4_request"),
                ("X-Amz-Date", "20261203T120000Z"), ("X-Amz-Expires", str(expires)),
                ("X-Amz-SignedHeaders", "host"),
                ("X-Amz-Signature", presign(self.command, p, expires))])
            loc = "%s%s?%s" % (f["redirect_blobs"].rstrip("/"), p, q)
            return self._send(307, b"", [("Location", loc), ("Docker-Content-Digest", digest)])
        path = st.blob_path(digest)
        size = os.path.getsize(path)
        flip = None
        if digest in (f.get("flip_byte_blob") or []) and size > 0:
            flip = min(1 << 20, size - 1)
        start, end, status = 0, size - 1, 200
        hdrs = [("Docker-Content-Digest", digest), ("Accept-Ranges", "bytes"), ("ETag", '"%s"' % digest)]
        rng = self.headers.get("Range")
        if rng:
            sr = parse_range(rng, size)
            if sr is None:
                return self._send(416, b"", hdrs + [("Content-Range", "bytes */%d" % size)])
            if sr != "ignore":
                start, end = sr
                status = 206
                hdrs.append(("Content-Range", "bytes %d-%d/%d" % (start, end, size)))
        length = end - start + 1 if size else 0
        hdrs.append(("Content-Length", str(length)))
        self._send(status, b"", hdrs, "application/octet-stream")
        if self.command == "HEAD":
            return None
        with open(path, "rb") as fh:
            fh.seek(start)
            pos = start
            left = length
            while left > 0:
                b = fh.read(min(left, 1 << 16))
                if not b:
                    break
                if flip is not None and pos <= flip < pos + len(b):
                    bb = bytearray(b)
                    bb[flip - pos] ^= 0x01
                    b = bytes(bb)
                self.wfile.write(b)
                pos += len(b)
                left -= len(b)
        return None

    # -- uploads -------------------------------------------------------------------------
    def _upload_location(self, name, uid, offset):
        state = base64.urlsafe_b64encode(json.dumps({"o": offset, "u": uid}).encode()).decode()
        return "%s/v2/%s/blobs/uploads/%s?_state=%s" % (self._origin(), name, uid, urllib.parse.quote(state))

    def _upload_hdrs(self, name, uid, offset):
        return [("Location", self._upload_location(name, uid, offset)),
                ("Range", "0-%d" % (offset - 1 if offset > 0 else 0)),
                ("Docker-Upload-UUID", uid)]

    def _commit(self, name, tmp, digest):
        st = self.fake.store
        h = hashlib.sha256()
        with open(tmp, "rb") as fh:
            for b in iter(lambda: fh.read(1 << 20), b""):
                h.update(b)
        got = "sha256:" + h.hexdigest()
        if got != digest:
            os.unlink(tmp)
            return False
        dst = st.blob_path(digest)
        if os.path.exists(dst):
            os.unlink(tmp)
        else:
            os.replace(tmp, dst)
        with st.lock:
            st.repo(name, create=True)["blobs"].add(digest)
        return True

    def _upload(self, name, uid):
        st = self.fake.store
        fk = self.fake
        f = fk.faults
        if uid == "":
            if self.command != "POST":
                self._body()
                return self._error(405, "UNSUPPORTED", "method not allowed")
            mount = (self.q.get("mount") or [None])[0]
            frm = (self.q.get("from") or [None])[0]
            if mount:
                self._body()
                src = st.repo(frm) if frm else None
                if DIGEST_RE.match(mount) and src is not None and mount in src["blobs"] and st.has_blob(mount):
                    with st.lock:
                        st.repo(name, create=True)["blobs"].add(mount)
                    return self._send(201, b"", [
                        ("Location", "%s/v2/%s/blobs/%s" % (self._origin(), name, mount)),
                        ("Docker-Content-Digest", mount)])
            digest = (self.q.get("digest") or [None])[0]
            new = uuid.uuid4().hex
            tmp = os.path.join(st.root, "uploads", new)
            if digest:    # monolithic POST
                if not DIGEST_RE.match(digest):
                    self._body()
                    return self._error(400, "DIGEST_INVALID", "invalid digest")
                with open(tmp, "wb") as fh:
                    for c in self._body_chunks():
                        fh.write(c)
                if not self._commit(name, tmp, digest):
                    return self._error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
                return self._send(201, b"", [("Location", "%s/v2/%s/blobs/%s" % (self._origin(), name, digest)),
                                             ("Docker-Content-Digest", digest)])
            self._body()
            open(tmp, "wb").close()
            with st.lock:
                fk.uploads[new] = {"repo": name, "tmp": tmp, "size": 0}
            return self._send(202, b"", self._upload_hdrs(name, new, 0))

        up = fk.uploads.get(uid)
        if up is None or up["repo"] != name:
            self._body()
            return self._error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
        state = (self.q.get("_state") or [None])[0]
        if state is not None:
            try:
                so = json.loads(base64.urlsafe_b64decode(state.encode()))["o"]
            except (ValueError, KeyError):
                so = -1
            if so != up["size"]:
                # distribution's behaviour on an out-of-date _state: invalid, session cancelled
                self._body()
                with st.lock:
                    fk.uploads.pop(uid, None)
                try:
                    os.unlink(up["tmp"])
                except OSError:
                    pass
                return self._error(400, "BLOB_UPLOAD_INVALID", "blob upload invalid")
        if self.command == "GET":
            return self._send(204, b"", self._upload_hdrs(name, uid, up["size"]))
        if self.command == "DELETE":
            with st.lock:
                fk.uploads.pop(uid, None)
            return self._send(204)
        if self.command in ("PATCH", "PUT"):
            cr = self.headers.get("Content-Range")
            if cr and self.command == "PATCH":
                m = re.match(r"^(?:bytes )?(\d+)-(\d+)$", cr.strip())
                if not m or int(m.group(1)) != up["size"]:
                    self._body()
                    return self._send(416, b"", self._upload_hdrs(name, uid, up["size"]))
            with open(up["tmp"], "ab") as fh:
                for c in self._body_chunks():
                    fh.write(c)
                    up["size"] += len(c)
            if self.command == "PATCH":
                return self._send(202, b"", self._upload_hdrs(name, uid, up["size"]))
            digest = (self.q.get("digest") or [None])[0]
            if not digest or not DIGEST_RE.match(digest):
                return self._error(400, "DIGEST_INVALID", "invalid digest")
            if f.get("slow_commit"):
                time.sleep(float(f["slow_commit"]))
            with st.lock:
                fk.uploads.pop(uid, None)
            if not self._commit(name, up["tmp"], digest):
                return self._error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
            return self._send(201, b"", [("Location", "%s/v2/%s/blobs/%s" % (self._origin(), name, digest)),
                                         ("Docker-Content-Digest", digest)])
        self._body()
        return self._error(405, "UNSUPPORTED", "method not allowed")


def parse_range(value, size):
    """RFC 9110 single byte range -> (start, end), None if unsatisfiable, 'ignore' if unparsable."""
    m = re.match(r"^bytes=(\d*)-(\d*)$", value.strip())
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return "ignore"
    a, b = m.group(1), m.group(2)
    if a == "":
        n = int(b)
        if n == 0 or size == 0:
            return None
        return max(0, size - n), size - 1
    start = int(a)
    if start >= size:
        return None
    end = size - 1 if b == "" else min(int(b), size - 1)
    if end < start:
        return "ignore"
    return start, end


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class FakeUp:
    """The fake registry; usable in-process (start/stop) or from the CLI below."""

    def __init__(self, root=None, host="127.0.0.1", port=0, verbose=False, **faults):
        self._tmp = None
        if root is None:
            self._tmp = tempfile.mkdtemp(prefix="fakeup-")
            root = self._tmp
        self.store = Store(root)
        self.root = root
        self.uploads = {}
        self.requests = []
        self.errors = []
        self.verbose = verbose
        self.faults = copy.deepcopy(DEFAULT_FAULTS)
        self.set_faults(**faults)
        handler = type("FakeHandler", (Handler,), {"fake": self})
        self.httpd = _Server((host, port), handler)
        self.host, self.port = self.httpd.server_address[:2]
        self.thread = None

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def set_faults(self, reset=False, **kw):
        if reset:
            self.faults = copy.deepcopy(DEFAULT_FAULTS)
        for k, v in kw.items():
            k = k.replace("-", "_")
            if k not in DEFAULT_FAULTS:
                raise KeyError("unknown fault %r" % k)
            if k in ("corrupt_manifest", "flip_byte_blob") and isinstance(v, str):
                v = [v]
            self.faults[k] = v
        return self.faults

    def record(self, h):
        self.requests.append({"i": len(self.requests), "method": h.command, "path": h.path,
                              "headers": [[k, v] for k, v in h.headers.items()],
                              "client": h.client_address[0]})

    def seed(self, layout, repo):
        self.store.seed_layout(layout, repo)

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:5003")
    ap.add_argument("--root", help="storage dir (default: a temp dir)")
    ap.add_argument("--seed", action="append", default=[], metavar="LAYOUT=REPO",
                    help="import an OCI layout's tags into REPO")
    ap.add_argument("--redirect-blobs", metavar="STORE_URL")
    ap.add_argument("--require-bearer", action="store_true")
    ap.add_argument("--require-basic", metavar="USER:PASS")
    ap.add_argument("--corrupt-manifest", action="append", default=[], metavar="DIGEST")
    ap.add_argument("--flip-byte-blob", action="append", default=[], metavar="DIGEST")
    ap.add_argument("--sig-404-code", metavar="CODE")
    ap.add_argument("--sig-500", action="store_true")
    ap.add_argument("--referrers", action="store_true")
    ap.add_argument("--page-size", type=int, default=0)
    ap.add_argument("--slow-commit", type=float, default=0.0)
    ap.add_argument("--location-base", metavar="URL")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    host, _, port = a.listen.rpartition(":")
    fake = FakeUp(root=a.root, host=host, port=int(port), verbose=a.verbose,
                  redirect_blobs=a.redirect_blobs, require_bearer=a.require_bearer,
                  require_basic=a.require_basic, corrupt_manifest=a.corrupt_manifest,
                  flip_byte_blob=a.flip_byte_blob, sig_404_code=a.sig_404_code, sig_500=a.sig_500,
                  referrers=a.referrers, page_size=a.page_size, slow_commit=a.slow_commit,
                  location_base=a.location_base)
    for s in a.seed:
        layout, _, repo = s.partition("=")
        fake.seed(layout, repo)
    print("READY %d" % fake.port, flush=True)
    try:
        fake.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
