/* SPDX-License-Identifier: MIT */
/* The project's allocator wrappers (R10), with a failure-injection counter for tests. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rw/mem.h"

static atomic_long fail_after = -1;

static int should_fail(void)
{
    long n = atomic_load(&fail_after);

    if (n < 0) {
        return 0;
    }
    if (n == 0) {
        return 1;
    }
    atomic_fetch_sub(&fail_after, 1);
    return 0;
}

void rw_mem_fail_after(long n)
{
    atomic_store(&fail_after, n);
}

void *rw_malloc(size_t n)
{
    if (should_fail()) {
        return NULL;
    }
    return malloc(n == 0 ? 1 : n);
}

void *rw_calloc(size_t nmemb, size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    return calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size);
}

void *rw_realloc(void *p, size_t n)
{
    if (should_fail()) {
        return NULL;
    }
    return realloc(p, n == 0 ? 1 : n);
}

void rw_free(void *p)
{
    free(p);
}

char *rw_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = rw_malloc(len + 1);

    if (d == NULL) {
        return NULL;
    }
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *rw_strdup(const char *s)
{
    return rw_strndup(s, strlen(s));
}

char *rw_asprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *d;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return NULL;
    }
    d = rw_malloc((size_t)n + 1);
    if (d == NULL) {
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}
