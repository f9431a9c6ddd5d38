/* SPDX-License-Identifier: MIT */
/*
 * struct rw_secret: Vault tokens, JWT-SVIDs and the bodies and headers that carry them. The
 * storage is zeroised before it is freed or replaced; the only printable form is a short
 * sha256 fingerprint (R15, invariant 5). Must not log, ever.
 */
#include <errno.h>
#include <string.h>

#include "rw/identity.h"
#include "rw/mem.h"
#include "rw/policy.h"

void rw_secret_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n-- > 0) {
        *v++ = 0;
    }
}

void rw_secret_clear(struct rw_secret *s)
{
    if (s == NULL || s->p == NULL) {
        return;
    }
    rw_secret_wipe(s->p, s->len);
    rw_free_clear(&s->p);
    s->len = 0;
}

int rw_secret_set(struct rw_secret *s, const void *p, size_t n)
{
    char *copy = rw_malloc(n + 1);

    if (copy == NULL) {
        return -ENOMEM;
    }
    if (n > 0) {
        memcpy(copy, p, n);
    }
    copy[n] = '\0';
    rw_secret_clear(s);
    s->p = copy;
    s->len = n;
    return 0;
}

int rw_secret_copy(struct rw_secret *dst, const struct rw_secret *src)
{
    if (src == NULL || src->p == NULL) {
        rw_secret_clear(dst);
        return 0;
    }
    return rw_secret_set(dst, src->p, src->len);
}

bool rw_secret_empty(const struct rw_secret *s)
{
    return s == NULL || s->p == NULL || s->len == 0;
}

const char *rw_secret_str(const struct rw_secret *s)
{
    return rw_secret_empty(s) ? "" : s->p;
}

void rw_secret_fingerprint(const struct rw_secret *s, char out[RW_SECRET_FP_LEN])
{
    uint8_t h[32];
    char hex[65];

    if (rw_secret_empty(s)) {
        memcpy(out, "(none)", 7);
        return;
    }
    rw_sha256(s->p, s->len, h);
    rw_hex(h, 6, hex);
    memcpy(out, "sha256:", 7);
    memcpy(out + 7, hex, 12);
    out[19] = '\0';
}
