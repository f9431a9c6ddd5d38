/* SPDX-License-Identifier: MIT */
/* policy/rules.c: pattern language table, checks, reason and mode strings, fail-closed helper. */
#include "common.h"

struct match_case {
    const char *pattern;
    const char *subject;
    bool match;
};

static const struct match_case cases[] = {
    {"r/team/**", "r/team/app", true},
    {"r/team/**", "r/team/a/b/c", true},
    {"r/team/**", "r/team", true}, /* '**' is zero or more segments */
    {"r/team/**", "r/teams/app", false},
    {"r/team/**", "other/team/app", false},
    {"r/library/*", "r/library/busybox", true},
    {"r/library/*", "r/library/a/b", false},
    {"r/library/*", "r/library", false},
    {"r/app-*", "r/app-web", true},
    {"r/app-*", "r/app-", true},
    {"r/app-*", "r/web-app", false},
    {"r/*-svc", "r/pay-svc", true},
    {"r/*-svc", "r/pay-svc/x", false},
    {"r/a*b*c", "r/aXXbYYc", true},
    {"r/a*b*c", "r/aXXbYY", false},
    {"**", "r/x", true},
    {"**/x", "r/y/x", true},
    {"**/x", "x", true},
    {"r/**/end", "r/end", true},
    {"r/**/end", "r/a/b/end", true},
    {"r/**/end", "r/a/b/end/no", false},
    {"*/team/*", "ghcr/team/app", true},
    {"*/team/*", "ghcr/x/team/app", false},
    {"r/**/**/x", "r/x", true},
    {"r/exact", "r/exact", true},
    {"r/exact", "r/exactly", false},
    {"r/exact", "r/Exact", false},
    {"localhost:5000/a", "localhost:5000/a", true},
    {"r/**/a/**/b/**/c", "r/1/a/2/b/3/c", true},
    {"r/**/a/**/b/**/c", "r/1/a/2/b/3/d", false},
};

static void test_match_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (rw_pattern_match(cases[i].pattern, cases[i].subject) != cases[i].match) {
            fail_msg("case %zu: '%s' vs '%s' want %d", i, cases[i].pattern, cases[i].subject,
                     cases[i].match);
        }
    }
    assert_false(rw_pattern_match(NULL, "r/x"));
    assert_false(rw_pattern_match("r/*", NULL));
    assert_false(rw_pattern_match("r/*", ""));
    assert_false(rw_pattern_match("r/*", "r//"));
    assert_false(rw_pattern_match("r/a**", "r/abc")); /* invalid patterns never match */
}

static void test_pathological(void **state)
{
    char pat[512];
    char sub[400];
    size_t n = 0;

    (void)state;
    /* many '**' and '*' must stay fast (no exponential backtracking) */
    for (int i = 0; i < 60 && n + 4 < sizeof(pat); i++) {
        n += (size_t)snprintf(pat + n, sizeof(pat) - n, "%s**", i == 0 ? "" : "/");
    }
    snprintf(pat + n, sizeof(pat) - n, "/z");
    memset(sub, 0, sizeof(sub));
    for (size_t i = 0; i + 2 < 380; i += 2) {
        sub[i] = 'a';
        sub[i + 1] = '/';
    }
    sub[378] = 'b';
    assert_int_equal(rw_pattern_check(pat), 0);
    assert_false(rw_pattern_match(pat, sub));
    assert_true(rw_pattern_match("r/*a*a*a*a*a*a*a*a*b", "r/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"));
    assert_false(rw_pattern_match("r/*a*a*a*a*a*a*a*a*b", "r/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void test_check(void **state)
{
    static const char *const bad[] = {"",      "/a",    "a/",   "a//b", "a/**b", "a/b**",
                                      "a/***", "a b",   "a/?",  "a\tb", "a/\xc3\xa9"};
    static const char *const good[] = {"a", "a/*", "a/**", "**", "a/x-*", "h:5000/**", "*/*"};
    char longp[600];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (rw_pattern_check(bad[i]) != RW_EINVAL) {
            fail_msg("bad pattern accepted: '%s'", bad[i]);
        }
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (rw_pattern_check(good[i]) != 0) {
            fail_msg("good pattern refused: '%s'", good[i]);
        }
    }
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(rw_pattern_check(longp), RW_EINVAL);
    assert_int_equal(rw_pattern_check(NULL), RW_EINVAL);
}

static void test_strings(void **state)
{
    struct rw_verdict v;

    (void)state;
    assert_string_equal(rw_reason_str(RW_REASON_NO_RULE), "no-rule");
    assert_string_equal(rw_reason_str(RW_REASON_NO_SIGNATURE), "no-signature");
    assert_string_equal(rw_reason_str(RW_REASON_BAD_SIGNATURE), "bad-signature");
    assert_string_equal(rw_reason_str(RW_REASON_UNTRUSTED_KEY), "untrusted-key");
    assert_string_equal(rw_reason_str(RW_REASON_MISSING_ATTESTATION), "missing-attestation");
    assert_string_equal(rw_reason_str(RW_REASON_DIGEST_MISMATCH), "digest-mismatch");
    assert_string_equal(rw_reason_str(RW_REASON_UPSTREAM_ERROR), "upstream-error");
    assert_string_equal(rw_reason_str(RW_REASON_INVALID_MANIFEST), "invalid-manifest");
    assert_string_equal(rw_reason_str(RW_REASON_UNKNOWN_UPSTREAM), "unknown-upstream");
    assert_string_equal(rw_reason_str(RW_REASON_PUSH_NOT_ALLOWED), "push-not-allowed");
    assert_string_equal(rw_reason_str(RW_REASON_UNREFERENCED_BLOB), "unreferenced-blob");
    assert_string_equal(rw_reason_str(RW_REASON_COUNT), "unknown");
    assert_string_equal(rw_mode_str(RW_MODE_ENFORCE), "enforce");
    assert_string_equal(rw_mode_str(RW_MODE_AUDIT), "audit");
    v = rw_verdict_fail_closed(RW_EUPSTREAM, RW_REASON_UPSTREAM_ERROR, NULL);
    assert_false(v.allow);
    assert_int_equal(v.reason, RW_REASON_UPSTREAM_ERROR);
    assert_true(strlen(v.detail) > 0);
    assert_true(v.time > 0);
    assert_int_equal(v.expires, 0);
    v = rw_verdict_fail_closed(-12, RW_REASON_NONE, "x");
    assert_false(v.allow);
    assert_int_not_equal(v.reason, RW_REASON_NONE);
    assert_string_equal(v.detail, "x");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_pathological),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_strings),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
