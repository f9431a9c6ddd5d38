/* SPDX-License-Identifier: MIT */
/*
 * OCI distribution grammar checks (PROTOCOLS.md §1.1): repository names, tags, digests.
 * Hand-written matchers, not regex: each runs in one pass and bounds its input first.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "rw/limits.h"
#include "rw/policy.h"

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* component := [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* ; returns bytes consumed or 0 */
static size_t component(const char *s, size_t n)
{
    size_t i = 0;

    if (i >= n || !is_lower_alnum(s[i])) {
        return 0;
    }
    while (i < n && is_lower_alnum(s[i])) {
        i++;
    }
    while (i < n && s[i] != '/') {
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i++;
            if (i < n && s[i] == '_') {
                i++;
            }
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-') {
                i++;
            }
        } else {
            return 0;
        }
        if (i >= n || !is_lower_alnum(s[i])) {
            return 0;
        }
        while (i < n && is_lower_alnum(s[i])) {
            i++;
        }
    }
    return i;
}

bool rw_oci_name_valid(const char *s, size_t n)
{
    size_t i = 0;

    if (n == 0 || n > RW_MAX_REPO_LEN) {
        return false;
    }
    for (;;) {
        size_t c = component(s + i, n - i);

        if (c == 0) {
            return false;
        }
        i += c;
        if (i == n) {
            return true;
        }
        /* component() stops only at '/' */
        i++;
        if (i == n) {
            return false;
        }
    }
}

bool rw_oci_tag_valid(const char *s, size_t n)
{
    if (n == 0 || n > RW_MAX_TAG_LEN) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_';

        if (!word && (i == 0 || (c != '.' && c != '-'))) {
            return false;
        }
    }
    return true;
}

static bool lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

bool rw_oci_digest_valid(const char *s, size_t n)
{
    if (n == 7 + 64 && strncmp(s, "sha256:", 7) == 0) {
        return lower_hex(s + 7, 64);
    }
    if (n == 7 + 128 && strncmp(s, "sha512:", 7) == 0) {
        return lower_hex(s + 7, 128);
    }
    return false;
}
