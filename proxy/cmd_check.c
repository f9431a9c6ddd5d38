/* SPDX-License-Identifier: MIT */
/* `regwarden check`: everything a reload would validate; errors name file:line. */
#include <stdio.h>

#include "rw/policy.h"
#include "cmd.h"

int rw_cmd_check(const char *config_path)
{
    struct rw_config *cfg = NULL;
    char err[1024];

    if (config_path == NULL) {
        fprintf(stderr, "regwarden check: -c FILE is required\n");
        return 2;
    }
    if (rw_config_load(config_path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    printf("%s: ok (%zu upstreams, %zu keys, %zu push rules, %zu pull rules, policy %.16s)\n",
           config_path, cfg->n_upstreams, cfg->n_keys, cfg->n_push, cfg->n_pull,
           cfg->policy_hash_hex);
    rw_config_unref(&cfg);
    return 0;
}
