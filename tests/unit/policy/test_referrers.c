/* SPDX-License-Identifier: MIT */
/*
 * policy/referrers.c: referrers indexes (pages appended, taken whole or not at all, bounds),
 * Link rel="next" resolution that never leaves the origin, artifact kinds, referrer manifests.
 */
#include <errno.h>

#include "common.h"

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define BASE "http://reg.example:5000/v2/team/app/referrers/" DA

static int parse_str(const char *s, struct rw_referrers *acc)
{
    return rw_referrers_parse((const uint8_t *)s, strlen(s), acc);
}

static void test_parse_page(void **state)
{
    struct rw_referrers r = {0};
    const char *p1 = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                     "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                     "\"digest\":\"" DA "\",\"size\":712,\"artifactType\":\"" RW_AT_COSIGN_SIG "\","
                     "\"annotations\":{\"a\":\"1\",\"b\":\"2\"}},"
                     "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                     "\"digest\":\"" DB "\",\"size\":0}]}";
    const char *p2 = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"" DB
                     "\",\"size\":5,\"artifactType\":\"" RW_MT_BUNDLE_V03 "\"}]}";

    (void)state;
    assert_int_equal(parse_str(p1, &r), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.v[0].digest, DA);
    assert_int_equal(r.v[0].size, 712);
    assert_string_equal(r.v[0].artifact_type, RW_AT_COSIGN_SIG);
    assert_int_equal(r.v[0].n_ann, 2);
    assert_string_equal(r.v[0].ann[1].value, "2");
    assert_string_equal(r.v[1].artifact_type, "");
    /* a second page appends */
    assert_int_equal(parse_str(p2, &r), 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.v[2].artifact_type, RW_MT_BUNDLE_V03);
    /* an empty page */
    assert_int_equal(parse_str("{\"schemaVersion\":2,\"manifests\":[]}", &r), 0);
    assert_int_equal(r.n, 3);
    rw_referrers_fini(&r);
    assert_null(r.v);
}

static void test_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "[]",
        "not json",
        "{\"manifests\":[]}",
        "{\"schemaVersion\":1,\"manifests\":[]}",
        "{\"schemaVersion\":2}",
        "{\"schemaVersion\":2,\"manifests\":{}}",
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"manifests\":[]}",
        "{\"schemaVersion\":2,\"manifests\":[1]}",
        "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" DA "\",\"size\":1}]}",
        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"m\",\"digest\":\"sha256:zz\","
        "\"size\":1}]}",
        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"m\",\"digest\":\"" DA "\","
        "\"size\":-1}]}",
        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"m\",\"digest\":\"" DA "\","
        "\"size\":1,\"artifactType\":7}]}",
        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"m\",\"digest\":\"" DA "\","
        "\"size\":1,\"annotations\":{\"k\":1}}]}",
        /* one bad descriptor spoils the page, also after good ones */
        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"m\",\"digest\":\"" DA "\","
        "\"size\":1},{\"mediaType\":\"m\",\"digest\":\"" DA "x\",\"size\":1}]}",
        "{\"schemaVersion\":2,\"manifests\":[],\"manifests\":[]}",
    };
    struct rw_referrers r = {0};

    (void)state;
    assert_int_equal(parse_str("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"m\",\"digest\":"
                               "\"" DA "\",\"size\":1}]}",
                               &r),
                     0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse_str(bad[i], &r);

        if (rc != RW_EPROTO) {
            fail_msg("case %zu: rc %d", i, rc);
        }
        assert_int_equal(r.n, 1); /* untouched */
    }
    rw_referrers_fini(&r);
}

static void test_bounds(void **state)
{
    struct rw_referrers r = {0};
    struct rw_buf b;
    uint8_t *big;

    (void)state;
    rw_buf_init(&b, 0);
    assert_int_equal(rw_buf_appends(&b, "{\"schemaVersion\":2,\"manifests\":["), 0);
    for (unsigned i = 0; i < RW_MAX_REFERRERS + 5; i++) {
        assert_int_equal(rw_buf_printf(&b, "%s{\"mediaType\":\"m\",\"digest\":\"sha256:%064u\","
                                           "\"size\":1}",
                                       i == 0 ? "" : ",", i),
                         0);
    }
    assert_int_equal(rw_buf_appends(&b, "]}"), 0);
    assert_int_equal(rw_referrers_parse(b.data, b.len, &r), 0);
    assert_int_equal(r.n, RW_MAX_REFERRERS);
    assert_int_equal(r.n_ignored, 5);
    /* a further page only counts */
    assert_int_equal(rw_referrers_parse(b.data, b.len, &r), 0);
    assert_int_equal(r.n, RW_MAX_REFERRERS);
    assert_int_equal(r.n_ignored, 5 + RW_MAX_REFERRERS + 5);
    rw_referrers_fini(&r);
    /* annotations: at most RW_MAX_REFERRER_ANNOTATIONS kept */
    rw_buf_reset(&b);
    assert_int_equal(rw_buf_appends(&b, "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"m\","
                                        "\"digest\":\"" DA "\",\"size\":1,\"annotations\":{"),
                     0);
    for (unsigned i = 0; i < RW_MAX_REFERRER_ANNOTATIONS + 8; i++) {
        assert_int_equal(rw_buf_printf(&b, "%s\"k%u\":\"v\"", i == 0 ? "" : ",", i), 0);
    }
    assert_int_equal(rw_buf_appends(&b, "}}]}"), 0);
    assert_int_equal(rw_referrers_parse(b.data, b.len, &r), 0);
    assert_int_equal(r.v[0].n_ann, RW_MAX_REFERRER_ANNOTATIONS);
    rw_referrers_fini(&r);
    rw_buf_fini(&b);
    /* size and depth */
    big = calloc(1, RW_MAX_REFERRERS_PAGE_BYTES + 1);
    memset(big, ' ', RW_MAX_REFERRERS_PAGE_BYTES + 1);
    assert_int_equal(rw_referrers_parse(big, RW_MAX_REFERRERS_PAGE_BYTES + 1, &r), RW_ETOOBIG);
    memset(big, '[', 100);
    assert_int_equal(rw_referrers_parse(big, 100, &r), RW_ETOOBIG);
    free(big);
    assert_int_equal(r.n, 0);
}

static void next_is(const char *base, const char *link, int rc, const char *want)
{
    char *out = NULL;
    int got = rw_referrers_next(base, link, &out);

    if (got != rc || (want != NULL && (out == NULL || strcmp(out, want) != 0))) {
        fail_msg("link %s: rc %d (want %d), out %s (want %s)", link, got, rc,
                 out != NULL ? out : "(null)", want != NULL ? want : "(null)");
    }
    if (rc != 0) {
        assert_null(out);
    }
    rw_free(out);
}

static void test_next(void **state)
{
    (void)state;
    /* relative, as distribution-spec's example writes it */
    next_is(BASE, "</v2/team/app/referrers/" DA "?last=x>; rel=\"next\"", 0,
            "http://reg.example:5000/v2/team/app/referrers/" DA "?last=x");
    /* absolute on the same origin (host case differs), unquoted rel, rel lists */
    next_is(BASE, "<http://REG.example:5000/v2/n?x=1>; rel=next", 0,
            "http://REG.example:5000/v2/n?x=1");
    next_is(BASE, "</prev>; rel=\"prev\", </v2/n2>; type=\"a;b,c\"; rel=\"last next\"", 0,
            "http://reg.example:5000/v2/n2");
    next_is(BASE, "</v2/n3>;REL=\"Next\"", 0, "http://reg.example:5000/v2/n3");
    /* no next */
    next_is(BASE, "</prev>; rel=\"prev\"", -ENOENT, NULL);
    next_is(BASE, "", -ENOENT, NULL);
    next_is(BASE, "</v2/n>; rel=\"nextpage\"", -ENOENT, NULL);
    /* another origin, in every disguise */
    next_is(BASE, "<http://evil.example/v2/n>; rel=\"next\"", RW_EPROTO, NULL);
    next_is(BASE, "<http://reg.example:5001/v2/n>; rel=\"next\"", RW_EPROTO, NULL);
    next_is(BASE, "<http://reg.example/v2/n>; rel=\"next\"", RW_EPROTO, NULL);
    next_is(BASE, "<https://reg.example:5000/v2/n>; rel=\"next\"", RW_EPROTO, NULL);
    next_is(BASE, "<//evil.example/v2/n>; rel=\"next\"", RW_EPROTO, NULL);
    next_is(BASE, "<http://reg.example:5000@evil.example/v2/n>; rel=\"next\"", RW_EPROTO, NULL);
    next_is(BASE, "<http://reg.example:5000\\@evil.example/v2/n>; rel=\"next\"", RW_EPROTO, NULL);
    next_is(BASE, "<http://reg.example:5000.evil.example/v2/n>; rel=\"next\"", RW_EPROTO, NULL);
    next_is(BASE, "<v2/relative>; rel=\"next\"", RW_EPROTO, NULL);
    next_is(BASE, "<ftp://reg.example:5000/x>; rel=\"next\"", RW_EPROTO, NULL);
    next_is(BASE, "</v2/a b>; rel=\"next\"", RW_EPROTO, NULL);
    next_is(BASE, "</v2/a\r\nHost: evil>; rel=\"next\"", RW_EPROTO, NULL);
    /* malformed headers */
    next_is(BASE, "/v2/n; rel=\"next\"", RW_EPROTO, NULL);
    next_is(BASE, "</v2/n; rel=\"next\"", RW_EPROTO, NULL);
    next_is(BASE, "</v2/n>; rel=\"next", RW_EPROTO, NULL);
    next_is(BASE, "</v2/n> junk; rel=\"next\"", RW_EPROTO, NULL);
    next_is("not a url", "</v2/n>; rel=\"next\"", RW_EPROTO, NULL);
}

static void test_kinds(void **state)
{
    (void)state;
    assert_int_equal(rw_referrer_kind_of(RW_AT_COSIGN_SIG), RW_REFERRER_COSIGN_SIG);
    assert_int_equal(rw_referrer_kind_of(RW_AT_COSIGN_ATT), RW_REFERRER_COSIGN_ATT);
    assert_int_equal(rw_referrer_kind_of(RW_MT_BUNDLE_V03), RW_REFERRER_BUNDLE);
    assert_int_equal(rw_referrer_kind_of("application/vnd.dev.sigstore.bundle+json;version=0.1"),
                     RW_REFERRER_BUNDLE);
    assert_int_equal(rw_referrer_kind_of("application/vnd.dev.sigstore.bundle+json;version=0.3"),
                     RW_REFERRER_BUNDLE);
    assert_int_equal(rw_referrer_kind_of("application/vnd.dev.sigstore.bundle+json;version=0.4"),
                     RW_REFERRER_OTHER);
    assert_int_equal(rw_referrer_kind_of("application/vnd.dev.sigstore.bundle.v0.4+json"),
                     RW_REFERRER_OTHER);
    assert_int_equal(rw_referrer_kind_of("application/vnd.dev.cosign.artifact.sbom.v1+json"),
                     RW_REFERRER_OTHER);
    assert_int_equal(rw_referrer_kind_of(""), RW_REFERRER_OTHER);
    assert_int_equal(rw_referrer_kind_of(NULL), RW_REFERRER_OTHER);
}

static int man_parse(const char *s, struct rw_referrer_manifest *m)
{
    return rw_referrer_manifest_parse((const uint8_t *)s, strlen(s), m);
}

static void test_manifest(void **state)
{
    struct rw_referrer_manifest m;

    (void)state;
    /* cosign oci-1-1: the artifact type in config.mediaType */
    assert_int_equal(man_parse("{\"schemaVersion\":2,\"mediaType\":\"" RW_MT_OCI_MANIFEST "\","
                               "\"config\":{\"mediaType\":\"" RW_AT_COSIGN_SIG "\"},\"layers\":[],"
                               "\"subject\":{\"digest\":\"" DA "\"}}",
                               &m),
                     0);
    assert_int_equal(m.kind, RW_REFERRER_COSIGN_SIG);
    assert_string_equal(m.subject, DA);
    /* a bundle: artifactType wins over config.mediaType */
    assert_int_equal(man_parse("{\"schemaVersion\":2,\"artifactType\":\"" RW_MT_BUNDLE_V03 "\","
                               "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\"},"
                               "\"layers\":[]}",
                               &m),
                     0);
    assert_int_equal(m.kind, RW_REFERRER_BUNDLE);
    assert_string_equal(m.subject, "");
    /* refused shapes */
    assert_int_equal(man_parse("{\"schemaVersion\":2,\"mediaType\":\"" RW_MT_OCI_INDEX "\","
                               "\"config\":{\"mediaType\":\"x\"}}",
                               &m),
                     RW_ESIGFORMAT);
    assert_int_equal(man_parse("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\"},"
                               "\"subject\":{\"digest\":\"sha256:1\"}}",
                               &m),
                     RW_ESIGFORMAT);
    assert_int_equal(man_parse("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\"},"
                               "\"subject\":\"" DA "\"}",
                               &m),
                     RW_ESIGFORMAT);
    assert_int_equal(man_parse("{\"schemaVersion\":2}", &m), RW_ESIGFORMAT);
    assert_int_equal(man_parse("nope", &m), RW_ESIGFORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_page), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bounds),     cmocka_unit_test(test_next),
        cmocka_unit_test(test_kinds),      cmocka_unit_test(test_manifest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
