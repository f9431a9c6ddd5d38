/* SPDX-License-Identifier: MIT */
/* Private to policy/: the condition engine over a jansson tree (attest.c reuses its parse). */
#ifndef RW_POLICY_CONDITIONS_H
#define RW_POLICY_CONDITIONS_H

#include <stddef.h>

#include <jansson.h>

#include "rw/policy.h"

/**
 * rw_cond_eval over an already parsed document; @p root NULL means "absent" (every path is
 * missing). @return 0 (see rw_cond_eval for *failed and @p why); -ENOMEM.
 * Ownership: @p root is borrowed; nothing points into it after return.
 */
int rw_cond_eval_tree(const json_t *root, const struct rw_cond *conds, size_t n_conds,
                      size_t *failed, char *why, size_t cap);

#endif
