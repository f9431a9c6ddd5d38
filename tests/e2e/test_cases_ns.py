# SPDX-License-Identifier: MIT
"""C16 (shared/CASES.md) and DESIGN invariant 4: ns= selects among configured upstreams only.

ns=<configured name> is accepted on every pull route, selects that upstream and is not
forwarded; other query parameters are ignored. An ns= naming anything else is refused with
reason unknown-upstream and never dialed (SINK on 127.0.0.2 stays silent, and regwarden does
not fall back to the default upstream either).
"""
import time
import urllib.parse

import pytest

from casekit import *  # noqa: F401,F403
from casekit import skopeo_copy
from casekit import push_direct, rw_client
from lib import images, util


def test_c16_ns_accepted_and_not_forwarded(upstream, regwarden, image_factory):
    lay = image_factory()
    push_direct(lay, "v1", upstream.host, "library/app")
    c = rw_client(regwarden)
    m = upstream.mark()
    r = c.manifest("library/app", "v1", query="?ns=registry.local&x=1")
    assert r.status == 200 and util.sha256_bytes(r.body) == lay.digest("v1"), r
    r = c.manifest("library/app", "v1", method="HEAD", query="?ns=registry.local")
    assert r.status == 200, r
    for d in lay.layer_digests("v1"):
        r = c.request("GET", "/v2/library/app/blobs/%s?ns=registry.local" % d)
        assert r.status == 200 and util.sha256_bytes(r.body) == d, r
    r = c.request("GET", "/v2/library/app/tags/list?ns=registry.local")
    assert r.status == 200 and r.json()["tags"] == ["v1"], r
    seen = upstream.access(since=m)
    assert seen, "nothing reached the upstream"
    leaked = [a.uri for a in seen if "ns=" in a.query]
    assert leaked == [], "ns= forwarded upstream: %s" % leaked


def test_c16_signed_pull_with_ns_and_without(upstream, regwarden, image_factory, workdir):
    lay = image_factory()
    skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % regwarden.host)   # signed on the way
    c = rw_client(regwarden)
    r = c.manifest("team/app", "v1", query="?ns=registry.local")
    assert r.status == 200 and util.sha256_bytes(r.body) == lay.digest("v1"), r
    p = skopeo_copy("docker://%s/team/app:v1" % regwarden.host, "oci:%s:v1" % (workdir / "out"), check=False)
    assert p.returncode == 0, p.stderr[-2000:]


@pytest.mark.needs_root
def test_c16_ctr_pull_sends_ns_which_is_stripped(upstream, regwarden, image_factory, ctr):
    lay = image_factory()
    skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % regwarden.host)
    ctr.mirror(regwarden)
    m = upstream.mark()
    p = ctr.pull("registry.local/team/app:v1")
    assert p.returncode == 0, "%s\n--- regwarden\n%s" % (p.stderr[-2000:], util.tail(regwarden.stderr_path))
    assert ctr.image_digest("registry.local/team/app:v1") == lay.digest("v1")
    leaked = [a.uri for a in upstream.access(since=m) if "ns=" in a.query]
    assert leaked == [], leaked


def test_unknown_upstream_refused_never_dialed(upstream, regwarden, image_factory, sink):
    lay = image_factory()
    push_direct(lay, "v1", upstream.host, "library/app")
    c = rw_client(regwarden)
    bad = [sink.addr, "http://%s" % sink.addr, sink.host, "evil.local", "registry.local.evil", "127.0.0.1:%d" % upstream.port]
    since = regwarden.deny_count()
    m = upstream.mark()
    for ns in bad:
        q = "?ns=" + urllib.parse.quote(ns, safe="")
        for path in ("/v2/library/app/manifests/v1", "/v2/library/app/blobs/%s" % lay.layer_digests("v1")[1]):
            r = c.request("GET", path + q, {"Accept": "application/vnd.oci.image.manifest.v1+json"})
            assert 400 <= r.status < 500, "ns=%s %s: want a 4xx refusal, got %r" % (ns, path, r)
    time.sleep(0.3)
    assert sink.connections == [], "regwarden dialed an unconfigured host: %r" % sink.connections
    assert upstream.access(since=m) == [], "an unknown ns= fell back to the default upstream"
    reasons = [x.get("reason") for x in regwarden.deny_lines(since)]
    assert reasons.count("unknown-upstream") >= len(bad), \
        "want an unknown-upstream deny line per refused manifest request, got %s" % reasons
