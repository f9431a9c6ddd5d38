/* SPDX-License-Identifier: MIT */
/* policy/signer.c + signer_file.c: sign -> verify round trips, refused keys, ops table. */
#include "common.h"

struct got {
    int calls;
    int rc;
    uint8_t sig[RW_MAX_SIG_BYTES];
    size_t len;
    char version[32];
};

static void on_signed(void *arg, int rc, const uint8_t *sig, size_t siglen, const char *kv)
{
    struct got *g = arg;

    g->calls++;
    g->rc = rc;
    assert_true(siglen <= sizeof(g->sig));
    memcpy(g->sig, sig, siglen);
    g->len = siglen;
    snprintf(g->version, sizeof(g->version), "%s", kv);
}

static void round_trip(const char *key, const char *pub)
{
    struct rw_signer *s = NULL;
    struct rw_pubkey *pk = NULL;
    struct got g = {0};
    const uint8_t msg[] = "{\"critical\":{}}";
    char p[1024];

    assert_int_equal(rw_signer_file_new(rwt_data_path(p, sizeof(p), key), &s), 0);
    assert_string_equal(rw_signer_name(s), "file");
    assert_int_equal(rw_pubkey_load_file(rwt_data_path(p, sizeof(p), pub), &pk), 0);
    assert_int_equal(rw_signer_sign(s, msg, sizeof(msg) - 1, on_signed, &g), 0);
    assert_int_equal(g.calls, 1); /* synchronous */
    assert_int_equal(g.rc, 0);
    assert_string_equal(g.version, "file");
    assert_int_equal(rw_pubkey_verify(pk, msg, sizeof(msg) - 1, g.sig, g.len), 0);
    g.sig[g.len / 2] ^= 1;
    assert_int_equal(rw_pubkey_verify(pk, msg, sizeof(msg) - 1, g.sig, g.len), RW_EBADSIG);
    rw_pubkey_free(&pk);
    rw_signer_free(&s);
    assert_null(s);
}

static void test_round_trips(void **state)
{
    (void)state;
    round_trip("policy/p256-pkcs8.key", "policy/p256.pub");
    round_trip("policy/p256-sec1.key", "policy/p256.pub");
    round_trip("policy/ed25519.key", "policy/ed25519.pub");
    round_trip("policy/rsa2048.key", "policy/rsa2048.pub");
}

static void test_ecdsa_is_der(void **state)
{
    struct rw_signer *s = NULL;
    struct got g = {0};
    char p[1024];

    (void)state;
    assert_int_equal(rw_signer_file_new(rwt_data_path(p, sizeof(p), "policy/p256-sec1.key"), &s),
                     0);
    assert_int_equal(rw_signer_sign(s, (const uint8_t *)"x", 1, on_signed, &g), 0);
    assert_int_equal(g.sig[0], 0x30); /* ASN.1 SEQUENCE, as cosign writes */
    rw_signer_free(&s);
}

static void test_refused(void **state)
{
    static const char *const bad[] = {"policy/p256-encrypted.key", "policy/rsa1024.key",
                                      "policy/p256.pub", "policy/missing.key",
                                      "policy/garbage.pub"};
    struct rw_signer *s = NULL;
    char p[1024];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(rw_signer_file_new(rwt_data_path(p, sizeof(p), bad[i]), &s), 0);
        assert_null(s);
    }
    rw_signer_free(&s);
    assert_string_equal(rw_signer_name(NULL), "none");
}

static int fake_sign(void *impl, const uint8_t *msg, size_t len, rw_signer_done_cb *cb, void *arg)
{
    (void)msg;
    (void)len;
    (*(int *)impl)++;
    cb(arg, 0, (const uint8_t *)"sig", 3, "vault:v2");
    return 0;
}

static void test_ops(void **state)
{
    static const struct rw_signer_ops ops = {.name = "fake", .sign = fake_sign, .free = NULL};
    struct rw_signer *s = NULL;
    struct got g = {0};
    int impl = 0;

    (void)state;
    assert_int_equal(rw_signer_new(&ops, &impl, &s), 0);
    assert_string_equal(rw_signer_name(s), "fake");
    assert_int_equal(rw_signer_sign(s, (const uint8_t *)"m", 1, on_signed, &g), 0);
    assert_int_equal(impl, 1);
    assert_string_equal(g.version, "vault:v2");
    assert_int_equal(rw_signer_sign(s, NULL, 1, on_signed, &g), RW_EINVAL);
    rw_signer_free(&s);
    assert_int_equal(rw_signer_new(NULL, NULL, &s), RW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_ecdsa_is_der),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_ops),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
