/* SPDX-License-Identifier: MIT */
/* Fuzz target: the config parser (libyaml -> schema), from memory; key paths resolve under /nonexistent. */
#include <stddef.h>
#include <stdint.h>

#include "rw/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rw_config *c = NULL;
    char err[256];

    if (rw_config_load_mem("fuzz.yaml", "/nonexistent", (const char *)data, size, &c, err,
                           sizeof(err)) == 0) {
        (void)rw_policy_pull_rule(c, "registry.local", "team/app");
        rw_config_unref(&c);
    }
    return 0;
}
