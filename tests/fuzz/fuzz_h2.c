/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the HTTP/2 server glue (proxy/h2.c) the way nghttp2's own fuzzer does: a server session
 * fed from memory. The input is the client's byte stream (the h2c preface is prepended when
 * missing); a fake route answers every request, reads request bodies, streams a response with
 * backpressure and sometimes aborts, so dispatch, flow control, stream close and teardown paths
 * all run. Server-side symbols the glue calls (config, routes, metrics) are stubbed here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "rw/mem.h"
#include "h2.h"
#include "proxy.h"

struct rw_config *rw_server_config(struct rw_server *s)
{
    (void)s;
    return NULL;
}

void rw_config_unref(struct rw_config **pc)
{
    *pc = NULL; /* rw_server_config() above never hands one out */
}

void rw_req_new_id(char out[33])
{
    memset(out, 'f', 32);
    out[32] = '\0';
}

void rw_metrics_request(const char *method, enum rw_route route, int status)
{
    (void)method;
    (void)route;
    (void)status;
}

void rw_routes_dispatch(struct rw_req *r)
{
    (void)r;
}

void rw_req_error(struct rw_req *r, int status, const char *code, const char *message)
{
    bool blocked;

    (void)code;
    r->io->send_head(r, status, NULL, 0, (int64_t)strlen(message));
    r->io->send_data(r, (const uint8_t *)message, strlen(message), &blocked);
    r->io->send_end(r);
}

static void fake_body(struct rw_req *r)
{
    uint8_t buf[4096];
    size_t n = 0;
    enum rw_xfer_read st;

    while ((st = r->io->read_body(r, buf, sizeof(buf), &n)) == RW_XFER_READ_DATA) {
    }
    if (st == RW_XFER_READ_EOF) {
        static const uint8_t chunk[8192];
        bool blocked = false;
        struct rw_hdr h[2] = {{"Content-Type", "application/json"}, {"Connection", "close"}};

        r->on_body_ready = NULL;
        r->io->send_head(r, 200, h, 2, -1);
        for (int i = 0; i < 80 && !blocked; i++) {
            r->io->send_data(r, chunk, sizeof(chunk), &blocked);
        }
        if (r->target[0] != '\0' && r->target[strlen(r->target) - 1] == 'x') {
            r->io->abort(r);
        } else {
            r->io->send_end(r);
        }
    }
}

static void fake_close(struct rw_req *r)
{
    r->on_body_ready = NULL;
}

static void fake_dispatch(struct rw_req *r)
{
    r->on_close = fake_close;
    r->on_body_ready = fake_body;
    fake_body(r);
}

static void on_done(void *arg)
{
    *(bool *)arg = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct event_base *base = event_base_new();
    struct evbuffer *in = evbuffer_new();
    struct evbuffer *out = evbuffer_new();
    struct rw_worker w;
    struct rw_h2 *h = NULL;
    bool done = false;
    struct rw_h2_host host;

    memset(&w, 0, sizeof(w));
    w.base = base;
    memset(&host, 0, sizeof(host));
    host.w = &w;
    host.conn_id = 1;
    host.peer = "fuzz";
    host.identity = size > 0 && (data[0] & 1) ? "spiffe://example.org/fuzz" : NULL;
    host.in = in;
    host.out = out;
    host.on_done = on_done;
    host.dispatch = fake_dispatch;
    host.arg = &done;
    if (size < RW_H2_PREFACE_LEN || memcmp(data, RW_H2_PREFACE, RW_H2_PREFACE_LEN) != 0) {
        evbuffer_add(in, RW_H2_PREFACE, RW_H2_PREFACE_LEN);
    }
    if (base != NULL && in != NULL && out != NULL && rw_h2_new(&host, &h) == 0) {
        /* feed in slices so frames straddle reads, draining our output as a client would */
        for (size_t off = 0; off < size && !done; off += 997) {
            size_t n = size - off < 997 ? size - off : 997;

            evbuffer_add(in, data + off, n);
            rw_h2_on_read(h);
            event_base_loop(base, EVLOOP_NONBLOCK);
            evbuffer_drain(out, evbuffer_get_length(out));
            rw_h2_on_write(h);
            event_base_loop(base, EVLOOP_NONBLOCK);
        }
        for (int i = 0; i < 4 && !done; i++) {
            evbuffer_drain(out, evbuffer_get_length(out));
            rw_h2_on_write(h);
            event_base_loop(base, EVLOOP_NONBLOCK);
        }
        rw_h2_drain(h);
        event_base_loop(base, EVLOOP_NONBLOCK);
        rw_h2_detach(h);
        rw_h2_free(&h);
    }
    if (in != NULL) {
        evbuffer_free(in);
    }
    if (out != NULL) {
        evbuffer_free(out);
    }
    if (base != NULL) {
        event_base_free(base);
    }
    return 0;
}
