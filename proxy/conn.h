/* SPDX-License-Identifier: MIT */
/* Client connections (conn.c): TLS or plain, HTTP/1.1 here or HTTP/2 via h2.c. */
#ifndef RW_PROXY_CONN_H
#define RW_PROXY_CONN_H

#include <event2/util.h>

struct rw_tls;
struct rw_worker;
struct sockaddr;

void rw_conn_init(void);
/**
 * Take ownership of an accepted socket; @p tls non-NULL for a TLS listener.
 * Ownership: @p tls borrowed (kept alive by the server until the workers stop).
 * Thread: the worker's.
 */
void rw_conn_accept(struct rw_worker *w, evutil_socket_t fd, const struct sockaddr *sa,
                    struct rw_tls *tls, size_t listen_idx);
/** SIGTERM: close idle connections, make busy ones close after their response (h2: GOAWAY). */
void rw_conn_drain_idle(struct rw_worker *w);

#endif
