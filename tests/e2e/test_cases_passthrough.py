# SPDX-License-Identifier: MIT
"""Issue 2 item 3: every OCI endpoint passes through to the upstream.

Uploads (POST / PATCH / PUT are in test_cases_uploads.py), cross-repo mount (201, and 202
when the upstream cannot mount), tags list, catalog (with its pagination Link), DELETE of a
manifest and of a blob.
"""
import pytest

from casekit import *  # noqa: F401,F403
from casekit import push_direct, rw_client
from lib import util


@pytest.fixture
def src(upstream, regwarden, image_factory):
    lay = image_factory()
    push_direct(lay, "v1", upstream.host, "library/src")
    push_direct(lay, "v1", upstream.host, "library/src", ref="v2")
    return lay


def _location_ok(rw, upstream, loc):
    assert loc, "no Location"
    assert loc.startswith("/") or loc.startswith(rw.url + "/"), loc
    assert upstream.host not in loc, loc


def test_cross_repo_mount_201(upstream, regwarden, src):
    layer = src.layer_digests("v1")[1]
    c = rw_client(regwarden)
    r = c.request("POST", "/v2/team/dst/blobs/uploads/?mount=%s&from=library/src" % layer)
    assert r.status == 201, r
    assert r.header("Docker-Content-Digest") == layer, r
    _location_ok(regwarden, upstream, r.header("Location"))
    h = util.http("HEAD", "%s/v2/team/dst/blobs/%s" % (upstream.url, layer))
    assert h.status == 200, h


def test_cross_repo_mount_fallback_202(upstream, regwarden, src):
    missing = "sha256:" + "0" * 64
    c = rw_client(regwarden)
    r = c.request("POST", "/v2/team/dst/blobs/uploads/?mount=%s&from=library/src" % missing)
    assert r.status == 202, "an unmountable blob starts a normal upload: %r" % r
    _location_ok(regwarden, upstream, r.header("Location"))
    # the session it started is usable
    data = b"fallback upload"
    d = util.sha256_bytes(data)
    r = c.finish(r.header("Location"), d, data)
    assert r.status == 201 and r.header("Docker-Content-Digest") == d, r


def test_tags_list(upstream, regwarden, src):
    c = rw_client(regwarden)
    r = c.get("/v2/library/src/tags/list")
    assert r.status == 200, r
    assert r.json() == {"name": "library/src", "tags": ["v1", "v2"]}
    # distribution 2.8.2 ignores n= on tags/list; whatever it answers comes through unchanged
    direct = util.http("GET", upstream.url + "/v2/library/src/tags/list?n=1")
    r = c.get("/v2/library/src/tags/list?n=1")
    assert (r.status, r.json()) == (direct.status, direct.json()), (r, direct)


def test_catalog_and_pagination(upstream, regwarden, src, image_factory):
    push_direct(src, "v1", upstream.host, "library/zzz")
    c = rw_client(regwarden)
    r = c.get("/v2/_catalog")
    assert r.status == 200, r
    assert {"library/src", "library/zzz"} <= set(r.json()["repositories"]), r
    r = c.get("/v2/_catalog?n=1")
    assert r.status == 200 and r.json()["repositories"] == ["library/src"], r
    link = r.header("Link")
    assert link and 'rel="next"' in link, r
    assert upstream.host not in link, link
    nxt = link.split(";")[0].strip().strip("<>")
    r = c.get(nxt)
    assert r.status == 200 and r.json()["repositories"] == ["library/zzz"], r


def test_delete_manifest_and_blob(upstream, regwarden, src):
    c = rw_client(regwarden)
    digest = src.digest("v1")
    r = c.request("DELETE", "/v2/library/src/manifests/%s" % digest)
    assert r.status == 202, r
    assert upstream.get_manifest("library/src", digest).status == 404
    layer = src.layer_digests("v1")[1]
    r = c.request("DELETE", "/v2/library/src/blobs/%s" % layer)
    assert r.status == 202, r
    assert util.http("HEAD", "%s/v2/library/src/blobs/%s" % (upstream.url, layer)).status == 404


def test_ping(regwarden):
    r = rw_client(regwarden).get("/v2/")
    assert r.status == 200, r
    assert r.header("Docker-Distribution-API-Version") == "registry/2.0", r
