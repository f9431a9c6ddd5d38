/* SPDX-License-Identifier: MIT */
/*
 * `regwarden verify -c FILE REF`: the pull-side decision for one image, through the same code as
 * a served pull (rw_pull_start), on a private event loop. Exit 0 allow, 1 deny, 2 error.
 * REF is [<upstream name>/]<repository>[:<tag>|@<digest>]; without a configured upstream name
 * in front, default_upstream is used.
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "rw/err.h"
#include "rw/mem.h"
#include "cmd.h"
#include "proxy.h"
#include "upstream_auth.h"

struct verify_ctx {
    struct event_base *base;
    const char *shown;
    int exit_code;
    bool done;
};

static void on_done(void *arg, const struct rw_pull_result *res)
{
    struct verify_ctx *v = arg;

    v->done = true;
    event_base_loopexit(v->base, NULL);
    if (res->rc != 0) {
        fprintf(stderr, "error: %s\n", rw_strerror(res->rc));
        v->exit_code = 2;
        return;
    }
    if (!res->decided) {
        printf("error %s: upstream answered %d\n", v->shown, res->status);
        v->exit_code = 2;
        return;
    }
    if (res->verdict.allow) {
        printf("allow %s digest=%s rule=%s key=%s evidence=", v->shown, res->digest,
               res->rule != NULL ? res->rule : "-",
               res->verdict.key_id[0] != '\0' ? res->verdict.key_id : "-");
        for (unsigned i = 0; i < res->verdict.n_evidence && i < RW_MAX_EVIDENCE; i++) {
            printf("%s%s", i == 0 ? "" : ",", res->verdict.evidence[i]);
        }
        printf("%s%s: %s\n", res->verdict.n_evidence == 0 ? "-" : "",
               res->cached ? " (cached)" : "", res->verdict.detail);
        v->exit_code = 0;
        return;
    }
    printf("deny %s digest=%s rule=%s mode=%s reason=%s%s: %s\n", v->shown,
           res->digest[0] != '\0' ? res->digest : "-", res->rule != NULL ? res->rule : "-",
           rw_mode_str(res->mode), rw_reason_str(res->verdict.reason),
           res->cached ? " (cached)" : "", res->verdict.detail);
    v->exit_code = 1;
}

int rw_cmd_verify(const char *config_path, const char *ref)
{
    struct rw_config *cfg = NULL;
    struct rw_server srv;
    struct rw_worker w;
    struct rw_pull *pull = NULL;
    struct verify_ctx v = {0};
    const struct rw_upstream_cfg *up = NULL;
    char err[1024];
    char buf[1024];
    char *repo;
    char *reference;
    char *slash;
    bool by_digest = false;
    int rc;

    if (strlen(ref) >= sizeof(buf)) {
        fprintf(stderr, "reference too long\n");
        return 2;
    }
    if (rw_config_load(config_path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (rw_config_uses_vault_keys(cfg)) {
        /* the one-shot command does not log in to Vault, so it cannot know the key versions;
         * saying "deny untrusted-key" would be a wrong verdict, not a decision */
        fprintf(stderr, "regwarden verify: the pull rules use keys.*.vault_transit, which only "
                        "`serve` reads from Vault; verify by pulling through the proxy\n");
        rw_config_unref(&cfg);
        return 2;
    }
    snprintf(buf, sizeof(buf), "%s", ref);
    repo = buf;
    slash = strchr(buf, '/');
    if (slash != NULL) {
        *slash = '\0';
        up = rw_config_upstream(cfg, buf);
        if (up != NULL) {
            repo = slash + 1;
        } else if (strchr(buf, '.') != NULL || strchr(buf, ':') != NULL ||
                   strcmp(buf, "localhost") == 0) {
            fprintf(stderr, "deny %s: upstream %s is not configured (unknown-upstream)\n", ref, buf);
            rw_config_unref(&cfg);
            return 2;
        } else {
            *slash = '/';
        }
    }
    if (up == NULL) {
        up = cfg->default_upstream != NULL ? rw_config_upstream(cfg, cfg->default_upstream) : NULL;
        if (up == NULL) {
            fprintf(stderr, "%s names no configured upstream and there is no default_upstream\n",
                    ref);
            rw_config_unref(&cfg);
            return 2;
        }
    }
    reference = strchr(repo, '@');
    if (reference != NULL) {
        *reference++ = '\0';
        by_digest = true;
    } else {
        char *colon = strrchr(repo, ':');

        if (colon != NULL && strchr(colon, '/') == NULL) {
            *colon = '\0';
            reference = colon + 1;
        } else {
            reference = "latest";
        }
    }
    if (!rw_oci_name_valid(repo, strlen(repo)) ||
        (by_digest ? !rw_oci_digest_valid(reference, strlen(reference))
                   : !rw_oci_tag_valid(reference, strlen(reference)))) {
        fprintf(stderr, "invalid image reference %s\n", ref);
        rw_config_unref(&cfg);
        return 2;
    }
    memset(&srv, 0, sizeof(srv));
    memset(&w, 0, sizeof(w));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    w.srv = &srv;
    w.base = event_base_new();
    v.base = w.base;
    v.shown = ref;
    v.exit_code = 2;
    if (w.base == NULL || rw_httpc_new(w.base, &w.httpc) != 0) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    if (cfg->cache.path != NULL) {
        rc = rw_cache_open(cfg->cache.path, cfg->cache.map_size, &srv.cache);
        if (rc != 0) {
            fprintf(stderr, "cache %s unavailable (%s): verifying without it\n", cfg->cache.path,
                    rw_strerror(rc));
        }
    }
    rc = rw_pull_start(&w, cfg, srv.cache, up, repo, reference, by_digest, NULL, NULL, on_done, &v,
                       &pull);
    if (rc != 0) {
        fprintf(stderr, "cannot start: %s\n", rw_strerror(rc));
        goto out;
    }
    event_base_dispatch(w.base);
    if (!v.done) {
        fprintf(stderr, "verification did not complete\n");
        v.exit_code = 2;
    }
out:
    if (srv.cache != NULL) {
        rw_cache_sync(srv.cache);
    }
    rw_cache_close(&srv.cache);
    rw_httpc_free(&w.httpc);
    rw_upauth_fini();
    if (w.base != NULL) {
        event_base_free(w.base);
    }
    rw_config_unref(&cfg);
    curl_global_cleanup();
    return v.exit_code;
}
