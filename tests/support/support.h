/* SPDX-License-Identifier: MIT */
/* Helpers shared by the cmocka unit tests. */
#ifndef RW_TEST_SUPPORT_H
#define RW_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/** Read a whole file into a fresh NUL-terminated heap buffer (test helper; aborts on failure). */
uint8_t *rwt_read_file(const char *path, size_t *len);
/** Path under $RW_TEST_DATA (tests/data); static buffer per call site is the caller's. */
const char *rwt_data_path(char *out, size_t cap, const char *rel);
/** Path under $RW_VECTORS (../shared/vectors). */
const char *rwt_vector_path(char *out, size_t cap, const char *rel);
/** mkdtemp under $TMPDIR; returns a static-lifetime heap string. */
char *rwt_tempdir(void);
/** rm -rf of a directory created by rwt_tempdir. */
void rwt_rmtree(const char *dir);

#endif
