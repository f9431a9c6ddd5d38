# SPDX-License-Identifier: MIT
"""Second red-team pass against DESIGN.md's invariants (allowed_hosts, mount gating, keep-alive,
cache serving, ...). Each test states the promised behaviour; each FAILS against the tree it was
written for (see the FINDING comments)."""
import json
import os
import socket
import time

import pytest

from casekit import push_direct, sig_tag
from lib import tokenauth, util
from redteam_up import HookProxy, Sink

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
USER = "rw-robot"
PASSWORD = "s3cret-Pw-for-redteam2!"


@pytest.fixture
def hooked(upstream):
    p = HookProxy(upstream.url)
    yield p
    p.stop()


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.stop()


def hooked_cfg(main_config, upstream, hooked, **kw):
    cfg = main_config(upstream, **kw)
    cfg["upstreams"] = {upstream.name: hooked.url}
    return cfg


def unsigned_blob(upstream, regwarden, image_factory):
    lay = image_factory()
    push_direct(lay, "v1", upstream.host, "team/app")  # unsigned, straight to the upstream
    d = lay.manifest("v1")["layers"][0]["digest"]
    assert util.http("GET", regwarden.url + "/v2/team/app/blobs/" + d).status == 403
    return d


def mounted(regwarden, d):
    r = util.http("GET", regwarden.url + "/v2/library/x/blobs/" + d)
    return r.status == 200 and util.sha256_bytes(r.body) == d


# FINDING (blob gating, `unreferenced-blob`): proxy/routes.c:gate_mount/query_param match the
# parameter NAME literally ("mount="), but docker-registry (Go url.ParseQuery) percent-decodes names.
# `?%6dount=D&from=team/app` is not seen as a mount by regwarden (no gating, nothing dropped) and is
# a cross-repo mount upstream: a blob gated 403 in team/app becomes readable from library/x.
def test_mount_with_percent_encoded_param_name_is_gated(upstream, regwarden, image_factory):
    d = unsigned_blob(upstream, regwarden, image_factory)
    util.http("POST", regwarden.url + "/v2/library/x/blobs/uploads/?%%6dount=%s&%%66rom=team/app" % d,
              body=b"")
    assert not mounted(regwarden, d), \
        "blob of an unsigned team/app image (gated: 403) read through a %6dount= mount into library/x"


# FINDING (blob gating): docker-registry reads mount/from with r.FormValue, which also parses an
# application/x-www-form-urlencoded POST body (body values take precedence over the query).
# proxy/routes.c:gate_mount only looks at the query, and the body is forwarded as is.
def test_mount_params_in_form_body_are_gated(upstream, regwarden, image_factory):
    d = unsigned_blob(upstream, regwarden, image_factory)
    util.http("POST", regwarden.url + "/v2/library/x/blobs/uploads/",
              headers={"Content-Type": "application/x-www-form-urlencoded"},
              body=("mount=%s&from=team/app" % d).encode())
    assert not mounted(regwarden, d), \
        "blob of an unsigned team/app image (gated: 403) read through a form-body mount into library/x"


# FINDING (invariant 4, SSRF): proxy/upstream.c:url_host stops the host at the first ':' so for
# "http://<upstream-host>:1@127.0.0.2:P/" it returns the upstream's own host (the rest is taken as
# the "port"); rw_upstream_may_dial says yes and libcurl dials 127.0.0.2 (userinfo "<host>:1").
# A signature-layer blob redirect reaches an unconfigured host.
def test_evidence_redirect_with_userinfo_does_not_reach_unconfigured_host(upstream, hooked, sink,
                                                                         regwarden_factory, main_config,
                                                                         image_factory):
    rw0 = regwarden_factory(main_config(upstream))
    lay = image_factory()
    assert push_direct(lay, "v1", rw0.host, "team/app").returncode == 0  # signed by regwarden
    spoof = "http://127.0.0.1:1@%s:%d/blob" % (sink.host, sink.port)

    def hook(req):
        if req["method"] == "GET" and "/blobs/sha256:" in req["path"]:
            return (307, [("Location", spoof)], b"")
        return None
    hooked.hook = hook
    rw = regwarden_factory(hooked_cfg(main_config, upstream, hooked))
    r = util.http("GET", rw.url + "/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert r.status == 403, r.status
    assert sink.hits == [], "regwarden dialed an unconfigured host via %s: %r" % (spoof, sink.hits[:1])
