/* SPDX-License-Identifier: MIT */
/*
 * policy/eval.c with require.attestations, on fake fetch ops: allow, missing-attestation (no .att,
 * wrong predicate type, wrong subject, wrong key, legacy payloadType, layer bound), two required
 * types, upstream errors failing closed, deferred callbacks and failmalloc; requirements with
 * their own keys and conditions (provenance builder, vulnerability scan, SBOM), the evidence an
 * allow records, and the signature path's verify-then-parse order.
 */
#include <errno.h>

#include "common.h"
#include "evalfake.h"

#define D1 "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
#define D2 "sha256:9999999999999999999999999999999999999999999999999999999999999999"
#define SBOM "https://example.com/sbom/v1"

/* ------------------------------------------------------------------ fixtures */

static struct rwt_eval_fx *fx_new_yaml(const char *yaml)
{
    return rwt_eval_fx_new("att.yaml", yaml, &rwt_fake_ops);
}

static struct rwt_eval_fx *fx_new(void)
{
    return fx_new_yaml("upstreams: {r: 'http://h:1'}\n"
                       "keys:\n"
                       "  team: {file: p256.pub}\n"
                       "  other: {file: other.pub}\n"
                       "pull:\n"
                       "  rules:\n"
                       "    - match: 'r/team/**'\n"
                       "      require: {signed_by: [team], attestations: "
                       "[https://slsa.dev/provenance/v1]}\n"
                       "    - match: 'r/two/**'\n"
                       "      require:\n"
                       "        signed_by: [other, team]\n"
                       "        attestations: [https://slsa.dev/provenance/v1, " SBOM "]\n"
                       "    - match: 'r/plain/**'\n"
                       "      require: {signed_by: [team]}\n");
}

/* Append a raw layer (any media type, envelope bytes) to the .att manifest of @p digest. */
static void add_att_layer(struct rwt_eval_fx *f, const char *digest, const char *media_type,
                          const uint8_t *blob, size_t len)
{
    char tag[80];
    char bd[72];
    const char *ann[2] = {RW_ANN_PREDICATE, RW_SLSA_PROVENANCE_V1};
    struct rw_cosign_layer_desc d = {.media_type = media_type, .size = len,
                                     .max_size = RW_MAX_ENVELOPE_BYTES, .sig_b64 = "",
                                     .ann_kv = ann, .n_ann = 1};
    const struct rw_buf *old;
    struct rw_buf cfg;
    struct rw_buf man;

    rw_sha256_digest(blob, len, bd);
    d.digest = bd;
    assert_int_equal(rw_buf_append(rwt_fake_put(&f->io, bd, 200), blob, len), 0);
    assert_int_equal(rw_cosign_att_tag(digest, tag), 0);
    rw_buf_init(&cfg, 0);
    rw_buf_init(&man, 0);
    old = rwt_fake_get(&f->io, tag);
    assert_int_equal(rw_cosign_attach_manifest_build(old != NULL ? old->data : NULL,
                                                     old != NULL ? old->len : 0, &d, &cfg, &man),
                     0);
    assert_int_equal(rw_buf_append(rwt_fake_put(&f->io, tag, 200), man.data, man.len), 0);
    rw_buf_fini(&cfg);
    rw_buf_fini(&man);
}

/*
 * An attestation for image @p digest whose statement names @p subject_digest and has @p ptype,
 * in an envelope of @p payload_type signed by @p s.
 */
static void add_att(struct rwt_eval_fx *f, struct rw_signer *s, const char *digest,
                    const char *subject_digest, const char *ptype, const char *payload_type)
{
    struct rw_attest_params ap = {.subject_name = "r/team/app", .digest = subject_digest,
                                  .repository = "team/app", .reference = "v1",
                                  .invocation_id = "t", .started_on = 1, .finished_on = 2};
    struct rw_buf st;
    struct rw_buf pae;
    struct rw_buf env;
    struct rwt_sig g;

    rw_buf_init(&st, 0);
    rw_buf_init(&pae, 0);
    rw_buf_init(&env, 0);
    if (strcmp(ptype, RW_SLSA_PROVENANCE_V1) == 0) {
        assert_int_equal(rw_attest_statement_build(&ap, &st), 0);
    } else {
        assert_int_equal(rw_buf_printf(&st,
                                       "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":"
                                       "[{\"name\":\"x\",\"digest\":{\"sha256\":\"%s\"}}],"
                                       "\"predicateType\":\"%s\",\"predicate\":{}}",
                                       subject_digest + 7, ptype),
                         0);
    }
    assert_int_equal(rw_dsse_pae(payload_type, strlen(payload_type), st.data, st.len, &pae), 0);
    g = rwt_sign(s, pae.data, pae.len);
    assert_int_equal(rw_dsse_envelope_build(payload_type, st.data, st.len, g.sig, g.len, &env), 0);
    add_att_layer(f, digest, RW_MT_DSSE_ENVELOPE, env.data, env.len);
    rw_buf_fini(&st);
    rw_buf_fini(&pae);
    rw_buf_fini(&env);
}

static void add_good_att(struct rwt_eval_fx *f, const char *digest)
{
    add_att(f, f->team, digest, digest, RW_SLSA_PROVENANCE_V1, RW_DSSE_INTOTO_TYPE);
}
static void expect(struct rwt_eval_result r, int rc, bool allow, enum rw_reason reason,
                   const char *in_detail)
{
    if (r.rc != rc || r.v.allow != allow || r.v.reason != reason ||
        (in_detail != NULL && strstr(r.v.detail, in_detail) == NULL)) {
        fail_msg("got rc %d allow %d reason %s (%s); want rc %d allow %d reason %s (\"%s\")", r.rc,
                 r.v.allow, rw_reason_str(r.v.reason), r.v.detail, rc, allow,
                 rw_reason_str(reason), in_detail != NULL ? in_detail : "");
    }
}

/* ------------------------------------------------------------------ tests */

static void test_allow(void **state)
{
    (void)state;
    for (int deferred = 0; deferred < 2; deferred++) {
        struct rwt_eval_fx *f = fx_new();
        struct rwt_eval_result r;

        f->io.deferred = deferred;
        rwt_eval_add_sig(f, D1);
        add_good_att(f, D1);
        r = rwt_eval_run(f, "team/app", D1);
        expect(r, 0, true, RW_REASON_NONE, ".att verified");
        assert_string_equal(r.v.key_id, "team");
        rwt_eval_fx_free(f);
    }
}

static void test_missing(void **state)
{
    struct rwt_eval_fx *f = fx_new();
    struct rwt_eval_result r;

    (void)state;
    rwt_eval_add_sig(f, D1);
    r = rwt_eval_run(f, "team/app", D1);
    expect(r, 0, false, RW_REASON_MISSING_ATTESTATION, RW_SLSA_PROVENANCE_V1);
    assert_non_null(strstr(r.v.detail, "team"));
    assert_non_null(strstr(r.v.detail, ".att"));
    rwt_eval_fx_free(f);
}

static void test_no_signature_first(void **state)
{
    struct rwt_eval_fx *f = fx_new();

    (void)state;
    add_good_att(f, D1); /* an attestation does not stand in for a signature */
    expect(rwt_eval_run(f, "team/app", D1), 0, false, RW_REASON_NO_SIGNATURE, NULL);
    assert_false(f->io.att_fetched);
    rwt_eval_fx_free(f);
}

static void test_plain_rule_skips_att(void **state)
{
    struct rwt_eval_fx *f = fx_new();

    (void)state;
    rwt_eval_add_sig(f, D1);
    expect(rwt_eval_run(f, "plain/app", D1), 0, true, RW_REASON_NONE, NULL);
    assert_false(f->io.att_fetched);
    rwt_eval_fx_free(f);
}

static void test_wrong_type(void **state)
{
    struct rwt_eval_fx *f = fx_new();

    (void)state;
    rwt_eval_add_sig(f, D1);
    add_att(f, f->team, D1, D1, "https://slsa.dev/provenance/v0.2", RW_DSSE_INTOTO_TYPE);
    expect(rwt_eval_run(f, "team/app", D1), 0, false, RW_REASON_MISSING_ATTESTATION,
           "predicate type \"https://slsa.dev/provenance/v0.2\"");
    rwt_eval_fx_free(f);
}

static void test_wrong_subject(void **state)
{
    struct rwt_eval_fx *f = fx_new();

    (void)state;
    rwt_eval_add_sig(f, D1);
    add_att(f, f->team, D1, D2, RW_SLSA_PROVENANCE_V1, RW_DSSE_INTOTO_TYPE);
    expect(rwt_eval_run(f, "team/app", D1), 0, false, RW_REASON_MISSING_ATTESTATION, "no subject");
    rwt_eval_fx_free(f);
}

static void test_wrong_key(void **state)
{
    struct rwt_eval_fx *f = fx_new();

    (void)state;
    rwt_eval_add_sig(f, D1);
    add_att(f, f->other, D1, D1, RW_SLSA_PROVENANCE_V1, RW_DSSE_INTOTO_TYPE);
    expect(rwt_eval_run(f, "team/app", D1), 0, false, RW_REASON_MISSING_ATTESTATION,
           "no envelope verifies with keys team");
    rwt_eval_fx_free(f);
}

static void test_legacy_payload_type(void **state)
{
    struct rwt_eval_fx *f = fx_new();

    (void)state;
    rwt_eval_add_sig(f, D1);
    add_att(f, f->team, D1, D1, RW_SLSA_PROVENANCE_V1, "https://example.com/CodeReview/v1");
    expect(rwt_eval_run(f, "team/app", D1), 0, false, RW_REASON_MISSING_ATTESTATION,
           "payload type \"https://example.com/CodeReview/v1\"");
    rwt_eval_fx_free(f);
}

/* Bad layers first, then the good one: the good one counts. */
static void test_bad_then_good(void **state)
{
    struct rwt_eval_fx *f = fx_new();

    (void)state;
    rwt_eval_add_sig(f, D1);
    add_att_layer(f, D1, RW_MT_DSSE_ENVELOPE, (const uint8_t *)"not json", 8);
    add_att_layer(f, D1, "application/vnd.other", (const uint8_t *)"{}", 2);
    add_att(f, f->other, D1, D1, RW_SLSA_PROVENANCE_V1, RW_DSSE_INTOTO_TYPE);
    add_att(f, f->team, D1, D2, RW_SLSA_PROVENANCE_V1, RW_DSSE_INTOTO_TYPE);
    add_good_att(f, D1);
    expect(rwt_eval_run(f, "team/app", D1), 0, true, RW_REASON_NONE, NULL);
    rwt_eval_fx_free(f);
}

static void test_two_types(void **state)
{
    struct rwt_eval_fx *f = fx_new();

    (void)state;
    rwt_eval_add_sig(f, D1);
    add_good_att(f, D1);
    expect(rwt_eval_run(f, "two/app", D1), 0, false, RW_REASON_MISSING_ATTESTATION, SBOM);
    add_att(f, f->team, D1, D1, SBOM, RW_DSSE_INTOTO_TYPE);
    expect(rwt_eval_run(f, "two/app", D1), 0, true, RW_REASON_NONE, "2 attestation type(s)");
    rwt_eval_fx_free(f);
}

static void test_upstream_errors(void **state)
{
    struct rwt_eval_fx *f = fx_new();
    struct rwt_eval_result r;

    (void)state;
    rwt_eval_add_sig(f, D1);
    add_good_att(f, D1);
    f->io.att_status_override = 500;
    r = rwt_eval_run(f, "team/app", D1);
    assert_int_not_equal(r.rc, 0);
    expect(r, r.rc, false, RW_REASON_UPSTREAM_ERROR, NULL);
    f->io.att_status_override = 401;
    r = rwt_eval_run(f, "team/app", D1);
    expect(r, r.rc, false, RW_REASON_UPSTREAM_ERROR, NULL);
    assert_int_not_equal(r.rc, 0);
    /* the envelope blob fails: no decision */
    f->io.att_status_override = 0;
    f->io.blob_status_override = 503;
    r = rwt_eval_run(f, "team/app", D1);
    assert_int_not_equal(r.rc, 0);
    expect(r, r.rc, false, RW_REASON_UPSTREAM_ERROR, NULL);
    rwt_eval_fx_free(f);
}

static void test_layer_bound(void **state)
{
    struct rwt_eval_fx *f = fx_new();
    char junk[32];

    (void)state;
    rwt_eval_add_sig(f, D1);
    add_good_att(f, D1); /* the oldest layer, 64 newer ones after it: never examined */
    for (unsigned i = 0; i < RW_MAX_SIG_LAYERS; i++) {
        int n = snprintf(junk, sizeof(junk), "{\"junk\":%u}", i);

        add_att_layer(f, D1, RW_MT_DSSE_ENVELOPE, (const uint8_t *)junk, (size_t)n);
    }
    expect(rwt_eval_run(f, "team/app", D1), 0, false, RW_REASON_MISSING_ATTESTATION, NULL);
    assert_true(f->io.n_fetch <= 3 + (int)RW_MAX_SIG_LAYERS);
    rwt_eval_fx_free(f);
    /* the newest layer after 64 older ones (an .att grows by one per push): examined */
    f = fx_new();
    rwt_eval_add_sig(f, D1);
    for (unsigned i = 0; i < RW_MAX_SIG_LAYERS; i++) {
        int n = snprintf(junk, sizeof(junk), "{\"junk\":%u}", i);

        add_att_layer(f, D1, RW_MT_DSSE_ENVELOPE, (const uint8_t *)junk, (size_t)n);
    }
    add_good_att(f, D1);
    expect(rwt_eval_run(f, "team/app", D1), 0, true, RW_REASON_NONE, NULL);
    rwt_eval_fx_free(f);
}

static void test_failmalloc(void **state)
{
    (void)state;
    for (int deferred = 0; deferred < 2; deferred++) {
        bool completed = false;

        for (long n = 0; n < 3000 && !completed; n++) {
            struct rwt_eval_fx *f = fx_new();
            struct rwt_eval_result res = {0};
            struct rw_policy_eval *e = NULL;
            const struct rw_pull_rule *rule = rw_policy_pull_rule(f->cfg, "r", "team/app");
            int rc;

            f->io.deferred = deferred;
            rwt_eval_add_sig(f, D1);
            add_att(f, f->team, D1, D2, RW_SLSA_PROVENANCE_V1, RW_DSSE_INTOTO_TYPE);
            add_good_att(f, D1);
            rw_mem_fail_after(n);
            rc = rw_policy_eval_start(f->cfg, rule, D1, f->ops, &f->io, rwt_eval_on_done, &res, &e);
            while (rc == 0 && rwt_fake_pump(&f->io)) {
            }
            rw_mem_fail_after(-1);
            if (rc != 0) {
                assert_int_equal(rc, -ENOMEM);
                assert_int_equal(res.calls, 0);
            } else {
                assert_int_equal(res.calls, 1);
                if (res.rc != 0) {
                    assert_false(res.v.allow);
                } else {
                    assert_true(res.v.allow);
                    completed = true;
                }
            }
            rwt_eval_fx_free(f);
        }
        assert_true(completed);
    }
}

/* require.attestations in the config: file:line errors, and the policy hash covers the list. */
static void test_config(void **state)
{
    static const struct {
        const char *rule;
        const char *err;
    } bad[] = {
        {"{signed_by: [team], attestations: x}",
         "att.yaml:6: require.attestations: expected a list"},
        {"{signed_by: [team], attestations: [not-a-uri]}", "is not a predicate type URI"},
        {"{signed_by: [team], attestations: ['a:b c']}", "is not a predicate type URI"},
        {"{signed_by: [team], attestations: [a:b, a:b]}", "is listed twice"},
        {"{signed_by: [team], attestations: [a:1, a:2, a:3, a:4, a:5, a:6, a:7, a:8, a:9, a:10, "
         "a:11, a:12, a:13, a:14, a:15, a:16, a:17]}",
         "too many entries"},
        {"{attestations: [a:b]}", "signed_by is required"},
        {"{signed_by: [team], attestation: [a:b]}", "attestation"},
    };
    char dir[1024];
    char err[512];
    char yaml[1024];
    struct rw_config *a = NULL;
    struct rw_config *b = NULL;
    struct rw_config *c = NULL;

    (void)state;
    pdata_dir(dir, sizeof(dir));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rw_config *cfg = NULL;

        snprintf(yaml, sizeof(yaml),
                 "upstreams: {r: 'http://h:1'}\nkeys: {team: {file: p256.pub}}\npull:\n"
                 "  rules:\n    - match: 'r/**'\n      require: %s\n",
                 bad[i].rule);
        err[0] = '\0';
        assert_int_equal(
            rw_config_load_mem("att.yaml", dir, yaml, strlen(yaml), &cfg, err, sizeof(err)),
            RW_ECONFIG);
        assert_null(cfg);
        if (strstr(err, bad[i].err) == NULL || strncmp(err, "att.yaml:", 9) != 0) {
            fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, bad[i].err);
        }
    }
    snprintf(yaml, sizeof(yaml), "upstreams: {r: 'http://h:1'}\nkeys: {team: {file: p256.pub}}\n"
                                 "pull: {rules: [{match: 'r/**', require: {signed_by: [team]}}]}"
                                 "\n");
    assert_int_equal(rw_config_load_mem("a.yaml", dir, yaml, strlen(yaml), &a, err, sizeof(err)),
                     0);
    snprintf(yaml, sizeof(yaml),
             "upstreams: {r: 'http://h:1'}\nkeys: {team: {file: p256.pub}}\n"
             "pull: {rules: [{match: 'r/**', require: {signed_by: [team], attestations: []}}]}\n");
    assert_int_equal(rw_config_load_mem("b.yaml", dir, yaml, strlen(yaml), &b, err, sizeof(err)),
                     0);
    snprintf(yaml, sizeof(yaml),
             "upstreams: {r: 'http://h:1'}\nkeys: {team: {file: p256.pub}}\n"
             "pull: {rules: [{match: 'r/**', require: {signed_by: [team], attestations: "
             "[https://slsa.dev/provenance/v1]}}]}\n");
    assert_int_equal(rw_config_load_mem("c.yaml", dir, yaml, strlen(yaml), &c, err, sizeof(err)),
                     0);
    assert_int_equal(c->pull[0].n_attestations, 1);
    assert_string_equal(c->pull[0].attestations[0].predicate_type, RW_SLSA_PROVENANCE_V1);
    /* an empty list is no requirement (same hash); a listed type changes the hash */
    assert_memory_equal(a->policy_hash, b->policy_hash, 32);
    assert_memory_not_equal(a->policy_hash, c->policy_hash, 32);
    rw_config_unref(&a);
    rw_config_unref(&b);
    rw_config_unref(&c);
}

/* ------------------------------------------------------------------ requirements with conditions */

#define VULN "https://cosign.sigstore.dev/attestation/vuln/v1"
#define SPDX "https://spdx.dev/Document"
#define BUILDER "spiffe://example.org/regwarden"

static struct rwt_eval_fx *fx_cond(void)
{
    return fx_new_yaml("upstreams: {r: 'http://h:1'}\n"
                       "keys:\n"
                       "  team: {file: p256.pub}\n"
                       "  pipeline: {file: other.pub}\n"
                       "pull:\n"
                       "  rules:\n"
                       "    - match: 'r/prov/**'\n"
                       "      require:\n"
                       "        signed_by: [team]\n"
                       "        attestations:\n"
                       "          - predicate_type: https://slsa.dev/provenance/v1\n"
                       "            signed_by: [pipeline]\n"
                       "            conditions:\n"
                       "              - {path: runDetails.builder.id, equals: '" BUILDER "'}\n"
                       "              - path: buildDefinition.externalParameters.repository\n"
                       "                in: [team/app, team/web]\n"
                       "              - {path: runDetails.builder.id, matches: 'spiffe://example.org/*'}\n"
                       "    - match: 'r/scan/**'\n"
                       "      require:\n"
                       "        signed_by: [team]\n"
                       "        attestations:\n"
                       "          - predicate_type: " VULN "\n"
                       "            conditions:\n"
                       "              - path: 'scanner.result.Results.*.Vulnerabilities.*.Severity'\n"
                       "                in: [LOW, MEDIUM, UNKNOWN]\n"
                       "              - {path: scanner.result.summary.critical, at_most: 0}\n"
                       "          - " SPDX "\n");
}

/* An envelope (in-toto, signed by @p s) around @p statement, appended to @p digest's .att. */
static void add_stmt(struct rwt_eval_fx *f, struct rw_signer *s, const char *digest,
                     const char *statement, char blob_digest[72])
{
    struct rw_buf pae;
    struct rw_buf env;
    struct rwt_sig g;

    rw_buf_init(&pae, 0);
    rw_buf_init(&env, 0);
    assert_int_equal(rw_dsse_pae(RW_DSSE_INTOTO_TYPE, strlen(RW_DSSE_INTOTO_TYPE),
                                 (const uint8_t *)statement, strlen(statement), &pae),
                     0);
    g = rwt_sign(s, pae.data, pae.len);
    assert_int_equal(rw_dsse_envelope_build(RW_DSSE_INTOTO_TYPE, (const uint8_t *)statement,
                                            strlen(statement), g.sig, g.len, &env),
                     0);
    if (blob_digest != NULL) {
        rw_sha256_digest(env.data, env.len, blob_digest);
    }
    add_att_layer(f, digest, RW_MT_DSSE_ENVELOPE, env.data, env.len);
    rw_buf_fini(&pae);
    rw_buf_fini(&env);
}

/* regwarden's own provenance for @p digest with builder id @p builder, signed by @p s. */
static void add_prov(struct rwt_eval_fx *f, struct rw_signer *s, const char *digest,
                     const char *builder, const char *repo, char blob_digest[72])
{
    struct rw_attest_params ap = {.subject_name = "r/prov/app", .digest = digest,
                                  .repository = repo, .reference = "v1", .builder_id = builder,
                                  .invocation_id = "t", .started_on = 1, .finished_on = 2};
    struct rw_buf st;

    rw_buf_init(&st, 0);
    assert_int_equal(rw_attest_statement_build(&ap, &st), 0);
    assert_int_equal(rw_buf_append(&st, "", 1), 0); /* NUL for add_stmt */
    add_stmt(f, s, digest, (const char *)st.data, blob_digest);
    rw_buf_fini(&st);
}

/* A statement of @p ptype for @p digest with predicate @p predicate (JSON). */
static void add_pred(struct rwt_eval_fx *f, struct rw_signer *s, const char *digest,
                     const char *ptype, const char *predicate, char blob_digest[72])
{
    char st[2048];

    snprintf(st, sizeof(st),
             "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"name\":\"x\","
             "\"digest\":{\"sha256\":\"%s\"}}],\"predicateType\":\"%s\",\"predicate\":%s}",
             digest + 7, ptype, predicate);
    add_stmt(f, s, digest, st, blob_digest);
}

static void test_cond_builder(void **state)
{
    struct rwt_eval_fx *f;
    struct rwt_eval_result r;
    char sig_blob[72];
    char att_blob[72];
    char tag[80];

    (void)state;
    /* the condition holds: allow, and the verdict names the signature and the envelope */
    f = fx_cond();
    rwt_eval_add_sig(f, D1);
    add_prov(f, f->other, D1, BUILDER, "team/app", att_blob);
    r = rwt_eval_run(f, "prov/app", D1);
    expect(r, 0, true, RW_REASON_NONE, ".att verified");
    assert_string_equal(r.v.key_id, "team");
    assert_int_equal(r.v.n_evidence, 2);
    assert_int_equal(rw_cosign_sig_tag(D1, tag), 0);
    assert_true(strncmp(r.v.evidence[0], "sha256:", 7) == 0);
    assert_string_not_equal(r.v.evidence[0], att_blob);
    (void)sig_blob;
    assert_string_equal(r.v.evidence[1], att_blob);
    rwt_eval_fx_free(f);

    /* another builder: deny, naming the requirement, the condition and what was found */
    f = fx_cond();
    rwt_eval_add_sig(f, D1);
    add_prov(f, f->other, D1, "spiffe://other.org/ci", "team/app", NULL);
    r = rwt_eval_run(f, "prov/app", D1);
    expect(r, 0, false, RW_REASON_MISSING_ATTESTATION,
           "attestation 1 (https://slsa.dev/provenance/v1, keys pipeline) not met: condition 1 "
           "runDetails.builder.id equals \"" BUILDER "\": got \"spiffe://other.org/ci\"");
    assert_int_equal(r.v.n_evidence, 0);
    rwt_eval_fx_free(f);

    /* the right builder for a repository not in the list */
    f = fx_cond();
    rwt_eval_add_sig(f, D1);
    add_prov(f, f->other, D1, BUILDER, "team/evil", NULL);
    expect(rwt_eval_run(f, "prov/app", D1), 0, false, RW_REASON_MISSING_ATTESTATION,
           "condition 2 buildDefinition.externalParameters.repository in [\"team/app\", "
           "\"team/web\"]: got \"team/evil\"");
    rwt_eval_fx_free(f);

    /* a failing envelope before a passing one: the passing one counts */
    f = fx_cond();
    rwt_eval_add_sig(f, D1);
    add_prov(f, f->other, D1, "spiffe://other.org/ci", "team/app", NULL);
    add_prov(f, f->other, D1, BUILDER, "team/web", NULL);
    expect(rwt_eval_run(f, "prov/app", D1), 0, true, RW_REASON_NONE, NULL);
    rwt_eval_fx_free(f);
}

static void test_cond_keys(void **state)
{
    struct rwt_eval_fx *f;

    (void)state;
    /* a perfect provenance signed by the rule's key, but the requirement wants pipeline */
    f = fx_cond();
    rwt_eval_add_sig(f, D1);
    add_prov(f, f->team, D1, BUILDER, "team/app", NULL);
    expect(rwt_eval_run(f, "prov/app", D1), 0, false, RW_REASON_MISSING_ATTESTATION,
           "attestation 1 (https://slsa.dev/provenance/v1, keys pipeline) not met: no envelope "
           "verifies with keys pipeline");
    rwt_eval_fx_free(f);

    /* no .att at all: the other detail shape (README's troubleshooting table lists both) */
    f = fx_cond();
    rwt_eval_add_sig(f, D1);
    expect(rwt_eval_run(f, "prov/app", D1), 0, false, RW_REASON_MISSING_ATTESTATION,
           "no attestation of type https://slsa.dev/provenance/v1 for " D1 " (looked in sha256-");
    rwt_eval_fx_free(f);
    f = fx_cond();
    rwt_eval_add_sig(f, D1);
    expect(rwt_eval_run(f, "prov/app", D1), 0, false, RW_REASON_MISSING_ATTESTATION,
           "); keys: pipeline");
    rwt_eval_fx_free(f);
}

static void test_cond_vuln_scan(void **state)
{
    static const struct {
        const char *predicate;
        bool allow;
        const char *detail;
    } cases[] = {
        {"{\"scanner\":{\"result\":{\"summary\":{\"critical\":0},\"Results\":[{\"Target\":\"a\","
         "\"Vulnerabilities\":[{\"Severity\":\"LOW\"},{\"Severity\":\"MEDIUM\"}]},"
         "{\"Target\":\"b\"}]}}}",
         true, NULL},
        /* Trivy omits Vulnerabilities when there are none */
        {"{\"scanner\":{\"result\":{\"summary\":{\"critical\":0},\"Results\":[]}}}", true, NULL},
        {"{\"scanner\":{\"result\":{\"summary\":{\"critical\":1},\"Results\":[{"
         "\"Vulnerabilities\":[{\"Severity\":\"LOW\"},{\"Severity\":\"CRITICAL\"}]}]}}}",
         false,
         "attestation 1 (" VULN ", keys team) not met: condition 1 "
         "scanner.result.Results.*.Vulnerabilities.*.Severity in [\"LOW\", \"MEDIUM\", "
         "\"UNKNOWN\"]: got \"CRITICAL\" at scanner.result.Results.0.Vulnerabilities.1.Severity"
         " [looked in 2 .att layer(s) and 0 referrers]"},
        /* a scanner result of another shape does not pass silently */
        {"{\"scanner\":{\"result\":{\"summary\":{\"critical\":0},\"Findings\":[]}}}", false,
         "condition 1 scanner.result.Results.*.Vulnerabilities.*.Severity in [\"LOW\", \"MEDIUM\", "
         "\"UNKNOWN\"]: scanner.result.Results not found"},
        {"{\"scanner\":{\"result\":{\"summary\":{\"critical\":\"0\"},\"Results\":[]}}}", false,
         "condition 2 scanner.result.summary.critical at_most 0: got \"0\""},
        {"{\"scanner\":{\"result\":{\"summary\":{\"critical\":2},\"Results\":[]}}}", false,
         "condition 2 scanner.result.summary.critical at_most 0: got 2"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rwt_eval_fx *f = fx_cond();
        char vuln_blob[72];
        char sbom_blob[72];
        struct rwt_eval_result r;

        rwt_eval_add_sig(f, D1);
        add_pred(f, f->team, D1, VULN, cases[i].predicate, vuln_blob);
        add_pred(f, f->team, D1, SPDX, "{\"spdxVersion\":\"SPDX-2.3\"}", sbom_blob);
        r = rwt_eval_run(f, "scan/app", D1);
        if (r.v.allow != cases[i].allow ||
            (cases[i].detail != NULL && strstr(r.v.detail, cases[i].detail) == NULL)) {
            fail_msg("case %zu: allow %d detail \"%s\"", i, r.v.allow, r.v.detail);
        }
        if (cases[i].allow) {
            assert_int_equal(r.v.n_evidence, 3);
            assert_string_equal(r.v.evidence[1], vuln_blob);
            assert_string_equal(r.v.evidence[2], sbom_blob);
        } else {
            assert_int_equal(r.v.reason, RW_REASON_MISSING_ATTESTATION);
        }
        rwt_eval_fx_free(f);
    }
}

static void test_cond_sbom(void **state)
{
    struct rwt_eval_fx *f;

    (void)state;
    /* the scan passes, the SBOM is absent: requirement 2 is named */
    f = fx_cond();
    rwt_eval_add_sig(f, D1);
    add_pred(f, f->team, D1, VULN,
             "{\"scanner\":{\"result\":{\"summary\":{\"critical\":0},\"Results\":[]}}}", NULL);
    expect(rwt_eval_run(f, "scan/app", D1), 0, false, RW_REASON_MISSING_ATTESTATION,
           "attestation 2 (" SPDX ", keys team) not met: an envelope verified with key team has "
           "predicate type \"" VULN "\"");
    rwt_eval_fx_free(f);

    /* the SBOM for another image does not count */
    f = fx_cond();
    rwt_eval_add_sig(f, D1);
    add_pred(f, f->team, D1, VULN,
             "{\"scanner\":{\"result\":{\"summary\":{\"critical\":0},\"Results\":[]}}}", NULL);
    {
        char st[512];

        snprintf(st, sizeof(st),
                 "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"name\":\"x\","
                 "\"digest\":{\"sha256\":\"%s\"}}],\"predicateType\":\"" SPDX "\",\"predicate\":{}}",
                 D2 + 7);
        add_stmt(f, f->team, D1, st, NULL);
    }
    expect(rwt_eval_run(f, "scan/app", D1), 0, false, RW_REASON_MISSING_ATTESTATION,
           "attestation 2 (" SPDX ", keys team) not met: a statement verified with key team has "
           "no subject with the sha256 of");
    rwt_eval_fx_free(f);
}

/* Signature path: verified first, then the payload is read and must name this image. */
static void test_sig_verified_then_parsed(void **state)
{
    struct rwt_eval_fx *f;
    struct rw_buf p;

    (void)state;
    /* signed by the team key, but for another image */
    f = fx_new();
    rw_buf_init(&p, 0);
    assert_int_equal(rw_cosign_payload_build("r/team/app", D2, &p), 0);
    rwt_eval_add_sig_payload(f, D1, &p);
    expect(rwt_eval_run(f, "plain/app", D1), 0, false, RW_REASON_BAD_SIGNATURE,
           "signature layer 1 verifies with key team but signs " D2 " (not this image)");
    rw_buf_fini(&p);
    rwt_eval_fx_free(f);

    /* signed by the team key, but not a simple-signing payload */
    f = fx_new();
    rw_buf_init(&p, 0);
    assert_int_equal(rw_buf_appends(&p, "{\"critical\":{\"type\":\"something else\"}}"), 0);
    rwt_eval_add_sig_payload(f, D1, &p);
    expect(rwt_eval_run(f, "plain/app", D1), 0, false, RW_REASON_BAD_SIGNATURE,
           "signature layer 1 verifies with key team but its payload is not a cosign "
           "simple-signing payload");
    rw_buf_fini(&p);
    rwt_eval_fx_free(f);

    /* the same malformed payload under a key not listed: never read, untrusted-key */
    f = fx_new_yaml("upstreams: {r: 'http://h:1'}\nkeys: {team: {file: p256.pub}, other: "
                    "{file: other.pub}}\npull: {rules: [{match: 'r/**', require: {signed_by: "
                    "[other]}}]}\n");
    rw_buf_init(&p, 0);
    assert_int_equal(rw_buf_appends(&p, "not json"), 0);
    rwt_eval_add_sig_payload(f, D1, &p);
    expect(rwt_eval_run(f, "plain/app", D1), 0, false, RW_REASON_UNTRUSTED_KEY,
           "verifies with key other");
    rw_buf_fini(&p);
    rwt_eval_fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allow),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_no_signature_first),
        cmocka_unit_test(test_plain_rule_skips_att),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_wrong_subject),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_legacy_payload_type),
        cmocka_unit_test(test_bad_then_good),
        cmocka_unit_test(test_two_types),
        cmocka_unit_test(test_upstream_errors),
        cmocka_unit_test(test_layer_bound),
        cmocka_unit_test(test_failmalloc),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_cond_builder),
        cmocka_unit_test(test_cond_keys),
        cmocka_unit_test(test_cond_vuln_scan),
        cmocka_unit_test(test_cond_sbom),
        cmocka_unit_test(test_sig_verified_then_parsed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
