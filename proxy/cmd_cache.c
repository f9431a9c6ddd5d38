/* SPDX-License-Identifier: MIT */
/* `regwarden cache stats|purge [--digest D]` on the configured LMDB cache. */
#include <stdio.h>
#include <string.h>

#include "rw/cache.h"
#include "rw/err.h"
#include "rw/policy.h"
#include "cmd.h"

int rw_cmd_cache(const char *config_path, int argc, char **argv)
{
    struct rw_config *cfg = NULL;
    struct rw_cache *cache = NULL;
    char err[1024];
    int rc;
    int status = 2;

    if (config_path == NULL || argc < 2) {
        fprintf(stderr, "usage: regwarden cache -c FILE stats|purge [--digest D]\n");
        return 2;
    }
    if (rw_config_load(config_path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (cfg->cache.path == NULL) {
        fprintf(stderr, "no cache.path configured\n");
        goto out;
    }
    rc = rw_cache_open(cfg->cache.path, cfg->cache.map_size, &cache);
    if (rc != 0) {
        fprintf(stderr, "cannot open cache %s: %s\n", cfg->cache.path, rw_strerror(rc));
        goto out;
    }
    if (strcmp(argv[1], "stats") == 0) {
        struct rw_cache_stats st;

        if (rw_cache_stats_get(cache, &st) != 0) {
            goto out;
        }
        printf("verdicts %llu\nlinks %llu\nmap_size %llu\nused_bytes %llu\n",
               (unsigned long long)st.verdicts, (unsigned long long)st.links,
               (unsigned long long)st.map_size, (unsigned long long)st.used_bytes);
        status = 0;
    } else if (strcmp(argv[1], "purge") == 0) {
        const char *digest = NULL;
        uint64_t n = 0;

        if (argc == 4 && strcmp(argv[2], "--digest") == 0) {
            digest = argv[3];
            if (!rw_oci_digest_valid(digest, strlen(digest))) {
                fprintf(stderr, "invalid digest %s\n", digest);
                goto out;
            }
        } else if (argc != 2) {
            fprintf(stderr, "usage: regwarden cache -c FILE purge [--digest D]\n");
            goto out;
        }
        rc = rw_cache_purge(cache, digest, &n);
        if (rc != 0) {
            fprintf(stderr, "purge failed: %s\n", rw_strerror(rc));
            goto out;
        }
        rw_cache_sync(cache);
        printf("purged %llu records\n", (unsigned long long)n);
        status = 0;
    } else {
        fprintf(stderr, "unknown cache command %s\n", argv[1]);
    }
out:
    rw_cache_close(&cache);
    rw_config_unref(&cfg);
    return status;
}
