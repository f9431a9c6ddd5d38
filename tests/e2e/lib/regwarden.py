# SPDX-License-Identifier: MIT
"""Regwarden: writes a config per shared/DESIGN.md, runs `regwarden serve -c cfg`, reads its deny log.

Config is a plain dict shaped exactly like DESIGN.md's YAML; main_job_config() builds the one the
main scenarios use (registry.local -> upstream; sign team/**; require signed_by team for team/**;
allow library/*). to_yaml() renders block YAML with JSON-quoted scalars.
"""
import json
import os
import signal
import threading
import time

from . import util

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DEFAULT_BIN = os.path.join(REPO, "build", "regwarden")


def rw_bin():
    return os.environ.get("RW_BIN", DEFAULT_BIN)


# -- YAML ------------------------------------------------------------------
def _scalar(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))


def to_yaml(obj, indent=0):
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        if not obj:
            return pad + "{}\n"
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                out.append("%s%s:\n%s" % (pad, k, to_yaml(v, indent + 1)))
            elif isinstance(v, list) and v:
                out.append("%s%s:\n%s" % (pad, k, to_yaml(v, indent + 1)))
            elif isinstance(v, (dict, list)):
                out.append("%s%s: %s\n" % (pad, k, "{}" if isinstance(v, dict) else "[]"))
            else:
                out.append("%s%s: %s\n" % (pad, k, _scalar(v)))
        return "".join(out)
    if isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)) and item:
                body = to_yaml(item, indent + 1)
                # "- " takes the place of the first line's indentation
                first_pad = "  " * (indent + 1)
                out.append(pad + "- " + body[len(first_pad):])
            else:
                out.append("%s- %s\n" % (pad, _scalar(item) if not isinstance(item, (dict, list)) else
                                         ("{}" if isinstance(item, dict) else "[]")))
        return "".join(out)
    return pad + _scalar(obj) + "\n"


def main_job_config(upstream_url, team_pub, signer_key, registry_name="registry.local", extra_keys=None):
    """The main job's config (issue 2 / DESIGN.md), without listen/admin/cache/deny_log (filled in by Regwarden)."""
    keys = {"team": {"file": team_pub}}
    keys.update(extra_keys or {})
    return {
        "upstreams": {registry_name: upstream_url},
        "default_upstream": registry_name,
        "keys": keys,
        "signer": {"file": {"key": signer_key}},
        "push": [{"match": "%s/team/**" % registry_name, "sign": True}],
        "pull": {"mode": "enforce",
                 "rules": [{"match": "%s/team/**" % registry_name, "require": {"signed_by": ["team"]}},
                           {"match": "%s/library/*" % registry_name, "allow": True}]},
    }


def is_sanitized(binary=None):
    """True for an ASan/UBSan/TSan build (its RSS says nothing about regwarden's own memory bounds)."""
    try:
        with open(binary or rw_bin(), "rb") as f:
            data = f.read()
    except OSError:
        return False
    return any(m in data for m in (b"libasan.so", b"libtsan.so", b"__asan_init", b"__tsan_init"))


class Regwarden:
    def __init__(self, workdir, config, binary=None, env=None):
        """config: dict per DESIGN.md. listen/admin/cache/deny_log are filled in when absent."""
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.bin = binary or rw_bin()
        self.port = util.free_port()
        self.admin_port = util.free_port()
        cfg = dict(config)
        cfg.setdefault("listen", [{"address": "127.0.0.1:%d" % self.port}])
        cfg.setdefault("admin", "127.0.0.1:%d" % self.admin_port)
        cfg.setdefault("cache", {"path": os.path.join(self.workdir, "cache"), "allow_ttl": "24h", "deny_ttl": "30s"})
        cfg.setdefault("deny_log", os.path.join(self.workdir, "deny.jsonl"))
        # preserve DESIGN.md's key order for readability
        order = ["listen", "admin", "upstreams", "default_upstream", "cache", "deny_log", "keys", "signer",
                 "spire", "push", "pull"]
        self.config = {k: cfg[k] for k in order if k in cfg}
        self.config.update({k: v for k, v in cfg.items() if k not in self.config})
        self.config_path = os.path.join(self.workdir, "regwarden.yml")
        self.stderr_path = os.path.join(self.workdir, "regwarden.stderr")
        self.stdout_path = os.path.join(self.workdir, "regwarden.stdout")
        self.env = dict(os.environ, **(env or {}))
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=23")
        self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self.proc = None
        self.exits = []          # (returncode, exited_in_time, sanitizer report or None) per stop()
        self.write_config()

    # -- config / paths ------------------------------------------------------
    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://%s" % self.host

    @property
    def admin_url(self):
        return "http://%s" % self.config["admin"]

    @property
    def deny_log_path(self):
        return self.config["deny_log"]

    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write("# generated by tests/e2e/lib/regwarden.py\n")
            f.write(to_yaml(self.config))

    # -- lifecycle -----------------------------------------------------------
    def start(self, timeout=20):
        if not os.access(self.bin, os.X_OK):
            raise AssertionError("regwarden binary not found or not executable: %s (set RW_BIN)" % self.bin)
        self.proc = util.Proc([self.bin, "serve", "-c", self.config_path], self.stderr_path,
                              stdout_path=self.stdout_path, cwd=self.workdir, env=self.env).start()

        def ready():
            if not self.proc.alive():
                raise AssertionError("regwarden exited (rc=%s) during start:\n%s"
                                     % (self.proc.popen.returncode, util.tail(self.stderr_path)))
            r = util.http("GET", self.url + "/v2/", timeout=2)
            return r.status > 0
        try:
            util.wait_until(ready, timeout=timeout, interval=0.05, what="regwarden on %s" % self.host)
        except Exception as e:
            self.stop(check=False)
            raise AssertionError("regwarden did not come up: %s\n--- stderr\n%s" % (e, util.tail(self.stderr_path)))
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def sanitizer_report(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return None
        for marker in util.SANITIZER_MARKERS:
            i = text.find(marker)
            if i >= 0:
                return text[max(0, i - 200): i + 4000]
        return None

    def stop(self, check=True, timeout=15):
        """SIGTERM, wait. With check: it must exit 0 in time with no sanitizer report."""
        if self.proc is None:
            return None
        rc, in_time = self.proc.stop(signal.SIGTERM, timeout=timeout)
        self.proc = None
        rep = self.sanitizer_report()
        self.exits.append((rc, in_time, rep))
        if check:
            assert rep is None, "sanitizer report in regwarden stderr:\n" + rep
            assert in_time, "regwarden did not exit within %ss of SIGTERM" % timeout
            assert rc == 0, "regwarden exited %s after SIGTERM (want 0):\n%s" % (rc, util.tail(self.stderr_path))
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def reload(self):
        self.write_config()
        self.proc.popen.send_signal(signal.SIGHUP)
        time.sleep(0.5)

    # -- logs ----------------------------------------------------------------
    @staticmethod
    def _json_lines(path):
        out = []
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    line = line.strip()
                    if line.startswith("{"):
                        try:
                            out.append(json.loads(line))
                        except ValueError:
                            pass
        except FileNotFoundError:
            pass
        return out

    def deny_lines(self, since=0):
        """Parsed deny-log JSON objects (all events), optionally those after index `since`."""
        return self._json_lines(self.deny_log_path)[since:]

    def deny_count(self):
        return len(self.deny_lines())

    def events(self, event):
        """JSON lines with "event": event from the deny log, stdout and stderr (deduplicated)."""
        seen, out = set(), []
        for path in (self.deny_log_path, self.stdout_path, self.stderr_path):
            for obj in self._json_lines(path):
                if obj.get("event") == event:
                    k = json.dumps(obj, sort_keys=True)
                    if k not in seen:
                        seen.add(k)
                        out.append(obj)
        return out

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # -- subcommands -----------------------------------------------------------
    def cmd(self, *args, config=None, timeout=60):
        """Run `regwarden <args...>` with -c inserted after the subcommand. Returns CompletedProcess."""
        args = [str(a) for a in args]
        argv = [self.bin, args[0], "-c", config or self.config_path] + args[1:]
        return util.run(argv, check=False, timeout=timeout, env=self.env, cwd=self.workdir)

    # -- HTTP through regwarden -----------------------------------------------
    def http(self, method, path, headers=None, body=None, timeout=60):
        return util.http(method, self.url + path, headers=headers, body=body, timeout=timeout)


class RssSampler:
    """Samples VmRSS of a pid every `interval` seconds in a thread; .peak_kib / .hwm_kib."""

    def __init__(self, pid, interval=0.1):
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.hwm_kib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                st = util.proc_status(self.pid)
                self.peak_kib = max(self.peak_kib, int(st.get("VmRSS", "0 kB").split()[0]))
                self.hwm_kib = max(self.hwm_kib, int(st.get("VmHWM", "0 kB").split()[0]))
                self.samples += 1
            except (OSError, ValueError):
                pass
            self._stop.wait(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        try:
            st = util.proc_status(self.pid)
            self.hwm_kib = max(self.hwm_kib, int(st.get("VmHWM", "0 kB").split()[0]))
        except (OSError, ValueError):
            pass
        self._stop.set()
        self._t.join(5)
        return False
