# SPDX-License-Identifier: MIT
"""Diagnostic logs (issue 6): `log: {format: json, level: debug}` gives one JSON object per stderr line;
`text` gives "time level GROUP msg"; the 403 body's request_id is the deny line's; and no secret
(the upstream's basic-auth password, its base64 form, the Authorization header value) reaches
stderr, stdout or the deny log, even at debug level (invariant 5).
"""
import base64
import json
import os
import re

from lib import images
from lib.checks import CONTAINERD_ACCEPT, assert_denied_body, curl


def all_logs(rw):
    out = rw.stderr() + open(rw.stdout_path, errors="replace").read()
    if os.path.exists(rw.deny_log_path):
        out += open(rw.deny_log_path, errors="replace").read()
    return out


def test_no_secret_reaches_any_log_json_debug(registry_factory, regwarden_factory, main_config, image_factory):
    creds = ("alice", "Pa55-w0rd-s3cret-%s" % os.getpid())
    up = registry_factory(auth=creds)
    rw = regwarden_factory(main_config(up, log={"format": "json", "level": "debug"}))
    b64 = base64.b64encode(("%s:%s" % creds).encode()).decode()
    auth = {"Authorization": "Basic " + b64, "Accept": CONTAINERD_ACCEPT}

    signed = image_factory()
    images.skopeo_copy(signed.ref("v1"), "docker://%s/team/app:v1" % rw.host, dest_creds=creds)
    unsigned = image_factory()
    images.skopeo_copy(unsigned.ref("v1"), "docker://%s/team/unsigned:v1" % up.host, dest_creds=creds)
    assert curl(rw.url + "/v2/team/app/manifests/v1", headers=auth).status == 200
    r = curl(rw.url + "/v2/team/unsigned/manifests/v1", headers=auth)
    rid = assert_denied_body(r, "no-signature")
    assert curl(rw.url + "/v2/other/x/manifests/v1", headers=auth).status in (403, 404)  # absent
    assert curl(rw.url + "/v2/team/app/manifests/v1", headers={"Authorization": "Basic d3Jvbmc6d3Jvbmc="}).status == 401
    out = images.skopeo_copy("docker://%s/team/app:v1" % rw.host, "oci:%s/out:v1" % rw.workdir, src_creds=creds)
    assert out.returncode == 0

    # the 403 body and the deny line share the request id
    lines = [x for x in rw.deny_lines() if x.get("request_id") == rid]
    assert len(lines) == 1 and lines[0]["reason"] == "no-signature"

    # JSON diagnostics: every stderr line is an object with time/level/group/msg
    err = [ln for ln in rw.stderr().splitlines() if ln.strip()]
    assert err, "no diagnostic output at debug level"
    for ln in err:
        o = json.loads(ln)
        assert set(o) >= {"time", "level", "group", "msg"}, ln
        assert o["level"] in ("debug", "info", "warn", "error")
    # where a diagnostic line names a request, it uses the same req=<id> form as the deny log
    for o in map(json.loads, err):
        for m in re.findall(r"req=(\S+)", o["msg"]):
            assert re.fullmatch(r"[0-9a-zA-Z-]+", m), o

    text = all_logs(rw)
    for secret in (creds[1], b64, "d3Jvbmc6d3Jvbmc=", "wrong:wrong"):
        assert secret not in text, "secret %r found in regwarden's logs" % secret


def test_text_log_format(upstream, regwarden_factory, main_config):
    rw = regwarden_factory(main_config(upstream, log={"format": "text", "level": "info"}))
    curl(rw.url + "/v2/")
    rw.stop()
    lines = [ln for ln in rw.stderr().splitlines() if ln.strip()]
    assert lines
    for ln in lines:
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warn|error) [A-Z]+ ", ln), ln
        assert not ln.startswith("{")
