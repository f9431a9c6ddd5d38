# SPDX-License-Identifier: MIT
"""Fixtures and helpers shared by the handed cases (test_cases_*.py; shared/CASES.md).

They build on the harness fixtures in conftest.py (upstream, regwarden_factory, main_config,
image_factory, keys, ctr) and add the case tools:

  fake        fakeup.FakeUp, in process, named "fake.local"; faults switched per test
              with fake.set_faults(...) (or POST /_fault); blobs under its own root
  store       store.Store on 127.0.0.3 (another host than FAKE and regwarden, as a bucket
              host is: Go clients drop Authorization only across hosts, not ports)
  sink        Sink on 127.0.0.2: an internal/metadata host stand-in that records every
              connection; regwarden must never dial it
  fake_rw     regwarden whose only upstream is fake.local (default_upstream fake.local)

Import them into a test module with `from casekit import *  # noqa: F401,F403`.
"""
import json
import os
import socket
import threading
import time
from types import SimpleNamespace

import pytest

import fakeup
import rawreg
import store as storemod
from lib import images, util

__all__ = ["fake", "store", "sink", "fake_rw", "fake_upstream", "Sink", "rw_client", "deny_reasons",
           "wait_deny", "skopeo_copy", "push_direct", "seed_fake", "blob_image", "sig_tag", "ACCEPT"]

ACCEPT = rawreg.MANIFEST_ACCEPT


def sig_tag(digest):
    return "sha256-%s.sig" % digest.split(":", 1)[1]


class Sink:
    """A TCP listener that accepts, records (peer, first bytes) and closes. Never answers HTTP."""

    def __init__(self, host="127.0.0.2"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.host, self.port = self.sock.getsockname()
        self.connections = []
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    def _run(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                c, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(1.0)
            try:
                first = c.recv(4096)
            except OSError:
                first = b""
            self.connections.append({"peer": peer, "first": first, "time": time.time()})
            c.close()

    def close(self):
        self._stop = True
        self.sock.close()
        self._t.join(2)


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.close()


@pytest.fixture
def fake(workdir):
    f = fakeup.FakeUp(root=str(workdir / "fakeup")).start()
    yield f
    f.stop()


@pytest.fixture
def store(fake):
    s = storemod.Store(fake.root, host="127.0.0.3").start()
    yield s
    s.stop()


def fake_upstream(fake):
    """The object main_config() expects (.url, .name) for FAKE."""
    return SimpleNamespace(url=fake.url, name="fake.local", host="%s:%d" % (fake.host, fake.port))


@pytest.fixture
def fake_rw(fake, main_config, regwarden_factory):
    return regwarden_factory(main_config(fake_upstream(fake)))


def rw_client(rw, **kw):
    return rawreg.Client(rw.url, **kw)


def deny_reasons(rw, since=0):
    return [x.get("reason") for x in rw.deny_lines(since) if x.get("event") in ("deny", "audit-deny")]


def wait_deny(rw, since, reason, timeout=5.0):
    """The first deny line after `since` with this reason (deny lines may be written async)."""
    deadline = time.monotonic() + timeout
    while True:
        for x in rw.deny_lines(since):
            if x.get("reason") == reason:
                return x
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def skopeo_copy(src, dst, **kw):
    """lib.images.skopeo_copy with a timeout that fails a hung transfer in minutes, not 15."""
    kw.setdefault("timeout", 180)
    return images.skopeo_copy(src, dst, **kw)


def push_direct(layout, tag, registry_host, repo, ref="v1", **kw):
    """skopeo copy an OCI layout tag straight to a registry (bypassing regwarden)."""
    return skopeo_copy(layout.ref(tag), "docker://%s/%s:%s" % (registry_host, repo, ref), **kw)


def seed_fake(fake, layout, tag, repo, ref="v1"):
    """Put an OCI layout tag into FAKE under repo:ref (pushed with skopeo, so FAKE's own
    upload path is exercised). Returns the manifest digest."""
    push_direct(layout, tag, "127.0.0.1:%d" % fake.port, repo, ref)
    return layout.digest(tag)


def blob_image(image_factory, size, tag="v1"):
    """An image whose one layer is ~size bytes of random data (gzip leaves random data as is).
    Returns (layout, layer digest, layer size)."""
    lay = image_factory(tag=tag, large_file=("big.bin", size))
    m = lay.manifest(tag)
    big = max(m["layers"], key=lambda x: x["size"])
    return lay, big["digest"], big["size"]


def json_body(reply):
    try:
        return json.loads(reply.body)
    except ValueError:
        return None


# keep flake8 quiet about the re-exported module names used by importers
_ = (os, util)
