/* SPDX-License-Identifier: MIT */
/*
 * policy/conditions.c (the attestation condition engine: each check, wildcard semantics, missing
 * prefixes, wrong types, bounds, sanitised messages, the glob) and the full form of
 * require.attestations in the config (both forms, every error path, the policy hash).
 */
#include <errno.h>

#include "common.h"

/* ------------------------------------------------------------------ helpers */

struct cspec {
    const char *path;
    enum rw_cond_op op;
    const char *values[4]; /* "s:text", "n:12", "b:true" */
};

static void build(const struct cspec *spec, struct rw_cond *c)
{
    memset(c, 0, sizeof(*c));
    c->path = rw_strdup(spec->path);
    c->op = spec->op;
    c->values = rw_calloc(4, sizeof(*c->values));
    assert_non_null(c->path);
    assert_non_null(c->values);
    for (size_t k = 0; k < 4 && spec->values[k] != NULL; k++) {
        const char *v = spec->values[k];

        assert_int_equal(rw_cond_value_parse(v + 2, strlen(v + 2), v[0] != 's', &c->values[k]), 0);
        c->n_values = k + 1;
    }
}

/* Evaluate one condition over @p json: the 1-based failing index (0 = holds), @p why filled. */
static size_t eval1(const char *json, const struct cspec *spec, char *why, size_t cap)
{
    struct rw_cond c;
    size_t failed = 99;

    build(spec, &c);
    assert_int_equal(
        rw_cond_eval((const uint8_t *)json, strlen(json), &c, 1, &failed, why, cap), 0);
    rw_cond_fini(&c);
    return failed;
}

static void holds(const char *json, struct cspec spec)
{
    char why[256];

    if (eval1(json, &spec, why, sizeof(why)) != 0) {
        fail_msg("%s over %s: should hold, got: %s", spec.path, json, why);
    }
}

static void fails(const char *json, struct cspec spec, const char *want)
{
    char why[256];

    if (eval1(json, &spec, why, sizeof(why)) != 1) {
        fail_msg("%s over %s: should fail", spec.path, json);
    }
    if (want != NULL && strstr(why, want) == NULL) {
        fail_msg("%s: \"%s\" lacks \"%s\"", spec.path, why, want);
    }
}

#define DOC                                                                                        \
    "{\"runDetails\":{\"builder\":{\"id\":\"spiffe://example.org/regwarden\"}},"                  \
    "\"n\":3,\"r\":2.5,\"t\":true,\"z\":null,\"s\":\"3\",\"o\":{},\"a\":[10,20,30],"              \
    "\"obj\":{\"x\":{\"k\":1},\"y\":{\"k\":2}},\"0\":\"zero\"}"

/* ------------------------------------------------------------------ engine */

static void test_equals(void **state)
{
    (void)state;
    holds(DOC, (struct cspec){"runDetails.builder.id", RW_COND_EQUALS,
                              {"s:spiffe://example.org/regwarden"}});
    fails(DOC, (struct cspec){"runDetails.builder.id", RW_COND_EQUALS, {"s:spiffe://x/y"}},
          "condition 1 runDetails.builder.id equals \"spiffe://x/y\": got "
          "\"spiffe://example.org/regwarden\"");
    holds(DOC, (struct cspec){"n", RW_COND_EQUALS, {"n:3"}});
    holds(DOC, (struct cspec){"n", RW_COND_EQUALS, {"n:3.0"}}); /* numbers compare as numbers */
    holds(DOC, (struct cspec){"r", RW_COND_EQUALS, {"n:2.5"}});
    holds(DOC, (struct cspec){"t", RW_COND_EQUALS, {"b:true"}});
    /* type-strict: "3" is not 3, true is not "true", null is nothing we can ask for */
    fails(DOC, (struct cspec){"s", RW_COND_EQUALS, {"n:3"}}, "got \"3\"");
    fails(DOC, (struct cspec){"n", RW_COND_EQUALS, {"s:3"}}, "got 3");
    fails(DOC, (struct cspec){"t", RW_COND_EQUALS, {"s:true"}}, "got true");
    fails(DOC, (struct cspec){"z", RW_COND_EQUALS, {"s:null"}}, "got null");
    fails(DOC, (struct cspec){"o", RW_COND_EQUALS, {"s:x"}}, "got an object");
    fails(DOC, (struct cspec){"a", RW_COND_EQUALS, {"s:x"}}, "got an array");
    /* array index, object key that looks like a number */
    holds(DOC, (struct cspec){"a.1", RW_COND_EQUALS, {"n:20"}});
    holds(DOC, (struct cspec){"0", RW_COND_EQUALS, {"s:zero"}});
    fails(DOC, (struct cspec){"a.3", RW_COND_EQUALS, {"n:20"}}, "a.3 equals 20: not found");
    fails(DOC, (struct cspec){"a.01", RW_COND_EQUALS, {"n:20"}}, "not found");
    fails(DOC, (struct cspec){"runDetails.builder.version", RW_COND_EQUALS, {"s:1"}},
          "not found");
    fails(DOC, (struct cspec){"n.x", RW_COND_EQUALS, {"s:1"}}, "not found");
}

static void test_in_matches_at_most(void **state)
{
    (void)state;
    holds(DOC, (struct cspec){"s", RW_COND_IN, {"s:1", "s:3"}});
    holds(DOC, (struct cspec){"n", RW_COND_IN, {"s:3", "n:3"}});
    fails(DOC, (struct cspec){"s", RW_COND_IN, {"s:1", "n:3"}},
          "condition 1 s in [\"1\", 3]: got \"3\"");
    holds(DOC, (struct cspec){"runDetails.builder.id", RW_COND_MATCHES, {"s:spiffe://example.org/*"}});
    holds(DOC, (struct cspec){"runDetails.builder.id", RW_COND_MATCHES, {"s:spiffe://*/regwarden"}});
    holds(DOC, (struct cspec){"runDetails.builder.id", RW_COND_MATCHES, {"s:*"}});
    fails(DOC, (struct cspec){"runDetails.builder.id", RW_COND_MATCHES, {"s:spiffe://other/*"}},
          "matches \"spiffe://other/*\": got");
    fails(DOC, (struct cspec){"n", RW_COND_MATCHES, {"s:*"}}, "got 3"); /* strings only */
    holds(DOC, (struct cspec){"n", RW_COND_AT_MOST, {"n:3"}});
    holds(DOC, (struct cspec){"n", RW_COND_AT_MOST, {"n:3.5"}});
    holds(DOC, (struct cspec){"r", RW_COND_AT_MOST, {"n:3"}});
    fails(DOC, (struct cspec){"n", RW_COND_AT_MOST, {"n:2"}}, "at_most 2: got 3");
    fails(DOC, (struct cspec){"n", RW_COND_AT_MOST, {"n:-1"}}, "got 3");
    fails(DOC, (struct cspec){"s", RW_COND_AT_MOST, {"n:5"}}, "got \"3\""); /* JSON numbers only */
    fails(DOC, (struct cspec){"t", RW_COND_AT_MOST, {"n:5"}}, "got true");
}

static void test_wildcards(void **state)
{
    const char *trivy = "{\"Results\":[{\"Vulnerabilities\":[{\"Severity\":\"LOW\"},"
                        "{\"Severity\":\"HIGH\"}]},{\"Target\":\"none\"},"
                        "{\"Vulnerabilities\":[{\"Severity\":\"CRITICAL\"}]}]}";
    struct cspec sev = {"Results.*.Vulnerabilities.*.Severity", RW_COND_IN,
                        {"s:LOW", "s:HIGH", "s:MEDIUM"}};

    (void)state;
    fails(trivy, sev, "got \"CRITICAL\" at Results.2.Vulnerabilities.0.Severity");
    sev.values[3] = "s:CRITICAL";
    holds(trivy, sev);
    /* zero values reached is a pass; the prefix must exist and be a container */
    holds("{\"Results\":[]}", sev);
    holds("{\"Results\":[{\"Target\":\"a\"}]}", sev);
    holds("{\"Results\":[3, \"x\", null]}", sev);
    fails("{\"Findings\":[]}", sev, "Results not found");
    fails("{\"Results\":\"none\"}", sev, "Results is not an array or object");
    fails("[1]", (struct cspec){"*", RW_COND_AT_MOST, {"n:0"}}, "got 1 at 0");
    fails("{\"a\":3}", (struct cspec){"a.*", RW_COND_AT_MOST, {"n:0"}},
          "a is not an array or object");
    /* objects: every member */
    holds(DOC, (struct cspec){"obj.*.k", RW_COND_AT_MOST, {"n:2"}});
    fails(DOC, (struct cspec){"obj.*.k", RW_COND_AT_MOST, {"n:1"}}, "got 2 at obj.y.k");
    holds(DOC, (struct cspec){"a.*", RW_COND_IN, {"n:10", "n:20", "n:30"}});
}

static void test_bounds(void **state)
{
    struct rw_buf b;
    char why[256];
    size_t failed = 0;
    struct rw_cond c;
    struct cspec spec = {"*", RW_COND_AT_MOST, {"n:1"}};
    char path[400];

    (void)state;
    /* RW_MAX_COND_REACHED values pass; one more fails the condition */
    for (int extra = 0; extra < 2; extra++) {
        rw_buf_init(&b, 0);
        assert_int_equal(rw_buf_appends(&b, "["), 0);
        for (unsigned i = 0; i < RW_MAX_COND_REACHED + (unsigned)extra; i++) {
            assert_int_equal(rw_buf_appends(&b, i == 0 ? "0" : ",0"), 0);
        }
        assert_int_equal(rw_buf_appends(&b, "]"), 0);
        build(&spec, &c);
        assert_int_equal(rw_cond_eval(b.data, b.len, &c, 1, &failed, why, sizeof(why)), 0);
        assert_int_equal(failed, (size_t)extra);
        if (extra) {
            assert_non_null(strstr(why, "reaches more than 4096 values"));
        }
        rw_cond_fini(&c);
        rw_buf_fini(&b);
    }
    /* JSON deeper than RW_MAX_JSON_DEPTH is refused before any condition runs */
    rw_buf_init(&b, 0);
    for (unsigned i = 0; i < RW_MAX_JSON_DEPTH + 1; i++) {
        assert_int_equal(rw_buf_appends(&b, "["), 0);
    }
    for (unsigned i = 0; i < RW_MAX_JSON_DEPTH + 1; i++) {
        assert_int_equal(rw_buf_appends(&b, "]"), 0);
    }
    build(&spec, &c);
    assert_int_equal(rw_cond_eval(b.data, b.len, &c, 1, &failed, why, sizeof(why)), RW_ETOOBIG);
    assert_int_equal(rw_cond_eval((const uint8_t *)"{", 1, &c, 1, &failed, why, sizeof(why)),
                     RW_EPROTO);
    rw_cond_fini(&c);
    rw_buf_fini(&b);
    /* paths */
    assert_int_equal(rw_cond_path_check("a.b.0.*.c", why, sizeof(why)), 0);
    assert_int_equal(rw_cond_path_check("", why, sizeof(why)), RW_EINVAL);
    assert_int_equal(rw_cond_path_check("a..b", why, sizeof(why)), RW_EINVAL);
    assert_non_null(strstr(why, "empty segment"));
    assert_int_equal(rw_cond_path_check(".a", why, sizeof(why)), RW_EINVAL);
    assert_int_equal(rw_cond_path_check("a.", why, sizeof(why)), RW_EINVAL);
    assert_int_equal(rw_cond_path_check("a.b*", why, sizeof(why)), RW_EINVAL);
    assert_non_null(strstr(why, "whole segment"));
    assert_int_equal(rw_cond_path_check("a\tb", why, sizeof(why)), RW_EINVAL);
    assert_int_equal(rw_cond_path_check("a.\xc3\xa9", why, sizeof(why)), RW_EINVAL);
    assert_int_equal(rw_cond_path_check("a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p", why, sizeof(why)), 0);
    assert_int_equal(rw_cond_path_check("a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q", why, sizeof(why)),
                     RW_EINVAL);
    assert_non_null(strstr(why, "more than 16 segments"));
    memset(path, 'a', sizeof(path));
    path[RW_MAX_COND_PATH_LEN] = '\0';
    assert_int_equal(rw_cond_path_check(path, why, sizeof(why)), 0);
    path[RW_MAX_COND_PATH_LEN] = 'a';
    path[RW_MAX_COND_PATH_LEN + 1] = '\0';
    assert_int_equal(rw_cond_path_check(path, why, sizeof(why)), RW_EINVAL);
}

static void test_values_and_quote(void **state)
{
    struct rw_cond_value v;
    char big[RW_MAX_COND_VALUE_LEN + 2];
    char q[32];
    const char *nasty = "a\"b\\c\n\x01\xff";

    (void)state;
    assert_int_equal(rw_cond_value_parse("12", 2, true, &v), 0);
    assert_int_equal(v.type, RW_COND_NUMBER);
    assert_true(v.is_int);
    assert_int_equal(v.i, 12);
    rw_cond_value_fini(&v);
    assert_int_equal(rw_cond_value_parse("12", 2, false, &v), 0); /* quoted: a string */
    assert_int_equal(v.type, RW_COND_STRING);
    rw_cond_value_fini(&v);
    assert_int_equal(rw_cond_value_parse("-1.5e2", 6, true, &v), 0);
    assert_int_equal(v.type, RW_COND_NUMBER);
    assert_false(v.is_int);
    assert_true(v.num == -150.0);
    rw_cond_value_fini(&v);
    assert_int_equal(rw_cond_value_parse("01", 2, true, &v), 0); /* not JSON: a string */
    assert_int_equal(v.type, RW_COND_STRING);
    rw_cond_value_fini(&v);
    assert_int_equal(rw_cond_value_parse("FALSE", 5, true, &v), 0);
    assert_int_equal(v.type, RW_COND_BOOL);
    assert_false(v.b);
    rw_cond_value_fini(&v);
    assert_int_equal(rw_cond_value_parse("yes", 3, true, &v), 0); /* YAML 1.1's yes: a string */
    assert_int_equal(v.type, RW_COND_STRING);
    rw_cond_value_fini(&v);
    assert_int_equal(rw_cond_value_parse("1e999", 5, true, &v), RW_EINVAL);
    assert_int_equal(rw_cond_value_parse("99999999999999999999", 20, true, &v), 0);
    assert_int_equal(v.type, RW_COND_NUMBER); /* beyond int64: compared as a double */
    assert_false(v.is_int);
    rw_cond_value_fini(&v);
    assert_int_equal(rw_cond_value_parse("a\0b", 3, false, &v), RW_EINVAL);
    memset(big, 'x', sizeof(big));
    assert_int_equal(rw_cond_value_parse(big, RW_MAX_COND_VALUE_LEN, false, &v), 0);
    rw_cond_value_fini(&v);
    assert_int_equal(rw_cond_value_parse(big, RW_MAX_COND_VALUE_LEN + 1, false, &v), RW_EINVAL);
    /* quoting for the deny log: printable ASCII, escapes, truncation, bounded output */
    rw_cond_quote(nasty, strlen(nasty), 64, q, sizeof(q));
    assert_string_equal(q, "\"a\\\"b\\\\c???\"");
    rw_cond_quote(big, sizeof(big), 64, q, sizeof(q));
    assert_true(strlen(q) < sizeof(q));
    assert_non_null(strstr(q, "...\""));
    /* a value from the predicate is quoted the same way in a failure */
    fails("{\"k\":\"evil\\u0007\\n\\\"x\"}", (struct cspec){"k", RW_COND_EQUALS, {"s:good"}},
          "got \"evil??\\\"x\"");
}

static void test_glob(void **state)
{
    char why[128];

    (void)state;
    assert_true(rw_cond_glob_match("spiffe://example.org/*", "spiffe://example.org/a/b", 24));
    assert_true(rw_cond_glob_match("*", "", 0));
    assert_true(rw_cond_glob_match("a?c", "abc", 3));
    assert_false(rw_cond_glob_match("a?c", "ac", 2));
    assert_true(rw_cond_glob_match("[a-c]x", "bx", 2));
    assert_false(rw_cond_glob_match("[!a-c]x", "bx", 2));
    assert_true(rw_cond_glob_match("[]]", "]", 1));
    assert_true(rw_cond_glob_match("a\\*", "a*", 2));
    assert_false(rw_cond_glob_match("a\\*", "ab", 2));
    assert_true(rw_cond_glob_match("*.io/*/v1", "x.io/a/b/v1", 11));
    assert_false(rw_cond_glob_match("abc", "abcd", 4));
    assert_true(rw_cond_glob_match("a*b*c*d", "axxbyyczzd", 10));
    assert_int_equal(rw_cond_glob_check("a[b", why, sizeof(why)), RW_EINVAL);
    assert_int_equal(rw_cond_glob_check("a\\", why, sizeof(why)), RW_EINVAL);
    assert_int_equal(rw_cond_glob_check("a[\\]]b*?", why, sizeof(why)), 0);
    /* the pathological case stays linear-ish: many stars against a long non-match */
    {
        static char s[100000];

        memset(s, 'a', sizeof(s));
        assert_false(rw_cond_glob_match("*a*a*a*a*a*a*a*a*b", s, sizeof(s)));
    }
}

/* ------------------------------------------------------------------ config */

static struct rw_config *load(const char *rule, char *err, size_t errlen, int want_rc)
{
    char dir[1024];
    char yaml[4096];
    struct rw_config *c = NULL;

    snprintf(yaml, sizeof(yaml),
             "upstreams: {r: 'http://h:1'}\nkeys: {team: {file: p256.pub}, pipeline: {file: "
             "other.pub}}\npull:\n  rules:\n    - match: 'r/**'\n      require:\n%s"
             "cache: {path: cache}\n",
             rule);
    err[0] = '\0';
    if (rw_config_load_mem("c.yaml", pdata_dir(dir, sizeof(dir)), yaml, strlen(yaml), &c, err,
                           errlen) != want_rc) {
        fail_msg("rule:\n%s\nerror: %s", rule, err);
    }
    return c;
}

/* signature_on: index without a cache could never allow a platform manifest: refused at load */
static void test_config_index_needs_cache(void **state)
{
    static const char yaml[] = "upstreams: {r: 'http://h:1'}\nkeys: {team: {file: p256.pub}}\n"
                               "pull:\n  rules:\n    - match: 'r/**'\n      require:\n"
                               "        signed_by: [team]\n        signature_on: %s\n";
    char dir[1024];
    char doc[512];
    char err[512];
    struct rw_config *c = NULL;

    (void)state;
    snprintf(doc, sizeof(doc), yaml, "index");
    assert_int_not_equal(rw_config_load_mem("c.yaml", pdata_dir(dir, sizeof(dir)), doc,
                                            strlen(doc), &c, err, sizeof(err)),
                         0);
    assert_null(c);
    assert_non_null(strstr(err, "signature_on: index needs cache.path"));
    snprintf(doc, sizeof(doc), yaml, "either");
    assert_int_equal(rw_config_load_mem("c.yaml", pdata_dir(dir, sizeof(dir)), doc, strlen(doc),
                                        &c, err, sizeof(err)),
                     0);
    rw_config_unref(&c);
}

static void test_config_forms(void **state)
{
    char err[512];
    struct rw_config *c;
    const struct rw_pull_rule *r;
    const struct rw_att_req *a;

    (void)state;
    c = load("        signed_by: [team]\n"
             "        signature_on: index\n"
             "        attestations:\n"
             "          - https://slsa.dev/provenance/v1\n"
             "          - predicate_type: https://slsa.dev/provenance/v1\n"
             "            signed_by: [pipeline]\n"
             "            conditions:\n"
             "              - {path: runDetails.builder.id, equals: \"spiffe://e.org/rw\"}\n"
             "              - {path: a.b, in: [team/app, 3, true, '4']}\n"
             "              - {path: 'x.*.y', matches: 'spiffe://e.org/*'}\n"
             "              - {path: s.critical, at_most: 0}\n"
             "          - predicate_type: https://spdx.dev/Document\n",
             err, sizeof(err), 0);
    r = &c->pull[0];
    assert_int_equal(r->signature_on, RW_SIG_ON_INDEX);
    assert_int_equal(r->n_attestations, 3);
    a = &r->attestations[0];
    assert_string_equal(a->predicate_type, RW_SLSA_PROVENANCE_V1);
    assert_false(a->own_keys);
    assert_int_equal(a->n_signed_by, 1);
    assert_string_equal(a->signed_by[0], "team"); /* the rule's keys */
    assert_int_equal(a->n_conds, 0);
    a = &r->attestations[1];
    assert_true(a->own_keys);
    assert_string_equal(a->signed_by[0], "pipeline");
    assert_int_equal(a->n_conds, 4);
    assert_int_equal(a->conds[0].op, RW_COND_EQUALS);
    assert_string_equal(a->conds[0].values[0].text, "spiffe://e.org/rw");
    assert_int_equal(a->conds[1].op, RW_COND_IN);
    assert_int_equal(a->conds[1].n_values, 4);
    assert_int_equal(a->conds[1].values[0].type, RW_COND_STRING);
    assert_int_equal(a->conds[1].values[1].type, RW_COND_NUMBER);
    assert_int_equal(a->conds[1].values[2].type, RW_COND_BOOL);
    assert_int_equal(a->conds[1].values[3].type, RW_COND_STRING); /* quoted */
    assert_int_equal(a->conds[2].op, RW_COND_MATCHES);
    assert_int_equal(a->conds[3].op, RW_COND_AT_MOST);
    assert_int_equal(a->conds[3].line, 17);
    assert_string_equal(r->attestations[2].signed_by[0], "team");
    assert_int_equal(r->attestations[2].line, 18);
    rw_config_unref(&c);
    /* a requirement's own keys make them referenced keys (their SPKI is hashed) */
    c = load("        signed_by: [team]\n        signature_on: either\n", err, sizeof(err), 0);
    assert_int_equal(c->pull[0].signature_on, RW_SIG_ON_EITHER);
    rw_config_unref(&c);
}

static void test_config_errors(void **state)
{
    static const struct {
        const char *rule;
        const char *err;
    } bad[] = {
        {"        signed_by: [team]\n        signature_on: both\n",
         "c.yaml:8: pull.rules[0].require.signature_on: expected either, index or manifest"},
        {"        signed_by: [team]\n        attestations: [{signed_by: [team]}]\n",
         "c.yaml:8: pull.rules[0].require.attestations[0]: predicate_type is required"},
        {"        signed_by: [team]\n        attestations: [{predicate_type: x}]\n",
         "c.yaml:8: pull.rules[0].require.attestations: 'x' is not a predicate type URI"},
        {"        signed_by: [team]\n        attestations: [{predicate_type: a:b, keys: [x]}]\n",
         "c.yaml:8: pull.rules[0].require.attestations[0]: unknown key 'keys'"},
        {"        signed_by: [team]\n        attestations: [{predicate_type: a:b, signed_by: []}]\n",
         "c.yaml:8: pull.rules[0].require.attestations[0].signed_by: at least one key name is "
         "required"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, signed_by: [nobody]}]\n",
         "c.yaml:8: pull.rules[0].require.attestations[0].signed_by: key 'nobody' is not defined "
         "in keys:"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, signed_by: team}]\n",
         "c.yaml:8: pull.rules[0].require.attestations[0].signed_by: expected a list"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, conditions: {path: a}}]\n",
         "c.yaml:8: pull.rules[0].require.attestations[0].conditions: expected a list"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, conditions: [{equals: 1}]}]\n",
         "c.yaml:8: pull.rules[0].require.attestations[0].conditions[0]: path is required"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, conditions: [{path: a}]}]\n",
         "conditions[0]: exactly one of equals, in, matches, at_most"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, conditions: [{path: a, equals: 1, "
         "at_most: 2}]}]\n",
         "conditions[0]: exactly one of equals, in, matches, at_most"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, conditions: [{path: a, above: 1}]}]\n",
         "conditions[0]: unknown key 'above'"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, conditions: [{path: 'a..b', equals: 1}]}]\n",
         "conditions[0].path: empty segment"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, conditions: [{path: 'a.b*', equals: 1}]}]\n",
         "conditions[0].path: '*' must be a whole segment"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, conditions: [{path: a, equals: [1]}]}]\n",
         "conditions[0].equals: expected a string, number or boolean"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, conditions: [{path: a, equals: ~}]}]\n",
         "conditions[0].equals: expected a string, number or boolean"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, conditions: [{path: a, in: []}]}]\n",
         "conditions[0].in: expected a non-empty list of values"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, conditions: [{path: a, in: x}]}]\n",
         "conditions[0].in: expected a non-empty list of values"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, conditions: [{path: a, matches: 3}]}]\n",
         "conditions[0].matches: expected a string (a glob)"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, conditions: [{path: a, matches: 'a[b'}]}]\n",
         "conditions[0].matches: unclosed '['"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, conditions: [{path: a, at_most: '3'}]}]\n",
         "conditions[0].at_most: expected a number"},
        {"        signed_by: [team]\n"
         "        attestations: [{predicate_type: a:b, conditions: [{path: a, at_most: 1e999}]}]\n",
         "conditions[0].at_most: too long"},
        {"        signed_by: [team]\n        attestations: [a:b, {predicate_type: a:b}]\n",
         "'a:b' is listed twice"},
    };
    char err[512];
    char rule[2048];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(load(bad[i].rule, err, sizeof(err), RW_ECONFIG));
        if (strstr(err, bad[i].err) == NULL) {
            fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, bad[i].err);
        }
    }
    /* bounds: 17 conditions, 65 values in one `in`, a 257-byte path */
    snprintf(rule, sizeof(rule), "        signed_by: [team]\n        attestations:\n"
                                 "          - predicate_type: a:b\n            conditions:\n");
    for (int i = 0; i < 17; i++) {
        snprintf(rule + strlen(rule), sizeof(rule) - strlen(rule),
                 "              - {path: a, equals: %d}\n", i);
    }
    assert_null(load(rule, err, sizeof(err), RW_ECONFIG));
    assert_non_null(strstr(err, "conditions: too many conditions (max 16)"));
    snprintf(rule, sizeof(rule), "        signed_by: [team]\n        attestations:\n"
                                 "          - predicate_type: a:b\n            conditions:\n"
                                 "              - path: a\n                in: [");
    for (int i = 0; i < 65; i++) {
        snprintf(rule + strlen(rule), sizeof(rule) - strlen(rule), "%s%d", i ? ", " : "", i);
    }
    snprintf(rule + strlen(rule), sizeof(rule) - strlen(rule), "]\n");
    assert_null(load(rule, err, sizeof(err), RW_ECONFIG));
    assert_non_null(strstr(err, "in: too many values (max 64)"));
    snprintf(rule, sizeof(rule),
             "        signed_by: [team]\n        attestations:\n"
             "          - predicate_type: a:b\n            conditions:\n"
             "              - {path: %0257d, equals: 1}\n",
             0);
    assert_null(load(rule, err, sizeof(err), RW_ECONFIG));
    assert_non_null(strstr(err, "path: too long (max 256 bytes)"));
}

static void test_config_hash(void **state)
{
    static const char *const rules[] = {
        "        signed_by: [team]\n        attestations: [a:b]\n",
        "        signed_by: [team]\n        attestations: [{predicate_type: a:b}]\n",
        "        signed_by: [team]\n        attestations: [{predicate_type: a:b, signed_by: "
        "[pipeline]}]\n",
        "        signed_by: [team]\n        attestations: [{predicate_type: a:b, signed_by: "
        "[team]}]\n",
        "        signed_by: [team]\n        attestations: [{predicate_type: a:b, conditions: "
        "[{path: a, equals: 1}]}]\n",
        "        signed_by: [team]\n        attestations: [{predicate_type: a:b, conditions: "
        "[{path: a, equals: '1'}]}]\n",
        "        signed_by: [team]\n        attestations: [{predicate_type: a:b, conditions: "
        "[{path: a, equals: 2}]}]\n",
        "        signed_by: [team]\n        attestations: [{predicate_type: a:b, conditions: "
        "[{path: b, equals: 1}]}]\n",
        "        signed_by: [team]\n        attestations: [{predicate_type: a:b, conditions: "
        "[{path: a, at_most: 1}]}]\n",
        "        signed_by: [team]\n        attestations: [{predicate_type: a:b, conditions: "
        "[{path: a, in: [1, 2]}]}]\n",
        "        signed_by: [team]\n        attestations: [a:b]\n        signature_on: index\n",
        "        signed_by: [team]\n        attestations: [a:b]\n        signature_on: manifest\n",
    };
    struct rw_config *c[sizeof(rules) / sizeof(rules[0])];
    struct rw_config *again;
    char err[512];

    (void)state;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        c[i] = load(rules[i], err, sizeof(err), 0);
    }
    /* the short form and a bare full form are the same policy */
    assert_memory_equal(c[0]->policy_hash, c[1]->policy_hash, 32);
    /* every other change moves the hash */
    for (size_t i = 1; i < sizeof(rules) / sizeof(rules[0]); i++) {
        for (size_t j = i + 1; j < sizeof(rules) / sizeof(rules[0]); j++) {
            if (memcmp(c[i]->policy_hash, c[j]->policy_hash, 32) == 0) {
                fail_msg("rules %zu and %zu hash alike", i, j);
            }
        }
    }
    /* and it is stable */
    again = load(rules[4], err, sizeof(err), 0);
    assert_memory_equal(again->policy_hash, c[4]->policy_hash, 32);
    rw_config_unref(&again);
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        rw_config_unref(&c[i]);
    }
}

/* OOM anywhere in a config with conditions is -ENOMEM, never a half-built config. */
static void test_config_failmalloc(void **state)
{
    const char *rule = "        signed_by: [team]\n        attestations:\n"
                       "          - predicate_type: a:b\n            signed_by: [pipeline]\n"
                       "            conditions:\n"
                       "              - {path: 'x.*', in: [a, 2, true]}\n";
    char dir[1024];
    char yaml[1024];
    char err[512];
    bool done = false;

    (void)state;
    snprintf(yaml, sizeof(yaml),
             "upstreams: {r: 'http://h:1'}\nkeys: {team: {file: p256.pub}, pipeline: {file: "
             "other.pub}}\npull:\n  rules:\n    - match: 'r/**'\n      require:\n%s"
             "cache: {path: cache}\n",
             rule);
    for (long n = 0; !done && n < 5000; n++) {
        struct rw_config *c = NULL;
        int rc;

        rw_mem_fail_after(n);
        rc = rw_config_load_mem("c.yaml", pdata_dir(dir, sizeof(dir)), yaml, strlen(yaml), &c,
                                err, sizeof(err));
        rw_mem_fail_after(-1);
        if (rc == 0) {
            done = true;
            rw_config_unref(&c);
        } else {
            assert_true(rc == -ENOMEM || rc == RW_ECONFIG || rc == RW_ECRYPTO);
            assert_null(c);
        }
    }
    assert_true(done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equals),
        cmocka_unit_test(test_in_matches_at_most),
        cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_values_and_quote),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_config_forms),
        cmocka_unit_test(test_config_index_needs_cache),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_hash),
        cmocka_unit_test(test_config_failmalloc),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
