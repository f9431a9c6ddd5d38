/* SPDX-License-Identifier: MIT */
/*
 * policy/eval.c with evidence found through OCI 1.1 referrers, on fake fetch ops: the referrers
 * API over two pages, the sha256-<hex> fallback tag, neither (no-signature, and where it looked),
 * a cosign oci-1-1 signature referrer, Sigstore bundles (messageSignature, DSSE sign/v1 statement,
 * DSSE attestation), a referrer for another subject, a Link to another host, the .sig tag first,
 * one listing per evaluation, bounds, deferred callbacks.
 */
#include <errno.h>

#include "common.h"
#include "evalfake.h"

#define D1 "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
#define D2 "sha256:9999999999999999999999999999999999999999999999999999999999999999"
#define EMPTY_CFG "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

/* Page @p i of the referrers API: an index of @p descs (a JSON list body), Link to page i+1 if
 * @p more. */
static void add_page(struct rwt_fake_io *io, const char *digest, const char *descs, bool more)
{
    struct rwt_page *p = &io->pages[io->n_pages];
    size_t i = io->n_pages++;

    assert_true(io->n_pages <= RWT_FAKE_MAX_PAGES);
    if (i == 0) {
        snprintf(p->url, sizeof(p->url), RWT_FAKE_ORIGIN "/v2/team/app/referrers/%s", digest);
    } else {
        snprintf(p->url, sizeof(p->url), RWT_FAKE_ORIGIN "/v2/team/app/referrers/%s?last=p%zu",
                 digest, i);
    }
    p->status = 200;
    snprintf(p->ctype, sizeof(p->ctype), "%s", RW_MT_OCI_INDEX);
    if (more) {
        /* relative, as distribution-style registries write it */
        snprintf(p->link, sizeof(p->link), "</v2/team/app/referrers/%s?last=p%zu>; rel=\"next\"",
                 digest, i + 1);
    }
    rw_buf_init(&p->body, 0);
    assert_int_equal(rw_buf_printf(&p->body,
                                   "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[%s]}",
                                   RW_MT_OCI_INDEX, descs),
                     0);
}

/* ------------------------------------------------------------------ fixtures */

static struct rwt_eval_fx *fx_new(void)
{
    const char *yaml = "upstreams: {r: 'http://h:1'}\n"
                       "keys:\n"
                       "  team: {file: p256.pub}\n"
                       "  other: {file: other.pub}\n"
                       "pull:\n"
                       "  rules:\n"
                       "    - match: 'r/team/**'\n"
                       "      require: {signed_by: [team]}\n"
                       "    - match: 'r/att/**'\n"
                       "      require: {signed_by: [team], attestations: "
                       "[https://slsa.dev/provenance/v1]}\n";

    return rwt_eval_fx_new("ref.yaml", yaml, &rwt_fake_ops_referrers);
}

/*
 * A referrer manifest of @p artifact_type (in config.mediaType, as cosign's oci-1-1 mode writes
 * it, or in artifactType for bundles) with one layer @p blob of @p layer_type, subject
 * @p subject. Stores blob and manifest; writes the index descriptor into @p desc.
 */
static void add_referrer(struct rwt_eval_fx *f, const char *artifact_type, bool top_artifact_type,
                         const char *layer_type, const uint8_t *blob, size_t len,
                         const char *sig_b64, const char *subject, char *desc, size_t cap)
{
    struct rw_buf m;
    char bd[72];
    char md[72];

    rw_sha256_digest(blob, len, bd);
    assert_int_equal(rw_buf_append(rwt_fake_put(&f->io, bd, 200), blob, len), 0);
    rw_buf_init(&m, 0);
    assert_int_equal(
        rw_buf_printf(&m,
                      "{\"schemaVersion\":2,\"mediaType\":\"%s\",%s%s%s\"config\":{\"mediaType\":"
                      "\"%s\",\"size\":2,\"digest\":\"" EMPTY_CFG "\"},\"layers\":[{\"mediaType\":"
                      "\"%s\",\"size\":%zu,\"digest\":\"%s\",\"annotations\":{\"%s\":\"%s\"}}],"
                      "\"subject\":{\"mediaType\":\"%s\",\"size\":7,\"digest\":\"%s\"}}",
                      RW_MT_OCI_MANIFEST, top_artifact_type ? "\"artifactType\":\"" : "",
                      top_artifact_type ? artifact_type : "", top_artifact_type ? "\"," : "",
                      top_artifact_type ? "application/vnd.oci.empty.v1+json" : artifact_type,
                      layer_type, len, bd, RW_ANN_COSIGN_SIG, sig_b64 != NULL ? sig_b64 : "",
                      RW_MT_OCI_MANIFEST, subject),
        0);
    rw_sha256_digest(m.data, m.len, md);
    assert_int_equal(rw_buf_append(rwt_fake_put(&f->io, md, 200), m.data, m.len), 0);
    snprintf(desc, cap,
             "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"artifactType\":\"%s\","
             "\"annotations\":{\"org.opencontainers.image.created\":\"2026-01-01T00:00:00Z\"}}",
             RW_MT_OCI_MANIFEST, md, m.len, artifact_type);
    rw_buf_fini(&m);
}

/* A cosign oci-1-1 signature referrer: simple-signing payload for @p digest signed by @p s. */
static void sig_referrer(struct rwt_eval_fx *f, struct rw_signer *s, const char *digest,
                         const char *subject, char *desc, size_t cap)
{
    struct rw_buf payload;
    struct rw_buf b64;
    struct rwt_sig g;

    rw_buf_init(&payload, 0);
    rw_buf_init(&b64, 0);
    assert_int_equal(rw_cosign_payload_build("r/team/app", digest, &payload), 0);
    g = rwt_sign(s, payload.data, payload.len);
    assert_int_equal(rw_base64_encode(g.sig, g.len, &b64), 0);
    add_referrer(f, RW_AT_COSIGN_SIG, false, RW_MT_SIMPLESIGNING, payload.data, payload.len,
                 (char *)b64.data, subject, desc, cap);
    rw_buf_fini(&payload);
    rw_buf_fini(&b64);
}

/* A DSSE envelope (JSON object text) over in-toto statement @p st, signed by @p s. */
static void envelope(struct rw_signer *s, const struct rw_buf *st, struct rw_buf *env)
{
    struct rw_buf pae;
    struct rwt_sig g;

    rw_buf_init(&pae, 0);
    assert_int_equal(rw_dsse_pae(RW_DSSE_INTOTO_TYPE, strlen(RW_DSSE_INTOTO_TYPE), st->data,
                                 st->len, &pae),
                     0);
    g = rwt_sign(s, pae.data, pae.len);
    assert_int_equal(rw_dsse_envelope_build(RW_DSSE_INTOTO_TYPE, st->data, st->len, g.sig, g.len,
                                            env),
                     0);
    rw_buf_fini(&pae);
}

static void statement(struct rw_buf *st, const char *subject_digest, const char *ptype)
{
    if (strcmp(ptype, RW_SLSA_PROVENANCE_V1) == 0) {
        struct rw_attest_params ap = {.subject_name = "r/att/app", .digest = subject_digest,
                                      .repository = "att/app", .reference = "v1",
                                      .invocation_id = "t", .started_on = 1, .finished_on = 2};

        assert_int_equal(rw_attest_statement_build(&ap, st), 0);
        return;
    }
    assert_int_equal(rw_buf_printf(st,
                                   "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":"
                                   "[{\"digest\":{\"sha256\":\"%s\"}}],\"predicateType\":\"%s\"}",
                                   subject_digest + 7, ptype),
                     0);
}

/* A Sigstore bundle v0.3 referrer with a DSSE envelope over a statement of @p ptype. */
static void dsse_bundle_referrer(struct rwt_eval_fx *f, struct rw_signer *s,
                                 const char *stmt_digest, const char *ptype, const char *subject,
                                 char *desc, size_t cap)
{
    struct rw_buf st;
    struct rw_buf env;
    struct rw_buf b;

    rw_buf_init(&st, 0);
    rw_buf_init(&env, 0);
    rw_buf_init(&b, 0);
    statement(&st, stmt_digest, ptype);
    envelope(s, &st, &env);
    assert_int_equal(rw_buf_printf(&b,
                                   "{\"mediaType\":\"%s\",\"verificationMaterial\":{\"publicKey\":"
                                   "{\"hint\":\"k\"},\"tlogEntries\":[]},\"dsseEnvelope\":%.*s}",
                                   RW_MT_BUNDLE_V03, (int)env.len, (char *)env.data),
                     0);
    add_referrer(f, RW_MT_BUNDLE_V03, true, RW_MT_BUNDLE_V03, b.data, b.len, NULL, subject, desc,
                 cap);
    rw_buf_fini(&st);
    rw_buf_fini(&env);
    rw_buf_fini(&b);
}

/* A messageSignature bundle over @p artifact (the image manifest bytes), signed by @p s. */
static void msg_bundle_referrer(struct rwt_eval_fx *f, struct rw_signer *s, const char *artifact,
                                const char *subject, char *desc, size_t cap)
{
    uint8_t d[32];
    struct rw_buf dg;
    struct rw_buf sg;
    struct rw_buf b;
    struct rwt_sig g = rwt_sign(s, (const uint8_t *)artifact, strlen(artifact));

    rw_sha256(artifact, strlen(artifact), d);
    rw_buf_init(&dg, 0);
    rw_buf_init(&sg, 0);
    rw_buf_init(&b, 0);
    assert_int_equal(rw_base64_encode(d, 32, &dg), 0);
    assert_int_equal(rw_base64_encode(g.sig, g.len, &sg), 0);
    assert_int_equal(rw_buf_printf(&b,
                                   "{\"mediaType\":\"%s\",\"verificationMaterial\":{\"publicKey\":"
                                   "{\"hint\":\"k\"}},\"messageSignature\":{\"messageDigest\":{"
                                   "\"algorithm\":\"SHA2_256\",\"digest\":\"%s\"},\"signature\":"
                                   "\"%s\"}}",
                                   RW_MT_BUNDLE_V03, (char *)dg.data, (char *)sg.data),
                     0);
    add_referrer(f, RW_MT_BUNDLE_V03, true, RW_MT_BUNDLE_V03, b.data, b.len, NULL, subject, desc,
                 cap);
    rw_buf_fini(&dg);
    rw_buf_fini(&sg);
    rw_buf_fini(&b);
}

/* The sha256-<hex> fallback tag holding an index of @p descs. */
static void add_fallback(struct rwt_eval_fx *f, const char *digest, const char *descs)
{
    char tag[80];

    snprintf(tag, sizeof(tag), "sha256-%s", digest + 7);
    assert_int_equal(rw_buf_printf(rwt_fake_put(&f->io, tag, 200),
                                   "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[%s]}",
                                   RW_MT_OCI_INDEX, descs),
                     0);
}

static void expect(struct rwt_eval_result r, bool allow, enum rw_reason reason,
                   const char *in_detail)
{
    if (r.v.allow != allow || r.v.reason != reason ||
        (in_detail != NULL && strstr(r.v.detail, in_detail) == NULL)) {
        fail_msg("got rc %d allow %d reason %s (%s); want allow %d reason %s (\"%s\")", r.rc,
                 r.v.allow, rw_reason_str(r.v.reason), r.v.detail, allow, rw_reason_str(reason),
                 in_detail != NULL ? in_detail : "");
    }
}

static bool has_evidence(const struct rw_verdict *v, const struct rwt_fake_io *io, size_t obj)
{
    for (unsigned i = 0; i < v->n_evidence; i++) {
        if (strcmp(v->evidence[i], io->objs[obj].key) == 0) {
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------ tests */

/* An unrelated referrer on page 1, a cosign oci-1-1 signature on page 2 (Link, relative). */
static void test_api_two_pages(void **state)
{
    (void)state;
    for (int deferred = 0; deferred < 2; deferred++) {
        struct rwt_eval_fx *f = fx_new();
        char sbom[600];
        char sig[600];
        char want[300];
        struct rwt_eval_result r;

        f->io.deferred = deferred;
        add_referrer(f, "application/spdx+json", true, "application/spdx+json",
                     (const uint8_t *)"{}", 2, NULL, D1, sbom, sizeof(sbom));
        sig_referrer(f, f->team, D1, D1, sig, sizeof(sig));
        add_page(&f->io, D1, sbom, true);
        add_page(&f->io, D1, sig, false);
        r = rwt_eval_run(f, "team/app", D1);
        expect(r, true, RW_REASON_NONE, "of referrer sha256:");
        assert_string_equal(r.v.key_id, "team");
        assert_int_equal(f->io.n_referrers, 2);
        snprintf(want, sizeof(want), RWT_FAKE_ORIGIN "/v2/team/app/referrers/%s?last=p1", D1);
        assert_string_equal(f->io.last_next, want);
        assert_true(f->io.sig_fetched); /* the .sig tag first */
        assert_int_equal(f->io.n_tag, 0);
        /* the payload blob is the evidence; the unrelated referrer was never fetched */
        assert_int_equal(r.v.n_evidence, 1);
        assert_true(has_evidence(&r.v, &f->io, 2));
        assert_int_equal(f->io.n_blob, 1);
        rwt_eval_fx_free(f);
    }
}

static void test_fallback_tag(void **state)
{
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        struct rwt_eval_fx *f = fx_new();
        char sig[600];
        struct rwt_eval_result r;

        sig_referrer(f, f->team, D1, D1, sig, sizeof(sig));
        add_fallback(f, D1, sig);
        if (variant == 0) {
            f->io.no_api = true; /* 404 */
        } else {
            /* 200 but not the index type (an HTML error page), or 400: no API either */
            add_page(&f->io, D1, "", false);
            if (variant == 1) {
                snprintf(f->io.pages[0].ctype, sizeof(f->io.pages[0].ctype), "text/html");
            } else {
                f->io.pages[0].status = 400;
            }
        }
        r = rwt_eval_run(f, "team/app", D1);
        expect(r, true, RW_REASON_NONE, "referrer");
        assert_int_equal(f->io.n_referrers, 1);
        assert_int_equal(f->io.n_tag, 1);
        rwt_eval_fx_free(f);
    }
}

static void test_neither(void **state)
{
    struct rwt_eval_fx *f = fx_new();
    struct rwt_eval_result r;

    (void)state;
    f->io.no_api = true;
    r = rwt_eval_run(f, "team/app", D1);
    expect(r, false, RW_REASON_NO_SIGNATURE, ".sig and 0 referrers (fallback tag)");
    assert_int_equal(f->io.n_tag, 1);
    rwt_eval_fx_free(f);
    /* an API that answers an empty list */
    f = fx_new();
    add_page(&f->io, D1, "", false);
    r = rwt_eval_run(f, "team/app", D1);
    expect(r, false, RW_REASON_NO_SIGNATURE, ".sig and 0 referrers;");
    assert_int_equal(f->io.n_tag, 0);
    rwt_eval_fx_free(f);
}

/* The common path stays cheap: a .sig that allows means no referrers query at all. */
static void test_sig_tag_first(void **state)
{
    struct rwt_eval_fx *f = fx_new();
    struct rwt_eval_result r;

    (void)state;
    rwt_eval_add_sig(f, D1);
    r = rwt_eval_run(f, "team/app", D1);
    expect(r, true, RW_REASON_NONE, ".sig verified");
    assert_int_equal(f->io.n_referrers, 0);
    rwt_eval_fx_free(f);
}

static void test_bundle_message_signature(void **state)
{
    const char *manifest = "{\"schemaVersion\":2,\"the\":\"served manifest\"}";
    char d[72];
    char desc[600];
    struct rwt_eval_fx *f;
    struct rwt_eval_result r;

    (void)state;
    rw_sha256_digest(manifest, strlen(manifest), d);
    f = fx_new();
    msg_bundle_referrer(f, f->team, manifest, d, desc, sizeof(desc));
    add_page(&f->io, d, desc, false);
    r = rwt_eval_run(f, "team/app", d);
    expect(r, true, RW_REASON_NONE, "Sigstore bundle layer 1 of referrer");
    assert_true(has_evidence(&r.v, &f->io, 0));
    rwt_eval_fx_free(f);
    /* signed by a key the rule does not list */
    f = fx_new();
    msg_bundle_referrer(f, f->other, manifest, d, desc, sizeof(desc));
    add_page(&f->io, d, desc, false);
    expect(rwt_eval_run(f, "team/app", d), false, RW_REASON_UNTRUSTED_KEY, NULL);
    rwt_eval_fx_free(f);
    /* a bundle over other bytes, hung under this digest */
    f = fx_new();
    msg_bundle_referrer(f, f->team, "other bytes", d, desc, sizeof(desc));
    add_page(&f->io, d, desc, false);
    expect(rwt_eval_run(f, "team/app", d), false, RW_REASON_BAD_SIGNATURE,
           "but signs another image (sha256:");
    rwt_eval_fx_free(f);
}

static void test_bundle_dsse_signature(void **state)
{
    char desc[4096];
    struct rwt_eval_fx *f = fx_new();
    struct rwt_eval_result r;

    (void)state;
    dsse_bundle_referrer(f, f->team, D1, RW_COSIGN_SIGN_PREDICATE, D1, desc, sizeof(desc));
    add_page(&f->io, D1, desc, false);
    r = rwt_eval_run(f, "team/app", D1);
    expect(r, true, RW_REASON_NONE, "Sigstore bundle");
    rwt_eval_fx_free(f);
    /* a sign/v1 statement for another image, hung under this one */
    f = fx_new();
    dsse_bundle_referrer(f, f->team, D2, RW_COSIGN_SIGN_PREDICATE, D1, desc, sizeof(desc));
    add_page(&f->io, D1, desc, false);
    expect(rwt_eval_run(f, "team/app", D1), false, RW_REASON_BAD_SIGNATURE, "another image digest");
    rwt_eval_fx_free(f);
    /* signed by a key the rule does not list */
    f = fx_new();
    dsse_bundle_referrer(f, f->other, D1, RW_COSIGN_SIGN_PREDICATE, D1, desc, sizeof(desc));
    add_page(&f->io, D1, desc, false);
    expect(rwt_eval_run(f, "team/app", D1), false, RW_REASON_UNTRUSTED_KEY, "no signature on");
    rwt_eval_fx_free(f);
    /* an attestation bundle is not a signature */
    f = fx_new();
    dsse_bundle_referrer(f, f->team, D1, RW_SLSA_PROVENANCE_V1, D1, desc, sizeof(desc));
    add_page(&f->io, D1, desc, false);
    expect(rwt_eval_run(f, "team/app", D1), false, RW_REASON_NO_SIGNATURE, "1 referrers");
    rwt_eval_fx_free(f);
}

/* .sig allows, .att is absent, a bundle attestation in the referrers meets the requirement. */
static void test_bundle_attestation(void **state)
{
    (void)state;
    for (int deferred = 0; deferred < 2; deferred++) {
        struct rwt_eval_fx *f = fx_new();
        char desc[8192];
        struct rwt_eval_result r;

        f->io.deferred = deferred;
        rwt_eval_add_sig(f, D1);
        dsse_bundle_referrer(f, f->team, D1, RW_SLSA_PROVENANCE_V1, D1, desc, sizeof(desc));
        add_page(&f->io, D1, desc, false);
        r = rwt_eval_run(f, "att/app", D1);
        expect(r, true, RW_REASON_NONE, "and referrers verified");
        assert_int_equal(r.v.n_evidence, 2);
        rwt_eval_fx_free(f);
    }
}

/* Signature and attestation both from referrers: the list is fetched once. */
static void test_listed_once(void **state)
{
    struct rwt_eval_fx *f = fx_new();
    char sig[600];
    char att[8192];
    char both[9000];
    struct rwt_eval_result r;

    (void)state;
    sig_referrer(f, f->team, D1, D1, sig, sizeof(sig));
    dsse_bundle_referrer(f, f->team, D1, RW_SLSA_PROVENANCE_V1, D1, att, sizeof(att));
    snprintf(both, sizeof(both), "%s,%s", sig, att);
    add_page(&f->io, D1, both, false);
    r = rwt_eval_run(f, "att/app", D1);
    expect(r, true, RW_REASON_NONE, "and referrers");
    assert_int_equal(f->io.n_referrers, 1);
    rwt_eval_fx_free(f);
}

/* A cosign oci-1-1 attestation referrer (DSSE layers like .att). */
static void test_cosign_att_referrer(void **state)
{
    struct rwt_eval_fx *f = fx_new();
    struct rw_buf st;
    struct rw_buf env;
    char desc[600];

    (void)state;
    rwt_eval_add_sig(f, D1);
    rw_buf_init(&st, 0);
    rw_buf_init(&env, 0);
    statement(&st, D1, RW_SLSA_PROVENANCE_V1);
    envelope(f->team, &st, &env);
    add_referrer(f, RW_AT_COSIGN_ATT, false, RW_MT_DSSE_ENVELOPE, env.data, env.len, "", D1, desc,
                 sizeof(desc));
    add_page(&f->io, D1, desc, false);
    expect(rwt_eval_run(f, "att/app", D1), true, RW_REASON_NONE, "and referrers");
    rw_buf_fini(&st);
    rw_buf_fini(&env);
    rwt_eval_fx_free(f);
    /* no attestation anywhere: the deny says where it looked */
    f = fx_new();
    rwt_eval_add_sig(f, D1);
    f->io.no_api = true;
    expect(rwt_eval_run(f, "att/app", D1), false, RW_REASON_MISSING_ATTESTATION,
           ".att and 0 referrers");
    rwt_eval_fx_free(f);
}

static void test_subject_mismatch(void **state)
{
    struct rwt_eval_fx *f = fx_new();
    char sig[600];
    struct rwt_eval_result r;

    (void)state;
    /* a valid signature of D1, but its manifest hangs under D2 (subject), listed for D1 */
    sig_referrer(f, f->team, D1, D2, sig, sizeof(sig));
    add_page(&f->io, D1, sig, false);
    r = rwt_eval_run(f, "team/app", D1);
    expect(r, false, RW_REASON_BAD_SIGNATURE, "another subject");
    assert_int_equal(f->io.n_blob, 0); /* its layers were never read */
    rwt_eval_fx_free(f);
}

static void test_link_other_host(void **state)
{
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        static const char *const links[] = {
            "<http://evil:2/v2/team/app/referrers/x?last=1>; rel=\"next\"",
            "<//evil:2/v2/team/app/referrers/x>; rel=\"next\"",
            "<http://h:1@evil:2/v2/team/app/referrers/x>; rel=\"next\"",
        };
        struct rwt_eval_fx *f = fx_new();
        char sbom[600];
        struct rwt_eval_result r;

        add_referrer(f, "application/spdx+json", true, "application/spdx+json",
                     (const uint8_t *)"{}", 2, NULL, D1, sbom, sizeof(sbom));
        add_page(&f->io, D1, sbom, false);
        snprintf(f->io.pages[0].link, sizeof(f->io.pages[0].link), "%s", links[variant]);
        r = rwt_eval_run(f, "team/app", D1);
        assert_false(r.v.allow);
        assert_int_equal(r.v.reason, RW_REASON_UPSTREAM_ERROR);
        assert_int_equal(f->io.n_referrers, 1); /* never asked for the other host's page */
        rwt_eval_fx_free(f);
    }
}

static void test_bounds(void **state)
{
    struct rwt_eval_fx *f = fx_new();
    char one[600];
    struct rw_buf many;
    struct rwt_eval_result r;

    (void)state;
    /* pages: every page links to the next; at most RW_MAX_REFERRERS_PAGES are asked for */
    for (size_t i = 0; i < RWT_FAKE_MAX_PAGES; i++) {
        add_page(&f->io, D1, "", i + 1 < RWT_FAKE_MAX_PAGES);
    }
    r = rwt_eval_run(f, "team/app", D1);
    expect(r, false, RW_REASON_NO_SIGNATURE, NULL);
    assert_int_equal(f->io.n_referrers, RW_MAX_REFERRERS_PAGES);
    rwt_eval_fx_free(f);
    /* descriptors: 40 signature referrers for another subject; at most
     * RW_MAX_REFERRER_ARTIFACTS manifests are fetched */
    f = fx_new();
    rw_buf_init(&many, 0);
    for (int i = 0; i < 40; i++) {
        char digest[72];

        snprintf(digest, sizeof(digest), "sha256:%064d", i + 1);
        sig_referrer(f, f->team, digest, digest, one, sizeof(one));
        assert_int_equal(rw_buf_printf(&many, "%s%s", i == 0 ? "" : ",", one), 0);
    }
    add_page(&f->io, D1, (char *)many.data, false);
    r = rwt_eval_run(f, "team/app", D1);
    expect(r, false, RW_REASON_BAD_SIGNATURE, NULL);
    assert_int_equal(f->io.n_manifest, 1 + RW_MAX_REFERRER_ARTIFACTS); /* .sig + the bound */
    rw_buf_fini(&many);
    rwt_eval_fx_free(f);
}

/* A referrer manifest whose bytes do not hash to the digest the index gave is not read. */
static void test_manifest_digest_mismatch(void **state)
{
    struct rwt_eval_fx *f = fx_new();
    const struct rwt_obj *m;
    char sig[600];
    char key[80];
    char *d;

    (void)state;
    sig_referrer(f, f->team, D1, D1, sig, sizeof(sig));
    m = &f->io.objs[f->io.n - 1]; /* the manifest, stored last */
    d = strstr(sig, "\"digest\":\"") + 10;
    d[7] = d[7] == '0' ? '1' : '0'; /* the index names other bytes... */
    snprintf(key, sizeof(key), "%.71s", d);
    /* ...and the registry serves the signature manifest under that name */
    assert_int_equal(rw_buf_append(rwt_fake_put(&f->io, key, 200), m->body.data, m->body.len), 0);
    add_page(&f->io, D1, sig, false);
    expect(rwt_eval_run(f, "team/app", D1), false, RW_REASON_BAD_SIGNATURE, "digest mismatch");
    assert_int_equal(f->io.n_blob, 0);
    rwt_eval_fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_two_pages),
        cmocka_unit_test(test_fallback_tag),
        cmocka_unit_test(test_neither),
        cmocka_unit_test(test_sig_tag_first),
        cmocka_unit_test(test_bundle_message_signature),
        cmocka_unit_test(test_bundle_dsse_signature),
        cmocka_unit_test(test_bundle_attestation),
        cmocka_unit_test(test_listed_once),
        cmocka_unit_test(test_cosign_att_referrer),
        cmocka_unit_test(test_subject_mismatch),
        cmocka_unit_test(test_link_other_host),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_manifest_digest_mismatch),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
