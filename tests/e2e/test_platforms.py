# SPDX-License-Identifier: MIT
"""Multi-platform images (issue 7 item 4): which manifest's evidence allows a platform child.

A kubelet pulls the index by tag, then the child for its platform by digest. `require.signature_on`
says what the rule needs: `either` (default: the index's allow verdict covers the children it lists,
and a child's own signature allows that child), `index` (only an allowed index allows a platform
manifest), `manifest` (every manifest needs its own evidence). Driven with curl, the way containerd
asks (Accept list, by digest), so each step's verdict is visible.
"""
import pytest

from lib import sigtool
from lib.checks import CONTAINERD_ACCEPT, assert_denied_body, curl
from test_main_job import push_direct, sign_direct


def get(rw, repo, ref):
    return curl(rw.url + "/v2/%s/manifests/%s" % (repo, ref), headers={"Accept": CONTAINERD_ACCEPT})


def rule_with(main_config, upstream, **require):
    cfg = main_config(upstream)
    rules = cfg["pull"]["rules"]
    for r in rules:
        if "require" in r:
            r["require"].update(require)
    return cfg


@pytest.fixture
def multi(upstream, index_factory):
    lay = index_factory()
    push_direct(upstream, lay, "v1", "team/multi:v1", all_images=True)
    return lay


def test_child_denied_first_then_allowed_through_its_index(upstream, regwarden, multi, keys):
    """A child refused before its index was seen (deny cached for deny_ttl) is allowed as soon as an
    allowed index lists it: the index link is consulted before a cached deny."""
    sign_direct(upstream, "team/multi", multi.digest("v1"), keys.team)
    child = multi.digest("v1-arm64")
    assert_denied_body(get(regwarden, "team/multi", child), "no-signature")
    r = get(regwarden, "team/multi", "v1")
    assert r.status == 200, r
    r = get(regwarden, "team/multi", child)
    assert r.status == 200, (r, regwarden.deny_lines())
