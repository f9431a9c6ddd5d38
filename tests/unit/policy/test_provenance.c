/* SPDX-License-Identifier: MIT */
/*
 * provenance: {builder_id, build_type} (policy/config.c) and their use in the push statement
 * (policy/attest.c): defaults, URI validation with file:line errors, the length bound, and the
 * configured values landing in runDetails.builder.id / buildDefinition.buildType.
 */
#include <jansson.h>

#include "common.h"

static char g_err[512];

static int load(const char *yaml, struct rw_config **out)
{
    return load_t_yaml(yaml, out, g_err, sizeof(g_err));
}

#define UP "upstreams: {r: 'http://h:1'}\n"

static void test_absent(void **state)
{
    struct rw_config *c = NULL;

    (void)state;
    assert_int_equal(load(UP, &c), 0);
    assert_null(c->provenance.builder_id);
    assert_null(c->provenance.build_type);
    rw_config_unref(&c);
    /* an empty section is the same as none */
    assert_int_equal(load(UP "provenance:\n", &c), 0);
    assert_null(c->provenance.builder_id);
    rw_config_unref(&c);
    assert_int_equal(load(UP "provenance: {}\n", &c), 0);
    assert_null(c->provenance.build_type);
    rw_config_unref(&c);
}

static void test_values(void **state)
{
    struct rw_config *c = NULL;

    (void)state;
    assert_int_equal(load(UP "provenance:\n"
                             "  builder_id: spiffe://example.org/ci/regwarden\n"
                             "  build_type: https://example.org/push/v2\n",
                          &c),
                     0);
    assert_string_equal(c->provenance.builder_id, "spiffe://example.org/ci/regwarden");
    assert_string_equal(c->provenance.build_type, "https://example.org/push/v2");
    rw_config_unref(&c);
    /* one without the other; JSON form */
    assert_int_equal(load("{\"upstreams\": {\"r\": \"http://h:1\"},"
                          " \"provenance\": {\"build_type\": \"urn:example:push\"}}",
                          &c),
                     0);
    assert_null(c->provenance.builder_id);
    assert_string_equal(c->provenance.build_type, "urn:example:push");
    rw_config_unref(&c);
}

static void test_policy_hash_unchanged(void **state)
{
    struct rw_config *a = NULL;
    struct rw_config *b = NULL;

    (void)state;
    /* push-side settings: editing them must not invalidate cached pull verdicts */
    assert_int_equal(load(UP, &a), 0);
    assert_int_equal(load(UP "provenance: {builder_id: 'https://b.example/x'}\n", &b), 0);
    assert_string_equal(a->policy_hash_hex, b->policy_hash_hex);
    rw_config_unref(&a);
    rw_config_unref(&b);
}

static const struct err_case err_cases[] = {
    {UP "provenance: {builder: 'spiffe://x/y'}\n", "t.yaml:2:", "unknown key 'builder'"},
    {UP "provenance: [a]\n", "t.yaml:2:", "provenance: expected a mapping"},
    {UP "provenance: {builder_id: ''}\n",
     "t.yaml:2:", "provenance.builder_id: expected an absolute"},
    {UP "provenance: {builder_id: regwarden}\n",
     "t.yaml:2:", "provenance.builder_id: expected an absolute URI"},
    {UP "provenance: {builder_id: 'spiffe:'}\n", "t.yaml:2:", "expected an absolute URI"},
    {UP "provenance: {builder_id: '1http://x'}\n", "t.yaml:2:", "expected an absolute URI"},
    {UP "provenance: {builder_id: 'https://x/a b'}\n", "t.yaml:2:", "expected an absolute URI"},
    {UP "provenance: {builder_id: 'https://x/\"q'}\n", "t.yaml:2:", "expected an absolute URI"},
    {UP "provenance: {builder_id: 'https://x/\\\\'}\n", "t.yaml:2:", "expected an absolute URI"},
    {UP "provenance: {builder_id: \"https://x/\\u00e9\"}\n",
     "t.yaml:2:", "expected an absolute URI"},
    {UP "provenance: {builder_id: \"https://x/\\t\"}\n", "t.yaml:2:", "expected an absolute URI"},
    {UP "provenance: {build_type: 'not a uri'}\n",
     "t.yaml:2:", "provenance.build_type: expected an absolute URI"},
    {UP "provenance: {build_type: [https://x]}\n",
     "t.yaml:2:", "provenance.build_type: expected a non-empty"},
    {UP "provenance:\n  build_type: https://a\n  build_type: https://b\n",
     "t.yaml:4:", "duplicated key"},
};

static void test_errors(void **state)
{
    (void)state;
    expect_config_errors(err_cases, sizeof(err_cases) / sizeof(err_cases[0]));
}

static void test_length_bound(void **state)
{
    /* 512 bytes of URI load; 513 do not (CFG_MAX_URL) */
    char yaml[1200];
    char uri[600];
    struct rw_config *c = NULL;

    (void)state;
    memcpy(uri, "https://x/", 10);
    memset(uri + 10, 'a', 502);
    uri[512] = '\0';
    snprintf(yaml, sizeof(yaml), UP "provenance: {builder_id: '%s'}\n", uri);
    assert_int_equal(load(yaml, &c), 0);
    assert_int_equal(strlen(c->provenance.builder_id), 512);
    rw_config_unref(&c);
    uri[512] = 'a';
    uri[513] = '\0';
    snprintf(yaml, sizeof(yaml), UP "provenance: {builder_id: '%s'}\n", uri);
    assert_int_equal(load(yaml, &c), RW_ECONFIG);
    assert_non_null(strstr(g_err, "provenance.builder_id: too long"));
    assert_null(c);
}

/* Statement @p st names builder @p id (runDetails.builder.id) and build type @p bt. */
static void expect_builder(const struct rw_buf *st, const char *id, const char *bt)
{
    json_t *root = json_loadb((const char *)st->data, st->len, 0, NULL);
    const char *got_id = NULL;
    const char *got_bt = NULL;

    assert_non_null(root);
    assert_int_equal(json_unpack(root, "{s:{s:{s:s}, s:{s:{s:s}}}}", "predicate",
                                 "buildDefinition", "buildType", &got_bt, "runDetails", "builder",
                                 "id", &got_id),
                     0);
    assert_string_equal(got_id, id);
    assert_string_equal(got_bt, bt);
    json_decref(root);
}

/* The statement carries the configured values; NULL falls back to the constants. */
static void test_statement_uses_them(void **state)
{
    static const char dg[] =
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    struct rw_attest_params ap = {
        .subject_name = "registry.local/team/app",
        .digest = dg,
        .repository = "team/app",
        .reference = "v1",
        .builder_id = "spiffe://example.org/ci/regwarden",
        .build_type = "https://example.org/push/v2",
        .invocation_id = "req1",
        .started_on = 1767225600,
        .finished_on = 1767225605,
    };
    struct rw_buf st;

    (void)state;
    rw_buf_init(&st, 0);
    assert_int_equal(rw_attest_statement_build(&ap, &st), 0);
    expect_builder(&st, "spiffe://example.org/ci/regwarden", "https://example.org/push/v2");
    rw_buf_reset(&st);
    ap.builder_id = NULL;
    ap.build_type = NULL;
    assert_int_equal(rw_attest_statement_build(&ap, &st), 0);
    expect_builder(&st, RW_ATTEST_BUILDER_ID, RW_ATTEST_BUILD_TYPE);
    rw_buf_fini(&st);
}

static void test_failmalloc(void **state)
{
    static const char yaml[] = UP "provenance: {builder_id: 'spiffe://e.org/r',"
                                  " build_type: 'https://e.org/t'}\n";
    bool succeeded = false;

    (void)state;
    for (long n = 0; n < 2000 && !succeeded; n++) {
        struct rw_config *c = NULL;
        int rc;

        rw_mem_fail_after(n);
        rc = load(yaml, &c);
        rw_mem_fail_after(-1);
        if (rc == 0) {
            assert_string_equal(c->provenance.builder_id, "spiffe://e.org/r");
            succeeded = true;
            rw_config_unref(&c);
        } else {
            assert_null(c);
        }
    }
    assert_true(succeeded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absent),        cmocka_unit_test(test_values),
        cmocka_unit_test(test_policy_hash_unchanged), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_length_bound),  cmocka_unit_test(test_statement_uses_them),
        cmocka_unit_test(test_failmalloc),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
