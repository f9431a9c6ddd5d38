# SPDX-License-Identifier: MIT
"""regwarden's main job end to end (issue 2): a real docker-registry behind it, skopeo pushes through it
and come out signed, containerd pulls through it as a mirror, unsigned / badly signed images are denied.

Config (lib.regwarden.main_job_config): upstream registry.local -> docker-registry; push
registry.local/team/** sign; pull registry.local/team/** require signed_by [team];
registry.local/library/* allow. Signatures are checked with lib/sigtool.py, an independent
cosign checker (python cryptography), never with regwarden's code.
"""
import json
import os
import platform
import re

import pytest

from lib import checks, images, sigtool, util
from lib.checks import CONTAINERD_ACCEPT, assert_denied_body, assert_deny_line, curl

TEAM_RULE = "registry.local/team/**"
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


# -- helpers ------------------------------------------------------------------------------------
def push_via(rw, layout, tag, dest, **kw):
    """skopeo copy oci:<layout>:<tag> docker://<regwarden>/<dest>."""
    return images.skopeo_copy(layout.ref(tag), "docker://%s/%s" % (rw.host, dest), **kw)


def push_direct(up, layout, tag, dest, **kw):
    """skopeo copy straight to the upstream (regwarden never sees it: no signature is made)."""
    creds = up.auth
    return images.skopeo_copy(layout.ref(tag), "docker://%s/%s" % (up.host, dest), dest_creds=creds, **kw)


def sig_client(up):
    return sigtool.RegClient(up.url, up.auth)


def sign_direct(up, repo, digest, key, **kw):
    return sigtool.attach(sig_client(up), repo, digest, key.private_key(), "registry.local/" + repo, **kw)


def blobs_of(layout, tag):
    return set(layout.layer_digests(tag))


def assert_layout_intact(out_path, want_digest, tag="v1"):
    """Every blob in an OCI layout hashes to its name, and `tag` points at want_digest."""
    out = images.Layout(out_path)
    assert out.digest(tag) == want_digest
    root = os.path.join(out_path, "blobs", "sha256")
    for name in os.listdir(root):
        assert util.sha256_file(os.path.join(root, name)) == "sha256:" + name, name


# -- 1. signed push ---------------------------------------------------------------------------
@pytest.mark.parametrize("signer_fmt", ["sec1", "pkcs8"])
def test_signed_push_is_verifiable_independently(signer_fmt, upstream, regwarden_factory, main_config, keys,
                                                 image_factory):
    pair = keys.team if signer_fmt == "sec1" else keys.team_pkcs8
    cfg = main_config(upstream, keys={"team": {"file": pair.pub_path}}, signer={"file": {"key": pair.priv_path}})
    rw = regwarden_factory(cfg)
    lay = image_factory()
    push_via(rw, lay, "v1", "team/app:v1")

    digest = upstream.manifest_digest("team/app", "v1")
    assert digest == lay.digest("v1"), "upstream holds other bytes than the client pushed"
    # the .sig manifest is on the upstream and verifies with the team key (independent checker)
    assert upstream.get_manifest("team/app", sigtool.sig_tag(digest)).status == 200
    v = sigtool.verify(sig_client(upstream), "team/app", digest, {"team": pair.public_key()})
    assert v.ok, v
    payload = [x.payload for x in v.layers if x.ok][0]
    assert payload["critical"]["type"] == "cosign container image signature"
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest
    ref = payload["critical"]["identity"]["docker-reference"]
    assert ref == "registry.local/team/app" or ref.startswith("registry.local/team/app:"), payload
    # ... and not with another key
    v2 = sigtool.verify(sig_client(upstream), "team/app", digest, {"other": keys.other.public_key()})
    assert not v2.ok and v2.reason == "untrusted-key", v2
    # the signature manifest itself was not signed (pushing .sig tags does not trigger signing)
    sig_digest = util.sha256_bytes(upstream.get_manifest("team/app", sigtool.sig_tag(digest)).body)
    assert upstream.get_manifest("team/app", sigtool.sig_tag(sig_digest)).status == 404
    # an "event":"signed" line names the digest
    signed = [e for e in rw.events("signed") if digest in json.dumps(e)]
    assert len(signed) == 1, "want one signed event for %s, have %s" % (digest, rw.events("signed"))


def test_push_outside_sign_rule_is_not_signed(upstream, regwarden, image_factory):
    lay = image_factory()
    push_via(regwarden, lay, "v1", "library/plain:v1")
    digest = upstream.manifest_digest("library/plain", "v1")
    assert upstream.get_manifest("library/plain", sigtool.sig_tag(digest)).status == 404


# -- 2. signed pull -------------------------------------------------------------------------
@pytest.mark.needs_root
def test_signed_image_pulls_with_ctr_and_skopeo(upstream, regwarden, image_factory, ctr, workdir):
    lay = image_factory()
    push_via(regwarden, lay, "v1", "team/app:v1")
    digest = lay.digest("v1")

    ctr.mirror(regwarden)
    m = upstream.mark()
    p = ctr.pull("registry.local/team/app:v1")
    assert p.returncode == 0, "ctr pull through regwarden failed:\n%s" % p.stderr
    assert ctr.image_digest("registry.local/team/app:v1") == digest
    assert blobs_of(lay, "v1") <= ctr.content()
    # containerd only ever talked to regwarden; the upstream never saw ?ns=
    assert not [a for a in upstream.access(m) if "ns=" in a.query]

    out = os.path.join(str(workdir), "out")
    images.skopeo_copy("docker://%s/team/app:v1" % regwarden.host, "oci:%s:v1" % out)
    assert_layout_intact(out, digest)


# -- 3. unsigned image denied ------------------------------------------------------------------
@pytest.mark.needs_root
def test_unsigned_image_denied_with_contract_body_and_log(upstream, regwarden, image_factory, ctr):
    lay = image_factory()
    push_direct(upstream, lay, "v1", "team/app:v1")
    digest = lay.digest("v1")

    # containerd as the kubelet would: one request per step, regwarden is the only host
    ctr.mirror(regwarden, single=True)
    n0 = regwarden.deny_count()
    m = upstream.mark()
    p = ctr.pull("registry.local/team/app:v1")
    assert p.returncode != 0, "ctr pulled an unsigned image:\n%s" % p.stdout
    assert "403" in p.stderr, p.stderr
    new = regwarden.deny_lines(n0)
    assert len(new) == 1, "want exactly one deny line for the refused pull, got %s" % new
    assert_deny_line(new[0], "no-signature", "team/app", digest=digest, reference="v1", rule=TEAM_RULE,
                     ua_prefix="containerd/")
    # nothing of the image reached containerd; the upstream served no image blob to anyone
    assert ctr.image_digest("registry.local/team/app:v1") is None
    assert not (blobs_of(lay, "v1") | {digest}) & ctr.content()
    fetched = [a for a in upstream.access(m) if any(d in a.path for d in blobs_of(lay, "v1"))]
    assert not fetched, "image blobs were fetched from upstream for a denied pull: %s" % fetched
    relayed = [a for a in upstream.access(m) if a.ua.startswith("containerd/")]
    assert not relayed, "a request of the denied client reached the upstream: %s" % relayed

    # the wire form, with curl
    n1 = regwarden.deny_count()
    r = curl(regwarden.url + "/v2/team/app/manifests/v1", headers={"Accept": CONTAINERD_ACCEPT})
    rid = assert_denied_body(r, "no-signature")
    new = regwarden.deny_lines(n1)
    assert len(new) == 1, new
    assert_deny_line(new[0], "no-signature", "team/app", digest=digest, reference="v1", rule=TEAM_RULE,
                     ua_prefix="curl/")
    assert new[0]["request_id"] == rid
    assert b'"layers"' not in r.body

    # HEAD is refused the same way (containerd's first request)
    h = util.http("HEAD", regwarden.url + "/v2/team/app/manifests/v1", headers={"Accept": CONTAINERD_ACCEPT})
    assert h.status == 403, h
    # by digest, too
    r = curl(regwarden.url + "/v2/team/app/manifests/" + digest, headers={"Accept": CONTAINERD_ACCEPT})
    assert_denied_body(r, "no-signature")
    assert regwarden.deny_lines()[-1]["image"]["reference"] == digest


# -- 4. untrusted key --------------------------------------------------------------------------
def test_signature_by_untrusted_key_denied(upstream, regwarden, image_factory, keys):
    lay = image_factory()
    push_direct(upstream, lay, "v1", "team/app:v1")
    digest = lay.digest("v1")
    sign_direct(upstream, "team/app", digest, keys.other)
    assert sigtool.verify(sig_client(upstream), "team/app", digest, {"other": keys.other.public_key()}).ok

    n0 = regwarden.deny_count()
    r = curl(regwarden.url + "/v2/team/app/manifests/v1", headers={"Accept": CONTAINERD_ACCEPT})
    rid = assert_denied_body(r, "untrusted-key")
    new = regwarden.deny_lines(n0)
    assert len(new) == 1, new
    assert_deny_line(new[0], "untrusted-key", "team/app", digest=digest, reference="v1", rule=TEAM_RULE)
    assert new[0]["request_id"] == rid


# -- 5. tampered payloads ------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["payload-names-other-digest", "payload-wrong-type", "payload-not-json"])
def test_tampered_payload_denied_bad_signature(how, upstream, regwarden, image_factory, keys):
    """Validly signed by the TRUSTED key, but the signed payload does not vouch for this image."""
    lay = image_factory()
    push_direct(upstream, lay, "v1", "team/app:v1")
    digest = lay.digest("v1")
    if how == "payload-names-other-digest":
        other = image_factory().digest("v1")
        payload = sigtool.make_payload("registry.local/team/app", other)
    elif how == "payload-wrong-type":
        payload = sigtool.make_payload("registry.local/team/app", digest).replace(
            b"cosign container image signature", b"cosign container image signaturX")
    else:
        payload = b'{"critical":{"identity":{"docker-reference":"registry.local/team/app"},"image":{"docker-manifest-digest":"%s"' \
                  % digest.encode()
    sign_direct(upstream, "team/app", digest, keys.team, payload=payload)
    assert not sigtool.verify(sig_client(upstream), "team/app", digest, {"team": keys.team.public_key()}).ok

    n0 = regwarden.deny_count()
    r = curl(regwarden.url + "/v2/team/app/manifests/v1", headers={"Accept": CONTAINERD_ACCEPT})
    rid = assert_denied_body(r, "bad-signature")
    new = regwarden.deny_lines(n0)
    assert len(new) == 1, new
    assert_deny_line(new[0], "bad-signature", "team/app", digest=digest, reference="v1", rule=TEAM_RULE)
    assert new[0]["request_id"] == rid


def test_edited_payload_blob_denied(upstream, regwarden, image_factory, keys):
    """The team key signed the right payload, but the stored payload blob was edited afterwards
    (the layer points at the edited bytes). ECDSA then fails for every trusted key, which regwarden
    cannot tell apart from a foreign key: denied, as bad-signature or untrusted-key."""
    lay = image_factory()
    push_direct(upstream, lay, "v1", "team/app:v1")
    digest = lay.digest("v1")
    good = sigtool.make_payload("registry.local/team/app", digest)
    edited = good.replace(b'"optional":null', b'"optional":{"creator":"mallory"}')
    sign_direct(upstream, "team/app", digest, keys.team, payload=good, blob_override=edited)

    n0 = regwarden.deny_count()
    r = curl(regwarden.url + "/v2/team/app/manifests/v1", headers={"Accept": CONTAINERD_ACCEPT})
    assert r.status == 403, r
    reason = r.json()["errors"][0]["detail"]["reason"]
    assert reason in ("bad-signature", "untrusted-key"), r
    assert_denied_body(r, reason)
    new = regwarden.deny_lines(n0)
    assert len(new) == 1 and new[0]["reason"] == reason, new


def test_valid_signature_among_bad_ones_allows(upstream, regwarden, image_factory, keys):
    """cosign semantics: success if at least one layer passes every check."""
    lay = image_factory()
    push_direct(upstream, lay, "v1", "team/app:v1")
    digest = lay.digest("v1")
    sign_direct(upstream, "team/app", digest, keys.other)
    sign_direct(upstream, "team/app", digest, keys.team,
                payload=sigtool.make_payload("registry.local/team/app", "sha256:" + "0" * 64))
    sign_direct(upstream, "team/app", digest, keys.team)
    r = util.http("GET", regwarden.url + "/v2/team/app/manifests/v1", headers={"Accept": CONTAINERD_ACCEPT})
    assert r.status == 200, r
    assert util.sha256_bytes(r.body) == digest


# -- 6. multi-platform index ---------------------------------------------------------------------
@pytest.mark.needs_root
def test_signed_index_pulls_with_ctr(upstream, regwarden, index_factory, ctr, keys):
    lay = index_factory()
    push_via(regwarden, lay, "v1", "team/multi:v1", all_images=True)
    idx_digest = upstream.manifest_digest("team/multi", "v1")
    assert idx_digest == lay.digest("v1")
    assert sigtool.verify(sig_client(upstream), "team/multi", idx_digest, {"team": keys.team.public_key()}).ok

    ctr.mirror(regwarden)
    p = ctr.pull("registry.local/team/multi:v1")
    assert p.returncode == 0, "ctr pull of a signed index failed:\n%s" % p.stderr
    assert ctr.image_digest("registry.local/team/multi:v1") == idx_digest
    assert blobs_of(lay, "v1-" + HOST_ARCH) <= ctr.content()


@pytest.mark.needs_root
def test_platform_child_allowed_through_index_verdict(upstream, regwarden, index_factory, ctr, keys):
    """Only the index is signed (pushed straight upstream, signed with sigtool): the host-platform child that
    containerd fetches next by digest has no signature of its own and passes through the index's verdict."""
    lay = index_factory()
    push_direct(upstream, lay, "v1", "team/multi:v1", all_images=True)
    idx_digest = lay.digest("v1")
    sign_direct(upstream, "team/multi", idx_digest, keys.team)
    child = lay.digest("v1-" + HOST_ARCH)
    assert upstream.get_manifest("team/multi", sigtool.sig_tag(child)).status == 404

    ctr.mirror(regwarden)
    p = ctr.pull("registry.local/team/multi:v1")
    assert p.returncode == 0, "child of an allowed index was refused:\n%s\n%s" % (p.stderr, regwarden.deny_lines())
    assert child in ctr.content()


def test_unsigned_index_child_by_digest_denied(upstream, regwarden, index_factory):
    """No allowed index links it: a bare child manifest by digest is judged on its own (unsigned -> deny)."""
    lay = index_factory()
    push_direct(upstream, lay, "v1", "team/multi:v1", all_images=True)
    child = lay.digest("v1-arm64")
    r = curl(regwarden.url + "/v2/team/multi/manifests/" + child, headers={"Accept": CONTAINERD_ACCEPT})
    assert_denied_body(r, "no-signature")


# -- 7. upstream with htpasswd basic auth ---------------------------------------------------------
@pytest.mark.needs_root
def test_basic_auth_upstream_end_to_end(registry_factory, regwarden_factory, main_config, keys, image_factory,
                                        workdir, ctr):
    creds = ("alice", "s3cret-pw")
    up = registry_factory(auth=creds)
    rw = regwarden_factory(main_config(up))

    # without credentials: the upstream's 401 and its challenge are relayed
    r = curl(rw.url + "/v2/")
    direct = curl(up.url + "/v2/")
    assert r.status == 401, r
    assert r.header("WWW-Authenticate") == direct.header("WWW-Authenticate"), (r, direct)
    lay = image_factory()
    p = images.skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % rw.host, check=False)
    assert p.returncode != 0

    # with credentials: push is signed (regwarden signs with the client's Authorization)
    images.skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % rw.host, dest_creds=creds)
    digest = lay.digest("v1")
    assert up.manifest_digest("team/app", "v1") == digest
    assert sigtool.verify(sig_client(up), "team/app", digest, {"team": keys.team.public_key()}).ok

    # anonymous manifest GET: 401 relayed (not a deny, not an allow)
    r = curl(rw.url + "/v2/team/app/manifests/v1", headers={"Accept": CONTAINERD_ACCEPT})
    assert r.status == 401 and r.header("WWW-Authenticate", "").startswith("Basic"), r

    # pull with credentials: skopeo and containerd
    out = os.path.join(str(workdir), "out")
    images.skopeo_copy("docker://%s/team/app:v1" % rw.host, "oci:%s:v1" % out, src_creds=creds)
    assert_layout_intact(out, digest)
    ctr.mirror(rw)
    p = ctr.containerd.ctr("images", "pull", "--snapshotter", "native", "--hosts-dir", ctr.hosts,
                           "--user", "%s:%s" % creds, "registry.local/team/app:v1", ns=ctr.ns)
    assert p.returncode == 0, p.stderr
    assert ctr.image_digest("registry.local/team/app:v1") == digest

    # invariant 5: credentials never reach regwarden's logs
    import base64
    b64 = base64.b64encode(("%s:%s" % creds).encode()).decode()
    logs = rw.stderr() + open(rw.stdout_path, errors="replace").read()
    if os.path.exists(rw.deny_log_path):
        logs += open(rw.deny_log_path, errors="replace").read()
    assert creds[1] not in logs and b64 not in logs


# -- 8. no rule / allow rule ----------------------------------------------------------------------
@pytest.mark.needs_root
def test_no_rule_denied_and_library_allowed_unsigned(upstream, regwarden, image_factory, ctr):
    lay = image_factory()
    push_direct(upstream, lay, "v1", "other/thing:v1")
    push_direct(upstream, lay, "v1", "library/busybox:v1")
    push_direct(upstream, lay, "v1", "library/nested/deep:v1")
    digest = lay.digest("v1")

    n0 = regwarden.deny_count()
    r = curl(regwarden.url + "/v2/other/thing/manifests/v1", headers={"Accept": CONTAINERD_ACCEPT})
    rid = assert_denied_body(r, "no-rule")
    new = regwarden.deny_lines(n0)
    assert len(new) == 1, new
    assert_deny_line(new[0], "no-rule", "other/thing", reference="v1", rule=None)
    assert new[0]["request_id"] == rid

    # `*` is one path segment: library/nested/deep matches no rule
    r = curl(regwarden.url + "/v2/library/nested/deep/manifests/v1", headers={"Accept": CONTAINERD_ACCEPT})
    assert_denied_body(r, "no-rule")

    r = util.http("GET", regwarden.url + "/v2/library/busybox/manifests/v1", headers={"Accept": CONTAINERD_ACCEPT})
    assert r.status == 200 and util.sha256_bytes(r.body) == digest, r
    ctr.mirror(regwarden)
    p = ctr.pull("registry.local/library/busybox:v1")
    assert p.returncode == 0, p.stderr
    assert ctr.image_digest("registry.local/library/busybox:v1") == digest


# -- 9. verdict cache -------------------------------------------------------------------------------
@pytest.mark.needs_root
def test_cached_verdict_fetches_no_signature_and_survives_restart(upstream, regwarden, image_factory, keys, ctr):
    lay = image_factory()
    push_direct(upstream, lay, "v1", "team/app:v1")
    digest = lay.digest("v1")
    sign_direct(upstream, "team/app", digest, keys.team)
    tag = sigtool.sig_tag(digest)
    get = lambda: util.http("GET", regwarden.url + "/v2/team/app/manifests/v1",  # noqa: E731
                            headers={"Accept": CONTAINERD_ACCEPT})

    m = upstream.mark()
    r = get()
    assert r.status == 200 and util.sha256_bytes(r.body) == digest, r
    assert upstream.requests_for(tag, since=m), "first pull did not verify (no .sig fetched)"

    m = upstream.mark()
    r = get()
    assert r.status == 200 and util.sha256_bytes(r.body) == digest, r
    assert not upstream.requests_for(tag, since=m), "second pull fetched the signature again"

    ctr.mirror(regwarden)
    m = upstream.mark()
    p = ctr.pull("registry.local/team/app:v1")
    assert p.returncode == 0, p.stderr
    assert not upstream.requests_for(tag, since=m), "ctr pull of a cached digest fetched the signature"

    regwarden.restart()
    m = upstream.mark()
    r = get()
    assert r.status == 200 and util.sha256_bytes(r.body) == digest, r
    assert not upstream.requests_for(tag, since=m), "cache did not survive a restart"


# -- 10. commands ----------------------------------------------------------------------------------
def test_verify_command_exit_codes(upstream, regwarden, image_factory, keys):
    signed = image_factory()
    push_via(regwarden, signed, "v1", "team/app:v1")
    unsigned = image_factory()
    push_direct(upstream, unsigned, "v1", "team/uns:v1")

    p = regwarden.cmd("verify", "registry.local/team/app:v1")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "allow" in p.stdout.lower(), p.stdout
    p = regwarden.cmd("verify", "registry.local/team/app@" + signed.digest("v1"))
    assert p.returncode == 0, (p.stdout, p.stderr)

    p = regwarden.cmd("verify", "registry.local/team/uns:v1")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "deny" in p.stdout.lower() and "no-signature" in p.stdout, p.stdout

    for bad in ("nowhere.local/team/app:v1", "registry.local/Team//app:v1", "registry.local/team/app@sha256:xyz"):
        p = regwarden.cmd("verify", bad)
        assert p.returncode == 2, (bad, p.returncode, p.stdout, p.stderr)


def test_check_command(upstream, regwarden, workdir):
    p = regwarden.cmd("check")
    assert p.returncode == 0, (p.stdout, p.stderr)

    good = open(regwarden.config_path).read().splitlines()
    # (a) YAML syntax error on a known line
    bad = list(good)
    i = next(n for n, l in enumerate(bad) if l.startswith("default_upstream:"))
    bad[i] = 'default_upstream: "registry.local": oops'
    path = os.path.join(str(workdir), "bad.yml")
    open(path, "w").write("\n".join(bad) + "\n")
    p = regwarden.cmd("check", config=path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert re.search(r"bad\.yml:%d\b" % (i + 1), p.stdout + p.stderr), (i + 1, p.stdout, p.stderr)

    # (b) a valid YAML document naming an unknown key in a rule
    bad = [l.replace('- "team"', '- "nosuchkey"') for l in good]
    j = next(n for n, l in enumerate(bad) if "nosuchkey" in l)
    path2 = os.path.join(str(workdir), "bad2.yml")
    open(path2, "w").write("\n".join(bad) + "\n")
    p = regwarden.cmd("check", config=path2)
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = {int(x) for x in re.findall(r"bad2\.yml:(\d+)", p.stdout + p.stderr)}
    assert lines & {j, j + 1}, ("want bad2.yml:%d (signed_by) or :%d (the key)" % (j, j + 1), p.stdout, p.stderr)


def test_version_command(rw_bin):
    p = util.run([rw_bin, "version"], check=False)
    assert p.returncode == 0, p.stderr
    assert re.search(r"\d+\.\d+\.\d+", p.stdout), p.stdout


def test_verdict_names_its_evidence(upstream, regwarden, image_factory):
    """Issue 7 item 5: the cached verdict records which signature blob made it; `verify` shows it,
    fresh and from the cache, and it is the payload layer of the upstream's .sig manifest."""
    img = image_factory()
    push_via(regwarden, img, "v1", "team/ev:v1")
    digest = img.digest("v1")
    r = upstream.get_manifest("team/ev", "sha256-%s.sig" % digest.split(":", 1)[1])
    assert r.status == 200, r
    layers = [l["digest"] for l in r.json()["layers"]]
    assert len(layers) == 1, layers

    first = regwarden.cmd("verify", "registry.local/team/ev@" + digest)
    assert first.returncode == 0, (first.stdout, first.stderr)
    assert re.search(r" evidence=%s[: ]" % layers[0], first.stdout), first.stdout
    again = regwarden.cmd("verify", "registry.local/team/ev@" + digest)
    assert again.returncode == 0 and "(cached)" in again.stdout, again.stdout
    assert re.search(r" evidence=%s[: ]" % layers[0], again.stdout), again.stdout

    unsigned = image_factory()
    push_direct(upstream, unsigned, "v1", "team/ev2:v1")
    p = regwarden.cmd("verify", "registry.local/team/ev2:v1")
    assert p.returncode == 1 and "evidence=" not in p.stdout, p.stdout
