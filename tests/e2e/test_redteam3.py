# SPDX-License-Identifier: MIT
"""Third red-team pass (issue 7: referrers evidence, Link pagination). A hostile upstream (HookProxy
in front of FAKE) answers the referrers API itself; regwarden must stay on the upstream's origin,
bound the pages it reads, and never count evidence it could not bind to the served digest."""
import time
import urllib.parse

import pytest

from casekit import *  # noqa: F401,F403
from casekit import fake_upstream, rw_client
from lib import sigtool
from redteam_up import HookProxy, Sink
from test_referrers import REPO, OCI_INDEX, _cosign_sig_referrer, _dumps, _push_image


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.stop()


@pytest.fixture
def hooked(fake):
    p = HookProxy(fake.url)
    yield p
    p.stop()


def _rw(fake, hooked, main_config, regwarden_factory):
    cfg = main_config(fake_upstream(fake))
    cfg["upstreams"] = {"fake.local": hooked.url}
    return regwarden_factory(cfg)


def _ref_path(digest):
    return "/v2/%s/referrers/%s" % (REPO, digest)


def _page(descs):
    return _dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs})


def test_link_loop_is_bounded(fake, hooked, main_config, regwarden_factory, keys):
    """A Link rel="next" back to the same page, forever: at most RW_MAX_REFERRERS_PAGES pages, and
    the descriptor repeated on every page is fetched a bounded number of times; still a deny."""
    rw = _rw(fake, hooked, main_config, regwarden_factory)
    c = sigtool.RegClient(fake.url)
    digest, man = _push_image(c)
    untrusted = _cosign_sig_referrer(c, keys.other.private_key(), digest, man)

    def hook(req):
        if urllib.parse.urlsplit(req["path"]).path == _ref_path(digest):
            return 200, [("Content-Type", OCI_INDEX),
                         ("Link", '<%s>; rel="next"' % req["path"])], _page([untrusted] * 20)
        return None
    hooked.hook = hook
    t0 = time.monotonic()
    r = rw_client(rw).manifest(REPO, "v1")
    assert r.status == 403, r
    assert time.monotonic() - t0 < 20
    pages = [x for x in hooked.log if urllib.parse.urlsplit(x["path"]).path == _ref_path(digest)]
    assert 1 <= len(pages) <= 8, len(pages)
    fetched = [x for x in hooked.log if x["path"].endswith("/manifests/" + untrusted["digest"])]
    assert len(fetched) <= 32, len(fetched)


@pytest.mark.parametrize("target", [
    "http://{sink}/v2/team/app/referrers/{d}?last=x",
    "//{sink}/v2/team/app/referrers/{d}?last=x",
    "http://{up}@{sink}/v2/team/app/referrers/{d}?last=x",
    "http://{up}\\@{sink}/v2/team/app/referrers/{d}?last=x",
    "http://{up}#@{sink}/v2/team/app/referrers/{d}",
    "HTTP://{sink}/v2/team/app/referrers/{d}",
    "http://{upname}:{upport}/v2/team/app/referrers/{d}",
    "https://{up}/v2/team/app/referrers/{d}",
    "http://{up}:80/v2/team/app/referrers/{d}",
    "http://{up}/v2/team/other/referrers/{d}",
    "/v2/team/app/manifests/v1",
    "http://%31%32%37.0.0.2:{sinkport}/v2/team/app/referrers/{d}",
])
def test_link_next_never_leaves_the_upstream(fake, hooked, sink, main_config, regwarden_factory, keys,
                                             target):
    """Page 1 lists nothing; its Link points elsewhere; page 2 (wherever it is) would list a valid
    team signature. Regwarden must not dial the sink, and must not allow."""
    rw = _rw(fake, hooked, main_config, regwarden_factory)
    c = sigtool.RegClient(fake.url)
    digest, man = _push_image(c)
    good = _cosign_sig_referrer(c, keys.team.private_key(), digest, man)
    up = urllib.parse.urlsplit(hooked.url).netloc
    link = target.format(sink="%s:%d" % (sink.host, sink.port), up=up, d=digest,
                         upname="localhost", upport=up.split(":")[1], sinkport=sink.port)

    def hook(req):
        path = urllib.parse.urlsplit(req["path"]).path
        if path == _ref_path(digest):
            if "last=" in req["path"]:
                return 200, [("Content-Type", OCI_INDEX)], _page([good])
            return 200, [("Content-Type", OCI_INDEX), ("Link", '<%s>; rel="next"' % link)], _page([])
        if "/referrers/" in path or path.endswith("/manifests/v1") and req is not None and \
                req["headers"].get("Accept", "").startswith("application/vnd.oci.image.index"):
            return 200, [("Content-Type", OCI_INDEX)], _page([good])
        return None
    hooked.hook = hook
    r = rw_client(rw).manifest(REPO, "v1")
    assert r.status == 403, (r, link)
    time.sleep(0.2)
    assert not sink.hits, (link, sink.hits)


# FINDING (Link pagination): fetch_referrers compared the resolved Link target with the
# "<upstream>/v2/<repo>/referrers/" prefix only, so dot-segments ("referrers/../../x"),
# percent-encoded ones ("%2e%2e/") or a trailing path after the digest sent regwarden, with the
# registry credential, to any path of the upstream's origin (behind a path-prefixed upstream URL:
# another application on that host), against "names this repository's referrers endpoint".
@pytest.mark.parametrize("target", [
    "/v2/team/app/referrers/../../../v2/team/secret/manifests/v1",
    "/v2/team/app/referrers/%2e%2e/%2e%2e/%2e%2e/v2/team/secret/manifests/v1",
    "/v2/team/app/referrers/{d}/../../../../admin",
    "/v2/team/app/referrers/{d}%2f..%2f..%2fadmin",
    "/v2/team/app/referrers/./{d}?last=x",
    "http://{up}/v2/team/app/referrers/..%2F..%2F..%2Fadmin",
])
def test_link_next_names_this_referrers_endpoint(fake, hooked, main_config, regwarden_factory,
                                                 target):
    rw = _rw(fake, hooked, main_config, regwarden_factory)
    c = sigtool.RegClient(fake.url)
    digest, _ = _push_image(c)
    up = urllib.parse.urlsplit(hooked.url).netloc
    link = target.format(d=digest, up=up)

    def hook(req):
        if req["path"] == _ref_path(digest):
            return 200, [("Content-Type", OCI_INDEX), ("Link", '<%s>; rel="next"' % link)], _page([])
        return None
    hooked.hook = hook
    r = rw_client(rw).manifest(REPO, "v1")
    assert r.status == 403, r
    followed = [x["path"] for x in hooked.log if x["path"] not in (_ref_path(digest),)
                and "/referrers/" in x["path"] or x["path"].endswith("/admin")
                or "/secret/" in x["path"]]
    assert not followed, (link, followed)
