/* SPDX-License-Identifier: MIT */
/*
 * Minimal gRPC client framing (PROTOCOLS.md §8.3) for unary calls. Transport choice: libcurl
 * (through base/httpc, the one libcurl file, R5) with CURLOPT_UNIX_SOCKET_PATH and HTTP/2 prior
 * knowledge; libcurl hands HTTP/2 trailers to the header callback, so grpc-status arrives with
 * the headers of the buffered fetch. It already runs on our loop (R11), so no second HTTP/2
 * stack is needed. Fuzzed (fuzz_grpc).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rw/buf.h"
#include "rw/err.h"
#include "rw/identity.h"
#include "rw/mem.h"

int rw_id_grpc_frame(const uint8_t *msg, size_t n, struct rw_buf *out)
{
    uint8_t hdr[5] = {0, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    int rc;

    if (n > RW_ID_PB_MAX_MSG) {
        return RW_ETOOBIG;
    }
    rc = rw_buf_append(out, hdr, sizeof(hdr));
    return rc != 0 || n == 0 ? rc : rw_buf_append(out, msg, n);
}

int rw_id_grpc_unframe(const uint8_t *p, size_t n, const uint8_t **msg, size_t *msglen)
{
    uint32_t len;

    if (n == 0) {
        return -ENOENT;
    }
    if (n < 5) {
        return RW_EPROTO;
    }
    if (p[0] != 0) {
        return RW_EPROTO; /* we never offer grpc-accept-encoding: a compressed reply is wrong */
    }
    len = ((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) | p[4];
    if (len > RW_ID_PB_MAX_MSG) {
        return RW_ETOOBIG;
    }
    if ((size_t)len != n - 5) {
        return RW_EPROTO; /* truncated, or more than the one message of a unary reply */
    }
    *msg = p + 5;
    *msglen = len;
    return 0;
}

int rw_id_grpc_status(const struct rw_hdrs *h, int *code, char *msg, size_t cap)
{
    const char *st = rw_hdrs_get(h, "grpc-status");
    const char *m = rw_hdrs_get(h, "grpc-message");
    long v = 0;
    size_t o = 0;

    if (cap > 0) {
        msg[0] = '\0';
    }
    if (st == NULL || st[0] == '\0' || strlen(st) > 3) {
        return RW_EPROTO;
    }
    for (const char *p = st; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return RW_EPROTO;
        }
        v = v * 10 + (*p - '0');
    }
    *code = (int)v;
    for (size_t i = 0; m != NULL && m[i] != '\0' && o + 1 < cap; i++) {
        char c = m[i];

        if (c == '%' && rw_buf_hex_digit(m[i + 1]) >= 0 &&
            rw_buf_hex_digit(m[i + 2]) >= 0) {
            c = (char)(rw_buf_hex_digit(m[i + 1]) * 16 + rw_buf_hex_digit(m[i + 2]));
            i += 2;
        }
        /* printable only: the message goes to a log line */
        msg[o++] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    if (cap > 0) {
        msg[o] = '\0';
    }
    return 0;
}

const char *rw_id_grpc_code_str(int code)
{
    static const char *const names[] = {
        "OK",           "Cancelled",         "Unknown",          "InvalidArgument",
        "DeadlineExceeded", "NotFound",      "AlreadyExists",    "PermissionDenied",
        "ResourceExhausted", "FailedPrecondition", "Aborted",    "OutOfRange",
        "Unimplemented", "Internal",         "Unavailable",      "DataLoss",
        "Unauthenticated"};

    if (code < 0 || (size_t)code >= sizeof(names) / sizeof(names[0])) {
        return "?";
    }
    return names[code];
}

static void on_fetch(void *arg, int rc, int status, const struct rw_hdrs *h, const uint8_t *body,
                     size_t len)
{
    struct rw_id_grpc_call *c = arg;
    int code = 0;
    char msg[256] = "";
    const uint8_t *m = NULL;
    size_t mlen = 0;

    c->x = NULL;
    if (rc != 0) {
        c->cb(c->arg, rc == RW_ETOOBIG ? RW_ETOOBIG : RW_EUNAVAIL, 0, "", NULL, 0);
        return;
    }
    if (status != 200 || rw_id_grpc_status(h, &code, msg, sizeof(msg)) != 0) {
        snprintf(msg, sizeof(msg), "not a gRPC reply (HTTP %d, no grpc-status)", status);
        c->cb(c->arg, RW_EPROTO, 0, msg, NULL, 0);
        return;
    }
    if (code != 0) {
        c->cb(c->arg, 0, code, msg, NULL, 0);
        return;
    }
    rc = rw_id_grpc_unframe(body, len, &m, &mlen);
    c->cb(c->arg, rc, 0, msg, m, mlen);
}

int rw_id_grpc_start(struct rw_httpc *h, const char *socket_path, const char *path,
                     const uint8_t *req, size_t n, long timeout_ms, struct rw_id_grpc_call *call)
{
    static const char *const hdrs[] = {"Content-Type: application/grpc+proto", "TE: trailers",
                                       "workload.spiffe.io: true", "User-Agent: regwarden"};
    struct rw_fetch_req fr = {0};
    struct rw_buf body;
    char *url = NULL;
    int rc;

    rw_buf_init(&body, 0);
    rc = rw_id_grpc_frame(req, n, &body);
    if (rc != 0) {
        goto out;
    }
    url = rw_asprintf("http://localhost%s", path);
    if (url == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    fr.method = "POST";
    fr.url = url;
    fr.headers = hdrs;
    fr.n_headers = sizeof(hdrs) / sizeof(hdrs[0]);
    fr.body = body.data;
    fr.body_len = body.len;
    fr.has_body = true;
    fr.max = RW_ID_PB_MAX_MSG + 5;
    fr.timeout_ms = timeout_ms;
    fr.unix_socket = socket_path;
    fr.h2_prior_knowledge = true;
    rc = rw_fetch_start(h, &fr, on_fetch, call, &call->x);
out:
    rw_free(url);
    rw_buf_fini(&body);
    return rc;
}
