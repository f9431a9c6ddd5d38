/* SPDX-License-Identifier: MIT */
/*
 * The pull gate: manifest GET/HEAD. The manifest is fetched whole (<= 4 MiB, GET even for HEAD),
 * hashed, checked against the digest asked for and the one advertised, parsed, and decided:
 * cached verdict, index->child link, or a fresh evaluation (policy/eval.c over upstream.c's
 * evidence fetches). The bytes served are the bytes hashed (invariant 2). Every failure on the
 * way is a deny (invariant 1): "could not decide" turns into a verdict in on_decided() only, and
 * audit mode is applied in pull_route_done() only (R7).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rw/err.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "rw_version.h"
#include "proxy.h"

struct rw_pull {
    struct rw_worker *w;          /* borrowed */
    struct rw_config *cfg;        /* ref */
    struct rw_cache *cache;       /* borrowed: the server's, lives as long as the process */
    const struct rw_upstream_cfg *up; /* borrowed: kept alive by cfg */
    char reference[RW_MAX_DIGEST_LEN + 1];
    bool by_digest;
    char *accept;                 /* owned */
    struct rw_evidence_io io;     /* authorization owned */
    rw_pull_done_cb *cb;
    void *arg;
    struct rw_xfer *x;            /* owned; the manifest fetch */
    struct rw_policy_eval *eval;  /* owned */
    const struct rw_pull_rule *rule; /* borrowed: kept alive by cfg */
    struct rw_manifest_info info;
    struct rw_hdrs hdrs;          /* owned copy of the upstream response headers */
    uint8_t *body;                /* owned */
    size_t len;
    int status;
    char digest[72];
    char content_type[128];
};

static void hdrs_copy_free(struct rw_hdrs *h)
{
    for (size_t i = 0; i < h->n; i++) {
        rw_free(h->v[i].name);
        rw_free(h->v[i].value);
    }
    rw_free_clear(&h->v);
    h->n = 0;
}

static int hdrs_copy(struct rw_hdrs *dst, const struct rw_hdrs *src)
{
    dst->v = rw_calloc(src->n + 1, sizeof(*dst->v));
    dst->n = 0;
    if (dst->v == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < src->n; i++) {
        dst->v[i].name = rw_strdup(src->v[i].name);
        dst->v[i].value = rw_strdup(src->v[i].value);
        dst->n++;
        if (dst->v[i].name == NULL || dst->v[i].value == NULL) {
            return -ENOMEM;
        }
    }
    return 0;
}

static void pull_free(struct rw_pull *p)
{
    rw_xfer_cancel(&p->x);
    rw_policy_eval_cancel(&p->eval);
    rw_config_unref(&p->cfg);
    rw_free(p->accept);
    rw_free(p->io.authorization);
    rw_manifest_info_fini(&p->info);
    hdrs_copy_free(&p->hdrs);
    rw_free(p->body);
    rw_free(p);
}

void rw_pull_cancel(struct rw_pull **pp)
{
    if (*pp == NULL) {
        return;
    }
    pull_free(*pp);
    *pp = NULL;
}

static void finish(struct rw_pull *p, int rc, bool decided, const struct rw_verdict *v, bool cached)
{
    struct rw_pull_result res = {0};

    res.rc = rc;
    res.status = p->status;
    res.up_hdrs = &p->hdrs;
    res.body = p->body;
    res.len = p->len;
    memcpy(res.digest, p->digest, sizeof(res.digest));
    res.content_type = p->content_type;
    res.decided = decided;
    if (v != NULL) {
        res.verdict = *v;
    }
    res.cached = cached;
    res.rule = p->rule != NULL ? p->rule->match : NULL;
    res.mode = p->rule != NULL ? rw_policy_rule_mode(p->cfg, p->rule) : p->cfg->pull_mode;
    p->cb(p->arg, &res);
    pull_free(p);
}

static struct rw_verdict deny(enum rw_reason reason, const char *fmt, const char *a)
{
    char detail[512];

    snprintf(detail, sizeof(detail), fmt, a);
    return rw_verdict_fail_closed(RW_EPROTO, reason, detail);
}

static void cache_key(const struct rw_pull *p, const char *digest, struct rw_cache_key *k)
{
    memset(k, 0, sizeof(*k));
    memcpy(k->policy, p->cfg->policy_hash, sizeof(k->policy));
    snprintf(k->upstream, sizeof(k->upstream), "%s", p->up->name);
    snprintf(k->repo, sizeof(k->repo), "%s", p->io.repo);
    snprintf(k->digest, sizeof(k->digest), "%s", digest);
}

static void record(struct rw_pull *p, struct rw_verdict *v)
{
    struct rw_cache_key k;
    int64_t now = (int64_t)time(NULL);
    int rc;

    if (p->cache == NULL || v->reason == RW_REASON_UPSTREAM_ERROR) {
        return; /* transient failures are not remembered */
    }
    v->expires = now + (v->allow ? p->cfg->cache.allow_ttl : p->cfg->cache.deny_ttl);
    if (v->expires <= now) {
        return;
    }
    cache_key(p, p->digest, &k);
    rc = rw_cache_verdict_put(p->cache, &k, v);
    if (rc != 0) {
        rw_log_warn(CACHE, "verdict for %s/%s@%s not cached: %s", p->up->name, p->io.repo,
                    p->digest, rw_strerror(rc));
        return;
    }
    if (v->allow && p->info.is_index) {
        for (size_t i = 0; i < p->info.n_children; i++) {
            cache_key(p, p->info.children[i], &k);
            rw_cache_link_put(p->cache, &k, p->digest, v->expires);
        }
    }
}

/* The one place where "could not decide" becomes a deny (R7). */
static void on_decided(void *arg, int rc, const struct rw_verdict *v)
{
    struct rw_pull *p = arg;
    struct rw_verdict out;

    p->eval = NULL;
    if (rc != 0 || v == NULL) {
        char detail[200];

        snprintf(detail, sizeof(detail), "could not fetch signatures from %s: %s", p->up->name,
                 rw_strerror(rc != 0 ? rc : RW_EINTERNAL));
        out = rw_verdict_fail_closed(rc != 0 ? rc : RW_EINTERNAL, RW_REASON_UPSTREAM_ERROR, detail);
    } else {
        out = *v;
    }
    out.time = (int64_t)time(NULL);
    record(p, &out);
    finish(p, 0, true, &out, false);
}

static void decide(struct rw_pull *p)
{
    struct rw_cache_key k;
    struct rw_verdict v;
    int64_t now = (int64_t)time(NULL);
    char parent[RW_MAX_DIGEST_LEN + 1];
    int rc;

    p->rule = rw_policy_pull_rule(p->cfg, p->up->name, p->io.repo);
    if (p->rule == NULL) {
        v = deny(RW_REASON_NO_RULE, "no pull rule matches %s", p->io.repo);
        finish(p, 0, true, &v, false);
        return;
    }
    if (p->rule->allow) {
        memset(&v, 0, sizeof(v));
        v.allow = true;
        v.time = now;
        snprintf(v.detail, sizeof(v.detail), "allowed by rule %s", p->rule->match);
        finish(p, 0, true, &v, false);
        return;
    }
    if (p->cache != NULL) {
        cache_key(p, p->digest, &k);
        if (rw_cache_verdict_get(p->cache, &k, now, &v) == 0) {
            finish(p, 0, true, &v, true);
            return;
        }
        if (rw_cache_link_get(p->cache, &k, now, parent) == 0) {
            struct rw_verdict pv;

            cache_key(p, parent, &k);
            if (rw_cache_verdict_get(p->cache, &k, now, &pv) == 0 && pv.allow) {
                memset(&v, 0, sizeof(v));
                v.allow = true;
                v.time = now;
                snprintf(v.key_id, sizeof(v.key_id), "%s", pv.key_id);
                snprintf(v.detail, sizeof(v.detail), "allowed through index %s", parent);
                finish(p, 0, true, &v, true);
                return;
            }
        }
    }
    rc = rw_policy_eval_start(p->cfg, p->rule, p->digest, &rw_evidence_ops, &p->io, on_decided, p,
                              &p->eval);
    if (rc != 0) {
        on_decided(p, rc, NULL);
    }
}

static void on_manifest(void *arg, int rc, int status, const struct rw_hdrs *h, const uint8_t *body,
                        size_t len)
{
    struct rw_pull *p = arg;
    const char *advertised;
    const char *ctype;
    struct rw_verdict v;

    p->x = NULL;
    p->status = status;
    if (hdrs_copy(&p->hdrs, h) != 0 || (len > 0 && (p->body = rw_malloc(len)) == NULL)) {
        finish(p, -ENOMEM, false, NULL, false);
        return;
    }
    if (len > 0) {
        memcpy(p->body, body, len);
    }
    p->len = len;
    if (rc == RW_ETOOBIG) {
        p->status = 200;
        v = deny(RW_REASON_INVALID_MANIFEST, "manifest is larger than %s", "4 MiB");
        finish(p, 0, true, &v, false);
        return;
    }
    if (rc != 0) {
        char detail[200];

        snprintf(detail, sizeof(detail), "manifest fetch from %s failed: %s", p->up->name,
                 rw_strerror(rc));
        p->status = 200;
        v = rw_verdict_fail_closed(rc, RW_REASON_UPSTREAM_ERROR, detail);
        finish(p, 0, true, &v, false);
        return;
    }
    if (status != 200) {
        finish(p, 0, false, NULL, false); /* relayed as the upstream said it */
        return;
    }
    rw_sha256_digest(body, len, p->digest);
    if (p->by_digest && strcmp(p->digest, p->reference) != 0) {
        v = deny(RW_REASON_DIGEST_MISMATCH, "upstream body hashes to %s", p->digest);
        finish(p, 0, true, &v, false);
        return;
    }
    advertised = rw_hdrs_get(h, "Docker-Content-Digest");
    if (advertised != NULL && strncmp(advertised, "sha256:", 7) == 0 &&
        strcmp(advertised, p->digest) != 0) {
        v = deny(RW_REASON_DIGEST_MISMATCH, "upstream advertised another digest than %s",
                 p->digest);
        finish(p, 0, true, &v, false);
        return;
    }
    ctype = rw_hdrs_get(h, "Content-Type");
    if (rw_manifest_parse(body, len, ctype, &p->info) != 0) {
        v = deny(RW_REASON_INVALID_MANIFEST, "%s", "manifest is not a valid OCI or Docker v2 manifest");
        finish(p, 0, true, &v, false);
        return;
    }
    snprintf(p->content_type, sizeof(p->content_type), "%s",
             p->info.media_type[0] != '\0' ? p->info.media_type
                                           : (ctype != NULL ? ctype : RW_MT_OCI_MANIFEST));
    decide(p);
}

int rw_pull_start(struct rw_worker *w, struct rw_config *cfg, struct rw_cache *cache,
                  const struct rw_upstream_cfg *up, const char *repo, const char *reference,
                  bool by_digest, const char *accept, const char *authorization,
                  rw_pull_done_cb *cb, void *arg, struct rw_pull **out)
{
    struct rw_pull *p = rw_calloc(1, sizeof(*p));
    struct rw_fetch_req req = {0};
    const char *hdrs[3];
    char *h_accept = NULL;
    char *h_auth = NULL;
    char *url = NULL;
    size_t n = 0;
    int rc = -ENOMEM;

    if (p == NULL) {
        return -ENOMEM;
    }
    p->w = w;
    p->cfg = rw_config_ref(cfg);
    p->cache = cache;
    p->up = up;
    snprintf(p->reference, sizeof(p->reference), "%s", reference);
    p->by_digest = by_digest;
    p->cb = cb;
    p->arg = arg;
    p->io.httpc = w->httpc;
    p->io.up = up;
    snprintf(p->io.repo, sizeof(p->io.repo), "%s", repo);
    if (authorization != NULL && (p->io.authorization = rw_strdup(authorization)) == NULL) {
        goto out;
    }
    /* the client's Accept verbatim (gotcha 1, C05); ours only when it sent none */
    h_accept = rw_asprintf("Accept: %s", accept != NULL ? accept : RW_ACCEPT_ALL_MANIFESTS);
    url = rw_upstream_url_for(up, repo, "manifests", reference);
    if (h_accept == NULL || url == NULL) {
        goto out;
    }
    hdrs[n++] = h_accept;
    hdrs[n++] = "User-Agent: regwarden/" RW_VERSION;
    if (authorization != NULL) {
        h_auth = rw_asprintf("Authorization: %s", authorization);
        if (h_auth == NULL) {
            goto out;
        }
        hdrs[n++] = h_auth;
    }
    req.method = "GET";
    req.url = url;
    req.ca_file = up->ca;
    req.headers = hdrs;
    req.n_headers = n;
    req.max = RW_MAX_MANIFEST_BYTES;
    rc = rw_fetch_start(w->httpc, &req, on_manifest, p, &p->x);
out:
    rw_free(h_accept);
    rw_free(h_auth);
    rw_free(url);
    if (rc != 0) {
        pull_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* ------------------------------------------------------------------ the route */

struct pull_route {
    struct rw_pull *pull; /* owned until done */
};

static void pull_route_close(struct rw_req *r)
{
    struct pull_route *pr = r->route_ctx;

    r->route_ctx = NULL;
    r->on_close = NULL;
    rw_pull_cancel(&pr->pull);
    rw_free(pr);
}

static void serve(struct rw_req *r, const struct rw_pull_result *res)
{
    struct rw_hdr h[6];
    char etag[80];
    bool blocked;

    snprintf(etag, sizeof(etag), "\"%s\"", res->digest);
    h[0] = (struct rw_hdr){"Content-Type", (char *)res->content_type};
    h[1] = (struct rw_hdr){"Docker-Content-Digest", (char *)res->digest};
    h[2] = (struct rw_hdr){"Docker-Distribution-API-Version", "registry/2.0"};
    h[3] = (struct rw_hdr){"Etag", etag};
    r->io->send_head(r, 200, h, 4, (int64_t)res->len);
    if (!r->head && res->len > 0) {
        r->io->send_data(r, res->body, res->len, &blocked);
    }
    r->io->send_end(r);
}

static void relay(struct rw_req *r, const struct rw_pull_result *res)
{
    struct rw_hdr h[64] = {0};
    char *rewritten[64];
    size_t n = 0;
    size_t nr = 0;
    bool blocked;

    for (size_t i = 0; i < res->up_hdrs->n && n < 64; i++) {
        const struct rw_hdr *u = &res->up_hdrs->v[i];
        char *value = u->value;

        if (!rw_upstream_resp_header_ok(u->name)) {
            continue;
        }
        if (strcasecmp(u->name, "Location") == 0) {
            char *nv = rw_upstream_rewrite_location(r->up, u->value);

            if (nv != NULL) {
                rewritten[nr++] = nv;
                value = nv;
            }
        }
        h[n++] = (struct rw_hdr){u->name, value};
    }
    r->io->send_head(r, res->status, h, n, (int64_t)res->len);
    if (!r->head && res->len > 0) {
        r->io->send_data(r, res->body, res->len, &blocked);
    }
    r->io->send_end(r);
    for (size_t i = 0; i < nr; i++) {
        rw_free(rewritten[i]);
    }
}

static void pull_route_done(void *arg, const struct rw_pull_result *res)
{
    struct rw_req *r = arg;
    struct pull_route *pr = r->route_ctx;

    /* the pull frees itself after this callback */
    pr->pull = NULL;
    r->route_ctx = NULL;
    r->on_close = NULL;
    rw_free(pr);
    if (res->rc != 0) {
        rw_req_error(r, 503, "UNAVAILABLE", "out of memory");
        return;
    }
    if (!res->decided) {
        relay(r, res);
        return;
    }
    rw_metrics_verdict(res->verdict.allow, res->verdict.reason, res->cached);
    if (!res->verdict.allow) {
        const char *mode = rw_mode_str(res->mode);

        if (res->mode == RW_MODE_AUDIT && res->body != NULL && res->status == 200 &&
            res->verdict.reason != RW_REASON_DIGEST_MISMATCH &&
            res->verdict.reason != RW_REASON_INVALID_MANIFEST &&
            res->verdict.reason != RW_REASON_UPSTREAM_ERROR) {
            /* the one place audit mode applies: log what would be denied, then serve */
            rw_req_deny(r, "audit-deny", res->rule, mode, res->verdict.reason,
                        res->digest[0] != '\0' ? res->digest : NULL, res->verdict.detail);
            serve(r, res);
            return;
        }
        rw_req_deny(r, "deny", res->rule, mode, res->verdict.reason,
                    res->digest[0] != '\0' ? res->digest : NULL, res->verdict.detail);
        return;
    }
    serve(r, res);
}

void rw_route_pull(struct rw_req *r)
{
    struct pull_route *pr = rw_calloc(1, sizeof(*pr));
    int rc;

    if (pr == NULL) {
        rw_req_error(r, 503, "UNAVAILABLE", "out of memory");
        return;
    }
    r->route_ctx = pr;
    r->on_close = pull_route_close;
    rc = rw_pull_start(r->w, r->cfg, r->w->srv->cache, r->up, r->m.repo, r->m.reference,
                       r->m.by_digest, rw_req_header(r, "Accept"),
                       rw_req_header(r, "Authorization"), pull_route_done, r, &pr->pull);
    if (rc != 0) {
        r->route_ctx = NULL;
        r->on_close = NULL;
        rw_free(pr);
        rw_req_error(r, 503, "UNAVAILABLE", "cannot start upstream request");
    }
}
