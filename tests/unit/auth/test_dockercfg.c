/* SPDX-License-Identifier: MIT */
/* policy/dockercfg.c: the credential for one registry host in a docker config.json. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rw/err.h"
#include "rw/mem.h"
#include "rw/policy.h"

static int lookup(const char *json, const char *host, char **basic, char **user, char *err,
                  size_t errlen)
{
    return rw_dockercfg_lookup(json, strlen(json), host, basic, user, err, errlen);
}

static void test_auth_field(void **state)
{
    char *basic = NULL;
    char *user = NULL;
    char err[300];

    (void)state;
    /* base64("robot:pa:ss") */
    assert_int_equal(lookup("{\"auths\":{\"other:5000\":{\"auth\":\"eDp5\"},"
                            "\"127.0.0.1:5000\":{\"auth\":\"cm9ib3Q6cGE6c3M=\"}}}",
                            "127.0.0.1:5000", &basic, &user, err, sizeof(err)),
                     0);
    assert_string_equal(user, "robot");
    assert_string_equal(basic, "cm9ib3Q6cGE6c3M=");
    rw_free_clear(&basic);
    rw_free_clear(&user);
}

static void test_username_password_and_url_keys(void **state)
{
    char *basic = NULL;
    char *user = NULL;
    char err[300];

    (void)state;
    assert_int_equal(lookup("{\"auths\":{\"https://ghcr.io/v2/\":{\"username\":\"u\","
                            "\"password\":\"p\"}}}",
                            "ghcr.io", &basic, &user, err, sizeof(err)),
                     0);
    assert_string_equal(user, "u");
    assert_string_equal(basic, "dTpw"); /* base64("u:p") */
    rw_free_clear(&basic);
    rw_free_clear(&user);
    /* docker login stores Docker Hub under index.docker.io/v1/; the API host is registry-1 */
    assert_int_equal(lookup("{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dTpw\"}}}",
                            "registry-1.docker.io", &basic, &user, err, sizeof(err)),
                     0);
    rw_free_clear(&basic);
    rw_free_clear(&user);
}

static void test_refused_without_secrets_in_errors(void **state)
{
    static const struct {
        const char *json;
        int rc;
    } bad[] = {
        {"{\"auths\":{\"h:1\":{\"auth\":\"not base64!\"}}}", RW_EINVAL},
        {"{\"auths\":{\"h:1\":{\"auth\":\"bm9jb2xvbg==\"}}}", RW_EINVAL}, /* "nocolon" */
        {"{\"auths\":{\"h:1\":{\"auth\":\"OnB3\"}}}", RW_EINVAL},         /* ":pw" */
        {"{\"auths\":{\"h:1\":{\"username\":\"u\"}}}", RW_EINVAL},
        {"{\"auths\":{\"h:1\":{\"identitytoken\":\"secret-id-tok\"}}}", RW_EINVAL},
        {"{\"auths\":{\"h:1\":{\"username\":\"a:b\",\"password\":\"secret-pw\"}}}", RW_EINVAL},
        {"{\"auths\":{\"h:2\":{\"auth\":\"dTpw\"}}}", -ENOENT},
        {"{\"credsStore\":\"desktop\"}", -ENOENT},
        {"{\"auths\":[]}", RW_EINVAL},
        {"[1]", RW_EINVAL},
        {"{", RW_EINVAL},
    };
    char *basic = NULL;
    char *user = NULL;
    char err[300];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (lookup(bad[i].json, "h:1", &basic, &user, err, sizeof(err)) != bad[i].rc) {
            fail_msg("case %zu: want %d", i, bad[i].rc);
        }
        assert_null(basic);
        assert_null(user);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, "secret"));
    }
    assert_int_equal(lookup("{\"credsStore\":\"desktop\"}", "h:1", &basic, &user, err,
                            sizeof(err)),
                     -ENOENT);
    assert_non_null(strstr(err, "credential helpers are not supported"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_field),
        cmocka_unit_test(test_username_password_and_url_keys),
        cmocka_unit_test(test_refused_without_secrets_in_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
