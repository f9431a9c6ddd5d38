/* SPDX-License-Identifier: MIT */
/*
 * The push hook: a manifest PUT under a push rule with sign: true. The manifest (<= 4 MiB) is
 * read whole, validated (every descriptor digest, C26), forwarded; on the upstream's 201 the
 * sha256 of the exact bytes is signed (cosign simple-signing), the payload and config blobs are
 * uploaded and the signature manifest `sha256-<hex>.sig` is written (appending to an existing
 * one as its newest layer, C18) with the client's own Authorization. With attest: true on the
 * push rule, an in-toto SLSA provenance v1 statement is then signed by the same signer (over the
 * DSSE PAE) and stored the same way as `sha256-<hex>.att` (envelope blob, config blob,
 * manifest). Only then does the client get the upstream's 201 (invariant 3). Any failure after
 * the upstream accepted the manifest is a 5xx, so the client retries and the retry signs (and
 * attests) again. A manifest with a `subject` (an OCI referrer: evidence about another manifest)
 * is forwarded and the upstream's answer relayed, unsigned; evidence tags never reach this file
 * (routes.c forwards them).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rw/err.h"
#include "rw/identity.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "rw_version.h"
#include "proxy.h"
#include "upstream_auth.h"

enum push_step {
    PS_BODY = 0,
    PS_FORWARD,
    PS_SIGN,
    PS_GET_SIG,
    PS_BLOB_POST,
    PS_BLOB_PUT,
    PS_SIG_PUT,
    PS_ATTEST,
    PS_STEP_COUNT
};

static const char *const step_names[PS_STEP_COUNT] = {
    "read manifest", "forward manifest", "sign", "read existing signatures",
    "start blob upload", "upload blob", "store signature manifest", "sign attestation"};

struct push {
    struct rw_req *r;                 /* borrowed until the response ends */
    const struct rw_push_rule *rule;  /* borrowed: kept alive by r->cfg */
    enum push_step step;
    struct rw_buf body;               /* the client's manifest */
    struct rw_xfer *x;                /* owned; the current upstream request */
    char **fwd_hdrs;                  /* owned */
    size_t n_fwd_hdrs;
    char *auth;                       /* owned, secret; "Authorization: ..." or NULL: the
                                       * client's, or regwarden's own (upstreams.<name>.auth) */
    struct rw_upauth_wait *auth_wait; /* owned; waiting for regwarden's own credentials */
    struct rw_hdrs up201;             /* owned copy of the upstream's 2xx headers */
    int up_status;                    /* that 2xx (201 from every registry that follows the spec) */
    char digest[72];
    char sig_tag[80];
    struct rw_buf payload;
    char payload_digest[72];
    struct rw_buf sig_b64;
    char key_version[64];
    struct rw_signer_op *sop;         /* owned: cancelled in push_free (Vault signs async) */
    struct rw_buf config;
    char config_digest[72];
    struct rw_buf sig_manifest;
    int blob;                         /* 0: payload (or envelope), 1: config */
    /* The attachment being stored: false = .sig (payload = simple-signing payload), true = .att
     * (payload = DSSE envelope). The upload steps are the same for both. */
    bool att;
    bool attachment; /* the manifest has a `subject`: a referrer, relayed unsigned */
    char tag[80];                     /* sig_tag, then att_tag */
    char att_tag[80];
    struct rw_buf statement;          /* the in-toto statement (att) */
    int64_t started;                  /* unix seconds the push began (provenance startedOn) */
};

static void push_free(struct push *ps)
{
    rw_xfer_cancel(&ps->x);
    rw_signer_cancel(&ps->sop);
    rw_upauth_cancel(&ps->auth_wait);
    rw_buf_fini(&ps->body);
    rw_upstream_headers_free(&ps->fwd_hdrs, ps->n_fwd_hdrs);
    if (ps->auth != NULL) {
        explicit_bzero(ps->auth, strlen(ps->auth));
    }
    rw_free(ps->auth);
    rw_hdrs_free(&ps->up201);
    rw_buf_fini(&ps->payload);
    rw_buf_fini(&ps->sig_b64);
    rw_buf_fini(&ps->config);
    rw_buf_fini(&ps->sig_manifest);
    rw_buf_fini(&ps->statement);
    rw_free(ps);
}

static struct rw_req *detach(struct push *ps)
{
    struct rw_req *r = ps->r;

    r->route_ctx = NULL;
    r->on_body_ready = NULL;
    r->on_close = NULL;
    push_free(ps);
    return r;
}

static void on_close(struct rw_req *r)
{
    struct push *ps = r->route_ctx;

    rw_log_warn(PROXY, "conn=%" PRIu64 " req=%s client left during push of %s/%s (%s)",
                r->conn_id, r->id, r->up->name, r->m.repo, step_names[ps->step]);
    detach(ps);
}

/* After the upstream accepted the manifest: 500, nothing reported signed. */
static void sign_failed(struct push *ps, const char *why)
{
    struct rw_req *r = ps->r;
    char msg[400];

    rw_metrics_signature("error");
    rw_log_err(PROXY, "conn=%" PRIu64 " req=%s signing %s/%s@%s failed at '%s'%s: %s", r->conn_id,
               r->id, r->up->name, r->m.repo, ps->digest, step_names[ps->step],
               ps->att ? " (attestation)" : "", why);
    snprintf(msg, sizeof(msg), "manifest stored upstream but not %s (%s: %s); retry the push",
             ps->att ? "attested" : "signed", step_names[ps->step], why);
    detach(ps);
    rw_req_error(r, 500, "UNKNOWN", msg);
}

/*
 * The signer itself failed (Vault/SPIRE down, slow, 5xx, refused): 503 with Retry-After and an
 * OCI error body. Nothing was uploaded yet, so no half-written signature exists; the client's
 * retry forwards the same manifest and signs the same digest.
 */
static void signer_failed(struct push *ps, int rc)
{
    static const struct rw_hdr retry[] = {{"Retry-After", "5"}};
    struct rw_req *r = ps->r;
    char msg[400];

    rw_metrics_signature("error");
    rw_log_err(PROXY, "conn=%" PRIu64 " req=%s signing %s/%s@%s with signer %s failed: %s",
               r->conn_id, r->id, r->up->name, r->m.repo, ps->digest,
               rw_signer_name(r->cfg->signer), rw_strerror(rc));
    snprintf(msg, sizeof(msg), "manifest stored upstream but not %s: %s; retry the push",
             ps->step == PS_ATTEST ? "attested" : "signed", rw_strerror(rc));
    detach(ps);
    rw_req_error_hdrs(r, 503, "UNAVAILABLE", msg, retry, 1);
}

static int start_fetch(struct push *ps, const char *method, const char *url, const char *ctype,
                       const uint8_t *body, size_t len, bool has_body, size_t max, rw_fetch_cb *cb)
{
    const char *hdrs[4];
    char *h_ctype = NULL;
    size_t n = 0;
    struct rw_fetch_req req = {0};
    int rc;

    hdrs[n++] = "User-Agent: regwarden/" RW_VERSION;
    if (ps->auth != NULL) {
        hdrs[n++] = ps->auth;
    }
    if (ctype != NULL) {
        h_ctype = rw_asprintf("%s", ctype);
        if (h_ctype == NULL) {
            return -ENOMEM;
        }
        hdrs[n++] = h_ctype;
    }
    req.method = method;
    req.url = url;
    req.ca_file = ps->r->up->ca;
    req.headers = hdrs;
    req.n_headers = n;
    req.body = body;
    req.body_len = len;
    req.has_body = has_body;
    req.max = max;
    rc = rw_fetch_start(ps->r->w->httpc, &req, cb, ps, &ps->x);
    rw_free(h_ctype);
    return rc;
}

static void answer_client(struct push *ps)
{
    struct rw_req *r = ps->r;
    struct rw_hdr h[64];
    char *rewritten = NULL;
    size_t n = 0;
    struct rw_signed_event e = {0};
    const char *version = ps->key_version;

    rw_metrics_signature("signed");
    e.request_id = r->id;
    e.client_addr = r->client_addr;
    e.identity = r->identity;
    e.user_agent = rw_req_header(r, "User-Agent");
    e.registry = r->up->name;
    e.repository = r->m.repo;
    e.reference = r->m.reference;
    e.digest = ps->digest;
    e.rule = ps->rule->match;
    e.key = rw_signer_name(r->cfg->signer);
    e.key_version = version;
    e.signature = ps->sig_tag;
    if (r->w->srv->denylog != NULL) {
        rw_denylog_signed(r->w->srv->denylog, &e);
    }
    rw_log_info(PROXY, "conn=%" PRIu64 " req=%s signed %s/%s@%s key=%s version=%s%s%s", r->conn_id,
                r->id, r->up->name, r->m.repo, ps->digest, e.key, version,
                ps->att ? " attestation=" : "", ps->att ? ps->att_tag : "");
    for (size_t i = 0; i < ps->up201.n && n < 64; i++) {
        const struct rw_hdr *u = &ps->up201.v[i];
        char *value = u->value;

        if (!rw_upstream_resp_header_ok(u->name)) {
            continue;
        }
        if (strcasecmp(u->name, "Location") == 0 && rewritten == NULL) {
            rewritten = rw_upstream_rewrite_location(r->up, u->value);
            if (rewritten != NULL) {
                value = rewritten;
            }
        }
        h[n++] = (struct rw_hdr){u->name, value};
    }
    /* headers point into ps->up201: send before freeing */
    r->route_ctx = NULL;
    r->on_body_ready = NULL;
    r->on_close = NULL;
    r->io->send_head(r, ps->up_status, h, n, 0);
    push_free(ps);
    rw_free(rewritten);
    r->io->send_end(r);
}

static void on_sig_put(void *arg, int rc, int status, const struct rw_hdrs *h, const uint8_t *body,
                       size_t len);
static void upload_next_blob(struct push *ps);
static void attest(struct push *ps);

static void on_blob_put(void *arg, int rc, int status, const struct rw_hdrs *h,
                        const uint8_t *body, size_t len)
{
    struct push *ps = arg;
    char why[128];
    char *url = NULL;

    (void)h;
    (void)body;
    (void)len;
    ps->x = NULL;
    if (rc != 0 || status != 201) {
        snprintf(why, sizeof(why), "upstream answered %d (%s)", status, rw_strerror(rc));
        sign_failed(ps, why);
        return;
    }
    ps->blob++;
    if (ps->blob < 2) {
        upload_next_blob(ps);
        return;
    }
    ps->step = PS_SIG_PUT;
    url = rw_upstream_url_for(ps->r->up, ps->r->m.repo, "manifests", ps->tag);
    rc = url == NULL ? -ENOMEM
                     : start_fetch(ps, "PUT", url, "Content-Type: " RW_MT_OCI_MANIFEST,
                                   ps->sig_manifest.data, ps->sig_manifest.len, true, 64 * 1024,
                                   on_sig_put);
    rw_free(url);
    if (rc != 0) {
        sign_failed(ps, rw_strerror(rc));
    }
}

static void on_blob_post(void *arg, int rc, int status, const struct rw_hdrs *h,
                         const uint8_t *body, size_t len)
{
    struct push *ps = arg;
    const char *loc = rw_hdrs_get(h, "Location");
    char *abs = NULL;
    char *url = NULL;
    const struct rw_buf *blob = ps->blob == 0 ? &ps->payload : &ps->config;
    const char *digest = ps->blob == 0 ? ps->payload_digest : ps->config_digest;
    char why[128];

    (void)body;
    (void)len;
    ps->x = NULL;
    if (rc != 0 || status != 202 || loc == NULL) {
        snprintf(why, sizeof(why), "upload start answered %d (%s)", status, rw_strerror(rc));
        sign_failed(ps, why);
        return;
    }
    /* credentials go to the upstream's own origin only */
    abs = rw_upstream_resolve(ps->r->up, loc);
    if (abs == NULL) {
        sign_failed(ps, "upload location points outside the upstream");
        return;
    }
    url = rw_asprintf("%s%sdigest=%s", abs, strchr(abs, '?') != NULL ? "&" : "?", digest);
    ps->step = PS_BLOB_PUT;
    rc = url == NULL ? -ENOMEM
                     : start_fetch(ps, "PUT", url, "Content-Type: application/octet-stream",
                                   blob->data, blob->len, true, 64 * 1024, on_blob_put);
    rw_free(abs);
    rw_free(url);
    if (rc != 0) {
        sign_failed(ps, rw_strerror(rc));
    }
}

static void upload_next_blob(struct push *ps)
{
    char *url = rw_asprintf("%s/v2/%s/blobs/uploads/", ps->r->up->url, ps->r->m.repo);
    int rc;

    ps->step = PS_BLOB_POST;
    rc = url == NULL ? -ENOMEM
                     : start_fetch(ps, "POST", url, NULL, NULL, 0, false, 64 * 1024, on_blob_post);
    rw_free(url);
    if (rc != 0) {
        sign_failed(ps, rw_strerror(rc));
    }
}

static void on_sig_put(void *arg, int rc, int status, const struct rw_hdrs *h, const uint8_t *body,
                       size_t len)
{
    struct push *ps = arg;
    char why[160];

    (void)h;
    ps->x = NULL;
    if (rc != 0 || status != 201) {
        snprintf(why, sizeof(why), "upstream answered %d (%s): %.*s", status, rw_strerror(rc),
                 (int)(len > 80 ? 80 : len), body != NULL ? (const char *)body : "");
        sign_failed(ps, why);
        return;
    }
    if (!ps->att && ps->rule->attest) {
        attest(ps); /* invariant 3: the attestation is stored before the client hears 201 */
        return;
    }
    answer_client(ps);
}

/* 404 with MANIFEST_UNKNOWN / NAME_UNKNOWN / any other 404 body = no signature yet (C18). */
static void on_existing_sig(void *arg, int rc, int status, const struct rw_hdrs *h,
                            const uint8_t *body, size_t len)
{
    struct push *ps = arg;
    char why[128];
    int brc;

    (void)h;
    ps->x = NULL;
    if (rc != 0 || (status != 200 && status != 404)) {
        snprintf(why, sizeof(why), "upstream answered %d (%s)", status, rw_strerror(rc));
        sign_failed(ps, why);
        return;
    }
    {
        /* which key version signed (e.g. "vault:v2"), as in the signed log line; an
         * attestation layer carries its predicate type and an empty cosign signature
         * annotation (the signature is inside the envelope), PROTOCOLS.md §5.5 */
        const char *ann[4] = {"dev.regwarden/key-version", ps->key_version, NULL, NULL};
        struct rw_cosign_layer_desc d = {
            .media_type = RW_MT_SIMPLESIGNING,
            .digest = ps->payload_digest,
            .size = ps->payload.len,
            .max_size = RW_MAX_PAYLOAD_BYTES,
            .sig_b64 = (const char *)ps->sig_b64.data,
            .ann_kv = ann,
            .n_ann = ps->key_version[0] != '\0',
        };

        if (ps->att) {
            ann[0] = RW_ANN_PREDICATE;
            ann[1] = RW_SLSA_PROVENANCE_V1;
            ann[2] = "dev.regwarden/key-version";
            ann[3] = ps->key_version;
            d.media_type = RW_MT_DSSE_ENVELOPE;
            d.max_size = RW_MAX_ENVELOPE_BYTES;
            d.sig_b64 = "";
            d.n_ann = ps->key_version[0] != '\0' ? 2 : 1;
        }
        brc = rw_cosign_attach_manifest_build(status == 200 ? body : NULL, status == 200 ? len : 0,
                                              &d, &ps->config, &ps->sig_manifest);
    }
    if (brc != 0) {
        snprintf(why, sizeof(why), "cannot build the signature manifest: %s", rw_strerror(brc));
        sign_failed(ps, why);
        return;
    }
    rw_sha256_digest(ps->config.data, ps->config.len, ps->config_digest);
    ps->blob = 0;
    upload_next_blob(ps);
}

static void store_attachment(struct push *ps);

static void on_signed(void *arg, int rc, const uint8_t *sig, size_t siglen, const char *key_version)
{
    struct push *ps = arg;

    ps->sop = NULL;
    if (rc != 0) {
        signer_failed(ps, rc);
        return;
    }
    snprintf(ps->key_version, sizeof(ps->key_version), "%s",
             key_version != NULL ? key_version : "");
    rc = rw_base64_encode(sig, siglen, &ps->sig_b64);
    if (rc != 0) {
        sign_failed(ps, rw_strerror(rc));
        return;
    }
    store_attachment(ps);
}

/* Read the current ps->tag manifest (to append to it), then upload blobs and write it. */
static void store_attachment(struct push *ps)
{
    char *url = NULL;
    int rc;

    ps->step = PS_GET_SIG;
    url = rw_upstream_url_for(ps->r->up, ps->r->m.repo, "manifests", ps->tag);
    if (url == NULL) {
        sign_failed(ps, rw_strerror(-ENOMEM));
        return;
    }
    {
        const char *hdrs[3];
        size_t n = 0;
        struct rw_fetch_req req = {0};

        hdrs[n++] = "Accept: " RW_MT_OCI_MANIFEST ", " RW_MT_DOCKER_MANIFEST;
        hdrs[n++] = "User-Agent: regwarden/" RW_VERSION;
        if (ps->auth != NULL) {
            hdrs[n++] = ps->auth;
        }
        req.method = "GET";
        req.url = url;
        req.ca_file = ps->r->up->ca;
        req.headers = hdrs;
        req.n_headers = n;
        req.max = RW_MAX_SIG_MANIFEST_BYTES;
        rc = rw_fetch_start(ps->r->w->httpc, &req, on_existing_sig, ps, &ps->x);
    }
    rw_free(url);
    if (rc != 0) {
        sign_failed(ps, rw_strerror(rc));
    }
}

/* The attestation is signed: wrap it in its envelope and store it like the signature. */
static void on_att_signed(void *arg, int rc, const uint8_t *sig, size_t siglen,
                          const char *key_version)
{
    struct push *ps = arg;

    ps->sop = NULL;
    if (rc != 0) {
        signer_failed(ps, rc);
        return;
    }
    snprintf(ps->key_version, sizeof(ps->key_version), "%s",
             key_version != NULL ? key_version : "");
    ps->att = true;
    snprintf(ps->tag, sizeof(ps->tag), "%s", ps->att_tag);
    rw_buf_reset(&ps->payload);
    rw_buf_reset(&ps->config);
    rw_buf_reset(&ps->sig_manifest);
    rc = rw_dsse_envelope_build(RW_DSSE_INTOTO_TYPE, ps->statement.data, ps->statement.len, sig,
                                siglen, &ps->payload);
    if (rc != 0) {
        sign_failed(ps, rw_strerror(rc));
        return;
    }
    rw_sha256_digest(ps->payload.data, ps->payload.len, ps->payload_digest);
    store_attachment(ps);
}

/* A SPIFFE ID as the agent served it, fit to be the builder id: "spiffe://" and printable
 * ASCII without quotes or backslashes (the statement is JSON; the agent is not trusted to be
 * tidy). */
static bool spiffe_id_usable(const char *s)
{
    if (strncmp(s, "spiffe://", 9) != 0 || s[9] == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '"' || *s == '\\') {
            return false;
        }
    }
    return true;
}

/*
 * runDetails.builder.id: provenance.builder_id when configured; else regwarden's own SPIFFE ID
 * once the SPIRE agent has served a JWT-SVID (signer.vault with jwt auth fetches it; until the
 * first one arrives the constant is used); else RW_ATTEST_BUILDER_ID. @p buf holds the copy.
 */
static const char *builder_id(const struct rw_req *r, char *buf, size_t cap)
{
    if (r->cfg->provenance.builder_id != NULL) {
        return r->cfg->provenance.builder_id;
    }
    if (rw_id_spiffe_id(r->w->srv->id, buf, cap) && spiffe_id_usable(buf)) {
        return buf;
    }
    return RW_ATTEST_BUILDER_ID;
}

/* attest: true: SLSA provenance v1 for this push, signed over the DSSE PAE by the same signer. */
static void attest(struct push *ps)
{
    struct rw_req *r = ps->r;
    char name[RW_MAX_NAME_LEN + RW_MAX_REPO_LEN + 2];
    char own_id[RW_ID_MAX_SPIFFE_ID + 1];
    struct rw_attest_params ap = {0};
    struct rw_buf pae;
    int rc;

    ps->step = PS_ATTEST;
    rw_buf_init(&pae, 0);
    snprintf(name, sizeof(name), "%s/%s", r->up->name, r->m.repo);
    ap.subject_name = name;
    ap.digest = ps->digest;
    ap.repository = r->m.repo;
    ap.reference = r->m.reference;
    ap.pusher = r->identity;
    ap.builder_id = builder_id(r, own_id, sizeof(own_id));
    ap.build_type = r->cfg->provenance.build_type;
    ap.invocation_id = r->id;
    ap.started_on = ps->started;
    ap.finished_on = (int64_t)time(NULL);
    rc = rw_cosign_att_tag(ps->digest, ps->att_tag);
    if (rc == 0) {
        rc = rw_attest_statement_build(&ap, &ps->statement);
    }
    if (rc == 0) {
        rc = rw_dsse_pae(RW_DSSE_INTOTO_TYPE, strlen(RW_DSSE_INTOTO_TYPE), ps->statement.data,
                         ps->statement.len, &pae);
    }
    if (rc != 0) {
        rw_buf_fini(&pae);
        sign_failed(ps, rw_strerror(rc));
        return;
    }
    rc = rw_signer_sign_start(r->cfg->signer, pae.data, pae.len, on_att_signed, ps, &ps->sop);
    rw_buf_fini(&pae);
    if (rc != 0) {
        signer_failed(ps, rc);
    }
}

static void sign(struct push *ps)
{
    struct rw_req *r = ps->r;
    char ref[RW_MAX_NAME_LEN + RW_MAX_REPO_LEN + 2];
    int rc;

    ps->step = PS_SIGN;
    if (r->cfg->signer == NULL) {
        sign_failed(ps, "no signer is configured");
        return;
    }
    snprintf(ref, sizeof(ref), "%s/%s", r->up->name, r->m.repo);
    rc = rw_cosign_sig_tag(ps->digest, ps->sig_tag);
    snprintf(ps->tag, sizeof(ps->tag), "%s", ps->sig_tag);
    if (rc == 0) {
        rc = rw_cosign_payload_build(ref, ps->digest, &ps->payload);
    }
    if (rc != 0) {
        sign_failed(ps, rw_strerror(rc));
        return;
    }
    rw_sha256_digest(ps->payload.data, ps->payload.len, ps->payload_digest);
    rc = rw_signer_sign_start(r->cfg->signer, ps->payload.data, ps->payload.len, on_signed, ps,
                              &ps->sop);
    if (rc != 0) {
        signer_failed(ps, rc);
    }
}

/* Hand the upstream's answer to the client as is (Location rewritten) and end the push. */
static void relay_answer(struct push *ps, int status, const struct rw_hdrs *h, const uint8_t *body,
                         size_t len)
{
    struct rw_req *r = ps->r;
    struct rw_hdr out[64];
    char *rewritten = NULL;
    size_t n = 0;
    bool blocked;

    for (size_t i = 0; i < h->n && n < 64; i++) {
        char *value = h->v[i].value;

        if (!rw_upstream_resp_header_ok(h->v[i].name)) {
            continue;
        }
        if (strcasecmp(h->v[i].name, "Location") == 0 && rewritten == NULL) {
            rewritten = rw_upstream_rewrite_location(r->up, value);
            value = rewritten != NULL ? rewritten : value;
        }
        out[n++] = (struct rw_hdr){h->v[i].name, value};
    }
    r->route_ctx = NULL;
    r->on_body_ready = NULL;
    r->on_close = NULL;
    r->io->send_head(r, status, out, n, (int64_t)len);
    if (len > 0 && !r->head) {
        r->io->send_data(r, body, len, &blocked);
    }
    rw_free(rewritten);
    push_free(ps);
    r->io->send_end(r);
}

static void on_forwarded(void *arg, int rc, int status, const struct rw_hdrs *h,
                         const uint8_t *body, size_t len)
{
    struct push *ps = arg;
    struct rw_req *r = ps->r;
    const char *advertised;

    ps->x = NULL;
    if (rc != 0) {
        rw_log_warn(UPSTREAM, "conn=%" PRIu64 " req=%s manifest PUT to %s failed: %s", r->conn_id,
                    r->id, r->up->name, rw_strerror(rc));
        detach(ps);
        rw_req_error(r, rc == RW_ETIMEOUT ? 504 : 502, "UNAVAILABLE",
                     "upstream registry unavailable");
        return;
    }
    if (status >= 300 && status < 400) {
        /* a redirected manifest PUT: where it went is unknown, so nothing can be signed */
        detach(ps);
        rw_req_error(r, 502, "UNAVAILABLE", "upstream redirected the manifest upload");
        return;
    }
    if (status < 200 || status >= 300 || ps->attachment) {
        /* the upstream refused it, or it is a referrer of another manifest (evidence, not an
         * image): relay the upstream's answer as is, nothing to sign */
        if (ps->attachment && status >= 200 && status < 300) {
            rw_log_debug(PROXY, "conn=%" PRIu64 " req=%s manifest with a subject relayed unsigned",
                         r->conn_id, r->id);
        }
        relay_answer(ps, status, h, body, len);
        return;
    }
    ps->up_status = status;
    if (rw_hdrs_copy(&ps->up201, h) != 0) {
        sign_failed(ps, rw_strerror(-ENOMEM));
        return;
    }
    rw_sha256_digest(ps->body.data, ps->body.len, ps->digest);
    advertised = rw_hdrs_get(h, "Docker-Content-Digest");
    if (advertised != NULL && strcmp(advertised, ps->digest) != 0) {
        sign_failed(ps, "upstream stored other bytes than the client sent");
        return;
    }
    sign(ps);
}

static void forward_send(struct push *ps)
{
    struct rw_req *r = ps->r;
    struct rw_fetch_req req = {0};
    const char **hv = NULL;
    char *url = NULL;
    size_t n = 0;
    int rc;

    url = rw_upstream_url(r->up, &r->m);
    rc = url == NULL ? -ENOMEM : rw_upstream_req_headers(r, &ps->fwd_hdrs, &ps->n_fwd_hdrs);
    if (rc == 0 && (hv = rw_calloc(ps->n_fwd_hdrs + 1, sizeof(*hv))) == NULL) {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        for (size_t i = 0; i < ps->n_fwd_hdrs; i++) {
            hv[n++] = ps->fwd_hdrs[i];
        }
        if (rw_upauth_own(r->up) && ps->auth != NULL) {
            hv[n++] = ps->auth; /* the client's was dropped by rw_upstream_req_headers() */
        }
        req.method = "PUT";
        req.url = url;
        req.ca_file = r->up->ca;
        req.headers = hv;
        req.n_headers = n;
        req.body = ps->body.data;
        req.body_len = ps->body.len;
        req.has_body = true;
        req.max = 64 * 1024;
        rc = rw_fetch_start(r->w->httpc, &req, on_forwarded, ps, &ps->x);
    }
    rw_free(hv);
    rw_free(url);
    if (rc != 0) {
        detach(ps);
        rw_req_error(r, 503, "UNAVAILABLE", "cannot start upstream request");
    }
}

static void on_forward_auth(void *arg, int rc, const char *authorization)
{
    struct push *ps = arg;
    struct rw_req *r = ps->r;

    ps->auth_wait = NULL;
    if (rc == 0 && authorization != NULL &&
        (ps->auth = rw_asprintf("Authorization: %s", authorization)) == NULL) {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        forward_send(ps);
        return;
    }
    detach(ps);
    if (rc == -EACCES) {
        rw_req_error(r, 401, "UNAUTHORIZED",
                     "regwarden's credentials for this upstream registry were refused");
        return;
    }
    rw_req_error(r, 502, "UNAVAILABLE", "cannot authenticate to the upstream registry");
}

/* Scope pull,push on the repository covers the manifest and the signature writes alike. */
static void forward_auth(struct push *ps)
{
    char scope[RW_UPAUTH_MAX_SCOPE];
    char *authz = NULL;
    int rc;

    snprintf(scope, sizeof(scope), "repository:%s:pull,push", ps->r->m.repo);
    rc = rw_upauth_get(ps->r->w, ps->r->up, scope, NULL, &authz, on_forward_auth, ps,
                       &ps->auth_wait);
    if (rc != 0 || ps->auth_wait == NULL) {
        on_forward_auth(ps, rc, authz);
    }
    if (authz != NULL) {
        explicit_bzero(authz, strlen(authz));
    }
    rw_free(authz);
}

static void forward(struct push *ps)
{
    struct rw_req *r = ps->r;
    struct rw_manifest_info info = {0};

    if (rw_manifest_parse(ps->body.data, ps->body.len, rw_req_header(r, "Content-Type"), &info) !=
        0) {
        detach(ps);
        rw_req_error(r, 400, "MANIFEST_INVALID",
                     "manifest is not a valid OCI or Docker v2 manifest (descriptors checked)");
        return;
    }
    ps->attachment = info.has_subject;
    rw_manifest_info_fini(&info);
    ps->step = PS_FORWARD;
    if (rw_upauth_own(r->up)) {
        forward_auth(ps); /* regwarden's own credentials first, then forward_send() */
        return;
    }
    forward_send(ps);
}

static void on_body_ready(struct rw_req *r)
{
    struct push *ps = r->route_ctx;
    uint8_t buf[16384];

    if (ps->step != PS_BODY) {
        return;
    }
    for (;;) {
        size_t n = 0;
        enum rw_xfer_read st = r->io->read_body(r, buf, sizeof(buf), &n);

        if (n > 0 && rw_buf_append(&ps->body, buf, n) != 0) {
            detach(ps);
            rw_req_error(r, 413, "MANIFEST_INVALID", "manifest is larger than 4 MiB");
            return;
        }
        if (st == RW_XFER_READ_PAUSE) {
            return;
        }
        if (st == RW_XFER_READ_EOF) {
            forward(ps);
            return;
        }
    }
}

void rw_route_push_manifest(struct rw_req *r, const struct rw_push_rule *rule)
{
    struct push *ps = rw_calloc(1, sizeof(*ps));
    /* with regwarden's own credentials the client's never reaches the upstream */
    const char *auth = rw_upauth_own(r->up) ? NULL : rw_req_header(r, "Authorization");

    if (ps == NULL || (auth != NULL && (ps->auth = rw_asprintf("Authorization: %s", auth)) == NULL)) {
        rw_free(ps);
        rw_req_error(r, 503, "UNAVAILABLE", "out of memory");
        return;
    }
    if (r->body_len > (int64_t)RW_MAX_MANIFEST_BYTES) {
        rw_free(ps->auth);
        rw_free(ps);
        rw_req_error(r, 413, "MANIFEST_INVALID", "manifest is larger than 4 MiB");
        return;
    }
    ps->r = r;
    ps->rule = rule;
    rw_buf_init(&ps->body, RW_MAX_MANIFEST_BYTES);
    rw_buf_init(&ps->payload, RW_MAX_PAYLOAD_BYTES);
    rw_buf_init(&ps->sig_b64, 4096);
    rw_buf_init(&ps->config, 0);
    rw_buf_init(&ps->sig_manifest, 0);
    rw_buf_init(&ps->statement, RW_MAX_ENVELOPE_BYTES);
    ps->started = (int64_t)time(NULL);
    r->route_ctx = ps;
    r->on_close = on_close;
    r->on_body_ready = on_body_ready;
    on_body_ready(r);
}
