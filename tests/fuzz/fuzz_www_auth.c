/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the upstream's WWW-Authenticate challenge and the token server's reply
 * (proxy/www_auth.c, R21). Besides "no crash": a parsed challenge is Basic or Bearer, a Bearer
 * one has an http(s) realm without spaces, and every field is NUL-terminated within its bound;
 * a parsed token is visible ASCII only (it becomes a header value).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rw/err.h"
#include "www_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rw_www_auth a;
    char tok[RW_TOKEN_MAX_BYTES + 1];
    int64_t exp = 0;
    int rc;

    rc = rw_www_auth_parse((const char *)data, size, &a);
    if (rc == 0) {
        check(a.scheme == RW_WWW_AUTH_BASIC || a.scheme == RW_WWW_AUTH_BEARER);
        check(memchr(a.realm, '\0', sizeof(a.realm)) != NULL);
        check(memchr(a.service, '\0', sizeof(a.service)) != NULL);
        check(memchr(a.scope, '\0', sizeof(a.scope)) != NULL);
        check(memchr(a.error, '\0', sizeof(a.error)) != NULL);
        if (a.scheme == RW_WWW_AUTH_BEARER) {
            check(strncasecmp(a.realm, "http://", 7) == 0 ||
                  strncasecmp(a.realm, "https://", 8) == 0);
            check(strpbrk(a.realm, " \r\n\t") == NULL);
        }
    } else {
        check(rc == RW_EPROTO || rc == RW_ETOOBIG);
    }
    rc = rw_token_reply_parse(data, size, tok, &exp);
    if (rc == 0) {
        check(tok[0] != '\0' && exp >= 1);
        for (const char *p = tok; *p != '\0'; p++) {
            check((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f);
        }
    } else {
        check(rc == RW_EPROTO || rc == RW_ETOOBIG);
    }
    return 0;
}
