/* SPDX-License-Identifier: MIT */
/*
 * Private to proxy/: the server, its workers, and the protocol-neutral request that HTTP/1.1
 * (conn.c) and later HTTP/2 feed to the OCI routes. Routes talk to the client only through
 * struct rw_req_io, so a route never knows which protocol carries it.
 */
#ifndef RW_PROXY_PROXY_H
#define RW_PROXY_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "rw/cache.h"
#include "rw/httpc.h"
#include "rw/policy.h"
#include "denylog.h"
#include "image_ref.h"

struct event_base;
struct rw_id;
struct rw_req;
struct rw_tls;
struct conn;

struct rw_server {
    pthread_mutex_t cfg_lock;
    struct rw_config *cfg;     /* ref; swapped on SIGHUP under cfg_lock */
    struct rw_cache *cache;    /* owned; NULL when cache.path is unset or could not open */
    struct rw_denylog *denylog;/* owned */
    atomic_bool draining;
    atomic_long connections;
    struct rw_worker *workers; /* owned */
    size_t n_workers;
    struct rw_tls **tls;       /* owned; one per listen[] entry, NULL for plain listeners */
    size_t n_tls;
    struct rw_id *id;          /* owned; NULL without signer.vault (proxy/identity) */
    struct rw_keyring *keyring;/* ref; Vault key versions, shared by every config */
};

/* What an accept callback needs: the worker and the listener's TLS context (or NULL). */
struct rw_listener_arg {
    struct rw_worker *w;       /* borrowed */
    struct rw_tls *tls;        /* borrowed: kept alive by the server */
    size_t listen_idx;         /* index in cfg->listen */
};

struct rw_worker {
    size_t idx;
    struct rw_server *srv;       /* borrowed */
    struct event_base *base;     /* owned */
    struct rw_httpc *httpc;      /* owned */
    struct evconnlistener **listeners; /* owned */
    struct rw_listener_arg *listener_args; /* owned; parallel to listeners */
    size_t n_listeners;
    pthread_t thread;
    uint64_t next_conn_id;
    size_t n_conns;
    struct event *drain_ev;      /* owned */
    struct event *sweep_ev;      /* owned */
    struct evhttp *admin;        /* owned; worker 0 only (admin.c) */
    struct conn *conns;          /* list of live connections (conn.c) */
};

/** Take a reference on the current config (thread-safe). */
struct rw_config *rw_server_config(struct rw_server *s);

/* ------------------------------------------------------------------ request core */

struct rw_req_io {
    /* Response head. @p content_length -1 = unknown (chunked on h1). For HEAD requests the
     * Content-Length header is sent as given and no body follows. */
    int (*send_head)(struct rw_req *r, int status, const struct rw_hdr *h, size_t n,
                     int64_t content_length);
    /* Body bytes; *blocked is set when the client is over the high-water mark: stop sending
     * until on_writable. */
    int (*send_data)(struct rw_req *r, const uint8_t *p, size_t n, bool *blocked);
    /* Clean end of the response. The route must not touch @p r afterwards. */
    void (*send_end)(struct rw_req *r);
    /* The client must not see a clean end (reset / close). The route must not touch @p r
     * afterwards. */
    void (*abort)(struct rw_req *r);
    /* Request body: copy out up to @p cap bytes. */
    enum rw_xfer_read (*read_body)(struct rw_req *r, uint8_t *buf, size_t cap, size_t *n);
};

struct rw_req {
    const struct rw_req_io *io;
    void *io_ctx;                /* weak: the connection (h1) or stream (h2) */
    struct rw_worker *w;         /* borrowed */
    struct rw_config *cfg;       /* ref: dropped when the request is freed */
    uint64_t conn_id;
    char id[33];                 /* request id, shared by logs, deny log and 403 body */
    char method[16];
    char *target;                /* owned */
    struct rw_hdrs hdrs;         /* owned; request headers as received */
    bool has_body;               /* a body follows (Content-Length > 0 or chunked) */
    int64_t body_len;            /* -1 = unknown (chunked) */
    bool head;                   /* HEAD request */
    char client_addr[64];
    char *identity;              /* owned; SPIFFE ID from mTLS, NULL when anonymous */
    size_t listen_idx;           /* the listener it came in on (listen[].upstream) */
    struct rw_route_match m;
    const struct rw_upstream_cfg *up; /* borrowed: kept alive by cfg */
    int status;                  /* status sent, for metrics */
    struct timespec start;
    /* route hooks, set by the route that owns the request */
    void (*on_body_ready)(struct rw_req *r); /* body bytes or EOF arrived */
    void (*on_writable)(struct rw_req *r);   /* client drained below low water */
    void (*on_close)(struct rw_req *r);      /* client went away: cancel, free route state */
    void *route_ctx;             /* owned by the route */
};

/* Dispatch a request whose head is complete (routes.c). */
void rw_routes_dispatch(struct rw_req *r);
/* Answer with an OCI error body and end the response. */
void rw_req_error(struct rw_req *r, int status, const char *code, const char *message);
/* Same, with extra response headers (e.g. Retry-After on a 503). */
void rw_req_error_hdrs(struct rw_req *r, int status, const char *code, const char *message,
                       const struct rw_hdr *extra, size_t n_extra);
/* 403 DENIED + deny-log line (audit mode is applied by the caller before). */
void rw_req_deny(struct rw_req *r, const char *event, const char *rule, const char *mode,
                 enum rw_reason reason, const char *digest, const char *detail);
const char *rw_req_header(const struct rw_req *r, const char *name);
void rw_req_new_id(char out[33]);

/* passthrough (routes.c): forward as is, stream both ways */
void rw_route_forward(struct rw_req *r);
/* route_pull.c: manifest GET/HEAD */
void rw_route_pull(struct rw_req *r);
/* route_push.c: manifest PUT with a signing push rule */
void rw_route_push_manifest(struct rw_req *r, const struct rw_push_rule *rule);

/* ------------------------------------------------------------------ upstream helpers (upstream.c) */

/** Absolute upstream URL for the route: base + rebuilt path + forwarded query. */
char *rw_upstream_url(const struct rw_upstream_cfg *up, const struct rw_route_match *m);
/** "<base>/v2/<repo>/<kind>/<ref>" for the proxy's own requests. */
char *rw_upstream_url_for(const struct rw_upstream_cfg *up, const char *repo, const char *kind,
                          const char *ref);
/** Request headers to forward (hop-by-hop and framing removed). Each "Name: value", owned. */
int rw_upstream_req_headers(const struct rw_req *r, char ***out, size_t *n);
void rw_upstream_headers_free(char ***pv, size_t n);
/** Whether a response header from upstream is forwarded to the client. */
bool rw_upstream_resp_header_ok(const char *name);
/** Rewrite an upstream Location to the client-facing form; NULL when it is not ours to rewrite. */
char *rw_upstream_rewrite_location(const struct rw_upstream_cfg *up, const char *loc);
/** Rewrite every <url> of a Link header that points at the upstream. */
char *rw_upstream_rewrite_link(const struct rw_upstream_cfg *up, const char *link);
/** Invariant 4: may regwarden connect to @p url on behalf of @p up? Its own host, or one of
 * upstreams.<name>.allowed_hosts; http(s) only. */
bool rw_upstream_may_dial(const struct rw_upstream_cfg *up, const char *url);
/** Resolve @p loc (absolute or relative) against the upstream; NULL if it leaves its origin. */
char *rw_upstream_resolve(const struct rw_upstream_cfg *up, const char *loc);

/* Evidence I/O for policy evaluation (upstream.c). */
struct rw_evidence_io {
    struct rw_httpc *httpc;          /* borrowed */
    const struct rw_upstream_cfg *up;/* borrowed: kept alive by the config ref of the owner */
    char repo[RW_MAX_REPO_LEN + 1];
    char *authorization;             /* owned; the client's Authorization, or NULL */
};
extern const struct rw_policy_fetch_ops rw_evidence_ops;

/* ------------------------------------------------------------------ pull job (route_pull.c) */

struct rw_pull;
struct rw_pull_result {
    int rc;                    /* 0 = decided (see verdict); else could not even fetch */
    int status;                /* upstream status when not 200 (relayed), 200 otherwise */
    const struct rw_hdrs *up_hdrs;
    const uint8_t *body;
    size_t len;
    char digest[72];
    const char *content_type;
    bool decided;              /* a verdict was reached (status 200 path) */
    struct rw_verdict verdict;
    bool cached;
    const char *rule;          /* match pattern, NULL for no-rule */
    enum rw_mode mode;
};
typedef void rw_pull_done_cb(void *arg, const struct rw_pull_result *res);

/** Start the pull decision for an image (used by the route and by `regwarden verify`). */
int rw_pull_start(struct rw_worker *w, struct rw_config *cfg, struct rw_cache *cache,
                  const struct rw_upstream_cfg *up, const char *repo, const char *reference,
                  bool by_digest, const char *accept, const char *authorization,
                  rw_pull_done_cb *cb, void *arg, struct rw_pull **out);
void rw_pull_cancel(struct rw_pull **pp);

/* ------------------------------------------------------------------ metrics (metrics.c) */

void rw_metrics_request(const char *method, enum rw_route route, int status);
void rw_metrics_verdict(bool allow, enum rw_reason reason, bool cached);
void rw_metrics_signature(const char *result);
void rw_metrics_upstream_seconds(double s);
int rw_metrics_render(struct rw_server *s, struct rw_buf *out);

/* ------------------------------------------------------------------ server (server.c) */

int rw_server_run(const char *config_path);
int rw_admin_start(struct rw_worker *w, const char *address);
/** Free the admin listener of @p w, if any (before its event base). */
void rw_admin_stop(struct rw_worker *w);

#endif
