/* SPDX-License-Identifier: MIT */
/*
 * Server-side TLS (tls.c): one struct rw_tls per TLS listener, shared by every worker. It holds
 * the current SSL_CTX and swaps it when the certificate files change; connections made with the
 * old context keep it (SSL objects hold a reference). Only tls.c sees OpenSSL (R5).
 */
#ifndef RW_PROXY_TLS_H
#define RW_PROXY_TLS_H

#include <stdbool.h>

#include <event2/util.h>

struct bufferevent;
struct event_base;
struct rw_listen_cfg;
struct rw_tls;

/**
 * Load the listener's certificate, key and optional client CA.
 * @return 0; RW_ECONFIG (logged with the reason) when the files do not load or do not match.
 * Ownership: *out is owned by the caller (rw_tls_free). @p l is copied.
 * Thread: main, before the workers start.
 */
int rw_tls_new(const struct rw_listen_cfg *l, struct rw_tls **out);
void rw_tls_free(struct rw_tls **pt);

/**
 * Reload when the files changed (mtime, inode, size), or always with @p force (SIGHUP).
 * A pair that does not load is refused with a log line; the running context stays.
 * @return 1 reloaded, 0 unchanged, RW_ECONFIG refused.
 * Thread: any (the swap is under a mutex).
 */
int rw_tls_reload(struct rw_tls *t, bool force);

/**
 * A server-side TLS bufferevent over @p fd (handshake in progress: BEV_EVENT_CONNECTED follows).
 * @return NULL on failure (fd closed).
 * Ownership: the bufferevent owns @p fd and the SSL object. Thread: the worker owning @p base.
 */
struct bufferevent *rw_tls_bev_new(struct rw_tls *t, struct event_base *base, evutil_socket_t fd,
                                   int bev_opts);

/** After the handshake: did ALPN select "h2"? */
bool rw_tls_bev_is_h2(struct bufferevent *bev);

/**
 * After the handshake: the verified client certificate's SPIFFE ID (its only URI SAN).
 * @return 0 with *out set (owned, rw_free) or NULL when the client sent no usable certificate.
 */
int rw_tls_bev_identity(struct bufferevent *bev, char **out);

/** Extract the SPIFFE ID from a DER certificate (tests, fuzzing). Same contract as above. */
int rw_tls_spiffe_id_from_der(const unsigned char *der, long len, char **out);

#endif
