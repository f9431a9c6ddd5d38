/* SPDX-License-Identifier: MIT */
/*
 * policy/dsse.c and policy/attest.c: PAE (the spec's vector), every DSSE golden vector (6, 7, 10,
 * 11, 12, 13) with the results the vectors README expects, tampered variants, URL-safe base64,
 * parser bounds, subject binding, envelope and statement round trips, .att manifests.
 */
#include <errno.h>

#include <jansson.h>

#include "common.h"
#include "evalfake.h"

#define SLSA02 "https://slsa.dev/provenance/v0.2"
#define V6_DIGEST "sha256:658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24"
#define V10_DIGEST "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
#define D1 "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
#define D2 "sha256:9999999999999999999999999999999999999999999999999999999999999999"

static void load_env(const char *rel, struct rw_dsse_envelope *env)
{
    size_t n = 0;
    uint8_t *b = read_vec(rel, &n);

    assert_int_equal(rw_dsse_envelope_parse(b, n, env), 0);
    free(b);
}

static int verify_vec(const char *env_rel, const char *key_rel)
{
    struct rw_dsse_envelope env = {0};
    struct rw_pubkey *pk = load_vec_key(key_rel);
    int rc;

    load_env(env_rel, &env);
    rc = rw_dsse_verify(&env, pk);
    rw_dsse_envelope_fini(&env);
    rw_pubkey_free(&pk);
    return rc;
}

/* Flip one bit of the payload, then of the payloadType: both must stop verifying. */
static void tampered_fail(const char *env_rel, const char *key_rel)
{
    struct rw_dsse_envelope env = {0};
    struct rw_pubkey *pk = load_vec_key(key_rel);

    load_env(env_rel, &env);
    assert_int_equal(rw_dsse_verify(&env, pk), 0);
    env.payload[env.payload_len / 2] ^= 0x01;
    assert_int_equal(rw_dsse_verify(&env, pk), RW_EBADSIG);
    env.payload[env.payload_len / 2] ^= 0x01;
    env.payload_type[env.payload_type_len - 1] ^= 0x01;
    assert_int_equal(rw_dsse_verify(&env, pk), RW_EBADSIG);
    env.payload_type[env.payload_type_len - 1] ^= 0x01;
    assert_true(env.n_sigs > 0);
    env.sigs[0].sig[env.sigs[0].len / 2] ^= 0x01;
    if (env.n_sigs == 1) {
        assert_int_equal(rw_dsse_verify(&env, pk), RW_EBADSIG);
    }
    rw_dsse_envelope_fini(&env);
    rw_pubkey_free(&pk);
}

static enum rw_attest_result check_stmt(const struct rw_dsse_envelope *env, const char *digest,
                                        const char *type)
{
    enum rw_attest_result res = RW_ATTEST_RESULT_COUNT;

    assert_int_equal(
        rw_attest_statement_check(env->payload, env->payload_len, digest, type, &res, NULL, 0), 0);
    return res;
}

static enum rw_attest_result check_vec(const char *env_rel, const char *digest, const char *type)
{
    struct rw_dsse_envelope env = {0};
    enum rw_attest_result res;

    load_env(env_rel, &env);
    res = check_stmt(&env, digest, type);
    rw_dsse_envelope_fini(&env);
    return res;
}

/* ------------------------------------------------------------------ PAE */

static void test_pae(void **state)
{
    struct rw_buf b;
    size_t n = 0;
    uint8_t *bin = read_vec("dsse-spec-ecdsa-p1363/pae.bin", &n);
    static const char spec[] = "DSSEv1 29 http://example.com/HelloWorld 11 hello world";

    (void)state;
    rw_buf_init(&b, 0);
    assert_int_equal(rw_dsse_pae("http://example.com/HelloWorld", 29,
                                 (const uint8_t *)"hello world", 11, &b),
                     0);
    assert_int_equal(b.len, sizeof(spec) - 1);
    assert_memory_equal(b.data, spec, b.len);
    assert_int_equal(n, b.len);
    assert_memory_equal(bin, b.data, n);
    rw_buf_reset(&b);
    assert_int_equal(rw_dsse_pae(RW_DSSE_INTOTO_TYPE, 28, (const uint8_t *)"{}x", 3, &b), 0);
    assert_string_equal((char *)b.data, "DSSEv1 28 application/vnd.in-toto+json 3 {}x");
    rw_buf_reset(&b);
    assert_int_equal(rw_dsse_pae("", 0, NULL, 0, &b), 0);
    assert_string_equal((char *)b.data, "DSSEv1 0  0 ");
    rw_buf_fini(&b);
    free(bin);
}

/* ------------------------------------------------------------------ vectors */

static void test_vector12_spec_p1363(void **state)
{
    struct rw_dsse_envelope env = {0};
    struct rw_pubkey *pk = load_vec_key("dsse-spec-ecdsa-p1363/pub.pem");
    uint8_t der[RW_MAX_SIG_BYTES];
    size_t derlen = read_b64_vec("dsse-spec-ecdsa-p1363/sig-der.b64", der, sizeof(der));
    struct rw_buf b;
    struct rw_dsse_envelope env2 = {0};

    (void)state;
    load_env("dsse-spec-ecdsa-p1363/envelope.json", &env);
    assert_string_equal(env.payload_type, "http://example.com/HelloWorld");
    assert_int_equal(env.payload_len, 11);
    assert_int_equal(env.n_sigs, 1);
    assert_int_equal(env.sigs[0].len, 64); /* raw r||s */
    assert_int_equal(rw_dsse_verify(&env, pk), 0);
    /* the same r,s as DER, in an envelope we build */
    rw_buf_init(&b, 0);
    assert_int_equal(rw_dsse_envelope_build(env.payload_type, env.payload, env.payload_len, der,
                                            derlen, &b),
                     0);
    assert_int_equal(rw_dsse_envelope_parse(b.data, b.len, &env2), 0);
    assert_int_equal(rw_dsse_verify(&env2, pk), 0);
    rw_dsse_envelope_fini(&env2);
    rw_buf_fini(&b);
    rw_dsse_envelope_fini(&env);
    rw_pubkey_free(&pk);
    tampered_fail("dsse-spec-ecdsa-p1363/envelope.json", "dsse-spec-ecdsa-p1363/pub.pem");
}

static void test_vector6_cosign_slsa(void **state)
{
    static const char *const envs[] = {
        "dsse-cosign-attest-blob-slsa/envelope.json",
        "dsse-cosign-attest-blob-slsa/envelope-multiple-subjects.json",
        "dsse-cosign-attest-blob-slsa/envelope-multiple-subjects-nomatch.json",
        "dsse-cosign-attest-blob-slsa/envelope-empty-subject.json",
        "dsse-cosign-attest-blob-slsa/envelope-missing-sha256.json",
    };
    static const enum rw_attest_result want[] = {RW_ATTEST_OK, RW_ATTEST_OK, RW_ATTEST_NO_SUBJECT,
                                                 RW_ATTEST_NO_SUBJECT, RW_ATTEST_NO_SUBJECT};
    size_t n = 0;
    uint8_t *blob = read_vec("dsse-cosign-attest-blob-slsa/blob.txt", &n);
    char digest[72];

    (void)state;
    rw_sha256_digest(blob, n, digest);
    assert_string_equal(digest, V6_DIGEST);
    free(blob);
    for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
        struct rw_dsse_envelope env = {0};

        assert_int_equal(verify_vec(envs[i], "dsse-cosign-attest-blob-slsa/pub.pem"), 0);
        load_env(envs[i], &env);
        assert_string_equal(env.payload_type, RW_DSSE_INTOTO_TYPE);
        if (check_stmt(&env, V6_DIGEST, SLSA02) != want[i]) {
            fail_msg("%s: got %s", envs[i], rw_attest_result_str(check_stmt(&env, V6_DIGEST,
                                                                             SLSA02)));
        }
        /* another digest is never bound; another predicate type never matches */
        assert_int_not_equal(check_stmt(&env, D2, SLSA02), RW_ATTEST_OK);
        assert_int_equal(check_stmt(&env, V6_DIGEST, RW_SLSA_PROVENANCE_V1), RW_ATTEST_WRONG_TYPE);
        rw_dsse_envelope_fini(&env);
    }
    assert_int_equal(verify_vec("dsse-cosign-attest-blob-slsa/envelope-bad-sig.json",
                                "dsse-cosign-attest-blob-slsa/pub.pem"),
                     RW_EBADSIG);
    /* a key of another vector does not verify it */
    assert_int_equal(verify_vec("dsse-cosign-attest-blob-slsa/envelope.json",
                                "dsse-spec-ecdsa-p1363/pub.pem"),
                     RW_EBADSIG);
    tampered_fail("dsse-cosign-attest-blob-slsa/envelope.json",
                  "dsse-cosign-attest-blob-slsa/pub.pem");
}

static void test_vector7_legacy_payload_type(void **state)
{
    static const char *const envs[] = {
        "dsse-cosign-attest-legacy-kyverno/envelope-codereview.json",
        "dsse-cosign-attest-legacy-kyverno/envelope-codereview-2.json",
        "dsse-cosign-attest-legacy-kyverno/envelope-cosign-v1.json",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
        struct rw_dsse_envelope env = {0};
        struct rw_pubkey *pk = load_vec_key("dsse-cosign-attest-legacy-kyverno/pub.pem");

        load_env(envs[i], &env);
        /* valid with its own payloadType in the PAE ... */
        assert_int_equal(rw_dsse_verify(&env, pk), 0);
        /* ... which is not the in-toto type (eval.c refuses it as an attestation) */
        assert_false(env.payload_type_len == strlen(RW_DSSE_INTOTO_TYPE) &&
                     memcmp(env.payload_type, RW_DSSE_INTOTO_TYPE, env.payload_type_len) == 0);
        /* a PAE built with the in-toto type does not verify */
        snprintf(env.payload_type, sizeof(env.payload_type), "%s", RW_DSSE_INTOTO_TYPE);
        env.payload_type_len = strlen(RW_DSSE_INTOTO_TYPE);
        assert_int_equal(rw_dsse_verify(&env, pk), RW_EBADSIG);
        rw_dsse_envelope_fini(&env);
        rw_pubkey_free(&pk);
        tampered_fail(envs[i], "dsse-cosign-attest-legacy-kyverno/pub.pem");
    }
}

static void test_vector10_bundle_envelope(void **state)
{
    size_t n = 0;
    uint8_t *b = read_vec("bundle-v03-cosign-oci-attestation/bundle.sigstore.json", &n);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)b, n, 0, &jerr);
    char *env_json;
    struct rw_dsse_envelope env = {0};
    struct rw_pubkey *pk = load_vec_key("bundle-v03-cosign-oci-attestation/leaf-pub.pem");

    (void)state;
    assert_non_null(root);
    env_json = json_dumps(json_object_get(root, "dsseEnvelope"), JSON_COMPACT);
    assert_non_null(env_json);
    assert_int_equal(rw_dsse_envelope_parse((const uint8_t *)env_json, strlen(env_json), &env), 0);
    assert_int_equal(rw_dsse_verify(&env, pk), 0);
    /* in-toto Statement v0.1 is accepted; the subject binds the vector's digest */
    assert_int_equal(check_stmt(&env, V10_DIGEST, "https://cosign.sigstore.dev/attestation/v1"),
                     RW_ATTEST_OK);
    assert_int_equal(check_stmt(&env, D1, "https://cosign.sigstore.dev/attestation/v1"),
                     RW_ATTEST_NO_SUBJECT);
    env.payload[3] ^= 0x01;
    assert_int_equal(rw_dsse_verify(&env, pk), RW_EBADSIG);
    rw_dsse_envelope_fini(&env);
    rw_pubkey_free(&pk);
    free(env_json);
    json_decref(root);
    free(b);
}

/*
 * Decision: DSSE verification with an RSA key accepts RSASSA-PSS (SHA-256, MGF1-SHA-256, salt
 * 32; what the in-toto reference implementation signs) as well as PKCS#1 v1.5 (cosign, Vault
 * pkcs1v15). Simple-signing verification stays PKCS#1 v1.5 only (rw_pubkey_verify).
 */
static void test_vector11_rsa_pss(void **state)
{
    struct rw_dsse_envelope env = {0};
    struct rw_pubkey *carl = load_vec_key("dsse-intoto-rsa-pss/carl.pub");
    struct rw_buf pae;

    (void)state;
    assert_int_equal(verify_vec("dsse-intoto-rsa-pss/write-code.776a00e2.link",
                                "dsse-intoto-rsa-pss/bob.pub"),
                     0);
    assert_int_equal(verify_vec("dsse-intoto-rsa-pss/package.2f89b927.link",
                                "dsse-intoto-rsa-pss/carl.pub"),
                     0);
    /* crossed keys */
    assert_int_equal(verify_vec("dsse-intoto-rsa-pss/write-code.776a00e2.link",
                                "dsse-intoto-rsa-pss/carl.pub"),
                     RW_EBADSIG);
    assert_int_equal(verify_vec("dsse-intoto-rsa-pss/package.2f89b927.link",
                                "dsse-intoto-rsa-pss/bob.pub"),
                     RW_EBADSIG);
    load_env("dsse-intoto-rsa-pss/package.2f89b927.link", &env);
    /* the same signature as PKCS#1 v1.5: invalid */
    rw_buf_init(&pae, 0);
    assert_int_equal(rw_dsse_pae(env.payload_type, env.payload_type_len, env.payload,
                                 env.payload_len, &pae),
                     0);
    assert_int_equal(rw_pubkey_verify(carl, pae.data, pae.len, env.sigs[0].sig, env.sigs[0].len),
                     RW_EBADSIG);
    assert_int_equal(
        rw_pubkey_verify_pss(carl, pae.data, pae.len, env.sigs[0].sig, env.sigs[0].len), 0);
    /* the payload is an in-toto link, not a Statement: never an attestation */
    assert_int_equal(check_stmt(&env, D1, RW_SLSA_PROVENANCE_V1), RW_ATTEST_MALFORMED);
    rw_buf_fini(&pae);
    rw_dsse_envelope_fini(&env);
    rw_pubkey_free(&carl);
    tampered_fail("dsse-intoto-rsa-pss/package.2f89b927.link", "dsse-intoto-rsa-pss/carl.pub");
    /* PSS never applies to a non-RSA key */
    {
        struct rw_pubkey *ec = load_vec_key("dsse-spec-ecdsa-p1363/pub.pem");
        const uint8_t sig[64] = {1};

        assert_int_equal(rw_pubkey_verify_pss(ec, (const uint8_t *)"x", 1, sig, sizeof(sig)),
                         RW_EBADSIG);
        rw_pubkey_free(&ec);
    }
}

static void test_vector13_vsa_p1363(void **state)
{
    (void)state;
    assert_int_equal(verify_vec("dsse-google-vsa-p1363/envelope.json",
                                "dsse-google-vsa-p1363/pub.pem"),
                     0);
    tampered_fail("dsse-google-vsa-p1363/envelope.json", "dsse-google-vsa-p1363/pub.pem");
    /* Statement v1, but its subject has no sha256 */
    assert_int_equal(check_vec("dsse-google-vsa-p1363/envelope.json", D1,
                               "https://slsa.dev/verification_summary/v1"),
                     RW_ATTEST_NO_SUBJECT);
    assert_int_equal(check_vec("dsse-google-vsa-p1363/envelope.json", D1, RW_SLSA_PROVENANCE_V1),
                     RW_ATTEST_WRONG_TYPE);
}

/* Base64 may be standard or URL-safe (DSSE: verifiers MUST accept both). */
static void test_url_safe_base64(void **state)
{
    size_t n = 0;
    uint8_t *b = read_vec("dsse-spec-ecdsa-p1363/envelope.json", &n);
    char *s = calloc(1, n + 1);
    struct rw_dsse_envelope env = {0};
    struct rw_pubkey *pk = load_vec_key("dsse-spec-ecdsa-p1363/pub.pem");
    char *sig;

    (void)state;
    memcpy(s, b, n);
    sig = strstr(s, "\"sig\"");
    assert_non_null(sig);
    for (char *c = sig; *c != '\0'; c++) {
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    }
    assert_non_null(strchr(sig, '-')); /* the vector's sig has '+' */
    assert_int_equal(rw_dsse_envelope_parse((const uint8_t *)s, n, &env), 0);
    assert_int_equal(rw_dsse_verify(&env, pk), 0);
    rw_dsse_envelope_fini(&env);
    rw_pubkey_free(&pk);
    free(s);
    free(b);
}

static int parse_str(const char *s, struct rw_dsse_envelope *env)
{
    return rw_dsse_envelope_parse((const uint8_t *)s, strlen(s), env);
}

static void test_parse_errors(void **state)
{
    struct rw_dsse_envelope env = {0};
    static const char *const bad[] = {
        "", "[]", "{}", "null",
        "{\"payload\":\"\",\"signatures\":[]}",
        "{\"payloadType\":\"t\",\"signatures\":[]}",
        "{\"payloadType\":\"t\",\"payload\":\"\"}",
        "{\"payloadType\":1,\"payload\":\"\",\"signatures\":[]}",
        "{\"payloadType\":\"t\",\"payload\":\"!!\",\"signatures\":[]}",
        "{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":{}}",
        "{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{}]}",
        "{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"sig\":1}]}",
        "{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[\"x\"]}",
        "{\"payloadType\":\"t\",\"payloadType\":\"u\",\"payload\":\"\",\"signatures\":[]}",
    };
    struct rw_buf big;
    struct rw_pubkey *pk = load_vec_key("dsse-spec-ecdsa-p1363/pub.pem");

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse_str(bad[i], &env);

        if (rc == 0) {
            fail_msg("accepted: %s", bad[i]);
        }
    }
    /* empty signatures parse; nothing verifies */
    assert_int_equal(parse_str("{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[]}", &env),
                     0);
    assert_int_equal(env.n_sigs, 0);
    assert_int_equal(rw_dsse_verify(&env, pk), RW_EBADSIG);
    rw_dsse_envelope_fini(&env);
    /* keyid and unknown fields ignored; an undecodable sig is ignored, counted */
    assert_int_equal(parse_str("{\"payloadType\":\"t\",\"payload\":\"aGk=\",\"x\":1,\"signatures\":"
                               "[{\"keyid\":7,\"sig\":\"%%\"},{\"sig\":\"AAAA\",\"y\":[]}]}",
                               &env),
                     0);
    assert_int_equal(env.n_sigs, 1);
    assert_int_equal(env.n_ignored, 1);
    assert_int_equal(env.payload_len, 2);
    assert_memory_equal(env.payload, "hi", 2);
    rw_dsse_envelope_fini(&env);
    /* signatures over the bound are not examined */
    rw_buf_init(&big, 0);
    assert_int_equal(
        rw_buf_appends(&big, "{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":["), 0);
    for (unsigned i = 0; i < RW_MAX_DSSE_SIGS + 3; i++) {
        assert_int_equal(rw_buf_printf(&big, "%s{\"sig\":\"AAAA\"}", i == 0 ? "" : ","), 0);
    }
    assert_int_equal(rw_buf_appends(&big, "]}"), 0);
    assert_int_equal(rw_dsse_envelope_parse(big.data, big.len, &env), 0);
    assert_int_equal(env.n_sigs, RW_MAX_DSSE_SIGS);
    assert_int_equal(env.n_ignored, 3);
    rw_dsse_envelope_fini(&env);
    /* over the size bound */
    rw_buf_reset(&big);
    assert_int_equal(rw_buf_appends(&big, "{\"payloadType\":\"t\",\"payload\":\""), 0);
    for (size_t i = 0; i < RW_MAX_ENVELOPE_BYTES / 4 + 1; i++) {
        assert_int_equal(rw_buf_append(&big, "AAAA", 4), 0);
    }
    assert_int_equal(rw_buf_appends(&big, "\",\"signatures\":[]}"), 0);
    assert_int_equal(rw_dsse_envelope_parse(big.data, big.len, &env), RW_ETOOBIG);
    /* payloadType over its bound */
    rw_buf_reset(&big);
    assert_int_equal(rw_buf_appends(&big, "{\"payloadType\":\""), 0);
    for (size_t i = 0; i < RW_MAX_DSSE_TYPE_LEN + 1; i++) {
        assert_int_equal(rw_buf_append(&big, "a", 1), 0);
    }
    assert_int_equal(rw_buf_appends(&big, "\",\"payload\":\"\",\"signatures\":[]}"), 0);
    assert_int_equal(rw_dsse_envelope_parse(big.data, big.len, &env), RW_ESIGFORMAT);
    rw_buf_fini(&big);
    rw_pubkey_free(&pk);
    rw_dsse_envelope_fini(NULL);
    assert_int_equal(rw_dsse_verify(NULL, NULL), RW_EBADSIG);
}

/* ------------------------------------------------------------------ build round trips */

static void test_statement_envelope_round_trip(void **state)
{
    struct rw_attest_params ap = {
        .subject_name = "registry.local/team/app",
        .digest = D1,
        .repository = "team/app",
        .reference = "v1",
        .pusher = "spiffe://example.org/ci",
        .invocation_id = "req-1",
        .started_on = 1767225600, /* 2026-01-01T00:00:00Z */
        .finished_on = 1767225605,
    };
    struct rw_buf st;
    struct rw_buf pae;
    struct rw_buf env_json;
    struct rw_signer *s = NULL;
    struct rw_pubkey *pk = NULL;
    struct rw_dsse_envelope env = {0};
    struct rwt_sig g = {0};
    json_error_t jerr;
    json_t *root;
    char p[1024];
    char pt[128];
    enum rw_attest_result res;
    static const char prefix[] = "{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":\"";

    (void)state;
    rw_buf_init(&st, 0);
    rw_buf_init(&pae, 0);
    rw_buf_init(&env_json, 0);
    assert_int_equal(rw_attest_statement_build(&ap, &st), 0);
    /* shape: PROTOCOLS.md §6.2/§6.3 */
    root = json_loadb((const char *)st.data, st.len, 0, &jerr);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "_type")),
                        "https://in-toto.io/Statement/v1");
    assert_string_equal(json_string_value(json_object_get(root, "predicateType")),
                        RW_SLSA_PROVENANCE_V1);
    assert_int_equal(json_unpack(root,
                                 "{s:[{s:s, s:{s:s}}], s:{s:{s:s, s:{s:s, s:s, s:s}, s:{}, s:[]}, "
                                 "s:{s:{s:s}, s:{s:s, s:s, s:s}}}}",
                                 "subject", "name", &(const char *){NULL}, "digest", "sha256",
                                 &(const char *){NULL}, "predicate", "buildDefinition", "buildType",
                                 &(const char *){NULL}, "externalParameters", "repository",
                                 &(const char *){NULL}, "reference", &(const char *){NULL},
                                 "pusher", &(const char *){NULL}, "internalParameters",
                                 "resolvedDependencies", "runDetails", "builder", "id",
                                 &(const char *){NULL}, "metadata", "invocationId",
                                 &(const char *){NULL}, "startedOn", &(const char *){NULL},
                                 "finishedOn", &(const char *){NULL}),
                     0);
    json_decref(root);
    assert_non_null(memmem(st.data, st.len, "\"startedOn\":\"2026-01-01T00:00:00Z\"", 34));
    assert_non_null(memmem(st.data, st.len, "\"finishedOn\":\"2026-01-01T00:00:05Z\"", 35));
    assert_non_null(memmem(st.data, st.len, "\"id\":\"" RW_ATTEST_BUILDER_ID "\"",
                           strlen("\"id\":\"" RW_ATTEST_BUILDER_ID "\"")));
    assert_int_equal(memcmp(st.data, "{\"_type\":", 9), 0); /* key order kept */
    /* sign PAE with a file key, wrap, parse, verify, check */
    assert_int_equal(rw_dsse_pae(RW_DSSE_INTOTO_TYPE, strlen(RW_DSSE_INTOTO_TYPE), st.data,
                                 st.len, &pae),
                     0);
    assert_int_equal(rw_signer_file_new(rwt_data_path(p, sizeof(p), "policy/p256-sec1.key"), &s),
                     0);
    g = rwt_sign(s, pae.data, pae.len);
    assert_int_equal(rw_dsse_envelope_build(RW_DSSE_INTOTO_TYPE, st.data, st.len, g.sig, g.len,
                                            &env_json),
                     0);
    assert_int_equal(memcmp(env_json.data, prefix, sizeof(prefix) - 1), 0);
    assert_non_null(strstr((const char *)env_json.data,
                           "\"signatures\":[{\"keyid\":\"\",\"sig\":\""));
    assert_int_equal(rw_dsse_envelope_parse(env_json.data, env_json.len, &env), 0);
    assert_int_equal(env.payload_len, st.len);
    assert_memory_equal(env.payload, st.data, st.len);
    assert_int_equal(rw_pubkey_load_file(rwt_data_path(p, sizeof(p), "policy/p256.pub"), &pk), 0);
    assert_int_equal(rw_dsse_verify(&env, pk), 0);
    assert_int_equal(rw_attest_statement_check(env.payload, env.payload_len, D1,
                                               RW_SLSA_PROVENANCE_V1, &res, pt, sizeof(pt)),
                     0);
    assert_int_equal(res, RW_ATTEST_OK);
    assert_string_equal(pt, RW_SLSA_PROVENANCE_V1);
    assert_int_equal(check_stmt(&env, D2, RW_SLSA_PROVENANCE_V1), RW_ATTEST_NO_SUBJECT);
    assert_int_equal(check_stmt(&env, D1, SLSA02), RW_ATTEST_WRONG_TYPE);
    /* bad arguments */
    ap.digest = "sha256:abc";
    assert_int_equal(rw_attest_statement_build(&ap, &st), RW_EINVAL);
    ap.digest = D1;
    ap.pusher = NULL; /* anonymous: omitted */
    rw_buf_reset(&st);
    assert_int_equal(rw_attest_statement_build(&ap, &st), 0);
    assert_null(memmem(st.data, st.len, "pusher", 6));
    assert_int_equal(rw_dsse_envelope_build("a\"b", st.data, st.len, g.sig, g.len, &env_json),
                     RW_EINVAL);
    assert_int_equal(rw_dsse_envelope_build(RW_DSSE_INTOTO_TYPE, st.data, st.len, g.sig, 0,
                                            &env_json),
                     RW_EINVAL);
    rw_dsse_envelope_fini(&env);
    rw_pubkey_free(&pk);
    rw_signer_free(&s);
    rw_buf_fini(&st);
    rw_buf_fini(&pae);
    rw_buf_fini(&env_json);
}

static void test_statement_check_edges(void **state)
{
    static const struct {
        const char *json;
        enum rw_attest_result want;
    } cases[] = {
        {"{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"digest\":{\"sha256\":"
         "\"634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00\"}}],"
         "\"predicateType\":\"https://slsa.dev/provenance/v1\"}",
         RW_ATTEST_OK},
        /* uppercase hex does not bind (the digest is lowercase) */
        {"{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"digest\":{\"sha256\":"
         "\"634A8F35B5F16DCF4AAA0822ADC0B1964BB786FCA12F6831DE8DDC45E5986A00\"}}],"
         "\"predicateType\":\"https://slsa.dev/provenance/v1\"}",
         RW_ATTEST_NO_SUBJECT},
        {"{\"_type\":\"https://in-toto.io/Statement/v2\",\"subject\":[],"
         "\"predicateType\":\"https://slsa.dev/provenance/v1\"}",
         RW_ATTEST_MALFORMED},
        {"{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":{},"
         "\"predicateType\":\"https://slsa.dev/provenance/v1\"}",
         RW_ATTEST_MALFORMED},
        {"{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[]}", RW_ATTEST_MALFORMED},
        {"{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[1,{\"digest\":1}],"
         "\"predicateType\":\"https://slsa.dev/provenance/v1\"}",
         RW_ATTEST_NO_SUBJECT},
        {"not json", RW_ATTEST_MALFORMED},
        {"[]", RW_ATTEST_MALFORMED},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum rw_attest_result res = RW_ATTEST_RESULT_COUNT;

        assert_int_equal(rw_attest_statement_check((const uint8_t *)cases[i].json,
                                                   strlen(cases[i].json), D1,
                                                   RW_SLSA_PROVENANCE_V1, &res, NULL, 0),
                         0);
        if (res != cases[i].want) {
            fail_msg("case %zu: got %s want %s", i, rw_attest_result_str(res),
                     rw_attest_result_str(cases[i].want));
        }
    }
}

/* .att manifests: DSSE layer, predicateType annotation, empty cosign signature, appends. */
static void test_att_manifest(void **state)
{
    const char *ann[2] = {RW_ANN_PREDICATE, RW_SLSA_PROVENANCE_V1};
    struct rw_cosign_layer_desc d = {
        .media_type = RW_MT_DSSE_ENVELOPE,
        .digest = D1,
        .size = 300 * 1024, /* over the .sig payload bound, under the envelope bound */
        .max_size = RW_MAX_ENVELOPE_BYTES,
        .sig_b64 = "",
        .ann_kv = ann,
        .n_ann = 1,
    };
    struct rw_buf cfg;
    struct rw_buf man;
    struct rw_buf man2;
    struct rw_cosign_sig_manifest m = {0};
    json_error_t jerr;
    json_t *root;
    json_t *l0;
    char tag[80];

    (void)state;
    assert_int_equal(rw_cosign_att_tag(D1, tag), 0);
    assert_string_equal(tag, "sha256-634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e59"
                             "86a00.att");
    assert_int_equal(rw_cosign_att_tag("sha256:abc", tag), RW_EINVAL);
    rw_buf_init(&cfg, 0);
    rw_buf_init(&man, 0);
    rw_buf_init(&man2, 0);
    assert_int_equal(rw_cosign_attach_manifest_build(NULL, 0, &d, &cfg, &man), 0);
    root = json_loadb((const char *)man.data, man.len, 0, &jerr);
    assert_non_null(root);
    l0 = json_array_get(json_object_get(root, "layers"), 0);
    assert_string_equal(json_string_value(json_object_get(l0, "mediaType")), RW_MT_DSSE_ENVELOPE);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(l0, "annotations"), RW_ANN_PREDICATE)),
        RW_SLSA_PROVENANCE_V1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(l0, "annotations"), RW_ANN_COSIGN_SIG)),
        "");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(root, "config"), "mediaType")),
        RW_MT_OCI_CONFIG);
    json_decref(root);
    assert_int_equal(rw_cosign_sig_manifest_parse(man.data, man.len, &m), 0);
    assert_int_equal(m.n_layers, 1);
    assert_string_equal(m.layers[0].media_type, RW_MT_DSSE_ENVELOPE);
    rw_cosign_sig_manifest_fini(&m);
    /* the same envelope again: not added twice; another one: appended */
    rw_buf_reset(&cfg);
    assert_int_equal(rw_cosign_attach_manifest_build(man.data, man.len, &d, &cfg, &man2), 0);
    assert_int_equal(man2.len, man.len);
    d.digest = D2;
    rw_buf_reset(&cfg);
    rw_buf_reset(&man2);
    assert_int_equal(rw_cosign_attach_manifest_build(man.data, man.len, &d, &cfg, &man2), 0);
    assert_int_equal(rw_cosign_sig_manifest_parse(man2.data, man2.len, &m), 0);
    assert_int_equal(m.n_layers, 2);
    rw_cosign_sig_manifest_fini(&m);
    /* bounds */
    d.size = RW_MAX_ENVELOPE_BYTES + 1;
    assert_int_equal(rw_cosign_attach_manifest_build(NULL, 0, &d, &cfg, &man2), RW_EINVAL);
    assert_int_equal(rw_cosign_attach_manifest_build(NULL, 0, NULL, &cfg, &man2), RW_EINVAL);
    rw_buf_fini(&cfg);
    rw_buf_fini(&man);
    rw_buf_fini(&man2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pae),
        cmocka_unit_test(test_vector12_spec_p1363),
        cmocka_unit_test(test_vector6_cosign_slsa),
        cmocka_unit_test(test_vector7_legacy_payload_type),
        cmocka_unit_test(test_vector10_bundle_envelope),
        cmocka_unit_test(test_vector11_rsa_pss),
        cmocka_unit_test(test_vector13_vsa_p1363),
        cmocka_unit_test(test_url_safe_base64),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_statement_envelope_round_trip),
        cmocka_unit_test(test_statement_check_edges),
        cmocka_unit_test(test_att_manifest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
