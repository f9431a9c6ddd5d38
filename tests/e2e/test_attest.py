# SPDX-License-Identifier: MIT
"""Attestations (DESIGN.md: push rule `attest: true`, pull `require.attestations`, deny reason
`missing-attestation`, invariant 3).

- A push through regwarden under `attest: true` leaves `sha256-<hex>.att` upstream: a DSSE
  envelope layer (cosign's .att layout, PROTOCOLS.md §5.5) that an INDEPENDENT checker written
  here (python cryptography, PAE from the DSSE spec, ECDSA P-256) verifies with the team key; its
  in-toto Statement v1 binds the pushed digest and has predicateType SLSA provenance v1.
- A pull rule requiring the attestation: an image pushed through regwarden is served; an image
  signed (sigtool) but not attested is refused 403 missing-attestation with a deny line; an
  attestation (made here, independently) whose subject is another digest is refused; the same
  independently made attestation with the right subject is accepted.
"""
import base64
import hashlib
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from casekit import fake, push_direct, rw_client, skopeo_copy, wait_deny  # noqa: F401 (fixture)
from lib import sigtool, util
from test_identity_vault import idstack  # noqa: F401 (fixture)

DSSE_MT = "application/vnd.dsse.envelope.v1+json"
INTOTO = "application/vnd.in-toto+json"
SLSA1 = "https://slsa.dev/provenance/v1"
DEFAULT_BUILDER = "https://regwarden.dev/builder"
DEFAULT_BUILD_TYPE = "https://regwarden.dev/push/v1"


def att_tag(digest):
    alg, _, hexpart = digest.partition(":")
    return "%s-%s.att" % (alg, hexpart)


# -- the independent checker -------------------------------------------------------------
def pae(payload_type, body):
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def b64any(s):
    s = s.replace("-", "+").replace("_", "/")
    return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)


def ecdsa_ok(public_key, msg, sig):
    candidates = [sig]
    if len(sig) == 64:  # raw r||s
        candidates.append(encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                               int.from_bytes(sig[32:], "big")))
    for der in candidates:
        try:
            public_key.verify(der, msg, ec.ECDSA(hashes.SHA256()))
            return True
        except (InvalidSignature, ValueError):
            pass
    return False


def check_attestations(client, repo, digest, public_key, predicate_type=SLSA1):
    """Returns (list of verified statements, manifest). Raises AssertionError on shape errors."""
    r = client.get_manifest(repo, att_tag(digest))
    assert r.status == 200, "no %s upstream: %r" % (att_tag(digest), r)
    man = json.loads(r.body)
    assert man["schemaVersion"] == 2 and man["layers"], man
    good = []
    for layer in man["layers"]:
        assert layer["mediaType"] == DSSE_MT, layer
        ann = layer.get("annotations") or {}
        assert ann.get("predicateType") == predicate_type, layer
        assert ann.get("dev.cosignproject.cosign/signature") == "", layer
        br = client.get_blob(repo, layer["digest"])
        assert br.status == 200, br
        assert "sha256:" + hashlib.sha256(br.body).hexdigest() == layer["digest"]
        assert layer["size"] == len(br.body)
        env = json.loads(br.body)
        assert list(env.keys()) == ["payloadType", "payload", "signatures"], env.keys()
        assert env["payloadType"] == INTOTO
        body = b64any(env["payload"])
        if not any(ecdsa_ok(public_key, pae(env["payloadType"], body), b64any(s["sig"]))
                   for s in env["signatures"]):
            continue
        st = json.loads(body)
        if (st.get("_type") == "https://in-toto.io/Statement/v1"
                and st.get("predicateType") == predicate_type
                and any((s.get("digest") or {}).get("sha256") == digest.split(":", 1)[1]
                        for s in st.get("subject", []))):
            good.append(st)
    return good, man


def attest_direct(client, repo, digest, private_key, subject_digest):
    """An attestation made here (not by regwarden), stored straight on the upstream."""
    st = {"_type": "https://in-toto.io/Statement/v1",
          "subject": [{"name": "registry.local/" + repo, "digest": {"sha256": subject_digest.split(":", 1)[1]}}],
          "predicateType": SLSA1,
          "predicate": {"buildDefinition": {"buildType": "https://example.com/test/v1",
                                            "externalParameters": {}},
                        "runDetails": {"builder": {"id": "https://example.com/test-builder"}}}}
    body = json.dumps(st, separators=(",", ":")).encode()
    sig = private_key.sign(pae(INTOTO, body), ec.ECDSA(hashes.SHA256()))
    env = json.dumps({"payloadType": INTOTO, "payload": base64.b64encode(body).decode(),
                      "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}]},
                     separators=(",", ":")).encode()
    ld = client.put_blob(repo, env)
    layer = {"mediaType": DSSE_MT, "size": len(env), "digest": ld,
             "annotations": {"predicateType": SLSA1, "dev.cosignproject.cosign/signature": ""}}
    config = json.dumps({"architecture": "", "os": "", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [ld]}}, separators=(",", ":")).encode()
    cd = client.put_blob(repo, config)
    man = {"schemaVersion": 2, "mediaType": sigtool.OCI_MANIFEST,
           "config": {"mediaType": sigtool.OCI_CONFIG, "size": len(config), "digest": cd},
           "layers": [layer]}
    client.put_manifest(repo, att_tag(digest), json.dumps(man, separators=(",", ":")).encode())


# -- config -----------------------------------------------------------------------------------
def attest_config(main_config, upstream):
    cfg = main_config(upstream)
    cfg["push"] = [{"match": "%s/team/**" % upstream.name, "sign": True, "attest": True}]
    cfg["pull"] = {"mode": "enforce",
                   "rules": [{"match": "%s/team/**" % upstream.name,
                              "require": {"signed_by": ["team"], "attestations": [SLSA1]}},
                             {"match": "%s/library/*" % upstream.name, "allow": True}]}
    return cfg


def push_through(rw, lay, repo):
    p = skopeo_copy(lay.ref("v1"), "docker://%s/%s:v1" % (rw.host, repo), check=False)
    assert p.returncode == 0, "push through regwarden failed:\n%s\n--- regwarden\n%s" % (
        p.stderr[-2000:], util.tail(rw.stderr_path))
    return lay.digest("v1")


# -- tests ------------------------------------------------------------------------------------
def test_push_with_attest_stores_a_verifiable_att(upstream, main_config, regwarden_factory, image_factory,
                                                   keys):
    rw = regwarden_factory(attest_config(main_config, upstream))
    lay = image_factory()
    digest = push_through(rw, lay, "team/app")
    client = sigtool.RegClient(upstream.url)
    # the signature is still there and good
    v = sigtool.verify(client, "team/app", digest, {"team": keys.team.public_key()})
    assert v.ok, v
    good, man = check_attestations(client, "team/app", digest, keys.team.public_key())
    assert len(good) == 1, "no attestation verified independently: %s" % json.dumps(man)
    st = good[0]
    assert st["subject"][0]["name"] == "%s/team/app" % upstream.name
    pred = st["predicate"]
    assert pred["buildDefinition"]["externalParameters"]["repository"] == "team/app"
    assert pred["buildDefinition"]["externalParameters"]["reference"] == "v1"
    assert pred["buildDefinition"]["buildType"].startswith("https://")
    # no provenance: section and no SPIRE: the documented defaults
    assert pred["runDetails"]["builder"]["id"] == DEFAULT_BUILDER
    assert pred["buildDefinition"]["buildType"] == DEFAULT_BUILD_TYPE
    assert pred["runDetails"]["metadata"]["invocationId"]
    # another key does not verify it
    bad, _ = check_attestations(client, "team/app", digest, keys.other.public_key())
    assert bad == []


def test_pull_requires_attestation(upstream, main_config, regwarden_factory, image_factory, keys):
    rw = regwarden_factory(attest_config(main_config, upstream))
    client = sigtool.RegClient(upstream.url)
    c = rw_client(rw)
    team = keys.team.private_key()

    # pushed through regwarden (signed + attested): served
    a = image_factory()
    da = push_through(rw, a, "team/a")
    r = c.manifest("team/a", "v1")
    assert r.status == 200, r
    assert r.header("Docker-Content-Digest") in (None, da)

    # signed by the team key (sigtool) but not attested: 403 missing-attestation + deny line
    b = image_factory()
    push_direct(b, "v1", upstream.host, "team/b")
    db = b.digest("v1")
    sigtool.attach(client, "team/b", db, team, "%s/team/b" % upstream.name)
    since = rw.deny_count()
    r = c.manifest("team/b", "v1")
    assert r.status == 403, r
    body = json.loads(r.body)
    assert body["errors"][0]["code"] == "DENIED"
    assert body["errors"][0]["detail"]["reason"] == "missing-attestation", body
    line = wait_deny(rw, since, "missing-attestation")
    assert line is not None, rw.deny_lines(since)
    assert line["image"]["digest"] == db and line["image"]["repository"] == "team/b"
    assert SLSA1 in line["detail"], line

    # signed, attested by the team key, but the statement's subject is another digest: refused
    d = image_factory()
    push_direct(d, "v1", upstream.host, "team/d")
    dd = d.digest("v1")
    sigtool.attach(client, "team/d", dd, team, "%s/team/d" % upstream.name)
    attest_direct(client, "team/d", dd, team, subject_digest=da)
    since = rw.deny_count()
    r = c.manifest("team/d", "v1")
    assert r.status == 403, r
    assert json.loads(r.body)["errors"][0]["detail"]["reason"] == "missing-attestation"
    line = wait_deny(rw, since, "missing-attestation")
    assert line is not None and line["image"]["digest"] == dd, rw.deny_lines(since)

    # the same, made independently with the right subject: accepted
    e = image_factory()
    push_direct(e, "v1", upstream.host, "team/e")
    de = e.digest("v1")
    sigtool.attach(client, "team/e", de, team, "%s/team/e" % upstream.name)
    attest_direct(client, "team/e", de, team, subject_digest=de)
    r = c.manifest("team/e", "v1")
    assert r.status == 200, "%r\n%s" % (r, rw.deny_lines())


def test_attestation_by_untrusted_key_is_refused(upstream, main_config, regwarden_factory, image_factory,
                                                 keys):
    rw = regwarden_factory(attest_config(main_config, upstream))
    client = sigtool.RegClient(upstream.url)
    f = image_factory()
    push_direct(f, "v1", upstream.host, "team/f")
    df = f.digest("v1")
    sigtool.attach(client, "team/f", df, keys.team.private_key(), "%s/team/f" % upstream.name)
    attest_direct(client, "team/f", df, keys.other.private_key(), subject_digest=df)
    since = rw.deny_count()
    r = rw_client(rw).manifest("team/f", "v1")
    assert r.status == 403, r
    line = wait_deny(rw, since, "missing-attestation")
    assert line is not None, rw.deny_lines(since)
    assert "team" in line["detail"], line


def test_attestation_store_failure_fails_the_push_then_retry_attests(fake, main_config, regwarden_factory,
                                                                      image_factory, keys):
    """Invariant 3: the .att write fails upstream -> the client gets a 5xx and no "signed" line;
    once the fault clears, the client's retry stores both."""
    from casekit import fake_upstream, seed_fake
    from lib import images
    rw = regwarden_factory(attest_config(main_config, fake_upstream(fake)))
    lay = image_factory()
    seed_fake(fake, lay, "v1", "team/app", ref="seed")
    digest = lay.digest("v1")
    body = lay.manifest_bytes("v1")
    fake.set_faults(att_500=True)
    c = rw_client(rw)
    r = c.put_manifest("team/app", "v1", body, images.OCI_MANIFEST)
    assert 500 <= r.status < 600, "attestation store failed upstream: want a 5xx, got %r" % r
    assert "attest" in r.body.decode(errors="replace"), r
    assert [e for e in rw.events("signed") if digest in json.dumps(e)] == []
    assert att_tag(digest) not in fake.store.repo("team/app")["tags"]
    fake.set_faults(reset=True)
    r = c.put_manifest("team/app", "v1", body, images.OCI_MANIFEST)
    assert r.status == 201 and r.header("Docker-Content-Digest") == digest, r
    good, _ = check_attestations(sigtool.RegClient(fake.url), "team/app", digest, keys.team.public_key())
    assert good, "retry did not store a verifiable attestation"
    assert [e for e in rw.events("signed") if digest in json.dumps(e)]


# -- provenance: {builder_id, build_type} (issue 7) -------------------------------------------------
def strict_envelopes(client, repo, digest, public_key):
    """Every .att layer, checked from the bytes up by this file's own DSSE code: the blob hashes to
    the layer digest, the envelope is exactly {payloadType, payload, signatures[{keyid:"", sig}]}
    in go-securesystemslib's order with standard base64, and the signature verifies over
    PAE(payloadType, payload) with @public_key. Returns [(layer, statement or None)], None where
    the signature does not verify with that key."""
    r = client.get_manifest(repo, att_tag(digest))
    assert r.status == 200, r
    man = json.loads(r.body)
    out = []
    for layer in man["layers"]:
        body = client.get_blob(repo, layer["digest"]).body
        assert "sha256:" + hashlib.sha256(body).hexdigest() == layer["digest"] and len(body) == layer["size"]
        env = json.loads(body)
        assert list(env) == ["payloadType", "payload", "signatures"], env
        assert env["payloadType"] == INTOTO
        payload = base64.b64decode(env["payload"], validate=True)
        assert base64.b64encode(payload).decode() == env["payload"], "not canonical std base64"
        assert len(env["signatures"]) == 1 and list(env["signatures"][0]) == ["keyid", "sig"], env
        assert env["signatures"][0]["keyid"] == ""
        sig = base64.b64decode(env["signatures"][0]["sig"], validate=True)
        ok = ecdsa_ok(public_key, pae(INTOTO, payload), sig)
        # the PAE is what is signed, not the bare payload (a verifier that skipped PAE would pass)
        assert not ecdsa_ok(public_key, payload, sig)
        out.append((layer, json.loads(payload) if ok else None))
    return out


def test_provenance_builder_configured_and_att_appended(upstream, main_config, regwarden_factory,
                                                         image_factory, keys):
    builder = "spiffe://example.org/ci/regwarden-e2e"
    build_type = "https://example.org/regwarden/push/v9"
    cfg = attest_config(main_config, upstream)
    cfg["provenance"] = {"builder_id": builder, "build_type": build_type}
    rw = regwarden_factory(cfg)
    client = sigtool.RegClient(upstream.url)
    lay = image_factory()
    digest = lay.digest("v1")
    # a foreign attestation (another key) is already there: it must survive both pushes
    push_direct(lay, "v1", upstream.host, "team/app", ref="seed")
    attest_direct(client, "team/app", digest, keys.other.private_key(), subject_digest=digest)
    foreign = json.loads(client.get_manifest("team/app", att_tag(digest)).body)["layers"]
    assert len(foreign) == 1
    # the same digest pushed through regwarden under two tags
    for tag in ("v1", "v2"):
        p = skopeo_copy(lay.ref("v1"), "docker://%s/team/app:%s" % (rw.host, tag), check=False)
        assert p.returncode == 0, "push %s failed:\n%s\n--- regwarden\n%s" % (
            tag, p.stderr[-2000:], util.tail(rw.stderr_path))
    got = strict_envelopes(client, "team/app", digest, keys.team.public_key())
    assert [x[0]["digest"] for x in got][:1] == [foreign[0]["digest"]], "foreign layer not kept first"
    assert len(got) == 3, "want foreign + one per push appended: %s" % [x[0]["digest"] for x in got]
    assert got[0][1] is None, "the foreign layer verified with the team key"
    for layer, _ in got:
        assert layer["mediaType"] == DSSE_MT
        assert layer["annotations"]["predicateType"] == SLSA1
        assert layer["annotations"]["dev.cosignproject.cosign/signature"] == ""
    sts = [st for _, st in got[1:]]
    assert all(st is not None for st in sts), "a regwarden layer does not verify with the team key"
    for st, tag in zip(sts, ("v1", "v2")):
        assert st["_type"] == "https://in-toto.io/Statement/v1"
        assert st["predicateType"] == SLSA1
        assert st["subject"] == [{"name": "%s/team/app" % upstream.name,
                                  "digest": {"sha256": digest.split(":", 1)[1]}}]
        pred = st["predicate"]
        assert pred["runDetails"]["builder"]["id"] == builder
        assert pred["buildDefinition"]["buildType"] == build_type
        assert pred["buildDefinition"]["externalParameters"]["repository"] == "team/app"
        assert pred["buildDefinition"]["externalParameters"]["reference"] == tag
        assert "pusher" not in pred["buildDefinition"]["externalParameters"]  # no mTLS here
        md = pred["runDetails"]["metadata"]
        assert md["startedOn"] <= md["finishedOn"]
    assert sts[0]["predicate"]["runDetails"]["metadata"]["invocationId"] != \
        sts[1]["predicate"]["runDetails"]["metadata"]["invocationId"]
    # the foreign one still verifies with its own key, unchanged
    other = strict_envelopes(client, "team/app", digest, keys.other.public_key())
    assert other[0][1] is not None and [x for x in other[1:] if x[1] is not None] == []
    # and the pull rule (SLSA provenance required, signed_by team) is satisfied
    r = rw_client(rw).manifest("team/app", "v2")
    assert r.status == 200, "%r\n%s" % (r, rw.deny_lines())


def test_provenance_bad_builder_id_is_a_config_error(upstream, main_config, regwarden_factory):
    cfg = attest_config(main_config, upstream)
    cfg["provenance"] = {"builder_id": "not a uri"}
    rw = regwarden_factory(cfg, start=False)
    p = rw.cmd("check")
    assert p.returncode == 2, p
    assert "provenance.builder_id" in p.stderr + p.stdout and "regwarden.yml:" in p.stderr + p.stdout, p


def test_provenance_default_builder_is_own_spiffe_id(idstack, upstream, regwarden_factory):
    """signer.vault with a SPIRE JWT-SVID and no provenance.builder_id: the builder id is the SPIFFE
    ID the agent served to regwarden."""
    from test_identity_vault import SUBJECT, make_image, put_manifest, upload, vault_config, wait_ready
    stack = idstack().start_agent().start_vault()
    cfg = vault_config(upstream, stack)
    cfg["push"][0]["attest"] = True
    rw = regwarden_factory(cfg)
    wait_ready(rw)
    blobs, man = make_image("provenance-spiffe")
    upload(rw, "team/app", blobs)
    r = put_manifest(rw, "team/app", "v1", man)
    assert r.status == 201, r
    digest = util.sha256_bytes(man)
    client = sigtool.RegClient(upstream.url)
    found = []
    for _, pub in stack.public_keys().items():
        found += [st for _, st in strict_envelopes(client, "team/app", digest, pub) if st is not None]
    assert len(found) == 1, found
    assert found[0]["predicate"]["runDetails"]["builder"]["id"] == SUBJECT
    assert found[0]["predicate"]["buildDefinition"]["buildType"] == DEFAULT_BUILD_TYPE
