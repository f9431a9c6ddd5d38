# SPDX-License-Identifier: MIT
"""Issue 3 item 6: the shipped containerd hosts.toml (deploy/containerd/hosts-https.toml) with
regwarden over https and its CA: ctr pulls a signed image; a denied pull fails and containerd
never contacts the upstream itself (every upstream access line is regwarden's own)."""
import os
import shutil

from lib import images
from lib.tlsca import CA

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = os.path.join(ROOT, "deploy", "containerd", "hosts-https.toml")
PROD = "https://regwarden.regwarden.svc.cluster.local:5443"


def test_ctr_pull_over_https_with_shipped_hosts_toml(ctr, regwarden_factory, main_config, upstream, workdir,
                                                    image_factory):
    ca = CA(workdir / "ca")
    crt, key, _ = ca.server()
    from lib import util
    port, plain = util.free_port(), util.free_port()
    cfg = main_config(upstream)
    cfg["listen"] = [{"address": "127.0.0.1:%d" % plain},
                     {"address": "127.0.0.1:%d" % port, "tls": {"cert": crt, "key": key}}]
    rw = regwarden_factory(cfg, start=False)
    rw.port = plain
    rw.start()
    images.skopeo_copy(image_factory().ref("v1"), "docker://%s/team/app:v1" % rw.host)       # signed
    images.skopeo_copy(image_factory().ref("v1"), "docker://%s/team/unsigned:v1" % upstream.host)

    d = os.path.join(ctr.hosts, "registry.local")
    os.makedirs(d, exist_ok=True)
    shutil.copy(ca.ca_path, os.path.join(d, "regwarden-ca.pem"))
    text = open(SHIPPED).read().replace(PROD, "https://127.0.0.1:%d" % port)
    text = text.replace("/etc/containerd/certs.d/registry.local/regwarden-ca.pem",
                        os.path.join(d, "regwarden-ca.pem"))
    with open(os.path.join(d, "hosts.toml"), "w") as f:
        f.write(text)

    p = ctr.pull("registry.local/team/app:v1")
    assert p.returncode == 0, p.stdout + p.stderr
    mark = len(upstream.access())
    p = ctr.pull("registry.local/team/unsigned:v1")
    assert p.returncode != 0
    assert "403" in p.stderr or "denied" in p.stderr.lower(), p.stderr
    after = upstream.access(since=mark) if "since" in upstream.access.__code__.co_varnames else upstream.access()[mark:]
    assert after, "regwarden should have fetched the manifest to decide"
    assert all(l.ua.startswith("regwarden") for l in after), after
