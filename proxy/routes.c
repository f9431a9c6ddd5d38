/* SPDX-License-Identifier: MIT */
/*
 * Route table and the pass-through route. Every request is validated (image_ref.c) and bound to
 * a configured upstream before anything is dialed (invariant 4); manifests GET/HEAD go to the
 * pull gate, signing manifest PUTs to the push hook, everything else streams through here.
 * Blob GETs by digest are hashed as they stream: a body that does not match its digest never
 * ends cleanly (C08), because its last byte is held back until the hash is known.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rw/err.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "oci_errors.h"
#include "proxy.h"
#include "upstream_auth.h"

/* ------------------------------------------------------------------ small responses */

static void send_json(struct rw_req *r, int status, const struct rw_hdr *extra, size_t n_extra,
                      const struct rw_buf *body)
{
    struct rw_hdr h[8];
    size_t n = 0;
    bool blocked;

    h[n++] = (struct rw_hdr){"Content-Type", "application/json"};
    h[n++] = (struct rw_hdr){"Docker-Distribution-API-Version", "registry/2.0"};
    for (size_t i = 0; i < n_extra && n < 8; i++) {
        h[n++] = extra[i];
    }
    r->io->send_head(r, status, h, n, body != NULL ? (int64_t)body->len : 0);
    if (body != NULL && body->len > 0 && !r->head) {
        r->io->send_data(r, body->data, body->len, &blocked);
    }
    r->io->send_end(r);
}

void rw_req_error(struct rw_req *r, int status, const char *code, const char *message)
{
    struct rw_buf b;

    rw_buf_init(&b, 0);
    if (rw_oci_error_body(&b, code, message) != 0) {
        rw_buf_reset(&b);
    }
    send_json(r, status, NULL, 0, &b);
    rw_buf_fini(&b);
}

void rw_req_error_hdrs(struct rw_req *r, int status, const char *code, const char *message,
                       const struct rw_hdr *extra, size_t n_extra)
{
    struct rw_buf b;

    rw_buf_init(&b, 0);
    if (rw_oci_error_body(&b, code, message) != 0) {
        rw_buf_reset(&b);
    }
    send_json(r, status, extra, n_extra, &b);
    rw_buf_fini(&b);
}

static const char *image_ref_str(const struct rw_req *r, char *buf, size_t cap)
{
    const char *reg = r->up != NULL ? r->up->name : (r->m.has_ns ? r->m.ns : "?");

    snprintf(buf, cap, "%s/%s%s%s", reg, r->m.repo, r->m.by_digest ? "@" : ":", r->m.reference);
    return buf;
}

void rw_req_deny(struct rw_req *r, const char *event, const char *rule, const char *mode,
                 enum rw_reason reason, const char *digest, const char *detail)
{
    struct rw_server *srv = r->w->srv;
    struct rw_deny_event e = {0};
    char img[1400];
    char msg[2400];
    struct rw_buf b;

    e.event = event;
    e.request_id = r->id;
    e.client_addr = r->client_addr;
    e.identity = r->identity;
    e.user_agent = rw_req_header(r, "User-Agent");
    e.registry = r->up != NULL ? r->up->name : (r->m.has_ns ? r->m.ns : NULL);
    e.repository = r->m.repo[0] != '\0' ? r->m.repo : NULL;
    e.reference = r->m.reference[0] != '\0' ? r->m.reference : NULL;
    e.digest = digest;
    e.rule = rule;
    e.mode = mode;
    e.reason = rw_reason_str(reason);
    e.detail = detail;
    if (srv->denylog != NULL) {
        rw_denylog_deny(srv->denylog, &e);
    }
    if (strcmp(event, "deny") != 0) {
        return; /* audit-deny: logged only; the caller serves the request */
    }
    snprintf(msg, sizeof(msg), "%s denied by %s%s (%s): %s", image_ref_str(r, img, sizeof(img)),
             rule != NULL ? "rule " : "", rule != NULL ? rule : "no matching rule",
             rw_reason_str(reason), detail != NULL ? detail : "");
    rw_buf_init(&b, 0);
    if (rw_oci_denied_body(&b, msg, rw_reason_str(reason), r->id) != 0) {
        rw_buf_reset(&b);
    }
    send_json(r, 403, NULL, 0, &b);
    rw_buf_fini(&b);
}

/* ------------------------------------------------------------------ pass-through */

struct fwd {
    struct rw_req *r;         /* borrowed: alive until send_end/abort/on_close */
    struct rw_xfer *x;        /* owned; NULL once done */
    char **hdrs;              /* owned */
    size_t n_hdrs;
    char *url;                /* owned */
    bool head_sent;
    bool answered;            /* response complete once the (aborted) transfer ends */
    bool blocked;             /* client over high water: upstream receive paused */
    struct rw_sha256_ctx *hash; /* owned; non-NULL while verifying a blob by digest */
    uint8_t held;             /* the last byte so far, sent once the digest checks out */
    bool has_held;
    char *resp_names[64];     /* owned copies of rewritten header values */
    size_t n_resp;
    struct rw_upauth_wait *auth_wait; /* owned; own upstream credentials: waiting for them */
    char *authz;              /* owned, secret: "Authorization: ..." of our own, or NULL */
    bool retry;               /* 401 on a bodiless request: ask again once (stale token) */
    bool retried;
};

static void fwd_free(struct fwd *f)
{
    rw_upauth_cancel(&f->auth_wait);
    if (f->authz != NULL) {
        explicit_bzero(f->authz, strlen(f->authz));
    }
    rw_free(f->authz);
    rw_xfer_cancel(&f->x);
    rw_upstream_headers_free(&f->hdrs, f->n_hdrs);
    rw_free(f->url);
    rw_sha256_free(&f->hash);
    for (size_t i = 0; i < f->n_resp; i++) {
        rw_free(f->resp_names[i]);
    }
    rw_free(f);
}

static void fwd_detach(struct rw_req *r)
{
    r->route_ctx = NULL;
    r->on_body_ready = NULL;
    r->on_writable = NULL;
    r->on_close = NULL;
}

static void fwd_on_close(struct rw_req *r)
{
    struct fwd *f = r->route_ctx;

    fwd_detach(r);
    fwd_free(f);
}

static void fwd_on_body_ready(struct rw_req *r)
{
    struct fwd *f = r->route_ctx;

    if (f->x != NULL) { /* NULL while waiting for our own credentials */
        rw_xfer_resume_send(f->x);
    }
}

static void fwd_on_writable(struct rw_req *r)
{
    struct fwd *f = r->route_ctx;

    if (f->blocked) {
        f->blocked = false;
        rw_xfer_resume_recv(f->x);
    }
}

static int fwd_on_headers(void *arg, int status, const struct rw_hdrs *h)
{
    struct fwd *f = arg;
    struct rw_req *r = f->r;
    struct rw_hdr out[64];
    size_t n = 0;
    int64_t clen = -1;
    bool have_api_version = false;
    const char *cl = rw_hdrs_get(h, "Content-Length");

    if (status == 401 && rw_upauth_own(r->up) && !f->retried && !r->has_body) {
        f->retry = true; /* nothing sent to the client yet: fwd_on_done asks again */
        return -1;
    }
    if (cl != NULL) {
        char *end = NULL;
        long long v = strtoll(cl, &end, 10);

        if (end != cl && *end == '\0' && v >= 0) {
            clen = v;
        }
    }
    for (size_t i = 0; i < h->n && n < 60; i++) {
        const char *name = h->v[i].name;
        const char *value = h->v[i].value;

        if (!rw_upstream_resp_header_ok(name) ||
            (rw_upauth_own(r->up) && strcasecmp(name, "WWW-Authenticate") == 0)) {
            continue; /* C01: never point a client at a realm only regwarden may use */
        }
        if (strcasecmp(name, "Location") == 0 || strcasecmp(name, "Link") == 0) {
            char *nv = strcasecmp(name, "Link") == 0 ? rw_upstream_rewrite_link(r->up, value)
                                                     : rw_upstream_rewrite_location(r->up, value);

            if (nv != NULL && f->n_resp < 64) {
                f->resp_names[f->n_resp++] = nv;
                value = nv;
            } else {
                rw_free(nv);
            }
        }
        have_api_version |= strcasecmp(name, "Docker-Distribution-API-Version") == 0;
        out[n++] = (struct rw_hdr){(char *)name, (char *)value};
    }
    if (!have_api_version && r->m.route == RW_ROUTE_PING) {
        out[n++] = (struct rw_hdr){"Docker-Distribution-API-Version", "registry/2.0"};
    }
    if (status == 200 && r->m.route == RW_ROUTE_BLOB && r->m.by_digest && !r->head &&
        strncmp(r->m.reference, "sha256:", 7) == 0) {
        /* a 200 is the whole blob whatever the client asked for (an upstream may ignore Range):
         * it is checked; a 206 is a part and cannot be */
        if (rw_sha256_new(&f->hash) != 0) {
            return -1;
        }
    }
    f->head_sent = true;
    if (status == 416) {
        /* distribution answers 416 with the blob's Content-Length and a short text body: its
         * length cannot be trusted, and the body means nothing. Answer with none. */
        f->answered = true;
        r->io->send_head(r, status, out, n, 0);
        return -1;
    }
    return r->io->send_head(r, status, out, n, clen) == 0 ? 0 : -1;
}

static int fwd_on_data(void *arg, const uint8_t *p, size_t n, bool *pause)
{
    struct fwd *f = arg;
    struct rw_req *r = f->r;

    if (f->blocked) {
        *pause = true;
        return 0;
    }
    if (f->hash != NULL) {
        rw_sha256_update(f->hash, p, n);
        /* everything but the newest byte goes out now: one copy, and no clean end before
         * the hash is known */
        if (n == 0) {
            return 0;
        }
        if (f->has_held) {
            r->io->send_data(r, &f->held, 1, &f->blocked);
        }
        if (n > 1) {
            r->io->send_data(r, p, n - 1, &f->blocked);
        }
        f->held = p[n - 1];
        f->has_held = true;
        return 0;
    }
    return r->io->send_data(r, p, n, &f->blocked) == 0 ? 0 : -1;
}

static enum rw_xfer_read fwd_on_read(void *arg, uint8_t *buf, size_t cap, size_t *n)
{
    struct fwd *f = arg;

    return f->r->io->read_body(f->r, buf, cap, n);
}

static int fwd_auth(struct fwd *f, const char *stale);
static void fwd_auth_failed(struct fwd *f, int rc);

static void fwd_on_done(void *arg, int rc)
{
    struct fwd *f = arg;
    struct rw_req *r = f->r;

    f->x = NULL;
    if (f->retry) {
        f->retry = false;
        f->retried = true;
        rc = fwd_auth(f, f->authz != NULL ? f->authz + strlen("Authorization: ") : "");
        if (rc == 0) {
            return;
        }
        if (rc == -EACCES) {
            fwd_auth_failed(f, rc);
            return;
        }
    }
    fwd_detach(r);
    if (f->answered) {
        fwd_free(f);
        r->io->send_end(r);
        return;
    }
    if (rc != 0) {
        rw_log_warn(UPSTREAM, "conn=%" PRIu64 " req=%s upstream %s: %s %s failed: %s", r->conn_id,
                    r->id, r->up->name, r->method, r->target, rw_strerror(rc));
        if (!f->head_sent) {
            fwd_free(f);
            rw_req_error(r, rc == RW_ETIMEOUT ? 504 : 502, "UNAVAILABLE",
                         "upstream registry unavailable");
        } else {
            fwd_free(f);
            r->io->abort(r);
        }
        return;
    }
    if (f->hash != NULL) {
        char got[72];
        bool blocked;

        rw_sha256_final(f->hash, got);
        if (strcmp(got, r->m.reference) != 0) {
            char detail[200];

            snprintf(detail, sizeof(detail), "blob body hashes to %s", got);
            rw_log_warn(PROXY, "conn=%" PRIu64 " req=%s blob %s/%s: %s; connection reset",
                        r->conn_id, r->id, r->m.repo, r->m.reference, detail);
            if (r->w->srv->denylog != NULL) {
                struct rw_deny_event e = {.event = "deny", .request_id = r->id,
                                          .client_addr = r->client_addr,
                                          .identity = r->identity,
                                          .user_agent = rw_req_header(r, "User-Agent"),
                                          .registry = r->up->name, .repository = r->m.repo,
                                          .reference = r->m.reference, .digest = got,
                                          .mode = "enforce",
                                          .reason = rw_reason_str(RW_REASON_DIGEST_MISMATCH),
                                          .detail = detail};
                rw_denylog_deny(r->w->srv->denylog, &e);
            }
            fwd_free(f);
            r->io->abort(r);
            return;
        }
        if (f->has_held) {
            r->io->send_data(r, &f->held, 1, &blocked);
        }
    }
    fwd_free(f);
    r->io->send_end(r);
}

static const struct rw_xfer_cbs fwd_cbs = {
    .on_headers = fwd_on_headers,
    .on_data = fwd_on_data,
    .on_read = fwd_on_read,
    .on_done = fwd_on_done,
};

static int fwd_send(struct fwd *f)
{
    struct rw_req *r = f->r;
    struct rw_xfer_req xr = {0};
    const char **hv = rw_calloc(f->n_hdrs + 1, sizeof(*hv));
    size_t n = 0;
    int rc;

    if (hv == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < f->n_hdrs; i++) {
        hv[n++] = f->hdrs[i];
    }
    if (f->authz != NULL) {
        hv[n++] = f->authz;
    }
    xr.method = r->method;
    xr.url = f->url;
    xr.ca_file = r->up->ca;
    xr.headers = hv;
    xr.n_headers = n;
    xr.has_body = r->has_body;
    xr.body_len = r->body_len;
    rc = rw_xfer_start(r->w->httpc, &xr, &fwd_cbs, f, &f->x);
    rw_free(hv);
    return rc;
}

static int fwd_use(struct fwd *f, const char *authorization)
{
    if (f->authz != NULL) {
        explicit_bzero(f->authz, strlen(f->authz));
    }
    rw_free_clear(&f->authz);
    if (authorization != NULL &&
        (f->authz = rw_asprintf("Authorization: %s", authorization)) == NULL) {
        return -ENOMEM;
    }
    return fwd_send(f);
}

/* Own credentials could not be had: 401 when refused, else 502; never the upstream's realm. */
static void fwd_auth_failed(struct fwd *f, int rc)
{
    struct rw_req *r = f->r;

    fwd_detach(r);
    fwd_free(f);
    if (rc == -EACCES) {
        rw_req_error(r, 401, "UNAUTHORIZED",
                     "regwarden's credentials for this upstream registry were refused");
        return;
    }
    rw_log_warn(UPSTREAM, "conn=%" PRIu64 " req=%s upstream %s: no credentials: %s", r->conn_id,
                r->id, r->up->name, rw_strerror(rc));
    rw_req_error(r, rc == RW_ETIMEOUT ? 504 : 502, "UNAVAILABLE",
                 "cannot authenticate to the upstream registry");
}

static void fwd_on_auth(void *arg, int rc, const char *authorization)
{
    struct fwd *f = arg;

    f->auth_wait = NULL;
    if (rc == 0) {
        rc = fwd_use(f, authorization);
    }
    if (rc != 0) {
        fwd_auth_failed(f, rc);
    }
}

/* Own upstream credentials (upstream_auth.c): 0 when the request is under way or waiting. */
static int fwd_auth(struct fwd *f, const char *stale)
{
    char scope[RW_UPAUTH_MAX_SCOPE];
    char *authz = NULL;
    int rc = rw_upauth_scope(f->r, scope, sizeof(scope));

    if (rc == 0) {
        rc = rw_upauth_get(f->r->w, f->r->up, scope, stale, &authz, fwd_on_auth, f,
                           &f->auth_wait);
    }
    if (rc != 0 || f->auth_wait != NULL) {
        return rc;
    }
    rc = fwd_use(f, authz);
    if (authz != NULL) {
        explicit_bzero(authz, strlen(authz));
    }
    rw_free(authz);
    return rc;
}

void rw_route_forward(struct rw_req *r)
{
    struct fwd *f = rw_calloc(1, sizeof(*f));
    int rc = -ENOMEM;

    if (f == NULL) {
        goto fail;
    }
    f->r = r;
    f->url = rw_upstream_url(r->up, &r->m);
    if (f->url == NULL) {
        goto fail;
    }
    rc = rw_upstream_req_headers(r, &f->hdrs, &f->n_hdrs);
    if (rc != 0) {
        goto fail;
    }
    r->route_ctx = f;
    r->on_close = fwd_on_close;
    r->on_body_ready = fwd_on_body_ready;
    r->on_writable = fwd_on_writable;
    rc = rw_upauth_own(r->up) ? fwd_auth(f, NULL) : fwd_send(f);
    if (rc != 0) {
        fwd_detach(r);
        if (rc == -EACCES) {
            fwd_auth_failed(f, rc);
            return;
        }
        goto fail;
    }
    return;
fail:
    if (f != NULL) {
        fwd_free(f);
    }
    rw_req_error(r, 503, "UNAVAILABLE", "cannot start upstream request");
}

/* ------------------------------------------------------------------ dispatch */

/* Tags that hold evidence about an image, never an image: cosign's `sha256-<hex>.sig|.att|.sbom`
 * and the referrers tag-schema index `sha256-<hex>` (PROTOCOLS.md §1.9, §5.1). */
static bool is_attachment_tag(const char *ref)
{
    size_t n = strlen(ref);

    if (n < 7 + 64 || strncmp(ref, "sha256-", 7) != 0 || strspn(ref + 7, "0123456789abcdef") != 64) {
        return false;
    }
    ref += 7 + 64;
    return *ref == '\0' || strcmp(ref, ".sig") == 0 || strcmp(ref, ".att") == 0 ||
           strcmp(ref, ".sbom") == 0;
}

static bool identity_allowed(const struct rw_push_rule *rule, const char *identity)
{
    if (rule->n_identities == 0) {
        return true;
    }
    if (identity == NULL) {
        return false;
    }
    for (size_t i = 0; i < rule->n_identities; i++) {
        const char *pat = rule->identities[i];

        /* "spiffe://" would be an empty path segment for the pattern matcher: compare the
         * scheme, then match trust-domain/path with `*` per segment */
        if (strncmp(pat, "spiffe://", 9) == 0 && strncmp(identity, "spiffe://", 9) == 0 &&
            rw_pattern_match(pat + 9, identity + 9)) {
            return true;
        }
        if (rw_pattern_match(pat, identity)) {
            return true;
        }
    }
    return false;
}

/*
 * Blob gating (pull.gate_blobs, issue 5): under an enforcing rule that requires signatures, a
 * blob GET is served only when an allowed manifest of the same repository references it, so
 * content cannot be fetched by digest around the manifest check. HEAD is not gated: it shows
 * no content, and pushers (skopeo) probe blobs with HEAD before uploading them.
 * @return true to go on; false when the request was answered (denied).
 */
/* Whether an allowed manifest of @p repo references blob @p digest (or no gate applies). */
static bool blob_referenced(const struct rw_req *r, const char *repo, const char *digest,
                            const struct rw_pull_rule **rule_out, enum rw_mode *mode_out)
{
    const struct rw_config *cfg = r->cfg;
    const struct rw_pull_rule *rule = rw_policy_pull_rule(cfg, r->up->name, repo);
    struct rw_cache *cache = r->w->srv->cache;
    struct rw_cache_key k;
    char manifest[RW_MAX_DIGEST_LEN + 1];

    *rule_out = rule;
    *mode_out = rule != NULL ? rw_policy_rule_mode(cfg, rule) : cfg->pull_mode;
    if (!cfg->gate_blobs || (rule != NULL && rule->allow)) {
        return true;
    }
    if (rule == NULL || cache == NULL || strlen(digest) >= sizeof(k.digest)) {
        return false;
    }
    memset(&k, 0, sizeof(k));
    rw_config_verdict_policy(cfg, k.policy);
    snprintf(k.upstream, sizeof(k.upstream), "%s", r->up->name);
    snprintf(k.repo, sizeof(k.repo), "%s", repo);
    snprintf(k.digest, sizeof(k.digest), "%s", digest);
    return rw_cache_blob_get(cache, &k, (int64_t)time(NULL), manifest) == 0;
}

static bool blob_gate_ok(struct rw_req *r)
{
    const struct rw_pull_rule *rule = NULL;
    enum rw_mode mode = RW_MODE_ENFORCE;
    char detail[640];

    if (blob_referenced(r, r->m.repo, r->m.reference, &rule, &mode)) {
        return true;
    }
    snprintf(detail, sizeof(detail), "no allowed manifest of %s/%s references this blob%s",
             r->up->name, r->m.repo,
             r->w->srv->cache == NULL ? " (no cache configured: gating denies all)" : "");
    if (mode == RW_MODE_AUDIT) {
        rw_req_deny(r, "audit-deny", rule != NULL ? rule->match : NULL, "audit",
                    RW_REASON_UNREFERENCED_BLOB, r->m.reference, detail);
        return true;
    }
    rw_metrics_verdict(false, RW_REASON_UNREFERENCED_BLOB, false);
    rw_req_deny(r, "deny", rule != NULL ? rule->match : NULL, "enforce",
                RW_REASON_UNREFERENCED_BLOB, r->m.reference, detail);
    return false;
}

/* Percent-decode @p n bytes of @p s once (and '+' as a space, as Go's url.ParseQuery does: the
 * registry reads the query that way) into @p out; returns the decoded length, capped. */
static size_t query_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], '\0'};

            out[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    out[o] = '\0';
    return o;
}

/* Whether the parameter at @p seg (length @p n) is named @p name once decoded; *val is set to
 * where its value starts. */
static bool param_is(const char *seg, size_t n, const char *name, const char **val)
{
    const char *eq = memchr(seg, '=', n);
    size_t nl = eq != NULL ? (size_t)(eq - seg) : n;
    char dec[32];

    if (nl >= sizeof(dec) * 3) {
        return false;
    }
    query_decode(seg, nl, dec, sizeof(dec));
    *val = eq != NULL ? eq + 1 : seg + n;
    return strcmp(dec, name) == 0;
}

/* First value of query parameter @p name (names and value decoded once) into @p out. */
static bool query_param(const char *q, const char *name, char *out, size_t cap)
{
    while (*q != '\0') {
        size_t seg = strcspn(q, "&");
        const char *val;

        if (param_is(q, seg, name, &val)) {
            query_decode(val, (size_t)(q + seg - val), out, cap);
            return true;
        }
        q += seg;
        q += *q == '&' ? 1 : 0;
    }
    return false;
}

/* Drop every parameter named @p name (however its name is encoded) from the forwarded query. */
static void query_drop(char *q, const char *name)
{
    char *p = q;

    while (*p != '\0') {
        size_t seg = strcspn(p, "&");
        const char *val;

        if (param_is(p, seg, name, &val)) {
            char *next = p + seg + (p[seg] == '&' ? 1 : 0);

            memmove(p, next, strlen(next) + 1);
            if (*p == '\0' && p > q && p[-1] == '&') {
                p[-1] = '\0';
            }
            continue;
        }
        p += seg + (p[seg] == '&' ? 1 : 0);
    }
}

static bool form_body(const struct rw_req *r)
{
    const char *ct = rw_req_header(r, "Content-Type");

    while (ct != NULL && (*ct == ' ' || *ct == '\t')) {
        ct++;
    }
    return ct != NULL && (strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0 ||
                          strncasecmp(ct, "multipart/form-data", 19) == 0);
}

/*
 * A cross-repository mount (POST uploads ?mount=D&from=R) would copy a blob that blob gating
 * refuses in R into a repository where it is not gated. When R's gate does not let D through,
 * the mount parameters are dropped: the registry answers 202 with an ordinary upload session
 * (dist-spec's fallback), so the pusher must supply the bytes itself.
 */
static void gate_mount(struct rw_req *r)
{
    const struct rw_pull_rule *rule = NULL;
    enum rw_mode mode = RW_MODE_ENFORCE;
    char digest[RW_MAX_DIGEST_LEN + 1];
    char from[RW_MAX_REPO_LEN + 1];

    if (!query_param(r->m.query, "mount", digest, sizeof(digest))) {
        return;
    }
    if (query_param(r->m.query, "from", from, sizeof(from)) &&
        rw_oci_name_valid(from, strlen(from)) && rw_oci_digest_valid(digest, strlen(digest)) &&
        blob_referenced(r, from, digest, &rule, &mode)) {
        return;
    }
    rw_log_info(PROXY, "conn=%" PRIu64 " req=%s mount into %s/%s refused by blob gating: "
                       "forwarded as a plain upload",
                r->conn_id, r->id, r->up->name, r->m.repo);
    query_drop(r->m.query, "mount");
    query_drop(r->m.query, "from");
}

void rw_routes_dispatch(struct rw_req *r)
{
    struct rw_config *cfg = r->cfg;
    const char *name;
    int status = 400;
    const char *code = "UNSUPPORTED";
    bool write = strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0;
    const struct rw_push_rule *push = NULL;

    if (rw_route_parse(r->target, strlen(r->target), &r->m, &status, &code) != 0) {
        r->m.route = RW_ROUTE_COUNT;
        rw_req_error(r, status, code, "invalid request target");
        return;
    }
    /* ns= first (containerd), then the listener's own registry, then default_upstream */
    name = r->m.has_ns ? r->m.ns
           : (r->listen_idx < cfg->n_listen && cfg->listen[r->listen_idx].upstream != NULL)
               ? cfg->listen[r->listen_idx].upstream
               : cfg->default_upstream;
    r->up = name != NULL ? rw_config_upstream(cfg, name) : NULL;
    if (r->up == NULL) {
        char detail[256];

        snprintf(detail, sizeof(detail), "upstream %s is not configured",
                 name != NULL ? name : "(none: no ns= and no default_upstream)");
        rw_req_deny(r, "deny", NULL, rw_mode_str(cfg->pull_mode), RW_REASON_UNKNOWN_UPSTREAM,
                    NULL, detail);
        return;
    }
    if (strcmp(r->method, "OPTIONS") == 0) {
        rw_req_error(r, 405, "UNSUPPORTED", "method not allowed");
        return;
    }
    if (write && r->m.repo[0] != '\0') {
        push = rw_policy_push_rule(cfg, r->up->name, r->m.repo);
        if (push != NULL && !identity_allowed(push, r->identity)) {
            char detail[300];

            snprintf(detail, sizeof(detail), "identity %s may not push to %s/%s",
                     r->identity != NULL ? r->identity : "(anonymous)", r->up->name, r->m.repo);
            rw_req_deny(r, "deny", push->match, "enforce", RW_REASON_PUSH_NOT_ALLOWED, NULL,
                        detail);
            return;
        }
    }
    if (r->m.route == RW_ROUTE_BLOB && strcmp(r->method, "GET") == 0 && !blob_gate_ok(r)) {
        return;
    }
    if ((r->m.route == RW_ROUTE_UPLOAD_START || r->m.route == RW_ROUTE_UPLOAD) && r->has_body &&
        form_body(r)) {
        /* the registry (Go's r.FormValue) reads mount/from/digest from a form body too, where
         * neither gate_mount nor the route table would see them: blob data is octet-stream */
        rw_req_error(r, 415, "UNSUPPORTED", "form-encoded upload bodies are not accepted");
        return;
    }
    if (r->m.route == RW_ROUTE_UPLOAD_START && strcmp(r->method, "POST") == 0) {
        gate_mount(r);
    }
    if (r->m.route == RW_ROUTE_MANIFEST) {
        if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) {
            rw_route_pull(r);
            return;
        }
        if (strcmp(r->method, "PUT") == 0 && push != NULL && push->sign &&
            !is_attachment_tag(r->m.reference)) {
            rw_route_push_manifest(r, push);
            return;
        }
    }
    rw_route_forward(r);
}
