# SPDX-License-Identifier: MIT
"""Assertions on the contract (shared/DESIGN.md): deny-log lines, the 403 DENIED body, curl probes."""
import datetime
import json
import re

from . import util

CONTAINERD_ACCEPT = ("application/vnd.docker.distribution.manifest.v2+json, "
                     "application/vnd.docker.distribution.manifest.list.v2+json, "
                     "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*")

DENY_KEYS = ("time", "event", "request_id", "client", "image", "rule", "mode", "reason", "detail")
REASONS = ("no-rule", "no-signature", "bad-signature", "untrusted-key", "missing-attestation", "digest-mismatch",
           "upstream-error", "invalid-manifest", "unknown-upstream", "push-not-allowed", "unreferenced-blob")
_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


class CurlResult:
    def __init__(self, status, headers, body, raw_head):
        self.status, self.headers, self.body, self.raw_head = status, headers, body, raw_head

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<curl %d %r body=%r>" % (self.status, self.headers, self.body[:400])


def curl(url, method="GET", headers=None, user=None, timeout=60):
    """Run the real curl; returns status, headers of the final response, body bytes."""
    argv = ["curl", "-sS", "--path-as-is", "-m", str(timeout), "-D", "/dev/stderr", "-o", "-"]
    if method == "HEAD":
        argv.append("-I")
        argv = [a for a in argv if a not in ("-D", "/dev/stderr")]
    elif method != "GET":
        argv += ["-X", method]
    for k, v in (headers or {}).items():
        argv += ["-H", "%s: %s" % (k, v)]
    if user:
        argv += ["-u", "%s:%s" % tuple(user)]
    argv.append(url)
    import subprocess
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout + 10)
    if p.returncode != 0:
        raise AssertionError("curl failed rc=%d: %s" % (p.returncode, p.stderr.decode(errors="replace")))
    head = (p.stdout if method == "HEAD" else p.stderr).decode("latin-1")
    body = b"" if method == "HEAD" else p.stdout
    blocks = [b for b in re.split(r"\r?\n\r?\n", head) if b.startswith("HTTP/")]
    last = blocks[-1].splitlines()
    status = int(last[0].split()[1])
    hdrs = []
    for line in last[1:]:
        k, _, v = line.partition(":")
        hdrs.append((k.strip(), v.strip()))
    return CurlResult(status, hdrs, body, blocks[-1])


def media_type(ct):
    return (ct or "").split(";")[0].strip().lower()


def assert_denied_body(resp, reason):
    """HTTP 403, application/json, {"errors":[{"code":"DENIED","message":..,"detail":{reason, request_id}}]}.
    Returns the request_id."""
    assert resp.status == 403, "want 403 DENIED, got %r" % (resp,)
    assert media_type(resp.header("Content-Type")) == "application/json", resp
    body = json.loads(resp.body)
    errs = body.get("errors")
    assert isinstance(errs, list) and len(errs) == 1, body
    e = errs[0]
    assert e.get("code") == "DENIED", body
    assert isinstance(e.get("message"), str) and e["message"].strip(), body
    detail = e.get("detail")
    assert isinstance(detail, dict), body
    assert detail.get("reason") == reason, "want reason %s: %s" % (reason, body)
    rid = detail.get("request_id")
    assert isinstance(rid, str) and rid, body
    return rid


def assert_deny_line(line, reason, repository, digest=None, reference=None, rule=None, registry="registry.local",
                     ua_prefix=None, mode="enforce", event="deny", addr="127.0.0.1"):
    """One deny-log object with the contract's fields and values."""
    missing = [k for k in DENY_KEYS if k not in line]
    assert not missing, "deny line lacks %s: %s" % (missing, line)
    assert line["event"] == event, line
    assert isinstance(line["time"], str) and _TIME_RE.match(line["time"]), "time not RFC 3339 UTC 'Z': %s" % line
    t = datetime.datetime.strptime(line["time"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - t).total_seconds()) < 300, "deny time %s far from now %s" % (line["time"], now)
    assert isinstance(line["request_id"], str) and line["request_id"], line
    c = line["client"]
    assert isinstance(c, dict) and {"addr", "identity", "user_agent"} <= set(c), line
    assert c["addr"] == addr, line
    assert c["identity"] is None, line
    if ua_prefix is not None:
        assert isinstance(c["user_agent"], str) and c["user_agent"].startswith(ua_prefix), line
    img = line["image"]
    assert isinstance(img, dict) and {"registry", "repository", "reference", "digest"} <= set(img), line
    assert img["registry"] == registry, line
    assert img["repository"] == repository, line
    if reference is not None:
        assert img["reference"] == reference, line
    if digest is not None:
        assert img["digest"] == digest, line
    if rule is not None or reason == "no-rule":
        assert line["rule"] == rule, line
    assert line["mode"] == mode, line
    assert line["reason"] == reason, line
    assert line["reason"] in REASONS, line
    assert isinstance(line["detail"], str) and line["detail"].strip(), line


def assert_manifest_headers_consistent(responses, body, upstream_digest):
    """Every response (HEAD/GET, Response or CurlResult) carries the same Content-Type, Content-Length and
    Docker-Content-Digest; they describe `body`; Content-Type equals the body's mediaType."""
    want_ct = json.loads(body).get("mediaType")
    for r in responses:
        assert r.status == 200, r
        ct = r.header("Content-Type")
        assert ct, "no Content-Type: %r" % (r,)
        if want_ct:
            assert media_type(ct) == want_ct, "Content-Type %s != body mediaType %s" % (ct, want_ct)
        assert r.header("Content-Length") == str(len(body)), r
        assert r.header("Docker-Content-Digest") == util.sha256_bytes(body) == upstream_digest, r
    cts = {r.header("Content-Type") for r in responses}
    assert len(cts) == 1, "Content-Type differs between requests: %s" % cts
