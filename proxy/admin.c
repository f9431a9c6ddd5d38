/* SPDX-License-Identifier: MIT */
/* The admin listener: GET /metrics, /healthz, /readyz (libevent's small HTTP server). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "rw/buf.h"
#include "rw/identity.h"
#include "rw/log.h"
#include "proxy.h"

static void reply(struct evhttp_request *req, int code, const char *ctype, const char *body,
                  size_t len)
{
    struct evbuffer *b = evbuffer_new();

    if (b == NULL) {
        evhttp_send_error(req, 503, NULL);
        return;
    }
    evbuffer_add(b, body, len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Service Unavailable", b);
    evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct rw_worker *w = arg;
    struct rw_server *s = w->srv;
    const char *path = evhttp_request_get_uri(req);

    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
        evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
        evhttp_send_error(req, 405, NULL);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        struct rw_buf b;

        rw_buf_init(&b, 0);
        if (rw_metrics_render(s, &b) != 0) {
            rw_buf_fini(&b);
            evhttp_send_error(req, 503, NULL);
            return;
        }
        reply(req, 200, "text/plain; version=0.0.4", (const char *)b.data, b.len);
        rw_buf_fini(&b);
    } else if (strcmp(path, "/healthz") == 0) {
        reply(req, 200, "text/plain", "ok\n", 3);
    } else if (strcmp(path, "/readyz") == 0) {
        struct rw_config *cfg = rw_server_config(s);
        bool ready = cfg != NULL && !atomic_load(&s->draining) &&
                     (cfg->cache.path == NULL || s->cache != NULL);
        const char *why = "ok\n";
        char idwhy[512];
        char idline[540];

        if (cfg != NULL && cfg->n_push > 0 && cfg->signer == NULL) {
            ready = false;
            why = "no usable signer\n";
        } else if (ready && cfg->signer_cfg.vault != NULL &&
                   !rw_id_ready(s->id, idwhy, sizeof(idwhy))) {
            /* no SVID or no Vault token: pushes would 503; pulls still work from known keys */
            ready = false;
            snprintf(idline, sizeof(idline), "no usable signer: %s\n", idwhy);
            why = idline;
        } else if (!ready) {
            why = "not ready\n";
        }
        rw_config_unref(&cfg);
        reply(req, ready ? 200 : 503, "text/plain", why, strlen(why));
    } else {
        evhttp_send_error(req, 404, NULL);
    }
}

int rw_admin_start(struct rw_worker *w, const char *address)
{
    struct evhttp *http = evhttp_new(w->base);
    char host[256];
    const char *colon = strrchr(address, ':');
    size_t hl;

    if (http == NULL || colon == NULL) {
        if (http != NULL) {
            evhttp_free(http);
        }
        return -1;
    }
    hl = (size_t)(colon - address);
    if (hl >= sizeof(host)) {
        evhttp_free(http);
        return -1;
    }
    memcpy(host, address, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl > 2) {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    evhttp_set_gencb(http, on_request, w);
    if (evhttp_bind_socket(http, host, (ev_uint16_t)strtoul(colon + 1, NULL, 10)) != 0) {
        rw_log_err(PROXY, "cannot listen on admin address %s", address);
        evhttp_free(http);
        return -1;
    }
    w->admin = http;
    rw_log_info(PROXY, "admin listening on %s", address);
    return 0;
}

void rw_admin_stop(struct rw_worker *w)
{
    if (w->admin != NULL) {
        evhttp_free(w->admin);
        w->admin = NULL;
    }
}
