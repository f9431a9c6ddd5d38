# SPDX-License-Identifier: MIT
"""Issue 5 (one mirror for every registry): blob gating, the verdict/manifest cache, coalescing,
audit mode and per-rule overrides, reload (SIGHUP and file change), several upstreams.

Everything against real docker-registry instances; signatures are made by lib/sigtool.py (an
independent cosign implementation) or by regwarden's own push hook.
"""
import concurrent.futures
import json
import os
import signal
import time

import pytest

from lib import sigtool, util
from lib.checks import CONTAINERD_ACCEPT
from test_main_job import push_direct, sign_direct

TEAM = "registry.local/team/**"


def get_manifest(rw, repo, ref, accept=CONTAINERD_ACCEPT):
    return util.http("GET", "%s/v2/%s/manifests/%s" % (rw.url, repo, ref), headers={"Accept": accept})


def get_blob(rw, repo, digest):
    return util.http("GET", "%s/v2/%s/blobs/%s" % (rw.url, repo, digest))


def signed_image(upstream, image_factory, keys, repo="team/app", tag="v1"):
    lay = image_factory()
    push_direct(upstream, lay, tag, "%s:%s" % (repo, tag))
    digest = lay.digest(tag)
    sign_direct(upstream, repo, digest, keys.team)
    return lay, digest


# -- blob gating -----------------------------------------------------------------------------
def test_blob_of_unsigned_image_refused_unreferenced_blob(upstream, regwarden, image_factory):
    lay = image_factory()
    push_direct(upstream, lay, "v1", "team/unsigned:v1")
    layer = lay.layer_digests("v1")[0]
    since = regwarden.deny_count()
    m = upstream.mark()
    r = get_blob(regwarden, "team/unsigned", layer)
    assert r.status == 403, r
    body = json.loads(r.body)
    assert body["errors"][0]["code"] == "DENIED"
    assert body["errors"][0]["detail"]["reason"] == "unreferenced-blob"
    lines = [x for x in regwarden.deny_lines(since) if x.get("event") == "deny"]
    assert len(lines) == 1 and lines[0]["reason"] == "unreferenced-blob", lines
    assert lines[0]["image"]["repository"] == "team/unsigned"
    assert lines[0]["image"]["reference"] == layer
    assert lines[0]["rule"] == TEAM
    assert not upstream.requests_for("/blobs/" + layer, since=m), "a gated blob reached the upstream"


def test_blobs_of_allowed_image_served(upstream, regwarden, image_factory, keys):
    lay, digest = signed_image(upstream, image_factory, keys)
    for layer in lay.layer_digests("v1"):
        assert get_blob(regwarden, "team/app", layer).status == 403, "served before any allowed manifest"
    assert get_manifest(regwarden, "team/app", "v1").status == 200
    for layer in lay.layer_digests("v1"):
        r = get_blob(regwarden, "team/app", layer)
        assert r.status == 200 and util.sha256_bytes(r.body) == layer, r
    config = json.loads(lay.manifest_bytes("v1"))["config"]["digest"]
    r = get_blob(regwarden, "team/app", config)
    assert r.status == 200 and util.sha256_bytes(r.body) == config
    # the gate is per repository: the same blob through another repository is not let through
    r = get_blob(regwarden, "team/other", lay.layer_digests("v1")[0])
    assert r.status == 403


def test_blobs_of_index_children_served(upstream, regwarden, index_factory, keys):
    lay = index_factory()
    util.run(["skopeo", "copy", "--all", "--dest-tls-verify=false", lay.ref("v1"),
              "docker://%s/team/multi:v1" % upstream.host])
    digest = lay.digest("v1")
    sign_direct(upstream, "team/multi", digest, keys.team)
    idx = json.loads(lay.manifest_bytes("v1"))
    assert get_manifest(regwarden, "team/multi", "v1").status == 200
    for child in idx["manifests"]:
        r = get_manifest(regwarden, "team/multi", child["digest"], accept=child["mediaType"])
        assert r.status == 200, r
        man = json.loads(r.body)
        for layer in [man["config"]] + man["layers"]:
            b = get_blob(regwarden, "team/multi", layer["digest"])
            assert b.status == 200 and util.sha256_bytes(b.body) == layer["digest"], b


def test_blob_gating_off_and_audit(upstream, registry_factory, regwarden_factory, main_config, image_factory):
    lay = image_factory()
    push_direct(upstream, lay, "v1", "team/unsigned:v1")
    layer = lay.layer_digests("v1")[0]
    cfg = main_config(upstream)
    off = regwarden_factory(dict(cfg, pull=dict(cfg["pull"], gate_blobs=False)))
    assert get_blob(off, "team/unsigned", layer).status == 200
    audit = regwarden_factory(dict(cfg, pull=dict(cfg["pull"], mode="audit")))
    since = audit.deny_count()
    r = get_blob(audit, "team/unsigned", layer)
    assert r.status == 200 and util.sha256_bytes(r.body) == layer
    ev = [x for x in audit.deny_lines(since)]
    assert [(x["event"], x["reason"], x["mode"]) for x in ev] == [("audit-deny", "unreferenced-blob", "audit")]


# -- cache -----------------------------------------------------------------------------------
def test_by_digest_pull_of_verified_manifest_needs_no_upstream(upstream, regwarden, image_factory, keys):
    lay, digest = signed_image(upstream, image_factory, keys)
    r = get_manifest(regwarden, "team/app", digest)
    assert r.status == 200 and util.sha256_bytes(r.body) == digest
    m = upstream.mark()
    for method in ("GET", "HEAD"):
        r = util.http(method, "%s/v2/team/app/manifests/%s" % (regwarden.url, digest),
                      headers={"Accept": CONTAINERD_ACCEPT})
        assert r.status == 200, r
        assert r.header("Docker-Content-Digest") == digest
        assert r.header("Content-Type") == json.loads(lay.manifest_bytes("v1"))["mediaType"]
    assert upstream.requests_for("/manifests/", since=m) == [], "by-digest pull went upstream"
    # a client that does not accept the type is asked for upstream, as it would be directly
    m = upstream.mark()
    r = get_manifest(regwarden, "team/app", digest, accept="application/vnd.docker.distribution.manifest.v2+json")
    assert upstream.requests_for("/manifests/" + digest, since=m), "served a type the client did not accept"


def test_serve_by_digest_can_be_turned_off(upstream, regwarden_factory, main_config, image_factory, keys, workdir):
    lay, digest = signed_image(upstream, image_factory, keys)
    rw = regwarden_factory(main_config(upstream, cache={"path": str(workdir / "c2"), "allow_ttl": "24h",
                                                        "deny_ttl": "30s", "serve_by_digest": False}))
    assert get_manifest(rw, "team/app", digest).status == 200
    m = upstream.mark()
    assert get_manifest(rw, "team/app", digest).status == 200
    assert upstream.requests_for("/manifests/" + digest, since=m), "served from cache although turned off"
    assert not upstream.requests_for(".sig", since=m), "the verdict itself is still cached"


def test_tag_ttl(upstream, regwarden_factory, main_config, image_factory, keys, workdir):
    lay, digest = signed_image(upstream, image_factory, keys)
    rw = regwarden_factory(main_config(upstream, cache={"path": str(workdir / "c3"), "allow_ttl": "24h",
                                                        "deny_ttl": "30s", "tag_ttl": "1h"}))
    assert get_manifest(rw, "team/app", "v1").status == 200
    m = upstream.mark()
    r = get_manifest(rw, "team/app", "v1")
    assert r.status == 200 and util.sha256_bytes(r.body) == digest
    assert not upstream.requests_for("/manifests/", since=m), "tag resolved upstream within tag_ttl"


def test_default_tag_ttl_resolves_every_time(upstream, regwarden, image_factory, keys):
    signed_image(upstream, image_factory, keys)
    assert get_manifest(regwarden, "team/app", "v1").status == 200
    m = upstream.mark()
    assert get_manifest(regwarden, "team/app", "v1").status == 200
    assert upstream.requests_for("/manifests/v1", since=m), "tag_ttl 0 must resolve every tag pull"


def test_concurrent_pulls_coalesce_into_one_signature_fetch(upstream, regwarden, image_factory, keys):
    lay, digest = signed_image(upstream, image_factory, keys)
    tag = sigtool.sig_tag(digest)
    m = upstream.mark()
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as ex:
        rs = list(ex.map(lambda _: get_manifest(regwarden, "team/app", "v1"), range(50)))
    assert [r.status for r in rs] == [200] * 50
    fetched = upstream.requests_for("/manifests/" + tag, since=m, settle=0.5)
    print("signature fetches for 50 concurrent pulls: %d" % len(fetched))
    assert len(fetched) == 1, fetched


def test_cache_stats_and_purge(upstream, regwarden, image_factory, keys):
    lay, digest = signed_image(upstream, image_factory, keys)
    assert get_manifest(regwarden, "team/app", "v1").status == 200
    p = regwarden.cmd("cache", "stats")
    assert p.returncode == 0, p.stderr
    stats = dict(line.split() for line in p.stdout.splitlines())
    assert int(stats["verdicts"]) >= 1
    p = regwarden.cmd("cache", "purge", "--digest", digest)
    assert p.returncode == 0 and "purged" in p.stdout, p
    m = upstream.mark()
    assert get_manifest(regwarden, "team/app", "v1").status == 200
    assert upstream.requests_for(sigtool.sig_tag(digest), since=m), "purged verdict was still used"
    assert regwarden.cmd("cache", "purge", "--digest", "sha256:bad").returncode == 2


def test_full_map_degrades_to_verify_every_time(upstream, regwarden_factory, main_config, image_factory, keys,
                                                 workdir):
    rw = regwarden_factory(main_config(upstream, cache={"path": str(workdir / "tiny"), "allow_ttl": "24h",
                                                        "deny_ttl": "30s", "map_size": "64KiB"}))
    made = [signed_image(upstream, image_factory, keys, repo="team/app%d" % i) for i in range(12)]
    for i, (lay, digest) in enumerate(made):
        r = get_manifest(rw, "team/app%d" % i, "v1")
        assert r.status == 200 and util.sha256_bytes(r.body) == digest, (i, r)
    unsigned = image_factory()
    push_direct(upstream, unsigned, "v1", "team/nosig:v1")
    assert get_manifest(rw, "team/nosig", "v1").status == 403, "a full map must never turn into an allow"
    assert rw.proc.alive()
    assert "not cached" in rw.stderr(), "no log line about the full map"


def test_deny_ttl_expiry_reverifies(upstream, regwarden_factory, main_config, image_factory, keys, workdir):
    rw = regwarden_factory(main_config(upstream, cache={"path": str(workdir / "c4"), "allow_ttl": "24h",
                                                        "deny_ttl": "1s"}))
    lay = image_factory()
    push_direct(upstream, lay, "v1", "team/app:v1")
    assert get_manifest(rw, "team/app", "v1").status == 403
    sign_direct(upstream, "team/app", lay.digest("v1"), keys.team)
    time.sleep(1.2)
    assert get_manifest(rw, "team/app", "v1").status == 200, "an expired deny was reused"


# -- audit mode and overrides ------------------------------------------------------------------
def test_audit_mode_logs_and_allows(upstream, regwarden_factory, main_config, image_factory):
    cfg = main_config(upstream)
    rw = regwarden_factory(dict(cfg, pull=dict(cfg["pull"], mode="audit")))
    lay = image_factory()
    push_direct(upstream, lay, "v1", "team/app:v1")
    since = rw.deny_count()
    r = get_manifest(rw, "team/app", "v1")
    assert r.status == 200 and util.sha256_bytes(r.body) == lay.digest("v1")
    ev = rw.deny_lines(since)
    assert [(x["event"], x["reason"], x["mode"], x["rule"]) for x in ev] == \
        [("audit-deny", "no-signature", "audit", TEAM)]


def test_rule_mode_overrides(upstream, regwarden_factory, main_config, image_factory):
    cfg = main_config(upstream)
    rules = [dict(match="registry.local/team/audited/*", require={"signed_by": ["team"]}, mode="audit"),
             dict(match="registry.local/team/**", require={"signed_by": ["team"]}, mode="enforce")]
    rw = regwarden_factory(dict(cfg, pull={"mode": "audit", "rules": rules}))
    a, b = image_factory(), image_factory()
    push_direct(upstream, a, "v1", "team/audited/app:v1")
    push_direct(upstream, b, "v1", "team/strict:v1")
    assert get_manifest(rw, "team/audited/app", "v1").status == 200
    assert get_manifest(rw, "team/strict", "v1").status == 403
    ev = [(x["event"], x["image"]["repository"]) for x in rw.deny_lines()]
    assert ("audit-deny", "team/audited/app") in ev and ("deny", "team/strict") in ev, ev


def test_exemption_as_allow_rule_first(upstream, regwarden_factory, main_config, image_factory):
    cfg = main_config(upstream)
    rules = [dict(match="registry.local/team/legacy", allow=True)] + cfg["pull"]["rules"]
    rw = regwarden_factory(dict(cfg, pull=dict(cfg["pull"], rules=rules)))
    lay = image_factory()
    push_direct(upstream, lay, "v1", "team/legacy:v1")
    assert get_manifest(rw, "team/legacy", "v1").status == 200


# -- reload ----------------------------------------------------------------------------------
def test_reload_removing_a_key_denies_its_images(upstream, regwarden_factory, main_config, image_factory, keys):
    cfg = main_config(upstream)
    cfg["keys"] = dict(cfg["keys"], other={"file": keys.other.pub_path})
    cfg["pull"] = dict(cfg["pull"], rules=[dict(match=TEAM, require={"signed_by": ["team", "other"]})])
    rw = regwarden_factory(cfg)
    lay = image_factory()
    push_direct(upstream, lay, "v1", "team/app:v1")
    sign_direct(upstream, "team/app", lay.digest("v1"), keys.other)
    assert get_manifest(rw, "team/app", "v1").status == 200
    del rw.config["keys"]["other"]
    rw.config["pull"]["rules"] = [dict(match=TEAM, require={"signed_by": ["team"]})]
    rw.reload()
    r = get_manifest(rw, "team/app", "v1")
    assert r.status == 403, "cached verdict of the old policy reused after reload"
    assert json.loads(r.body)["errors"][0]["detail"]["reason"] == "untrusted-key"


def test_invalid_reload_keeps_the_old_config(upstream, regwarden, image_factory, keys):
    lay, digest = signed_image(upstream, image_factory, keys)
    assert get_manifest(regwarden, "team/app", "v1").status == 200
    with open(regwarden.config_path, "a") as f:
        f.write("\nbogus_key: 1\n")
    regwarden.proc.popen.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    err = regwarden.stderr()
    assert "reload refused" in err and os.path.basename(regwarden.config_path) in err, err[-2000:]
    assert get_manifest(regwarden, "team/app", "v1").status == 200
    assert regwarden.proc.alive()


def test_file_change_reloads_without_signal(upstream, regwarden, image_factory):
    lay = image_factory()
    push_direct(upstream, lay, "v1", "team/app:v1")
    assert get_manifest(regwarden, "team/app", "v1").status == 403
    regwarden.config["pull"]["rules"] = [dict(match=TEAM, allow=True)]
    regwarden.write_config()
    deadline = time.time() + 10
    while time.time() < deadline:
        if get_manifest(regwarden, "team/app", "v1").status == 200:
            break
        time.sleep(0.5)
    else:
        pytest.fail("config change on disk was not picked up")
    assert "reloading" in regwarden.stderr()


# -- several upstreams -----------------------------------------------------------------------
def test_ns_selects_among_upstreams_and_cache_keeps_them_apart(registry_factory, regwarden_factory, main_config,
                                                               image_factory, keys):
    one = registry_factory()
    two = registry_factory(name="other.local")
    cfg = main_config(one)
    cfg["upstreams"] = {"registry.local": one.url, "other.local": two.url}
    cfg["pull"] = {"mode": "enforce", "rules": [dict(match="*/team/**", require={"signed_by": ["team"]})]}
    rw = regwarden_factory(cfg)
    lay = image_factory()
    push_direct(one, lay, "v1", "team/app:v1")
    push_direct(two, lay, "v1", "team/app:v1")
    digest = lay.digest("v1")
    sign_direct(one, "team/app", digest, keys.team)  # signed on one only
    r = util.http("GET", "%s/v2/team/app/manifests/%s?ns=registry.local" % (rw.url, digest),
                  headers={"Accept": CONTAINERD_ACCEPT})
    assert r.status == 200
    m2 = two.mark()
    r = util.http("GET", "%s/v2/team/app/manifests/%s?ns=other.local" % (rw.url, digest),
                  headers={"Accept": CONTAINERD_ACCEPT})
    assert r.status == 403, "one upstream's verdict was used for the other"
    assert two.requests_for("/manifests/", since=m2), "other.local was not asked"
    r = util.http("GET", "%s/v2/team/app/manifests/v1?ns=nowhere.example" % rw.url)
    assert r.status == 403 and json.loads(r.body)["errors"][0]["detail"]["reason"] == "unknown-upstream"


# -- findings of the fresh-user trial ------------------------------------------------------------
def test_verify_refuses_vault_keys_instead_of_guessing(regwarden, workdir, keys):
    cfg = dict(regwarden.config)
    cfg["signer"] = {"vault": {"address": "http://127.0.0.1:1", "key": "frsca",
                               "auth": {"token_file": str(keys.team.pub_path)}}}
    cfg["keys"] = {"team": {"vault_transit": "frsca"}}
    path = workdir / "vault.yaml"
    from lib import regwarden as _rw
    path.write_text(_rw.to_yaml(cfg))
    p = regwarden.cmd("verify", "registry.local/team/app:v1", config=str(path))
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "vault_transit" in p.stderr and "deny" not in p.stdout


def test_serve_without_listen_refuses_to_start(regwarden, workdir):
    from lib import regwarden as _rw
    cfg = dict(regwarden.config)
    cfg.pop("listen")
    path = workdir / "nolisten.yaml"
    path.write_text(_rw.to_yaml(cfg))
    p = util.run([regwarden.bin, "serve", "-c", str(path)], check=False, timeout=20)
    assert p.returncode == 2 and "listen" in p.stderr, (p.returncode, p.stderr[-500:])


def test_upstream_error_deny_names_its_rule(registry_factory, regwarden_factory, main_config):
    up = registry_factory()
    rw = regwarden_factory(main_config(up))
    up.stop()
    r = get_manifest(rw, "library/app", "v1")
    assert r.status == 403, r
    lines = [x for x in rw.deny_lines() if x.get("event") == "deny"]
    assert [(x["reason"], x["rule"]) for x in lines] == [("upstream-error", "registry.local/library/*")]
    assert "no matching rule" not in json.loads(r.body)["errors"][0]["message"]


def test_listener_per_registry_selects_its_upstream(registry_factory, regwarden_factory, main_config,
                                                    image_factory, keys):
    """A listener configured per registry name (listen[].upstream): clients that send no ns=
    (CRI-O, skopeo) reach that upstream; ns= still wins; nothing else is dialed."""
    one = registry_factory()
    two = registry_factory(name="other.local")
    cfg = main_config(one)
    cfg["upstreams"] = {"registry.local": one.url, "other.local": two.url}
    cfg["pull"] = {"mode": "enforce", "rules": [dict(match="*/library/*", allow=True)]}
    p1, p2 = util.free_port(), util.free_port()
    cfg["listen"] = [{"address": "127.0.0.1:%d" % p1},
                     {"address": "127.0.0.1:%d" % p2, "upstream": "other.local"}]
    rw = regwarden_factory(cfg, start=False)
    rw.port = p1  # the harness waits for its listener there
    rw.write_config()
    rw.start()
    a, b = image_factory(), image_factory()
    push_direct(one, a, "v1", "library/app:v1")
    push_direct(two, b, "v1", "library/app:v1")
    r = util.http("GET", "http://127.0.0.1:%d/v2/library/app/manifests/v1" % p1, headers={"Accept": CONTAINERD_ACCEPT})
    assert r.status == 200 and util.sha256_bytes(r.body) == a.digest("v1")
    r = util.http("GET", "http://127.0.0.1:%d/v2/library/app/manifests/v1" % p2, headers={"Accept": CONTAINERD_ACCEPT})
    assert r.status == 200 and util.sha256_bytes(r.body) == b.digest("v1")
    r = util.http("GET", "http://127.0.0.1:%d/v2/library/app/manifests/v1?ns=registry.local" % p2,
                  headers={"Accept": CONTAINERD_ACCEPT})
    assert r.status == 200 and util.sha256_bytes(r.body) == a.digest("v1")


def test_listener_upstream_must_be_configured(regwarden, workdir):
    from lib import regwarden as _rw
    cfg = dict(regwarden.config)
    cfg["listen"] = [{"address": "127.0.0.1:1", "upstream": "nowhere.example"}]
    path = workdir / "badlisten.yaml"
    path.write_text(_rw.to_yaml(cfg))
    p = regwarden.cmd("check", config=str(path))
    assert p.returncode == 2 and "listen.upstream" in p.stderr and "badlisten.yaml:" in p.stderr, p.stderr


@pytest.mark.parametrize("query", ["m%6Funt={d}&from=team/app", "mount={d}&fr%6Fm=team%2Fapp",
                                   "mount={d}&from=team/app&mount={d}"])
def test_encoded_mount_parameters_are_gated_too(query, upstream, regwarden, image_factory):
    """The registry decodes parameter names (Go's url.ParseQuery): an encoded "mount"/"from"
    must meet the same blob gate as the plain one."""
    lay = image_factory()
    push_direct(upstream, lay, "v1", "team/app:v1")  # unsigned: its blobs are gated in team/app
    d = lay.layer_digests("v1")[0]
    assert get_blob(regwarden, "team/app", d).status == 403
    util.http("POST", regwarden.url + "/v2/library/x/blobs/uploads/?" + query.format(d=d), body=b"")
    r = get_blob(regwarden, "library/x", d)
    assert not (r.status == 200 and util.sha256_bytes(r.body) == d), "gated blob mounted into library/x"
