/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 connections (conn.c). */
#ifndef RW_PROXY_CONN_H
#define RW_PROXY_CONN_H

#include <event2/util.h>

struct rw_worker;
struct sockaddr;

void rw_conn_init(void);
/** Take ownership of an accepted socket. Thread: the worker's. */
void rw_conn_accept(struct rw_worker *w, evutil_socket_t fd, const struct sockaddr *sa);
/** SIGTERM: close idle connections, make busy ones close after their response. */
void rw_conn_drain_idle(struct rw_worker *w);

#endif
