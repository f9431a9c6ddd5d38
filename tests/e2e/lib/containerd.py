# SPDX-License-Identifier: MIT
"""Containerd: a private containerd 1.6 (root) with its own root/state/socket under a temp dir.

hosts_dir(registry, server_url) writes certs.d/<registry>/hosts.toml whose `server` IS the
given URL (regwarden), with one [host] entry for it (pull+resolve). Because the real
upstream is not listed anywhere, a 403 from regwarden is final: containerd has nowhere
to fall back to (shared/CASES.md, harness notes). containerd then sends every request
to regwarden with ?ns=<registry> (HEAD first on resolve).
"""
import os
import shutil

from . import util

CONTAINERD = os.environ.get("RW_CONTAINERD", "/usr/bin/containerd")
CTR = os.environ.get("RW_CTR", "/usr/bin/ctr")


class Containerd:
    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.root = os.path.join(self.workdir, "root")
        self.state = os.path.join(self.workdir, "state")
        self.sock = os.path.join(self.workdir, "containerd.sock")
        self.config_path = os.path.join(self.workdir, "config.toml")
        self.log_path = os.path.join(self.workdir, "containerd.log")
        self.proc = None
        self._ns = 0

    def start(self):
        for d in (self.root, self.state):
            os.makedirs(d, exist_ok=True)
        with open(self.config_path, "w") as f:
            f.write('version = 2\nroot = "%s"\nstate = "%s"\n' % (self.root, self.state))
            f.write('disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",'
                    ' "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",'
                    ' "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.opt",'
                    ' "io.containerd.tracing.processor.v1.otlp"]\n')
            f.write('[grpc]\n  address = "%s"\n[ttrpc]\n  address = "%s.ttrpc"\n' % (self.sock, self.sock))
            f.write('[debug]\n  address = ""\n  level = "info"\n[metrics]\n  address = ""\n')
        self.proc = util.Proc([CONTAINERD, "--config", self.config_path], self.log_path).start()

        def ready():
            if not self.proc.alive():
                raise AssertionError("containerd exited:\n" + util.tail(self.log_path))
            return util.run([CTR, "-a", self.sock, "version"], check=False, timeout=10).returncode == 0
        try:
            util.wait_until(ready, timeout=30, interval=0.2, what="containerd")
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        if self.proc:
            self.proc.stop(timeout=20)
            self.proc = None

    def new_namespace(self):
        """A fresh namespace per test: content pulled in another test is invisible here."""
        self._ns += 1
        return "t%d" % self._ns

    def hosts_dir(self, directory, registry, server_url, single=False):
        """Write <directory>/<registry>/hosts.toml pointing at server_url; returns directory.

        default (CASES.md form): server = URL plus [host.URL] capabilities pull+resolve. containerd
          1.6 then lists URL twice (host entry, then server), so a refused resolve is tried twice:
          two HEADs per denied pull (measured).
        single=True: server = URL with capabilities pull+resolve, and a push-only [host.URL] entry
          (ctr 1.6 rejects a hosts.toml without any [host] table: "invalid `host` tree"), so every
          pull step sends exactly one request. Either way only regwarden is ever contacted.
        """
        d = os.path.join(str(directory), registry)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        with open(os.path.join(d, "hosts.toml"), "w") as f:
            if single:
                f.write('server = "%s"\ncapabilities = ["pull", "resolve"]\n\n[host."%s"]\n  capabilities = ["push"]\n'
                        % (server_url, server_url))
            else:
                f.write('server = "%s"\n\n[host."%s"]\n  capabilities = ["pull", "resolve"]\n' % (server_url, server_url))
        return str(directory)

    def ctr(self, *args, ns="t", check=False, timeout=180):
        return util.run([CTR, "-a", self.sock, "-n", ns] + [str(a) for a in args], check=check, timeout=timeout)

    def pull(self, ref, hosts_dir, ns, platform=None, all_platforms=False, http_dump=False, timeout=180):
        """ctr images pull through the hosts dir; returns CompletedProcess (check returncode)."""
        args = ["images", "pull", "--snapshotter", "native", "--hosts-dir", hosts_dir]
        if platform:
            args += ["--platform", platform]
        if all_platforms:
            args.append("--all-platforms")
        if http_dump:
            args.append("--http-dump")
        return self.ctr(*(args + [ref]), ns=ns, timeout=timeout)

    def image_digest(self, ref, ns):
        """Target digest of an image in the namespace, or None."""
        p = self.ctr("images", "ls", ns=ns, check=True)
        for line in p.stdout.splitlines()[1:]:
            cols = line.split()
            if cols and cols[0] == ref:
                return cols[2]
        return None

    def content_digests(self, ns):
        p = self.ctr("content", "ls", "-q", ns=ns, check=True)
        return set(p.stdout.split())

    def remove_image(self, ref, ns):
        return self.ctr("images", "rm", "--sync", ref, ns=ns)
