/* SPDX-License-Identifier: MIT */
/*
 * Upstream HTTP client: libcurl multi driven by one libevent loop (R11). One rw_httpc per worker
 * thread; transfers stream both ways with backpressure (pause/resume), or buffer a bounded body.
 * This is the only file family that touches libcurl (R5).
 */
#ifndef RW_HTTPC_H
#define RW_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct rw_httpc;
struct rw_xfer;

struct rw_hdr {
    char *name;  /* owned by the transfer; valid until on_done returns */
    char *value;
};

struct rw_hdrs {
    struct rw_hdr *v;
    size_t n;
};

/**
 * Process-wide observer of finished transfers (seconds from start to end, failures included),
 * set once at startup before any worker runs; proxy/ feeds its upstream latency histogram.
 * Thread: called on the worker thread that ran the transfer.
 */
typedef void rw_httpc_timing_cb(double seconds);
void rw_httpc_set_timing_cb(rw_httpc_timing_cb *cb);

/** Case-insensitive lookup; NULL when absent. */
const char *rw_hdrs_get(const struct rw_hdrs *h, const char *name);
/** Free every name/value and the array; @p h is left empty. */
void rw_hdrs_free(struct rw_hdrs *h);
/** Deep copy into @p dst (which must be empty). -ENOMEM leaves a partial copy: rw_hdrs_free it. */
int rw_hdrs_copy(struct rw_hdrs *dst, const struct rw_hdrs *src);

enum rw_xfer_read { RW_XFER_READ_DATA = 0, RW_XFER_READ_PAUSE, RW_XFER_READ_EOF };

struct rw_xfer_cbs {
    /* Final response head (1xx skipped). Return non-zero to abort the transfer. */
    int (*on_headers)(void *arg, int status, const struct rw_hdrs *h);
    /* Body bytes. Return 0 having consumed all of them, or 0 with *pause set having consumed
     * none (they are offered again after rw_xfer_resume_recv), or -1 to abort. */
    int (*on_data)(void *arg, const uint8_t *p, size_t n, bool *pause);
    /* Request body: copy up to cap bytes into buf, set *n; return DATA, PAUSE or EOF. */
    enum rw_xfer_read (*on_read)(void *arg, uint8_t *buf, size_t cap, size_t *n);
    /* Exactly once, unless cancelled first. rc: 0, RW_EUPSTREAM, RW_ETIMEOUT, RW_ETOOBIG.
     * The transfer is freed when on_done returns: drop every pointer to it there. */
    void (*on_done)(void *arg, int rc);
};

struct rw_xfer_req {
    const char *method;  /* GET HEAD PUT POST PATCH DELETE */
    const char *url;     /* absolute */
    const char *const *headers; /* "Name: value" lines sent verbatim */
    size_t n_headers;
    bool has_body;       /* PUT/POST/PATCH with a body from on_read */
    int64_t body_len;    /* -1 = unknown (chunked upstream) */
    const char *ca_file; /* NULL = system store */
};

int rw_httpc_new(struct event_base *base, struct rw_httpc **out);
void rw_httpc_free(struct rw_httpc **ph);
/** The loop @p h runs on (for timers of its users). */
struct event_base *rw_httpc_base(const struct rw_httpc *h);
/** Number of transfers in flight. */
size_t rw_httpc_active(const struct rw_httpc *h);

/**
 * Start a streaming transfer. Callbacks run on the loop of @p h.
 * Ownership: @p req strings are copied; @p arg is borrowed until on_done or cancel.
 */
int rw_xfer_start(struct rw_httpc *h, const struct rw_xfer_req *req, const struct rw_xfer_cbs *cbs,
                  void *arg, struct rw_xfer **out);
/** Resume after on_data asked to pause. */
void rw_xfer_resume_recv(struct rw_xfer *x);
/** Resume after on_read returned PAUSE. */
void rw_xfer_resume_send(struct rw_xfer *x);
/** Stop; no callback runs afterwards. Safe inside callbacks (teardown is deferred). NULLs *px. */
void rw_xfer_cancel(struct rw_xfer **px);
/** Response headers so far (valid during callbacks and on_done). */
const struct rw_hdrs *rw_xfer_headers(const struct rw_xfer *x);
int rw_xfer_status(const struct rw_xfer *x);

/* A buffered request: whole body up to @p max (over → RW_ETOOBIG). */
typedef void rw_fetch_cb(void *arg, int rc, int status, const struct rw_hdrs *h,
                         const uint8_t *body, size_t len);

struct rw_fetch_req {
    const char *method;
    const char *url;
    const char *const *headers;
    size_t n_headers;
    const uint8_t *body; /* copied */
    size_t body_len;
    bool has_body;
    size_t max;          /* response body bound */
    const char *ca_file;
    long timeout_ms;     /* whole-transfer deadline (RW_ETIMEOUT); 0 = idle timeout only */
    const char *unix_socket; /* connect to this AF_UNIX path instead of the URL's host */
    bool h2_prior_knowledge; /* cleartext HTTP/2 without Upgrade (gRPC on a unix socket) */
};
/* With h2_prior_knowledge, HTTP/2 trailers (grpc-status) are appended to the headers passed to
 * rw_fetch_cb after the response head's fields. */

int rw_fetch_start(struct rw_httpc *h, const struct rw_fetch_req *req, rw_fetch_cb *cb, void *arg,
                   struct rw_xfer **out);

#endif
