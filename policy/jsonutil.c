/* SPDX-License-Identifier: MIT */
/*
 * Bounded JSON loading for policy/. jansson has its own nesting limit (2048); ours is
 * RW_MAX_JSON_DEPTH, checked on the raw bytes before jansson sees them, so that a depth bomb costs
 * one linear scan and no allocation.
 */
#include <stdbool.h>

#include "jsonutil.h"
#include "rw/err.h"
#include "rw/limits.h"

/* Max nesting of [ and { outside strings; false when over the limit. */
static bool depth_ok(const uint8_t *p, size_t n)
{
    unsigned depth = 0;
    bool in_str = false;
    bool esc = false;

    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];

        if (in_str) {
            if (esc) {
                esc = false;
            } else if (c == '\\') {
                esc = true;
            } else if (c == '"') {
                in_str = false;
            }
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > RW_MAX_JSON_DEPTH) {
                return false;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return true;
}

int rw_policy_json_load(const uint8_t *p, size_t n, size_t max, json_t **out)
{
    json_error_t jerr;
    json_t *root;

    if (n > max) {
        return RW_ETOOBIG;
    }
    if (p == NULL || n == 0) {
        return RW_EPROTO;
    }
    if (!depth_ok(p, n)) {
        return RW_ETOOBIG;
    }
    root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return RW_EPROTO;
    }
    *out = root;
    return 0;
}

int64_t rw_policy_json_size(const json_t *v)
{
    json_int_t i;

    if (!json_is_integer(v)) {
        return -1;
    }
    i = json_integer_value(v);
    return i < 0 ? -1 : (int64_t)i;
}
