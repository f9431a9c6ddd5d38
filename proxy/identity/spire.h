/* SPDX-License-Identifier: MIT */
/* Private to proxy/identity: the SPIRE Workload API client (spire.c). */
#ifndef RW_PROXY_IDENTITY_SPIRE_H
#define RW_PROXY_IDENTITY_SPIRE_H

#include <stdint.h>

#include "rw/identity.h"

struct event_base;
struct rw_id_spire;

/* A new JWT-SVID (rc 0; @p jwt may be moved out by the callee) for @p spiffe_id (the reply's
 * spiffe_id, else the JWT's sub; "" when neither) or a failure (@p why). Runs on the identity
 * loop. */
typedef void rw_id_svid_cb(void *arg, int rc, const char *why, struct rw_secret *jwt,
                           int64_t exp, const char *spiffe_id);

int rw_id_spire_new(struct event_base *base, struct rw_httpc *h, const char *socket_path,
                    const char *audience, rw_id_svid_cb *cb, void *arg, struct rw_id_spire **out);
/** First fetch now; afterwards refresh at half-life, back off on failure. */
void rw_id_spire_start(struct rw_id_spire *s);
void rw_id_spire_free(struct rw_id_spire **ps);

#endif
