# SPDX-License-Identifier: MIT
"""Deterministic deny-log generator for the `regwarden denies` tests (contract schema lines)."""
import datetime
import json
import random

REASONS = ["no-rule", "no-signature", "bad-signature", "untrusted-key", "missing-attestation",
           "digest-mismatch", "upstream-error", "invalid-manifest", "unknown-upstream",
           "push-not-allowed", "unreferenced-blob"]
BASE = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)


def iso(ms):
    t = BASE + datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def deny_line(i, rng, ms, event="deny"):
    repo = "team/app%d" % rng.randrange(300) if rng.random() < 0.8 else "other/x%d" % rng.randrange(2000)
    reason = rng.choice(REASONS)
    ident = None if rng.random() < 0.5 else "spiffe://example.org/ns/ci/sa/builder%d" % rng.randrange(5)
    return {"time": iso(ms), "event": event, "request_id": "%032x" % i,
            "client": {"addr": "10.0.%d.%d" % (rng.randrange(4), rng.randrange(50)), "identity": ident,
                       "user_agent": "containerd/1.6.20"},
            "image": {"registry": "registry.local", "repository": repo, "reference": "v%d" % rng.randrange(3),
                      "digest": "sha256:" + "%064x" % rng.getrandbits(256)},
            "rule": None if reason == "no-rule" else "registry.local/team/**",
            "mode": "audit" if event == "audit-deny" else "enforce",
            "reason": reason, "detail": "no cosign signature for sha256:... (keys: team)"}


def generate(n, seed=6, start_ms=0, step_ms=1000):
    """n deny/audit-deny lines (plus a few signed lines), in time order. Returns (lines, objs)."""
    rng = random.Random(seed)
    lines, objs = [], []
    for i in range(n):
        ev = "audit-deny" if rng.random() < 0.1 else "deny"
        o = deny_line(i, rng, start_ms + i * step_ms, ev)
        objs.append(o)
        lines.append(json.dumps(o, separators=(",", ":")))
    return lines, objs


def count(objs):
    """Independent summary: the numbers `regwarden denies --json` must report."""
    out = {"total": 0, "by_reason": {}, "by_image": {}, "by_client": {}, "by_identity": {},
           "by_rule": {}, "by_event": {"deny": 0, "audit-deny": 0}, "first": {}, "last": {}}

    def inc(m, k):
        m[k] = m.get(k, 0) + 1
    for o in objs:
        if o.get("event") not in ("deny", "audit-deny"):
            continue
        out["total"] += 1
        out["by_event"][o["event"]] += 1
        inc(out["by_reason"], o["reason"])
        img = "%s/%s" % (o["image"]["registry"], o["image"]["repository"])
        inc(out["by_image"], img)
        inc(out["by_client"], o["client"]["addr"] or "(none)")
        inc(out["by_identity"], o["client"]["identity"] or "(none)")
        inc(out["by_rule"], o["rule"] or "(no rule)")
        out["first"].setdefault(img, o["time"])
        out["last"][img] = o["time"]
    return out
