# SPDX-License-Identifier: MIT
"""deploy/k8s (issue 6): every overlay renders with `kubectl kustomize` (Debian's kubectl 1.20 or a
newer one) and the rendered objects carry what the deployment promises: a hardened, probed,
anti-affine Deployment with 2+ replicas and an emptyDir LMDB cache, a PDB, a Service, a ConfigMap
whose policy `regwarden check` accepts, a cert-manager Certificate, a SPIRE ClusterSPIFFEID, a
NetworkPolicy, the Vault wiring, and the node DaemonSet writing containerd's hosts.toml with
server = regwarden. Also the CRI-O / k3s node configs and the Containerfile.
"""
import os
import re
import shutil
import subprocess

import pytest
import yaml

from lib import util

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
K8S = os.path.join(REPO, "deploy", "k8s")
OVERLAYS = sorted(os.listdir(os.path.join(K8S, "overlays")))


def kubectl():
    exe = os.environ.get("RW_KUBECTL") or shutil.which("kubectl")
    if not exe:
        pytest.fail("kubectl not found: tests/run installs Debian's kubernetes-client")
    return exe


def render(overlay):
    p = subprocess.run([kubectl(), "kustomize", os.path.join(K8S, "overlays", overlay)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    docs = [d for d in yaml.safe_load_all(p.stdout) if d]
    for d in docs:
        assert d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"), d
    return docs


def one(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, "want one %s %s, got %d" % (kind, name or "", len(found))
    return found[0]


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_deployment_is_hardened(overlay):
    docs = render(overlay)
    dep = one(docs, "Deployment", "regwarden")
    spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
    assert spec["replicas"] >= 2
    tmpl_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels_match(spec["selector"], tmpl_labels)
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True and psc.get("runAsUser", 0) != 0
    assert psc["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod.get("automountServiceAccountToken") is False
    aa = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert any(t["topologyKey"] == "kubernetes.io/hostname" and labels_match(t["labelSelector"], tmpl_labels)
               for t in aa)
    vols = {v["name"]: v for v in pod["volumes"]}
    (c,) = [c for c in pod["containers"] if c["name"] == "regwarden"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
    assert sc.get("privileged", False) is False
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    assert c["resources"]["limits"]["memory"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert c["livenessProbe"]["httpGet"]["port"] in ("admin", ports["admin"])
    # config: the container reads the ConfigMap; the LMDB cache is an emptyDir per replica
    cfg_path = c["args"][c["args"].index("-c") + 1]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    cm_mount = [m for p, m in mounts.items() if cfg_path.startswith(p + "/")]
    assert cm_mount and "configMap" in vols[cm_mount[0]["name"]]
    cm = one(docs, "ConfigMap", vols[cm_mount[0]["name"]]["configMap"]["name"])
    conf = yaml.safe_load(cm["data"][os.path.basename(cfg_path)])
    cache_mount = [m for p, m in mounts.items() if conf["cache"]["path"] == p or conf["cache"]["path"].startswith(p + "/")]
    assert cache_mount and "emptyDir" in vols[cache_mount[0]["name"]], "LMDB cache must be on an emptyDir"
    assert conf["admin"].endswith(":%d" % ports["admin"])
    tls = [ln for ln in conf["listen"] if "tls" in ln]
    assert tls and any(ln["address"].endswith(":%d" % ports["https"]) for ln in tls)
    tls_mount = [m for p, m in mounts.items() if tls[0]["tls"]["cert"].startswith(p + "/")]
    assert tls_mount and "secret" in vols[tls_mount[0]["name"]]
    tls_secret = vols[tls_mount[0]["name"]]["secret"]["secretName"]

    # the rest of the stack
    pdb = one(docs, "PodDisruptionBudget")
    assert labels_match(pdb["spec"]["selector"], tmpl_labels) and pdb["spec"].get("minAvailable", 0) >= 1
    svc = one(docs, "Service", "regwarden")
    assert labels_match({"matchLabels": svc["spec"]["selector"]}, tmpl_labels)
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= set(ports) | set(ports.values())
    cert = one(docs, "Certificate")
    assert cert["apiVersion"].startswith("cert-manager.io/") and cert["spec"]["secretName"] == tls_secret
    ns = dep["metadata"]["namespace"]
    assert any(n.startswith("regwarden.%s.svc" % ns) for n in cert["spec"]["dnsNames"]), cert["spec"]["dnsNames"]
    sid = one(docs, "ClusterSPIFFEID")
    assert sid["apiVersion"].startswith("spire.spiffe.io/")
    assert labels_match(sid["spec"]["podSelector"], tmpl_labels)
    assert "{{ .PodSpec.ServiceAccountName }}" in sid["spec"]["spiffeIDTemplate"]
    netpol = one(docs, "NetworkPolicy")
    assert labels_match(netpol["spec"]["podSelector"], tmpl_labels)
    assert set(netpol["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    vault = one(docs, "ConfigMap", "regwarden-vault-setup")
    assert "deploy/vault/" in vault["data"]["README"]
    nsobj = one(docs, "Namespace")
    assert nsobj["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_prod_node_daemonset_installs_hosts_toml_with_server_regwarden():
    docs = render("prod")
    ds = one(docs, "DaemonSet")
    assert ds["metadata"]["namespace"] == "kube-system"
    pod = ds["spec"]["template"]["spec"]
    assert any(t.get("operator") == "Exists" for t in pod["tolerations"])
    vols = {v["name"]: v for v in pod["volumes"]}
    assert any(v.get("hostPath", {}).get("path") == "/etc/containerd/certs.d" for v in vols.values())
    cm_name = [v["configMap"]["name"] for v in vols.values() if "configMap" in v][0]
    cm = one(docs, "ConfigMap", cm_name)
    toml = cm["data"]["hosts.toml"]
    server = re.search(r'^server\s*=\s*"([^"]+)"', toml, re.M).group(1)
    assert "regwarden" in server, "server must be regwarden itself so a deny is final"
    assert re.search(r'^\[host\."%s"\]' % re.escape(server), toml, re.M), "the only host is regwarden too"
    c = pod["containers"][0]
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_configmap_policy_passes_regwarden_check(rw_bin, workdir):
    docs = render("prod")
    cm = one(docs, "ConfigMap", "regwarden-config")
    text = cm["data"]["regwarden.yaml"]
    # dummy keys and certificates at the mounted paths, relocated under workdir
    root = str(workdir)
    for d in ("keys", "tls"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    util.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", root + "/keys/team.key"])
    util.run(["openssl", "ec", "-in", root + "/keys/team.key", "-pubout", "-out", root + "/keys/team.pub"])
    util.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-subj", "/CN=regwarden", "-days", "1", "-keyout", root + "/tls/tls.key", "-out", root + "/tls/tls.crt"])
    shutil.copy(root + "/tls/tls.crt", root + "/tls/ca.crt")
    text = text.replace("/etc/regwarden/", root + "/").replace("/var/cache/regwarden", root + "/cache")
    for ov in OVERLAYS:
        c = one(render(ov), "ConfigMap", "regwarden-config")["data"]["regwarden.yaml"]
        path = os.path.join(root, "regwarden-%s.yaml" % ov)
        with open(path, "w") as f:
            f.write(c.replace("/etc/regwarden/", root + "/").replace("/var/cache/regwarden", root + "/cache"))
        p = subprocess.run([rw_bin, "check", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        assert p.returncode == 0, "%s: %s" % (ov, p.stdout.decode(errors="replace"))
    # and check really checks: a broken rule is refused with file:line
    bad = os.path.join(root, "bad.yaml")
    with open(bad, "w") as f:
        f.write(text.replace("signed_by: [team]", "signed_by: [nobody]"))
    p = subprocess.run([rw_bin, "check", "-c", bad], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert p.returncode == 2, p.stdout


def test_node_configs_for_cri_o_and_k3s_name_regwarden():
    crio = open(os.path.join(REPO, "deploy", "cri-o", "registries.conf")).read()
    assert re.search(r'^\s*location\s*=\s*"regwarden', crio, re.M), "CRI-O: the registry location is regwarden"
    assert "blocked" not in crio or re.search(r"blocked\s*=\s*false", crio)
    k3s = yaml.safe_load(open(os.path.join(REPO, "deploy", "k3s", "registries.yaml")))
    eps = k3s["mirrors"]["registry.example.com"]["endpoint"]
    assert eps and all("regwarden" in e for e in eps), "k3s: regwarden is the only endpoint"
    cf = open(os.path.join(REPO, "deploy", "Containerfile")).read()
    assert len(re.findall(r"^FROM ", cf, re.M)) >= 2, "multi-stage"
    assert re.search(r"^USER\s+(65532|[a-z]+)", cf, re.M) and not re.search(r"^USER\s+(0|root)\s*$", cf, re.M)
    assert "debian:12" in cf or "bookworm" in cf
