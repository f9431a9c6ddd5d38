/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.1 client connections: socket (libevent bufferevent) -> http_parser -> struct rw_req.
 * One request at a time per connection (pipelined requests wait in the input buffer). The
 * request body streams to the route with backpressure: input is fed to the parser only while
 * less than RW_BODY_HIGH_WATER bytes wait for the upstream, and libevent stops reading the
 * socket when its input buffer is full. Connection teardown is deferred to a loop event so no
 * connection is freed inside one of its callbacks (R13).
 *
 * Layers (R12): socket or TLS (tls.c gives a libevent_openssl bufferevent; the SPIFFE ID of a
 * verified client certificate becomes the identity of every request on the connection) ->
 * HTTP/1.1 here, or HTTP/2 in h2.c when ALPN chose h2 or a plain connection opens with the h2c
 * prior-knowledge preface. In h2 mode this file only moves bytes and owns the life cycle.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <http_parser.h>

#include "rw/err.h"
#include "rw/limits.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "conn.h"
#include "h2.h"
#include "proxy.h"
#include "tls.h"

enum conn_state {
    CONN_HANDSHAKE = 0, /* TLS handshake in progress */
    CONN_IDLE,
    CONN_HEAD,
    CONN_BODY,
    CONN_WAIT_RESP,
    CONN_H2,            /* h2.c owns the protocol */
    CONN_CLOSING,
    CONN_DEAD
};

struct conn {
    uint64_t id;
    struct rw_worker *w;      /* borrowed */
    size_t listen_idx;        /* index in cfg->listen (listen[].upstream) */
    struct bufferevent *bev;  /* owned; NULL once closed */
    struct event *kick;       /* owned: deferred processing and free */
    http_parser parser;
    enum conn_state state;
    char peer[64];
    char *identity;           /* owned; SPIFFE ID of the verified client certificate, or NULL */
    bool fresh;               /* no byte parsed yet: the h2c preface may still come */
    struct rw_h2 *h2;         /* owned; non-NULL in h2 mode */
    /* request head being parsed */
    struct rw_buf url;
    struct rw_buf name;
    struct rw_buf value;
    bool in_value;
    struct rw_hdrs hdrs;
    size_t head_bytes;
    bool head_ready;          /* headers complete: dispatch after the parser returns */
    bool msg_complete;        /* the whole request was read */
    bool keep_alive;
    bool url_too_long;        /* the request target passed RW_MAX_REQ_LINE: 414 */
    bool skip_complete;       /* a bodiless request was answered before its end was parsed */
    /* the request being served */
    struct rw_req *req;       /* owned */
    struct evbuffer *body;    /* owned; request body bytes not yet taken by the route */
    bool body_notify;
    /* response */
    bool resp_started;
    bool resp_chunked;
    bool resp_nobody;
    struct conn *next;        /* worker's list */
    struct conn **pprev;
};

static http_parser_settings settings;

static void conn_process(struct conn *c);
static void conn_close(struct conn *c);
static int h2c_preface(struct evbuffer *in);
static void start_h2(struct conn *c);
static void req_free(struct conn *c);

static const char *reason_phrase(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

void rw_req_new_id(char out[33])
{
    uint8_t b[16];
    static const char hex[] = "0123456789abcdef";

    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        memcpy(b, &ts, sizeof(b) < sizeof(ts) ? sizeof(b) : sizeof(ts));
    }
    for (size_t i = 0; i < sizeof(b); i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[32] = '\0';
}

/* ------------------------------------------------------------------ response side (rw_req_io) */

static int h1_send_head(struct rw_req *r, int status, const struct rw_hdr *h, size_t n,
                        int64_t content_length)
{
    struct conn *c = r->io_ctx;
    struct evbuffer *out;

    if (c == NULL || c->bev == NULL || c->resp_started) {
        return RW_EINTERNAL;
    }
    out = bufferevent_get_output(c->bev);
    c->resp_started = true;
    r->status = status;
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status, reason_phrase(status));
    for (size_t i = 0; i < n; i++) {
        /* values come from curl line by line or from us: no CR/LF can be inside */
        evbuffer_add_printf(out, "%s: %s\r\n", h[i].name, h[i].value);
    }
    c->resp_nobody = r->head || status == 204 || status == 304 || status < 200;
    c->resp_chunked = false;
    if (r->head) {
        if (content_length >= 0) {
            evbuffer_add_printf(out, "Content-Length: %" PRId64 "\r\n", content_length);
        }
    } else if (status == 204 || status == 304) {
        /* no body, no length */
    } else if (content_length >= 0) {
        evbuffer_add_printf(out, "Content-Length: %" PRId64 "\r\n", content_length);
    } else {
        c->resp_chunked = true;
        evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
    }
    if (!c->keep_alive || atomic_load(&c->w->srv->draining) || (!c->msg_complete && r->has_body)) {
        /* an answer before the body was read closes the connection: say so */
        c->keep_alive = false;
        evbuffer_add_printf(out, "Connection: close\r\n");
    }
    evbuffer_add(out, "\r\n", 2);
    return 0;
}

static int h1_send_data(struct rw_req *r, const uint8_t *p, size_t n, bool *blocked)
{
    struct conn *c = r->io_ctx;
    struct evbuffer *out;

    if (c == NULL || c->bev == NULL) {
        return RW_EINTERNAL;
    }
    out = bufferevent_get_output(c->bev);
    if (n > 0 && !c->resp_nobody) {
        if (c->resp_chunked) {
            evbuffer_add_printf(out, "%zx\r\n", n);
            evbuffer_add(out, p, n);
            evbuffer_add(out, "\r\n", 2);
        } else {
            evbuffer_add(out, p, n);
        }
    }
    *blocked = evbuffer_get_length(out) >= RW_BODY_HIGH_WATER;
    return 0;
}

static void idle_timeouts(struct conn *c)
{
    struct timeval idle = {RW_IDLE_TIMEOUT_MS / 1000, 0};

    bufferevent_set_timeouts(c->bev, &idle, &idle);
}

static void req_finish(struct conn *c)
{
    struct rw_req *r = c->req;
    bool bodiless = r != NULL && !r->has_body;

    if (r != NULL) {
        rw_metrics_request(r->method, r->m.route, r->status);
    }
    req_free(c);
    if (!c->msg_complete && bodiless && c->keep_alive) {
        /* answered during dispatch (400, 403, 405...) before the parser reached the end of a
         * bodiless request: nothing is unread, so keep the connection and its pipelined
         * requests; the message end still to come belongs to this answered request */
        c->skip_complete = true;
        c->msg_complete = true;
    }
    if (!c->msg_complete || !c->keep_alive) {
        /* unread request body or Connection: close: finish writing, then close */
        c->state = CONN_CLOSING;
        bufferevent_disable(c->bev, EV_READ);
        bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
            conn_close(c);
        }
        return;
    }
    c->state = CONN_IDLE;
    c->msg_complete = false;
    c->resp_started = false;
    http_parser_pause(&c->parser, 0);
    idle_timeouts(c);
    bufferevent_enable(c->bev, EV_READ);
    event_active(c->kick, 0, 0); /* parse any pipelined request on the next turn */
}

static void h1_send_end(struct rw_req *r)
{
    struct conn *c = r->io_ctx;

    if (c == NULL || c->bev == NULL) {
        return;
    }
    if (c->resp_chunked) {
        evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5);
    }
    req_finish(c);
}

static void h1_abort(struct rw_req *r)
{
    struct conn *c = r->io_ctx;

    if (c == NULL) {
        return;
    }
    if (c->req != NULL) {
        rw_metrics_request(r->method, r->m.route, r->status != 0 ? r->status : 502);
        c->req->on_close = NULL; /* the route is the one aborting: do not call it back */
    }
    if (c->bev != NULL) {
        /* RST instead of FIN: the client must not take a truncated body for a complete one */
        struct linger lg = {1, 0};

        setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    conn_close(c);
}

static enum rw_xfer_read h1_read_body(struct rw_req *r, uint8_t *buf, size_t cap, size_t *n)
{
    struct conn *c = r->io_ctx;
    size_t avail;
    int got;

    *n = 0;
    if (c == NULL || c->body == NULL) {
        return RW_XFER_READ_EOF;
    }
    avail = evbuffer_get_length(c->body);
    if (avail == 0) {
        return c->msg_complete ? RW_XFER_READ_EOF : RW_XFER_READ_PAUSE;
    }
    got = evbuffer_remove(c->body, buf, cap);
    if (got <= 0) {
        return RW_XFER_READ_PAUSE;
    }
    *n = (size_t)got;
    if (avail >= RW_BODY_LOW_WATER && avail - (size_t)got < RW_BODY_LOW_WATER) {
        event_active(c->kick, 0, 0); /* room again: feed the parser */
    }
    return RW_XFER_READ_DATA;
}

static const struct rw_req_io h1_io = {
    .send_head = h1_send_head,
    .send_data = h1_send_data,
    .send_end = h1_send_end,
    .abort = h1_abort,
    .read_body = h1_read_body,
};

/* ------------------------------------------------------------------ request side (http_parser) */

static void req_free(struct conn *c)
{
    struct rw_req *r = c->req;

    if (r == NULL) {
        return;
    }
    c->req = NULL;
    rw_config_unref(&r->cfg);
    rw_free(r->target);
    rw_free(r->identity);
    rw_hdrs_free(&r->hdrs);
    rw_free(r);
    if (c->body != NULL) {
        evbuffer_free(c->body);
        c->body = NULL;
    }
}

static int head_grow(struct conn *c, size_t n)
{
    c->head_bytes += n;
    if (c->head_bytes > RW_MAX_HEADER_BYTES) {
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct conn *c = p->data;

    rw_buf_reset(&c->url);
    rw_buf_reset(&c->name);
    rw_buf_reset(&c->value);
    rw_hdrs_free(&c->hdrs);
    c->in_value = false;
    c->head_bytes = 0;
    c->state = CONN_HEAD;
    /* a request is on its way: the idle timeout no longer applies */
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;

    if (rw_buf_append(&c->url, at, n) != 0) {
        c->url_too_long = c->url.len + n > RW_MAX_REQ_LINE;
        return -1;
    }
    return 0;
}

static int push_header(struct conn *c)
{
    struct rw_hdr *nv;

    if (c->name.len == 0) {
        return 0;
    }
    if (c->hdrs.n >= RW_MAX_HEADERS) {
        return -1;
    }
    nv = rw_realloc(c->hdrs.v, (c->hdrs.n + 1) * sizeof(*nv));
    if (nv == NULL) {
        return -1;
    }
    c->hdrs.v = nv;
    nv[c->hdrs.n].name = rw_strndup((const char *)c->name.data, c->name.len);
    nv[c->hdrs.n].value = rw_strndup(c->value.len ? (const char *)c->value.data : "", c->value.len);
    if (nv[c->hdrs.n].name == NULL || nv[c->hdrs.n].value == NULL) {
        rw_free(nv[c->hdrs.n].name);
        rw_free(nv[c->hdrs.n].value);
        return -1;
    }
    c->hdrs.n++;
    rw_buf_reset(&c->name);
    rw_buf_reset(&c->value);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;

    if (head_grow(c, n) != 0) {
        return -1;
    }
    if (c->in_value) {
        if (push_header(c) != 0) {
            return -1;
        }
        c->in_value = false;
    }
    return rw_buf_append(&c->name, at, n) == 0 ? 0 : -1;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;

    if (head_grow(c, n) != 0) {
        return -1;
    }
    c->in_value = true;
    return rw_buf_append(&c->value, at, n) == 0 ? 0 : -1;
}

static int on_headers_complete(http_parser *p)
{
    struct conn *c = p->data;

    if (push_header(c) != 0) {
        return -1;
    }
    c->head_ready = true;
    c->keep_alive = http_should_keep_alive(p) != 0;
    /* stop here: the route is dispatched once http_parser_execute has returned */
    http_parser_pause(p, 1);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;

    if (c->body != NULL) {
        evbuffer_add(c->body, at, n);
        c->body_notify = true;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct conn *c = p->data;

    if (c->skip_complete) {
        c->skip_complete = false; /* the end of a request already answered: go on parsing */
        return 0;
    }
    c->msg_complete = true;
    c->body_notify = true;
    http_parser_pause(p, 1); /* next request waits until this one is answered */
    return 0;
}

static void early_error(struct conn *c, int status, const char *code, const char *msg)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    char body[256];
    int n;

    n = snprintf(body, sizeof(body), "{\"errors\":[{\"code\":\"%s\",\"message\":\"%s\",\"detail\":{}}]}",
                 code, msg);
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                        "Connection: close\r\n\r\n",
                        status, reason_phrase(status), n);
    evbuffer_add(out, body, (size_t)n);
    rw_metrics_request("OTHER", RW_ROUTE_COUNT, status);
    c->state = CONN_CLOSING;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
}

static void dispatch(struct conn *c)
{
    http_parser *p = &c->parser;
    struct rw_req *r = rw_calloc(1, sizeof(*r));
    const char *expect;

    c->head_ready = false;
    if (r == NULL) {
        early_error(c, 503, "UNAVAILABLE", "out of memory");
        return;
    }
    r->io = &h1_io;
    r->io_ctx = c;
    r->w = c->w;
    r->conn_id = c->id;
    rw_req_new_id(r->id);
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    snprintf(r->method, sizeof(r->method), "%s", http_method_str((enum http_method)p->method));
    r->head = p->method == HTTP_HEAD;
    r->target = rw_strndup(c->url.len ? (const char *)c->url.data : "", c->url.len);
    r->hdrs = c->hdrs;
    c->hdrs.v = NULL;
    c->hdrs.n = 0;
    snprintf(r->client_addr, sizeof(r->client_addr), "%s", c->peer);
    r->listen_idx = c->listen_idx;
    if (c->identity != NULL) {
        r->identity = rw_strdup(c->identity);
    }
    if (p->flags & F_CHUNKED) {
        r->has_body = true;
        r->body_len = -1;
    } else if (p->content_length != ULLONG_MAX && p->content_length > 0) {
        r->has_body = true;
        r->body_len = (int64_t)p->content_length;
    }
    r->cfg = rw_server_config(c->w->srv);
    c->req = r;
    c->body = evbuffer_new();
    c->resp_started = false;
    c->state = c->msg_complete ? CONN_WAIT_RESP : CONN_BODY;
    if (r->target == NULL || c->body == NULL || r->cfg == NULL ||
        (c->identity != NULL && r->identity == NULL)) {
        rw_req_error(r, 503, "UNAVAILABLE", "out of memory");
        return;
    }
    expect = rw_req_header(r, "Expect");
    if (expect != NULL && strcasecmp(expect, "100-continue") == 0 && r->has_body) {
        evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
    }
    rw_routes_dispatch(r);
}

static void parse_failed(struct conn *c, enum http_errno err)
{
    if (c->req != NULL && c->resp_started) {
        h1_abort(c->req);
        return;
    }
    if (c->req != NULL) {
        /* body framing broke mid-request: the route must stop */
        struct rw_req *r = c->req;

        if (r->on_close != NULL) {
            r->on_close(r);
        }
        req_free(c);
    }
    if (err == HPE_HEADER_OVERFLOW || c->head_bytes > RW_MAX_HEADER_BYTES ||
        c->hdrs.n >= RW_MAX_HEADERS) {
        early_error(c, 431, "UNSUPPORTED", "request header fields too large");
    } else if (c->url_too_long) {
        early_error(c, 414, "NAME_INVALID", "request target too long");
    } else {
        early_error(c, 400, "UNSUPPORTED", "malformed HTTP request");
    }
}

static void conn_process(struct conn *c)
{
    struct evbuffer *in;

    if (c->bev == NULL || c->state == CONN_CLOSING || c->state == CONN_DEAD ||
        c->state == CONN_HANDSHAKE) {
        return;
    }
    if (c->h2 != NULL) {
        rw_h2_on_read(c->h2);
        return;
    }
    in = bufferevent_get_input(c->bev);
    if (c->fresh) {
        switch (h2c_preface(in)) {
        case 0:
            c->fresh = false;
            break;
        case 1:
            start_h2(c);
            return;
        default:
            return; /* could still be the preface: wait for more bytes */
        }
    }
    for (;;) {
        struct evbuffer_iovec v;
        size_t feed;
        size_t done;
        enum http_errno err;

        if (c->msg_complete) {
            break; /* wait for the response */
        }
        if (c->body != NULL && evbuffer_get_length(c->body) >= RW_BODY_HIGH_WATER) {
            break; /* the upstream is slower than the client: let TCP push back */
        }
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
            break;
        }
        feed = v.iov_len;
        if (c->body != NULL && feed > RW_BODY_HIGH_WATER - evbuffer_get_length(c->body)) {
            feed = RW_BODY_HIGH_WATER - evbuffer_get_length(c->body);
        }
        done = http_parser_execute(&c->parser, &settings, v.iov_base, feed);
        err = HTTP_PARSER_ERRNO(&c->parser);
        evbuffer_drain(in, done);
        if (c->url.len > RW_MAX_REQ_LINE) {
            err = HPE_INVALID_URL;
        }
        if (err == HPE_PAUSED) {
            if (c->head_ready) {
                http_parser_pause(&c->parser, 0);
                if (c->parser.method != HTTP_HEAD && c->parser.method != HTTP_GET &&
                    c->parser.method != HTTP_PUT && c->parser.method != HTTP_POST &&
                    c->parser.method != HTTP_PATCH && c->parser.method != HTTP_DELETE &&
                    c->parser.method != HTTP_OPTIONS) {
                    early_error(c, 405, "UNSUPPORTED", "method not allowed");
                    return;
                }
                dispatch(c);
                if (c->bev == NULL || c->state == CONN_CLOSING) {
                    return;
                }
                continue;
            }
            /* paused at message end: keep the parser paused until the response is done */
        } else if (err != HPE_OK) {
            parse_failed(c, err);
            return;
        } else if (done < feed) {
            parse_failed(c, HPE_UNKNOWN);
            return;
        }
        if (c->body_notify && c->req != NULL) {
            c->body_notify = false;
            if (c->req->on_body_ready != NULL) {
                c->req->on_body_ready(c->req);
            }
            if (c->bev == NULL || c->state == CONN_CLOSING) {
                return;
            }
        }
    }
    if (c->body_notify && c->req != NULL) {
        c->body_notify = false;
        if (c->req->on_body_ready != NULL) {
            c->req->on_body_ready(c->req);
        }
    }
}

/* ------------------------------------------------------------------ connection life cycle */

/* 1: the h2c preface; 0: not it (HTTP/1.1); -1: a prefix of it so far. */
static int h2c_preface(struct evbuffer *in)
{
    uint8_t head[RW_H2_PREFACE_LEN];
    size_t n = evbuffer_get_length(in);

    if (n > sizeof(head)) {
        n = sizeof(head);
    }
    if (evbuffer_copyout(in, head, n) != (ev_ssize_t)n) {
        return 0;
    }
    if (memcmp(head, RW_H2_PREFACE, n) != 0) {
        return 0;
    }
    return n == sizeof(head) ? 1 : -1;
}

static void h2_host_done(void *arg)
{
    struct conn *c = arg;

    if (c->state == CONN_DEAD || c->bev == NULL) {
        return;
    }
    c->state = CONN_CLOSING;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        conn_close(c);
    }
}

static void h2_host_active(void *arg, bool active)
{
    struct conn *c = arg;

    if (c->bev == NULL) {
        return;
    }
    if (active) {
        /* streams in flight: a client reading a long blob sends nothing for a while */
        bufferevent_set_timeouts(c->bev, NULL, NULL);
    } else {
        idle_timeouts(c);
    }
}

static void start_h2(struct conn *c)
{
    struct rw_h2_host host = {
        .w = c->w,
        .conn_id = c->id,
        .peer = c->peer,
        .identity = c->identity,
        .listen_idx = c->listen_idx,
        .in = bufferevent_get_input(c->bev),
        .out = bufferevent_get_output(c->bev),
        .on_done = h2_host_done,
        .on_active = h2_host_active,
        .arg = c,
    };

    c->fresh = false;
    c->state = CONN_H2;
    if (rw_h2_new(&host, &c->h2) != 0) {
        conn_close(c);
        return;
    }
    if (atomic_load(&c->w->srv->draining)) {
        rw_h2_drain(c->h2);
    }
}

static void conn_free(struct conn *c)
{
    if (c->pprev != NULL) {
        *c->pprev = c->next;
        if (c->next != NULL) {
            c->next->pprev = c->pprev;
        }
    }
    rw_buf_fini(&c->url);
    rw_buf_fini(&c->name);
    rw_buf_fini(&c->value);
    rw_hdrs_free(&c->hdrs);
    rw_h2_free(&c->h2);
    rw_free(c->identity);
    event_free(c->kick);
    rw_free(c);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (c->state == CONN_DEAD) {
        conn_free(c);
        return;
    }
    conn_process(c);
}

static void conn_close(struct conn *c)
{
    if (c->state == CONN_DEAD) {
        return;
    }
    c->state = CONN_DEAD;
    if (c->h2 != NULL) {
        rw_h2_detach(c->h2); /* routes get on_close; the session is freed with the conn */
    }
    if (c->req != NULL) {
        struct rw_req *r = c->req;

        if (r->on_close != NULL) {
            r->on_close(r);
        }
        r->io_ctx = NULL;
        req_free(c);
    }
    if (c->bev != NULL) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    c->w->n_conns--;
    atomic_fetch_sub(&c->w->srv->connections, 1);
    event_active(c->kick, 0, 0);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_process(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    if (c->state == CONN_CLOSING) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
            conn_close(c);
        }
        return;
    }
    if (c->h2 != NULL) {
        rw_h2_on_write(c->h2);
        return;
    }
    if (c->req != NULL && c->req->on_writable != NULL) {
        c->req->on_writable(c->req);
    }
}

/* TLS handshake finished: who is the client, and which protocol did ALPN pick? */
static void on_handshake(struct conn *c)
{
    if (rw_tls_bev_identity(c->bev, &c->identity) != 0) {
        conn_close(c);
        return;
    }
    if (c->identity != NULL) {
        rw_log_debug(TLS, "conn=%" PRIu64 " client identity %s", c->id, c->identity);
    }
    if (rw_tls_bev_is_h2(c->bev)) {
        start_h2(c);
        if (c->h2 != NULL) {
            rw_h2_on_read(c->h2);
        }
        return;
    }
    c->state = CONN_IDLE;
    c->fresh = false; /* h2 over TLS is chosen by ALPN only */
    conn_process(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if ((what & BEV_EVENT_CONNECTED) && c->state == CONN_HANDSHAKE) {
        on_handshake(c);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        if ((what & BEV_EVENT_ERROR) && c->state == CONN_HANDSHAKE) {
            rw_log_debug(TLS, "conn=%" PRIu64 " TLS handshake failed", c->id);
        }
        if ((what & BEV_EVENT_TIMEOUT) && c->req == NULL) {
            rw_log_debug(PROXY, "conn=%" PRIu64 " idle timeout", c->id);
        }
        conn_close(c);
    }
}

void rw_conn_accept(struct rw_worker *w, evutil_socket_t fd, const struct sockaddr *sa,
                    struct rw_tls *tls, size_t listen_idx)
{
    struct conn *c = rw_calloc(1, sizeof(*c));
    int one = 1;

    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->w = w;
    c->listen_idx = listen_idx;
    c->id = ++w->next_conn_id * 64 + w->idx;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->peer, sizeof(c->peer));
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->peer,
                  sizeof(c->peer));
    } else {
        snprintf(c->peer, sizeof(c->peer), "unix");
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    rw_buf_init(&c->url, RW_MAX_REQ_LINE + 1);
    rw_buf_init(&c->name, RW_MAX_HEADER_BYTES);
    rw_buf_init(&c->value, RW_MAX_HEADER_BYTES);
    c->kick = event_new(w->base, -1, 0, on_kick, c);
    if (c->kick == NULL) {
        c->bev = NULL;
        evutil_closesocket(fd);
    } else if (tls != NULL) {
        /* rw_tls_bev_new closes fd itself on failure */
        c->bev = rw_tls_bev_new(tls, w->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        c->state = CONN_HANDSHAKE;
    } else {
        c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        c->state = CONN_IDLE;
        c->fresh = true;
        if (c->bev == NULL) {
            evutil_closesocket(fd);
        }
    }
    if (c->kick == NULL || c->bev == NULL) {
        if (c->bev != NULL) {
            bufferevent_free(c->bev);
        }
        if (c->kick != NULL) {
            event_free(c->kick);
        }
        rw_free(c);
        return;
    }
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->next = w->conns;
    if (w->conns != NULL) {
        w->conns->pprev = &c->next;
    }
    w->conns = c;
    c->pprev = &w->conns;
    w->n_conns++;
    atomic_fetch_add(&w->srv->connections, 1);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    /* libevent's default of 16 KiB per read or write call made a 1 GiB blob 65,536 writev and
     * as many epoll_wait calls; a call as large as what may be buffered anyway costs nothing */
    bufferevent_set_max_single_write(c->bev, RW_SOCK_MAX_WRITE);
    bufferevent_set_max_single_read(c->bev, RW_SOCK_MAX_READ);
    /* read at most RW_SOCK_READ_AHEAD ahead of the parser; write callback when output drains */
    bufferevent_setwatermark(c->bev, EV_READ, 0, RW_SOCK_READ_AHEAD);
    bufferevent_setwatermark(c->bev, EV_WRITE, RW_BODY_LOW_WATER, 0);
    idle_timeouts(c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

void rw_conn_drain_idle(struct rw_worker *w)
{
    struct conn *c = w->conns;

    while (c != NULL) {
        struct conn *next = c->next;

        if (c->h2 != NULL) {
            if (c->state == CONN_H2) {
                rw_h2_drain(c->h2);
            }
        } else if (c->req == NULL && c->state != CONN_DEAD && c->state != CONN_CLOSING) {
            conn_close(c);
        } else {
            c->keep_alive = false;
        }
        c = next;
    }
}

void rw_conn_init(void)
{
    memset(&settings, 0, sizeof(settings));
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
}

const char *rw_req_header(const struct rw_req *r, const char *name)
{
    return rw_hdrs_get(&r->hdrs, name);
}
