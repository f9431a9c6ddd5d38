# SPDX-License-Identifier: MIT
"""Attestation policies on pull (issue 7): requirement objects with their own keys and predicate
conditions.

One docker-registry upstream and one regwarden for the module (push rule sign + attest, so the
SLSA provenance comes from real pushes through regwarden; provenance.builder_id configured). SBOM
(CycloneDX, SPDX) and vulnerability-scan (cosign vuln/v1, Trivy-shaped) attestations are made
here: an in-toto Statement v1 binding the image digest, DSSE-signed over the PAE with a "scanner"
key (python cryptography, never regwarden code), appended as a layer to cosign's `.att` manifest
straight on the upstream (annotation predicateType).

- provenance required and present -> 200; absent -> 403 missing-attestation naming the type
- builder id condition true (equals / in / matches) -> 200; false -> 403 naming the condition
- SBOM (both types) present -> 200; one of the two missing -> 403 naming the missing one
- vuln scan with a CRITICAL finding where the rule allows LOW/MEDIUM/UNKNOWN -> 403; clean scan
  (no vulnerabilities reached through `*`) -> 200; summary.critical at_most 0 -> 403 / 200
- a requirement's own signed_by: the SBOM signed by the team key instead of the scanner -> 403
- deny for missing evidence is cached for cache.deny_ttl, then newly pushed evidence is picked up
"""
import base64
import hashlib
import json
import os
import shutil
import tempfile
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

import rawreg
from lib import regwarden as _regwarden
from lib import registry as _registry
from lib import sigtool, util

INTOTO = "application/vnd.in-toto+json"
DSSE_MT = "application/vnd.dsse.envelope.v1+json"
SLSA1 = "https://slsa.dev/provenance/v1"
CDX = "https://cyclonedx.org/bom"
SPDX = "https://spdx.dev/Document"
VULN = "https://cosign.sigstore.dev/attestation/vuln/v1"
BUILDER = "spiffe://example.org/regwarden"
DENY_TTL = 2
REG = "registry.local"


def _conds_builder(equals):
    return [{"path": "runDetails.builder.id", "equals": equals},
            {"path": "buildDefinition.externalParameters.repository", "in": ["team/builder-ok/app",
                                                                           "team/builder-bad/app"]},
            {"path": "runDetails.builder.id", "matches": "spiffe://example.org/*"}]


RULES = [
    ("team/prov/**", {"signed_by": ["team"], "attestations": [SLSA1]}),
    ("team/builder-ok/**", {"signed_by": ["team"], "attestations": [
        {"predicate_type": SLSA1, "conditions": _conds_builder(BUILDER)}]}),
    ("team/builder-bad/**", {"signed_by": ["team"], "attestations": [
        {"predicate_type": SLSA1, "conditions": _conds_builder("spiffe://example.org/someone-else")}]}),
    ("team/sbom/**", {"signed_by": ["team"], "attestations": [
        {"predicate_type": CDX, "signed_by": ["scanner"]},
        {"predicate_type": SPDX, "signed_by": ["scanner"]}]}),
    ("team/vuln/**", {"signed_by": ["team"], "attestations": [
        {"predicate_type": VULN, "signed_by": ["scanner"], "conditions": [
            {"path": "scanner.result.Results.*.Vulnerabilities.*.Severity",
             "in": ["LOW", "MEDIUM", "UNKNOWN"]}]}]}),
    ("team/vulnsum/**", {"signed_by": ["team"], "attestations": [
        {"predicate_type": VULN, "signed_by": ["scanner"], "conditions": [
            {"path": "scanner.result.summary.critical", "at_most": 0}]}]}),
    ("team/late/**", {"signed_by": ["team"], "attestations": [
        {"predicate_type": CDX, "signed_by": ["scanner"]}]}),
]


# -- the module's upstream and regwarden --------------------------------------------------------
@pytest.fixture(scope="module")
def env(rw_state, keys):
    d = tempfile.mkdtemp(prefix="attest-policy-", dir=str(rw_state))
    up = _registry.Registry(os.path.join(d, "upstream"), name=REG).start()
    cfg = _regwarden.main_job_config(up.url, keys.team.pub_path, keys.team.priv_path, registry_name=REG,
                                     extra_keys={"scanner": {"file": keys.other.pub_path}})
    cfg["push"] = [{"match": REG + "/team/**", "sign": True, "attest": True}]
    cfg["provenance"] = {"builder_id": BUILDER}
    cfg["pull"] = {"mode": "enforce", "rules": [{"match": "%s/%s" % (REG, m), "require": req}
                                                for m, req in RULES]}
    rw = _regwarden.Regwarden(os.path.join(d, "regwarden"), cfg)
    rw.config["cache"]["deny_ttl"] = "%ds" % DENY_TTL
    rw.write_config()
    ok = False
    try:
        rw.start()
        ok = True
        yield rw, up
    finally:
        problems = []
        try:
            rw.stop(check=ok)
        except AssertionError as e:
            problems.append(str(e))
        up.stop()
        if not problems and not os.environ.get("RW_KEEP"):
            shutil.rmtree(d, ignore_errors=True)
        assert not problems, problems


def _image(seed):
    layer = os.urandom(128)
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed,
                      "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    man = {"schemaVersion": 2, "mediaType": sigtool.OCI_MANIFEST,
           "config": {"mediaType": sigtool.OCI_CONFIG, "digest": util.sha256_bytes(cfg), "size": len(cfg)},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                       "digest": util.sha256_bytes(layer), "size": len(layer)}]}
    return [cfg, layer], json.dumps(man).encode()


def push_through(rw, repo, tag="v1"):
    """A real push through regwarden (blobs, then the manifest PUT that signs and attests)."""
    blobs, man = _image(repo)
    c = sigtool.RegClient(rw.url)
    for b in blobs:
        c.put_blob(repo, b)
    r = util.http("PUT", "%s/v2/%s/manifests/%s" % (rw.url, repo, tag), body=man,
                  headers={"Content-Type": sigtool.OCI_MANIFEST}, timeout=60)
    assert r.status == 201, "push through regwarden: %r\n%s" % (r, util.tail(rw.stderr_path))
    return util.sha256_bytes(man)


def push_direct_signed(up, repo, team_key, tag="v1"):
    """Straight to the upstream (no provenance), signed by the team key with the independent sigtool."""
    blobs, man = _image(repo)
    c = sigtool.RegClient(up.url)
    for b in blobs:
        c.put_blob(repo, b)
    c.put_manifest(repo, tag, man)
    d = util.sha256_bytes(man)
    sigtool.attach(c, repo, d, team_key, "%s/%s" % (REG, repo))
    return d


# -- attestations made here ---------------------------------------------------------------------
def pae(t, body):
    return b"DSSEv1 %d %s %d %s" % (len(t.encode()), t.encode(), len(body), body)


def attest(up, repo, digest, private_key, predicate_type, predicate):
    st = {"_type": "https://in-toto.io/Statement/v1",
          "subject": [{"name": "%s/%s" % (REG, repo), "digest": {"sha256": digest.split(":", 1)[1]}}],
          "predicateType": predicate_type, "predicate": predicate}
    body = json.dumps(st, separators=(",", ":")).encode()
    sig = private_key.sign(pae(INTOTO, body), ec.ECDSA(hashes.SHA256()))
    env = json.dumps({"payloadType": INTOTO, "payload": base64.b64encode(body).decode(),
                      "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}]},
                     separators=(",", ":")).encode()
    c = sigtool.RegClient(up.url)
    tag = "sha256-%s.att" % digest.split(":", 1)[1]
    layers = []
    r = c.get_manifest(repo, tag)
    if r.status == 200:
        layers = json.loads(r.body)["layers"]
    layers.append({"mediaType": DSSE_MT, "size": len(env), "digest": c.put_blob(repo, env),
                   "annotations": {"predicateType": predicate_type,
                                   "dev.cosignproject.cosign/signature": ""}})
    cfg = json.dumps({"architecture": "", "os": "", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in layers]}},
                     separators=(",", ":")).encode()
    man = {"schemaVersion": 2, "mediaType": sigtool.OCI_MANIFEST,
           "config": {"mediaType": sigtool.OCI_CONFIG, "size": len(cfg), "digest": c.put_blob(repo, cfg)},
           "layers": layers}
    c.put_manifest(repo, tag, json.dumps(man, separators=(",", ":")).encode())
    assert hashlib.sha256(env).hexdigest()


CDX_BOM = {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
           "components": [{"type": "library", "name": "openssl", "version": "3.0.11"}]}
SPDX_DOC = {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "app",
            "dataLicense": "CC0-1.0", "packages": [{"SPDXID": "SPDXRef-openssl", "name": "openssl",
                                                   "versionInfo": "3.0.11"}]}


def trivy(vulns_by_target, summary=None):
    res = {"SchemaVersion": 2, "ArtifactName": "app", "ArtifactType": "container_image",
           "Results": [{"Target": t, "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": v}
                       for t, v in vulns_by_target]}
    if summary is not None:
        res["summary"] = summary
    return {"invocation": {"parameters": None, "uri": "", "event_id": "", "builder.id": ""},
            "scanner": {"uri": "pkg:github/aquasecurity/trivy@v0.50.0", "version": "0.50.0",
                        "db": {"uri": "", "version": ""}, "result": res},
            "metadata": {"scanStartedOn": "2026-01-01T00:00:00Z", "scanFinishedOn": "2026-01-01T00:00:09Z"}}


def vuln(vid, sev):
    return {"VulnerabilityID": vid, "PkgName": "openssl", "InstalledVersion": "3.0.11",
            "Severity": sev}


# -- pulls ------------------------------------------------------------------------------------------
def pull(rw, repo, ref="v1"):
    return rawreg.Client(rw.url).manifest(repo, ref)


def assert_allowed(rw, repo, digest):
    r = pull(rw, repo)
    assert r.status == 200, "%s: %r\n%s" % (repo, r, rw.deny_lines()[-2:])
    assert util.sha256_bytes(r.body) == digest


def assert_denied(rw, repo, digest, *needles):
    r = pull(rw, repo)
    assert r.status == 403, "%s: %r" % (repo, r)
    err = json.loads(r.body)["errors"][0]
    assert err["code"] == "DENIED" and err["detail"]["reason"] == "missing-attestation", err
    rid = err["detail"]["request_id"]
    deadline = time.monotonic() + 5
    line = None
    while line is None and time.monotonic() < deadline:
        line = next((x for x in rw.deny_lines() if x.get("request_id") == rid), None)
        time.sleep(0.02 if line is None else 0)
    assert line is not None, "no deny line for %s" % rid
    assert line["reason"] == "missing-attestation" and line["image"]["digest"] == digest, line
    for n in needles:
        assert n in line["detail"], "%s: detail %r lacks %r" % (repo, line["detail"], n)
    return line


# -- tests ------------------------------------------------------------------------------------------
def test_provenance_required_and_present_allows(env):
    rw, up = env
    d = push_through(rw, "team/prov/app")
    assert_allowed(rw, "team/prov/app", d)


def test_provenance_required_and_absent_denies(env, keys):
    rw, up = env
    d = push_direct_signed(up, "team/prov/bare", keys.team.private_key())
    assert_denied(rw, "team/prov/bare", d, SLSA1)


def test_builder_conditions_true_allows(env):
    rw, up = env
    d = push_through(rw, "team/builder-ok/app")
    assert_allowed(rw, "team/builder-ok/app", d)


def test_builder_condition_false_denies(env):
    rw, up = env
    d = push_through(rw, "team/builder-bad/app")
    assert_denied(rw, "team/builder-bad/app", d, SLSA1, "runDetails.builder.id")


def test_sbom_cyclonedx_and_spdx_present_allows(env, keys):
    rw, up = env
    d = push_through(rw, "team/sbom/app")
    attest(up, "team/sbom/app", d, keys.other.private_key(), CDX, CDX_BOM)
    attest(up, "team/sbom/app", d, keys.other.private_key(), SPDX, SPDX_DOC)
    assert_allowed(rw, "team/sbom/app", d)


def test_sbom_one_type_missing_denies_naming_it(env, keys):
    rw, up = env
    d = push_through(rw, "team/sbom/half")
    attest(up, "team/sbom/half", d, keys.other.private_key(), CDX, CDX_BOM)
    assert_denied(rw, "team/sbom/half", d, SPDX)


def test_sbom_signed_by_other_than_the_requirement_key_denies(env, keys):
    """The requirement's own signed_by (scanner), not the rule's (team)."""
    rw, up = env
    d = push_through(rw, "team/sbom/teamkey")
    attest(up, "team/sbom/teamkey", d, keys.team.private_key(), CDX, CDX_BOM)
    attest(up, "team/sbom/teamkey", d, keys.team.private_key(), SPDX, SPDX_DOC)
    assert_denied(rw, "team/sbom/teamkey", d, CDX, "scanner")


def test_vuln_scan_with_critical_finding_denies(env, keys):
    rw, up = env
    d = push_through(rw, "team/vuln/crit")
    attest(up, "team/vuln/crit", d, keys.other.private_key(), VULN,
           trivy([("app (debian 12)", [vuln("CVE-2026-0001", "LOW"), vuln("CVE-2026-0002", "CRITICAL")]),
                  ("usr/lib/jars", [vuln("CVE-2026-0003", "MEDIUM")])]))
    assert_denied(rw, "team/vuln/crit", d, VULN, "Severity")


def test_vuln_scan_clean_or_low_allows(env, keys):
    rw, up = env
    d = push_through(rw, "team/vuln/clean")
    # one target with no vulnerabilities at all (zero values reached = pass), one with LOW/MEDIUM
    attest(up, "team/vuln/clean", d, keys.other.private_key(), VULN,
           trivy([("app (debian 12)", []), ("usr/lib/jars", [vuln("CVE-2026-0003", "MEDIUM"),
                                                              vuln("CVE-2026-0004", "LOW")])]))
    assert_allowed(rw, "team/vuln/clean", d)


def test_vuln_scan_without_results_denies(env, keys):
    """With `*` the part before the first `*` must exist: a scan result without Results is no scan."""
    rw, up = env
    d = push_through(rw, "team/vuln/noresults")
    pred = trivy([])
    del pred["scanner"]["result"]["Results"]
    attest(up, "team/vuln/noresults", d, keys.other.private_key(), VULN, pred)
    assert_denied(rw, "team/vuln/noresults", d, VULN, "scanner.result.Results")


@pytest.mark.parametrize("critical,allowed", [(1, False), (0, True)], ids=["critical-1", "critical-0"])
def test_vuln_summary_at_most(env, keys, critical, allowed):
    rw, up = env
    repo = "team/vulnsum/c%d" % critical
    d = push_through(rw, repo)
    attest(up, repo, d, keys.other.private_key(), VULN,
           trivy([("app", [])], summary={"critical": critical, "high": 3}))
    if allowed:
        assert_allowed(rw, repo, d)
    else:
        assert_denied(rw, repo, d, VULN, "scanner.result.summary.critical")


def test_missing_evidence_deny_expires_after_deny_ttl(env, keys):
    rw, up = env
    d = push_through(rw, "team/late/app")
    assert_denied(rw, "team/late/app", d, CDX)
    t0 = time.monotonic()
    attest(up, "team/late/app", d, keys.other.private_key(), CDX, CDX_BOM)
    # still inside deny_ttl: the cached deny answers, the new evidence is not read yet
    if time.monotonic() - t0 < DENY_TTL - 0.5:
        r = pull(rw, "team/late/app")
        assert r.status == 403, "a deny was not cached for deny_ttl: %r" % r
    time.sleep(max(0.0, DENY_TTL + 0.5 - (time.monotonic() - t0)))
    assert_allowed(rw, "team/late/app", d)
