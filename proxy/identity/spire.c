/* SPDX-License-Identifier: MIT */
/*
 * SPIRE Workload API client (PROTOCOLS.md §8): FetchJWTSVID for one audience over gRPC on the
 * agent's unix socket, on the identity loop. Refresh at half of the SVID's remaining life
 * (exp read from the JWT without verifying it: Vault verifies); when the agent is absent, has
 * restarted, answers an error or serves an expired or unparseable SVID, retry with exponential
 * backoff (250 ms doubling to 5 s) and say why once per outage, at warn.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "rw/err.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "spire.h"

#define SPIRE_TIMEOUT_MS     5000
#define SPIRE_BACKOFF_MIN_MS 250
#define SPIRE_BACKOFF_MAX_MS 5000
#define SPIRE_REFRESH_MIN_MS 1000

struct rw_id_spire {
    struct rw_httpc *h;       /* borrowed: the identity loop's client */
    char *socket_path;        /* owned */
    char *audience;           /* owned */
    struct event *timer;      /* owned */
    struct rw_id_grpc_call call;
    rw_id_svid_cb *cb;
    void *arg;                /* borrowed: the service */
    int backoff_ms;
    bool down;                /* an outage was logged; log the recovery */
};

static void arm(struct rw_id_spire *s, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};

    evtimer_add(s->timer, &tv);
}

static void failed(struct rw_id_spire *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void failed(struct rw_id_spire *s, const char *fmt, ...)
{
    char why[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    s->backoff_ms = s->backoff_ms == 0 ? SPIRE_BACKOFF_MIN_MS : s->backoff_ms * 2;
    if (s->backoff_ms > SPIRE_BACKOFF_MAX_MS) {
        s->backoff_ms = SPIRE_BACKOFF_MAX_MS;
    }
    if (!s->down) {
        rw_log_warn(ID, "SPIRE agent at unix://%s: %s; retrying with backoff", s->socket_path,
                    why);
        s->down = true;
    } else {
        rw_log_debug(ID, "SPIRE agent at unix://%s: %s; retry in %d ms", s->socket_path, why,
                     s->backoff_ms);
    }
    s->cb(s->arg, RW_EUNAVAIL, why, NULL, 0, "");
    arm(s, s->backoff_ms);
}

static void on_reply(void *arg, int rc, int gstatus, const char *gmsg, const uint8_t *msg,
                     size_t len)
{
    struct rw_id_spire *s = arg;
    struct rw_secret jwt = {0};
    char spiffe_id[RW_ID_MAX_SPIFFE_ID + 1] = "";
    char sub[RW_ID_MAX_SPIFFE_ID + 1] = "";
    char fp[RW_SECRET_FP_LEN];
    int64_t exp = 0;
    int64_t now = (int64_t)time(NULL);
    int64_t refresh_ms;

    if (rc == RW_EUNAVAIL) {
        failed(s, "unreachable (agent absent or restarting)");
        return;
    }
    if (rc != 0) {
        failed(s, "bad reply: %s%s%s", rw_strerror(rc), gmsg[0] != '\0' ? ": " : "", gmsg);
        return;
    }
    if (gstatus != 0) {
        failed(s, "FetchJWTSVID(audience %s) -> %s (%d)%s%s", s->audience,
               rw_id_grpc_code_str(gstatus), gstatus, gmsg[0] != '\0' ? ": " : "", gmsg);
        return;
    }
    rc = rw_id_pb_jwtsvid_response(msg, len, spiffe_id, sizeof(spiffe_id), &jwt);
    if (rc != 0) {
        failed(s, "FetchJWTSVID reply unusable: %s", rc == -ENOENT ? "no SVID" : rw_strerror(rc));
        return;
    }
    if (rw_id_jwt_claims(jwt.p, jwt.len, &exp, sub, sizeof(sub)) != 0) {
        rw_secret_clear(&jwt);
        failed(s, "served an invalid JWT-SVID for %s (not a JWS with exp)", spiffe_id);
        return;
    }
    if (exp <= now) {
        rw_secret_clear(&jwt);
        failed(s, "served an expired JWT-SVID for %s (exp %" PRId64 ", %" PRId64 "s ago)",
               spiffe_id, exp, now - exp);
        return;
    }
    rw_secret_fingerprint(&jwt, fp);
    refresh_ms = (exp - now) * 1000 / 2;
    if (refresh_ms < SPIRE_REFRESH_MIN_MS) {
        refresh_ms = SPIRE_REFRESH_MIN_MS;
    }
    if (s->down) {
        rw_log_info(ID, "SPIRE agent at unix://%s is back", s->socket_path);
    }
    rw_log_info(ID, "JWT-SVID %s for %s (aud %s) valid %" PRId64 "s; refresh in %" PRId64 "s",
                fp, spiffe_id, s->audience, exp - now, refresh_ms / 1000);
    s->down = false;
    s->backoff_ms = 0;
    /* the Workload API names the SVID's SPIFFE ID; an agent that leaves it out still put it
     * in the JWT's sub (the SVID spec requires sub = the SPIFFE ID) */
    s->cb(s->arg, 0, "", &jwt, exp, spiffe_id[0] != '\0' ? spiffe_id : sub);
    rw_secret_clear(&jwt);
    arm(s, refresh_ms);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct rw_id_spire *s = arg;
    struct rw_buf req;
    int rc;

    (void)fd;
    (void)what;
    if (s->call.x != NULL) {
        return;
    }
    rw_buf_init(&req, 0);
    rc = rw_id_pb_jwtsvid_request(s->audience, NULL, &req);
    if (rc == 0) {
        rc = rw_id_grpc_start(s->h, s->socket_path, "/SpiffeWorkloadAPI/FetchJWTSVID", req.data,
                              req.len, SPIRE_TIMEOUT_MS, &s->call);
    }
    rw_buf_fini(&req);
    if (rc != 0) {
        failed(s, "cannot start the call: %s", rw_strerror(rc));
    }
}

int rw_id_spire_new(struct event_base *base, struct rw_httpc *h, const char *socket_path,
                    const char *audience, rw_id_svid_cb *cb, void *arg, struct rw_id_spire **out)
{
    struct rw_id_spire *s = rw_calloc(1, sizeof(*s));

    if (s == NULL) {
        return -ENOMEM;
    }
    s->h = h;
    s->cb = cb;
    s->arg = arg;
    s->call.cb = on_reply;
    s->call.arg = s;
    s->socket_path = rw_strdup(socket_path);
    s->audience = rw_strdup(audience);
    s->timer = evtimer_new(base, on_timer, s);
    if (s->socket_path == NULL || s->audience == NULL || s->timer == NULL) {
        rw_id_spire_free(&s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

void rw_id_spire_start(struct rw_id_spire *s)
{
    arm(s, 0);
}

void rw_id_spire_free(struct rw_id_spire **ps)
{
    struct rw_id_spire *s = *ps;

    if (s == NULL) {
        return;
    }
    rw_xfer_cancel(&s->call.x);
    if (s->timer != NULL) {
        event_free(s->timer);
    }
    rw_free(s->socket_path);
    rw_free(s->audience);
    rw_free(s);
    *ps = NULL;
}
