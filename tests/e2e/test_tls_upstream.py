# SPDX-License-Identifier: MIT
"""Issue 3 item 3: an https upstream with its own CA bundle (`upstreams: name: {url, ca}`),
spoken to over HTTP/2 (docker-registry offers h2 by ALPN; its access log shows the protocol),
connections reused; without the CA the upstream is not trusted and nothing is served."""
import os
import socket
import subprocess

import pytest

from lib import images, util
from lib.checks import CONTAINERD_ACCEPT
from lib.registry import Registry
from lib.tlsca import CA


class TLSRegistry(Registry):
    @property
    def url(self):
        return "https://%s" % self.host

    def start(self, port=None):
        self.port = port or self.port or util.free_port()
        self._write_config()
        self.proc = util.Proc(["/usr/bin/docker-registry", "serve", self.config_path], self.log_path).start()

        def ready():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        util.wait_until(ready, timeout=20, what="docker-registry (TLS) on %s" % self.host)
        return self


@pytest.fixture
def tls_upstream(workdir):
    ca = CA(workdir / "up-ca", name="upstream CA")
    crt, key, _ = ca.server(stem="upstream")
    reg = TLSRegistry(workdir / "up-tls", extra_config="")
    reg.extra_config = ""  # http.tls goes under http:, written below
    reg.http_host = None
    orig = reg._write_config

    def write():
        orig()
        with open(reg.config_path) as f:
            text = f.read()
        text = text.replace("http:\n", "http:\n  tls:\n    certificate: %s\n    key: %s\n" % (crt, key), 1)
        with open(reg.config_path, "w") as f:
            f.write(text)
    reg._write_config = write
    reg.start()
    reg.ca = ca
    yield reg
    reg.stop()


def _seed(reg, lay, workdir):
    d = workdir / "seed-certs"
    d.mkdir(exist_ok=True)
    if not (d / "ca.crt").exists():
        os.symlink(reg.ca.ca_path, str(d / "ca.crt"))
    util.run(["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", "--dest-cert-dir", str(d),
              lay.ref("v1"), "docker://%s/library/busy:v1" % reg.host])


def _get(rw, path):
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "-", "-w", "\n%{http_code}",
                        "-H", "Accept: " + CONTAINERD_ACCEPT, rw.url + path], capture_output=True, timeout=60)
    body, _, code = p.stdout.rpartition(b"\n")
    return int(code or 0), body


def test_https_upstream_with_ca(tls_upstream, regwarden_factory, main_config, image_factory, workdir):
    _seed(tls_upstream, image_factory(), workdir)
    cfg = main_config(tls_upstream)
    cfg["upstreams"] = {"registry.local": {"url": tls_upstream.url, "ca": tls_upstream.ca.ca_path}}
    rw = regwarden_factory(cfg)
    for _ in range(3):
        code, body = _get(rw, "/v2/library/busy/manifests/v1")
        assert code == 200, body
    acc = [l for l in open(tls_upstream.log_path, errors="replace") if '"GET /v2/library/busy/manifests/v1' in l]
    assert acc and all("HTTP/2.0" in l for l in acc), acc  # h2 to the upstream, chosen by ALPN


def test_https_upstream_untrusted_without_ca(tls_upstream, regwarden_factory, main_config, image_factory,
                                             workdir):
    _seed(tls_upstream, image_factory(), workdir)
    cfg = main_config(tls_upstream)
    cfg["upstreams"] = {"registry.local": tls_upstream.url}  # short form: system store only
    rw = regwarden_factory(cfg)
    code, body = _get(rw, "/v2/library/busy/manifests/v1")
    assert code != 200 and code >= 400, (code, body)
