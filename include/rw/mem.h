/* SPDX-License-Identifier: MIT */
/*
 * The only allocator entry points the project uses (R10). Tests can make the Nth allocation fail
 * with rw_mem_fail_after() to prove that OOM fails a request and never produces an allow.
 */
#ifndef RW_MEM_H
#define RW_MEM_H

#include <stddef.h>

void *rw_malloc(size_t n);
void *rw_calloc(size_t nmemb, size_t size);
void *rw_realloc(void *p, size_t n);
void rw_free(void *p);
char *rw_strdup(const char *s);
char *rw_strndup(const char *s, size_t n);
/** printf into a fresh heap string; NULL on OOM. */
char *rw_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Free *pp and set it to NULL. */
#define rw_free_clear(pp)                                                                          \
    do {                                                                                           \
        rw_free(*(pp));                                                                            \
        *(pp) = NULL;                                                                              \
    } while (0)

/** Test hook: after @p n more successful allocations, every allocation fails. -1 disables. */
void rw_mem_fail_after(long n);

#endif
