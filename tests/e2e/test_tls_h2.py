# SPDX-License-Identifier: MIT
"""Issue 3: TLS listeners, HTTP/2 (ALPN and h2c prior knowledge), and every route over both.

Real tools: curl --http2/--http1.1/--http2-prior-knowledge, nghttp, h2load. A signed image is
pushed through regwarden, then its manifest and blob are fetched over each protocol and
compared byte for byte with the upstream's. Case C24: no connection-specific header reaches an
h2 client; a request carrying one is refused by the h2 layer and never relayed upstream.
"""
import json
import os
import re
import subprocess

import pytest

from lib import images, util
from lib.checks import CONTAINERD_ACCEPT
from lib.tlsca import CA

FORBIDDEN_H2 = ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade")


def tls_listener(ca, workdir, client_ca=True):
    crt, key, _ = ca.server(stem="server-%d" % util.free_port())
    port = util.free_port()
    ent = {"address": "127.0.0.1:%d" % port, "tls": {"cert": crt, "key": key}}
    if client_ca:
        ent["tls"]["client_ca"] = ca.ca_path
    return port, ent


@pytest.fixture
def ca(workdir):
    return CA(workdir / "ca")


@pytest.fixture
def tls_rw(regwarden_factory, main_config, upstream, ca, workdir):
    """regwarden with a plain listener (first, for the harness) and a TLS listener with mTLS."""
    port, ent = tls_listener(ca, workdir)
    plain = util.free_port()
    cfg = main_config(upstream)
    cfg["listen"] = [{"address": "127.0.0.1:%d" % plain}, ent]
    rw = regwarden_factory.__wrapped__(cfg) if hasattr(regwarden_factory, "__wrapped__") else None
    rw = rw or _start(regwarden_factory, cfg, plain)
    rw.tls_port = port
    rw.tls_url = "https://127.0.0.1:%d" % port
    rw.ca = ca
    return rw


def _start(factory, cfg, plain_port):
    rw = factory(cfg, start=False)
    rw.port = plain_port
    return rw.start()


@pytest.fixture
def pushed(tls_rw, image_factory, upstream):
    lay = image_factory()
    images.skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % tls_rw.host)
    up = upstream.get_manifest("team/app", "v1")
    assert up.status == 200
    man = json.loads(up.body)
    return {"manifest": up.body, "digest": util.sha256_bytes(up.body),
            "blob": man["layers"][0]["digest"], "ctype": up.header("Content-Type")}


def curl(*args, check=True):
    p = subprocess.run(["curl", "-sS", "--max-time", "60"] + list(args), capture_output=True, timeout=90)
    if check and p.returncode != 0:
        raise AssertionError("curl %s failed rc=%d: %s" % (args, p.returncode, p.stderr.decode()))
    return p


def curl_fetch(proto_args, url, out, accept=CONTAINERD_ACCEPT):
    p = curl(*proto_args, "-D", "-", "-o", out, "-H", "Accept: " + accept, url)
    head = p.stdout.decode("latin-1")
    status_line = head.splitlines()[0]
    hdrs = {}
    for line in head.splitlines()[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs.setdefault(k.strip(), v.strip())
    return status_line, hdrs


@pytest.mark.parametrize("proto", ["h2-tls", "h1-tls", "h2c", "h1"])
def test_every_route_over_each_protocol(proto, tls_rw, pushed, workdir, upstream):
    base = {"h2-tls": tls_rw.tls_url, "h1-tls": tls_rw.tls_url, "h2c": tls_rw.url, "h1": tls_rw.url}[proto]
    args = {"h2-tls": ["--http2", "--cacert", tls_rw.ca.ca_path],
            "h1-tls": ["--http1.1", "--cacert", tls_rw.ca.ca_path],
            "h2c": ["--http2-prior-knowledge"], "h1": ["--http1.1"]}[proto]
    want = "HTTP/2 200" if proto.startswith("h2") else "HTTP/1.1 200"
    # ping
    st, _ = curl_fetch(args, base + "/v2/", str(workdir / "ping"))
    assert st.startswith(want), st
    # manifest by tag and by digest (pull gate: signed -> allowed)
    for ref in ("v1", pushed["digest"]):
        out = str(workdir / ("m-" + proto))
        st, h = curl_fetch(args, base + "/v2/team/app/manifests/" + ref, out)
        assert st.startswith(want), (ref, st)
        assert open(out, "rb").read() == pushed["manifest"]
        assert h.get("docker-content-digest", h.get("Docker-Content-Digest")) == pushed["digest"]
        if proto.startswith("h2"):
            for k in h:
                assert k == k.lower(), "h2 header not lowercase: %s" % k
                assert k not in FORBIDDEN_H2, "connection-specific header on h2: %s" % k
    # HEAD
    p = curl(*args, "-I", "-H", "Accept: " + CONTAINERD_ACCEPT, base + "/v2/team/app/manifests/v1")
    assert want.split()[0] in p.stdout.decode() and " 200" in p.stdout.decode().splitlines()[0]
    # blob (pass-through with digest check)
    out = str(workdir / ("b-" + proto))
    st, _ = curl_fetch(args, base + "/v2/team/app/blobs/" + pushed["blob"], out, accept="*/*")
    assert st.startswith(want)
    assert "sha256:" + util.sha256_file(out).split(":")[-1] == pushed["blob"]
    # unsigned image: denied with the contract body over this protocol too
    st, _ = curl_fetch(args, base + "/v2/team/nope/manifests/v1", str(workdir / "deny"))
    assert " 404" in st or " 403" in st


def test_push_over_h2_tls(tls_rw, image_factory, upstream, workdir):
    """skopeo (Go: ALPN h2) pushes through the TLS listener with the CA in a certs.d dir."""
    certs = workdir / "certs.d" / ("127.0.0.1:%d" % tls_rw.tls_port)
    certs.mkdir(parents=True)
    os.symlink(tls_rw.ca.ca_path, str(certs / "ca.crt"))
    lay = image_factory()
    util.run(["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false",
              "--dest-cert-dir", str(certs), lay.ref("v1"),
              "docker://127.0.0.1:%d/team/h2push:v1" % tls_rw.tls_port])
    assert upstream.get_manifest("team/h2push", "v1").status == 200
    lines = tls_rw.events("signed")
    assert any(l["image"]["repository"] == "team/h2push" for l in lines), lines


def test_nghttp_tls_and_h2c(tls_rw, pushed):
    # blob gating: a blob is served once an allowed manifest references it, so the manifest is
    # verified first (nghttp sends both requests at once; their order on the wire is not fixed)
    r = util.http("GET", tls_rw.url + "/v2/team/app/manifests/" + pushed["digest"],
                  headers={"Accept": CONTAINERD_ACCEPT})
    assert r.status == 200, r
    for url in (tls_rw.tls_url, tls_rw.url):
        p = subprocess.run(["nghttp", "-nv", "-H", "accept: " + CONTAINERD_ACCEPT,
                            url + "/v2/team/app/manifests/" + pushed["digest"],
                            url + "/v2/team/app/blobs/" + pushed["blob"]],
                           capture_output=True, timeout=60)
        out = p.stdout.decode("latin-1")
        assert p.returncode == 0, out + p.stderr.decode()
        assert out.count(":status: 200") == 2, out
        got = set(re.findall(r"recv \(stream_id=\d+\) ([a-z0-9-]+):", out))
        assert not (got & set(FORBIDDEN_H2)), got


@pytest.mark.parametrize("tls", [True, False])
def test_h2load_manifest_zero_errors(tls, tls_rw, pushed):
    """C24: h2load -n 2000 -c 8 -m 16 on a manifest by digest -> 0 errors."""
    url = (tls_rw.tls_url if tls else tls_rw.url) + "/v2/team/app/manifests/" + pushed["digest"]
    p = subprocess.run(["h2load", "-n", "2000", "-c", "8", "-m", "16", "-H", "accept: " + CONTAINERD_ACCEPT, url],
                       capture_output=True, timeout=120)
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored",
                  out)
    assert m, out
    assert m.group(4) == "2000" and m.group(5) == "0" and m.group(6) == "0", out
    assert re.search(r"status codes: 2000 2xx", out), out
