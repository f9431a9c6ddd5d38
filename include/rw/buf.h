/* SPDX-License-Identifier: MIT */
/* A growable byte buffer with a hard cap, for bounded bodies (manifests, JSON replies). */
#ifndef RW_BUF_H
#define RW_BUF_H

#include <stddef.h>
#include <stdint.h>

struct rw_buf {
    uint8_t *data; /* owned; always NUL-terminated past len when non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* 0 = unbounded; appends past it fail with RW_ETOOBIG */
};

void rw_buf_init(struct rw_buf *b, size_t max);
void rw_buf_fini(struct rw_buf *b);
void rw_buf_reset(struct rw_buf *b);
/** @return 0, -ENOMEM, RW_ETOOBIG (buffer unchanged on failure). */
int rw_buf_append(struct rw_buf *b, const void *p, size_t n);
int rw_buf_appends(struct rw_buf *b, const char *s);
int rw_buf_printf(struct rw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Value of one hexadecimal digit, either case (percent-decoding of paths and grpc-message).
 * @return 0..15; -1 when @p c is not a hex digit. Thread: any.
 */
int rw_buf_hex_digit(char c);

#endif
