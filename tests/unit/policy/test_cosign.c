/* SPDX-License-Identifier: MIT */
/* policy/cosign.c: payload build (byte-exact) and parse, signature tag, .sig manifest round trip. */
#include "common.h"

#define D1 "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
#define D4 "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b"

static void build_equals_vector(const char *ref, const char *digest, const char *vec)
{
    struct rw_buf b;
    size_t n = 0;
    uint8_t *want = read_vec(vec, &n);

    rw_buf_init(&b, 0);
    assert_int_equal(rw_cosign_payload_build(ref, digest, &b), 0);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, want, n);
    rw_buf_fini(&b);
    free(want);
}

static void test_payload_build_exact(void **state)
{
    (void)state;
    /* cosign-made payloads with optional null: our bytes are theirs */
    build_equals_vector("192.168.64.2:5000/cosign-signed-single-sample", D1,
                        "cosign-ecdsa-ci-valid/payload.json");
    build_equals_vector("registry-testing.svc.lan/busybox", D4,
                        "cosign-ecdsa-sigstore-rs/payload.json");
    build_equals_vector("192.168.64.2:5000/cosign-signed/key-1",
                        "sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a",
                        "cosign-ecdsa-rekor-bundle/payload.json");
}

static void test_payload_build_escaping(void **state)
{
    struct rw_buf b;

    (void)state;
    rw_buf_init(&b, 0);
    assert_int_equal(rw_cosign_payload_build("r/a<b>&\"\\\n\x01\xe2\x80\xa8\xff", D1, &b), 0);
    assert_non_null(strstr((char *)b.data, "\"r/a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\u0001"
                                           "\\u2028\\ufffd\""));
    rw_buf_fini(&b);
    rw_buf_init(&b, 0);
    assert_int_equal(rw_cosign_payload_build("r/a", "sha256:../../x", &b), RW_EINVAL);
    assert_int_equal(rw_cosign_payload_build("", D1, &b), RW_EINVAL);
    assert_int_equal(b.len, 0);
    rw_buf_fini(&b);
}

static void parse_vec(const char *vec, const char *digest, const char *ref)
{
    struct rw_cosign_payload p;
    size_t n = 0;
    uint8_t *b = read_vec(vec, &n);

    assert_int_equal(rw_cosign_payload_parse(b, n, &p), 0);
    assert_string_equal(p.digest, digest);
    assert_string_equal(p.docker_ref, ref);
    free(b);
}

static void test_payload_parse_vectors(void **state)
{
    (void)state;
    parse_vec("cosign-ecdsa-ci-valid/payload.json", D1,
              "192.168.64.2:5000/cosign-signed-single-sample");
    parse_vec("cosign-ecdsa-skopeo-tag/payload.json", D1, "192.168.64.2:5000/skopeo-signed:tag");
    parse_vec("cosign-ecdsa-sigstore-rs/payload.json", D4, "registry-testing.svc.lan/busybox");
    parse_vec("cosign-rsa-obs/payload.json",
              "sha256:356631f7603526a0af827741f5fe005acf19b7ef7705a34241a91c2d47a6db5e",
              "registry.suse.com/suse/sle-micro/5.0/toolbox");
}

static void test_payload_parse_bad(void **state)
{
    static const char *const bad[] = {
        "",
        "null",
        "[]",
        "{}",
        "{\"critical\":{\"identity\":{\"docker-reference\":\"r\"},\"image\":{\"docker-manifest-"
        "digest\":\"" D1 "\"},\"type\":\"cosign container image signaturE\"},\"optional\":null}",
        "{\"critical\":{\"identity\":{\"docker-reference\":\"r\"},\"image\":{\"docker-manifest-"
        "digest\":\"sha256:../../x\"},\"type\":\"cosign container image signature\"}}",
        "{\"critical\":{\"image\":{\"docker-manifest-digest\":\"" D1 "\"},"
        "\"type\":\"cosign container image signature\"},\"optional\":5}",
        /* duplicate keys are refused: which digest would a verifier take? */
        "{\"critical\":{\"image\":{\"docker-manifest-digest\":\"" D1 "\",\"docker-manifest-digest\""
        ":\"" D4 "\"},\"type\":\"cosign container image signature\"}}",
        "{\"critical\":{\"image\":{\"docker-manifest-digest\":\"" D1 "\"},"
        "\"type\":\"cosign container image signature\"}} trailing",
    };
    struct rw_cosign_payload p;
    char deep[200];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (rw_cosign_payload_parse((const uint8_t *)bad[i], strlen(bad[i]), &p) == 0) {
            fail_msg("bad payload %zu accepted", i);
        }
    }
    memset(deep, '[', sizeof(deep));
    assert_int_not_equal(rw_cosign_payload_parse((const uint8_t *)deep, sizeof(deep), &p), 0);
}

static void test_sig_tag(void **state)
{
    char t[80];

    (void)state;
    assert_int_equal(rw_cosign_sig_tag(D1, t), 0);
    assert_string_equal(t, "sha256-634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00.sig");
    assert_int_equal(rw_cosign_sig_tag("sha256:../../x", t), RW_EINVAL);
    assert_int_equal(rw_cosign_sig_tag("sha256:634A8F35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00", t), RW_EINVAL);
    assert_int_equal(rw_cosign_sig_tag(NULL, t), RW_EINVAL);
}

#define PD1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define PD2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static void test_sig_manifest_round_trip(void **state)
{
    struct rw_buf cfg1, man1, cfg2, man2, cfg3, man3;
    struct rw_cosign_sig_manifest m = {0};
    const char *ann[] = {"dev.sigstore.cosign/bundle", "{\"x\":1}"};
    char want[600];
    char cd[72];

    (void)state;
    rw_buf_init(&cfg1, 0);
    rw_buf_init(&man1, 0);
    rw_buf_init(&cfg2, 0);
    rw_buf_init(&man2, 0);
    rw_buf_init(&cfg3, 0);
    rw_buf_init(&man3, 0);
    assert_int_equal(rw_cosign_sig_manifest_build(NULL, 0, PD1, 248, "aGVsbG8=", ann, 1, &cfg1,
                                                  &man1),
                     0);
    snprintf(want, sizeof(want),
             "{\"architecture\":\"\",\"created\":\"0001-01-01T00:00:00Z\",\"history\":[{\"created\":"
             "\"0001-01-01T00:00:00Z\"}],\"os\":\"\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":"
             "[\"%s\"]},\"config\":{}}",
             PD1);
    assert_string_equal((char *)cfg1.data, want);
    rw_sha256_digest(cfg1.data, cfg1.len, cd);
    assert_non_null(strstr((char *)man1.data, cd));
    assert_non_null(strstr((char *)man1.data, "\"mediaType\":\"" RW_MT_OCI_CONFIG "\""));
    assert_int_equal(rw_cosign_sig_manifest_parse(man1.data, man1.len, &m), 0);
    assert_int_equal(m.n_layers, 1);
    assert_string_equal(m.layers[0].digest, PD1);
    assert_string_equal(m.layers[0].media_type, RW_MT_SIMPLESIGNING);
    assert_int_equal(m.layers[0].size, 248);
    assert_true(m.layers[0].sig_valid_b64);
    assert_int_equal(m.layers[0].sig_len, 5);
    rw_cosign_sig_manifest_fini(&m);

    /* append: the old layer (with its extra annotation) stays, the new one follows */
    assert_int_equal(rw_cosign_sig_manifest_build(man1.data, man1.len, PD2, 10, "d29ybGQ=", NULL,
                                                  0, &cfg2, &man2),
                     0);
    assert_non_null(strstr((char *)man2.data, "dev.sigstore.cosign/bundle"));
    assert_non_null(strstr((char *)cfg2.data, "\"diff_ids\":[\"" PD1 "\",\"" PD2 "\"]"));
    assert_int_equal(rw_cosign_sig_manifest_parse(man2.data, man2.len, &m), 0);
    assert_int_equal(m.n_layers, 2);
    assert_string_equal(m.layers[0].digest, PD1);
    assert_string_equal(m.layers[1].digest, PD2);
    rw_cosign_sig_manifest_fini(&m);

    /* the same signature again is not added twice */
    assert_int_equal(rw_cosign_sig_manifest_build(man2.data, man2.len, PD2, 10, "d29ybGQ=", NULL,
                                                  0, &cfg3, &man3),
                     0);
    assert_int_equal(rw_cosign_sig_manifest_parse(man3.data, man3.len, &m), 0);
    assert_int_equal(m.n_layers, 2);
    rw_cosign_sig_manifest_fini(&m);
    assert_string_equal((char *)cfg3.data, (char *)cfg2.data);

    /* garbage existing manifests are not extended */
    rw_buf_reset(&cfg3);
    rw_buf_reset(&man3);
    assert_int_not_equal(rw_cosign_sig_manifest_build((const uint8_t *)"{", 1, PD2, 10, "aa==",
                                                      NULL, 0, &cfg3, &man3),
                         0);
    assert_int_equal(man3.len, 0);
    assert_int_equal(rw_cosign_sig_manifest_build(NULL, 0, "sha256:../x", 10, "aa==", NULL, 0,
                                                  &cfg3, &man3),
                     RW_EINVAL);
    rw_buf_fini(&cfg1);
    rw_buf_fini(&man1);
    rw_buf_fini(&cfg2);
    rw_buf_fini(&man2);
    rw_buf_fini(&cfg3);
    rw_buf_fini(&man3);
}

/* Re-signing the same payload with the same key version replaces our earlier layer (a re-push
 * does not grow the .sig); a foreign layer and another key version's layer are kept. */
static void test_sig_manifest_resign_replaces_own_layer(void **state)
{
    struct rw_buf c1, m1, c2, m2, c3, m3, c4, m4;
    struct rw_cosign_sig_manifest m = {0};
    const char *v1[] = {"dev.regwarden/key-version", "vault:v1"};
    const char *v2[] = {"dev.regwarden/key-version", "vault:v2"};

    (void)state;
    rw_buf_init(&c1, 0);
    rw_buf_init(&m1, 0);
    rw_buf_init(&c2, 0);
    rw_buf_init(&m2, 0);
    rw_buf_init(&c3, 0);
    rw_buf_init(&m3, 0);
    rw_buf_init(&c4, 0);
    rw_buf_init(&m4, 0);
    /* a foreign signature (no regwarden annotation) of the same payload */
    assert_int_equal(rw_cosign_sig_manifest_build(NULL, 0, PD1, 10, "Zm9yZWlnbg==", NULL, 0, &c1,
                                                  &m1),
                     0);
    /* ours, v1 */
    assert_int_equal(rw_cosign_sig_manifest_build(m1.data, m1.len, PD1, 10, "b25l", v1, 1, &c2,
                                                  &m2),
                     0);
    /* ours again, v1, another ECDSA signature: replaces the previous v1 layer */
    assert_int_equal(rw_cosign_sig_manifest_build(m2.data, m2.len, PD1, 10, "dHdv", v1, 1, &c3,
                                                  &m3),
                     0);
    assert_int_equal(rw_cosign_sig_manifest_parse(m3.data, m3.len, &m), 0);
    assert_int_equal(m.n_layers, 2);
    rw_cosign_sig_manifest_fini(&m);
    assert_null(strstr((char *)m3.data, "\"b25l\""));
    assert_non_null(strstr((char *)m3.data, "\"dHdv\""));
    assert_non_null(strstr((char *)m3.data, "\"Zm9yZWlnbg==\""));
    /* a new key version is another signer: appended */
    assert_int_equal(rw_cosign_sig_manifest_build(m3.data, m3.len, PD1, 10, "dGhyZWU=", v2, 1, &c4,
                                                  &m4),
                     0);
    assert_int_equal(rw_cosign_sig_manifest_parse(m4.data, m4.len, &m), 0);
    assert_int_equal(m.n_layers, 3);
    rw_cosign_sig_manifest_fini(&m);
    rw_buf_fini(&c1);
    rw_buf_fini(&m1);
    rw_buf_fini(&c2);
    rw_buf_fini(&m2);
    rw_buf_fini(&c3);
    rw_buf_fini(&m3);
    rw_buf_fini(&c4);
    rw_buf_fini(&m4);
}

static void test_sig_manifest_parse_cases(void **state)
{
    struct rw_cosign_sig_manifest m = {0};
    struct rw_buf b;
    const char *bad_digest =
        "{\"schemaVersion\":2,\"layers\":[{\"mediaType\":\"x\",\"size\":1,\"digest\":"
        "\"sha256:../../x\"}]}";
    const char *no_ann =
        "{\"schemaVersion\":2,\"layers\":[{\"mediaType\":\"" RW_MT_SIMPLESIGNING "\",\"size\":1,"
        "\"digest\":\"" PD1 "\"}]}";
    const char *bad_b64 =
        "{\"schemaVersion\":2,\"layers\":[{\"mediaType\":\"" RW_MT_SIMPLESIGNING "\",\"size\":1,"
        "\"digest\":\"" PD1 "\",\"annotations\":{\"" RW_ANN_COSIGN_SIG "\":\"!!\"}}]}";

    (void)state;
    assert_int_equal(rw_cosign_sig_manifest_parse((const uint8_t *)bad_digest, strlen(bad_digest),
                                                  &m),
                     RW_ESIGFORMAT);
    assert_int_equal(rw_cosign_sig_manifest_parse((const uint8_t *)no_ann, strlen(no_ann), &m), 0);
    assert_false(m.layers[0].sig_valid_b64);
    rw_cosign_sig_manifest_fini(&m);
    assert_int_equal(rw_cosign_sig_manifest_parse((const uint8_t *)bad_b64, strlen(bad_b64), &m),
                     0);
    assert_false(m.layers[0].sig_valid_b64);
    rw_cosign_sig_manifest_fini(&m);
    {
        const char *v1 = "{\"schemaVersion\":1,\"layers\":[]}";

        assert_int_equal(rw_cosign_sig_manifest_parse((const uint8_t *)v1, strlen(v1), &m),
                         RW_ESIGFORMAT);
    }
    /* more layers than RW_MAX_SIG_LAYERS: bounded, the rest counted */
    rw_buf_init(&b, 0);
    assert_int_equal(rw_buf_appends(&b, "{\"schemaVersion\":2,\"layers\":["), 0);
    for (unsigned i = 0; i < RW_MAX_SIG_LAYERS + 10; i++) {
        assert_int_equal(rw_buf_printf(&b, "%s{\"mediaType\":\"%s\",\"size\":1,\"digest\":\"%s\"}",
                                       i == 0 ? "" : ",", RW_MT_SIMPLESIGNING, PD1),
                         0);
    }
    assert_int_equal(rw_buf_appends(&b, "]}"), 0);
    assert_int_equal(rw_cosign_sig_manifest_parse(b.data, b.len, &m), 0);
    assert_int_equal(m.n_layers, RW_MAX_SIG_LAYERS);
    assert_int_equal(m.n_ignored, 10);
    rw_cosign_sig_manifest_fini(&m);
    rw_buf_fini(&b);
}

/* An existing .sig/.att of @p n layers (foreign, well formed), as a registry would hold it. */
static char *many_layers(size_t n)
{
    struct rw_buf b;
    char *out;

    rw_buf_init(&b, 0);
    rw_buf_appends(&b, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                       "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                       "\"size\":2,\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\"},"
                       "\"layers\":[");
    for (size_t i = 0; i < n; i++) {
        char l[400];

        snprintf(l, sizeof(l),
                 "%s{\"mediaType\":\"application/vnd.dev.cosign.simplesigning.v1+json\",\"size\":10,"
                 "\"digest\":\"sha256:%064zx\",\"annotations\":{\"dev.cosignproject.cosign/signature\":"
                 "\"Zm9yZWlnbg==\"}}",
                 i ? "," : "", i + 1);
        rw_buf_appends(&b, l);
    }
    rw_buf_appends(&b, "]}");
    rw_buf_append(&b, "", 1);
    out = strdup((const char *)b.data);
    rw_buf_fini(&b);
    return out;
}

/* Whether the pull side examines a layer with @p digest in manifest @p m. */
static bool examined(const struct rw_buf *m, const char *digest)
{
    struct rw_cosign_sig_manifest sm = {0};
    bool found = false;

    assert_int_equal(rw_cosign_sig_manifest_parse(m->data, m->len, &sm), 0);
    for (size_t i = 0; i < sm.n_layers; i++) {
        found |= strcmp(sm.layers[i].digest, digest) == 0;
    }
    rw_cosign_sig_manifest_fini(&sm);
    return found;
}

/*
 * Red-team 4: the pull side read the first RW_MAX_SIG_LAYERS layers and pushes appended at the
 * end, so once a .sig/.att held 64 layers (an .att grows by one per push of the same image;
 * foreign signatures; a rotated key) the signature regwarden had just stored and acknowledged was
 * never examined: its own pull gate denied the image. At RW_MAX_MANIFEST_LAYERS every further
 * push of that image failed for good. The newest layers are the ones examined, and the oldest
 * make room.
 */
static void test_sig_manifest_new_layer_is_examined(void **state)
{
    static const size_t sizes[] = {RW_MAX_SIG_LAYERS - 1, RW_MAX_SIG_LAYERS, 100,
                                   RW_MAX_MANIFEST_LAYERS - 1, RW_MAX_MANIFEST_LAYERS};

    (void)state;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        char *old = many_layers(sizes[k]);
        struct rw_buf cfg;
        struct rw_buf man;
        struct rw_cosign_sig_manifest sm = {0};
        int rc;

        rw_buf_init(&cfg, 0);
        rw_buf_init(&man, 0);
        rc = rw_cosign_sig_manifest_build((const uint8_t *)old, strlen(old), PD1, 10, "b3Vycw==",
                                          NULL, 0, &cfg, &man);
        if (rc != 0) {
            fail_msg("%zu existing layers: %s", sizes[k], rw_strerror(rc));
        }
        if (!examined(&man, PD1)) {
            fail_msg("%zu existing layers: the new signature is not among those examined",
                     sizes[k]);
        }
        assert_int_equal(rw_cosign_sig_manifest_parse(man.data, man.len, &sm), 0);
        assert_true(sm.n_layers + sm.n_ignored <= RW_MAX_MANIFEST_LAYERS);
        assert_int_equal(sm.n_layers + sm.n_ignored,
                         sizes[k] + 1 > RW_MAX_MANIFEST_LAYERS ? RW_MAX_MANIFEST_LAYERS
                                                               : sizes[k] + 1);
        rw_cosign_sig_manifest_fini(&sm);
        rw_buf_fini(&cfg);
        rw_buf_fini(&man);
        free(old);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_build_exact),
        cmocka_unit_test(test_payload_build_escaping),
        cmocka_unit_test(test_payload_parse_vectors),
        cmocka_unit_test(test_payload_parse_bad),
        cmocka_unit_test(test_sig_tag),
        cmocka_unit_test(test_sig_manifest_round_trip),
        cmocka_unit_test(test_sig_manifest_resign_replaces_own_layer),
        cmocka_unit_test(test_sig_manifest_new_layer_is_examined),
        cmocka_unit_test(test_sig_manifest_parse_cases),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
