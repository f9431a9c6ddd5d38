/* SPDX-License-Identifier: MIT */
/* proxy/identity wire formats: protobuf (Workload API), gRPC framing and status, Vault replies,
 * JWT claims, secret fingerprints. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rw/err.h"
#include "rw/identity.h"
#include "rw/mem.h"

static void test_pb_request(void **state)
{
    static const uint8_t want[] = {0x0a, 0x05, 'v', 'a', 'u', 'l', 't'};
    struct rw_buf b;
    struct rw_buf f;

    (void)state;
    rw_buf_init(&b, 0);
    rw_buf_init(&f, 0);
    assert_int_equal(rw_id_pb_jwtsvid_request("vault", NULL, &b), 0);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    /* PROTOCOLS.md §8.3: the framed request */
    assert_int_equal(rw_id_grpc_frame(b.data, b.len, &f), 0);
    assert_int_equal(f.len, 12);
    assert_memory_equal(f.data, "\x00\x00\x00\x00\x07", 5);
    assert_int_equal(rw_id_pb_jwtsvid_request("", NULL, &b), RW_EINVAL);
    rw_buf_fini(&b);
    rw_buf_fini(&f);
}

static void test_pb_response(void **state)
{
    /* JWTSVIDResponse{svids: [{spiffe_id: "spiffe://a/b", svid: "x.y.z", hint: "h"}]} */
    static const uint8_t msg[] = {0x0a, 0x18, 0x0a, 0x0c, 's', 'p', 'i', 'f', 'f', 'e', ':', '/',
                                  '/', 'a', '/', 'b', 0x12, 0x05, 'x', '.', 'y', '.', 'z', 0x1a,
                                  0x01, 'h'};
    char id[64];
    struct rw_secret s = {0};

    (void)state;
    assert_int_equal(rw_id_pb_jwtsvid_response(msg, sizeof(msg), id, sizeof(id), &s), 0);
    assert_string_equal(id, "spiffe://a/b");
    assert_string_equal(rw_secret_str(&s), "x.y.z");
    /* truncated, bad lengths, empty */
    for (size_t n = 1; n < sizeof(msg); n++) {
        assert_int_not_equal(rw_id_pb_jwtsvid_response(msg, n, id, sizeof(id), &s), 0);
    }
    assert_int_equal(rw_id_pb_jwtsvid_response(msg, 0, id, sizeof(id), &s), -ENOENT);
    {
        static const uint8_t huge_len[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
        static const uint8_t long_varint[] = {0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                              0x80, 0x80, 0x80, 0x80, 0x01};
        static const uint8_t group[] = {0x0b};
        static const uint8_t no_svid[] = {0x0a, 0x02, 0x0a, 0x00};

        assert_int_equal(rw_id_pb_jwtsvid_response(huge_len, sizeof(huge_len), id, 64, &s),
                         RW_EPROTO);
        assert_int_equal(rw_id_pb_jwtsvid_response(long_varint, sizeof(long_varint), id, 64, &s),
                         RW_EPROTO);
        assert_int_equal(rw_id_pb_jwtsvid_response(group, sizeof(group), id, 64, &s), RW_EPROTO);
        assert_int_equal(rw_id_pb_jwtsvid_response(no_svid, sizeof(no_svid), id, 64, &s),
                         RW_EPROTO);
    }
    rw_secret_clear(&s);
}

static void test_grpc(void **state)
{
    static const uint8_t ok[] = {0, 0, 0, 0, 2, 0x0a, 0x00};
    static const uint8_t compressed[] = {1, 0, 0, 0, 0};
    static const uint8_t trailing[] = {0, 0, 0, 0, 0, 0};
    const uint8_t *m = NULL;
    size_t n = 0;
    struct rw_hdr hv[2] = {{"grpc-status", "3"}, {"grpc-message", "security%20header%0Amissing"}};
    struct rw_hdrs h = {hv, 2};
    int code = -1;
    char msg[64];

    (void)state;
    assert_int_equal(rw_id_grpc_unframe(ok, sizeof(ok), &m, &n), 0);
    assert_int_equal(n, 2);
    assert_ptr_equal(m, ok + 5);
    assert_int_equal(rw_id_grpc_unframe(ok, 3, &m, &n), RW_EPROTO);
    assert_int_equal(rw_id_grpc_unframe(ok, 6, &m, &n), RW_EPROTO);
    assert_int_equal(rw_id_grpc_unframe(compressed, 5, &m, &n), RW_EPROTO);
    assert_int_equal(rw_id_grpc_unframe(trailing, 6, &m, &n), RW_EPROTO);
    assert_int_equal(rw_id_grpc_unframe(ok, 0, &m, &n), -ENOENT);
    assert_int_equal(rw_id_grpc_status(&h, &code, msg, sizeof(msg)), 0);
    assert_int_equal(code, 3);
    assert_string_equal(msg, "security header?missing"); /* decoded, control chars masked */
    assert_string_equal(rw_id_grpc_code_str(code), "InvalidArgument");
    hv[0].value = "x";
    assert_int_equal(rw_id_grpc_status(&h, &code, msg, sizeof(msg)), RW_EPROTO);
    h.n = 0;
    assert_int_equal(rw_id_grpc_status(&h, &code, msg, sizeof(msg)), RW_EPROTO);
}

#define J(s) (const uint8_t *)(s), strlen(s)

static void test_vault_replies(void **state)
{
    struct rw_secret t = {0};
    int64_t lease = -1;
    bool ren = false;
    uint8_t sig[600];
    size_t siglen = 0;
    int ver = 0;
    char errs[128];

    (void)state;
    assert_int_equal(rw_id_vault_parse_auth(J("{\"auth\":{\"client_token\":\"hvs.abc\","
                                              "\"lease_duration\":3600,\"renewable\":true}}"),
                                            &t, &lease, &ren),
                     0);
    assert_string_equal(rw_secret_str(&t), "hvs.abc");
    assert_int_equal(lease, 3600);
    assert_true(ren);
    assert_int_equal(rw_id_vault_parse_auth(J("{\"auth\":null}"), &t, &lease, &ren), RW_EPROTO);
    assert_int_equal(rw_id_vault_parse_auth(J("{\"auth\":{\"client_token\":\"a\\nb\"}}"), &t,
                                            &lease, &ren),
                     RW_EPROTO);
    assert_int_equal(rw_id_vault_parse_auth(J("{\"auth\":{\"client_token\":\"x\","
                                              "\"lease_duration\":-1}}"),
                                            &t, &lease, &ren),
                     RW_EPROTO);
    assert_int_equal(
        rw_id_vault_parse_sign(J("{\"data\":{\"signature\":\"vault:v12:TUVVQ0lRCg==\"}}"), sig,
                               sizeof(sig), &siglen, &ver),
        0);
    assert_int_equal(ver, 12);
    assert_int_equal(siglen, 7);
    assert_memory_equal(sig, "MEUCIQ\n", 7);
    assert_int_equal(rw_id_vault_parse_sign(J("{\"data\":{\"signature\":\"vault:v0:AA==\"}}"),
                                            sig, sizeof(sig), &siglen, &ver),
                     RW_EPROTO);
    assert_int_equal(rw_id_vault_parse_sign(J("{\"data\":{\"signature\":\"vault:v1:\"}}"), sig,
                                            sizeof(sig), &siglen, &ver),
                     RW_EPROTO);
    assert_int_equal(rw_id_vault_parse_sign(J("{\"data\":{\"signature\":\"v1:AA==\"}}"), sig,
                                            sizeof(sig), &siglen, &ver),
                     RW_EPROTO);
    assert_int_equal(rw_id_vault_parse_sign(J("{\"data\":{\"signature\":\"vault:v1:!!\"}}"), sig,
                                            sizeof(sig), &siglen, &ver),
                     RW_EPROTO);
    rw_id_vault_errors(J("{\"errors\":[\"permission denied\",\"x\\ny\"]}"), errs, sizeof(errs));
    assert_string_equal(errs, "permission denied; x y");
    rw_id_vault_errors(J("not json"), errs, sizeof(errs));
    assert_string_equal(errs, "");
    assert_int_equal(rw_id_vault_parse_lookup(J("{\"data\":{\"ttl\":0,\"renewable\":false}}"),
                                              &lease, &ren),
                     0);
    assert_int_equal(lease, 0);
    rw_secret_clear(&t);
}

static void test_vault_keys(void **state)
{
    /* ed25519 raw base64 (gotcha 10), versions 2..3 after min_decryption_version 2 */
    const char *ed =
        "{\"data\":{\"type\":\"ed25519\",\"latest_version\":3,\"min_decryption_version\":2,"
        "\"keys\":{\"2\":{\"name\":\"ed25519\",\"public_key\":"
        "\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"},"
        "\"3\":{\"public_key\":\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}}}}";
    struct rw_pubkey *k[4] = {0};
    int v[4];
    size_t n = 0;
    char type[32];

    (void)state;
    assert_int_equal(rw_id_vault_parse_key(J(ed), k, v, 4, &n, type, sizeof(type)), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0], 2);
    assert_int_equal(v[1], 3);
    assert_string_equal(type, "ed25519");
    for (size_t i = 0; i < n; i++) {
        rw_pubkey_free(&k[i]);
    }
    /* a gap in the range, too many versions, garbage key */
    assert_int_equal(rw_id_vault_parse_key(J("{\"data\":{\"type\":\"ed25519\",\"latest_version\":2,"
                                             "\"keys\":{\"2\":{\"public_key\":\"AA==\"}}}}"),
                                           k, v, 4, &n, type, sizeof(type)),
                     RW_EPROTO);
    assert_int_equal(rw_id_vault_parse_key(J("{\"data\":{\"type\":\"x\",\"latest_version\":9,"
                                             "\"keys\":{}}}"),
                                           k, v, 4, &n, type, sizeof(type)),
                     RW_ETOOBIG);
    assert_int_equal(rw_id_vault_parse_key(J("{\"data\":{\"type\":\"x\",\"latest_version\":1,"
                                             "\"keys\":{\"1\":{\"public_key\":\"AA==\"}}}}"),
                                           k, v, 4, &n, type, sizeof(type)),
                     RW_ECRYPTO);
}

static void test_jwt_and_secret(void **state)
{
    /* header.{"sub":"spiffe://a/b","exp":2000000000}.sig */
    const char *jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzcGlmZmU6Ly9hL2IiLCJleHAiOjIwMDAwMDAwMDB9.c2ln";
    int64_t exp = 0;
    char sub[64];
    struct rw_secret s = {0};
    struct rw_secret body = {0};
    char fp[RW_SECRET_FP_LEN];

    (void)state;
    assert_int_equal(rw_id_jwt_claims(jwt, strlen(jwt), &exp, sub, sizeof(sub)), 0);
    assert_int_equal(exp, 2000000000);
    assert_string_equal(sub, "spiffe://a/b");
    /* a sub that does not fit comes back empty, never cut (a cut SPIFFE ID names another
     * workload, and spire.c makes it the provenance builder id) */
    assert_int_equal(rw_id_jwt_claims(jwt, strlen(jwt), &exp, sub, 12), 0);
    assert_string_equal(sub, "");
    assert_int_equal(rw_id_jwt_claims(jwt, strlen(jwt), &exp, sub, 13), 0);
    assert_string_equal(sub, "spiffe://a/b");
    assert_int_equal(rw_id_jwt_claims("a.b", 3, &exp, sub, sizeof(sub)), RW_EPROTO);
    assert_int_equal(rw_id_jwt_claims("not-a-jws", 9, &exp, sub, sizeof(sub)), RW_EPROTO);
    rw_secret_fingerprint(&s, fp);
    assert_string_equal(fp, "(none)");
    assert_int_equal(rw_secret_set(&s, jwt, strlen(jwt)), 0);
    rw_secret_fingerprint(&s, fp);
    assert_int_equal(strlen(fp), 19);
    assert_memory_equal(fp, "sha256:", 7);
    assert_null(strstr(jwt, fp + 7)); /* a digest, never a piece of the value */
    assert_int_equal(rw_id_vault_login_body("regwarden", &s, &body), 0);
    assert_non_null(strstr(rw_secret_str(&body), "\"role\":\"regwarden\""));
    rw_secret_clear(&s);
    assert_true(rw_secret_empty(&s));
    rw_secret_clear(&body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pb_request),    cmocka_unit_test(test_pb_response),
        cmocka_unit_test(test_grpc),          cmocka_unit_test(test_vault_replies),
        cmocka_unit_test(test_vault_keys),    cmocka_unit_test(test_jwt_and_secret),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
