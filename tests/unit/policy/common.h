/* SPDX-License-Identifier: MIT */
/* Shared includes and small helpers for the policy/ unit tests. */
#ifndef RW_TEST_POLICY_COMMON_H
#define RW_TEST_POLICY_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rw/err.h"
#include "rw/mem.h"
#include "rw/policy.h"
#include "support.h"

/* Directory of the policy test data (absolute: meson passes an absolute RW_TEST_DATA). */
static inline const char *pdata_dir(char *out, size_t cap)
{
    return rwt_data_path(out, cap, "policy");
}

/* Load @p yaml as config file "t.yaml" beside the policy test data; @p err gets the message. */
static inline int load_t_yaml(const char *yaml, struct rw_config **out, char *err, size_t errlen)
{
    char dir[1024];

    err[0] = '\0';
    return rw_config_load_mem("t.yaml", pdata_dir(dir, sizeof(dir)), yaml, strlen(yaml), out, err,
                              errlen);
}

struct err_case {
    const char *yaml;
    const char *where; /* "t.yaml:N: " */
    const char *what;  /* substring of the message */
};

/* Each case must be refused with RW_ECONFIG, a message starting at @p where and naming @p what. */
static inline void expect_config_errors(const struct err_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct rw_config *c = NULL;
        char err[512];
        int rc = load_t_yaml(cases[i].yaml, &c, err, sizeof(err));

        if (rc != RW_ECONFIG || strncmp(err, cases[i].where, strlen(cases[i].where)) ||
            strstr(err, cases[i].what) == NULL) {
            fail_msg("case %zu: rc %d err '%s' (want '%s...%s')", i, rc, err, cases[i].where,
                     cases[i].what);
        }
        assert_null(c);
    }
}

/* Read a vector file, failing the test when missing. Caller free()s. */
static inline uint8_t *read_vec(const char *rel, size_t *len)
{
    char p[1024];

    return rwt_read_file(rwt_vector_path(p, sizeof(p), rel), len);
}

static inline uint8_t *read_data(const char *rel, size_t *len)
{
    char p[1024];

    return rwt_read_file(rwt_data_path(p, sizeof(p), rel), len);
}

/* Decode a base64 file (one line, maybe a trailing newline) into @p out. */
static inline size_t read_b64_vec(const char *rel, uint8_t *out, size_t cap)
{
    size_t n = 0;
    size_t outlen = 0;
    uint8_t *b = read_vec(rel, &n);

    while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r')) {
        n--;
    }
    assert_int_equal(rw_base64_decode((const char *)b, n, out, cap, &outlen), 0);
    free(b);
    return outlen;
}

static inline struct rw_pubkey *load_vec_key(const char *rel)
{
    struct rw_pubkey *pk = NULL;
    char p[1024];

    assert_int_equal(rw_pubkey_load_file(rwt_vector_path(p, sizeof(p), rel), &pk), 0);
    return pk;
}

#endif
