/* SPDX-License-Identifier: MIT */
/*
 * policy/eval.c with fake fetch ops: every reason, synchronous and deferred callbacks, layer
 * bounds, cancel, and a failmalloc loop that must never turn OOM into an allow.
 */
#include <errno.h>

#include "common.h"

#define D1 "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
#define D2 "sha256:9999999999999999999999999999999999999999999999999999999999999999"
#define MAX_BLOBS 80

struct blob {
    char digest[72];
    int status;
    int rc;
    uint8_t *body; /* owned (test malloc) */
    size_t len;
};

struct fake_io {
    int sig_rc;
    int sig_status;
    struct rw_buf sig_body;
    struct blob blobs[MAX_BLOBS];
    size_t n_blobs;
    int blob_default_status;
    bool deferred;
    bool fail_return; /* op returns an error without calling back */
    /* one pending callback when deferred */
    rw_policy_fetch_cb *pending_cb;
    void *pending_arg;
    int pending_rc;
    int pending_status;
    uint8_t *pending_body;
    size_t pending_len;
    int n_manifest;
    int n_blob;
    char last_ref[128];
};

struct result {
    int calls;
    int rc;
    struct rw_verdict v;
};

static void deliver(struct fake_io *io, rw_policy_fetch_cb *cb, void *arg, int rc, int status,
                    const uint8_t *body, size_t len)
{
    if (!io->deferred) {
        cb(arg, rc, status, body, len);
        return;
    }
    assert_null(io->pending_cb);
    io->pending_cb = cb;
    io->pending_arg = arg;
    io->pending_rc = rc;
    io->pending_status = status;
    io->pending_body = malloc(len + 1);
    memcpy(io->pending_body, body != NULL ? body : (const uint8_t *)"", len);
    io->pending_len = len;
}

/* Run the one pending callback; true if there was one. */
static bool pump(struct fake_io *io)
{
    rw_policy_fetch_cb *cb = io->pending_cb;
    uint8_t *body = io->pending_body;

    if (cb == NULL) {
        return false;
    }
    io->pending_cb = NULL;
    io->pending_body = NULL;
    cb(io->pending_arg, io->pending_rc, io->pending_status, body, io->pending_len);
    free(body);
    return true;
}

static int fake_manifest(void *vio, const char *ref, size_t max, rw_policy_fetch_cb *cb, void *arg)
{
    struct fake_io *io = vio;

    io->n_manifest++;
    snprintf(io->last_ref, sizeof(io->last_ref), "%s", ref);
    assert_int_equal(max, RW_MAX_SIG_MANIFEST_BYTES);
    if (io->fail_return) {
        return -ECONNREFUSED;
    }
    deliver(io, cb, arg, io->sig_rc, io->sig_status, io->sig_body.data, io->sig_body.len);
    return 0;
}

static int fake_blob(void *vio, const char *digest, size_t max, rw_policy_fetch_cb *cb, void *arg)
{
    struct fake_io *io = vio;

    io->n_blob++;
    assert_int_equal(max, RW_MAX_PAYLOAD_BYTES);
    for (size_t i = 0; i < io->n_blobs; i++) {
        if (strcmp(io->blobs[i].digest, digest) == 0) {
            deliver(io, cb, arg, io->blobs[i].rc, io->blobs[i].status, io->blobs[i].body,
                    io->blobs[i].len);
            return 0;
        }
    }
    deliver(io, cb, arg, 0, io->blob_default_status, (const uint8_t *)"", 0);
    return 0;
}

static const struct rw_policy_fetch_ops fake_ops = {
    .fetch_manifest = fake_manifest,
    .fetch_blob = fake_blob,
};

static void on_done(void *arg, int rc, const struct rw_verdict *v)
{
    struct result *r = arg;

    r->calls++;
    r->rc = rc;
    assert_non_null(v);
    r->v = *v;
}

/* ------------------------------------------------------------------ fixtures */

struct fx {
    struct rw_config *cfg;
    uint8_t *payload; /* vector 1 payload (test malloc) */
    size_t payload_len;
    char payload_digest[72];
    char sig_b64[200];
    struct fake_io io;
};

static struct fx *fx_new(void)
{
    struct fx *f = calloc(1, sizeof(*f));
    char dir[1024];
    char err[512];
    uint8_t sig[RW_MAX_SIG_BYTES];
    size_t sl;
    struct rw_buf b;
    const char *yaml = "upstreams: {r: 'http://h:1'}\n"
                       "keys:\n"
                       "  team: {file: cosign-ecdsa-ci-valid/cosign.pub}\n"
                       "  other: {file: cosign-ecdsa-ci-valid/cosign2.pub}\n"
                       "pull:\n"
                       "  rules:\n"
                       "    - match: 'r/team/**'\n"
                       "      require: {signed_by: [team]}\n"
                       "    - match: 'r/other/**'\n"
                       "      require: {signed_by: [other]}\n"
                       "    - match: 'r/both/**'\n"
                       "      require: {signed_by: [other, team]}\n";

    assert_int_equal(rw_config_load_mem("eval.yaml", rwt_vector_path(dir, sizeof(dir), "."), yaml,
                                        strlen(yaml), &f->cfg, err, sizeof(err)),
                     0);
    f->payload = read_vec("cosign-ecdsa-ci-valid/payload.json", &f->payload_len);
    rw_sha256_digest(f->payload, f->payload_len, f->payload_digest);
    sl = read_b64_vec("cosign-ecdsa-ci-valid/payload.sig", sig, sizeof(sig));
    rw_buf_init(&b, 0);
    assert_int_equal(rw_base64_encode(sig, sl, &b), 0);
    snprintf(f->sig_b64, sizeof(f->sig_b64), "%s", (char *)b.data);
    rw_buf_fini(&b);
    rw_buf_init(&f->io.sig_body, 0);
    f->io.sig_status = 200;
    f->io.blob_default_status = 404;
    return f;
}

static void fx_free(struct fx *f)
{
    for (size_t i = 0; i < f->io.n_blobs; i++) {
        free(f->io.blobs[i].body);
    }
    free(f->io.pending_body);
    rw_buf_fini(&f->io.sig_body);
    free(f->payload);
    rw_config_unref(&f->cfg);
    free(f);
}

static void add_blob(struct fx *f, const char *digest, int status, const uint8_t *body, size_t len)
{
    struct blob *b = &f->io.blobs[f->io.n_blobs++];

    assert_true(f->io.n_blobs <= MAX_BLOBS);
    snprintf(b->digest, sizeof(b->digest), "%s", digest);
    b->status = status;
    b->body = malloc(len + 1);
    memcpy(b->body, body, len);
    b->len = len;
}

/* Append one signature layer to the fake .sig manifest. */
static void add_layer(struct fx *f, const char *payload_digest, uint64_t size, const char *sig_b64)
{
    struct rw_buf cfg;
    struct rw_buf man;

    rw_buf_init(&cfg, 0);
    rw_buf_init(&man, 0);
    assert_int_equal(rw_cosign_sig_manifest_build(f->io.sig_body.len > 0 ? f->io.sig_body.data
                                                                          : NULL,
                                                  f->io.sig_body.len, payload_digest, size,
                                                  sig_b64, NULL, 0, &cfg, &man),
                     0);
    rw_buf_reset(&f->io.sig_body);
    assert_int_equal(rw_buf_append(&f->io.sig_body, man.data, man.len), 0);
    rw_buf_fini(&cfg);
    rw_buf_fini(&man);
}

static void add_valid(struct fx *f)
{
    add_layer(f, f->payload_digest, f->payload_len, f->sig_b64);
    add_blob(f, f->payload_digest, 200, f->payload, f->payload_len);
}

static const struct rw_pull_rule *rule(struct fx *f, const char *repo)
{
    const struct rw_pull_rule *r = rw_policy_pull_rule(f->cfg, "r", repo);

    assert_non_null(r);
    return r;
}

/* Run to completion (pumping deferred callbacks). */
static struct result run_eval(struct fx *f, const char *repo, const char *digest)
{
    struct result res = {0};
    struct rw_policy_eval *e = NULL;

    assert_int_equal(rw_policy_eval_start(f->cfg, rule(f, repo), digest, &fake_ops, &f->io,
                                          on_done, &res, &e),
                     0);
    if (f->io.deferred) {
        assert_int_equal(res.calls, 0);
        assert_non_null(e);
        while (pump(&f->io)) {
        }
    } else {
        assert_null(e); /* everything completed synchronously */
    }
    assert_int_equal(res.calls, 1);
    return res;
}

static void expect(struct result r, int rc, bool allow, enum rw_reason reason)
{
    if (r.rc != rc || r.v.allow != allow || r.v.reason != reason) {
        fail_msg("got rc %d allow %d reason %s (%s); want rc %d allow %d reason %s", r.rc,
                 r.v.allow, rw_reason_str(r.v.reason), r.v.detail, rc, allow,
                 rw_reason_str(reason));
    }
    if (!allow) {
        assert_int_equal(r.v.key_id[0], '\0');
    }
    assert_true(r.v.time > 0);
    assert_int_equal(r.v.expires, 0);
}

/* ------------------------------------------------------------------ tests */

static void test_allow_sync_and_deferred(void **state)
{
    (void)state;
    for (int deferred = 0; deferred < 2; deferred++) {
        struct fx *f = fx_new();
        struct result r;

        f->io.deferred = deferred;
        add_valid(f);
        r = run_eval(f, "team/app", D1);
        expect(r, 0, true, RW_REASON_NONE);
        assert_string_equal(r.v.key_id, "team");
        assert_non_null(strstr(r.v.detail, "team"));
        assert_string_equal(f->io.last_ref,
                            "sha256-634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00.sig");
        /* a rule listing an untrusted key first still allows with the trusted one */
        r = run_eval(f, "both/app", D1);
        expect(r, 0, true, RW_REASON_NONE);
        assert_string_equal(r.v.key_id, "team");
        fx_free(f);
    }
}

static void test_no_signature(void **state)
{
    static const char *const bodies[] = {
        "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}",
        "{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"repository name not known\"}]}",
        "",
        "404 page not found\n",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct fx *f = fx_new();
        struct result r;

        f->io.sig_status = 404;
        assert_int_equal(rw_buf_appends(&f->io.sig_body, bodies[i]), 0);
        r = run_eval(f, "team/app", D1);
        expect(r, 0, false, RW_REASON_NO_SIGNATURE);
        assert_non_null(strstr(r.v.detail, "team"));
        fx_free(f);
    }
    {
        /* a .sig manifest with no layers */
        struct fx *f = fx_new();

        assert_int_equal(rw_buf_appends(&f->io.sig_body, "{\"schemaVersion\":2,\"layers\":[]}"), 0);
        expect(run_eval(f, "team/app", D1), 0, false, RW_REASON_NO_SIGNATURE);
        fx_free(f);
    }
    {
        /* a 404 with some other registry error is not "no signature" */
        struct fx *f = fx_new();

        f->io.sig_status = 404;
        assert_int_equal(rw_buf_appends(&f->io.sig_body, "{\"errors\":[{\"code\":\"DENIED\"}]}"),
                         0);
        expect(run_eval(f, "team/app", D1), RW_EUPSTREAM, false, RW_REASON_UPSTREAM_ERROR);
        fx_free(f);
    }
}

static void test_untrusted_key(void **state)
{
    struct fx *f = fx_new();
    struct result r;

    (void)state;
    add_valid(f);
    r = run_eval(f, "other/app", D1);
    expect(r, 0, false, RW_REASON_UNTRUSTED_KEY);
    assert_non_null(strstr(r.v.detail, "other"));
    /* a tampered signature over the right payload: well formed, verifies with no key */
    fx_free(f);
    f = fx_new();
    {
        char sig[200];

        snprintf(sig, sizeof(sig), "%s", f->sig_b64);
        sig[20] = sig[20] == 'A' ? 'B' : 'A';
        add_layer(f, f->payload_digest, f->payload_len, sig);
        add_blob(f, f->payload_digest, 200, f->payload, f->payload_len);
    }
    expect(run_eval(f, "team/app", D1), 0, false, RW_REASON_UNTRUSTED_KEY);
    fx_free(f);
}

static void test_bad_signature(void **state)
{
    struct fx *f;
    struct result r;
    uint8_t *tampered;

    (void)state;
    /* payload bytes do not hash to the layer digest */
    f = fx_new();
    add_layer(f, f->payload_digest, f->payload_len, f->sig_b64);
    tampered = malloc(f->payload_len);
    memcpy(tampered, f->payload, f->payload_len);
    tampered[10] ^= 1;
    add_blob(f, f->payload_digest, 200, tampered, f->payload_len);
    free(tampered);
    r = run_eval(f, "team/app", D1);
    expect(r, 0, false, RW_REASON_BAD_SIGNATURE);
    assert_non_null(strstr(r.v.detail, "digest mismatch"));
    fx_free(f);

    /* a validly signed payload for another image digest */
    f = fx_new();
    add_valid(f);
    r = run_eval(f, "team/app", D2);
    expect(r, 0, false, RW_REASON_BAD_SIGNATURE);
    assert_non_null(strstr(r.v.detail, "verifies with key team but signs " D1 " (not this image)"));
    fx_free(f);

    /* wrong critical.type, under a signature made over other bytes: the signature is checked
     * first and no key verifies it, so the payload is never read (untrusted-key; a payload of the
     * wrong type that a listed key did sign is bad-signature: test_eval_cond.c) */
    f = fx_new();
    {
        const char *p = "{\"critical\":{\"identity\":{\"docker-reference\":\"r/team/app\"},"
                        "\"image\":{\"docker-manifest-digest\":\"" D1 "\"},"
                        "\"type\":\"atomic container signature\"},\"optional\":null}";
        char d[72];

        rw_sha256_digest(p, strlen(p), d);
        add_layer(f, d, strlen(p), f->sig_b64);
        add_blob(f, d, 200, (const uint8_t *)p, strlen(p));
    }
    r = run_eval(f, "team/app", D1);
    expect(r, 0, false, RW_REASON_UNTRUSTED_KEY);
    fx_free(f);

    /* a missing or non-base64 signature annotation */
    f = fx_new();
    assert_int_equal(
        rw_buf_printf(&f->io.sig_body,
                      "{\"schemaVersion\":2,\"layers\":[{\"mediaType\":\"%s\",\"size\":%zu,"
                      "\"digest\":\"%s\",\"annotations\":{\"%s\":\"%%%%\"}}]}",
                      RW_MT_SIMPLESIGNING, f->payload_len, f->payload_digest, RW_ANN_COSIGN_SIG),
        0);
    add_blob(f, f->payload_digest, 200, f->payload, f->payload_len);
    expect(run_eval(f, "team/app", D1), 0, false, RW_REASON_BAD_SIGNATURE);
    assert_int_equal(f->io.n_blob, 0);
    fx_free(f);

    /* a malformed .sig manifest (C26 digest) */
    f = fx_new();
    assert_int_equal(rw_buf_appends(&f->io.sig_body,
                                    "{\"schemaVersion\":2,\"layers\":[{\"mediaType\":\"x\","
                                    "\"size\":1,\"digest\":\"sha256:../../x\"}]}"),
                     0);
    expect(run_eval(f, "team/app", D1), 0, false, RW_REASON_BAD_SIGNATURE);
    assert_int_equal(f->io.n_blob, 0);
    fx_free(f);
}

static void test_first_bad_then_good(void **state)
{
    struct fx *f = fx_new();
    uint8_t other[] = "not the payload";
    char d[72];

    (void)state;
    rw_sha256_digest(other, sizeof(other) - 1, d);
    add_layer(f, d, sizeof(other) - 1, f->sig_b64);
    add_blob(f, d, 200, other, sizeof(other) - 1);
    add_valid(f);
    expect(run_eval(f, "team/app", D1), 0, true, RW_REASON_NONE);
    assert_int_equal(f->io.n_blob, 2);
    fx_free(f);
}

static void test_upstream_error(void **state)
{
    static const int statuses[] = {500, 502, 503, 401, 403, 400, 429};
    struct fx *f;

    (void)state;
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        f = fx_new();
        f->io.sig_status = statuses[i];
        assert_int_equal(rw_buf_appends(&f->io.sig_body, "{\"errors\":[]}"), 0);
        expect(run_eval(f, "team/app", D1), RW_EUPSTREAM, false, RW_REASON_UPSTREAM_ERROR);
        fx_free(f);
    }
    /* transport error (status 0, rc < 0) */
    f = fx_new();
    f->io.sig_status = 0;
    f->io.sig_rc = -ECONNRESET;
    expect(run_eval(f, "team/app", D1), RW_EUPSTREAM, false, RW_REASON_UPSTREAM_ERROR);
    fx_free(f);
    /* the op refuses to start */
    f = fx_new();
    f->io.fail_return = true;
    expect(run_eval(f, "team/app", D1), RW_EUPSTREAM, false, RW_REASON_UPSTREAM_ERROR);
    fx_free(f);
    /* payload blob fetch fails with 500 */
    f = fx_new();
    add_layer(f, f->payload_digest, f->payload_len, f->sig_b64);
    add_blob(f, f->payload_digest, 500, (const uint8_t *)"oops", 4);
    expect(run_eval(f, "team/app", D1), RW_EUPSTREAM, false, RW_REASON_UPSTREAM_ERROR);
    fx_free(f);
    /* deferred transport error */
    f = fx_new();
    f->io.deferred = true;
    f->io.sig_status = 0;
    f->io.sig_rc = -ETIMEDOUT;
    expect(run_eval(f, "team/app", D1), RW_EUPSTREAM, false, RW_REASON_UPSTREAM_ERROR);
    fx_free(f);
}

static void test_layer_bound(void **state)
{
    struct fx *f = fx_new();

    (void)state;
    /* the valid layer, then RW_MAX_SIG_LAYERS newer bad ones (blob 404): never looked at */
    add_valid(f);
    for (unsigned i = 0; i < RW_MAX_SIG_LAYERS; i++) {
        char d[72];
        char s[16];

        snprintf(s, sizeof(s), "n%u", i);
        rw_sha256_digest(s, strlen(s), d);
        add_layer(f, d, 2, f->sig_b64);
    }
    expect(run_eval(f, "team/app", D1), 0, false, RW_REASON_BAD_SIGNATURE);
    assert_int_equal(f->io.n_blob, (int)RW_MAX_SIG_LAYERS);
    fx_free(f);
    /* 69 older bad layers, then the valid one (the newest, as a push appends it): allowed, and
     * named by its place in the manifest */
    f = fx_new();
    for (unsigned i = 0; i < RW_MAX_SIG_LAYERS + 5; i++) {
        char d[72];
        char s[16];

        snprintf(s, sizeof(s), "n%u", i);
        rw_sha256_digest(s, strlen(s), d);
        add_layer(f, d, 2, f->sig_b64);
    }
    add_valid(f);
    {
        struct result r = run_eval(f, "team/app", D1);

        expect(r, 0, true, RW_REASON_NONE);
        assert_non_null(strstr(r.v.detail, "signature layer 70 of "));
    }
    fx_free(f);
    /* a body over the limit is refused without a copy */
    f = fx_new();
    add_layer(f, f->payload_digest, f->payload_len, f->sig_b64);
    {
        size_t n = RW_MAX_PAYLOAD_BYTES + 1;
        uint8_t *big = calloc(1, n);

        add_blob(f, f->payload_digest, 200, big, n);
        free(big);
    }
    expect(run_eval(f, "team/app", D1), 0, false, RW_REASON_BAD_SIGNATURE);
    fx_free(f);
}

static void test_cancel(void **state)
{
    struct fx *f = fx_new();
    struct result res = {0};
    struct rw_policy_eval *e = NULL;

    (void)state;
    f->io.deferred = true;
    add_valid(f);
    /* cancel while the .sig fetch is in flight; its late callback is harmless */
    assert_int_equal(rw_policy_eval_start(f->cfg, rule(f, "team/app"), D1, &fake_ops, &f->io,
                                          on_done, &res, &e),
                     0);
    assert_non_null(e);
    rw_policy_eval_cancel(&e);
    assert_null(e);
    rw_policy_eval_cancel(&e); /* idempotent */
    assert_true(pump(&f->io));
    assert_false(pump(&f->io)); /* nothing more was started */
    assert_int_equal(res.calls, 0);
    /* cancel while the payload fetch is in flight */
    assert_int_equal(rw_policy_eval_start(f->cfg, rule(f, "team/app"), D1, &fake_ops, &f->io,
                                          on_done, &res, &e),
                     0);
    assert_true(pump(&f->io)); /* .sig arrives, payload fetch starts */
    assert_non_null(f->io.pending_cb);
    rw_policy_eval_cancel(&e);
    assert_true(pump(&f->io));
    assert_int_equal(res.calls, 0);
    fx_free(f);
}

static void test_bad_args(void **state)
{
    struct fx *f = fx_new();
    struct result res = {0};
    struct rw_policy_eval *e = NULL;
    const struct rw_pull_rule *r = rule(f, "team/app");

    (void)state;
    assert_int_equal(rw_policy_eval_start(f->cfg, r, "sha256:../../x", &fake_ops, &f->io, on_done,
                                          &res, &e),
                     RW_EINVAL);
    assert_int_equal(rw_policy_eval_start(f->cfg, r, D1, NULL, &f->io, on_done, &res, &e),
                     RW_EINVAL);
    assert_int_equal(res.calls, 0);
    assert_int_equal(f->io.n_manifest, 0);
    fx_free(f);
}

/* OOM anywhere: either start fails (no cb), or cb reports rc != 0 with a deny, or (no failure
 * reached) the true verdict. Never an allow for an image that must be denied. */
static void failmalloc_case(bool valid, bool deferred)
{
    bool completed = false;

    for (long n = 0; n < 2000 && !completed; n++) {
        struct fx *f = fx_new();
        struct result res = {0};
        struct rw_policy_eval *e = NULL;
        int rc;

        f->io.deferred = deferred;
        if (valid) {
            add_valid(f);
        } else {
            add_layer(f, f->payload_digest, f->payload_len, f->sig_b64);
            add_blob(f, f->payload_digest, 200, f->payload, f->payload_len - 1);
        }
        rw_mem_fail_after(n);
        rc = rw_policy_eval_start(f->cfg, rule(f, "team/app"), D1, &fake_ops, &f->io, on_done,
                                  &res, &e);
        while (rc == 0 && pump(&f->io)) {
        }
        rw_mem_fail_after(-1);
        if (rc != 0) {
            assert_int_equal(rc, -ENOMEM);
            assert_int_equal(res.calls, 0);
        } else {
            assert_int_equal(res.calls, 1);
            if (res.rc != 0) {
                assert_false(res.v.allow);
            } else if (valid) {
                assert_true(res.v.allow); /* OOM never becomes a wrong deny reason either */
                completed = true;
            } else {
                assert_false(res.v.allow);
                assert_int_equal(res.v.reason, RW_REASON_BAD_SIGNATURE);
                completed = true;
            }
        }
        fx_free(f);
    }
    assert_true(completed);
}

static void test_failmalloc(void **state)
{
    (void)state;
    failmalloc_case(true, false);
    failmalloc_case(true, true);
    failmalloc_case(false, false);
    failmalloc_case(false, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allow_sync_and_deferred),
        cmocka_unit_test(test_no_signature),
        cmocka_unit_test(test_untrusted_key),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_first_bad_then_good),
        cmocka_unit_test(test_upstream_error),
        cmocka_unit_test(test_layer_bound),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_failmalloc),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
