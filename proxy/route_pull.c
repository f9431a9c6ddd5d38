/* SPDX-License-Identifier: MIT */
/*
 * The pull gate: manifest GET/HEAD. The manifest is fetched whole (<= 4 MiB, GET even for HEAD),
 * hashed, checked against the digest asked for and the one advertised, parsed, and decided: a
 * cached allow, an allowed index's link (before a cached deny; never under `signature_on:
 * manifest`), a cached deny, or a fresh evaluation (policy/eval.c over upstream.c's evidence
 * fetches; under `signature_on: index` a non-index without such a link is refused instead). A
 * fresh verdict is cached only if the key versions did not change while it was reached. The
 * bytes served are the bytes hashed (invariant 2). Every failure on the way is a deny (invariant
 * 1): "could not decide" turns into a verdict in on_decided() only, and audit mode is applied in
 * pull_route_done() only (R7).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "rw/err.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "rw_version.h"
#include "proxy.h"
#include "upstream_auth.h"

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
    struct waiter *wait;          /* owned with the inflight table; non-NULL while coalesced */
    struct rw_upauth_wait *auth_wait; /* owned; own upstream credentials: waiting for a token */
    bool auth_retried;            /* the manifest fetch was retried once after a 401 */
};

/*
 * Coalescing (issue 5): concurrent pulls of one never-seen (policy, upstream, repo, digest), on
 * any worker, share one evaluation and so one set of signature fetches. The evaluation belongs
 * to a struct inflight, not to the pull that started it: if that client goes away the others
 * still get their verdict. Verdicts reach each waiter on its own worker's loop.
 */
struct waiter {
    struct rw_pull *p;            /* weak: cleared by pull_free() (same thread as delivery) */
    struct event_base *base;      /* the waiter's worker loop */
    struct waiter *next;
    bool detached;                /* delivery scheduled: the inflight no longer lists it */
    struct rw_verdict v;
};

struct inflight {
    char key[RW_MAX_NAME_LEN + RW_MAX_REPO_LEN + 200];
    struct rw_config *cfg;        /* ref */
    struct rw_cache *cache;       /* borrowed: process lifetime */
    const struct rw_upstream_cfg *up; /* borrowed: kept alive by cfg */
    const struct rw_pull_rule *rule;  /* borrowed: kept alive by cfg */
    struct rw_evidence_io io;     /* authorization owned */
    struct rw_policy_eval *eval;  /* owned */
    char digest[72];
    bool is_index;
    char (*children)[72];         /* owned */
    size_t n_children;
    char (*blobs)[72];            /* owned */
    size_t n_blobs;
    uint8_t policy[32];           /* the verdict policy (with the keyring) when it started */
    struct waiter *waiters;
    struct inflight *next;
};

static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static struct inflight *inflights; /* guarded by inflight_lock */

static void waiter_forget(struct rw_pull *p);
static void key_for(const struct rw_config *cfg, const struct rw_upstream_cfg *up, const char *repo,
                    const char *digest, struct rw_cache_key *k);

static void pull_free(struct rw_pull *p)
{
    waiter_forget(p);
    rw_upauth_cancel(&p->auth_wait);
    rw_xfer_cancel(&p->x);
    rw_policy_eval_cancel(&p->eval);
    rw_config_unref(&p->cfg);
    rw_free(p->accept);
    rw_free(p->io.authorization);
    rw_manifest_info_fini(&p->info);
    rw_hdrs_free(&p->hdrs);
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
    if (decided && v != NULL && v->allow && !p->by_digest && p->cache != NULL &&
        p->cfg->cache.tag_ttl > 0 && p->body != NULL) {
        /* cache.tag_ttl: remember what the tag resolved to (serve_cached() uses it) */
        struct rw_cache_key tk;
        char tagkey[RW_MAX_DIGEST_LEN + 1];

        snprintf(tagkey, sizeof(tagkey), "tag:%.128s", p->reference);
        key_for(p->cfg, p->up, p->io.repo, tagkey, &tk);
        rw_cache_link_put(p->cache, &tk, p->digest, (int64_t)time(NULL) + p->cfg->cache.tag_ttl);
    }
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


static void key_for(const struct rw_config *cfg, const struct rw_upstream_cfg *up, const char *repo,
                    const char *digest, struct rw_cache_key *k)
{
    memset(k, 0, sizeof(*k));
    rw_config_verdict_policy(cfg, k->policy);
    snprintf(k->upstream, sizeof(k->upstream), "%s", up->name);
    snprintf(k->repo, sizeof(k->repo), "%s", repo);
    snprintf(k->digest, sizeof(k->digest), "%s", digest);
}

/* What an allowed manifest lets through next: its children (index) or its blobs (gating). */
static void record_refs(struct rw_cache *cache, const struct rw_config *cfg,
                        const struct rw_upstream_cfg *up, const char *repo, const char *digest,
                        bool is_index, const char (*children)[72], size_t n_children,
                        const char (*blobs)[72], size_t n_blobs, int64_t expires)
{
    struct rw_cache_key k;
    int rc = 0;

    if (is_index) {
        for (size_t i = 0; rc == 0 && i < n_children; i++) {
            key_for(cfg, up, repo, children[i], &k);
            rc = rw_cache_link_put(cache, &k, digest, expires);
        }
    } else if (n_blobs > 0) {
        key_for(cfg, up, repo, digest, &k);
        rc = rw_cache_blobs_put(cache, &k, blobs, n_blobs, digest, expires);
    }
    if (rc != 0) {
        rw_log_warn(CACHE, "references of %s/%s@%s not cached: %s", up->name, repo, digest,
                    rw_strerror(rc));
    }
}

/* Cache a verdict (and, allowed, what it lets through). Transient failures are not remembered. */
static void record_verdict(struct rw_cache *cache, const struct rw_config *cfg,
                           const struct rw_upstream_cfg *up, const char *repo, const char *digest,
                           struct rw_verdict *v)
{
    struct rw_cache_key k;
    int64_t now = (int64_t)time(NULL);
    int rc;

    v->expires = 0;
    if (cache == NULL || v->reason == RW_REASON_UPSTREAM_ERROR) {
        return;
    }
    v->expires = now + (v->allow ? cfg->cache.allow_ttl : cfg->cache.deny_ttl);
    if (v->expires <= now) {
        v->expires = 0;
        return;
    }
    key_for(cfg, up, repo, digest, &k);
    rc = rw_cache_verdict_put(cache, &k, v);
    if (rc != 0) {
        /* a full map degrades to "verify every time", never to an allow */
        rw_log_warn(CACHE, "verdict for %s/%s@%s not cached: %s", up->name, repo, digest,
                    rw_strerror(rc));
    }
}

/* A cached allow whose references are missing (cache written by an older version, or a write
 * lost to a full map): record them again. One read when they are there. */
static void refs_ensure(struct rw_pull *p, int64_t expires)
{
    struct rw_cache_key k;
    char parent[RW_MAX_DIGEST_LEN + 1];

    if (p->info.is_index ? p->info.n_children == 0 : p->info.n_blobs == 0) {
        return;
    }
    key_for(p->cfg, p->up, p->io.repo, p->info.is_index ? p->info.children[0] : p->info.blobs[0],
            &k);
    if ((p->info.is_index ? rw_cache_link_get(p->cache, &k, (int64_t)time(NULL), parent)
                          : rw_cache_blob_get(p->cache, &k, (int64_t)time(NULL), parent)) == 0) {
        return;
    }
    record_refs(p->cache, p->cfg, p->up, p->io.repo, p->digest, p->info.is_index,
                (const char(*)[72])p->info.children, p->info.n_children,
                (const char(*)[72])p->info.blobs, p->info.n_blobs, expires);
}

/* The pull's own bytes, for by-digest pulls served without an upstream round trip. */
static void record_bytes(struct rw_pull *p, int64_t expires)
{
    struct rw_cache_key k;

    if (p->cache == NULL || !p->cfg->cache.serve_by_digest || expires <= 0 || p->body == NULL) {
        return;
    }
    key_for(p->cfg, p->up, p->io.repo, p->digest, &k);
    /* with regwarden's own credentials every client may read what regwarden reads */
    rw_cache_manifest_put(p->cache, &k, p->content_type,
                          p->io.authorization == NULL || rw_upauth_own(p->up), p->body,
                          p->len, expires);
}

static void inflight_free(struct inflight *f)
{
    rw_policy_eval_cancel(&f->eval);
    rw_config_unref(&f->cfg);
    rw_free(f->io.authorization);
    rw_free(f->children);
    rw_free(f->blobs);
    rw_free(f);
}

static void on_delivered(evutil_socket_t fd, short what, void *arg)
{
    struct waiter *w = arg;
    struct rw_pull *p = w->p;

    (void)fd;
    (void)what;
    if (p != NULL) {
        p->wait = NULL;
        if (w->v.allow && w->v.expires > 0) {
            record_bytes(p, w->v.expires);
        }
        finish(p, 0, true, &w->v, false);
    }
    rw_free(w);
}

/* The one place where "could not decide" becomes a deny (R7). Runs on the evaluating worker. */
static void on_decided(void *arg, int rc, const struct rw_verdict *v)
{
    struct inflight *f = arg;
    struct rw_verdict out;
    struct waiter *list;
    uint8_t now_policy[32];

    f->eval = NULL;
    if (rc != 0 || v == NULL) {
        char detail[200];

        snprintf(detail, sizeof(detail), "could not fetch signatures from %s: %s", f->up->name,
                 rw_strerror(rc != 0 ? rc : RW_EINTERNAL));
        out = rw_verdict_fail_closed(rc != 0 ? rc : RW_EINTERNAL, RW_REASON_UPSTREAM_ERROR, detail);
    } else {
        out = *v;
    }
    out.time = (int64_t)time(NULL);
    rw_config_verdict_policy(f->cfg, now_policy);
    if (memcmp(now_policy, f->policy, sizeof(now_policy)) != 0) {
        /* the Vault key versions changed while it ran (a SIGHUP re-read, a revoked version):
         * the waiters get this verdict, the cache keeps neither it nor its links under the new
         * key set */
        rw_log_info(POLICY, "verdict for %s/%s@%s not cached: key versions changed meanwhile",
                    f->up->name, f->io.repo, f->digest);
    } else {
        record_verdict(f->cache, f->cfg, f->up, f->io.repo, f->digest, &out);
        if (out.allow && out.expires > 0) {
            record_refs(f->cache, f->cfg, f->up, f->io.repo, f->digest, f->is_index,
                        (const char(*)[72])f->children, f->n_children,
                        (const char(*)[72])f->blobs, f->n_blobs, out.expires);
        }
    }
    pthread_mutex_lock(&inflight_lock);
    for (struct inflight **pp = &inflights; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    list = f->waiters;
    f->waiters = NULL;
    for (struct waiter *w = list; w != NULL; w = w->next) {
        w->detached = true;
        w->v = out;
    }
    pthread_mutex_unlock(&inflight_lock);
    while (list != NULL) {
        struct waiter *w = list;
        struct timeval now = {0, 0};

        list = w->next;
        /* on the waiter's own loop, never inside this callback (R13) */
        if (event_base_once(w->base, -1, EV_TIMEOUT, on_delivered, w, &now) != 0) {
            rw_log_err(PROXY, "cannot deliver a verdict; the request will time out");
        }
    }
    inflight_free(f);
}

static void waiter_forget(struct rw_pull *p)
{
    struct waiter *w = p->wait;

    if (w == NULL) {
        return;
    }
    p->wait = NULL;
    pthread_mutex_lock(&inflight_lock);
    if (w->detached) {
        w->p = NULL; /* the scheduled delivery frees it */
        w = NULL;
    } else {
        for (struct inflight *f = inflights; f != NULL; f = f->next) {
            for (struct waiter **pw = &f->waiters; *pw != NULL; pw = &(*pw)->next) {
                if (*pw == w) {
                    *pw = w->next;
                    goto found;
                }
            }
        }
    found:;
    }
    pthread_mutex_unlock(&inflight_lock);
    rw_free(w);
}

/* Join the evaluation of this (policy, upstream, repo, digest), or start it. */
static struct inflight *inflight_new(struct rw_pull *p, const char *key)
{
    struct inflight *f = rw_calloc(1, sizeof(*f));
    int rc = 0;

    if (f == NULL) {
        return NULL;
    }
    snprintf(f->key, sizeof(f->key), "%s", key);
    f->cfg = rw_config_ref(p->cfg);
    rw_config_verdict_policy(f->cfg, f->policy);
    f->cache = p->cache;
    f->up = p->up;
    f->rule = p->rule;
    f->io.httpc = p->io.httpc;
    f->io.up = p->up;
    snprintf(f->io.repo, sizeof(f->io.repo), "%s", p->io.repo);
    snprintf(f->digest, sizeof(f->digest), "%s", p->digest);
    f->is_index = p->info.is_index;
    if (p->io.authorization != NULL &&
        (f->io.authorization = rw_strdup(p->io.authorization)) == NULL) {
        rc = -ENOMEM;
    }
    if (rc == 0 && p->info.n_children > 0) {
        f->children = rw_calloc(p->info.n_children, sizeof(*f->children));
        rc = f->children == NULL ? -ENOMEM : 0;
        if (rc == 0) {
            memcpy(f->children, p->info.children, p->info.n_children * sizeof(*f->children));
            f->n_children = p->info.n_children;
        }
    }
    if (rc == 0 && p->info.n_blobs > 0) {
        f->blobs = rw_calloc(p->info.n_blobs, sizeof(*f->blobs));
        rc = f->blobs == NULL ? -ENOMEM : 0;
        if (rc == 0) {
            memcpy(f->blobs, p->info.blobs, p->info.n_blobs * sizeof(*f->blobs));
            f->n_blobs = p->info.n_blobs;
        }
    }
    if (rc != 0) {
        inflight_free(f);
        return NULL;
    }
    return f;
}

/*
 * Join the evaluation of this (policy, upstream, repo, digest), or start it. The lookup, the
 * cache re-check and the insert happen under one hold of inflight_lock: on_decided records the
 * verdict before it removes its entry under that lock, so a pull that finds no entry finds the
 * verdict, and two pulls can never both start an evaluation.
 * @return 0 (p will be finished: now from the cache, or by on_delivered); -ENOMEM.
 */
static int coalesce(struct rw_pull *p)
{
    struct inflight *f = NULL;
    struct inflight *cur;
    struct waiter *w = rw_calloc(1, sizeof(*w));
    char key[sizeof(f->key)];
    uint8_t pol[32];
    char polhex[65];
    struct rw_cache_key k;
    struct rw_verdict v;
    bool cached = false;
    int rc;

    if (w == NULL) {
        return -ENOMEM;
    }
    rw_config_verdict_policy(p->cfg, pol);
    rw_hex(pol, sizeof(pol), polhex);
    snprintf(key, sizeof(key), "%s %s %s %s", polhex, p->up->name, p->io.repo, p->digest);
    w->p = p;
    w->base = p->w->base;
    f = inflight_new(p, key); /* before the lock: most pulls start what they look for */
    if (f == NULL) {
        rw_free(w);
        return -ENOMEM;
    }
    pthread_mutex_lock(&inflight_lock);
    for (cur = inflights; cur != NULL; cur = cur->next) {
        if (strcmp(cur->key, key) == 0) {
            break;
        }
    }
    if (cur != NULL) {
        w->next = cur->waiters;
        cur->waiters = w;
        p->wait = w;
    } else if (p->cache != NULL) {
        key_for(p->cfg, p->up, p->io.repo, p->digest, &k);
        cached = rw_cache_verdict_get(p->cache, &k, (int64_t)time(NULL), &v) == 0;
    }
    if (cur == NULL && !cached) {
        /* the starter is a waiter like the others: it may leave without stopping the
         * evaluation */
        w->next = NULL;
        f->waiters = w;
        p->wait = w;
        f->next = inflights;
        inflights = f;
    }
    pthread_mutex_unlock(&inflight_lock);
    if (cur != NULL || cached) {
        inflight_free(f);
        if (cached) {
            rw_free(w);
            if (v.allow) {
                record_bytes(p, v.expires);
            }
            finish(p, 0, true, &v, true);
        }
        return 0;
    }
    rc = rw_policy_eval_start(f->cfg, f->rule, f->digest, &rw_evidence_ops, &f->io, on_decided, f,
                              &f->eval);
    if (rc != 0) {
        /* on_decided turns the failure into a deny for every waiter, this one included */
        on_decided(f, rc, NULL);
    }
    return 0;
}

static void allow_now(struct rw_pull *p, const char *detail, const char *key_id, bool cached)
{
    struct rw_verdict v;

    memset(&v, 0, sizeof(v));
    v.allow = true;
    v.time = (int64_t)time(NULL);
    snprintf(v.detail, sizeof(v.detail), "%s", detail);
    snprintf(v.key_id, sizeof(v.key_id), "%s", key_id != NULL ? key_id : "");
    finish(p, 0, true, &v, cached);
}

/* An allowed index lists this manifest (a link that has not expired): allow it through the index,
 * record the child's own references, and finish. false when there is no such index. */
static bool inherit_from_index(struct rw_pull *p, const struct rw_cache_key *k, int64_t now)
{
    char parent[RW_MAX_DIGEST_LEN + 1];
    struct rw_cache_key pk;
    struct rw_verdict pv;
    struct rw_verdict v;

    if (rw_cache_link_get(p->cache, k, now, parent) != 0) {
        return false;
    }
    key_for(p->cfg, p->up, p->io.repo, parent, &pk);
    if (rw_cache_verdict_get(p->cache, &pk, now, &pv) != 0 || !pv.allow) {
        return false;
    }
    /* the child inherits the index's verdict (and its evidence), and records its own blobs */
    memset(&v, 0, sizeof(v));
    v.allow = true;
    v.time = now;
    v.expires = pv.expires;
    snprintf(v.key_id, sizeof(v.key_id), "%s", pv.key_id);
    snprintf(v.detail, sizeof(v.detail), "allowed through index %s", parent);
    v.n_evidence = pv.n_evidence;
    memcpy(v.evidence, pv.evidence, sizeof(v.evidence));
    if (rw_cache_verdict_put(p->cache, k, &v) == 0) {
        record_refs(p->cache, p->cfg, p->up, p->io.repo, p->digest, p->info.is_index,
                    (const char(*)[72])p->info.children, p->info.n_children,
                    (const char(*)[72])p->info.blobs, p->info.n_blobs, v.expires);
    }
    record_bytes(p, v.expires);
    finish(p, 0, true, &v, true);
    return true;
}

static void decide(struct rw_pull *p)
{
    struct rw_cache_key k;
    struct rw_verdict v;
    int64_t now = (int64_t)time(NULL);
    char detail[256];
    bool cached = false;
    int rc;

    p->rule = rw_policy_pull_rule(p->cfg, p->up->name, p->io.repo);
    if (p->rule == NULL) {
        v = deny(RW_REASON_NO_RULE, "no pull rule matches %s", p->io.repo);
        finish(p, 0, true, &v, false);
        return;
    }
    if (p->rule->allow) {
        snprintf(detail, sizeof(detail), "allowed by rule %s", p->rule->match);
        allow_now(p, detail, NULL, false);
        return;
    }
    if (p->cache != NULL) {
        key_for(p->cfg, p->up, p->io.repo, p->digest, &k);
        cached = rw_cache_verdict_get(p->cache, &k, now, &v) == 0;
        if (cached && v.allow) {
            refs_ensure(p, v.expires);
            record_bytes(p, v.expires);
            finish(p, 0, true, &v, true);
            return;
        }
        /* before a cached deny: the child may have been refused before its index was seen;
         * `signature_on: manifest` wants every manifest's own evidence */
        if (p->rule->signature_on != RW_SIG_ON_MANIFEST && inherit_from_index(p, &k, now)) {
            return;
        }
        if (cached) {
            finish(p, 0, true, &v, true);
            return;
        }
    }
    if (p->rule->signature_on == RW_SIG_ON_INDEX && !p->info.is_index) {
        /* a platform (or single) manifest's own signature does not count under this rule */
        snprintf(detail, sizeof(detail),
                 "rule %s needs the signature on an image index: no allowed index lists %s",
                 p->rule->match, p->digest);
        v = rw_verdict_fail_closed(RW_EPROTO, RW_REASON_NO_SIGNATURE, detail);
        finish(p, 0, true, &v, false);
        return;
    }
    rc = coalesce(p);
    if (rc != 0) {
        char why[128];

        snprintf(why, sizeof(why), "cannot start verification: %s", rw_strerror(rc));
        v = rw_verdict_fail_closed(rc, RW_REASON_UPSTREAM_ERROR, why);
        finish(p, 0, true, &v, false);
    }
}

static int manifest_auth(struct rw_pull *p);

static void on_manifest(void *arg, int rc, int status, const struct rw_hdrs *h, const uint8_t *body,
                        size_t len)
{
    struct rw_pull *p = arg;
    const char *advertised;
    const char *ctype;
    struct rw_verdict v;

    p->x = NULL;
    if (rc == 0 && status == 401 && rw_upauth_own(p->up) && !p->auth_retried) {
        /* a cached token the upstream no longer takes: drop it and try once more */
        p->auth_retried = true;
        if (manifest_auth(p) == 0) {
            return;
        }
    }
    p->status = status;
    if (rw_hdrs_copy(&p->hdrs, h) != 0 || (len > 0 && (p->body = rw_malloc(len)) == NULL)) {
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
    if (status != 200 && status >= 200 && status < 400) {
        /* a manifest that is not a plain 200 (203, 206, a redirect elsewhere...) is nothing
         * we verified: refuse it rather than relay it (invariant 1) */
        char detail[128];

        snprintf(detail, sizeof(detail), "upstream answered %d to a manifest GET", status);
        p->status = 200;
        v = rw_verdict_fail_closed(RW_EUPSTREAM, RW_REASON_UPSTREAM_ERROR, detail);
        finish(p, 0, true, &v, false);
        return;
    }
    if (status != 200) {
        finish(p, 0, false, NULL, false); /* an error: relayed as the upstream said it */
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

static int manifest_send(struct rw_pull *p)
{
    struct rw_fetch_req req = {0};
    const char *hdrs[3];
    char *h_accept = NULL;
    char *h_auth = NULL;
    char *url = NULL;
    size_t n = 0;
    int rc = -ENOMEM;

    /* the client's Accept verbatim (gotcha 1, C05); ours only when it sent none */
    h_accept = rw_asprintf("Accept: %s", p->accept != NULL ? p->accept : RW_ACCEPT_ALL_MANIFESTS);
    url = rw_upstream_url_for(p->up, p->io.repo, "manifests", p->reference);
    if (h_accept == NULL || url == NULL) {
        goto out;
    }
    hdrs[n++] = h_accept;
    hdrs[n++] = "User-Agent: regwarden/" RW_VERSION;
    if (p->io.authorization != NULL) {
        h_auth = rw_asprintf("Authorization: %s", p->io.authorization);
        if (h_auth == NULL) {
            goto out;
        }
        hdrs[n++] = h_auth;
    }
    req.method = "GET";
    req.url = url;
    req.ca_file = p->up->ca;
    req.headers = hdrs;
    req.n_headers = n;
    req.max = RW_MAX_MANIFEST_BYTES;
    rc = rw_fetch_start(p->w->httpc, &req, on_manifest, p, &p->x);
out:
    rw_free(h_accept);
    if (h_auth != NULL) {
        explicit_bzero(h_auth, strlen(h_auth));
    }
    rw_free(h_auth);
    rw_free(url);
    return rc;
}

/* Own upstream credentials: a token dance that failed is a 401 (refused) or a deny. */
static void on_manifest_auth(void *arg, int rc, const char *authorization)
{
    struct rw_pull *p = arg;
    struct rw_verdict v;
    char detail[300];

    p->auth_wait = NULL;
    rw_free_clear(&p->io.authorization);
    if (rc == 0 && authorization != NULL &&
        (p->io.authorization = rw_strdup(authorization)) == NULL) {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        rc = manifest_send(p);
    }
    if (rc == 0) {
        return;
    }
    if (rc == -EACCES || rc == -ENOMEM) {
        finish(p, rc, false, NULL, false);
        return;
    }
    snprintf(detail, sizeof(detail), "cannot authenticate to upstream %s: %s", p->up->name,
             rw_strerror(rc));
    p->status = 200;
    v = rw_verdict_fail_closed(rc, RW_REASON_UPSTREAM_ERROR, detail);
    finish(p, 0, true, &v, false);
}

/* Ask upstream_auth.c for the Authorization, then fetch; 0 when under way. */
static int manifest_auth(struct rw_pull *p)
{
    char scope[RW_UPAUTH_MAX_SCOPE];
    const char *stale = NULL;
    char *authz = NULL;
    int rc;

    snprintf(scope, sizeof(scope), "repository:%s:pull", p->io.repo);
    if (p->auth_retried) {
        stale = p->io.authorization != NULL ? p->io.authorization : "";
    }
    rc = rw_upauth_get(p->w, p->up, scope, stale, &authz, on_manifest_auth, p, &p->auth_wait);
    if (rc != 0 || p->auth_wait != NULL) {
        return rc;
    }
    rw_free_clear(&p->io.authorization);
    p->io.authorization = authz;
    return manifest_send(p);
}

int rw_pull_start(struct rw_worker *w, struct rw_config *cfg, struct rw_cache *cache,
                  const struct rw_upstream_cfg *up, const char *repo, const char *reference,
                  bool by_digest, const char *accept, const char *authorization,
                  rw_pull_done_cb *cb, void *arg, struct rw_pull **out)
{
    struct rw_pull *p = rw_calloc(1, sizeof(*p));
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
    /* known before the fetch, so a failed fetch is still reported under its rule */
    p->rule = rw_policy_pull_rule(cfg, up->name, repo);
    if (accept != NULL && (p->accept = rw_strdup(accept)) == NULL) {
        goto out;
    }
    if (rw_upauth_own(up)) {
        /* regwarden's own credentials: the client's never reaches this upstream */
        rc = manifest_auth(p);
        goto out;
    }
    if (authorization != NULL && (p->io.authorization = rw_strdup(authorization)) == NULL) {
        goto out;
    }
    rc = manifest_send(p);
out:
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

        if (!rw_upstream_resp_header_ok(u->name) ||
            (rw_upauth_own(r->up) && strcasecmp(u->name, "WWW-Authenticate") == 0)) {
            continue; /* C01: never point a client at a realm only regwarden may use */
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
    if (res->rc == -EACCES) {
        rw_req_error(r, 401, "UNAUTHORIZED",
                     "regwarden's credentials for this upstream registry were refused");
        return;
    }
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

/* Whether an Accept header lets a client take @p type (any-type and type-wildcard ranges too). */
static bool accepts(const char *accept, const char *type)
{
    const char *p = accept;
    size_t tl = strlen(type);
    const char *slash = strchr(type, '/');

    if (accept == NULL) {
        return true;
    }
    while (*p != '\0') {
        size_t n;

        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        n = strcspn(p, ",;");
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
            n--;
        }
        if ((n == tl && strncasecmp(p, type, n) == 0) || (n == 3 && strncmp(p, "*/*", 3) == 0) ||
            (slash != NULL && n == (size_t)(slash - type) + 2 && strncasecmp(p, type, n - 1) == 0 &&
             p[n - 1] == '*')) {
            return true;
        }
        p += strcspn(p, ",");
    }
    return false;
}

/*
 * A by-digest pull of a manifest already verified under this policy is served from the cache,
 * with no upstream round trip (content is immutable). Only bytes that were fetched without a
 * client credential, for a request that carries none: a cached copy must not let a client read
 * what the upstream would have refused it.
 */
static bool serve_cached(struct rw_req *r)
{
    struct rw_cache *cache = r->w->srv->cache;
    const struct rw_pull_rule *rule;
    struct rw_cache_key k;
    struct rw_verdict v;
    struct rw_pull_result res;
    char ctype[256];
    bool anonymous = false;
    uint8_t *body = NULL;
    size_t len = 0;
    int64_t now = (int64_t)time(NULL);

    char digest[RW_MAX_DIGEST_LEN + 1];

    if (cache == NULL || !r->cfg->cache.serve_by_digest || rw_req_header(r, "Authorization") != NULL ||
        (!r->m.by_digest && r->cfg->cache.tag_ttl <= 0)) {
        return false;
    }
    rule = rw_policy_pull_rule(r->cfg, r->up->name, r->m.repo);
    if (rule == NULL || rule->allow) {
        return false;
    }
    if (r->m.by_digest) {
        snprintf(digest, sizeof(digest), "%.135s", r->m.reference);
    } else {
        /* cache.tag_ttl > 0: a tag resolved recently is not asked again */
        char tagkey[RW_MAX_DIGEST_LEN + 1];

        snprintf(tagkey, sizeof(tagkey), "tag:%.128s", r->m.reference);
        key_for(r->cfg, r->up, r->m.repo, tagkey, &k);
        if (rw_cache_link_get(cache, &k, now, digest) != 0) {
            return false;
        }
    }
    key_for(r->cfg, r->up, r->m.repo, digest, &k);
    if (rw_cache_verdict_get(cache, &k, now, &v) != 0 || !v.allow) {
        return false;
    }
    if (rw_cache_manifest_get(cache, &k, now, ctype, &anonymous, &body, &len) != 0) {
        return false;
    }
    if (!anonymous || !accepts(rw_req_header(r, "Accept"), ctype)) {
        rw_free(body);
        return false;
    }
    memset(&res, 0, sizeof(res));
    snprintf(res.digest, sizeof(res.digest), "%.71s", digest);
    res.body = body;
    res.len = len;
    res.content_type = ctype;
    rw_metrics_verdict(true, RW_REASON_NONE, true);
    serve(r, &res);
    rw_free(body);
    return true;
}

void rw_route_pull(struct rw_req *r)
{
    struct pull_route *pr = NULL;
    int rc;

    if (serve_cached(r)) {
        return;
    }
    pr = rw_calloc(1, sizeof(*pr));

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
