/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for proxy/denylog.c: the contract schema read back with jansson (order, values,
 * nulls), escaping of hostile user agents, bounds, reopen, and 4 threads x 1000 lines that must
 * come out as 4000 whole JSON lines.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "rw/err.h"
#include "support.h"

#include "denylog.h"

#define D256 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct fixture {
    char *dir;
    char path[512];
    struct rw_denylog *d;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = rwt_tempdir();
    snprintf(f->path, sizeof(f->path), "%s/deny.jsonl", f->dir);
    assert_int_equal(rw_denylog_open(f->path, &f->d), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    rw_denylog_close(&f->d);
    assert_null(f->d);
    rwt_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Split the file into lines (each must end in '\n'); returns a heap copy the caller frees. */
static char *read_lines(const char *path, char **lines, size_t max, size_t *n)
{
    size_t len = 0;
    char *buf = (char *)rwt_read_file(path, &len);
    char *p = buf;

    *n = 0;
    while (p < buf + len) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));

        assert_non_null(nl);
        *nl = '\0';
        assert_true(*n < max);
        lines[(*n)++] = p;
        p = nl + 1;
    }
    return buf;
}

static void assert_key_order(const char *line, const char *const *keys, size_t n)
{
    const char *prev = line;

    for (size_t i = 0; i < n; i++) {
        char pat[64];
        const char *at;

        snprintf(pat, sizeof(pat), "\"%s\":", keys[i]);
        at = strstr(prev, pat);
        if (at == NULL) {
            fail_msg("key %s missing or out of order in %s", keys[i], line);
        }
        prev = at + strlen(pat);
    }
}

static void assert_str(json_t *o, const char *key, const char *want)
{
    json_t *v = json_object_get(o, key);

    assert_non_null(v);
    if (want == NULL) {
        assert_true(json_is_null(v));
    } else {
        assert_true(json_is_string(v));
        assert_string_equal(json_string_value(v), want);
    }
}

static void assert_time(json_t *root)
{
    const char *t = json_string_value(json_object_get(root, "time"));
    struct tm tm;
    time_t when;
    const char *end;

    assert_non_null(t);
    assert_int_equal(strlen(t), 24);
    memset(&tm, 0, sizeof(tm));
    end = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
    assert_non_null(end);
    assert_true(end[0] == '.' && end[1] >= '0' && end[1] <= '9' && end[2] >= '0' &&
                end[2] <= '9' && end[3] >= '0' && end[3] <= '9' && end[4] == 'Z');
    when = timegm(&tm);
    assert_true(llabs((long long)(when - time(NULL))) < 60);
}

static const struct rw_deny_event full_deny = {
    .event = "deny",
    .request_id = "7f3a01",
    .client_addr = "10.0.0.7",
    .identity = "spiffe://example.org/ns/ci/sa/builder",
    .user_agent = "containerd/1.6.20",
    .registry = "registry.local",
    .repository = "team/app",
    .reference = "v1",
    .digest = D256,
    .rule = "registry.local/team/**",
    .mode = "enforce",
    .reason = "no-signature",
    .detail = "no signature by key team",
};

static void test_deny_schema(void **state)
{
    static const char *const order[] = {"time", "event", "request_id", "client", "addr",
                                        "identity", "user_agent", "image", "registry",
                                        "repository", "reference", "digest", "rule", "mode",
                                        "reason", "detail"};
    struct fixture *f = *state;
    struct rw_deny_event audit = full_deny;
    char *lines[4];
    size_t n = 0;
    char *buf;
    json_t *root;
    json_t *client;
    json_t *image;
    json_error_t jerr;

    audit.event = "audit-deny";
    audit.mode = "audit";
    assert_int_equal(rw_denylog_deny(f->d, &full_deny), 0);
    assert_int_equal(rw_denylog_deny(f->d, &audit), 0);
    buf = read_lines(f->path, lines, 4, &n);
    assert_int_equal(n, 2);
    assert_key_order(lines[0], order, sizeof(order) / sizeof(order[0]));
    assert_int_equal(strncmp(lines[0], "{\"time\":\"", 9), 0);

    root = json_loads(lines[0], 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_object_size(root), 9);
    assert_time(root);
    assert_str(root, "event", "deny");
    assert_str(root, "request_id", "7f3a01");
    client = json_object_get(root, "client");
    assert_int_equal(json_object_size(client), 3);
    assert_str(client, "addr", "10.0.0.7");
    assert_str(client, "identity", "spiffe://example.org/ns/ci/sa/builder");
    assert_str(client, "user_agent", "containerd/1.6.20");
    image = json_object_get(root, "image");
    assert_int_equal(json_object_size(image), 4);
    assert_str(image, "registry", "registry.local");
    assert_str(image, "repository", "team/app");
    assert_str(image, "reference", "v1");
    assert_str(image, "digest", D256);
    assert_str(root, "rule", "registry.local/team/**");
    assert_str(root, "mode", "enforce");
    assert_str(root, "reason", "no-signature");
    assert_str(root, "detail", "no signature by key team");
    json_decref(root);

    root = json_loads(lines[1], 0, &jerr);
    assert_non_null(root);
    assert_str(root, "event", "audit-deny");
    assert_str(root, "mode", "audit");
    json_decref(root);
    free(buf);
}

static void test_nulls(void **state)
{
    static const char *const order[] = {"time", "event", "request_id", "client", "addr",
                                        "identity", "user_agent", "image", "registry",
                                        "repository", "reference", "digest", "rule", "mode",
                                        "reason", "detail"};
    struct fixture *f = *state;
    struct rw_deny_event e;
    char *lines[2];
    size_t n = 0;
    char *buf;
    json_t *root;
    json_error_t jerr;

    memset(&e, 0, sizeof(e));
    e.event = "deny";
    e.reason = "no-rule";
    assert_int_equal(rw_denylog_deny(f->d, &e), 0);
    buf = read_lines(f->path, lines, 2, &n);
    assert_int_equal(n, 1);
    assert_key_order(lines[0], order, sizeof(order) / sizeof(order[0]));
    assert_non_null(strstr(lines[0], "\"client\":{\"addr\":null,\"identity\":null,"
                                     "\"user_agent\":null}"));
    assert_non_null(strstr(lines[0], "\"image\":{\"registry\":null,\"repository\":null,"
                                     "\"reference\":null,\"digest\":null},\"rule\":null,"
                                     "\"mode\":null,\"reason\":\"no-rule\",\"detail\":null}"));
    root = json_loads(lines[0], 0, &jerr);
    assert_non_null(root);
    assert_str(root, "request_id", NULL);
    assert_str(json_object_get(root, "client"), "identity", NULL);
    assert_str(json_object_get(root, "image"), "digest", NULL);
    assert_str(root, "rule", NULL);
    json_decref(root);
    free(buf);

    assert_int_equal(rw_denylog_deny(f->d, NULL), -EINVAL);
    assert_int_equal(rw_denylog_deny(NULL, &e), -EINVAL);
    assert_int_equal(rw_denylog_signed(f->d, NULL), -EINVAL);
}

static void test_signed_schema(void **state)
{
    static const char *const order[] = {"time", "event", "request_id", "client", "addr",
                                        "identity", "user_agent", "image", "registry",
                                        "repository", "reference", "digest", "rule", "key",
                                        "key_version", "signature"};
    struct fixture *f = *state;
    const struct rw_signed_event e = {
        .request_id = "r1",
        .client_addr = "10.0.0.8",
        .identity = NULL,
        .user_agent = "skopeo/1.9.3",
        .registry = "registry.local",
        .repository = "team/app",
        .reference = "v2",
        .digest = D256,
        .rule = "registry.local/team/**",
        .key = "vault",
        .key_version = "vault:v2",
        .signature = "sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sig",
    };
    char *lines[2];
    size_t n = 0;
    char *buf;
    json_t *root;
    json_error_t jerr;

    assert_int_equal(rw_denylog_signed(f->d, &e), 0);
    buf = read_lines(f->path, lines, 2, &n);
    assert_int_equal(n, 1);
    assert_key_order(lines[0], order, sizeof(order) / sizeof(order[0]));
    root = json_loads(lines[0], 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_object_size(root), 9);
    assert_time(root);
    assert_str(root, "event", "signed");
    assert_str(root, "request_id", "r1");
    assert_str(json_object_get(root, "client"), "addr", "10.0.0.8");
    assert_str(json_object_get(root, "client"), "identity", NULL);
    assert_str(json_object_get(root, "client"), "user_agent", "skopeo/1.9.3");
    assert_str(json_object_get(root, "image"), "reference", "v2");
    assert_str(json_object_get(root, "image"), "digest", D256);
    assert_str(root, "rule", "registry.local/team/**");
    assert_str(root, "key", "vault");
    assert_str(root, "key_version", "vault:v2");
    assert_str(root, "signature", e.signature);
    assert_null(json_object_get(root, "mode"));
    assert_null(json_object_get(root, "reason"));
    json_decref(root);
    free(buf);
}

static void test_hostile_user_agent(void **state)
{
    struct fixture *f = *state;
    struct rw_deny_event e = full_deny;
    const char *ua = "evil\"}\n{\"event\":\"allow\"\r\x01\x1b[31m\x7f\\";
    char *lines[4];
    size_t n = 0;
    char *buf;
    json_t *root;
    json_error_t jerr;

    e.user_agent = ua;
    e.detail = "bad \xff\xfe utf8 \xc3\xa9";
    assert_int_equal(rw_denylog_deny(f->d, &e), 0);
    buf = read_lines(f->path, lines, 4, &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(lines[0], "evil\\\"}\\n{\\\"event\\\":\\\"allow\\\"\\r\\u0001"
                                     "\\u001B[31m\x7f\\\\\""));
    root = json_loads(lines[0], 0, &jerr);
    assert_non_null(root);
    assert_str(json_object_get(root, "client"), "user_agent", ua);
    assert_str(root, "detail", "bad ?? utf8 \xc3\xa9");
    assert_str(root, "event", "deny");
    json_decref(root);
    free(buf);
}

static void test_bounds(void **state)
{
    struct fixture *f = *state;
    struct rw_deny_event e = full_deny;
    char *big = malloc(4001);
    char *lines[2];
    size_t n = 0;
    char *buf;
    json_t *root;
    json_error_t jerr;

    assert_non_null(big);
    /* 3-byte characters, so neither cut point lands on a boundary by luck */
    for (int i = 0; i < 3999; i += 3) {
        memcpy(big + i, "\xe2\x82\xac", 3);
    }
    big[3999] = '\0';
    e.user_agent = big;
    e.detail = big;
    e.request_id = big;
    assert_int_equal(rw_denylog_deny(f->d, &e), 0);
    buf = read_lines(f->path, lines, 2, &n);
    assert_int_equal(n, 1);
    root = json_loads(lines[0], 0, &jerr);
    assert_non_null(root);
    assert_int_equal(strlen(json_string_value(json_object_get(root, "detail"))), 510);
    assert_int_equal(
        strlen(json_string_value(json_object_get(json_object_get(root, "client"), "user_agent"))),
        255);
    assert_int_equal(strlen(json_string_value(json_object_get(root, "request_id"))), 510);
    json_decref(root);
    free(buf);
    free(big);
}

static void test_reopen(void **state)
{
    struct fixture *f = *state;
    char rotated[600];
    char *lines[4];
    size_t n = 0;
    char *buf;
    struct stat st;

    assert_int_equal(rw_denylog_deny(f->d, &full_deny), 0);
    snprintf(rotated, sizeof(rotated), "%s.1", f->path);
    assert_int_equal(rename(f->path, rotated), 0);
    assert_int_equal(rw_denylog_deny(f->d, &full_deny), 0); /* still the old file */
    assert_int_equal(rw_denylog_reopen(f->d), 0);
    assert_int_equal(rw_denylog_deny(f->d, &full_deny), 0);
    buf = read_lines(rotated, lines, 4, &n);
    assert_int_equal(n, 2);
    free(buf);
    buf = read_lines(f->path, lines, 4, &n);
    assert_int_equal(n, 1);
    free(buf);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777 & ~0640, 0);
}

static void test_open_errors(void **state)
{
    struct rw_denylog *d = NULL;

    (void)state;
    assert_int_equal(rw_denylog_open("/nonexistent-rw-dir/deny.jsonl", &d), -ENOENT);
    assert_null(d);
    assert_int_equal(rw_denylog_open(NULL, &d), -EINVAL);
    assert_int_equal(rw_denylog_open("", &d), -EINVAL);
    assert_int_equal(rw_denylog_open("-", &d), 0);
    assert_int_equal(rw_denylog_reopen(d), 0);
    rw_denylog_close(&d);
    assert_null(d);
    rw_denylog_close(&d);
    rw_denylog_close(NULL);
}

#define N_THREADS 4
#define N_LINES   1000

struct writer {
    struct rw_denylog *d;
    int id;
    int failures;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    char rid[32];
    char detail[400];
    struct rw_deny_event e = full_deny;

    /* long enough lines that an interleaving would be visible */
    memset(detail, 'a' + w->id, sizeof(detail) - 1);
    detail[sizeof(detail) - 1] = '\0';
    e.detail = detail;
    e.request_id = rid;
    for (int i = 0; i < N_LINES; i++) {
        snprintf(rid, sizeof(rid), "t%d-%d", w->id, i);
        if (i % 2 == 0) {
            if (rw_denylog_deny(w->d, &e) != 0) {
                w->failures++;
            }
        } else {
            const struct rw_signed_event s = {.request_id = rid, .key = "file"};

            if (rw_denylog_signed(w->d, &s) != 0) {
                w->failures++;
            }
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct fixture *f = *state;
    pthread_t th[N_THREADS];
    struct writer w[N_THREADS];
    int seen[N_THREADS] = {0};
    char **lines = malloc(sizeof(char *) * (N_THREADS * N_LINES + 1));
    size_t n = 0;
    char *buf;

    assert_non_null(lines);
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (struct writer){.d = f->d, .id = i, .failures = 0};
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    buf = read_lines(f->path, lines, N_THREADS * N_LINES + 1, &n);
    assert_int_equal(n, N_THREADS * N_LINES);
    for (size_t i = 0; i < n; i++) {
        json_error_t jerr;
        json_t *root = json_loads(lines[i], 0, &jerr);
        const char *rid;
        int t = -1;
        int k = -1;

        if (root == NULL) {
            fail_msg("line %zu is not JSON: %s", i, jerr.text);
        }
        rid = json_string_value(json_object_get(root, "request_id"));
        assert_non_null(rid);
        assert_int_equal(sscanf(rid, "t%d-%d", &t, &k), 2);
        assert_true(t >= 0 && t < N_THREADS);
        seen[t]++;
        json_decref(root);
    }
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(seen[i], N_LINES);
    }
    free(buf);
    free(lines);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deny_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nulls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signed_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_user_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
