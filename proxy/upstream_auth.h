/* SPDX-License-Identifier: MIT */
/*
 * Private to proxy/: "which Authorization do I send to upstream U for scope S" when U is
 * configured with regwarden's own credentials (upstreams.<name>.auth). Passthrough upstreams
 * never come here: their callers forward the client's header as before.
 */
#ifndef RW_PROXY_UPSTREAM_AUTH_H
#define RW_PROXY_UPSTREAM_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "rw/policy.h"

struct rw_worker;
struct rw_req;
struct rw_upauth_wait;

#define RW_UPAUTH_MAX_SCOPE 1100u /* two resource scopes of a mount, with names at the bound */

/**
 * Result of a pending rw_upauth_get(). @p authorization is the header value to send
 * ("Bearer ..." / "Basic ..."), NULL when the upstream wants none. rc: 0; -EACCES the upstream
 * or its token server refused our credentials; RW_EUPSTREAM / RW_ETIMEOUT the token dance
 * failed otherwise; RW_EPROTO an unusable challenge or reply.
 * Ownership: @p authorization is borrowed for the call (copy it).
 */
typedef void rw_upauth_cb(void *arg, int rc, const char *authorization);

/** Whether @p up uses regwarden's own credentials. */
bool rw_upauth_own(const struct rw_upstream_cfg *up);

/**
 * The token scope for a request (PROTOCOLS.md §3.1): `repository:<repo>:pull` for GET/HEAD,
 * `repository:<repo>:delete` for DELETE, `repository:<repo>:pull,push` for other writes plus
 * `repository:<from>:pull` for a cross-repository mount, `registry:catalog:*` for the catalog,
 * "" for /v2/ itself. Several scopes are separated by one space.
 * @return 0; RW_ETOOBIG when @p cap is too small.
 */
int rw_upauth_scope(const struct rw_req *r, char *out, size_t cap);

/**
 * Authorization for @p up and @p scope: from the shared cache when a fresh entry is there,
 * otherwise after one challenge probe (GET /v2/, once per upstream) and one token request per
 * scope, shared by every concurrent caller on every worker.
 * @param[in]  stale  the value a request just got a 401 with, or NULL: a cached entry equal to it
 *                    is dropped first (retry once after a 401)
 * @param[out] authorization  when answered at once: owned copy, NULL = send none
 * @param[out] wait   NULL when answered at once; else the pending handle: @p cb runs later on
 *                    @p w's loop unless rw_upauth_cancel() comes first
 * @return 0 (answered or pending; a failure remembered for a moment is reported through @p cb
 *         too); -ENOMEM.
 * Ownership: caller owns *authorization (a secret: never log it) and *wait.
 * Thread: the worker thread of @p w.
 */
int rw_upauth_get(struct rw_worker *w, const struct rw_upstream_cfg *up, const char *scope,
                  const char *stale, char **authorization, rw_upauth_cb *cb, void *arg,
                  struct rw_upauth_wait **wait);

/** Stop waiting; the callback will not run. Idempotent; NULLs *pw. Thread: the waiter's worker. */
void rw_upauth_cancel(struct rw_upauth_wait **pw);

/** Free the shared cache (tokens wiped). Only after every worker has stopped. */
void rw_upauth_fini(void);

/** Token requests sent so far (every upstream and scope), for tests and metrics. */
unsigned long rw_upauth_token_requests(void);

#endif
