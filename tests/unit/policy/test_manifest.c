/* SPDX-License-Identifier: MIT */
/* policy/manifest.c: OCI, Docker, index children, schema1, C26 digests, depth and count bounds. */
#include "common.h"

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static int parse(const char *s, const char *ct, struct rw_manifest_info *m)
{
    return rw_manifest_parse((const uint8_t *)s, strlen(s), ct, m);
}

static void test_docker_vector(void **state)
{
    struct rw_manifest_info m;
    size_t n = 0;
    uint8_t *b = read_vec("cosign-ecdsa-ci-valid/manifest.json", &n);

    (void)state;
    assert_int_equal(rw_manifest_parse(b, n, NULL, &m), 0);
    assert_string_equal(m.media_type, RW_MT_DOCKER_MANIFEST);
    assert_false(m.is_index);
    assert_int_equal(m.n_layers, 1);
    rw_manifest_info_fini(&m);
    free(b);
    b = read_vec("cosign-ecdsa-rekor-bundle/manifest.json", &n);
    assert_int_equal(rw_manifest_parse(b, n, RW_MT_DOCKER_MANIFEST, &m), 0);
    rw_manifest_info_fini(&m);
    /* body and Content-Type disagree */
    assert_int_equal(rw_manifest_parse(b, n, RW_MT_OCI_MANIFEST, &m), RW_EPROTO);
    free(b);
}

static void test_oci(void **state)
{
    struct rw_manifest_info m;
    const char *oci = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" RW_MT_OCI_CONFIG
                      "\",\"digest\":\"" DA "\",\"size\":2},\"layers\":[{\"mediaType\":\"x\","
                      "\"digest\":\"" DB "\",\"size\":3},{\"digest\":\"" DA "\",\"size\":1}],"
                      "\"subject\":{\"digest\":\"" DB "\",\"size\":1}}";
    const char *idx = "{\"schemaVersion\":2,\"mediaType\":\"" RW_MT_OCI_INDEX "\",\"manifests\":["
                      "{\"mediaType\":\"" RW_MT_OCI_MANIFEST "\",\"digest\":\"" DA "\",\"size\":5,"
                      "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
                      "{\"mediaType\":\"" RW_MT_OCI_MANIFEST "\",\"digest\":\"" DB "\",\"size\":5}]}";
    const char *list = "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" DA "\",\"size\":1}]}";

    (void)state;
    assert_int_equal(parse(oci, "application/vnd.oci.image.manifest.v1+json; charset=utf-8", &m),
                     0);
    assert_string_equal(m.media_type, RW_MT_OCI_MANIFEST);
    assert_int_equal(m.n_layers, 2);
    rw_manifest_info_fini(&m);
    assert_int_equal(parse(oci, NULL, &m), 0);
    assert_string_equal(m.media_type, "");
    assert_false(m.is_index);
    rw_manifest_info_fini(&m);
    assert_int_equal(parse(idx, NULL, &m), 0);
    assert_true(m.is_index);
    assert_int_equal(m.n_children, 2);
    assert_string_equal(m.children[0], DA);
    assert_string_equal(m.children[1], DB);
    rw_manifest_info_fini(&m);
    assert_null(m.children);
    /* shape: manifests[] without a mediaType is an index */
    assert_int_equal(parse(list, NULL, &m), 0);
    assert_true(m.is_index);
    rw_manifest_info_fini(&m);
    assert_int_equal(parse(list, RW_MT_DOCKER_LIST, &m), 0);
    assert_string_equal(m.media_type, RW_MT_DOCKER_LIST);
    rw_manifest_info_fini(&m);
}

static void test_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}",
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+json\"}",
        "{\"schemaVersion\":\"2\",\"config\":{\"digest\":\"" DA "\"},\"layers\":[]}",
        /* C26 */
        "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:../../x\",\"size\":1},\"layers\":[]}",
        "{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\"},\"layers\":[{\"digest\":"
        "\"sha256:../../x\"}]}",
        "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:../../x\",\"size\":1}]}",
        "{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\"},\"layers\":[],\"subject\":"
        "{\"digest\":\"md5:x\"}}",
        "{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\",\"size\":-1},\"layers\":[]}",
        "{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\"}}",
        "{\"schemaVersion\":2,\"mediaType\":\"" RW_MT_OCI_INDEX "\",\"config\":{\"digest\":\"" DA
        "\"},\"layers\":[]}",
        "{\"schemaVersion\":2,\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\"},\"layers\":[]}",
    };
    struct rw_manifest_info m;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(bad[i], NULL, &m);

        if (rc == 0) {
            fail_msg("bad manifest %zu accepted", i);
        }
    }
    assert_int_equal(parse(bad[5], NULL, &m), RW_EPROTO);
}

static void test_bounds(void **state)
{
    struct rw_manifest_info m;
    struct rw_buf b;
    char *bomb;
    size_t n = 100000;

    (void)state;
    /* depth bomb inside an otherwise valid manifest */
    rw_buf_init(&b, 0);
    assert_int_equal(rw_buf_appends(&b, "{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA
                                        "\"},\"layers\":[],\"annotations\":{\"x\":"),
                     0);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(rw_buf_appends(&b, "["), 0);
    }
    for (int i = 0; i < 40; i++) {
        assert_int_equal(rw_buf_appends(&b, "]"), 0);
    }
    assert_int_equal(rw_buf_appends(&b, "}}"), 0);
    assert_int_equal(rw_manifest_parse(b.data, b.len, NULL, &m), RW_ETOOBIG);
    rw_buf_fini(&b);
    bomb = malloc(n);
    memset(bomb, '[', n);
    assert_int_equal(rw_manifest_parse((uint8_t *)bomb, n, NULL, &m), RW_ETOOBIG);
    free(bomb);
    /* too many children */
    rw_buf_init(&b, 0);
    assert_int_equal(rw_buf_appends(&b, "{\"schemaVersion\":2,\"manifests\":["), 0);
    for (unsigned i = 0; i <= RW_MAX_INDEX_CHILDREN; i++) {
        assert_int_equal(rw_buf_printf(&b, "%s{\"digest\":\"%s\",\"size\":1}", i ? "," : "", DA),
                         0);
    }
    assert_int_equal(rw_buf_appends(&b, "]}"), 0);
    assert_int_equal(rw_manifest_parse(b.data, b.len, NULL, &m), RW_ETOOBIG);
    rw_buf_fini(&b);
    /* over 4 MiB */
    n = RW_MAX_MANIFEST_BYTES + 1;
    bomb = malloc(n);
    memset(bomb, ' ', n);
    assert_int_equal(rw_manifest_parse((uint8_t *)bomb, n, NULL, &m), RW_ETOOBIG);
    free(bomb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docker_vector),
        cmocka_unit_test(test_oci),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
