# SPDX-License-Identifier: MIT
"""Issue 4: signing through Vault transit, logged in with a SPIRE JWT-SVID (stand-ins in tests/standins).

Every fault of the issue's list is a test here: Vault down / slow / 5xx during a push (503 +
Retry-After + OCI body, nothing half-written, a retry signs the same digest), token expiry mid-run,
SPIRE absent at start / restarting / expired or invalid SVID, 403 role/audience mismatch without a
retry storm, and no secret in any log. Signatures are checked by the independent sigtool with the
public key read from the Vault stand-in.
"""
import base64
import json
import os
import shutil
import signal
import tempfile
import threading
import time

import pytest

from lib import sigtool, util
from lib.sigtool import RegClient
from casekit import fake, fake_upstream  # noqa: F401 (fake is a fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STANDINS = os.path.join(ROOT, "tests", "standins")
PY = "/usr/bin/python3"
SUBJECT = "spiffe://example.org/ns/regwarden/sa/regwarden"


class IdStack:
    """spire_agent.py + vault.py under one directory."""

    def __init__(self, d, token_ttl=3600, svid_ttl=60, no_renew=False, key_type="ecdsa-p256"):
        self.d = str(d)
        os.makedirs(self.d, exist_ok=True)
        # sun_path holds 108 bytes: parametrized test directories are longer
        self.sockdir = tempfile.mkdtemp(prefix="rwid-", dir="/tmp")
        self.sock = os.path.join(self.sockdir, "agent.sock")
        self.control = os.path.join(self.d, "agent-control.json")
        self.calls = os.path.join(self.d, "agent-calls.jsonl")
        self.svid_ttl = svid_ttl
        self.set_agent({"mode": "ok", "ttl": svid_ttl})
        self.agent = None
        self.vault_port = util.free_port()
        self.vault_url = "http://127.0.0.1:%d" % self.vault_port
        self.key_type = key_type
        self.token_ttl = token_ttl
        self.no_renew = no_renew
        self.vault = None

    def set_agent(self, ctl):
        with open(self.control, "w") as f:
            json.dump(ctl, f)

    def start_agent(self):
        self.agent = util.Proc([PY, os.path.join(STANDINS, "spire_agent.py"), "--socket", self.sock,
                                "--key", os.path.join(self.d, "spire.key"),
                                "--pub", os.path.join(self.d, "spire.pub"),
                                "--jwks", os.path.join(self.d, "jwks.json"),
                                "--spiffe-id", SUBJECT, "--ttl", str(self.svid_ttl),
                                "--control", self.control, "--calls", self.calls],
                               os.path.join(self.d, "agent.stderr")).start()
        util.wait_until(lambda: os.path.exists(self.sock), timeout=15, what="agent socket")
        return self

    def stop_agent(self):
        if self.agent is not None:
            self.agent.stop(signal.SIGTERM, timeout=10)
            self.agent = None

    def start_vault(self):
        if not os.path.exists(os.path.join(self.d, "spire.pub")):
            raise AssertionError("start the agent first (its key is Vault's JWT key)")
        args = [PY, os.path.join(STANDINS, "vault.py"), "--listen", "127.0.0.1:%d" % self.vault_port,
                "--jwt-pubkey", os.path.join(self.d, "spire.pub"), "--subject", SUBJECT,
                "--token-ttl", str(self.token_ttl), "--transit-key", "transit/frsca:" + self.key_type]
        if self.no_renew:
            args.append("--no-renew")
        self.vault = util.Proc(args, os.path.join(self.d, "vault.stderr")).start()
        util.wait_until(lambda: util.http("GET", self.vault_url + "/_stats", timeout=2).status == 200,
                        timeout=15, what="vault stand-in")
        return self

    def stop(self):
        self.stop_agent()
        shutil.rmtree(self.sockdir, ignore_errors=True)
        if self.vault is not None:
            self.vault.stop(signal.SIGTERM, timeout=10)
            self.vault = None

    def vctl(self, path, body=None):
        r = util.http("POST" if body is not None else "GET", self.vault_url + path,
                      headers={"Content-Type": "application/json"},
                      body=json.dumps(body).encode() if body is not None else None, timeout=10)
        return json.loads(r.body or b"{}")

    def fault(self, mode, slow_s=15):
        return self.vctl("/_fault", {"mode": mode, "slow_s": slow_s})

    def stats(self):
        return self.vctl("/_stats")

    def vault_api(self, method, path, body=None):
        return util.http(method, self.vault_url + path, headers={"X-Vault-Token": "root"},
                         body=json.dumps(body).encode() if body is not None else None, timeout=10)

    def public_keys(self):
        """{version: public key object} read from the stand-in (GET /v1/transit/keys/frsca)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
        data = json.loads(self.vault_api("GET", "/v1/transit/keys/frsca").body)["data"]
        out = {}
        for v, k in data["keys"].items():
            pk = k["public_key"]
            if pk.startswith("-----BEGIN"):
                out[int(v)] = serialization.load_pem_public_key(pk.encode())
            else:
                out[int(v)] = ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(pk))
        return out

    def issued_svids(self):
        out = []
        try:
            with open(self.calls) as f:
                for line in f:
                    rec = json.loads(line)
                    if "issued" in rec:
                        out.append(rec["issued"])
        except FileNotFoundError:
            pass
        return out


@pytest.fixture
def idstack(workdir):
    made = []

    def make(**kw):
        s = IdStack(workdir / ("id-%d" % len(made)), **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


def vault_config(upstream, stack, audience="vault", role="regwarden", auth=None):
    name = upstream.name
    return {
        "upstreams": {name: upstream.url},
        "default_upstream": name,
        "keys": {"frsca": {"vault_transit": "frsca"}},
        "signer": {"vault": {"address": stack.vault_url, "mount": "transit", "key": "frsca",
                             "auth": auth or {"jwt": {"role": role, "mount": "jwt",
                                                      "audience": audience}}}},
        "spire": {"socket": "unix://" + stack.sock},
        "push": [{"match": "%s/team/**" % name, "sign": True}],
        "pull": {"mode": "enforce",
                 "rules": [{"match": "%s/team/**" % name, "require": {"signed_by": ["frsca"]}}]},
    }


def readyz(rw):
    r = util.http("GET", rw.admin_url + "/readyz", timeout=5)
    return r.status, r.body.decode(errors="replace")


def wait_ready(rw, want=True, timeout=20):
    return util.wait_until(lambda: (readyz(rw)[0] == 200) == want, timeout=timeout,
                           what="readyz %s" % want)


def make_image(tag_seed):
    """A tiny OCI image (config + one layer) as (blobs, manifest bytes)."""
    layer = os.urandom(256)
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "seed": tag_seed,
                      "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    man = {"schemaVersion": 2, "mediaType": sigtool.OCI_MANIFEST,
           "config": {"mediaType": sigtool.OCI_CONFIG, "digest": util.sha256_bytes(cfg), "size": len(cfg)},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                       "digest": util.sha256_bytes(layer), "size": len(layer)}]}
    return [cfg, layer], json.dumps(man).encode()


def upload(rw, repo, blobs):
    c = RegClient(rw.url)
    for b in blobs:
        c.put_blob(repo, b)


def put_manifest(rw, repo, tag, body, timeout=60):
    return util.http("PUT", "%s/v2/%s/manifests/%s" % (rw.url, repo, tag), body=body,
                     headers={"Content-Type": sigtool.OCI_MANIFEST}, timeout=timeout)


def digest_of(body):
    return util.sha256_bytes(body)


def assert_sig_absent(upstream, repo, digest):
    r = RegClient(upstream.url).get_manifest(repo, sigtool.sig_tag(digest))
    assert r.status == 404, "a signature manifest exists after a failed signing: %r" % r


def assert_verifies(upstream, stack, repo, digest, version=None):
    keys = stack.public_keys()
    v = sigtool.verify(RegClient(upstream.url), repo, digest,
                       {"v%d" % n: k for n, k in keys.items() if version is None or n == version})
    assert v.ok, "independent check failed: %s %r" % (v.reason, [(x.digest, x.problem) for x in v.layers])
    return v


def signed_events(rw, digest):
    return [e for e in rw.events("signed") if e.get("image", {}).get("digest", e.get("digest")) == digest
            or digest in json.dumps(e)]


@pytest.fixture
def vstack(idstack):
    return idstack().start_agent().start_vault()


@pytest.fixture
def vrw(vstack, upstream, regwarden_factory):
    rw = regwarden_factory(vault_config(upstream, vstack))
    wait_ready(rw)
    return rw


# -- the happy path -------------------------------------------------------------------------
def test_vault_signed_push_verifies_independently(vstack, vrw, upstream):
    blobs, man = make_image("happy")
    upload(vrw, "team/app", blobs)
    t0 = time.monotonic()
    r = put_manifest(vrw, "team/app", "v1", man)
    dt = time.monotonic() - t0
    assert r.status == 201, r
    d = digest_of(man)
    v = assert_verifies(upstream, vstack, "team/app", d)
    ann = [l for l in v.manifest["layers"]]
    assert any((l.get("annotations") or {}).get("dev.regwarden/key-version") == "vault:v1" for l in ann)
    ev = signed_events(vrw, d)
    assert ev and ev[-1].get("key_version") == "vault:v1", ev
    assert "version=vault:v1" in vrw.stderr()
    # pull through regwarden: verified with the key versions read from Vault
    g = util.http("GET", "%s/v2/team/app/manifests/v1" % vrw.url,
                  headers={"Accept": sigtool.OCI_MANIFEST})
    assert g.status == 200, g
    st = vstack.stats()
    assert st.get("login", 0) == 1 and st.get("sign", 0) == 1, st
    print("push with Vault signing: %.1f ms" % (dt * 1000))


def test_missing_security_header_is_refused_by_the_agent_standin(vstack):
    import grpc
    ch = grpc.insecure_channel("unix://" + vstack.sock)
    call = ch.unary_unary("/SpiffeWorkloadAPI/FetchJWTSVID")
    with pytest.raises(grpc.RpcError) as e:
        call(b"\x0a\x05vault", timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    ok = call(b"\x0a\x05vault", timeout=5, metadata=(("workload.spiffe.io", "true"),))
    assert SUBJECT.encode() in ok


# -- Vault faults during a push ------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["down", "slow", "5xx"])
def test_vault_fault_during_push_503_then_retry_signs_same_digest(vstack, vrw, upstream, mode):
    blobs, man = make_image("fault-" + mode)
    upload(vrw, "team/app", blobs)
    d = digest_of(man)
    vstack.fault(mode, slow_s=13)
    t0 = time.monotonic()
    r = put_manifest(vrw, "team/app", "v1", man, timeout=60)
    dt = time.monotonic() - t0
    vstack.fault("ok")
    assert r.status == 503, r
    assert r.header("Retry-After") == "5", r.headers
    body = json.loads(r.body)
    assert body["errors"][0]["code"] == "UNAVAILABLE" and "retry" in body["errors"][0]["message"]
    if mode == "slow":
        assert 9 <= dt <= 13, "the Vault timeout (10 s) should cut the slow call, took %.1fs" % dt
    assert_sig_absent(upstream, "team/app", d)
    # the client retries after Vault is back: same digest, signed
    r = put_manifest(vrw, "team/app", "v1", man)
    assert r.status == 201, r
    assert_verifies(upstream, vstack, "team/app", d)


# -- tokens -------------------------------------------------------------------------------------
def test_token_revoked_mid_run_next_push_logs_in_again(vstack, vrw, upstream):
    blobs, man = make_image("revoke-1")
    upload(vrw, "team/app", blobs)
    assert put_manifest(vrw, "team/app", "a", man).status == 201
    logins = vstack.stats().get("login", 0)
    vstack.vctl("/_revoke", {})
    blobs, man = make_image("revoke-2")
    upload(vrw, "team/app", blobs)
    r = put_manifest(vrw, "team/app", "b", man)
    assert r.status == 201, r
    assert vstack.stats().get("login", 0) == logins + 1
    assert_verifies(upstream, vstack, "team/app", digest_of(man))


def test_token_expiry_without_renewal_is_transparent(idstack, upstream, regwarden_factory):
    st = idstack(token_ttl=3, no_renew=True).start_agent().start_vault()
    rw = regwarden_factory(vault_config(upstream, st))
    wait_ready(rw)
    time.sleep(3.5)  # the first token has expired (renewal refused)
    blobs, man = make_image("expiry")
    upload(rw, "team/app", blobs)
    r = put_manifest(rw, "team/app", "v1", man)
    assert r.status == 201, r
    assert st.stats().get("login", 0) >= 2


def test_token_file_auth(idstack, upstream, regwarden_factory, workdir):
    st = idstack().start_agent().start_vault()
    tf = workdir / "vault-token"
    tf.write_text("root\n")
    cfg = vault_config(upstream, st, auth={"token_file": str(tf)})
    del cfg["spire"]
    rw = regwarden_factory(cfg)
    wait_ready(rw)
    blobs, man = make_image("tokenfile")
    upload(rw, "team/app", blobs)
    assert put_manifest(rw, "team/app", "v1", man).status == 201
    assert_verifies(upstream, st, "team/app", digest_of(man))


# -- 403: role / audience mismatch ----------------------------------------------------------------
def test_audience_mismatch_clear_error_no_retry_storm(vstack, upstream, regwarden_factory):
    rw = regwarden_factory(vault_config(upstream, vstack, audience="not-vault"))
    time.sleep(8)
    code, why = readyz(rw)
    assert code == 503
    assert "regwarden" in why and "not-vault" in why, why
    err = rw.stderr()
    assert "role 'regwarden'" in err and "audience 'not-vault'" in err, err[-2000:]
    logins = vstack.stats().get("login", 0)
    assert 1 <= logins <= 3, "login attempts in 8 s: %d (backoff expected)" % logins
    blobs, man = make_image("mismatch")
    upload(rw, "team/app", blobs)
    for _ in range(5):
        r = put_manifest(rw, "team/app", "v1", man)
        assert r.status == 503 and r.header("Retry-After") == "5", r
    assert vstack.stats().get("login", 0) <= logins + 1, "pushes must not hammer Vault's login"


# -- SPIRE faults -----------------------------------------------------------------------------------
def test_spire_absent_at_start_then_recovers(idstack, upstream, regwarden_factory):
    st = idstack()
    st.start_agent()
    st.start_vault()
    st.stop_agent()
    rw = regwarden_factory(vault_config(upstream, st))
    time.sleep(1.5)
    code, why = readyz(rw)
    assert code == 503 and "SVID" in why, why
    assert "SPIRE agent at unix://%s" % st.sock in rw.stderr()
    st.start_agent()
    wait_ready(rw, timeout=15)
    blobs, man = make_image("spire-late")
    upload(rw, "team/app", blobs)
    assert put_manifest(rw, "team/app", "v1", man).status == 201


def test_spire_restart_svid_expiry_readiness(idstack, upstream, regwarden_factory):
    st = idstack(svid_ttl=4).start_agent().start_vault()
    rw = regwarden_factory(vault_config(upstream, st))
    wait_ready(rw)
    st.stop_agent()
    wait_ready(rw, want=False, timeout=10)  # the SVID expired and the agent is gone
    st.start_agent()
    wait_ready(rw, timeout=15)


@pytest.mark.parametrize("mode,text", [("expired", "expired JWT-SVID"),
                                       ("invalid", "invalid JWT-SVID")])
def test_spire_bad_svid_not_ready_then_recovers(idstack, upstream, regwarden_factory, mode, text):
    st = idstack().start_agent().start_vault()
    st.set_agent({"mode": mode})
    rw = regwarden_factory(vault_config(upstream, st))
    time.sleep(2)
    code, why = readyz(rw)
    assert code == 503, why
    assert text in rw.stderr(), rw.stderr()[-2000:]
    st.set_agent({"mode": "ok", "ttl": 60})
    wait_ready(rw, timeout=15)


def test_spire_svid_with_bad_signature_vault_refuses(idstack, upstream, regwarden_factory):
    st = idstack().start_agent().start_vault()
    st.set_agent({"mode": "badsig"})
    rw = regwarden_factory(vault_config(upstream, st))
    time.sleep(2)
    code, why = readyz(rw)
    assert code == 503 and "refused login" in why, why


# -- rotation -----------------------------------------------------------------------------------------
def test_rotation_old_images_verify_new_pushes_use_v2(vstack, vrw, upstream):
    b1, m1 = make_image("rot-1")
    upload(vrw, "team/app", b1)
    assert put_manifest(vrw, "team/app", "one", m1).status == 201
    assert vstack.vault_api("POST", "/v1/transit/keys/frsca/rotate").status == 204
    vrw.reload()  # SIGHUP refreshes the key versions
    util.wait_until(lambda: "versions 1..2 known" in vrw.stderr(), timeout=10, what="v2 known")
    b2, m2 = make_image("rot-2")
    upload(vrw, "team/app", b2)
    assert put_manifest(vrw, "team/app", "two", m2).status == 201
    assert_verifies(upstream, vstack, "team/app", digest_of(m1), version=1)
    assert_verifies(upstream, vstack, "team/app", digest_of(m2), version=2)
    assert signed_events(vrw, digest_of(m2))[-1]["key_version"] == "vault:v2"
    for tag in ("one", "two"):
        g = util.http("GET", "%s/v2/team/app/manifests/%s" % (vrw.url, tag),
                      headers={"Accept": sigtool.OCI_MANIFEST})
        assert g.status == 200, (tag, g)
    # v1 retired (min_decryption_version 2): the cached allow for "one" must not survive
    assert vstack.vault_api("POST", "/v1/transit/keys/frsca/config",
                            {"min_decryption_version": 2}).status == 204
    vrw.reload()
    util.wait_until(lambda: "versions 2..2 known" in vrw.stderr(), timeout=10, what="v1 gone")
    g = util.http("GET", "%s/v2/team/app/manifests/one" % vrw.url, headers={"Accept": sigtool.OCI_MANIFEST})
    assert g.status == 403, g
    g = util.http("GET", "%s/v2/team/app/manifests/two" % vrw.url, headers={"Accept": sigtool.OCI_MANIFEST})
    assert g.status == 200, g


@pytest.mark.parametrize("key_type", ["ed25519", "rsa-2048"])
def test_other_key_types_verify(idstack, upstream, regwarden_factory, key_type):
    st = idstack(key_type=key_type).start_agent().start_vault()
    rw = regwarden_factory(vault_config(upstream, st))
    wait_ready(rw)
    util.wait_until(lambda: "versions 1..1 known" in rw.stderr(), timeout=10, what="keys known")
    blobs, man = make_image("type-" + key_type)
    upload(rw, "team/app", blobs)
    assert put_manifest(rw, "team/app", "v1", man).status == 201
    d = digest_of(man)
    # independent check (RSA: PKCS#1 v1.5, ed25519: pure) with Vault's public key
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    pk = st.public_keys()[1]
    c = RegClient(upstream.url)
    man_sig = json.loads(c.get_manifest("team/app", sigtool.sig_tag(d)).body)
    layer = man_sig["layers"][-1]
    payload = c.get_blob("team/app", layer["digest"]).body
    sig = base64.b64decode(layer["annotations"][sigtool.SIG_ANNOTATION])
    if key_type == "ed25519":
        pk.verify(sig, payload)
    else:
        pk.verify(sig, payload, padding.PKCS1v15(), hashes.SHA256())
    g = util.http("GET", "%s/v2/team/app/manifests/v1" % rw.url, headers={"Accept": sigtool.OCI_MANIFEST})
    assert g.status == 200, g


# -- secrets --------------------------------------------------------------------------------------------
def test_no_secret_in_any_log(vstack, vrw, upstream):
    blobs, man = make_image("secrets")
    upload(vrw, "team/app", blobs)
    assert put_manifest(vrw, "team/app", "v1", man).status == 201
    vstack.vctl("/_revoke", {})
    blobs, man = make_image("secrets-2")
    upload(vrw, "team/app", blobs)
    assert put_manifest(vrw, "team/app", "v2", man).status == 201
    util.http("GET", "%s/v2/team/app/manifests/nope" % vrw.url)  # a deny line too
    tokens = vstack.vctl("/_tokens")["tokens"]
    svids = vstack.issued_svids()
    assert tokens and svids
    secrets_ = set(tokens) | set(svids) | {s.split(".")[2] for s in svids}
    secrets_ |= {"X-Vault-Token: " + t for t in tokens}
    text = ""
    for p in (vrw.stderr_path, vrw.stdout_path, vrw.deny_log_path):
        try:
            with open(p, errors="replace") as f:
                text += f.read()
        except FileNotFoundError:
            pass
    assert text
    for s in secrets_:
        assert s not in text, "a secret reached a log"


def test_verdict_reached_while_key_versions_change_is_not_cached(vstack, fake, regwarden_factory):
    """Red-team 3: an evaluation that started under one set of Vault key versions and finished
    after a reload changed them (a rotation here; a retired version is the case that matters) must
    not be cached under the new set: the next pull verifies again."""
    rw = regwarden_factory(vault_config(fake_upstream(fake), vstack))
    wait_ready(rw)
    blobs, man = make_image("race")
    upload(rw, "team/app", blobs)
    assert put_manifest(rw, "team/app", "v1", man).status == 201
    sig_path = "/v2/team/app/manifests/" + sigtool.sig_tag(digest_of(man))

    def sig_gets():
        return len([r for r in fake.requests if r["method"] == "GET" and r["path"] == sig_path])

    base = sig_gets()  # the push read the .sig tag to append to it
    fake.set_faults(slow_sig=2.0)
    out = {}
    url = "%s/v2/team/app/manifests/%s" % (rw.url, digest_of(man))
    t = threading.Thread(target=lambda: out.update(r=util.http("GET", url, headers={"Accept": sigtool.OCI_MANIFEST})))
    t.start()
    util.wait_until(lambda: sig_gets() == base + 1, timeout=10, what="the evaluation is waiting on .sig")
    assert vstack.vault_api("POST", "/v1/transit/keys/frsca/rotate").status == 204
    rw.reload()
    util.wait_until(lambda: "versions 1..2 known" in rw.stderr(), timeout=10, what="v2 known")
    t.join(20)
    assert out["r"].status == 200, out["r"]
    fake.set_faults(slow_sig=0.0)
    r = util.http("GET", url, headers={"Accept": sigtool.OCI_MANIFEST})
    assert r.status == 200, r
    assert sig_gets() == base + 2, "a verdict reached across a key-version change was served from the cache"
    r = util.http("GET", url, headers={"Accept": sigtool.OCI_MANIFEST})
    assert r.status == 200 and sig_gets() == base + 2, "a verdict reached under stable keys was not cached"
