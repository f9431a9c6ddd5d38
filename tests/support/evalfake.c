/* SPDX-License-Identifier: MIT */
/*
 * Fake fetch ops and fixtures for the policy/eval.c unit tests (test_eval_att.c, test_eval_ref.c).
 * Bodies are answered from an in-memory store; a key not stored answers 404 MANIFEST_UNKNOWN.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "evalfake.h"
#include "support.h"

static void deliver(struct rwt_fake_io *io, rw_policy_fetch_cb *cb, void *arg, int status,
                    const uint8_t *body, size_t len)
{
    if (!io->deferred) {
        cb(arg, 0, status, body, len);
        return;
    }
    assert_null(io->pending_cb);
    assert_null(io->pending_rcb);
    io->pending_cb = cb;
    io->pending_arg = arg;
    io->pending_status = status;
    io->pending_body = malloc(len + 1);
    memcpy(io->pending_body, body != NULL ? body : (const uint8_t *)"", len);
    io->pending_len = len;
}

static struct rw_policy_referrers_page page_view(const struct rwt_page *p)
{
    struct rw_policy_referrers_page pg = {
        .status = p->status,
        .url = p->url,
        .content_type = p->ctype[0] != '\0' ? p->ctype : NULL,
        .link = p->link[0] != '\0' ? p->link : NULL,
        .body = p->body.data,
        .len = p->body.len,
    };

    return pg;
}

static void deliver_page(struct rwt_fake_io *io, rw_policy_referrers_cb *cb, void *arg,
                         const struct rwt_page *p)
{
    struct rw_policy_referrers_page pg = page_view(p);

    if (!io->deferred) {
        cb(arg, 0, &pg);
        return;
    }
    assert_null(io->pending_cb);
    assert_null(io->pending_rcb);
    io->pending_rcb = cb;
    io->pending_arg = arg;
    io->pending_page = *p;
    rw_buf_init(&io->pending_page.body, 0);
    assert_int_equal(rw_buf_append(&io->pending_page.body, p->body.data != NULL ? p->body.data
                                                                                : (uint8_t *)"",
                                   p->body.len),
                     0);
}

bool rwt_fake_pump(struct rwt_fake_io *io)
{
    if (io->pending_cb != NULL) {
        rw_policy_fetch_cb *cb = io->pending_cb;
        uint8_t *body = io->pending_body;

        io->pending_cb = NULL;
        io->pending_body = NULL;
        cb(io->pending_arg, 0, io->pending_status, body, io->pending_len);
        free(body);
        return true;
    }
    if (io->pending_rcb != NULL) {
        rw_policy_referrers_cb *cb = io->pending_rcb;
        struct rwt_page p = io->pending_page;
        struct rw_policy_referrers_page pg = page_view(&p);

        io->pending_rcb = NULL;
        cb(io->pending_arg, 0, &pg);
        rw_buf_fini(&p.body);
        return true;
    }
    return false;
}

static int fetch(struct rwt_fake_io *io, const char *key, rw_policy_fetch_cb *cb, void *arg,
                 int override)
{
    io->n_fetch++;
    if (override != 0) {
        deliver(io, cb, arg, override, (const uint8_t *)"{\"errors\":[]}", 13);
        return 0;
    }
    for (size_t i = 0; i < io->n; i++) {
        if (strcmp(io->objs[i].key, key) == 0) {
            deliver(io, cb, arg, io->objs[i].status, io->objs[i].body.data, io->objs[i].body.len);
            return 0;
        }
    }
    deliver(io, cb, arg, 404, (const uint8_t *)"{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\"}]}",
            40);
    return 0;
}

static int fetch_manifest(struct rwt_fake_io *io, const char *ref, rw_policy_fetch_cb *cb,
                          void *arg)
{
    bool att = strstr(ref, ".att") != NULL;

    io->n_manifest++;
    if (strncmp(ref, "sha256-", 7) == 0 && strchr(ref, '.') == NULL) {
        io->n_tag++;
    }
    if (strstr(ref, ".sig") != NULL) {
        io->sig_fetched = true;
    }
    io->att_fetched |= att;
    return fetch(io, ref, cb, arg, att ? io->att_status_override : 0);
}

static int fake_manifest(void *vio, const char *ref, size_t max, rw_policy_fetch_cb *cb, void *arg)
{
    assert_int_equal(max, RW_MAX_SIG_MANIFEST_BYTES);
    return fetch_manifest(vio, ref, cb, arg);
}

/* With the referrers API the fallback tag sha256-<hex> is a manifest too, read as a page. */
static int fake_manifest_or_page(void *vio, const char *ref, size_t max, rw_policy_fetch_cb *cb,
                                 void *arg)
{
    assert_true(max == RW_MAX_SIG_MANIFEST_BYTES || max == RW_MAX_REFERRERS_PAGE_BYTES);
    return fetch_manifest(vio, ref, cb, arg);
}

static int fake_blob(void *vio, const char *digest, size_t max, rw_policy_fetch_cb *cb, void *arg)
{
    struct rwt_fake_io *io = vio;

    assert_true(max == RW_MAX_PAYLOAD_BYTES || max == RW_MAX_ENVELOPE_BYTES);
    io->n_blob++;
    return fetch(io, digest, cb, arg, max == RW_MAX_ENVELOPE_BYTES ? io->blob_status_override : 0);
}

static int fake_referrers(void *vio, const char *digest, const char *at, const char *next,
                          size_t max, rw_policy_referrers_cb *cb, void *arg)
{
    struct rwt_fake_io *io = vio;
    static struct rwt_page not_found = {.status = 404, .ctype = "application/json"};

    (void)digest;
    assert_null(at);
    assert_int_equal(max, RW_MAX_REFERRERS_PAGE_BYTES);
    io->n_referrers++;
    if (not_found.body.data == NULL) {
        rw_buf_init(&not_found.body, 0);
    }
    if (io->no_api || io->n_pages == 0) {
        snprintf(not_found.url, sizeof(not_found.url),
                 RWT_FAKE_ORIGIN "/v2/team/app/referrers/%s", digest);
        deliver_page(io, cb, arg, &not_found);
        return 0;
    }
    if (next == NULL) {
        deliver_page(io, cb, arg, &io->pages[0]);
        return 0;
    }
    snprintf(io->last_next, sizeof(io->last_next), "%s", next);
    /* the evaluation must never ask for a URL off the upstream's origin */
    assert_int_equal(strncmp(next, RWT_FAKE_ORIGIN "/", strlen(RWT_FAKE_ORIGIN) + 1), 0);
    for (size_t i = 0; i < io->n_pages; i++) {
        if (strcmp(io->pages[i].url, next) == 0) {
            deliver_page(io, cb, arg, &io->pages[i]);
            return 0;
        }
    }
    fail_msg("unexpected next page %s", next);
    return 0;
}

const struct rw_policy_fetch_ops rwt_fake_ops = {
    .fetch_manifest = fake_manifest,
    .fetch_blob = fake_blob,
};

const struct rw_policy_fetch_ops rwt_fake_ops_referrers = {
    .fetch_manifest = fake_manifest_or_page,
    .fetch_blob = fake_blob,
    .fetch_referrers = fake_referrers,
};

struct rw_buf *rwt_fake_put(struct rwt_fake_io *io, const char *key, int status)
{
    for (size_t i = 0; i < io->n; i++) {
        if (strcmp(io->objs[i].key, key) == 0) {
            rw_buf_reset(&io->objs[i].body);
            io->objs[i].status = status;
            return &io->objs[i].body;
        }
    }
    assert_true(io->n < RWT_FAKE_MAX_OBJ);
    snprintf(io->objs[io->n].key, sizeof(io->objs[io->n].key), "%s", key);
    io->objs[io->n].status = status;
    rw_buf_init(&io->objs[io->n].body, 0);
    return &io->objs[io->n++].body;
}

const struct rw_buf *rwt_fake_get(struct rwt_fake_io *io, const char *key)
{
    for (size_t i = 0; i < io->n; i++) {
        if (strcmp(io->objs[i].key, key) == 0) {
            return &io->objs[i].body;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ signing */

static void on_signed(void *arg, int rc, const uint8_t *sig, size_t siglen, const char *kv)
{
    struct rwt_sig *g = arg;

    (void)kv;
    g->rc = rc;
    memcpy(g->sig, sig, siglen);
    g->len = siglen;
}

struct rwt_sig rwt_sign(struct rw_signer *s, const uint8_t *msg, size_t len)
{
    struct rwt_sig g = {0};

    assert_int_equal(rw_signer_sign(s, msg, len, on_signed, &g), 0);
    assert_int_equal(g.rc, 0);
    return g;
}

/* ------------------------------------------------------------------ fixture */

struct rwt_eval_fx *rwt_eval_fx_new(const char *name, const char *yaml,
                                    const struct rw_policy_fetch_ops *ops)
{
    struct rwt_eval_fx *f = calloc(1, sizeof(*f));
    char dir[1024];
    char err[512];

    assert_non_null(f);
    f->ops = ops;
    err[0] = '\0';
    if (rw_config_load_mem(name, rwt_data_path(dir, sizeof(dir), "policy"), yaml, strlen(yaml),
                           &f->cfg, err, sizeof(err)) != 0) {
        fail_msg("config: %s", err);
    }
    assert_int_equal(
        rw_signer_file_new(rwt_data_path(dir, sizeof(dir), "policy/p256-sec1.key"), &f->team), 0);
    assert_int_equal(
        rw_signer_file_new(rwt_data_path(dir, sizeof(dir), "policy/other-sec1.key"), &f->other),
        0);
    return f;
}

void rwt_eval_fx_free(struct rwt_eval_fx *f)
{
    for (size_t i = 0; i < f->io.n; i++) {
        rw_buf_fini(&f->io.objs[i].body);
    }
    for (size_t i = 0; i < f->io.n_pages; i++) {
        rw_buf_fini(&f->io.pages[i].body);
    }
    free(f->io.pending_body);
    rw_signer_free(&f->team);
    rw_signer_free(&f->other);
    rw_config_unref(&f->cfg);
    free(f);
}

void rwt_eval_add_sig_payload(struct rwt_eval_fx *f, const char *digest,
                              const struct rw_buf *payload)
{
    struct rw_buf b64;
    struct rw_buf cfg;
    struct rw_buf man;
    char pd[72];
    char tag[80];
    struct rwt_sig g;

    rw_buf_init(&b64, 0);
    rw_buf_init(&cfg, 0);
    rw_buf_init(&man, 0);
    g = rwt_sign(f->team, payload->data, payload->len);
    assert_int_equal(rw_base64_encode(g.sig, g.len, &b64), 0);
    rw_sha256_digest(payload->data, payload->len, pd);
    assert_int_equal(rw_buf_append(rwt_fake_put(&f->io, pd, 200), payload->data, payload->len),
                     0);
    assert_int_equal(rw_cosign_sig_tag(digest, tag), 0);
    assert_int_equal(rw_cosign_sig_manifest_build(NULL, 0, pd, payload->len, (char *)b64.data,
                                                  NULL, 0, &cfg, &man),
                     0);
    assert_int_equal(rw_buf_append(rwt_fake_put(&f->io, tag, 200), man.data, man.len), 0);
    rw_buf_fini(&b64);
    rw_buf_fini(&cfg);
    rw_buf_fini(&man);
}

void rwt_eval_add_sig(struct rwt_eval_fx *f, const char *digest)
{
    struct rw_buf payload;

    rw_buf_init(&payload, 0);
    assert_int_equal(rw_cosign_payload_build("r/team/app", digest, &payload), 0);
    rwt_eval_add_sig_payload(f, digest, &payload);
    rw_buf_fini(&payload);
}

/* ------------------------------------------------------------------ evaluation */

void rwt_eval_on_done(void *arg, int rc, const struct rw_verdict *v)
{
    struct rwt_eval_result *r = arg;

    r->calls++;
    r->rc = rc;
    r->v = *v;
}

struct rwt_eval_result rwt_eval_run(struct rwt_eval_fx *f, const char *repo, const char *digest)
{
    struct rwt_eval_result res = {0};
    struct rw_policy_eval *e = NULL;
    const struct rw_pull_rule *rule = rw_policy_pull_rule(f->cfg, "r", repo);

    assert_non_null(rule);
    assert_int_equal(rw_policy_eval_start(f->cfg, rule, digest, f->ops, &f->io, rwt_eval_on_done,
                                          &res, &e),
                     0);
    if (f->io.deferred) {
        assert_non_null(e);
        while (rwt_fake_pump(&f->io)) {
        }
    } else {
        assert_null(e);
    }
    assert_int_equal(res.calls, 1);
    return res;
}
