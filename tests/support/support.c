/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ftw.h>

#include <cmocka.h>

#include "support.h"

uint8_t *rwt_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p;
    long n;

    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc((size_t)n + 1);
    assert_non_null(p);
    if (n > 0 && fread(p, 1, (size_t)n, f) != (size_t)n) {
        fail_msg("short read %s", path);
    }
    p[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return p;
}

static const char *under(char *out, size_t cap, const char *env, const char *dflt,
                         const char *rel)
{
    const char *base = getenv(env);

    snprintf(out, cap, "%s/%s", base != NULL ? base : dflt, rel);
    return out;
}

const char *rwt_data_path(char *out, size_t cap, const char *rel)
{
    return under(out, cap, "RW_TEST_DATA", "tests/data", rel);
}

const char *rwt_vector_path(char *out, size_t cap, const char *rel)
{
    return under(out, cap, "RW_VECTORS", "tests/data/vectors", rel);
}

char *rwt_tempdir(void)
{
    const char *t = getenv("TMPDIR");
    char tmpl[512];
    char *d;

    snprintf(tmpl, sizeof(tmpl), "%s/rwt.XXXXXX", t != NULL ? t : "/tmp");
    d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void rwt_rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
