/* SPDX-License-Identifier: MIT */
/*
 * HTTP/2 server sessions (h2.c): one struct rw_h2 per connection that negotiated h2 (ALPN) or
 * sent the h2c prior-knowledge preface. The connection (conn.c) owns the socket/TLS layer and
 * hands h2.c its input and output evbuffers; h2.c turns streams into struct rw_req with a per
 * stream rw_req_io, so every route works unchanged. Only h2.c touches nghttp2 (R5).
 */
#ifndef RW_PROXY_H2_H
#define RW_PROXY_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct rw_h2;
struct rw_req;
struct rw_worker;

struct rw_h2_host {
    struct rw_worker *w;      /* borrowed: outlives the session */
    uint64_t conn_id;
    const char *peer;         /* borrowed: kept alive by the connection */
    const char *identity;     /* borrowed: kept alive by the connection; NULL = anonymous */
    size_t listen_idx;        /* the listener the connection came in on */
    struct evbuffer *in;      /* borrowed: bytes from the client (already decrypted) */
    struct evbuffer *out;     /* borrowed: bytes for the client */
    /* The session is over (GOAWAY sent, or fatal error): flush out, then close. Called from
     * the session's deferred event, never from inside an nghttp2 callback. */
    void (*on_done)(void *arg);
    /* Streams went from zero to some or back (idle timeout on/off). */
    void (*on_active)(void *arg, bool active);
    void (*dispatch)(struct rw_req *r); /* NULL = rw_routes_dispatch (tests inject a fake) */
    void *arg;
};

/**
 * Start a server session: queues our SETTINGS. Input already in host->in is processed on the
 * next loop turn.
 * @return 0, -ENOMEM. Ownership: *out owned by the caller (rw_h2_free); @p host copied.
 * Thread: the worker owning host->w->base.
 */
int rw_h2_new(const struct rw_h2_host *host, struct rw_h2 **out);
/** Input arrived in host->in. */
void rw_h2_on_read(struct rw_h2 *h);
/** host->out drained below the low-water mark: send more. */
void rw_h2_on_write(struct rw_h2 *h);
/** SIGTERM: GOAWAY, let in-flight streams finish, then on_done. Idempotent. */
void rw_h2_drain(struct rw_h2 *h);
/** The connection is going away: every route still attached gets on_close; no I/O after. */
void rw_h2_detach(struct rw_h2 *h);
/** Free (after detach). Must not run inside the session's own callbacks (R13). NULLs *ph. */
void rw_h2_free(struct rw_h2 **ph);
/** Streams open. */
size_t rw_h2_streams(const struct rw_h2 *h);

/* HTTP/2 client connection preface (h2c prior knowledge) */
#define RW_H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define RW_H2_PREFACE_LEN 24

#endif
