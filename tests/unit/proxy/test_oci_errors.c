/* SPDX-License-Identifier: MIT */
/* Unit tests for proxy/oci_errors.c: exact body bytes, escaping, null handling, the sanitiser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "rw/buf.h"
#include "rw/err.h"

#include "oci_errors.h"

static void test_error_body_exact(void **state)
{
    struct rw_buf b;

    (void)state;
    rw_buf_init(&b, 0);
    assert_int_equal(rw_oci_error_body(&b, "MANIFEST_UNKNOWN", "manifest unknown"), 0);
    assert_string_equal((char *)b.data, "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\","
                                        "\"message\":\"manifest unknown\",\"detail\":{}}]}");
    assert_int_equal(b.len, strlen((char *)b.data));
    rw_buf_reset(&b);
    assert_int_equal(rw_oci_error_body(&b, "NAME_INVALID", NULL), 0);
    assert_string_equal((char *)b.data,
                        "{\"errors\":[{\"code\":\"NAME_INVALID\",\"message\":\"\","
                        "\"detail\":{}}]}");
    rw_buf_fini(&b);
}

static void test_denied_body_exact(void **state)
{
    struct rw_buf b;

    (void)state;
    rw_buf_init(&b, 0);
    assert_int_equal(rw_oci_denied_body(&b,
                                        "registry.local/team/app:v1 denied by rule "
                                        "registry.local/team/**: no-signature",
                                        "no-signature", "7f3a01"),
                     0);
    assert_string_equal((char *)b.data,
                        "{\"errors\":[{\"code\":\"DENIED\",\"message\":"
                        "\"registry.local/team/app:v1 denied by rule registry.local/team/**: "
                        "no-signature\",\"detail\":"
                        "{\"reason\":\"no-signature\",\"request_id\":\"7f3a01\"}}]}");
    rw_buf_reset(&b);
    assert_int_equal(rw_oci_denied_body(&b, "m", NULL, NULL), 0);
    assert_string_equal((char *)b.data, "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"m\","
                                        "\"detail\":{\"reason\":null,\"request_id\":null}}]}");
    rw_buf_fini(&b);
}

static void test_escaping(void **state)
{
    struct rw_buf b;
    json_t *root;
    json_error_t jerr;
    const char *msg = "a \"quoted\" \\ back\nslash\t\x01\x1f/ caf\xc3\xa9 \xe2\x82\xac";

    (void)state;
    rw_buf_init(&b, 0);
    assert_int_equal(rw_oci_error_body(&b, "DENIED", msg), 0);
    assert_string_equal((char *)b.data,
                        "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"a \\\"quoted\\\" \\\\ "
                        "back\\nslash\\t\\u0001\\u001F/ caf\xc3\xa9 \xe2\x82\xac\","
                        "\"detail\":{}}]}");
    root = json_loadb((char *)b.data, b.len, 0, &jerr);
    assert_non_null(root);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(root, "errors"), 0),
                                          "message")),
        msg);
    json_decref(root);

    /* invalid UTF-8 becomes '?', the body stays valid JSON */
    rw_buf_reset(&b);
    assert_int_equal(rw_oci_denied_body(&b, "bad \xff\xc0\x80 utf8", "no-rule", "id\xfe"), 0);
    root = json_loadb((char *)b.data, b.len, 0, &jerr);
    assert_non_null(root);
    assert_non_null(strstr((char *)b.data, "\"bad ??? utf8\""));
    assert_non_null(strstr((char *)b.data, "\"request_id\":\"id?\""));
    json_decref(root);
    rw_buf_fini(&b);
}

static void test_bad_input(void **state)
{
    struct rw_buf b;

    (void)state;
    rw_buf_init(&b, 0);
    assert_int_equal(rw_oci_error_body(&b, NULL, "x"), -EINVAL);
    assert_int_equal(rw_oci_error_body(&b, "", "x"), -EINVAL);
    assert_int_equal(rw_oci_error_body(&b, "denied", "x"), -EINVAL);
    assert_int_equal(rw_oci_error_body(&b, "BAD\"CODE", "x"), -EINVAL);
    assert_int_equal(rw_oci_error_body(NULL, "DENIED", "x"), -EINVAL);
    assert_int_equal(rw_oci_denied_body(NULL, "x", NULL, NULL), -EINVAL);
    assert_int_equal(b.len, 0);
    rw_buf_fini(&b);

    /* a capped buffer refuses and stays as it was */
    rw_buf_init(&b, 40);
    assert_int_equal(rw_buf_appends(&b, "prefix"), 0);
    assert_int_equal(rw_oci_error_body(&b, "MANIFEST_UNKNOWN", "manifest unknown"), RW_ETOOBIG);
    assert_int_equal(b.len, 6);
    assert_string_equal((char *)b.data, "prefix");
    rw_buf_fini(&b);
}

static void test_long_message(void **state)
{
    struct rw_buf b;
    char *msg = malloc(5000);
    json_t *root;
    json_error_t jerr;
    const char *m;

    (void)state;
    assert_non_null(msg);
    /* 2-byte characters: the cut must fall on a boundary */
    for (int i = 0; i < 4998; i += 2) {
        msg[i] = (char)0xc3;
        msg[i + 1] = (char)0xa9;
    }
    msg[4998] = '\0';
    rw_buf_init(&b, 0);
    assert_int_equal(rw_oci_error_body(&b, "DENIED", msg), 0);
    root = json_loadb((char *)b.data, b.len, 0, &jerr);
    assert_non_null(root);
    m = json_string_value(
        json_object_get(json_array_get(json_object_get(root, "errors"), 0), "message"));
    assert_int_equal(strlen(m), RW_OCI_MESSAGE_MAX);
    json_decref(root);
    rw_buf_fini(&b);
    free(msg);
}

static void test_sanitize(void **state)
{
    char out[16];

    (void)state;
    assert_int_equal(rw_oci_text_sanitize(out, sizeof(out), NULL), 0);
    assert_string_equal(out, "");
    assert_int_equal(rw_oci_text_sanitize(out, 0, "x"), 0);
    assert_int_equal(rw_oci_text_sanitize(out, sizeof(out), "plain"), 5);
    assert_string_equal(out, "plain");
    /* overlong, surrogate, out of range, stray continuation, truncated sequence */
    rw_oci_text_sanitize(out, sizeof(out), "\xc0\x80|\xed\xa0\x80|\xf5|\x80|\xe2\x82");
    assert_string_equal(out, "??|???|?|?|??");
    rw_oci_text_sanitize(out, sizeof(out), "\xf4\x90\x80\x80|\xf0\x9f\x98\x80");
    assert_string_equal(out, "????|\xf0\x9f\x98\x80");
    /* cut on a boundary: 4 bytes fit, the 4-byte char does not */
    assert_int_equal(rw_oci_text_sanitize(out, 6, "abcd\xf0\x9f\x98\x80"), 4);
    assert_string_equal(out, "abcd");
    assert_int_equal(rw_oci_text_sanitize(out, 4, "abcdef"), 3);
    assert_string_equal(out, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_body_exact), cmocka_unit_test(test_denied_body_exact),
        cmocka_unit_test(test_escaping),         cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_long_message),     cmocka_unit_test(test_sanitize),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
