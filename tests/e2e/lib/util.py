# SPDX-License-Identifier: MIT
"""Small process/HTTP helpers shared by the e2e harness."""
import hashlib
import http.client as httplib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "LeakSanitizer",
                     "runtime error:", "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")


def free_port(host="127.0.0.1"):
    """A port the kernel just handed out (bind port 0). Never a fixed 5000/5001."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def sha256_bytes(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def sha256_file(path, bufsize=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(bufsize)
            if not chunk:
                break
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def tail(path, n=60):
    try:
        with open(path, "r", errors="replace") as f:
            lines = f.readlines()
        return "".join(lines[-n:])
    except OSError as e:
        return "<%s unreadable: %s>" % (path, e)


def run(cmd, check=True, timeout=300, env=None, cwd=None, input=None):
    """Run a command, capture text output; raise with both streams on failure when check."""
    try:
        p = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=env, cwd=cwd, input=input, text=True)
    except subprocess.TimeoutExpired as e:
        def s(x):
            return (x.decode(errors="replace") if isinstance(x, bytes) else (x or ""))[-4000:]
        raise AssertionError("command timed out after %ss (killed): %s\n--- stdout\n%s\n--- stderr\n%s"
                             % (timeout, " ".join(map(str, cmd)), s(e.stdout), s(e.stderr)))
    if check and p.returncode != 0:
        raise AssertionError("command failed (rc=%d): %s\n--- stdout\n%s\n--- stderr\n%s"
                             % (p.returncode, " ".join(map(str, cmd)), p.stdout[-4000:], p.stderr[-4000:]))
    return p


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value) as received
        self.body = body

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %d %s %r body=%r>" % (self.status, self.reason, self.headers, self.body[:300])


def http(method, url, headers=None, body=None, timeout=60):
    """One HTTP/1.1 request without redirects or retries; returns Response (body fully read)."""
    u = urllib.parse.urlsplit(url)
    conn_cls = httplib.HTTPSConnection if u.scheme == "https" else httplib.HTTPConnection
    conn = conn_cls(u.hostname, u.port, timeout=timeout)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read() if method != "HEAD" else b""
        return Response(r.status, r.reason, r.getheaders(), data)
    finally:
        conn.close()


def wait_until(pred, timeout=20.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - retried until timeout
            last = e
        time.sleep(interval)
    raise TimeoutError("timed out waiting for %s (last error: %r)" % (what, last))


class Proc:
    """A child process whose stdout/stderr go to files; stop() is idempotent."""

    def __init__(self, argv, log_path, cwd=None, env=None, stdout_path=None):
        self.argv = [str(a) for a in argv]
        self.log_path = str(log_path)
        self.stdout_path = str(stdout_path) if stdout_path else self.log_path
        self.cwd = cwd
        self.env = env
        self.popen = None
        self.returncode = None

    def start(self):
        errf = open(self.log_path, "ab")
        outf = errf if self.stdout_path == self.log_path else open(self.stdout_path, "ab")
        try:
            self.popen = subprocess.Popen(self.argv, stdout=outf, stderr=errf, stdin=subprocess.DEVNULL,
                                          cwd=self.cwd, env=self.env, start_new_session=True)
        finally:
            errf.close()
            if outf is not errf:
                outf.close()
        self.returncode = None
        return self

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Signal and wait. Returns (returncode, exited_in_time). Kills after timeout."""
        if self.popen is None:
            return self.returncode, True
        in_time = True
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                in_time = False
                self.popen.kill()
                self.popen.wait(10)
        self.returncode = self.popen.returncode
        self.popen = None
        return self.returncode, in_time


def proc_status(pid):
    """Parse /proc/<pid>/status into {key: value-string}."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def proc_kib(pid, key):
    v = proc_status(pid).get(key, "0 kB")
    return int(v.split()[0])


def is_root():
    return os.geteuid() == 0
