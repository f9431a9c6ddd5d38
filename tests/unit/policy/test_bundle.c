/* SPDX-License-Identifier: MIT */
/*
 * policy/bundle.c and the prehashed verify of policy/crypto.c: Sigstore bundle vectors 8 (v0.1,
 * DSSE), 9 (v0.3, messageSignature; key-corrupt.pub fails closed) and 10 (v0.3, DSSE with a
 * certificate), tampered variants, shape errors, bounds.
 */
#include <errno.h>

#include "common.h"

#define V8 "bundle-v01-npm-publish-dsse/"
#define V9 "bundle-v03-managed-key/"
#define V10 "bundle-v03-cosign-oci-attestation/"

static int parse_str(const char *s, struct rw_bundle *b)
{
    return rw_bundle_parse((const uint8_t *)s, strlen(s), b);
}

static void test_v8_dsse_v01(void **state)
{
    struct rw_bundle b;
    size_t n;
    size_t pn;
    uint8_t *raw = read_vec(V8 "bundle.json", &n);
    uint8_t *payload = read_vec(V8 "payload.json", &pn);
    struct rw_pubkey *pk = load_vec_key(V8 "publish_key.pub");

    (void)state;
    assert_int_equal(rw_bundle_parse(raw, n, &b), 0);
    assert_int_equal(b.version, 1);
    assert_int_equal(b.content, RW_BUNDLE_DSSE);
    assert_true(b.has_public_key);
    assert_false(b.has_certificate);
    assert_int_equal(b.n_tlog_entries, 1);
    assert_int_equal(b.env.payload_len, pn);
    assert_memory_equal(b.env.payload, payload, pn);
    assert_int_equal(rw_dsse_verify(&b.env, pk), 0);
    /* not a messageSignature bundle */
    assert_int_equal(rw_bundle_verify_message(&b, "sha256:" "00000000000000000000000000000000"
                                                  "00000000000000000000000000000000", pk),
                     RW_ESIGFORMAT);
    /* tampered payload: one bit of the signed bytes */
    b.env.payload[10] ^= 1;
    assert_int_equal(rw_dsse_verify(&b.env, pk), RW_EBADSIG);
    rw_bundle_fini(&b);
    rw_pubkey_free(&pk);
    free(raw);
    free(payload);
}

static void test_v9_message_signature(void **state)
{
    static const char *const files[] = {V9 "bundle.sigstore.json", V9 "bundle-staging.sigstore.json"};
    struct rw_pubkey *pk = load_vec_key(V9 "key.pub");
    struct rw_pubkey *corrupt = NULL;
    struct rw_pubkey *other = load_vec_key("cosign-ecdsa-ci-valid/cosign.pub");
    char p[1024];
    char digest[72];
    size_t an;
    uint8_t *a = read_vec(V9 "a.txt", &an);

    (void)state;
    rw_sha256_digest(a, an, digest);
    assert_string_equal(digest,
                        "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf");
    for (size_t i = 0; i < 2; i++) {
        struct rw_bundle b;
        size_t n;
        uint8_t *raw = read_vec(files[i], &n);
        char tampered[72];

        assert_int_equal(rw_bundle_parse(raw, n, &b), 0);
        assert_int_equal(b.version, 3);
        assert_int_equal(b.content, RW_BUNDLE_MESSAGE_SIGNATURE);
        assert_string_equal(b.digest_alg, "SHA2_256");
        assert_true(b.has_public_key);
        assert_int_equal(rw_bundle_verify_message(&b, digest, pk), 0);
        /* the wrong key, another digest (tampered a.txt) */
        assert_int_equal(rw_bundle_verify_message(&b, digest, other), RW_EBADSIG);
        a[0] ^= 1;
        rw_sha256_digest(a, an, tampered);
        a[0] ^= 1;
        assert_int_equal(rw_bundle_verify_message(&b, tampered, pk), RW_ESIGFORMAT);
        /* a tampered signature */
        b.sig[b.sig_len - 1] ^= 1;
        assert_int_equal(rw_bundle_verify_message(&b, digest, pk), RW_EBADSIG);
        b.sig[b.sig_len - 1] ^= 1;
        /* only SHA2_256 is understood */
        memcpy(b.digest_alg, "SHA2_384", 9);
        assert_int_equal(rw_bundle_verify_message(&b, digest, pk), RW_ESIGFORMAT);
        rw_bundle_fini(&b);
        free(raw);
    }
    /* key-corrupt.pub does not load: nothing can be verified with it (fail closed) */
    assert_int_not_equal(
        rw_pubkey_load_file(rwt_vector_path(p, sizeof(p), V9 "key-corrupt.pub"), &corrupt), 0);
    assert_null(corrupt);
    assert_int_equal(rw_pubkey_verify_digest(NULL, (const uint8_t *)digest, (const uint8_t *)"x",
                                             1),
                     RW_EBADSIG);
    rw_pubkey_free(&pk);
    rw_pubkey_free(&other);
    free(a);
}

static void test_v10_dsse_certificate(void **state)
{
    struct rw_bundle b;
    size_t n;
    size_t pn;
    uint8_t *raw = read_vec(V10 "bundle.sigstore.json", &n);
    uint8_t *payload = read_vec(V10 "payload.json", &pn);
    struct rw_pubkey *pk = load_vec_key(V10 "leaf-pub.pem");
    struct rw_pubkey *wrong = load_vec_key(V8 "publish_key.pub");

    (void)state;
    assert_int_equal(rw_bundle_parse(raw, n, &b), 0);
    assert_int_equal(b.version, 3);
    assert_int_equal(b.content, RW_BUNDLE_DSSE);
    assert_true(b.has_certificate);
    assert_false(b.has_public_key);
    assert_int_equal(b.env.payload_len, pn);
    assert_memory_equal(b.env.payload, payload, pn);
    assert_int_equal(rw_dsse_verify(&b.env, pk), 0);
    assert_int_equal(rw_dsse_verify(&b.env, wrong), RW_EBADSIG);
    b.env.payload[b.env.payload_len - 2] ^= 1;
    assert_int_equal(rw_dsse_verify(&b.env, pk), RW_EBADSIG);
    rw_bundle_fini(&b);
    rw_pubkey_free(&pk);
    rw_pubkey_free(&wrong);
    free(raw);
    free(payload);
}

/* Bundle bytes edited as text: "tampered" variants the README asks to derive. */
static void test_tampered_text(void **state)
{
    size_t n;
    uint8_t *raw = read_vec(V10 "bundle.sigstore.json", &n);
    char *s = calloc(1, n + 64);
    char *at;
    struct rw_bundle b;
    struct rw_pubkey *pk = load_vec_key(V10 "leaf-pub.pem");

    (void)state;
    memcpy(s, raw, n);
    /* the payloadType is part of what is signed (PAE) */
    at = strstr(s, "\"payloadType\":\"application/vnd.in-toto+json\"");
    assert_non_null(at);
    at[strlen("\"payloadType\":\"application/vnd.in-toto+jso")] = 'N';
    assert_int_equal(parse_str(s, &b), 0);
    assert_int_equal(rw_dsse_verify(&b.env, pk), RW_EBADSIG);
    rw_bundle_fini(&b);
    /* an unknown media type */
    memcpy(s, raw, n);
    at = strstr(s, "bundle.v0.3+json");
    assert_non_null(at);
    at[strlen("bundle.v0.")] = '9';
    assert_int_equal(parse_str(s, &b), RW_ESIGFORMAT);
    rw_pubkey_free(&pk);
    free(s);
    free(raw);
}

static void test_shapes(void **state)
{
#define MT "\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\""
#define VM "\"verificationMaterial\":{\"publicKey\":{\"hint\":\"x\"}}"
#define MS "\"messageSignature\":{\"messageDigest\":{\"algorithm\":\"SHA2_256\",\"digest\":" \
           "\"AAAA\"},\"signature\":\"AAAA\"}"
#define DS "\"dsseEnvelope\":{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[]}"
    static const char *const bad[] = {
        "{}",
        "[]",
        "{" VM "," MS "}",
        "{\"mediaType\":\"application/vnd.dev.sigstore.bundle+json;version=0.4\"," VM "," MS "}",
        "{\"mediaType\":\"application/vnd.dev.sigstore.bundle+json\"," VM "," MS "}",
        "{" MT "," MS "}",
        "{" MT ",\"verificationMaterial\":{}," MS "}",
        "{" MT ",\"verificationMaterial\":{\"publicKey\":\"x\"}," MS "}",
        "{" MT "," VM "}",
        "{" MT "," VM "," MS "," DS "}",
        "{" MT "," VM ",\"messageSignature\":{\"signature\":\"***\"}}",
        "{" MT "," VM ",\"messageSignature\":{\"signature\":\"\"}}",
        "{" MT "," VM ",\"messageSignature\":{\"messageDigest\":{\"algorithm\":1,\"digest\":\"AA==\"},"
        "\"signature\":\"AAAA\"}}",
        "{" MT "," VM ",\"dsseEnvelope\":{\"payload\":\"\",\"signatures\":[]}}",
        "{" MT "," VM ",\"dsseEnvelope\":[]}",
        "{" MT "," MT "," VM "," MS "}",
    };
    static const char *const good[] = {
        "{" MT "," VM "," MS "}",
        "{" MT "," VM "," DS "}",
        "{\"mediaType\":\"application/vnd.dev.sigstore.bundle+json;version=0.2\","
        "\"verificationMaterial\":{\"x509CertificateChain\":{\"certificates\":[]},"
        "\"tlogEntries\":[{}],\"timestampVerificationData\":{}}," MS "}",
        "{" MT "," VM ",\"messageSignature\":{\"signature\":\"AAAA\"}}",
    };
    struct rw_bundle b;
    uint8_t *big;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse_str(bad[i], &b);

        if (rc != RW_ESIGFORMAT) {
            fail_msg("bad case %zu: rc %d", i, rc);
        }
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int rc = parse_str(good[i], &b);

        if (rc != 0) {
            fail_msg("good case %zu: rc %d", i, rc);
        }
        rw_bundle_fini(&b);
    }
    /* a messageSignature without messageDigest never signs a digest */
    assert_int_equal(parse_str(good[3], &b), 0);
    assert_int_equal(rw_bundle_verify_message(&b, "sha256:" "00000000000000000000000000000000"
                                                  "00000000000000000000000000000000", NULL),
                     RW_ESIGFORMAT);
    rw_bundle_fini(&b);
    /* bounds: size (RW_MAX_ENVELOPE_BYTES) and depth */
    big = calloc(1, RW_MAX_ENVELOPE_BYTES + 1);
    memset(big, ' ', RW_MAX_ENVELOPE_BYTES + 1);
    assert_int_equal(rw_bundle_parse(big, RW_MAX_ENVELOPE_BYTES + 1, &b), RW_ETOOBIG);
    memset(big, '{', 64);
    assert_int_equal(rw_bundle_parse(big, 64, &b), RW_ETOOBIG);
    free(big);
#undef MT
#undef VM
#undef MS
#undef DS
}

/* rw_pubkey_verify_digest: ECDSA (DER and raw r||s), RSA PKCS#1 v1.5, Ed25519 refused. */
static void test_verify_digest(void **state)
{
    struct {
        const char *dir;
        const char *msg;
        const char *sig;
        const char *key;
    } ok[] = {
        {"cosign-ecdsa-sigstore-rs/", "payload.json", "payload.sig", "pub.pem"},
        {"cosign-rsa-obs/", "payload.json", "payload.sig", "pub.pem"},
    };
    uint8_t sig[RW_MAX_SIG_BYTES];
    uint8_t d[32];
    char p[512];

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        size_t n;
        size_t sl;
        uint8_t *msg;
        struct rw_pubkey *pk;

        snprintf(p, sizeof(p), "%s%s", ok[i].dir, ok[i].msg);
        msg = read_vec(p, &n);
        snprintf(p, sizeof(p), "%s%s", ok[i].dir, ok[i].sig);
        sl = read_b64_vec(p, sig, sizeof(sig));
        snprintf(p, sizeof(p), "%s%s", ok[i].dir, ok[i].key);
        pk = load_vec_key(p);
        rw_sha256(msg, n, d);
        assert_int_equal(rw_pubkey_verify_digest(pk, d, sig, sl), 0);
        d[31] ^= 1;
        assert_int_equal(rw_pubkey_verify_digest(pk, d, sig, sl), RW_EBADSIG);
        rw_pubkey_free(&pk);
        free(msg);
    }
    /* P1363 r||s (vector 12): the PAE is the message */
    {
        size_t n;
        uint8_t *pae = read_vec("dsse-spec-ecdsa-p1363/pae.bin", &n);
        struct rw_pubkey *pk = load_vec_key("dsse-spec-ecdsa-p1363/pub.pem");
        size_t sl = read_b64_vec("dsse-spec-ecdsa-p1363/sig-der.b64", sig, sizeof(sig));

        rw_sha256(pae, n, d);
        assert_int_equal(rw_pubkey_verify_digest(pk, d, sig, sl), 0);
        rw_pubkey_free(&pk);
        free(pae);
    }
    /* Ed25519 cannot verify a digest: fail closed even for a valid signature of the message */
    {
        size_t n;
        uint8_t *msg = read_vec("ed25519-sigstore-lib/message.txt", &n);
        struct rw_pubkey *pk = load_vec_key("ed25519-sigstore-lib/pub.pem");
        size_t sl = read_b64_vec("ed25519-sigstore-lib/message.sig", sig, sizeof(sig));

        assert_int_equal(rw_pubkey_verify(pk, msg, n, sig, sl), 0);
        rw_sha256(msg, n, d);
        assert_int_equal(rw_pubkey_verify_digest(pk, d, sig, sl), RW_EBADSIG);
        rw_pubkey_free(&pk);
        free(msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v8_dsse_v01),          cmocka_unit_test(test_v9_message_signature),
        cmocka_unit_test(test_v10_dsse_certificate), cmocka_unit_test(test_tampered_text),
        cmocka_unit_test(test_shapes),               cmocka_unit_test(test_verify_digest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
