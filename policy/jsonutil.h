/* SPDX-License-Identifier: MIT */
/* Private to policy/: the one way policy/ turns outside bytes into a jansson tree. */
#ifndef RW_POLICY_JSONUTIL_H
#define RW_POLICY_JSONUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/**
 * Parse @p n bytes as one JSON value: duplicate keys refused, NUL in strings refused, nesting
 * deeper than RW_MAX_JSON_DEPTH refused, input over @p max refused.
 * @return 0; RW_ETOOBIG (over @p max or too deep); RW_EPROTO (not JSON).
 * Ownership: *out is a new reference the caller json_decref()s; it must not outlive the caller's
 * parse function (STYLE R9).
 */
int rw_policy_json_load(const uint8_t *p, size_t n, size_t max, json_t **out);

/** Integer value in [0, INT64_MAX] or -1. */
int64_t rw_policy_json_size(const json_t *v);

#endif
