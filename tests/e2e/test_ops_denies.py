# SPDX-License-Identifier: MIT
"""`regwarden denies` (issue 6): counts on a 100,000-line log checked against an independent python
count (ops_gen.count), rotated generations (.1 plain, .2.gz), a truncated last line and foreign text,
filters, the HTML report in headless Chromium, and the writer's rotation friendliness (file moved ->
reopened without a signal; SIGUSR1) on a live regwarden.
"""
import gzip
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import ops_gen
from lib import images, util
from lib.checks import CONTAINERD_ACCEPT, assert_denied_body, curl


def denies(rw_bin, *args, check=True):
    t0 = time.monotonic()
    p = subprocess.run([rw_bin, "denies"] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    dt = time.monotonic() - t0
    if check:
        assert p.returncode == 0, p.stderr.decode(errors="replace")
    return p, dt


def write_rotated(d, lines):
    """20% in deny.jsonl.2.gz, 30% in deny.jsonl.1, the rest in deny.jsonl; returns the base path."""
    n = len(lines)
    a, b = n // 5, n // 5 + (3 * n) // 10
    base = os.path.join(str(d), "deny.jsonl")
    with gzip.open(base + ".2.gz", "wt") as f:
        f.write("\n".join(lines[:a]) + "\n")
    with open(base + ".1", "w") as f:
        f.write("\n".join(lines[a:b]) + "\n")
    with open(base, "w") as f:
        f.write("\n".join(lines[b:]) + "\n")
    return base


def test_denies_100k_lines_rotated_truncated(rw_bin, workdir):
    lines, objs = ops_gen.generate(100000)
    # Damage: foreign text and a signed event in the middle, a truncated last line at the end.
    signed = json.dumps({"time": ops_gen.iso(5), "event": "signed", "request_id": "x",
                         "image": {"registry": "registry.local", "repository": "team/app1"}})
    lines.insert(60000, "this is not JSON")
    lines.insert(60001, signed)
    base = write_rotated(workdir, lines)
    truncated = json.dumps(ops_gen.deny_line(10**6, __import__("random").Random(1), 10**9))[:97]
    with open(base, "a") as f:
        f.write(truncated)              # no newline, cut mid-object: the writer died here

    p, dt = denies(rw_bin, "--log", base, "--json", "--recent", "5")
    print("\nregwarden denies --json on %d lines (3 files, one gzip): %.3fs" % (len(lines) + 1, dt))
    got = json.loads(p.stdout)
    want = ops_gen.count(objs)
    assert got["schema"] == "regwarden-denies/1"
    assert [os.path.basename(f["path"]) for f in got["files"]] == ["deny.jsonl.2.gz", "deny.jsonl.1",
                                                                    "deny.jsonl"]
    assert [f["gzip"] for f in got["files"]] == [True, False, False]
    assert sum(f["lines"] for f in got["files"]) == len(lines) + 1
    assert got["total"] == want["total"] == 100000
    assert got["skipped_lines"] == 2         # "this is not JSON" + the truncated line
    assert got["other_events"] == 1          # the signed line
    for k in ("by_reason", "by_image", "by_client", "by_identity", "by_rule", "by_event"):
        assert got[k] == want[k], k
    # maps are ordered by count, descending
    counts = list(got["by_image"].values())
    assert counts == sorted(counts, reverse=True)
    imgs = {i["image"]: i for i in got["images"]}
    assert len(imgs) == len(want["by_image"])
    for name, e in imgs.items():
        assert e["count"] == want["by_image"][name]
        assert e["first_seen"] == want["first"][name], name
        assert e["last_seen"] == want["last"][name], name
    assert got["first_seen"] == objs[0]["time"] and got["last_seen"] == objs[-1]["time"]
    assert [r["request_id"] for r in got["recent"]] == [o["request_id"] for o in objs[-5:]]

    # the text form: every section, the newest line last
    p, dt = denies(rw_bin, "--log", base)
    print("regwarden denies (text) on the same log: %.3fs" % dt)
    out = p.stdout.decode()
    for section in ("By reason", "Top denied images", "By client", "By identity", "By rule", "Most recent"):
        assert section in out, section
    assert "100000 denies" in out and "skipped" in out
    assert out.rstrip().endswith(objs[-1]["request_id"])


def test_denies_filters_and_since(rw_bin, workdir):
    now_ms = int((time.time() - ops_gen.BASE.timestamp()) * 1000)
    # 300 lines two days old, 200 lines in the last hour
    lines, objs = ops_gen.generate(500, seed=9, start_ms=now_ms - 2 * 86400 * 1000, step_ms=100)
    recent_lines, recent_objs = ops_gen.generate(200, seed=10, start_ms=now_ms - 1800 * 1000, step_ms=1000)
    log = workdir / "deny.jsonl"
    log.write_text("\n".join(lines[:300] + recent_lines) + "\n")
    objs = objs[:300] + recent_objs

    got = json.loads(denies(rw_bin, "--log", log, "--json", "--since", "1h")[0].stdout)
    assert got["total"] == 200 and got["filtered_out"] == 300
    assert got["by_reason"] == ops_gen.count(recent_objs)["by_reason"]

    got = json.loads(denies(rw_bin, "--log", log, "--json", "--reason", "no-rule")[0].stdout)
    assert got["total"] == sum(1 for o in objs if o["reason"] == "no-rule")
    assert list(got["by_reason"]) == ["no-rule"]

    got = json.loads(denies(rw_bin, "--log", log, "--json", "--image", "registry.local/other/*")[0].stdout)
    assert got["total"] == sum(1 for o in objs if o["image"]["repository"].startswith("other/"))
    assert all(k.startswith("registry.local/other/") for k in got["by_image"])

    # bad arguments: exit 2 with a message
    for args in (["--since", "soon"], ["--image", "a/***/b"], ["--bogus"], ["--top", "x"]):
        p, _ = denies(rw_bin, "--log", log, *args, check=False)
        assert p.returncode == 2 and p.stderr, args
    # no log yet: an empty summary, exit 0
    got = json.loads(denies(rw_bin, "--log", workdir / "absent.jsonl", "--json")[0].stdout)
    assert got["total"] == 0 and got["files"] == []


def chromium():
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    return None


def test_denies_html_report_renders_in_chromium(rw_bin, workdir):
    lines, objs = ops_gen.generate(5000, seed=3, step_ms=20000)
    log = workdir / "deny.jsonl"
    log.write_text("\n".join(lines) + "\n")
    html = workdir / "denies.html"
    denies(rw_bin, "--log", log, "--html", html)
    text = html.read_text()
    assert "<svg" in text and text.count("<rect class=bar") >= 30
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no external assets
    assert "<script" not in text
    # a hostile image name is escaped, not markup
    evil = dict(objs[0], image=dict(objs[0]["image"], repository="team/<b>x</b>"))
    log.write_text("\n".join(lines + [json.dumps(evil)]) + "\n")
    denies(rw_bin, "--log", log, "--html", html)
    assert "<b>x</b>" not in html.read_text() and "&lt;b&gt;x&lt;/b&gt;" in html.read_text()

    exe = chromium()
    if exe is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    png = workdir / "denies.png"
    prof = tempfile.mkdtemp(prefix="chromium-")
    try:
        p = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync", "--no-first-run",
                            "--user-data-dir=" + prof, "--window-size=1000,900",
                            "--screenshot=" + str(png), "file://" + str(html)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    finally:
        shutil.rmtree(prof, ignore_errors=True)
    assert png.exists() and png.stat().st_size > 5000, p.stderr.decode(errors="replace")[-2000:]
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    print("\nscreenshot: %s" % png)


# -- the writer: rotation friendliness on a live regwarden -----------------------------------------
def deny_once(rw, repo="other/thing"):
    r = curl(rw.url + "/v2/%s/manifests/v1" % repo, headers={"Accept": CONTAINERD_ACCEPT})
    return assert_denied_body(r, "no-rule")


def test_deny_log_reopened_when_moved_and_on_sigusr1(upstream, regwarden, image_factory, rw_bin):
    lay = image_factory()
    images.skopeo_copy(lay.ref("v1"), "docker://%s/other/thing:v1" % upstream.host)
    log = regwarden.deny_log_path
    rid1 = deny_once(regwarden)
    assert json.loads(open(log).read().splitlines()[-1])["request_id"] == rid1

    # logrotate without a signal: move the file; within RW_DENYLOG_CHECK_S (1 s) a write reopens
    os.rename(log, log + ".1")
    time.sleep(1.3)
    rid2 = deny_once(regwarden)
    rid3 = deny_once(regwarden)
    assert os.path.exists(log), "deny log not recreated after it was moved"
    ids_new = [json.loads(x)["request_id"] for x in open(log).read().splitlines()]
    ids_old = [json.loads(x)["request_id"] for x in open(log + ".1").read().splitlines()]
    assert rid3 in ids_new and rid1 in ids_old
    assert set(ids_new + ids_old) >= {rid1, rid2, rid3}

    # deleted file: recreated too
    os.unlink(log)
    time.sleep(1.3)
    deny_once(regwarden)
    rid4 = deny_once(regwarden)
    assert rid4 in open(log).read()

    # SIGUSR1 (copytruncate-free rotation with postrotate kill -USR1): immediate
    os.rename(log, log + ".2")
    os.rename(log + ".1", log + ".3")  # keep a gap-free chain: .1 must exist for .2 to be read
    os.rename(log + ".2", log + ".1")
    regwarden.proc.popen.send_signal(signal.SIGUSR1)
    util.wait_until(lambda: os.path.exists(log), timeout=5, what="deny log reopened on SIGUSR1")
    rid5 = deny_once(regwarden)
    assert rid5 in open(log).read()

    # the summary sees all generations (.3 is past the .2 gap and is not read: the chain stops)
    got = json.loads(regwarden.cmd("denies", "--json").stdout)
    assert [os.path.basename(f["path"]) for f in got["files"]] == ["deny.jsonl.1", "deny.jsonl"]
    assert got["by_reason"] == {"no-rule": got["total"]} and got["skipped_lines"] == 0
    assert got["recent"][-1]["request_id"] == rid5
    # the deny line names the rule (none) and says why, and the 403 body's request id is the line's
    last = got["recent"][-1]
    assert last["rule"] is None and last["reason"] == "no-rule" and last["detail"]


def test_deny_detail_names_keys_tried(upstream, regwarden, image_factory):
    lay = image_factory()
    images.skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % upstream.host)
    r = curl(regwarden.url + "/v2/team/app/manifests/v1", headers={"Accept": CONTAINERD_ACCEPT})
    rid = assert_denied_body(r, "no-signature")
    line = [x for x in regwarden.deny_lines() if x.get("request_id") == rid]
    assert len(line) == 1
    assert line[0]["rule"] == "registry.local/team/**"
    assert "team" in line[0]["detail"] and lay.digest("v1") in line[0]["detail"], line[0]["detail"]
    out = regwarden.cmd("denies").stdout
    assert "registry.local/team/app" in out and rid in out
