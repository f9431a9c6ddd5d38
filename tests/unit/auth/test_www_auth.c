/* SPDX-License-Identifier: MIT */
/*
 * proxy/www_auth.c: the WWW-Authenticate challenge grammar (RFC 9110 §11.6.1: case-insensitive
 * scheme, quoted strings with escapes, commas inside quotes, several params and challenges,
 * token68) and the token server's reply (token / access_token, expires_in default 60).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rw/err.h"
#include "www_auth.h"

static int parse(const char *v, struct rw_www_auth *out)
{
    memset(out, 0x5a, sizeof(*out));
    return rw_www_auth_parse(v, strlen(v), out);
}

static void test_bearer_distribution(void **state)
{
    struct rw_www_auth a;

    (void)state;
    assert_int_equal(parse("Bearer realm=\"https://auth.example.com/token\",service=\"registry."
                           "example.com\",scope=\"repository:team/app:pull,push\"",
                           &a),
                     0);
    assert_int_equal(a.scheme, RW_WWW_AUTH_BEARER);
    assert_string_equal(a.realm, "https://auth.example.com/token");
    assert_string_equal(a.service, "registry.example.com");
    assert_string_equal(a.scope, "repository:team/app:pull,push"); /* comma inside quotes */
    assert_string_equal(a.error, "");
}

static void test_case_spaces_escapes(void **state)
{
    struct rw_www_auth a;

    (void)state;
    assert_int_equal(parse("bEaReR   realm = \"http://127.0.0.1:5002/token?x=\\\"y\\\"\" ,  "
                           "SERVICE=svc , error=\"invalid_token\"",
                           &a),
                     0);
    assert_int_equal(a.scheme, RW_WWW_AUTH_BEARER);
    assert_string_equal(a.realm, "http://127.0.0.1:5002/token?x=\"y\"");
    assert_string_equal(a.service, "svc");
    assert_string_equal(a.error, "invalid_token");
    assert_string_equal(a.scope, "");
}

static void test_basic_and_multiple_challenges(void **state)
{
    struct rw_www_auth a;

    (void)state;
    assert_int_equal(parse("Basic realm=\"e2e-realm\"", &a), 0);
    assert_int_equal(a.scheme, RW_WWW_AUTH_BASIC);
    assert_string_equal(a.realm, "e2e-realm");
    /* Bearer wins over Basic, whatever the order; unknown schemes and token68 are skipped */
    assert_int_equal(parse("Basic realm=\"a, b\", Negotiate abc==, Bearer realm=\"https://t/x\", "
                           "service=\"s\"",
                           &a),
                     0);
    assert_int_equal(a.scheme, RW_WWW_AUTH_BEARER);
    assert_string_equal(a.realm, "https://t/x");
    assert_string_equal(a.service, "s");
    assert_int_equal(parse("Negotiate, Basic", &a), 0);
    assert_int_equal(a.scheme, RW_WWW_AUTH_BASIC);
}

static void test_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "Negotiate abc==",
        "Bearer service=\"x\"",                       /* no realm */
        "Bearer realm=\"ftp://x/token\"",             /* not http(s) */
        "Bearer realm=\"https://user:pw@evil/token\"", /* userinfo */
        "Bearer realm=\"https://t/x\", realm=\"https://u/y\"", /* duplicated */
        "Bearer realm=\"https://t/x",                 /* unterminated */
        "Bearer realm=\"https://t/x\\",               /* dangling escape */
        "Bearer realm=https://t/x",                   /* not a token */
        "Bearer realm=\"https://t/\x01x\"",           /* control character */
        "Bearer realm=\"https://t/x\" junk",
        "=x",
    };
    struct rw_www_auth a;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(bad[i], &a);

        if (rc == 0) {
            fail_msg("accepted: %s", bad[i]);
        }
    }
}

static void test_bounds(void **state)
{
    char v[RW_WWW_AUTH_MAX_HEADER + 64];
    struct rw_www_auth a;
    size_t n;

    (void)state;
    n = (size_t)snprintf(v, sizeof(v), "Bearer realm=\"https://t/");
    memset(v + n, 'a', RW_WWW_AUTH_MAX_REALM);
    memcpy(v + n + RW_WWW_AUTH_MAX_REALM, "\"", 2);
    assert_int_equal(parse(v, &a), RW_ETOOBIG);
    memset(v, ' ', sizeof(v) - 1);
    v[sizeof(v) - 1] = '\0';
    assert_int_equal(parse(v, &a), RW_ETOOBIG);
    assert_int_equal(rw_www_auth_parse("Basic\0x", 7, &a), RW_EPROTO);
}

static int reply(const char *json, char *tok, int64_t *exp)
{
    return rw_token_reply_parse((const uint8_t *)json, strlen(json), tok, exp);
}

static void test_token_reply(void **state)
{
    char tok[RW_TOKEN_MAX_BYTES + 1];
    int64_t exp = 0;

    (void)state;
    assert_int_equal(reply("{\"token\":\"abc.def.ghi\",\"expires_in\":300}", tok, &exp), 0);
    assert_string_equal(tok, "abc.def.ghi");
    assert_int_equal(exp, 300);
    assert_int_equal(reply("{\"access_token\":\"zz\"}", tok, &exp), 0);
    assert_string_equal(tok, "zz");
    assert_int_equal(exp, 60); /* default */
    assert_int_equal(reply("{\"token\":\"\",\"access_token\":\"yy\",\"expires_in\":0}", tok, &exp),
                     0);
    assert_string_equal(tok, "yy");
    assert_int_equal(exp, 60);
    assert_int_equal(reply("{\"token\":\"a b\"}", tok, &exp), RW_EPROTO);
    assert_int_equal(reply("{\"token\":\"a\\r\\nX-Evil: 1\"}", tok, &exp), RW_EPROTO);
    assert_int_equal(reply("{\"expires_in\":60}", tok, &exp), RW_EPROTO);
    assert_int_equal(reply("[]", tok, &exp), RW_EPROTO);
    assert_int_equal(reply("{\"token\":\"a\",\"token\":\"b\"}", tok, &exp), RW_EPROTO);
    assert_int_equal(reply("not json", tok, &exp), RW_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer_distribution),
        cmocka_unit_test(test_case_spaces_escapes),
        cmocka_unit_test(test_basic_and_multiple_challenges),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_token_reply),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
