# SPDX-License-Identifier: MIT
"""Second red-team pass against DESIGN.md's invariants (allowed_hosts, mount gating, keep-alive,
cache serving, ...). Each test states the promised behaviour; each FAILS against the tree it was
written for (see the FINDING comments)."""

import pytest

from casekit import push_direct
from lib import util
from redteam_up import HookProxy, Sink

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


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
