# SPDX-License-Identifier: MIT
"""/metrics, /healthz, /readyz (issue 6): the exposition parses as Prometheus text format (a strict
parser below: HELP/TYPE, sample syntax, label escaping, histogram buckets monotonic with +Inf ==
_count) and the contract's counters move with traffic: requests by route/code, verdicts allow/deny,
cached=true on a second pull, a signature per signed push, the connections gauge.
"""
import math
import re
import socket
import time

from lib import images, util
from lib.checks import CONTAINERD_ACCEPT, curl

CONTRACT = {"regwarden_requests_total": "counter", "regwarden_verdicts_total": "counter",
            "regwarden_signatures_total": "counter", "regwarden_upstream_request_seconds": "histogram",
            "regwarden_cache_entries": "gauge", "regwarden_connections": "gauge"}

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
_LABEL_NC = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(r"^(?P<name>%s)(?P<labels>\{(?:%s(?:,%s)*,?)?\})? (?P<value>\S+)( -?\d+)?$"
                     % (_NAME, _LABEL_NC, _LABEL_NC))
_VALUE = re.compile(r"^([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?Inf|NaN)$")


def parse_prom(text):
    """Strict Prometheus text format 0.0.4. Returns {family: {"type", "help", "samples": [(name,
    labels dict, value)]}}; raises AssertionError naming the line on anything malformed."""
    assert text.endswith("\n"), "exposition must end with a newline"
    fams, order = {}, []
    for no, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (no, line)
        assert line.strip() == line and line, "blank or padded " + where
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                assert len(parts) >= 3 and re.fullmatch(_NAME, parts[2]), where
                f = fams.setdefault(parts[2], {"type": None, "help": None, "samples": []})
                if parts[2] not in order:
                    order.append(parts[2])
                key = parts[1].lower()
                assert f[key] is None, "second %s for %s, %s" % (parts[1], parts[2], where)
                assert not f["samples"], "%s after samples, %s" % (parts[1], where)
                if key == "type":
                    assert len(parts) == 4 and parts[3] in ("counter", "gauge", "histogram", "summary",
                                                            "untyped"), where
                f[key] = parts[3] if len(parts) == 4 else ""
            continue
        m = _SAMPLE.match(line)
        assert m, "bad sample " + where
        name, labels_s, value = m.group("name"), m.group("labels") or "", m.group("value")
        assert _VALUE.match(value), "bad value " + where
        labels = dict(re.findall(_LABEL, labels_s))
        assert len(labels) == len(re.findall(_LABEL, labels_s)), "duplicate label " + where
        fam = name
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and name[:-len(suf)] in fams and fams[name[:-len(suf)]]["type"] == "histogram":
                fam = name[:-len(suf)]
        assert fam in fams and fams[fam]["type"], "sample without TYPE " + where
        assert order[-1] == fam, "samples of %s not grouped, %s" % (fam, where)
        fams[fam]["samples"].append((name, labels, float(value)))
    for fam, f in fams.items():
        seen = set()
        for name, labels, v in f["samples"]:
            k = (name, tuple(sorted(labels.items())))
            assert k not in seen, "duplicate series %s" % (k,)
            seen.add(k)
            if f["type"] == "counter":
                assert v >= 0 and not math.isnan(v), (fam, labels, v)
        if f["type"] == "histogram":
            check_histogram(fam, f["samples"])
    return fams


def check_histogram(fam, samples):
    buckets = [(s[1]["le"], s[2]) for s in samples if s[0] == fam + "_bucket"]
    count = [s[2] for s in samples if s[0] == fam + "_count"]
    total = [s[2] for s in samples if s[0] == fam + "_sum"]
    assert buckets and len(count) == 1 and len(total) == 1, fam
    les = [float(le) for le, _ in buckets]
    assert les == sorted(les) and len(set(les)) == len(les), "bucket bounds not increasing: %s" % les
    assert buckets[-1][0] == "+Inf", "last bucket must be +Inf"
    vals = [v for _, v in buckets]
    assert all(a <= b for a, b in zip(vals, vals[1:])), "buckets not cumulative: %s" % vals
    assert vals[-1] == count[0], "+Inf bucket %s != _count %s" % (vals[-1], count[0])
    assert total[0] >= 0


def scrape(rw):
    r = util.http("GET", rw.admin_url + "/metrics")
    assert r.status == 200, r
    ctype = [v for k, v in r.headers if k.lower() == "content-type"]
    assert ctype and ctype[0].startswith("text/plain"), r.headers
    return parse_prom(r.body.decode())


def value(fams, fam, name=None, **labels):
    tot = 0.0
    for n, ls, v in fams.get(fam, {"samples": []})["samples"]:
        if n == (name or fam) and all(ls.get(k) == str(want) for k, want in labels.items()):
            tot += v
    return tot


def test_parser_rejects_malformed():
    good = "# HELP a_total x\n# TYPE a_total counter\na_total{k=\"v\"} 1\n"
    parse_prom(good)
    for bad in ("a_total 1\n",                                           # no TYPE
                good + "a_total{k=\"v\"} 2\n",                             # duplicate series
                good.replace("} 1", "} one"),                              # bad value
                good.replace('k="v"', 'k=v'),                              # unquoted label
                good.rstrip("\n"),                                         # no final newline
                "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
                "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n"):
        try:
            parse_prom(bad)
        except AssertionError:
            continue
        raise AssertionError("parser accepted %r" % bad)


def test_metrics_parse_and_move_with_traffic(upstream, regwarden, image_factory):
    rw = regwarden
    assert util.http("GET", rw.admin_url + "/healthz").status == 200
    r = util.http("GET", rw.admin_url + "/readyz")
    assert r.status == 200, r
    m0 = scrape(rw)
    for fam, typ in CONTRACT.items():
        assert m0[fam]["type"] == typ and m0[fam]["help"], fam
    assert "process_cpu_seconds_total" in m0

    # a signed push through regwarden: signatures_total{result="signed"} + 1
    lay = image_factory()
    images.skopeo_copy(lay.ref("v1"), "docker://%s/team/app:v1" % rw.host)
    # an unsigned image (pushed around regwarden): a deny
    unsigned = image_factory()
    images.skopeo_copy(unsigned.ref("v1"), "docker://%s/team/unsigned:v1" % upstream.host)

    hdr = {"Accept": CONTAINERD_ACCEPT}
    assert curl(rw.url + "/v2/team/app/manifests/v1", headers=hdr).status == 200
    assert curl(rw.url + "/v2/team/app/manifests/v1", headers=hdr).status == 200     # cached verdict
    assert curl(rw.url + "/v2/team/unsigned/manifests/v1", headers=hdr).status == 403
    assert curl(rw.url + "/v2/").status == 200
    m1 = scrape(rw)

    d = lambda fam, **kw: value(m1, fam, **kw) - value(m0, fam, **kw)  # noqa: E731
    assert d("regwarden_signatures_total", result="signed") == 1
    assert d("regwarden_verdicts_total", verdict="allow", cached="false") >= 1
    assert d("regwarden_verdicts_total", verdict="allow", cached="true") >= 1
    assert d("regwarden_verdicts_total", verdict="deny", reason="no-signature") >= 1
    routes = {ls["route"] for n, ls, v in m1["regwarden_requests_total"]["samples"]}
    assert d("regwarden_requests_total", method="GET", code=403) >= 1
    assert d("regwarden_requests_total", method="GET", code=200) >= 3
    assert d("regwarden_requests_total", method="PUT", code=201) >= 1, routes
    assert len(routes) >= 3, routes
    assert value(m1, "regwarden_upstream_request_seconds", "regwarden_upstream_request_seconds_count") > \
        value(m0, "regwarden_upstream_request_seconds", "regwarden_upstream_request_seconds_count")
    assert value(m1, "regwarden_cache_entries") >= 1

    # connections: two idle keep-alive clients are counted while open, and not after
    base = value(m1, "regwarden_connections")
    socks = [socket.create_connection(("127.0.0.1", rw.port)) for _ in range(2)]
    try:
        util.wait_until(lambda: value(scrape(rw), "regwarden_connections") >= base + 2, timeout=5,
                        what="connections gauge +2")
    finally:
        for s in socks:
            s.close()
    util.wait_until(lambda: value(scrape(rw), "regwarden_connections") <= base, timeout=5,
                    what="connections gauge back down")

    # admin answers only what it serves
    assert util.http("GET", rw.admin_url + "/nope").status == 404
    assert util.http("POST", rw.admin_url + "/metrics", body=b"").status == 405


def test_readyz_not_ready_while_draining_is_not_required_but_healthz_is_cheap(regwarden):
    # /healthz answers many times quickly (a liveness probe must never be slow)
    t0 = time.monotonic()
    for _ in range(50):
        assert util.http("GET", regwarden.admin_url + "/healthz").status == 200
    assert time.monotonic() - t0 < 10
