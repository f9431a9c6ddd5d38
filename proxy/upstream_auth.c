/* SPDX-License-Identifier: MIT */
/*
 * regwarden's own upstream credentials (upstreams.<name>.auth): the Docker token dance done by
 * the proxy itself (PROTOCOLS.md §3, case C01). One process-wide cache shared by every worker:
 * per upstream the challenge learnt once (GET /v2/ -> 401 WWW-Authenticate), per (upstream,
 * scope) the Authorization value until shortly before the token expires. Concurrent callers for
 * one scope wait for one token request, whichever worker they run on: the request runs on the
 * first caller's loop, the others are woken on their own loops with event_active().
 *
 * The Basic credential goes only to the token realm (Bearer) or to the upstream itself (Basic),
 * never through a redirect (httpc does not follow any), never into a log line: lines name the
 * upstream, the user and the realm's host.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
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
#include "www_auth.h"

#define UPAUTH_MAX_SLOTS      4096u   /* cached (upstream, scope) entries */
#define UPAUTH_STATIC_TTL_MS  300000  /* Basic / no-auth answers: re-checked every 5 minutes */
#define UPAUTH_FAIL_TTL_MS    2000    /* a failure is remembered this long (no retry storm) */
#define UPAUTH_MAX_REPLY      RW_TOKEN_MAX_REPLY

enum chal { CHAL_UNKNOWN = 0, CHAL_NONE, CHAL_BASIC, CHAL_BEARER };

/* One upstream identity: name, URL and credential (a reload that changes any is a new one). */
struct upst {
    struct upst *next;
    char *key;     /* owned: "<name>\n<url>\n<sha256 of the credential>" */
    enum chal chal;
    char *realm;   /* owned; Bearer only */
    char *service; /* owned; NULL when the challenge named none */
};

struct slot {
    struct slot *next;
    struct upst *u;       /* borrowed: upsts live until rw_upauth_fini() */
    char *scope;          /* owned */
    char *value;          /* owned, secret: "Bearer ..."; NULL = none */
    bool have;
    int64_t fresh_until;  /* monotonic ms */
    int err;              /* last failure, remembered until err_until */
    int64_t err_until;
    bool fetching;        /* a job owns the slot: never evicted */
    struct rw_upauth_wait *waiters;
};

struct rw_upauth_wait {
    struct rw_upauth_wait *next;
    struct slot *slot;    /* weak: cleared under the lock when notified */
    struct event *ev;     /* owned; on the waiter's base */
    rw_upauth_cb *cb;
    void *arg;
    bool done;
    int rc;
    char *value;          /* owned, secret */
};

struct job {
    struct slot *slot;       /* borrowed: fetching keeps it alive */
    struct rw_httpc *httpc;  /* borrowed: the starting worker's */
    char *name;              /* owned copies: a reload may free the config meanwhile */
    char *url;
    char *ca;
    char *user;
    char *basic_hdr;         /* owned, secret: "Authorization: Basic ..." */
    char *scope;
    char *realm;
    char *service;
    char *allowed_hosts;     /* owned copy of upstreams.<name>.allowed_hosts, or NULL */
};

static struct {
    pthread_mutex_t mu;
    struct upst *upsts;
    struct slot *slots;
    size_t n_slots;
    atomic_ulong token_requests;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void secret_free(char **p)
{
    if (*p != NULL) {
        explicit_bzero(*p, strlen(*p));
    }
    rw_free_clear(p);
}

bool rw_upauth_own(const struct rw_upstream_cfg *up)
{
    return up != NULL && up->auth == RW_UPSTREAM_AUTH_OWN && up->auth_basic != NULL;
}

unsigned long rw_upauth_token_requests(void)
{
    return atomic_load(&g.token_requests);
}

/* ------------------------------------------------------------------ scope */

/* Value of query parameter @p name in @p q ("a=1&from=x"), copied; false when absent. */
static bool query_param(const char *q, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);

    while (q != NULL && *q != '\0') {
        size_t len = strcspn(q, "&");

        if (len > nl && strncmp(q, name, nl) == 0 && q[nl] == '=') {
            size_t vl = len - nl - 1;

            if (vl == 0 || vl >= cap) {
                return false;
            }
            memcpy(out, q + nl + 1, vl);
            out[vl] = '\0';
            return true;
        }
        q += len;
        if (*q == '&') {
            q++;
        }
    }
    return false;
}

/* A repository name as image_ref.c accepts it: lowercase, digits, separators, slashes. */
static bool repo_ok(const char *s)
{
    if (s[0] == '\0' || strlen(s) > RW_MAX_REPO_LEN) {
        return false;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
              *p == '-' || *p == '/')) {
            return false;
        }
    }
    return true;
}

int rw_upauth_scope(const struct rw_req *r, char *out, size_t cap)
{
    const char *m = r->method;
    char from[RW_MAX_REPO_LEN + 1];
    int n;

    switch (r->m.route) {
    case RW_ROUTE_PING:
        n = snprintf(out, cap, "%s", "");
        break;
    case RW_ROUTE_CATALOG:
        n = snprintf(out, cap, "registry:catalog:*");
        break;
    default:
        if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
            n = snprintf(out, cap, "repository:%s:pull", r->m.repo);
        } else if (strcmp(m, "DELETE") == 0) {
            n = snprintf(out, cap, "repository:%s:delete", r->m.repo);
        } else if (r->m.route == RW_ROUTE_UPLOAD_START &&
                   query_param(r->m.query, "from", from, sizeof(from)) && repo_ok(from) &&
                   strcmp(from, r->m.repo) != 0) {
            /* a cross-repository mount reads the source repository too */
            n = snprintf(out, cap, "repository:%s:pull,push repository:%s:pull", r->m.repo, from);
        } else {
            n = snprintf(out, cap, "repository:%s:pull,push", r->m.repo);
        }
        break;
    }
    return n >= 0 && (size_t)n < cap ? 0 : RW_ETOOBIG;
}

/* ------------------------------------------------------------------ cache (under g.mu) */

static struct upst *upst_get(const struct rw_upstream_cfg *up)
{
    uint8_t h[32];
    char hex[17];
    char *key;
    struct upst *u;

    rw_sha256(up->auth_basic, strlen(up->auth_basic), h);
    rw_hex(h, 8, hex);
    key = rw_asprintf("%s\n%s\n%s", up->name, up->url, hex);
    if (key == NULL) {
        return NULL;
    }
    for (u = g.upsts; u != NULL; u = u->next) {
        if (strcmp(u->key, key) == 0) {
            rw_free(key);
            return u;
        }
    }
    u = rw_calloc(1, sizeof(*u));
    if (u == NULL) {
        rw_free(key);
        return NULL;
    }
    u->key = key;
    u->next = g.upsts;
    g.upsts = u;
    return u;
}

static void slot_free(struct slot *s)
{
    secret_free(&s->value);
    rw_free(s->scope);
    rw_free(s);
}

/* Drop idle entries (no job, no waiter) once over the bound: expired ones first, then any. */
static void slots_trim(int64_t now)
{
    for (int pass = 0; pass < 2 && g.n_slots >= UPAUTH_MAX_SLOTS; pass++) {
        struct slot **pp = &g.slots;

        while (*pp != NULL) {
            struct slot *s = *pp;

            if (!s->fetching && s->waiters == NULL && (pass == 1 || now >= s->fresh_until)) {
                *pp = s->next;
                slot_free(s);
                g.n_slots--;
                continue;
            }
            pp = &s->next;
        }
    }
}

static struct slot *slot_get(struct upst *u, const char *scope, int64_t now)
{
    struct slot *s;

    for (s = g.slots; s != NULL; s = s->next) {
        if (s->u == u && strcmp(s->scope, scope) == 0) {
            return s;
        }
    }
    slots_trim(now);
    s = rw_calloc(1, sizeof(*s));
    if (s == NULL || (s->scope = rw_strdup(scope)) == NULL) {
        rw_free(s);
        return NULL;
    }
    s->u = u;
    s->next = g.slots;
    g.slots = s;
    g.n_slots++;
    return s;
}

/* Learn from a challenge an upstream just sent with a 401. */
static int upst_learn(struct upst *u, const struct rw_www_auth *ch)
{
    char *realm = NULL;
    char *service = NULL;

    if (ch->scheme == RW_WWW_AUTH_BEARER) {
        realm = rw_strdup(ch->realm);
        if (realm == NULL ||
            (ch->service[0] != '\0' && (service = rw_strdup(ch->service)) == NULL)) {
            rw_free(realm);
            return -ENOMEM;
        }
    }
    rw_free(u->realm);
    rw_free(u->service);
    u->realm = realm;
    u->service = service;
    u->chal = ch->scheme == RW_WWW_AUTH_BEARER ? CHAL_BEARER : CHAL_BASIC;
    return 0;
}

/* ------------------------------------------------------------------ waiting */

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct rw_upauth_wait *w = arg;
    rw_upauth_cb *cb = w->cb;
    void *cb_arg = w->arg;
    int rc = w->rc;
    char *value = w->value;

    (void)fd;
    (void)what;
    w->value = NULL;
    event_free(w->ev);
    rw_free(w);
    cb(cb_arg, rc, value);
    secret_free(&value);
}

void rw_upauth_cancel(struct rw_upauth_wait **pw)
{
    struct rw_upauth_wait *w = *pw;

    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&g.mu);
    if (!w->done && w->slot != NULL) {
        struct rw_upauth_wait **pp = &w->slot->waiters;

        while (*pp != NULL && *pp != w) {
            pp = &(*pp)->next;
        }
        if (*pp == w) {
            *pp = w->next;
        }
    }
    pthread_mutex_unlock(&g.mu);
    /* after the lock: a notifier activated the event (if it did) while holding it */
    event_free(w->ev);
    secret_free(&w->value);
    rw_free(w);
    *pw = NULL;
}

/* ------------------------------------------------------------------ the job */

static void job_free(struct job *j)
{
    rw_free(j->name);
    rw_free(j->url);
    rw_free(j->ca);
    rw_free(j->allowed_hosts);
    rw_free(j->user);
    secret_free(&j->basic_hdr);
    rw_free(j->scope);
    rw_free(j->realm);
    rw_free(j->service);
    rw_free(j);
}

/* The one place a wait ends: store the answer, wake every waiter on its own loop. */
static void slot_done(struct slot *s, int rc, const char *value, int64_t ttl_ms)
{
    int64_t now = now_ms();

    pthread_mutex_lock(&g.mu);
    s->fetching = false;
    secret_free(&s->value);
    s->have = false;
    if (rc == 0 && (value == NULL || (s->value = rw_strdup(value)) != NULL)) {
        s->have = true;
        s->fresh_until = now + ttl_ms;
        s->err = 0;
    } else {
        s->err = rc != 0 ? rc : -ENOMEM;
        s->err_until = now + UPAUTH_FAIL_TTL_MS;
    }
    while (s->waiters != NULL) {
        struct rw_upauth_wait *w = s->waiters;

        s->waiters = w->next;
        w->next = NULL;
        w->slot = NULL;
        w->done = true;
        w->rc = s->have ? 0 : s->err;
        if (s->have && s->value != NULL && (w->value = rw_strdup(s->value)) == NULL) {
            w->rc = -ENOMEM;
        }
        /* under the lock: rw_upauth_cancel() frees the event only after taking it */
        event_active(w->ev, EV_TIMEOUT, 0);
    }
    pthread_mutex_unlock(&g.mu);
}

static void job_finish(struct job *j, int rc, const char *value, int64_t ttl_ms)
{
    slot_done(j->slot, rc, value, ttl_ms);
    job_free(j);
}

static char *url_encode(const char *s)
{
    static const char hexd[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = rw_malloc(3 * n + 1);
    size_t k = 0;

    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[k++] = (char)c;
        } else {
            out[k++] = '%';
            out[k++] = hexd[c >> 4];
            out[k++] = hexd[c & 15];
        }
    }
    out[k] = '\0';
    return out;
}

/* Host of @p url for log lines (no path, query or userinfo). */
static void url_host(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");

    p = p != NULL ? p + 3 : url;
    snprintf(out, cap, "%.*s", (int)strcspn(p, "/?#"), p);
}

static void on_token(void *arg, int rc, int status, const struct rw_hdrs *h, const uint8_t *body,
                     size_t len)
{
    struct job *j = arg;
    char host[300];
    char *tok = NULL;
    char *value = NULL;
    int64_t exp = 60;
    int64_t margin;

    (void)h;
    url_host(j->realm, host, sizeof(host));
    if (rc != 0) {
        rw_log_warn(UPSTREAM, "upstream %s: token request to %s failed: %s", j->name, host,
                    rw_strerror(rc));
        job_finish(j, rc, NULL, 0);
        return;
    }
    if (status == 401 || status == 403) {
        rw_log_err(UPSTREAM,
                   "upstream %s: token server %s refused regwarden's credentials (user %s, "
                   "scope %s): HTTP %d",
                   j->name, host, j->user, j->scope[0] != '\0' ? j->scope : "(none)", status);
        job_finish(j, -EACCES, NULL, 0);
        return;
    }
    if (status != 200) {
        rw_log_warn(UPSTREAM, "upstream %s: token server %s answered HTTP %d", j->name, host,
                    status);
        job_finish(j, RW_EUPSTREAM, NULL, 0);
        return;
    }
    tok = rw_malloc(RW_TOKEN_MAX_BYTES + 1);
    if (tok == NULL) {
        job_finish(j, -ENOMEM, NULL, 0);
        return;
    }
    rc = rw_token_reply_parse(body, len, tok, &exp);
    if (rc != 0) {
        rw_log_warn(UPSTREAM, "upstream %s: token server %s sent no usable token: %s", j->name,
                    host, rw_strerror(rc));
        explicit_bzero(tok, RW_TOKEN_MAX_BYTES + 1);
        rw_free(tok);
        job_finish(j, RW_EPROTO, NULL, 0);
        return;
    }
    value = rw_asprintf("Bearer %s", tok);
    explicit_bzero(tok, RW_TOKEN_MAX_BYTES + 1);
    rw_free(tok);
    /* reuse until shortly before expiry: requests in flight must not carry an expired token */
    margin = exp >= 60 ? 10 : exp / 4;
    rw_log_info(UPSTREAM, "upstream %s: token for scope %s from %s, valid %" PRId64 " s",
                j->name, j->scope[0] != '\0' ? j->scope : "(none)", host, exp);
    job_finish(j, value != NULL ? 0 : -ENOMEM, value, (exp - margin) * 1000);
    secret_free(&value);
}

static bool realm_allowed(const struct job *j)
{
    struct rw_upstream_cfg dial = {.url = j->url, .allowed_hosts = j->allowed_hosts};

    /* an https upstream's credential never crosses the network in the clear, and a realm is a
     * host regwarden dials: the upstream's own, or one its allowed_hosts names (invariant 4) */
    return (strncasecmp(j->url, "https://", 8) != 0 || strncasecmp(j->realm, "https://", 8) == 0) &&
           rw_upstream_may_dial(&dial, j->realm);
}

static void job_token(struct job *j)
{
    struct rw_buf url;
    const char *hdrs[2];
    struct rw_fetch_req req = {0};
    char *enc = NULL;
    int rc = 0;

    if (!realm_allowed(j)) {
        rw_log_err(UPSTREAM,
                   "upstream %s: token realm is not https, or its host is not the upstream's nor "
                   "in upstreams.%s.allowed_hosts; credentials not sent",
                   j->name, j->name);
        job_finish(j, RW_EPROTO, NULL, 0);
        return;
    }
    rw_buf_init(&url, 16 * 1024);
    rc = rw_buf_appends(&url, j->realm);
    if (rc == 0 && j->service != NULL && (enc = url_encode(j->service)) == NULL) {
        rc = -ENOMEM;
    }
    if (rc == 0 && enc != NULL) {
        rc = rw_buf_printf(&url, "%sservice=%s", strchr(j->realm, '?') != NULL ? "&" : "?", enc);
    }
    /* one scope parameter per resource scope (PROTOCOLS.md §3.3) */
    for (const char *p = j->scope; rc == 0 && *p != '\0';) {
        size_t n = strcspn(p, " ");
        char *one = rw_strndup(p, n);

        rw_free_clear(&enc);
        enc = one != NULL ? url_encode(one) : NULL;
        rw_free(one);
        rc = enc == NULL ? -ENOMEM
                         : rw_buf_printf(&url, "%sscope=%s",
                                         strchr((const char *)url.data, '?') != NULL ? "&" : "?",
                                         enc);
        p += n;
        while (*p == ' ') {
            p++;
        }
    }
    rw_free(enc);
    if (rc != 0) {
        rw_buf_fini(&url);
        job_finish(j, rc, NULL, 0);
        return;
    }
    hdrs[0] = "User-Agent: regwarden/" RW_VERSION;
    hdrs[1] = j->basic_hdr;
    req.method = "GET";
    req.url = (const char *)url.data;
    req.headers = hdrs;
    req.n_headers = 2;
    req.max = UPAUTH_MAX_REPLY;
    req.ca_file = j->ca;
    atomic_fetch_add(&g.token_requests, 1);
    rc = rw_fetch_start(j->httpc, &req, on_token, j, NULL);
    rw_buf_fini(&url);
    if (rc != 0) {
        job_finish(j, rc, NULL, 0);
    }
}

static void on_basic_check(void *arg, int rc, int status, const struct rw_hdrs *h,
                           const uint8_t *body, size_t len)
{
    struct job *j = arg;

    (void)h;
    (void)body;
    (void)len;
    if (rc == 0 && status >= 200 && status < 300) {
        job_finish(j, 0, j->basic_hdr + strlen("Authorization: "), UPAUTH_STATIC_TTL_MS);
        return;
    }
    if (rc == 0 && (status == 401 || status == 403)) {
        rw_log_err(UPSTREAM,
                   "upstream %s refused regwarden's credentials (user %s, Basic): HTTP %d", j->name,
                   j->user, status);
        job_finish(j, -EACCES, NULL, 0);
        return;
    }
    rw_log_warn(UPSTREAM, "upstream %s: credential check failed: %s", j->name,
                rc != 0 ? rw_strerror(rc) : "unexpected status");
    job_finish(j, rc != 0 ? rc : RW_EUPSTREAM, NULL, 0);
}

/* GET <upstream>/v2/ with our User-Agent and, when @p auth_hdr is not NULL, that one credential
 * header; @p cb gets the answer. Failing to start finishes the job. */
static void job_get_v2(struct job *j, const char *auth_hdr, rw_fetch_cb *cb)
{
    const char *hdrs[2];
    struct rw_fetch_req req = {0};
    char *url = rw_asprintf("%s/v2/", j->url);
    int rc = -ENOMEM;

    if (url != NULL) {
        hdrs[0] = "User-Agent: regwarden/" RW_VERSION;
        hdrs[1] = auth_hdr;
        req.method = "GET";
        req.url = url;
        req.headers = hdrs;
        req.n_headers = auth_hdr != NULL ? 2 : 1;
        req.max = 64 * 1024;
        req.ca_file = j->ca;
        rc = rw_fetch_start(j->httpc, &req, cb, j, NULL);
    }
    rw_free(url);
    if (rc != 0) {
        job_finish(j, rc, NULL, 0);
    }
}

/* Basic upstream: one GET /v2/ with the credential tells a wrong password from a right one, so
 * the client gets a clear 401 and the log a clear line instead of a relayed challenge. */
static void job_basic_check(struct job *j)
{
    job_get_v2(j, j->basic_hdr, on_basic_check);
}

/* Go on once the upstream's challenge is known. */
static void job_next(struct job *j)
{
    enum chal c;

    pthread_mutex_lock(&g.mu);
    c = j->slot->u->chal;
    if (c == CHAL_BEARER && (j->realm = rw_strdup(j->slot->u->realm)) != NULL &&
        j->slot->u->service != NULL) {
        j->service = rw_strdup(j->slot->u->service);
    }
    pthread_mutex_unlock(&g.mu);
    switch (c) {
    case CHAL_NONE:
        job_finish(j, 0, NULL, UPAUTH_STATIC_TTL_MS);
        return;
    case CHAL_BASIC:
        job_basic_check(j);
        return;
    case CHAL_BEARER:
        if (j->realm == NULL) {
            job_finish(j, -ENOMEM, NULL, 0);
            return;
        }
        job_token(j);
        return;
    case CHAL_UNKNOWN:
    default:
        job_finish(j, RW_EINTERNAL, NULL, 0);
        return;
    }
}

static void on_ping(void *arg, int rc, int status, const struct rw_hdrs *h, const uint8_t *body,
                    size_t len)
{
    struct job *j = arg;
    struct rw_www_auth ch;
    const char *wa = rw_hdrs_get(h, "WWW-Authenticate");

    (void)body;
    (void)len;
    if (rc != 0) {
        rw_log_warn(UPSTREAM, "upstream %s: challenge probe failed: %s", j->name, rw_strerror(rc));
        job_finish(j, rc, NULL, 0);
        return;
    }
    if (status >= 200 && status < 300) {
        pthread_mutex_lock(&g.mu);
        j->slot->u->chal = CHAL_NONE;
        pthread_mutex_unlock(&g.mu);
        job_next(j);
        return;
    }
    if (status != 401 || wa == NULL || rw_www_auth_parse(wa, strlen(wa), &ch) != 0) {
        rw_log_warn(UPSTREAM,
                    "upstream %s: GET /v2/ answered HTTP %d without a usable Basic or Bearer "
                    "challenge",
                    j->name, status);
        job_finish(j, RW_EUPSTREAM, NULL, 0);
        return;
    }
    pthread_mutex_lock(&g.mu);
    rc = upst_learn(j->slot->u, &ch);
    pthread_mutex_unlock(&g.mu);
    if (rc != 0) {
        job_finish(j, rc, NULL, 0);
        return;
    }
    job_next(j);
}

static void job_start(struct rw_worker *w, const struct rw_upstream_cfg *up, struct slot *s,
                      enum chal known)
{
    struct job *j = rw_calloc(1, sizeof(*j));

    if (j == NULL) {
        slot_done(s, -ENOMEM, NULL, 0);
        return;
    }
    j->slot = s;
    j->httpc = w->httpc;
    j->name = rw_strdup(up->name);
    j->url = rw_strdup(up->url);
    j->user = rw_strdup(up->auth_user != NULL ? up->auth_user : "?");
    j->basic_hdr = rw_asprintf("Authorization: Basic %s", up->auth_basic);
    j->scope = rw_strdup(s->scope);
    if (up->ca != NULL) {
        j->ca = rw_strdup(up->ca);
    }
    if (up->allowed_hosts != NULL) {
        j->allowed_hosts = rw_strdup(up->allowed_hosts);
    }
    if (j->name == NULL || j->url == NULL || j->user == NULL || j->basic_hdr == NULL ||
        j->scope == NULL || (up->ca != NULL && j->ca == NULL) ||
        (up->allowed_hosts != NULL && j->allowed_hosts == NULL)) {
        job_finish(j, -ENOMEM, NULL, 0);
        return;
    }
    if (known != CHAL_UNKNOWN) {
        job_next(j);
        return;
    }
    job_get_v2(j, NULL, on_ping);
}

/* ------------------------------------------------------------------ entry point */

int rw_upauth_get(struct rw_worker *w, const struct rw_upstream_cfg *up, const char *scope,
                  const char *stale, char **authorization, rw_upauth_cb *cb, void *arg,
                  struct rw_upauth_wait **wait)
{
    struct rw_upauth_wait *wt = rw_calloc(1, sizeof(*wt));
    char *copy = NULL;
    struct upst *u;
    struct slot *s;
    int64_t now = now_ms();
    bool start = false;
    enum chal known = CHAL_UNKNOWN;
    int rc = 0;

    if (wt == NULL) {
        return -ENOMEM;
    }
    wt->ev = event_new(w->base, -1, 0, on_wake, wt);
    if (wt->ev == NULL) {
        rw_free(wt);
        return -ENOMEM;
    }
    wt->cb = cb;
    wt->arg = arg;
    pthread_mutex_lock(&g.mu);
    u = upst_get(up);
    s = u != NULL ? slot_get(u, scope, now) : NULL;
    if (s == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (stale != NULL && s->have &&
        ((s->value != NULL && strcmp(s->value, stale) == 0) ||
         (s->value == NULL && *stale == '\0'))) {
        /* the upstream refused what we sent: forget it; an anonymous answer re-probes */
        secret_free(&s->value);
        s->have = false;
        if (stale[0] == '\0' && u->chal == CHAL_NONE) {
            u->chal = CHAL_UNKNOWN;
        }
    }
    if (s->have && now < s->fresh_until) {
        if (s->value != NULL && (copy = rw_strdup(s->value)) == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        *authorization = copy;
        *wait = NULL;
        goto out;
    }
    if (!s->fetching && s->err != 0 && now < s->err_until && stale == NULL) {
        /* a recent failure: answered through the callback like any other, on the next turn */
        wt->done = true;
        wt->rc = s->err;
        event_active(wt->ev, EV_TIMEOUT, 0);
        *wait = wt;
        wt = NULL;
        goto out;
    }
    wt->slot = s;
    wt->next = s->waiters;
    s->waiters = wt;
    if (!s->fetching) {
        s->fetching = true;
        start = true;
    }
    known = u->chal;
    *wait = wt;
    wt = NULL;
out:
    pthread_mutex_unlock(&g.mu);
    if (wt != NULL) {
        event_free(wt->ev);
        rw_free(wt);
    }
    if (start) {
        job_start(w, up, s, known);
    }
    return rc;
}

void rw_upauth_fini(void)
{
    pthread_mutex_lock(&g.mu);
    while (g.slots != NULL) {
        struct slot *s = g.slots;

        g.slots = s->next;
        slot_free(s);
    }
    g.n_slots = 0;
    while (g.upsts != NULL) {
        struct upst *u = g.upsts;

        g.upsts = u->next;
        rw_free(u->key);
        rw_free(u->realm);
        rw_free(u->service);
        rw_free(u);
    }
    pthread_mutex_unlock(&g.mu);
}
