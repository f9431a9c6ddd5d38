# SPDX-License-Identifier: MIT
"""regwarden's own upstream credentials and the Docker token dance (issue 5 item 1, case C01).

The upstream is a docker-registry with `auth: token` whose realm is tests/standins/token_server.py (or
htpasswd Basic). Clients (skopeo, curl, containerd) hold no credential at all: regwarden holds them
(upstreams.<name>.auth), does the dance itself, reuses tokens per scope, never forwards the client's
Authorization and never shows a client the upstream's realm. Nothing secret reaches any log.
"""
import json
import os
import subprocess

import pytest

from lib import images, tokenauth, util
from lib.checks import CONTAINERD_ACCEPT, curl

USER = "rw-robot"
PASSWORD = "s3cret-Pw-for-e2e!"


@pytest.fixture
def token_server(workdir):
    s = tokenauth.TokenServer(workdir / "token", USER, PASSWORD)
    yield s
    s.stop()


@pytest.fixture
def token_upstream(workdir, token_server):
    r = tokenauth.token_registry(workdir, token_server)
    yield r
    r.stop()


def own_creds_config(main_config, up, auth):
    cfg = main_config(up)
    cfg["upstreams"] = {up.name: {"url": up.url, "auth": auth}}
    return cfg


def password_auth(workdir, password=PASSWORD):
    return {"username": USER, "password_file": tokenauth.write_password_file(workdir / "up.pw", password)}


def secrets_absent(rw, secrets):
    """No secret in any regwarden log (stderr, stdout, deny log)."""
    found = []
    for path in (rw.stderr_path, rw.stdout_path, rw.deny_log_path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        for s in secrets:
            if s and s.encode() in data:
                found.append((os.path.basename(path), s[:12] + "..."))
    return found


def push_via(rw, lay, dest):
    return images.skopeo_copy(lay.ref("v1"), "docker://%s/%s" % (rw.host, dest))


def test_token_dance_c01_push_pull_reuse_and_no_secrets(workdir, token_server, token_upstream, main_config,
                                                       regwarden_factory, image_factory, ctr):
    up = token_upstream
    # the upstream really is private: anonymous requests get its challenge
    r = util.http("GET", up.url + "/v2/team/app/manifests/v1")
    assert r.status == 401 and token_server.realm in (r.header("WWW-Authenticate") or ""), r

    rw = regwarden_factory(own_creds_config(main_config, up, password_auth(workdir)))
    lay = image_factory()
    # a signed push through regwarden with no client credential
    p = push_via(rw, lay, "team/app:v1")
    assert p.returncode == 0, p.stderr[-2000:] + util.tail(rw.stderr_path)
    assert up.access()  # reached the upstream

    # C01: curl -sI through regwarden answers without pointing the client at the upstream realm
    c = curl(rw.url + "/v2/team/app/manifests/v1?ns=registry.local", method="HEAD",
             headers={"Accept": CONTAINERD_ACCEPT})
    assert c.status == 200, (c, util.tail(rw.stderr_path))
    assert c.header("Docker-Content-Digest") == lay.digest("v1")
    assert c.header("WWW-Authenticate") is None
    # an unknown repository: the upstream's 401/404 never carries its realm to the client
    c2 = curl(rw.url + "/v2/team/nothere/manifests/v1?ns=registry.local", method="HEAD")
    assert c2.status in (401, 404), c2
    assert token_server.url not in c2.raw_head, c2.raw_head

    # containerd pulls through regwarden with no node credential, several times
    ctr.mirror(rw)
    before = token_server.stats()
    n_pulls = 4
    for i in range(n_pulls):
        p = ctr.pull("registry.local/team/app:v1")
        assert p.returncode == 0, "%s\n--- regwarden\n%s" % (p.stderr[-2000:], util.tail(rw.stderr_path))
        assert ctr.image_digest("registry.local/team/app:v1") == lay.digest("v1")
        ctr.rm("registry.local/team/app:v1")
    after = token_server.stats()

    # only regwarden ever talked to the token server
    uas = after["user_agents"]
    assert uas and all(ua.startswith("regwarden/") for ua in uas), uas
    assert not any("containerd" in ua for ua in uas), uas
    # tokens are reused: one request per scope over the whole test, none for the N pulls
    per_scope = after["per_scope"]
    assert all(n == 1 for n in per_scope.values()), per_scope
    assert per_scope.get("repository:team/app:pull,push") == 1, per_scope
    assert per_scope.get("repository:team/app:pull") == 1, per_scope
    assert after["requests"] - before["requests"] == 0, (before, after)
    print("token requests: %d in all (%s); during %d ctr pulls: %d"
          % (after["requests"], per_scope, n_pulls, after["requests"] - before["requests"]))
    # the registry saw regwarden's Bearer tokens, never a client's header (there was none) and the
    # password never crossed to it
    secrets = [PASSWORD, tokenauth.basic_value(USER, PASSWORD)] + after["tokens"]
    assert secrets_absent(rw, secrets) == []


def test_wrong_password_is_401_and_a_clear_log_line(workdir, token_server, token_upstream, main_config,
                                                   regwarden_factory):
    up = token_upstream
    wrong = "not-the-password"
    rw = regwarden_factory(own_creds_config(main_config, up, password_auth(workdir, wrong)))
    for method in ("HEAD", "GET"):
        c = curl(rw.url + "/v2/team/app/manifests/v1?ns=registry.local", method=method)
        assert c.status in (401, 403), c
        assert c.header("WWW-Authenticate") is None or token_server.url not in c.header("WWW-Authenticate")
        if method == "GET":
            assert json.loads(c.body)["errors"][0]["code"] in ("UNAUTHORIZED", "DENIED"), c.body
    # pass-through routes too (tags list)
    c = curl(rw.url + "/v2/team/app/tags/list")
    assert c.status == 401 and json.loads(c.body)["errors"][0]["code"] == "UNAUTHORIZED", c
    assert token_server.url not in c.raw_head
    log = open(rw.stderr_path, errors="replace").read()
    assert "registry.local" in log and "refused" in log and USER in log, log[-3000:]
    secrets = [wrong, tokenauth.basic_value(USER, wrong)]
    assert secrets_absent(rw, secrets) == []
    # every token request was refused, and they were not one per client request (failures are
    # remembered briefly)
    assert token_server.stats()["tokens"] == []


def test_htpasswd_basic_upstream_with_docker_config(workdir, registry_factory, main_config, regwarden_factory,
                                                   image_factory, ctr):
    up = registry_factory(auth=(USER, PASSWORD))
    dcfg = tokenauth.write_docker_config(workdir / "config.json", up.host, USER, PASSWORD)
    rw = regwarden_factory(own_creds_config(main_config, up, {"docker_config": dcfg}))
    lay = image_factory()
    p = push_via(rw, lay, "team/app:v1")
    assert p.returncode == 0, p.stderr[-2000:] + util.tail(rw.stderr_path)
    c = curl(rw.url + "/v2/team/app/manifests/v1", method="HEAD", headers={"Accept": CONTAINERD_ACCEPT})
    assert c.status == 200 and c.header("Docker-Content-Digest") == lay.digest("v1"), c
    assert c.header("WWW-Authenticate") is None
    ctr.mirror(rw)
    p = ctr.pull("registry.local/team/app:v1")
    assert p.returncode == 0, "%s\n--- regwarden\n%s" % (p.stderr[-2000:], util.tail(rw.stderr_path))
    # every request regwarden sent past the challenge probe carried the credential (no 401)
    refused = [a for a in up.access() if a.path != "/v2/" and a.status == 401]
    assert refused == [], refused
    assert secrets_absent(rw, [PASSWORD, tokenauth.basic_value(USER, PASSWORD)]) == []


def test_htpasswd_wrong_password(workdir, registry_factory, main_config, regwarden_factory):
    up = registry_factory(auth=(USER, PASSWORD))
    rw = regwarden_factory(own_creds_config(main_config, up, password_auth(workdir, "nope-nope")))
    c = curl(rw.url + "/v2/team/app/tags/list")
    assert c.status == 401 and json.loads(c.body)["errors"][0]["code"] == "UNAUTHORIZED", c
    assert c.header("WWW-Authenticate") is None
    log = open(rw.stderr_path, errors="replace").read()
    assert "upstream registry.local refused" in log, log[-2000:]
    assert secrets_absent(rw, ["nope-nope", tokenauth.basic_value(USER, "nope-nope")]) == []


def test_client_authorization_not_forwarded(workdir, token_server, token_upstream, main_config,
                                            regwarden_factory):
    up = token_upstream
    rw = regwarden_factory(own_creds_config(main_config, up, password_auth(workdir)))
    m = up.mark()
    c = curl(rw.url + "/v2/team/app/tags/list", headers={"Authorization": "Bearer client-token-xyz"})
    assert c.status in (200, 404), c  # the repository does not exist yet: 404 NAME_UNKNOWN
    # the upstream got regwarden's token (it accepted it), not the client's bogus one (it would 401)
    assert all(a.status != 401 for a in up.access(since=m) if "/tags/list" in a.path)
    assert secrets_absent(rw, ["client-token-xyz"]) == []


@pytest.mark.parametrize("auth, want", [
    ({"username": USER, "password_file": "missing.pw"}, "password_file: cannot read"),
    ({"username": USER}, "username and password_file are both required"),
    ({"docker_config": "missing.json"}, "docker_config: cannot read"),
    ("sometimes", "expected passthrough"),
])
def test_check_refuses_bad_auth_with_file_line(workdir, rw_bin, auth, want):
    cfg = {"upstreams": {"registry.local": {"url": "http://127.0.0.1:5000", "auth": auth}},
           "pull": {"rules": [{"match": "registry.local/**", "allow": True}]}}
    from lib.regwarden import to_yaml
    path = workdir / "check.yml"
    path.write_text(to_yaml(cfg))
    p = subprocess.run([rw_bin, "check", "-c", str(path)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, (p.stdout, p.stderr)
    out = p.stdout + p.stderr
    assert want in out and "check.yml:" in out, out


def test_check_docker_config_without_host_entry(workdir, rw_bin):
    dcfg = tokenauth.write_docker_config(workdir / "config.json", "other.example:5000", USER, PASSWORD)
    cfg = {"upstreams": {"registry.local": {"url": "http://127.0.0.1:5000", "auth": {"docker_config": dcfg}}},
           "pull": {"rules": [{"match": "registry.local/**", "allow": True}]}}
    from lib.regwarden import to_yaml
    path = workdir / "check.yml"
    path.write_text(to_yaml(cfg))
    p = subprocess.run([rw_bin, "check", "-c", str(path)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "no credential for 127.0.0.1:5000" in p.stdout + p.stderr, p
    assert PASSWORD not in p.stdout + p.stderr


def test_concurrent_requests_share_one_token_request(workdir, token_server, token_upstream, main_config,
                                                     regwarden_factory, image_factory):
    """40 clients at once on a cold regwarden (every worker): one challenge probe, one token per scope."""
    import concurrent.futures
    up = token_upstream
    lay = image_factory()
    images.skopeo_copy(lay.ref("v1"), "docker://%s/library/app:v1" % up.host, dest_creds=(USER, PASSWORD))
    seeded = token_server.stats()["per_scope"]
    rw = regwarden_factory(own_creds_config(main_config, up, password_auth(workdir)))

    def one(i):
        if i % 2:
            return util.http("GET", rw.url + "/v2/library/app/tags/list")
        return util.http("GET" if i % 4 == 0 else "HEAD", rw.url + "/v2/library/app/manifests/v1",
                         headers={"Accept": CONTAINERD_ACCEPT})
    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as ex:
        res = list(ex.map(one, range(40)))
    assert all(r.status == 200 for r in res), [r.status for r in res]
    st = token_server.stats()
    mine = {k: v - seeded.get(k, 0) for k, v in st["per_scope"].items()}
    assert mine.get("repository:library/app:pull") == 1, mine
    # (the harness's readiness GET /v2/ through regwarden made the one probe before the burst)
    probes = [a for a in up.access() if a.path == "/v2/" and a.ua.startswith("regwarden/")]
    assert len(probes) == 1, probes
