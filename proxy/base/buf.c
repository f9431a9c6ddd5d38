/* SPDX-License-Identifier: MIT */
/* Bounded growable buffer. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rw/buf.h"
#include "rw/err.h"
#include "rw/mem.h"

void rw_buf_init(struct rw_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void rw_buf_fini(struct rw_buf *b)
{
    rw_free_clear(&b->data);
    b->len = 0;
    b->cap = 0;
}

void rw_buf_reset(struct rw_buf *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

static int reserve(struct rw_buf *b, size_t extra)
{
    size_t need;
    size_t ncap;
    uint8_t *p;

    if (extra > SIZE_MAX - b->len - 1) {
        return RW_ETOOBIG;
    }
    need = b->len + extra + 1;
    if (b->max != 0 && b->len + extra > b->max) {
        return RW_ETOOBIG;
    }
    if (need <= b->cap) {
        return 0;
    }
    ncap = b->cap == 0 ? 256 : b->cap;
    while (ncap < need) {
        ncap *= 2;
    }
    p = rw_realloc(b->data, ncap);
    if (p == NULL) {
        return -ENOMEM;
    }
    b->data = p;
    b->cap = ncap;
    return 0;
}

int rw_buf_append(struct rw_buf *b, const void *p, size_t n)
{
    int rc = reserve(b, n);

    if (rc != 0) {
        return rc;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int rw_buf_appends(struct rw_buf *b, const char *s)
{
    return rw_buf_append(b, s, strlen(s));
}

int rw_buf_printf(struct rw_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    int rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return RW_EINTERNAL;
    }
    rc = reserve(b, (size_t)n);
    if (rc != 0) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int rw_buf_hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}
