/* SPDX-License-Identifier: MIT */
/* policy/crypto.c against the golden vectors (shared/vectors), base64, hashing, key loading. */
#include "common.h"

static int verify_vec(const char *key, const char *msg, const char *sig, bool flip)
{
    struct rw_pubkey *pk = load_vec_key(key);
    size_t n = 0;
    uint8_t *m = read_vec(msg, &n);
    uint8_t s[RW_MAX_SIG_BYTES];
    size_t sl = read_b64_vec(sig, s, sizeof(s));
    int rc;

    if (flip) {
        m[n / 2] ^= 0x01;
    }
    rc = rw_pubkey_verify(pk, m, n, s, sl);
    free(m);
    rw_pubkey_free(&pk);
    assert_null(pk);
    return rc;
}

static void test_cosign_vectors(void **state)
{
    (void)state;
    /* 1 */
    assert_int_equal(verify_vec("cosign-ecdsa-ci-valid/cosign.pub", "cosign-ecdsa-ci-valid/payload.json",
                                "cosign-ecdsa-ci-valid/payload.sig", false), 0);
    assert_int_equal(verify_vec("cosign-ecdsa-ci-valid/cosign.pub", "cosign-ecdsa-ci-valid/payload.json",
                                "cosign-ecdsa-ci-valid/payload.sig2", false), 0);
    assert_int_equal(verify_vec("cosign-ecdsa-ci-valid/cosign2.pub", "cosign-ecdsa-ci-valid/payload.json",
                                "cosign-ecdsa-ci-valid/payload.sig", false), RW_EBADSIG);
    assert_int_equal(verify_vec("cosign-ecdsa-ci-valid/cosign.pub", "cosign-ecdsa-ci-valid/payload.json",
                                "cosign-ecdsa-ci-valid/unknown-key.sig", false), RW_EBADSIG);
    assert_int_equal(verify_vec("cosign-ecdsa-ci-valid/cosign.pub", "cosign-ecdsa-ci-valid/payload.json",
                                "cosign-ecdsa-ci-valid/payload.sig", true), RW_EBADSIG);
    /* 2 */
    assert_int_equal(verify_vec("cosign-ecdsa-skopeo-tag/cosign.pub", "cosign-ecdsa-skopeo-tag/payload.json",
                                "cosign-ecdsa-skopeo-tag/payload.sig", false), 0);
    assert_int_equal(verify_vec("cosign-ecdsa-skopeo-tag/cosign.pub", "cosign-ecdsa-skopeo-tag/payload.json",
                                "cosign-ecdsa-skopeo-tag/payload.sig", true), RW_EBADSIG);
    /* 3 */
    assert_int_equal(verify_vec("cosign-ecdsa-rekor-bundle/cosign2.pub", "cosign-ecdsa-rekor-bundle/payload.json",
                                "cosign-ecdsa-rekor-bundle/payload.sig", false), 0);
    assert_int_equal(verify_vec("cosign-ecdsa-rekor-bundle/cosign.pub", "cosign-ecdsa-rekor-bundle/payload.json",
                                "cosign-ecdsa-rekor-bundle/payload.sig", false), RW_EBADSIG);
    assert_int_equal(verify_vec("cosign-ecdsa-rekor-bundle/cosign2.pub", "cosign-ecdsa-rekor-bundle/payload.json",
                                "cosign-ecdsa-rekor-bundle/payload.sig", true), RW_EBADSIG);
    /* 4 */
    assert_int_equal(verify_vec("cosign-ecdsa-sigstore-rs/pub.pem", "cosign-ecdsa-sigstore-rs/payload.json",
                                "cosign-ecdsa-sigstore-rs/payload.sig", false), 0);
    assert_int_equal(verify_vec("cosign-ecdsa-sigstore-rs/wrong-key.pub", "cosign-ecdsa-sigstore-rs/payload.json",
                                "cosign-ecdsa-sigstore-rs/payload.sig", false), RW_EBADSIG);
    assert_int_equal(verify_vec("cosign-ecdsa-sigstore-rs/pub.pem", "cosign-ecdsa-sigstore-rs/payload.json",
                                "cosign-ecdsa-sigstore-rs/payload.sig", true), RW_EBADSIG);
    /* 5: RSA PKCS#1 v1.5 */
    assert_int_equal(verify_vec("cosign-rsa-obs/pub.pem", "cosign-rsa-obs/payload.json",
                                "cosign-rsa-obs/payload.sig", false), 0);
    assert_int_equal(verify_vec("cosign-rsa-obs/pub.pem", "cosign-rsa-obs/payload.json",
                                "cosign-rsa-obs/payload.sig", true), RW_EBADSIG);
    /* 14: Ed25519 */
    assert_int_equal(verify_vec("ed25519-sigstore-lib/pub.pem", "ed25519-sigstore-lib/message.txt",
                                "ed25519-sigstore-lib/message.sig", false), 0);
    assert_int_equal(verify_vec("ed25519-sigstore-lib/pub.pem", "ed25519-sigstore-lib/message.txt",
                                "ed25519-sigstore-lib/message.sig", true), RW_EBADSIG);
    /* 12: the DER form of the spec's signature */
    assert_int_equal(verify_vec("dsse-spec-ecdsa-p1363/pub.pem", "dsse-spec-ecdsa-p1363/pae.bin",
                                "dsse-spec-ecdsa-p1363/sig-der.b64", false), 0);
}

/* Flip one bit of the signature itself: invalid, whatever the encoding. */
static void test_sig_bitflip(void **state)
{
    struct rw_pubkey *pk = load_vec_key("cosign-ecdsa-ci-valid/cosign.pub");
    size_t n = 0;
    uint8_t *m = read_vec("cosign-ecdsa-ci-valid/payload.json", &n);
    uint8_t s[RW_MAX_SIG_BYTES];
    size_t sl = read_b64_vec("cosign-ecdsa-ci-valid/payload.sig", s, sizeof(s));

    (void)state;
    for (size_t i = 0; i < sl; i++) {
        s[i] ^= 0x10;
        assert_int_not_equal(rw_pubkey_verify(pk, m, n, s, sl), 0);
        s[i] ^= 0x10;
    }
    assert_int_equal(rw_pubkey_verify(pk, m, n, s, sl), 0);
    assert_int_equal(rw_pubkey_verify(pk, m, n, s, 0), RW_EBADSIG);
    assert_int_equal(rw_pubkey_verify(pk, m, n, s, sl - 1), RW_EBADSIG);
    free(m);
    rw_pubkey_free(&pk);
}

/* Pull the "sig" of the first signatures[] entry out of a DSSE envelope (test-only scanning). */
static size_t envelope_sig(const char *rel, uint8_t *out, size_t cap)
{
    size_t n = 0;
    uint8_t *env = read_vec(rel, &n);
    const char *p = strstr((const char *)env, "\"sig\"");
    const char *q;
    size_t outlen = 0;

    assert_non_null(p);
    p = strchr(p + 5, '"');
    assert_non_null(p);
    q = strchr(p + 1, '"');
    assert_non_null(q);
    assert_int_equal(rw_base64_decode(p + 1, (size_t)(q - p - 1), out, cap, &outlen), 0);
    free(env);
    return outlen;
}

/* Pull "payload" and "payloadType" and build the DSSE PAE (test-only). */
static uint8_t *envelope_pae(const char *rel, size_t *paelen)
{
    size_t n = 0;
    uint8_t *env = read_vec(rel, &n);
    const char *t = strstr((const char *)env, "\"payloadType\"");
    const char *p = strstr((const char *)env, "\"payload\"");
    const char *te;
    const char *pe;
    uint8_t *payload = malloc(n);
    size_t plen = 0;
    uint8_t *pae;
    int k;

    assert_non_null(t);
    assert_non_null(p);
    t = strchr(t + 13, '"') + 1;
    te = strchr(t, '"');
    p = strchr(p + 9, '"') + 1;
    pe = strchr(p, '"');
    assert_int_equal(rw_base64_decode(p, (size_t)(pe - p), payload, n, &plen), 0);
    pae = malloc(plen + 512);
    k = snprintf((char *)pae, 512, "DSSEv1 %zu %.*s %zu ", (size_t)(te - t), (int)(te - t), t,
                 plen);
    memcpy(pae + k, payload, plen);
    *paelen = (size_t)k + plen;
    free(payload);
    free(env);
    return pae;
}

static void test_p1363(void **state)
{
    struct rw_pubkey *pk;
    uint8_t sig[RW_MAX_SIG_BYTES];
    size_t sl;
    size_t n = 0;
    uint8_t *m;

    (void)state;
    /* 12: raw r||s over the spec's PAE */
    pk = load_vec_key("dsse-spec-ecdsa-p1363/pub.pem");
    m = read_vec("dsse-spec-ecdsa-p1363/pae.bin", &n);
    sl = envelope_sig("dsse-spec-ecdsa-p1363/envelope.json", sig, sizeof(sig));
    assert_int_equal(sl, 64);
    assert_int_equal(rw_pubkey_verify(pk, m, n, sig, sl), 0);
    m[3] ^= 1;
    assert_int_equal(rw_pubkey_verify(pk, m, n, sig, sl), RW_EBADSIG);
    free(m);
    rw_pubkey_free(&pk);
    /* 13: a production raw signature */
    pk = load_vec_key("dsse-google-vsa-p1363/pub.pem");
    m = envelope_pae("dsse-google-vsa-p1363/envelope.json", &n);
    sl = envelope_sig("dsse-google-vsa-p1363/envelope.json", sig, sizeof(sig));
    assert_int_equal(sl, 64);
    assert_int_equal(rw_pubkey_verify(pk, m, n, sig, sl), 0);
    m[n - 2] ^= 1;
    assert_int_equal(rw_pubkey_verify(pk, m, n, sig, sl), RW_EBADSIG);
    free(m);
    rw_pubkey_free(&pk);
}

static void test_key_loading(void **state)
{
    static const char *const good[] = {"policy/p256.pub", "policy/ed25519.pub",
                                       "policy/rsa2048.pub"};
    static const char *const bad[] = {"policy/rsa1024.pub", "policy/garbage.pub",
                                      "policy/p256-sec1.key", "policy/missing.pub"};
    struct rw_pubkey *pk = NULL;
    struct rw_buf spki;
    char p[1024];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(rw_pubkey_load_file(rwt_data_path(p, sizeof(p), good[i]), &pk), 0);
        rw_buf_init(&spki, 0);
        assert_int_equal(rw_pubkey_spki(pk, &spki), 0);
        assert_true(spki.len > 32);
        rw_buf_fini(&spki);
        rw_pubkey_free(&pk);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(rw_pubkey_load_file(rwt_data_path(p, sizeof(p), bad[i]), &pk), 0);
        assert_null(pk);
    }
    /* vector 9: a corrupt key fails to load (fail closed) */
    assert_int_not_equal(
        rw_pubkey_load_file(rwt_vector_path(p, sizeof(p), "bundle-v03-managed-key/key-corrupt.pub"),
                            &pk),
        0);
    assert_null(pk);
    assert_int_equal(
        rw_pubkey_load_file(rwt_vector_path(p, sizeof(p), "bundle-v03-managed-key/key.pub"), &pk),
        0);
    rw_pubkey_free(&pk);
    assert_int_equal(rw_pubkey_load_pem("", 0, &pk), RW_ECRYPTO);
    rw_pubkey_free(&pk); /* NULL is fine */
}

static void test_sha256(void **state)
{
    char d[72];
    struct rw_sha256_ctx *c = NULL;
    size_t n = 0;
    uint8_t *m = read_vec("cosign-ecdsa-ci-valid/manifest.json", &n);

    (void)state;
    rw_sha256_digest("", 0, d);
    assert_string_equal(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    rw_sha256_digest(m, n, d);
    assert_string_equal(d, "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00");
    assert_int_equal(rw_sha256_new(&c), 0);
    rw_sha256_update(c, m, 10);
    rw_sha256_update(c, m + 10, n - 10);
    rw_sha256_final(c, d);
    rw_sha256_free(&c);
    assert_null(c);
    assert_string_equal(d, "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00");
    free(m);
}

static void test_base64(void **state)
{
    uint8_t out[16];
    size_t n = 0;
    struct rw_buf b;

    (void)state;
    assert_int_equal(rw_base64_decode("aGVsbG8=", 8, out, sizeof(out), &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(rw_base64_decode("aGVsbG8", 7, out, sizeof(out), &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(rw_base64_decode("-_8=", 4, out, sizeof(out), &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(out[1], 0xff);
    assert_int_equal(rw_base64_decode("+/8=", 4, out, sizeof(out), &n), 0);
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(rw_base64_decode("+_8=", 4, out, sizeof(out), &n), RW_EINVAL);
    assert_int_equal(rw_base64_decode("a", 1, out, sizeof(out), &n), RW_EINVAL);
    assert_int_equal(rw_base64_decode("aGVsbG8==", 9, out, sizeof(out), &n), RW_EINVAL);
    assert_int_equal(rw_base64_decode("aG Vs", 5, out, sizeof(out), &n), RW_EINVAL);
    assert_int_equal(rw_base64_decode("a=GV", 4, out, sizeof(out), &n), RW_EINVAL);
    assert_int_equal(rw_base64_decode("aGVsbG8=", 8, out, 4, &n), RW_ETOOBIG);
    assert_int_equal(rw_base64_decode("", 0, out, sizeof(out), &n), 0);
    assert_int_equal(n, 0);
    rw_buf_init(&b, 0);
    assert_int_equal(rw_base64_encode((const uint8_t *)"hello", 5, &b), 0);
    assert_string_equal((char *)b.data, "aGVsbG8=");
    rw_buf_reset(&b);
    assert_int_equal(rw_base64_encode((const uint8_t *)"\xfb\xff", 2, &b), 0);
    assert_string_equal((char *)b.data, "+/8=");
    rw_buf_reset(&b);
    assert_int_equal(rw_base64_encode((const uint8_t *)"", 0, &b), 0);
    assert_string_equal((char *)b.data, "");
    rw_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cosign_vectors), cmocka_unit_test(test_sig_bitflip),
        cmocka_unit_test(test_p1363),          cmocka_unit_test(test_key_loading),
        cmocka_unit_test(test_sha256),         cmocka_unit_test(test_base64),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
