/* SPDX-License-Identifier: MIT */
/*
 * Rule lookup and the pattern language, plus the one table of reason and mode strings (R7) and
 * the fail-closed verdict helper. Pure functions: no allocation, no I/O.
 *
 * Patterns are matched segment by segment ('/' separated). Inside a segment '*' matches any run of
 * characters (never a '/'); a segment that is exactly '**' matches zero or more whole segments.
 * Matching uses a dynamic-programming table over segments, so a pattern with many '**' cannot make
 * it exponential.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rw/err.h"
#include "rw/policy.h"

#define PATTERN_MAX_LEN  512u
#define PATTERN_MAX_SEGS 64u
#define SUBJECT_MAX_LEN  (RW_MAX_NAME_LEN + 1u + RW_MAX_REPO_LEN)
#define SUBJECT_MAX_SEGS (SUBJECT_MAX_LEN / 2u + 1u)

struct seg {
    const char *p;
    size_t n;
};

/* Split on '/'; 0 and the count, or -1 when there are too many segments. */
static int split(const char *s, struct seg *out, size_t max, size_t *count)
{
    size_t n = 0;
    const char *start = s;

    for (const char *c = s;; c++) {
        if (*c == '/' || *c == '\0') {
            if (n == max) {
                return -1;
            }
            out[n].p = start;
            out[n].n = (size_t)(c - start);
            n++;
            if (*c == '\0') {
                break;
            }
            start = c + 1;
        }
    }
    *count = n;
    return 0;
}

/* Glob inside one segment: '*' any run; greedy with single backtrack point (linear-ish). */
static bool seg_match(const struct seg *pat, const struct seg *sub)
{
    size_t pi = 0;
    size_t si = 0;
    size_t star = (size_t)-1;
    size_t mark = 0;

    while (si < sub->n) {
        if (pi < pat->n && pat->p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (pi < pat->n && pat->p[pi] == sub->p[si]) {
            pi++;
            si++;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < pat->n && pat->p[pi] == '*') {
        pi++;
    }
    return pi == pat->n;
}

static bool is_globstar(const struct seg *s)
{
    return s->n == 2 && s->p[0] == '*' && s->p[1] == '*';
}

static bool pattern_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == ':' || c == '*' || c == '/' || c == '@' ||
           c == '+' || c == '[' || c == ']';
}

int rw_pattern_check(const char *pattern)
{
    struct seg segs[PATTERN_MAX_SEGS];
    size_t n = 0;
    size_t len;

    if (pattern == NULL) {
        return RW_EINVAL;
    }
    len = strnlen(pattern, PATTERN_MAX_LEN + 1);
    if (len == 0 || len > PATTERN_MAX_LEN) {
        return RW_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (!pattern_char_ok((unsigned char)pattern[i])) {
            return RW_EINVAL;
        }
    }
    if (split(pattern, segs, PATTERN_MAX_SEGS, &n) != 0) {
        return RW_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (segs[i].n == 0) {
            return RW_EINVAL; /* leading, trailing or doubled '/' */
        }
        if (is_globstar(&segs[i])) {
            continue;
        }
        for (size_t j = 0; j + 1 < segs[i].n; j++) {
            if (segs[i].p[j] == '*' && segs[i].p[j + 1] == '*') {
                return RW_EINVAL; /* '**' must be a whole segment */
            }
        }
    }
    return 0;
}

bool rw_pattern_match(const char *pattern, const char *subject)
{
    struct seg ps[PATTERN_MAX_SEGS];
    struct seg ss[SUBJECT_MAX_SEGS];
    /* dp[j]: pattern prefix (i segments) matches subject prefix (j segments) */
    bool prev[SUBJECT_MAX_SEGS + 1];
    bool cur[SUBJECT_MAX_SEGS + 1];
    size_t np = 0;
    size_t ns = 0;

    if (pattern == NULL || subject == NULL || rw_pattern_check(pattern) != 0 ||
        strnlen(subject, SUBJECT_MAX_LEN + 1) > SUBJECT_MAX_LEN || subject[0] == '\0') {
        return false;
    }
    if (split(pattern, ps, PATTERN_MAX_SEGS, &np) != 0 ||
        split(subject, ss, SUBJECT_MAX_SEGS, &ns) != 0) {
        return false;
    }
    for (size_t j = 0; j < ns; j++) {
        if (ss[j].n == 0) {
            return false; /* an empty segment never names a repository */
        }
    }
    memset(prev, 0, sizeof(prev));
    prev[0] = true;
    for (size_t i = 1; i <= np; i++) {
        const struct seg *p = &ps[i - 1];

        memset(cur, 0, sizeof(cur));
        if (is_globstar(p)) {
            /* zero segments (prev[j]) or one more segment (cur[j-1]) */
            for (size_t j = 0; j <= ns; j++) {
                cur[j] = prev[j] || (j > 0 && cur[j - 1]);
            }
        } else {
            for (size_t j = 1; j <= ns; j++) {
                cur[j] = prev[j - 1] && seg_match(p, &ss[j - 1]);
            }
        }
        memcpy(prev, cur, sizeof(prev));
    }
    return prev[ns];
}

static bool subject_of(const char *upstream, const char *repo, char *out, size_t cap)
{
    int n;

    if (upstream == NULL || repo == NULL) {
        return false;
    }
    n = snprintf(out, cap, "%s/%s", upstream, repo);
    return n > 0 && (size_t)n < cap;
}

const struct rw_pull_rule *rw_policy_pull_rule(const struct rw_config *c, const char *upstream,
                                               const char *repo)
{
    char subject[SUBJECT_MAX_LEN + 2];

    if (c == NULL || !subject_of(upstream, repo, subject, sizeof(subject))) {
        return NULL;
    }
    for (size_t i = 0; i < c->n_pull; i++) {
        if (rw_pattern_match(c->pull[i].match, subject)) {
            return &c->pull[i];
        }
    }
    return NULL;
}

const struct rw_push_rule *rw_policy_push_rule(const struct rw_config *c, const char *upstream,
                                               const char *repo)
{
    char subject[SUBJECT_MAX_LEN + 2];

    if (c == NULL || !subject_of(upstream, repo, subject, sizeof(subject))) {
        return NULL;
    }
    for (size_t i = 0; i < c->n_push; i++) {
        if (rw_pattern_match(c->push[i].match, subject)) {
            return &c->push[i];
        }
    }
    return NULL;
}

enum rw_mode rw_policy_rule_mode(const struct rw_config *c, const struct rw_pull_rule *r)
{
    if (r != NULL && r->mode != RW_MODE_INHERIT) {
        return r->mode;
    }
    if (c != NULL && c->pull_mode == RW_MODE_AUDIT) {
        return RW_MODE_AUDIT;
    }
    return RW_MODE_ENFORCE; /* unknown or unset: the strict one */
}

const char *rw_reason_str(enum rw_reason r)
{
    static const char *const names[RW_REASON_COUNT] = {
        [RW_REASON_NONE] = "none",
        [RW_REASON_NO_RULE] = "no-rule",
        [RW_REASON_NO_SIGNATURE] = "no-signature",
        [RW_REASON_BAD_SIGNATURE] = "bad-signature",
        [RW_REASON_UNTRUSTED_KEY] = "untrusted-key",
        [RW_REASON_MISSING_ATTESTATION] = "missing-attestation",
        [RW_REASON_DIGEST_MISMATCH] = "digest-mismatch",
        [RW_REASON_UPSTREAM_ERROR] = "upstream-error",
        [RW_REASON_INVALID_MANIFEST] = "invalid-manifest",
        [RW_REASON_UNKNOWN_UPSTREAM] = "unknown-upstream",
        [RW_REASON_PUSH_NOT_ALLOWED] = "push-not-allowed",
        [RW_REASON_UNREFERENCED_BLOB] = "unreferenced-blob",
    };

    if ((unsigned)r >= RW_REASON_COUNT) {
        return "unknown";
    }
    return names[r];
}

const char *rw_mode_str(enum rw_mode m)
{
    switch (m) {
    case RW_MODE_INHERIT:
        return "inherit";
    case RW_MODE_ENFORCE:
        return "enforce";
    case RW_MODE_AUDIT:
        return "audit";
    default:
        return "unknown";
    }
}

struct rw_verdict rw_verdict_fail_closed(int rc, enum rw_reason reason, const char *detail)
{
    struct rw_verdict v;

    memset(&v, 0, sizeof(v));
    v.allow = false;
    /* A deny must always carry a reason; "none" would read as an allow downstream. */
    v.reason = (reason == RW_REASON_NONE || (unsigned)reason >= RW_REASON_COUNT)
                   ? RW_REASON_UPSTREAM_ERROR
                   : reason;
    if (detail != NULL && detail[0] != '\0') {
        snprintf(v.detail, sizeof(v.detail), "%s", detail);
    } else {
        snprintf(v.detail, sizeof(v.detail), "could not decide: %s", rw_strerror(rc));
    }
    v.time = (int64_t)time(NULL);
    v.expires = 0;
    return v;
}
