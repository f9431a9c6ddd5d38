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


def test_either_child_signature_alone_allows_that_child(upstream, regwarden, multi, keys):
    """Default `either`: a signature on one child allows that child, not the index or a sibling."""
    child, sibling = multi.digest("v1-arm64"), multi.digest("v1-amd64")
    sign_direct(upstream, "team/multi", child, keys.team)
    assert get(regwarden, "team/multi", child).status == 200
    assert_denied_body(get(regwarden, "team/multi", "v1"), "no-signature")
    assert_denied_body(get(regwarden, "team/multi", sibling), "no-signature")


def test_index_mode_refuses_a_child_signed_alone(upstream, regwarden_factory, main_config, multi, keys):
    """`signature_on: index`: a platform manifest is allowed only through an allowed index."""
    rw = regwarden_factory(rule_with(main_config, upstream, signature_on="index"))
    child = multi.digest("v1-arm64")
    sign_direct(upstream, "team/multi", child, keys.team)
    r = get(rw, "team/multi", child)
    assert_denied_body(r, "no-signature")
    assert "index" in r.json()["errors"][0]["message"], r.body
    line = rw.deny_lines()[-1]
    assert line["reason"] == "no-signature" and "index" in line["detail"], line


def test_index_mode_allows_children_of_a_signed_index(upstream, regwarden_factory, main_config, multi, keys):
    rw = regwarden_factory(rule_with(main_config, upstream, signature_on="index"))
    sign_direct(upstream, "team/multi", multi.digest("v1"), keys.team)
    assert get(rw, "team/multi", "v1").status == 200
    for arch in ("amd64", "arm64"):
        r = get(rw, "team/multi", multi.digest("v1-" + arch))
        assert r.status == 200, (arch, r, rw.deny_lines())


def test_manifest_mode_needs_each_childs_own_signature(upstream, regwarden_factory, main_config, multi, keys):
    """`signature_on: manifest`: the index's verdict does not extend to its children."""
    rw = regwarden_factory(rule_with(main_config, upstream, signature_on="manifest"))
    sign_direct(upstream, "team/multi", multi.digest("v1"), keys.team)
    child = multi.digest("v1-arm64")
    assert get(rw, "team/multi", "v1").status == 200
    assert_denied_body(get(rw, "team/multi", child), "no-signature")
    sign_direct(upstream, "team/multi", multi.digest("v1-amd64"), keys.team)
    assert get(rw, "team/multi", multi.digest("v1-amd64")).status == 200


def test_signature_on_rejects_unknown_values(upstream, regwarden_factory, main_config):
    rw = regwarden_factory(rule_with(main_config, upstream, signature_on="children"), start=False)
    p = rw.cmd("check")
    assert p.returncode != 0 and "signature_on" in (p.stdout + p.stderr), (p.stdout, p.stderr)
