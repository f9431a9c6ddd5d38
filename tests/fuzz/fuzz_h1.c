/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the HTTP/1.1 request path (proxy/conn.c) end to end: the input is what a client writes
 * on one plain connection. The real conn.c accepts one end of a socketpair on a private event
 * base; the real routes.c (with image_ref.c, upstream.c, oci_errors.c and the policy library)
 * dispatches every request against a config loaded from memory; h2.c is real too, so an input
 * opening with the h2c preface goes to HTTP/2. Nothing is dialed:
 *
 * - rw_xfer_start and friends are replaced at link time (-Wl,--wrap, see
 *   tests/unit/proxy/meson.build) by an in-memory upstream that reads the request body through
 *   the route with backpressure, then answers with a status, length and body size picked from a
 *   hash of the upstream URL; some URLs fail before the head or mid-body, or answer before
 *   reading the body, so every end of the forward route meets conn.c;
 * - the manifest pull gate (route_pull.c) and signing push (route_push.c) are stubbed: pulls are
 *   answered 200 or denied by the real rw_req_deny on a later loop turn, pushes drain the body
 *   and answer 201;
 * - own upstream credentials (upstream_auth.c) exist for upstream "auth" only and are answered
 *   at once; TLS, metrics and the deny log are stubs.
 *
 * The client writes the input in 1000-byte slices (requests straddle reads) and reads every
 * response byte, the loop runs until nothing moves (hard cap on passes), then the client closes
 * and the connection must be freed: a connection that outlives its client aborts the run.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "rw/err.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "rw/policy.h"
#include "conn.h"
#include "proxy.h"
#include "tls.h"
#include "upstream_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SLICE       1000
#define MAX_PASSES  4000 /* loop passes per input, whatever happens */
#define IDLE_PASSES 8    /* passes in a row without progress: the exchange is over */

/* upstreams all point at 127.0.0.1:1, yet are never dialed (the fake transfer below) */
static const char config_yaml[] =
    "listen:\n"
    "  - address: 127.0.0.1:1\n"
    "  - address: 127.0.0.1:2\n"
    "    upstream: mirror\n"
    "upstreams:\n"
    "  up: http://127.0.0.1:1\n"
    "  mirror: http://127.0.0.1:1\n"
    "  auth: http://127.0.0.1:1\n"
    "default_upstream: up\n"
    "push:\n"
    "  - match: \"up/locked/**\"\n"
    "    identities: [\"spiffe://example.org/ci\"]\n"
    "pull:\n"
    "  mode: enforce\n"
    "  rules:\n"
    "    - match: \"*/library/**\"\n"
    "      allow: true\n"
    "    - match: \"*/audit/**\"\n"
    "      allow: true\n"
    "      mode: audit\n";

static struct rw_config *g_cfg;
static bool g_echo; /* FUZZ_H1_ECHO set: responses go to stderr (writing seeds), logs stay on */

/* ------------------------------------------------------------------ stubs of the server */

struct rw_config *rw_server_config(struct rw_server *s)
{
    (void)s;
    return rw_config_ref(g_cfg);
}

void rw_metrics_request(const char *method, enum rw_route route, int status)
{
    (void)method;
    (void)route;
    (void)status;
}

void rw_metrics_verdict(bool allow, enum rw_reason reason, bool cached)
{
    (void)allow;
    (void)reason;
    (void)cached;
}

int rw_denylog_deny(struct rw_denylog *d, const struct rw_deny_event *e)
{
    (void)d;
    (void)e;
    return 0;
}

struct bufferevent *rw_tls_bev_new(struct rw_tls *t, struct event_base *base, evutil_socket_t fd,
                                   int options)
{
    (void)t;
    (void)base;
    (void)options;
    evutil_closesocket(fd);
    return NULL; /* never called: the fuzzer's connection is plain */
}

bool rw_tls_bev_is_h2(struct bufferevent *bev)
{
    (void)bev;
    return false;
}

int rw_tls_bev_identity(struct bufferevent *bev, char **out)
{
    (void)bev;
    *out = NULL;
    return 0;
}

/* Own credentials for upstream "auth": a token at once, refused when the token went stale. */
bool rw_upauth_own(const struct rw_upstream_cfg *up)
{
    return up != NULL && strcmp(up->name, "auth") == 0;
}

int rw_upauth_scope(const struct rw_req *r, char *out, size_t cap)
{
    int n = snprintf(out, cap, "repository:%s:pull", r->m.repo);

    return n >= 0 && (size_t)n < cap ? 0 : RW_ETOOBIG;
}

int rw_upauth_get(struct rw_worker *w, const struct rw_upstream_cfg *up, const char *scope,
                  const char *stale, char **authorization, rw_upauth_cb *cb, void *arg,
                  struct rw_upauth_wait **wait)
{
    (void)w;
    (void)up;
    (void)scope;
    (void)cb;
    (void)arg;
    *wait = NULL;
    if (stale != NULL) {
        return -EACCES;
    }
    *authorization = rw_strdup("Bearer fuzz");
    return *authorization != NULL ? 0 : -ENOMEM;
}

void rw_upauth_cancel(struct rw_upauth_wait **pw)
{
    *pw = NULL; /* rw_upauth_get() above never leaves one pending */
}

/* ------------------------------------------------------------------ pull and push stand-ins */

static void send_small(struct rw_req *r, int status, const char *ctype, const char *body)
{
    struct rw_hdr h[2] = {{"Content-Type", (char *)ctype},
                          {"Docker-Content-Digest", "sha256:0000000000000000000000000000000000000000000000000000000000000000"}};
    bool blocked;

    r->io->send_head(r, status, h, 2, (int64_t)strlen(body));
    r->io->send_data(r, (const uint8_t *)body, strlen(body), &blocked);
    r->io->send_end(r);
}

/* route_pull.c answers from a later loop turn (upstream and policy are asynchronous): library/
 * and audit/ are allowed, everything else is denied by regwarden */
static void pull_answer(evutil_socket_t fd, short what, void *arg)
{
    struct rw_req *r = arg;

    (void)fd;
    (void)what;
    event_free(r->route_ctx);
    r->route_ctx = NULL;
    r->on_close = NULL;
    if (strncmp(r->m.repo, "library/", 8) == 0 || strncmp(r->m.repo, "audit/", 6) == 0) {
        send_small(r, 200, "application/vnd.oci.image.manifest.v1+json",
                   "{\"schemaVersion\":2,\"layers\":[]}");
        return;
    }
    rw_req_deny(r, "deny", NULL, "enforce", RW_REASON_NO_RULE, NULL, "fuzz: no rule");
}

static void pull_close(struct rw_req *r)
{
    event_free(r->route_ctx);
    r->route_ctx = NULL;
    r->on_close = NULL;
}

void rw_route_pull(struct rw_req *r)
{
    struct event *ev = event_new(r->w->base, -1, 0, pull_answer, r);

    if (ev == NULL) {
        rw_req_error(r, 503, "UNAVAILABLE", "out of memory");
        return;
    }
    r->route_ctx = ev;
    r->on_close = pull_close;
    event_active(ev, 0, 0);
}

static void push_close(struct rw_req *r)
{
    r->on_body_ready = NULL;
    r->on_close = NULL;
}

static void push_body(struct rw_req *r)
{
    uint8_t buf[8192];
    size_t n = 0;
    enum rw_xfer_read st;

    while ((st = r->io->read_body(r, buf, sizeof(buf), &n)) == RW_XFER_READ_DATA) {
    }
    if (st == RW_XFER_READ_EOF) {
        push_close(r);
        send_small(r, 201, "application/json", "{}");
    }
}

/* route_push.c: drain the manifest, answer 201 */
void rw_route_push_manifest(struct rw_req *r, const struct rw_push_rule *rule)
{
    (void)rule;
    r->on_body_ready = push_body;
    r->on_close = push_close;
    push_body(r);
}

/* ------------------------------------------------------------------ in-memory upstream */

enum xstate { X_SEND = 0, X_HEAD, X_DATA };

struct rw_xfer {
    const struct rw_xfer_cbs *cbs;
    void *arg;
    struct event *ev;
    enum xstate st;
    bool has_body;
    bool send_paused;
    bool recv_paused;
    bool cancelled;
    int status;
    bool with_length;
    int fail;         /* 1: before the head, 2: mid-body, 3: answer before reading the body */
    size_t body_len;
    size_t body_sent;
    struct rw_xfer *next;
};

static struct rw_xfer *g_xfers;
static const uint8_t g_blob[16384];

static void xfer_free(struct rw_xfer *x)
{
    for (struct rw_xfer **pp = &g_xfers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == x) {
            *pp = x->next;
            break;
        }
    }
    event_free(x->ev);
    free(x);
}

static void xfer_done(struct rw_xfer *x, int rc)
{
    x->cbs->on_done(x->arg, rc);
    xfer_free(x); /* "the transfer is freed when on_done returns" */
}

static void xfer_head(struct rw_xfer *x)
{
    char len[32];
    struct rw_hdr h[5];
    struct rw_hdrs hs = {h, 0};

    snprintf(len, sizeof(len), "%zu", x->body_len);
    h[hs.n++] = (struct rw_hdr){"Content-Type", "application/octet-stream"};
    h[hs.n++] = (struct rw_hdr){"Connection", "keep-alive"}; /* hop-by-hop: never forwarded */
    if (x->with_length) {
        h[hs.n++] = (struct rw_hdr){"Content-Length", len};
    }
    if (x->status == 201 || x->status == 202) {
        h[hs.n++] = (struct rw_hdr){"Location", "http://127.0.0.1:1/v2/library/a/blobs/uploads/u"};
    }
    if (x->status == 200) {
        h[hs.n++] = (struct rw_hdr){"Link", "<http://127.0.0.1:1/v2/_catalog?n=1&last=a>; rel=\"next\""};
    }
    if (x->cbs->on_headers(x->arg, x->status, &hs) != 0) {
        if (!x->cancelled) {
            xfer_done(x, RW_EUPSTREAM);
        }
        return;
    }
    if (x->cancelled) {
        return;
    }
    x->st = X_DATA;
    event_active(x->ev, 0, 0);
}

static void xfer_step(evutil_socket_t fd, short what, void *arg)
{
    struct rw_xfer *x = arg;

    (void)fd;
    (void)what;
    if (x->cancelled) {
        xfer_free(x);
        return;
    }
    switch (x->st) {
    case X_SEND:
        for (int i = 0; i < 8; i++) {
            uint8_t buf[16384];
            size_t n = 0;
            enum rw_xfer_read st = x->cbs->on_read(x->arg, buf, sizeof(buf), &n);

            if (x->cancelled) {
                return;
            }
            if (st == RW_XFER_READ_PAUSE) {
                x->send_paused = true;
                return; /* until rw_xfer_resume_send */
            }
            if (st == RW_XFER_READ_EOF) {
                x->st = X_HEAD;
                break;
            }
        }
        event_active(x->ev, 0, 0);
        return;
    case X_HEAD:
        if (x->fail == 1) {
            xfer_done(x, RW_EUPSTREAM);
            return;
        }
        xfer_head(x);
        return;
    case X_DATA:
        for (int i = 0; i < 8 && x->body_sent < x->body_len; i++) {
            size_t n = x->body_len - x->body_sent;
            bool pause = false;

            if (n > sizeof(g_blob)) {
                n = sizeof(g_blob);
            }
            if (x->fail == 2 && x->body_sent + n >= x->body_len / 2 && x->body_sent > 0) {
                xfer_done(x, RW_EUPSTREAM);
                return;
            }
            if (x->cbs->on_data(x->arg, g_blob, n, &pause) != 0) {
                if (!x->cancelled) {
                    xfer_done(x, RW_EUPSTREAM);
                }
                return;
            }
            if (x->cancelled) {
                return;
            }
            if (pause) {
                x->recv_paused = true;
                return; /* until rw_xfer_resume_recv */
            }
            x->body_sent += n;
        }
        if (x->body_sent < x->body_len) {
            event_active(x->ev, 0, 0);
            return;
        }
        xfer_done(x, 0);
        return;
    }
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s != '\0'; s++) {
        h = (h ^ (uint8_t)*s) * 16777619u;
    }
    return h;
}

int __wrap_rw_xfer_start(struct rw_httpc *h, const struct rw_xfer_req *req,
                         const struct rw_xfer_cbs *cbs, void *arg, struct rw_xfer **out);
void __wrap_rw_xfer_resume_recv(struct rw_xfer *x);
void __wrap_rw_xfer_resume_send(struct rw_xfer *x);
void __wrap_rw_xfer_cancel(struct rw_xfer **px);

static struct event_base *g_base;

int __wrap_rw_xfer_start(struct rw_httpc *h, const struct rw_xfer_req *req,
                         const struct rw_xfer_cbs *cbs, void *arg, struct rw_xfer **out)
{
    static const int statuses[] = {200, 200, 200, 201, 202, 204, 304, 401, 404, 416, 500, 206};
    static const size_t sizes[] = {0, 0, 17, 300, 5000, 70000, 300000, 1200000};
    struct rw_xfer *x = calloc(1, sizeof(*x));
    uint32_t hash = fnv1a(req->url) ^ fnv1a(req->method);

    (void)h;
    if (x == NULL) {
        return -ENOMEM;
    }
    x->ev = event_new(g_base, -1, 0, xfer_step, x);
    if (x->ev == NULL) {
        free(x);
        return -ENOMEM;
    }
    x->cbs = cbs;
    x->arg = arg;
    x->has_body = req->has_body;
    x->status = statuses[hash % 12];
    x->body_len = strcmp(req->method, "HEAD") == 0 ? 0 : sizes[(hash >> 4) % 8];
    x->with_length = (hash >> 8) & 1;
    x->fail = (hash >> 9) % 8;
    x->fail = x->fail <= 3 ? x->fail : 0;
    if (x->body_len >= 300000 && (hash >> 12) % 4 != 0) {
        x->body_len = 70000; /* keep the big bodies rare: each costs about a millisecond */
    }
    x->st = x->has_body && x->fail != 3 ? X_SEND : X_HEAD;
    x->next = g_xfers;
    g_xfers = x;
    event_active(x->ev, 0, 0); /* curl never calls back from inside start */
    *out = x;
    return 0;
}

void __wrap_rw_xfer_resume_recv(struct rw_xfer *x)
{
    if (x == NULL || x->cancelled || !x->recv_paused) {
        return;
    }
    x->recv_paused = false;
    event_active(x->ev, 0, 0);
}

void __wrap_rw_xfer_resume_send(struct rw_xfer *x)
{
    if (x == NULL || x->cancelled || !x->send_paused) {
        return;
    }
    x->send_paused = false;
    event_active(x->ev, 0, 0);
}

void __wrap_rw_xfer_cancel(struct rw_xfer **px)
{
    struct rw_xfer *x = *px;

    if (x == NULL) {
        return;
    }
    *px = NULL;
    if (!x->cancelled) {
        x->cancelled = true;
        event_active(x->ev, 0, 0); /* freed on the next turn, never inside a callback */
    }
}

/* ------------------------------------------------------------------ the client */

static void init_once(void)
{
    char err[256];

    if (g_cfg != NULL) {
        return;
    }
    signal(SIGPIPE, SIG_IGN); /* the client closes while the server may still write */
    g_echo = getenv("FUZZ_H1_ECHO") != NULL;
    if (!g_echo) {
        rw_log_set_level(RW_LOG_ERR); /* warnings on every failed fake transfer: noise */
    }
    rw_conn_init();
    if (rw_config_load_mem("fuzz.yaml", "/", config_yaml, sizeof(config_yaml) - 1, &g_cfg, err,
                           sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_h1: config: %s\n", err);
        abort();
    }
}

/* Read and drop what the server wrote; true when some bytes came. */
static bool client_read(int fd, bool *eof)
{
    uint8_t buf[65536];
    bool got = false;
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        got = true;
        if (g_echo) {
            fwrite(buf, 1, (size_t)n > 600 ? 600 : (size_t)n, stderr);
        }
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        *eof = true;
    }
    return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rw_server srv;
    struct rw_worker w;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int sv[2] = {-1, -1};
    size_t off = 0;
    int idle = 0;
    bool eof = false;
    int passes;

    init_once();
    memset(&srv, 0, sizeof(srv));
    memset(&w, 0, sizeof(w));
    w.srv = &srv;
    w.base = g_base = event_base_new();
    if (w.base == NULL ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        abort();
    }
    /* odd sizes come in on listener 1, whose listen[].upstream is "mirror" */
    rw_conn_accept(&w, sv[0], (const struct sockaddr *)&sa, NULL, size & 1);
    for (passes = 0; passes < MAX_PASSES && idle < IDLE_PASSES && !eof; passes++) {
        bool moved = false;

        if (off < size) {
            size_t n = size - off < SLICE ? size - off : SLICE;
            ssize_t k = write(sv[1], data + off, n);

            if (k > 0) {
                off += (size_t)k;
                moved = true;
            } else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                break; /* the server closed its end */
            }
        }
        event_base_loop(w.base, EVLOOP_NONBLOCK);
        moved |= client_read(sv[1], &eof);
        moved |= event_base_get_num_events(w.base, EVENT_BASE_COUNT_ACTIVE) > 0;
        idle = moved ? 0 : idle + 1;
    }
    /* the client goes away: the connection must notice and free itself */
    close(sv[1]);
    for (passes = 0; passes < 64 && (w.conns != NULL || g_xfers != NULL); passes++) {
        event_base_loop(w.base, EVLOOP_NONBLOCK);
    }
    if (w.conns != NULL) {
        fprintf(stderr, "fuzz_h1: connection still open after its client closed\n");
        abort();
    }
    if (g_xfers != NULL) {
        fprintf(stderr, "fuzz_h1: upstream transfer left behind\n");
        abort();
    }
    event_base_free(w.base);
    g_base = NULL;
    return 0;
}
