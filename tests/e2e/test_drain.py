# SPDX-License-Identifier: MIT
"""Graceful SIGTERM (issue 3): regwarden stops accepting, lets in-flight requests finish (up to
its drain timeout) and exits 0 — over HTTP/1.1 and over h2c, where it also sends GOAWAY."""
import signal
import socket
import subprocess
import time

from casekit import *  # noqa: F401,F403
from casekit import blob_image, push_direct
from lib import util

MiB = 1 << 20


def _slow_download(args):
    return subprocess.Popen(["curl", "-s", "--limit-rate", "8M", "-o", "-"] + args,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _drain(upstream, regwarden, image_factory, curl_args):
    lay, digest, size = blob_image(image_factory, 40 * MiB)
    push_direct(lay, "v1", upstream.host, "library/app")
    url = "%s/v2/library/app/blobs/%s" % (regwarden.url, digest)
    p = _slow_download(curl_args + [url])
    time.sleep(1.0)                                   # the transfer is under way (~5 s in all)
    regwarden.proc.popen.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with socket.socket() as s:                        # no new connections once draining
        s.settimeout(2)
        refused = s.connect_ex(("127.0.0.1", regwarden.port)) != 0
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert util.sha256_bytes(out) == digest, "the in-flight download did not complete intact"
    rc = regwarden.proc.popen.wait(timeout=30)
    assert rc == 0
    assert refused, "a new connection was accepted while draining"


def test_sigterm_drains_http1(upstream, regwarden, image_factory):
    _drain(upstream, regwarden, image_factory, ["--http1.1"])


def test_sigterm_drains_h2c_with_goaway(upstream, regwarden, image_factory):
    _drain(upstream, regwarden, image_factory, ["--http2-prior-knowledge"])
