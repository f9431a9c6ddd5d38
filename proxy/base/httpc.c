/* SPDX-License-Identifier: MIT */
/*
 * libcurl multi driven by a libevent loop (curl docs/examples/hiperfifo.c pattern, rewritten).
 * Owns every libcurl call of the project (R5). Transfers never block the loop; bodies stream with
 * pause/resume in both directions. Teardown of a cancelled transfer is deferred to a loop event
 * so no transfer is freed inside one of its own callbacks (R13).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "rw/buf.h"
#include "rw/err.h"
#include "rw/httpc.h"
#include "rw/limits.h"
#include "rw/log.h"
#include "rw/mem.h"

struct sock_ctx {
    struct event *ev; /* owned */
    struct rw_httpc *h;
};

struct rw_httpc {
    struct event_base *base; /* borrowed: the worker's loop */
    CURLM *multi;            /* owned */
    struct event *timer;     /* owned */
    struct event *reap_ev;   /* owned */
    struct rw_xfer *reap;    /* cancelled transfers awaiting teardown */
    struct rw_xfer *live;    /* transfers in the multi handle (for teardown at exit) */
    size_t active;
    bool closing;            /* rw_httpc_free running: no new transfers */
};

struct rw_xfer {
    struct rw_httpc *h; /* borrowed */
    CURL *easy;         /* owned */
    struct curl_slist *out_hdrs;
    struct rw_xfer_cbs cbs;
    void *arg;
    int status;
    bool head_done;
    bool cancelled;
    bool in_multi;
    bool recv_paused;
    bool send_paused;
    bool too_big;
    struct rw_hdrs hdrs;
    size_t hdr_bytes;
    struct rw_xfer *reap_next;
    struct rw_xfer *live_next;
    struct rw_xfer **live_pprev;
    /* buffered mode (rw_fetch_start) */
    rw_fetch_cb *fcb;
    void *farg;
    struct rw_buf in;
    uint8_t *up;
    size_t up_len;
    size_t up_off;
    char errbuf[CURL_ERROR_SIZE];
};

const char *rw_hdrs_get(const struct rw_hdrs *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->v[i].name, name) == 0) {
            return h->v[i].value;
        }
    }
    return NULL;
}

void rw_hdrs_free(struct rw_hdrs *h)
{
    for (size_t i = 0; i < h->n; i++) {
        rw_free(h->v[i].name);
        rw_free(h->v[i].value);
    }
    rw_free_clear(&h->v);
    h->n = 0;
}

int rw_hdrs_copy(struct rw_hdrs *dst, const struct rw_hdrs *src)
{
    dst->v = rw_calloc(src->n + 1, sizeof(*dst->v));
    dst->n = 0;
    if (dst->v == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < src->n; i++) {
        dst->v[i].name = rw_strdup(src->v[i].name);
        dst->v[i].value = rw_strdup(src->v[i].value);
        dst->n++;
        if (dst->v[i].name == NULL || dst->v[i].value == NULL) {
            return -ENOMEM;
        }
    }
    return 0;
}

static void live_unlink(struct rw_xfer *x)
{
    if (x->live_pprev != NULL) {
        *x->live_pprev = x->live_next;
        if (x->live_next != NULL) {
            x->live_next->live_pprev = x->live_pprev;
        }
        x->live_pprev = NULL;
        x->live_next = NULL;
    }
}

static void xfer_free(struct rw_xfer *x)
{
    live_unlink(x);
    if (x->in_multi) {
        curl_multi_remove_handle(x->h->multi, x->easy);
        x->in_multi = false;
        x->h->active--;
    }
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->out_hdrs);
    rw_hdrs_free(&x->hdrs);
    rw_buf_fini(&x->in);
    rw_free(x->up);
    rw_free(x);
}

static int map_result(const struct rw_xfer *x, CURLcode res)
{
    if (res == CURLE_OK) {
        return 0;
    }
    if (x->too_big) {
        return RW_ETOOBIG;
    }
    if (res == CURLE_OPERATION_TIMEDOUT) {
        return RW_ETIMEOUT;
    }
    return RW_EUPSTREAM;
}

static rw_httpc_timing_cb *timing_cb; /* set once before workers start */

void rw_httpc_set_timing_cb(rw_httpc_timing_cb *cb)
{
    timing_cb = cb;
}

static void finish(struct rw_xfer *x, CURLcode res)
{
    int rc = map_result(x, res);
    double secs = 0;

    if (timing_cb != NULL &&
        curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &secs) == CURLE_OK) {
        timing_cb(secs);
    }

    curl_multi_remove_handle(x->h->multi, x->easy);
    x->in_multi = false;
    x->h->active--;
    live_unlink(x);
    if (x->cancelled) {
        return; /* the reap list frees it */
    }
    if (rc != 0) {
        char *url = NULL;

        curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &url);
        rw_log_debug(UPSTREAM, "transfer %s failed: %s (%s)", url != NULL ? url : "?",
                     curl_easy_strerror(res), x->errbuf);
    }
    if (x->fcb != NULL) {
        x->fcb(x->farg, rc, x->status, &x->hdrs, x->in.data, x->in.len);
    } else if (x->cbs.on_done != NULL) {
        x->cbs.on_done(x->arg, rc);
    }
    xfer_free(x);
}

static void check_multi_info(struct rw_httpc *h)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) {
            struct rw_xfer *x = NULL;

            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            finish(x, msg->data.result);
        }
    }
}

static void on_sock_event(evutil_socket_t fd, short kind, void *arg)
{
    struct rw_httpc *h = arg;
    int action = ((kind & EV_READ) ? CURL_CSELECT_IN : 0) | ((kind & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running = 0;

    curl_multi_socket_action(h->multi, fd, action, &running);
    /* no "running == 0 -> drop the timer" shortcut: a completion callback may just have
     * added a transfer whose first kick is that timer */
    check_multi_info(h);
}

static void on_timer_event(evutil_socket_t fd, short kind, void *arg)
{
    struct rw_httpc *h = arg;
    int running = 0;

    (void)fd;
    (void)kind;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(h);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct rw_httpc *h = userp;
    struct sock_ctx *sc = socketp;
    short kind;

    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (sc != NULL) {
            event_free(sc->ev);
            rw_free(sc);
            curl_multi_assign(h->multi, s, NULL);
        }
        return 0;
    }
    kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0) |
                   EV_PERSIST);
    if (sc == NULL) {
        sc = rw_calloc(1, sizeof(*sc));
        if (sc == NULL) {
            return -1;
        }
        sc->h = h;
        sc->ev = event_new(h->base, s, kind, on_sock_event, h);
        if (sc->ev == NULL) {
            rw_free(sc);
            return -1;
        }
        curl_multi_assign(h->multi, s, sc);
    } else {
        event_del(sc->ev);
        event_assign(sc->ev, h->base, s, kind, on_sock_event, h);
    }
    event_add(sc->ev, NULL);
    return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    struct rw_httpc *h = userp;
    struct timeval tv;

    (void)m;
    if (timeout_ms < 0) {
        evtimer_del(h->timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(h->timer, &tv);
    return 0;
}

static void on_reap(evutil_socket_t fd, short kind, void *arg)
{
    struct rw_httpc *h = arg;

    (void)fd;
    (void)kind;
    while (h->reap != NULL) {
        struct rw_xfer *x = h->reap;

        h->reap = x->reap_next;
        xfer_free(x);
    }
}

int rw_httpc_new(struct event_base *base, struct rw_httpc **out)
{
    struct rw_httpc *h = rw_calloc(1, sizeof(*h));

    if (h == NULL) {
        return -ENOMEM;
    }
    h->base = base;
    h->multi = curl_multi_init();
    h->timer = evtimer_new(base, on_timer_event, h);
    h->reap_ev = event_new(base, -1, 0, on_reap, h);
    if (h->multi == NULL || h->timer == NULL || h->reap_ev == NULL) {
        rw_httpc_free(&h);
        return -ENOMEM;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, 128L);
    *out = h;
    return 0;
}

void rw_httpc_free(struct rw_httpc **ph)
{
    struct rw_httpc *h = *ph;

    if (h == NULL) {
        return;
    }
    /* at exit: every transfer still in flight completes with an error, so its owner frees
     * what it holds (no leak reports, no callback after the loop is gone) */
    h->closing = true;
    while (h->live != NULL) {
        finish(h->live, CURLE_ABORTED_BY_CALLBACK);
    }
    on_reap(-1, 0, h);
    if (h->multi != NULL) {
        curl_multi_cleanup(h->multi);
    }
    if (h->timer != NULL) {
        event_free(h->timer);
    }
    if (h->reap_ev != NULL) {
        event_free(h->reap_ev);
    }
    rw_free(h);
    *ph = NULL;
}

struct event_base *rw_httpc_base(const struct rw_httpc *h)
{
    return h->base;
}

size_t rw_httpc_active(const struct rw_httpc *h)
{
    return h->active;
}

static size_t header_cb(char *buf, size_t size, size_t n, void *ud)
{
    struct rw_xfer *x = ud;
    size_t len = size * n;
    size_t e = len;
    const char *colon;

    if (x->cancelled) {
        return 0;
    }
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        const char *sp = memchr(buf, ' ', len);

        rw_hdrs_free(&x->hdrs);
        x->hdr_bytes = 0;
        x->status = 0;
        if (sp != NULL && (size_t)(sp - buf) + 4 <= len) {
            x->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
        }
        return len;
    }
    while (e > 0 && (buf[e - 1] == '\r' || buf[e - 1] == '\n')) {
        e--;
    }
    if (e == 0) {
        if (x->status >= 200 && !x->head_done) {
            x->head_done = true;
            if (x->fcb == NULL && x->cbs.on_headers != NULL &&
                x->cbs.on_headers(x->arg, x->status, &x->hdrs) != 0) {
                return 0;
            }
        }
        return len;
    }
    x->hdr_bytes += len;
    if (x->hdr_bytes > RW_MAX_UPSTREAM_HEADER_BYTES || x->hdrs.n >= 256) {
        x->too_big = true;
        return 0;
    }
    colon = memchr(buf, ':', e);
    if (colon == NULL || colon == buf) {
        return len; /* obs-fold or junk: ignored */
    }
    {
        const char *v = colon + 1;
        const char *ve = buf + e;
        struct rw_hdr *nv;

        while (v < ve && (*v == ' ' || *v == '\t')) {
            v++;
        }
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
            ve--;
        }
        nv = rw_realloc(x->hdrs.v, (x->hdrs.n + 1) * sizeof(*nv));
        if (nv == NULL) {
            return 0;
        }
        x->hdrs.v = nv;
        nv[x->hdrs.n].name = rw_strndup(buf, (size_t)(colon - buf));
        nv[x->hdrs.n].value = rw_strndup(v, (size_t)(ve - v));
        if (nv[x->hdrs.n].name == NULL || nv[x->hdrs.n].value == NULL) {
            rw_free(nv[x->hdrs.n].name);
            rw_free(nv[x->hdrs.n].value);
            return 0;
        }
        x->hdrs.n++;
    }
    return len;
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
    struct rw_xfer *x = ud;
    size_t len = size * n;
    bool pause = false;

    if (x->cancelled) {
        return 0;
    }
    if (x->fcb != NULL) {
        int rc = rw_buf_append(&x->in, p, len);

        if (rc != 0) {
            x->too_big = rc == RW_ETOOBIG;
            return 0;
        }
        return len;
    }
    if (x->cbs.on_data == NULL) {
        return len;
    }
    if (x->cbs.on_data(x->arg, (const uint8_t *)p, len, &pause) < 0) {
        return 0;
    }
    if (pause) {
        x->recv_paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    return len;
}

static size_t read_cb(char *buf, size_t size, size_t n, void *ud)
{
    struct rw_xfer *x = ud;
    size_t cap = size * n;
    size_t got = 0;

    if (x->cancelled) {
        return CURL_READFUNC_ABORT;
    }
    if (x->fcb != NULL) {
        got = x->up_len - x->up_off;
        if (got > cap) {
            got = cap;
        }
        memcpy(buf, x->up + x->up_off, got);
        x->up_off += got;
        return got;
    }
    switch (x->cbs.on_read(x->arg, (uint8_t *)buf, cap, &got)) {
    case RW_XFER_READ_DATA:
        return got;
    case RW_XFER_READ_PAUSE:
        x->send_paused = true;
        return CURL_READFUNC_PAUSE;
    case RW_XFER_READ_EOF:
    default:
        return got;
    }
}

static int setup(struct rw_httpc *h, const char *method, const char *url, const char *const *hdrs,
                 size_t n_hdrs, bool has_body, int64_t body_len, const char *ca_file,
                 struct rw_xfer *x)
{
    bool have_accept = false;
    bool have_ctype = false;
    CURL *e;

    x->h = h;
    x->easy = e = curl_easy_init();
    if (e == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n_hdrs; i++) {
        struct curl_slist *l = curl_slist_append(x->out_hdrs, hdrs[i]);

        if (l == NULL) {
            return -ENOMEM;
        }
        x->out_hdrs = l;
        have_accept |= strncasecmp(hdrs[i], "accept:", 7) == 0;
        have_ctype |= strncasecmp(hdrs[i], "content-type:", 13) == 0;
    }
    /* curl adds its own defaults unless told not to: we forward only what the client sent */
    const char *suppress[] = {"Expect:", have_accept ? NULL : "Accept:",
                              have_ctype ? NULL : "Content-Type:"};
    for (size_t i = 0; i < sizeof(suppress) / sizeof(suppress[0]); i++) {
        struct curl_slist *l;

        if (suppress[i] == NULL) {
            continue;
        }
        l = curl_slist_append(x->out_hdrs, suppress[i]);
        if (l == NULL) {
            return -ENOMEM;
        }
        x->out_hdrs = l;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->out_hdrs);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(e, CURLOPT_READDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)RW_UPSTREAM_CONNECT_TIMEOUT_MS);
    /* an idle timeout, not a total one: a slow but live transfer is never cut (C23) */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)RW_UPSTREAM_IDLE_TIMEOUT_S);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 128L * 1024L);
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 128L * 1024L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    if (ca_file != NULL) {
        curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
    }
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(has_body ? body_len : 0));
    } else if (strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(has_body ? body_len : 0));
        if (strcmp(method, "PATCH") == 0) {
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
        }
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    return 0;
}

static int add(struct rw_httpc *h, struct rw_xfer *x)
{
    if (h->closing) {
        return -ECANCELED;
    }
    if (curl_multi_add_handle(h->multi, x->easy) != CURLM_OK) {
        return RW_EINTERNAL;
    }
    x->in_multi = true;
    h->active++;
    x->live_next = h->live;
    if (h->live != NULL) {
        h->live->live_pprev = &x->live_next;
    }
    h->live = x;
    x->live_pprev = &h->live;
    return 0;
}

int rw_xfer_start(struct rw_httpc *h, const struct rw_xfer_req *req, const struct rw_xfer_cbs *cbs,
                  void *arg, struct rw_xfer **out)
{
    struct rw_xfer *x = rw_calloc(1, sizeof(*x));
    int rc;

    if (x == NULL) {
        return -ENOMEM;
    }
    rw_buf_init(&x->in, 0);
    x->cbs = *cbs;
    x->arg = arg;
    rc = setup(h, req->method, req->url, req->headers, req->n_headers, req->has_body,
               req->has_body ? req->body_len : 0, req->ca_file, x);
    if (rc == 0) {
        rc = add(h, x);
    }
    if (rc != 0) {
        xfer_free(x);
        return rc;
    }
    *out = x;
    return 0;
}

int rw_fetch_start(struct rw_httpc *h, const struct rw_fetch_req *req, rw_fetch_cb *cb, void *arg,
                   struct rw_xfer **out)
{
    struct rw_xfer *x = rw_calloc(1, sizeof(*x));
    int rc;

    if (x == NULL) {
        return -ENOMEM;
    }
    rw_buf_init(&x->in, req->max);
    x->fcb = cb;
    x->farg = arg;
    if (req->has_body && req->body_len > 0) {
        x->up = rw_malloc(req->body_len);
        if (x->up == NULL) {
            xfer_free(x);
            return -ENOMEM;
        }
        memcpy(x->up, req->body, req->body_len);
        x->up_len = req->body_len;
    }
    rc = setup(h, req->method, req->url, req->headers, req->n_headers, req->has_body,
               (int64_t)req->body_len, req->ca_file, x);
    if (rc == 0 && req->timeout_ms > 0) {
        curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, req->timeout_ms);
        if (req->timeout_ms < RW_UPSTREAM_CONNECT_TIMEOUT_MS) {
            curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, req->timeout_ms);
        }
    }
    if (rc == 0 && req->unix_socket != NULL) {
        curl_easy_setopt(x->easy, CURLOPT_UNIX_SOCKET_PATH, req->unix_socket);
    }
    if (rc == 0 && req->h2_prior_knowledge) {
        curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
        /* one connection per call: reusing an idle prior-knowledge connection to the grpcio
         * server fails in curl 7.88 ("Error in the HTTP2 framing layer"); calls are rare */
        curl_easy_setopt(x->easy, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(x->easy, CURLOPT_FORBID_REUSE, 1L);
    }
    if (rc == 0) {
        rc = add(h, x);
    }
    if (rc != 0) {
        xfer_free(x);
        return rc;
    }
    if (out != NULL) {
        *out = x;
    }
    return 0;
}

static void unpause(struct rw_xfer *x)
{
    int mask = (x->recv_paused ? CURLPAUSE_RECV : 0) | (x->send_paused ? CURLPAUSE_SEND : 0);

    curl_easy_pause(x->easy, mask);
}

void rw_xfer_resume_recv(struct rw_xfer *x)
{
    if (x == NULL || x->cancelled || !x->recv_paused) {
        return;
    }
    x->recv_paused = false;
    unpause(x);
}

void rw_xfer_resume_send(struct rw_xfer *x)
{
    if (x == NULL || x->cancelled || !x->send_paused) {
        return;
    }
    x->send_paused = false;
    unpause(x);
}

void rw_xfer_cancel(struct rw_xfer **px)
{
    struct rw_xfer *x = *px;

    if (x == NULL) {
        return;
    }
    *px = NULL;
    if (x->cancelled) {
        return;
    }
    x->cancelled = true;
    x->reap_next = x->h->reap;
    x->h->reap = x;
    event_active(x->h->reap_ev, 0, 0);
}

const struct rw_hdrs *rw_xfer_headers(const struct rw_xfer *x)
{
    return &x->hdrs;
}

int rw_xfer_status(const struct rw_xfer *x)
{
    return x->status;
}
