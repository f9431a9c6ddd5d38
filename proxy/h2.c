/* SPDX-License-Identifier: MIT */
/*
 * HTTP/2 server glue on nghttp2: bytes in (host->in) -> nghttp2_session_mem_recv -> streams ->
 * struct rw_req with a per-stream rw_req_io -> routes; responses -> nghttp2 DATA frames written
 * straight from each stream's queue into host->out (NGHTTP2_DATA_FLAG_NO_COPY). The only file
 * that touches nghttp2 (R5); it never touches a socket or TLS.
 *
 * Flow control is tied to the routes both ways:
 *  - request bodies: automatic WINDOW_UPDATE is off; a DATA payload counts as consumed only when
 *    the route reads it (read_body -> nghttp2_session_consume), so an uploader can have at most
 *    RW_H2_STREAM_WINDOW bytes buffered per stream and RW_H2_CONN_WINDOW per connection;
 *  - response bodies: a stream queues at most RW_H2_STREAM_HIGH_WATER bytes before send_data
 *    reports `blocked` (the route pauses its upstream transfer); it gets on_writable once the
 *    client's window let the queue fall below RW_H2_STREAM_LOW_WATER. Other streams never wait.
 *
 * Life cycle (R12/R13): stream HEADERS -> READY (head complete, dispatch queued) -> ROUTED (a
 * route owns the response) -> DONE (send_end/abort: the route let go) -> CLOSED (nghttp2 closed
 * the stream). nghttp2 callbacks only mark state; dispatch, route hooks and frees run in
 * session_run() after nghttp2 returned, and the session itself is freed by the connection's
 * deferred teardown.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "rw/err.h"
#include "rw/limits.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "h2.h"
#include "proxy.h"

enum stream_state { ST_HEADERS = 0, ST_READY, ST_ROUTED, ST_DONE, ST_CLOSED };

struct h2_stream {
    int32_t id;
    struct rw_h2 *h;          /* weak: streams never outlive their session */
    enum stream_state state;
    struct rw_req *req;       /* owned; NULL until the head is complete */
    struct rw_hdrs hdrs;      /* owned while the head is parsed, then moved to req */
    char *method;             /* owned (pseudo-headers) */
    char *path;               /* owned */
    char *authority;          /* owned */
    size_t hdr_bytes;
    bool bad_head;            /* over a bound: answered with RST */
    struct evbuffer *body_in; /* owned: request DATA not yet read by the route */
    bool in_eof;
    bool body_notify;
    struct evbuffer *out;     /* owned: response body not yet framed */
    bool out_eof;
    bool has_body;            /* the response has DATA frames (data provider attached) */
    bool want_writable;       /* the route was told `blocked` */
    bool head_sent;
    struct h2_stream *next;   /* session's list */
    struct h2_stream **pprev;
};

struct rw_h2 {
    struct rw_h2_host host;
    nghttp2_session *session; /* owned */
    struct event *kick;       /* owned: deferred session_run */
    struct h2_stream *streams;/* owned list */
    size_t n_streams;
    bool draining;
    bool done;                /* on_done was called */
    bool detached;            /* the connection is gone: no I/O, no route hooks */
    bool fatal;
    int running;              /* session_run depth guard */
    /* per-second counters against floods */
    int64_t win_start;
    unsigned n_req, n_rst, n_ctrl;
    unsigned n_cont;          /* CONTINUATION frames in the current header block */
};

static void session_run(struct rw_h2 *h);

static void schedule(struct rw_h2 *h)
{
    if (!h->detached && !h->done && h->running == 0) {
        event_active(h->kick, 0, 0);
    }
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    session_run(arg);
}

static int hdrs_add(struct rw_hdrs *hs, const char *name, size_t nlen, const char *value,
                    size_t vlen)
{
    struct rw_hdr *nv = rw_realloc(hs->v, (hs->n + 1) * sizeof(*nv));

    if (nv == NULL) {
        return -ENOMEM;
    }
    hs->v = nv;
    nv[hs->n].name = rw_strndup(name, nlen);
    nv[hs->n].value = rw_strndup(value, vlen);
    if (nv[hs->n].name == NULL || nv[hs->n].value == NULL) {
        rw_free(nv[hs->n].name);
        rw_free(nv[hs->n].value);
        return -ENOMEM;
    }
    hs->n++;
    return 0;
}

static void req_free(struct rw_req **pr)
{
    struct rw_req *r = *pr;

    if (r == NULL) {
        return;
    }
    *pr = NULL;
    rw_config_unref(&r->cfg);
    rw_free(r->target);
    rw_free(r->identity);
    rw_hdrs_free(&r->hdrs);
    rw_free(r);
}

static void stream_free(struct h2_stream *s)
{
    if (s->pprev != NULL) {
        *s->pprev = s->next;
        if (s->next != NULL) {
            s->next->pprev = s->pprev;
        }
    }
    if (s->req != NULL) {
        s->req->io_ctx = NULL;
    }
    req_free(&s->req);
    rw_hdrs_free(&s->hdrs);
    rw_free(s->method);
    rw_free(s->path);
    rw_free(s->authority);
    if (s->body_in != NULL) {
        evbuffer_free(s->body_in);
    }
    if (s->out != NULL) {
        evbuffer_free(s->out);
    }
    rw_free(s);
}

static void set_active(struct rw_h2 *h, size_t before)
{
    if (h->host.on_active != NULL && !h->detached && (before == 0) != (h->n_streams == 0)) {
        h->host.on_active(h->host.arg, h->n_streams != 0);
    }
}

/* Flood guard: count per second; over the bound -> GOAWAY ENHANCE_YOUR_CALM. */
static bool over_rate(struct rw_h2 *h, unsigned *counter, unsigned limit, const char *what)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    if (ts.tv_sec != h->win_start) {
        h->win_start = ts.tv_sec;
        h->n_req = h->n_rst = h->n_ctrl = 0;
    }
    if (++*counter <= limit) {
        return false;
    }
    if (!h->fatal) {
        rw_log_warn(H2, "conn=%" PRIu64 " more than %u %s per second: GOAWAY", h->host.conn_id,
                    limit, what);
    }
    h->fatal = true;
    nghttp2_session_terminate_session(h->session, NGHTTP2_ENHANCE_YOUR_CALM);
    return true;
}

/* ------------------------------------------------------------------ rw_req_io for a stream */

static struct h2_stream *io_stream(struct rw_req *r)
{
    struct h2_stream *s = r->io_ctx;

    if (s == NULL || s->h->detached || s->state == ST_CLOSED) {
        return NULL;
    }
    return s;
}

/* Never relay connection-specific fields on h2 (RFC 9113 §8.2.2, C24); framing is ours. */
static bool resp_header_allowed(const char *lname)
{
    static const char *const drop[] = {"connection", "keep-alive", "proxy-connection",
                                       "transfer-encoding", "upgrade", "te", "content-length",
                                       "host", "http2-settings", "trailer"};

    if (lname[0] == '\0' || lname[0] == ':') {
        return false;
    }
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
        if (strcmp(lname, drop[i]) == 0) {
            return false;
        }
    }
    return true;
}

static ssize_t data_read(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct h2_stream *s = src->ptr;
    size_t avail = evbuffer_get_length(s->out);
    size_t n = avail < length ? avail : length;

    (void)session;
    (void)id;
    (void)buf;
    (void)ud;
    if (n == 0 && !s->out_eof) {
        return NGHTTP2_ERR_DEFERRED;
    }
    if (n > 0) {
        *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    }
    if (s->out_eof && n == avail) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return (ssize_t)n;
}

static int h2_send_head(struct rw_req *r, int status, const struct rw_hdr *hd, size_t n,
                        int64_t content_length)
{
    struct h2_stream *s = io_stream(r);
    nghttp2_nv nva[68];
    size_t nn = 0;
    char names[8192];
    size_t used = 0;
    char st[8];
    char cl[24];
    nghttp2_data_provider prd;
    bool nobody;
    int rv;

    if (s == NULL || s->head_sent || s->state != ST_ROUTED) {
        return RW_EINTERNAL;
    }
    if (status < 200 || status > 999) {
        return 0; /* interim responses are not relayed */
    }
    snprintf(st, sizeof(st), "%d", status);
    nva[nn++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)st, 7, strlen(st),
                             NGHTTP2_NV_FLAG_NONE};
    for (size_t i = 0; i < n && nn < 64; i++) {
        size_t len = strlen(hd[i].name);
        char *lname = names + used;

        if (len + 1 > sizeof(names) - used) {
            break;
        }
        for (size_t k = 0; k < len; k++) {
            char ch = hd[i].name[k];

            lname[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
        }
        lname[len] = '\0';
        if (!resp_header_allowed(lname)) {
            continue;
        }
        used += len + 1;
        nva[nn++] = (nghttp2_nv){(uint8_t *)lname, (uint8_t *)hd[i].value, len,
                                 strlen(hd[i].value), NGHTTP2_NV_FLAG_NONE};
    }
    if (content_length >= 0 && status != 204 && status != 304) {
        snprintf(cl, sizeof(cl), "%" PRId64, content_length);
        nva[nn++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)cl, 14, strlen(cl),
                                 NGHTTP2_NV_FLAG_NONE};
    }
    nobody = r->head || status == 204 || status == 304 || content_length == 0;
    prd.source.ptr = s;
    prd.read_callback = data_read;
    rv = nghttp2_submit_response(s->h->session, s->id, nva, nn, nobody ? NULL : &prd);
    if (rv != 0) {
        return rv == NGHTTP2_ERR_NOMEM ? -ENOMEM : RW_EINTERNAL;
    }
    s->head_sent = true;
    s->has_body = !nobody;
    r->status = status;
    schedule(s->h);
    return 0;
}

static int h2_send_data(struct rw_req *r, const uint8_t *p, size_t n, bool *blocked)
{
    struct h2_stream *s = io_stream(r);

    *blocked = false;
    if (s == NULL || s->state != ST_ROUTED) {
        return RW_EINTERNAL;
    }
    if (!s->has_body || n == 0) {
        return 0;
    }
    if (evbuffer_add(s->out, p, n) != 0) {
        return -ENOMEM;
    }
    nghttp2_session_resume_data(s->h->session, s->id);
    if (evbuffer_get_length(s->out) >= RW_H2_STREAM_HIGH_WATER) {
        *blocked = true;
        s->want_writable = true;
    }
    schedule(s->h);
    return 0;
}

/* The route let go of the request: no hook runs any more; unread request body is released. */
static void route_release(struct h2_stream *s)
{
    struct rw_req *r = s->req;
    size_t left = evbuffer_get_length(s->body_in);

    r->on_body_ready = NULL;
    r->on_writable = NULL;
    r->on_close = NULL;
    s->state = ST_DONE;
    s->want_writable = false;
    if (left > 0) {
        evbuffer_drain(s->body_in, left);
        nghttp2_session_consume(s->h->session, s->id, left);
    }
}

static void h2_send_end(struct rw_req *r)
{
    struct h2_stream *s = io_stream(r);

    if (s == NULL || s->state != ST_ROUTED) {
        return;
    }
    rw_metrics_request(r->method, r->m.route, r->status);
    route_release(s);
    s->out_eof = true;
    if (!s->head_sent) {
        nghttp2_submit_rst_stream(s->h->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    } else if (s->has_body) {
        nghttp2_session_resume_data(s->h->session, s->id);
    }
    schedule(s->h);
}

static void h2_abort(struct rw_req *r)
{
    struct h2_stream *s = io_stream(r);

    if (s == NULL || s->state != ST_ROUTED) {
        return;
    }
    rw_metrics_request(r->method, r->m.route, r->status != 0 ? r->status : 502);
    route_release(s);
    /* RST, not END_STREAM: a truncated body must not look complete */
    nghttp2_submit_rst_stream(s->h->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    schedule(s->h);
}

static enum rw_xfer_read h2_read_body(struct rw_req *r, uint8_t *buf, size_t cap, size_t *n)
{
    struct h2_stream *s = io_stream(r);
    int got;

    *n = 0;
    if (s == NULL) {
        return RW_XFER_READ_EOF;
    }
    if (evbuffer_get_length(s->body_in) == 0) {
        return s->in_eof ? RW_XFER_READ_EOF : RW_XFER_READ_PAUSE;
    }
    got = evbuffer_remove(s->body_in, buf, cap);
    if (got <= 0) {
        return RW_XFER_READ_PAUSE;
    }
    *n = (size_t)got;
    /* only now does the client get window back (WINDOW_UPDATE on the next send) */
    nghttp2_session_consume(s->h->session, s->id, (size_t)got);
    schedule(s->h);
    return RW_XFER_READ_DATA;
}

static const struct rw_req_io h2_io = {
    .send_head = h2_send_head,
    .send_data = h2_send_data,
    .send_end = h2_send_end,
    .abort = h2_abort,
    .read_body = h2_read_body,
};

/* ------------------------------------------------------------------ nghttp2 callbacks */

static ssize_t cb_send(nghttp2_session *session, const uint8_t *data, size_t length, int flags,
                       void *ud)
{
    struct rw_h2 *h = ud;

    (void)session;
    (void)flags;
    if (h->detached) {
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (evbuffer_get_length(h->host.out) >= RW_BODY_HIGH_WATER) {
        return NGHTTP2_ERR_WOULDBLOCK;
    }
    if (evbuffer_add(h->host.out, data, length) != 0) {
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return (ssize_t)length;
}

static int cb_send_data(nghttp2_session *session, nghttp2_frame *frame, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *src, void *ud)
{
    struct rw_h2 *h = ud;
    struct h2_stream *s = src->ptr;

    (void)session;
    if (h->detached) {
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (evbuffer_get_length(h->host.out) >= RW_BODY_HIGH_WATER) {
        return NGHTTP2_ERR_WOULDBLOCK;
    }
    if (frame->data.padlen != 0) {
        return NGHTTP2_ERR_CALLBACK_FAILURE; /* we never ask for padding */
    }
    if (evbuffer_add(h->host.out, framehd, 9) != 0 ||
        evbuffer_remove_buffer(s->out, h->host.out, length) != (int)length) {
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static int cb_begin_frame(nghttp2_session *session, const nghttp2_frame_hd *hd, void *ud)
{
    struct rw_h2 *h = ud;

    (void)session;
    if (hd->type == NGHTTP2_HEADERS) {
        h->n_cont = 0;
    } else if (hd->type == NGHTTP2_CONTINUATION && ++h->n_cont > RW_H2_MAX_CONTINUATIONS) {
        if (!h->fatal) {
            rw_log_warn(H2, "conn=%" PRIu64 " more than %u CONTINUATION frames in one header "
                            "block: closing", h->host.conn_id, RW_H2_MAX_CONTINUATIONS);
        }
        h->fatal = true;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static int cb_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct rw_h2 *h = ud;
    struct h2_stream *s;
    size_t before = h->n_streams;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    if (over_rate(h, &h->n_req, RW_H2_MAX_REQ_PER_S, "new streams")) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    s = rw_calloc(1, sizeof(*s));
    if (s == NULL) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    s->id = frame->hd.stream_id;
    s->h = h;
    s->body_in = evbuffer_new();
    s->out = evbuffer_new();
    if (s->body_in == NULL || s->out == NULL) {
        stream_free(s);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    s->next = h->streams;
    if (h->streams != NULL) {
        h->streams->pprev = &s->next;
    }
    h->streams = s;
    s->pprev = &h->streams;
    h->n_streams++;
    nghttp2_session_set_stream_user_data(session, s->id, s);
    set_active(h, before);
    return 0;
}

static int set_pseudo(char **dst, const uint8_t *v, size_t n)
{
    if (*dst != NULL) {
        return -1; /* nghttp2 rejects duplicates already; belt and braces */
    }
    *dst = rw_strndup((const char *)v, n);
    return *dst != NULL ? 0 : -1;
}

static int cb_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud)
{
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    int rc = 0;

    (void)flags;
    (void)ud;
    if (s == NULL || s->state != ST_HEADERS || frame->hd.type != NGHTTP2_HEADERS) {
        return 0; /* trailers: ignored */
    }
    s->hdr_bytes += namelen + valuelen + 32; /* RFC 9113 §6.5.2 accounting */
    if (s->hdr_bytes > RW_MAX_HEADER_BYTES || s->hdrs.n >= RW_MAX_HEADERS) {
        s->bad_head = true;
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (namelen > 0 && name[0] == ':') {
        if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
            rc = set_pseudo(&s->method, value, valuelen);
        } else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
            rc = set_pseudo(&s->path, value, valuelen);
        } else if (namelen == 10 && memcmp(name, ":authority", 10) == 0) {
            rc = set_pseudo(&s->authority, value, valuelen);
        }
    } else {
        rc = hdrs_add(&s->hdrs, (const char *)name, namelen, (const char *)value, valuelen);
    }
    if (rc != 0) {
        s->bad_head = true;
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

/* The head is complete: make the protocol-neutral request; dispatch happens in session_run. */
static int stream_make_req(struct rw_h2 *h, struct h2_stream *s, bool end_stream)
{
    struct rw_req *r = rw_calloc(1, sizeof(*r));
    const char *cl;

    if (r == NULL) {
        return -ENOMEM;
    }
    s->req = r;
    r->io = &h2_io;
    r->io_ctx = s;
    r->w = h->host.w;
    r->conn_id = h->host.conn_id;
    rw_req_new_id(r->id);
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    snprintf(r->method, sizeof(r->method), "%s", s->method != NULL ? s->method : "");
    r->head = strcmp(r->method, "HEAD") == 0;
    r->target = rw_strdup(s->path != NULL ? s->path : "");
    if (s->authority != NULL && rw_hdrs_get(&s->hdrs, "host") == NULL &&
        hdrs_add(&s->hdrs, "host", 4, s->authority, strlen(s->authority)) != 0) {
        return -ENOMEM;
    }
    r->hdrs = s->hdrs;
    s->hdrs.v = NULL;
    s->hdrs.n = 0;
    snprintf(r->client_addr, sizeof(r->client_addr), "%s", h->host.peer);
    r->listen_idx = h->host.listen_idx;
    if (h->host.identity != NULL) {
        r->identity = rw_strdup(h->host.identity);
        if (r->identity == NULL) {
            return -ENOMEM;
        }
    }
    if (!end_stream) {
        r->has_body = true;
        r->body_len = -1;
        cl = rw_hdrs_get(&r->hdrs, "content-length");
        if (cl != NULL) {
            char *end = NULL;
            long long v = strtoll(cl, &end, 10);

            if (end != cl && *end == '\0' && v >= 0) {
                r->body_len = v;
                r->has_body = v > 0;
            }
        }
    }
    s->in_eof = end_stream;
    if (h->host.w != NULL && h->host.w->srv != NULL) {
        r->cfg = rw_server_config(h->host.w->srv);
    }
    return r->target != NULL ? 0 : -ENOMEM;
}

static int cb_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct rw_h2 *h = ud;
    struct h2_stream *s = NULL;
    bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (s == NULL) {
            break;
        }
        if (s->state == ST_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            if (s->bad_head || stream_make_req(h, s, end) != 0) {
                nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id,
                                          NGHTTP2_REFUSED_STREAM);
                s->state = ST_DONE;
                break;
            }
            s->state = ST_READY;
        } else if (end) {
            s->in_eof = true; /* trailers end the body */
            s->body_notify = true;
        }
        break;
    case NGHTTP2_DATA:
        s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (s != NULL && end) {
            s->in_eof = true;
            s->body_notify = true;
        }
        break;
    case NGHTTP2_RST_STREAM:
        over_rate(h, &h->n_rst, RW_H2_MAX_RST_PER_S, "RST_STREAM frames");
        break;
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
            over_rate(h, &h->n_ctrl, RW_H2_MAX_CTRL_PER_S, "SETTINGS/PING frames");
        }
        break;
    default:
        break;
    }
    return 0;
}

static int cb_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, id);

    (void)flags;
    (void)ud;
    if (s == NULL || (s->state != ST_READY && s->state != ST_ROUTED)) {
        /* nobody will read it: give the window back at once */
        nghttp2_session_consume(session, id, len);
        return 0;
    }
    if (evbuffer_add(s->body_in, data, len) != 0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    s->body_notify = true;
    return 0;
}

static int cb_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
    struct h2_stream *s;

    (void)ud;
    if ((frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) ||
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
        return 0;
    }
    s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s != NULL && !s->in_eof) {
        /* RFC 9113 §8.1: the response is complete; the rest of the request is not wanted */
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
    }
    return 0;
}

static int cb_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code, void *ud)
{
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, id);
    size_t left;

    (void)error_code;
    (void)ud;
    if (s == NULL) {
        return 0;
    }
    if (s->state == ST_ROUTED && s->req != NULL) {
        struct rw_req *r = s->req;
        void (*on_close)(struct rw_req *) = r->on_close;

        r->on_body_ready = NULL;
        r->on_writable = NULL;
        r->on_close = NULL;
        if (on_close != NULL) {
            on_close(r); /* the route cancels its transfer (deferred) and forgets r */
        }
    }
    left = evbuffer_get_length(s->body_in);
    if (left > 0) {
        evbuffer_drain(s->body_in, left);
        nghttp2_session_consume_connection(session, left);
    }
    s->state = ST_CLOSED;
    nghttp2_session_set_stream_user_data(session, id, NULL);
    return 0;
}

/* ------------------------------------------------------------------ session */

static bool method_ok(const char *m)
{
    static const char *const ok[] = {"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strcmp(m, ok[i]) == 0) {
            return true;
        }
    }
    return false;
}

static void stream_dispatch(struct rw_h2 *h, struct h2_stream *s)
{
    struct rw_req *r = s->req;

    s->state = ST_ROUTED;
    if (!method_ok(r->method)) {
        rw_req_error(r, 405, "UNSUPPORTED", "method not allowed");
    } else if (h->host.dispatch != NULL) {
        h->host.dispatch(r);
    } else if (r->cfg == NULL) {
        rw_req_error(r, 503, "UNAVAILABLE", "out of memory");
    } else {
        rw_routes_dispatch(r);
    }
}

/* Route-facing events queued by callbacks. @return whether anything ran. */
static bool run_hooks(struct rw_h2 *h)
{
    bool ran = false;

    for (struct h2_stream *s = h->streams; s != NULL && !h->detached; s = s->next) {
        if (s->state == ST_READY) {
            stream_dispatch(h, s);
            ran = true;
        }
        if (s->state == ST_ROUTED && s->body_notify) {
            s->body_notify = false;
            if (s->req->on_body_ready != NULL) {
                s->req->on_body_ready(s->req);
                ran = true;
            }
        }
        if (s->state == ST_ROUTED && s->want_writable &&
            evbuffer_get_length(s->out) < RW_H2_STREAM_LOW_WATER) {
            s->want_writable = false;
            if (s->req->on_writable != NULL) {
                s->req->on_writable(s->req);
                ran = true;
            }
        }
    }
    return ran;
}

static void sweep(struct rw_h2 *h)
{
    size_t before = h->n_streams;
    struct h2_stream *s = h->streams;

    while (s != NULL) {
        struct h2_stream *next = s->next;

        if (s->state == ST_CLOSED) {
            stream_free(s);
            h->n_streams--;
        }
        s = next;
    }
    set_active(h, before);
}

static void session_run(struct rw_h2 *h)
{
    struct evbuffer *in = h->host.in;
    int rv = 0;

    if (h->detached || h->done || h->running > 0) {
        return;
    }
    h->running++;
    while (!h->fatal && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        ssize_t got;

        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) {
            break;
        }
        got = nghttp2_session_mem_recv(h->session, v.iov_base, v.iov_len);
        if (got < 0) {
            rw_log_debug(H2, "conn=%" PRIu64 " closing: %s", h->host.conn_id,
                         nghttp2_strerror((int)got));
            if (got != NGHTTP2_ERR_FLOODED && got != NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
                /* tell the client why before closing (a flood peer that does not read gets
                 * nothing: FLOODED means our output is already piling up) */
                nghttp2_session_terminate_session(
                    h->session, h->fatal ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
                nghttp2_session_send(h->session);
            }
            h->fatal = true;
            break;
        }
        evbuffer_drain(in, (size_t)got);
    }
    for (int rounds = 0; rounds < 64 && !h->detached; rounds++) {
        bool ran = h->fatal ? false : run_hooks(h);

        if (h->detached) {
            break;
        }
        rv = nghttp2_session_send(h->session);
        if (rv != 0) {
            h->fatal = true;
        }
        if (!ran || h->fatal) {
            break;
        }
    }
    if (h->detached) {
        h->running--;
        return;
    }
    sweep(h);
    h->running--;
    if (h->fatal || (nghttp2_session_want_read(h->session) == 0 &&
                     nghttp2_session_want_write(h->session) == 0) ||
        (h->draining && h->n_streams == 0 && nghttp2_session_want_write(h->session) == 0)) {
        h->done = true;
        h->host.on_done(h->host.arg); /* may detach us: nothing after this line */
    }
}

int rw_h2_new(const struct rw_h2_host *host, struct rw_h2 **out)
{
    struct rw_h2 *h = rw_calloc(1, sizeof(*h));
    nghttp2_session_callbacks *cbs = NULL;
    nghttp2_option *opt = NULL;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, RW_H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, RW_H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, RW_MAX_HEADER_BYTES},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    int rc = -ENOMEM;

    if (h == NULL) {
        return -ENOMEM;
    }
    h->host = *host;
    h->kick = event_new(host->w->base, -1, 0, on_kick, h);
    if (h->kick == NULL || nghttp2_session_callbacks_new(&cbs) != 0 ||
        nghttp2_option_new(&opt) != 0) {
        goto out;
    }
    nghttp2_session_callbacks_set_send_callback(cbs, cb_send);
    nghttp2_session_callbacks_set_send_data_callback(cbs, cb_send_data);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, cb_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, cb_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, cb_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cb_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cb_data_chunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, cb_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cb_stream_close);
    /* request bodies count as consumed only when a route reads them */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_continuations(opt, RW_H2_MAX_CONTINUATIONS);
    nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
    nghttp2_option_set_max_send_header_block_length(opt, RW_MAX_UPSTREAM_HEADER_BYTES + 4096);
    if (nghttp2_session_server_new2(&h->session, cbs, h, opt) != 0) {
        goto out;
    }
    if (nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) !=
            0 ||
        nghttp2_session_set_local_window_size(h->session, NGHTTP2_FLAG_NONE, 0,
                                              RW_H2_CONN_WINDOW) != 0) {
        goto out;
    }
    rc = 0;
    *out = h;
    h = NULL;
    event_active((*out)->kick, 0, 0);
out:
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    if (h != NULL) {
        h->detached = true;
        rw_h2_free(&h);
    }
    return rc;
}

void rw_h2_on_read(struct rw_h2 *h)
{
    session_run(h);
}

void rw_h2_on_write(struct rw_h2 *h)
{
    session_run(h);
}

void rw_h2_drain(struct rw_h2 *h)
{
    if (h->draining || h->detached || h->done) {
        return;
    }
    h->draining = true;
    nghttp2_submit_goaway(h->session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h->session), NGHTTP2_NO_ERROR,
                          NULL, 0);
    schedule(h);
}

void rw_h2_detach(struct rw_h2 *h)
{
    if (h->detached) {
        return;
    }
    h->detached = true;
    for (struct h2_stream *s = h->streams; s != NULL; s = s->next) {
        if (s->state == ST_ROUTED && s->req != NULL) {
            struct rw_req *r = s->req;
            void (*on_close)(struct rw_req *) = r->on_close;

            r->on_body_ready = NULL;
            r->on_writable = NULL;
            r->on_close = NULL;
            s->state = ST_CLOSED;
            if (on_close != NULL) {
                on_close(r);
            }
        }
        s->state = ST_CLOSED;
    }
    h->host.in = NULL;
    h->host.out = NULL;
}

void rw_h2_free(struct rw_h2 **ph)
{
    struct rw_h2 *h = *ph;

    if (h == NULL) {
        return;
    }
    *ph = NULL;
    rw_h2_detach(h);
    while (h->streams != NULL) {
        stream_free(h->streams);
    }
    nghttp2_session_del(h->session);
    if (h->kick != NULL) {
        event_free(h->kick);
    }
    rw_free(h);
}

size_t rw_h2_streams(const struct rw_h2 *h)
{
    return h->n_streams;
}
