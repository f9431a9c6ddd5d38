/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for proxy/image_ref.c: a table of good and hostile request targets (C16 ns=, C26
 * traversal and grammar) with the route, parts and query expected, or the status and OCI code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rw/err.h"

#include "image_ref.h"

#define HEX64  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D256   "sha256:" HEX64
#define D512   "sha512:" HEX64 HEX64
#define HEX63  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
#define HEX64U "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"

struct good {
    const char *target;
    enum rw_route route;
    const char *repo;
    const char *ref;
    bool by_digest;
    const char *ns; /* NULL: no ns */
    const char *query;
};

static const struct good goods[] = {
    {"/v2/", RW_ROUTE_PING, "", "", false, NULL, ""},
    {"/v2", RW_ROUTE_PING, "", "", false, NULL, ""},
    {"/v2/?ns=registry.local", RW_ROUTE_PING, "", "", false, "registry.local", ""},
    {"/v2?x=1", RW_ROUTE_PING, "", "", false, NULL, "x=1"},
    {"/v2/_catalog", RW_ROUTE_CATALOG, "", "", false, NULL, ""},
    {"/v2/_catalog?n=10&last=b", RW_ROUTE_CATALOG, "", "", false, NULL, "n=10&last=b"},
    {"/v2/team/app/manifests/v1", RW_ROUTE_MANIFEST, "team/app", "v1", false, NULL, ""},
    {"/v2/library/nginx/manifests/latest?ns=docker.io", RW_ROUTE_MANIFEST, "library/nginx",
     "latest", false, "docker.io", ""},
    {"/v2/team/app/manifests/v1?ns=registry.local&x=1", RW_ROUTE_MANIFEST, "team/app", "v1",
     false, "registry.local", "x=1"},
    {"/v2/team/app/manifests/v1?a=1&ns=registry.local%3A5000&b=2", RW_ROUTE_MANIFEST,
     "team/app", "v1", false, "registry.local:5000", "a=1&b=2"},
    {"/v2/team/app/manifests/v1?ns=%5B::1%5D:5000", RW_ROUTE_MANIFEST, "team/app", "v1", false,
     "[::1]:5000", ""},
    {"/v2/team/app/manifests/v1?n%73=registry.local", RW_ROUTE_MANIFEST, "team/app", "v1", false,
     "registry.local", ""},
    {"/v2/team/app/manifests/v1?nsx=1&xns=2&ns2", RW_ROUTE_MANIFEST, "team/app", "v1", false,
     NULL, "nsx=1&xns=2&ns2"},
    {"/v2/team/app/manifests/v1?&&a=1&&", RW_ROUTE_MANIFEST, "team/app", "v1", false, NULL,
     "a=1"},
    {"/v2/team/app/manifests/v1?", RW_ROUTE_MANIFEST, "team/app", "v1", false, NULL, ""},
    {"/v2/team/app/manifests/" D256, RW_ROUTE_MANIFEST, "team/app", D256, true, NULL, ""},
    {"/v2/team/app/manifests/" D512, RW_ROUTE_MANIFEST, "team/app", D512, true, NULL, ""},
    {"/v2/team/app/manifests/sha256%3A" HEX64, RW_ROUTE_MANIFEST, "team/app", D256, true, NULL,
     ""},
    /* percent-encoded unreserved bytes are the same URL (RFC 3986 6.2.2.2) */
    {"/v2/team/app/%6danifests/v1", RW_ROUTE_MANIFEST, "team/app", "v1", false, NULL, ""},
    {"/v2/team/app/manifests/v%31", RW_ROUTE_MANIFEST, "team/app", "v1", false, NULL, ""},
    {"/v2/team/app/manifests/sha256-" HEX64 ".sig", RW_ROUTE_MANIFEST, "team/app",
     "sha256-" HEX64 ".sig", false, NULL, ""},
    {"/v2/team/app/manifests/_under.dot-dash", RW_ROUTE_MANIFEST, "team/app", "_under.dot-dash",
     false, NULL, ""},
    {"/v2/a/manifests/manifests", RW_ROUTE_MANIFEST, "a", "manifests", false, NULL, ""},
    {"/v2/manifests/manifests/v1", RW_ROUTE_MANIFEST, "manifests", "v1", false, NULL, ""},
    {"/v2/a/manifests/b/manifests/v1", RW_ROUTE_MANIFEST, "a/manifests/b", "v1", false, NULL,
     ""},
    {"/v2/team/blobs/app/manifests/v1", RW_ROUTE_MANIFEST, "team/blobs/app", "v1", false, NULL,
     ""},
    {"/v2/tags/list/manifests/v2", RW_ROUTE_MANIFEST, "tags/list", "v2", false, NULL, ""},
    {"/v2/a/blobs/uploads/manifests/x", RW_ROUTE_MANIFEST, "a/blobs/uploads", "x", false, NULL,
     ""},
    {"/v2/a.b_c__d-e--f/g/manifests/v1", RW_ROUTE_MANIFEST, "a.b_c__d-e--f/g", "v1", false, NULL,
     ""},
    {"/v2/team/app/blobs/" D256, RW_ROUTE_BLOB, "team/app", D256, true, NULL, ""},
    {"/v2/team/app/blobs/" D256 "?ns=registry.local", RW_ROUTE_BLOB, "team/app", D256, true,
     "registry.local", ""},
    {"/v2/team/manifests/blobs/" D256, RW_ROUTE_BLOB, "team/manifests", D256, true, NULL, ""},
    {"/v2/team/app/blobs/uploads/", RW_ROUTE_UPLOAD_START, "team/app", "", false, NULL, ""},
    {"/v2/team/app/blobs/uploads", RW_ROUTE_UPLOAD_START, "team/app", "", false, NULL, ""},
    {"/v2/team/app/blobs/uploads/?digest=" D256, RW_ROUTE_UPLOAD_START, "team/app", "", false,
     NULL, "digest=" D256},
    {"/v2/team/app/blobs/uploads/?mount=" D256 "&from=team/other", RW_ROUTE_UPLOAD_START,
     "team/app", "", false, NULL, "mount=" D256 "&from=team/other"},
    {"/v2/a/blobs/blobs/uploads", RW_ROUTE_UPLOAD_START, "a/blobs", "", false, NULL, ""},
    {"/v2/x/blobs/uploads/blobs/uploads/", RW_ROUTE_UPLOAD_START, "x/blobs/uploads", "", false,
     NULL, ""},
    {"/v2/team/app/blobs/uploads/3f0a6b1c-2d4e-4f60-8a7b-9c0d1e2f3a4b?_state=abc%2Bdef%3D&x=/y",
     RW_ROUTE_UPLOAD, "team/app", "3f0a6b1c-2d4e-4f60-8a7b-9c0d1e2f3a4b", false, NULL,
     "_state=abc%2Bdef%3D&x=/y"},
    {"/v2/team/app/blobs/uploads/uploads", RW_ROUTE_UPLOAD, "team/app", "uploads", false, NULL,
     ""},
    {"/v2/team/app/blobs/uploads/a.b_c=d:e-f", RW_ROUTE_UPLOAD, "team/app", "a.b_c=d:e-f", false,
     NULL, ""},
    {"/v2/team/app/tags/list", RW_ROUTE_TAGS, "team/app", "", false, NULL, ""},
    {"/v2/team/app/tags/list?n=10&last=v1&ns=registry.local", RW_ROUTE_TAGS, "team/app", "",
     false, "registry.local", "n=10&last=v1"},
    {"/v2/tags/tags/list", RW_ROUTE_TAGS, "tags", "", false, NULL, ""},
    {"/v2/team/app/referrers/" D256, RW_ROUTE_REFERRERS, "team/app", D256, true, NULL, ""},
    {"/v2/team/app/referrers/" D256
     "?artifactType=application/vnd.dev.cosign.artifact.sig.v1%2Bjson",
     RW_ROUTE_REFERRERS, "team/app", D256, true, NULL,
     "artifactType=application/vnd.dev.cosign.artifact.sig.v1%2Bjson"},
};

struct bad {
    const char *target;
    int rc;
    int status;
    const char *code;
};

static const struct bad bads[] = {
    /* C26 traversal */
    {"/v2/team/%2e%2e/other/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/%2E%2E/other/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/.%2e/other/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/../other/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/./app/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/../_catalog", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/./_catalog", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/Team//app/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team//app/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2//team/app/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/app/manifests//v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/app/manifests/..", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team%2Fapp/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/app%2f..%2fother/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/app/blobs/sha256:..%2F..%2Fx", RW_EINVAL, 400, "DIGEST_INVALID"},
    {"/v2/team/app/blobs/sha256:../../x", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/app/manifests/v1%2F..", RW_EINVAL, 400, "TAG_INVALID"},
    /* names */
    {"/v2/Team/app/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/App/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/app-/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/a___b/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/a%20b/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/a%00b/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/a%zzb/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/ab%2/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/ab%/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/%C3%A9/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/a\\b/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/blobs/" D256, RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/tags/list", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/blobs/uploads/", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/_catalog/manifests/v1", RW_EINVAL, 400, "NAME_INVALID"},
    /* tags */
    {"/v2/team/app/manifests/-v1", RW_EINVAL, 400, "TAG_INVALID"},
    {"/v2/team/app/manifests/.v1", RW_EINVAL, 400, "TAG_INVALID"},
    {"/v2/team/app/manifests/v1+x", RW_EINVAL, 400, "TAG_INVALID"},
    {"/v2/team/app/manifests/", RW_EINVAL, 400, "TAG_INVALID"},
    {"/v2/team/app/manifests/v%201", RW_EINVAL, 400, "TAG_INVALID"},
    /* digests */
    {"/v2/team/app/manifests/sha256:" HEX63, RW_EINVAL, 400, "DIGEST_INVALID"},
    {"/v2/team/app/manifests/sha256:" HEX64U, RW_EINVAL, 400, "DIGEST_INVALID"},
    {"/v2/team/app/manifests/sha256:" HEX64 "0", RW_EINVAL, 400, "DIGEST_INVALID"},
    {"/v2/team/app/manifests/SHA256:" HEX64, RW_EINVAL, 400, "DIGEST_INVALID"},
    {"/v2/team/app/manifests/md5:0123456789abcdef0123456789abcdef", RW_EINVAL, 400,
     "DIGEST_INVALID"},
    {"/v2/team/app/manifests/sha384:" HEX64 "0123456789abcdef0123456789abcdef", RW_EINVAL, 400,
     "DIGEST_INVALID"},
    {"/v2/team/app/blobs/v1", RW_EINVAL, 400, "DIGEST_INVALID"},
    {"/v2/team/app/blobs/", RW_EINVAL, 400, "DIGEST_INVALID"},
    {"/v2/team/app/blobs/sha256:" HEX63, RW_EINVAL, 400, "DIGEST_INVALID"},
    {"/v2/team/app/referrers/v1", RW_EINVAL, 400, "DIGEST_INVALID"},
    {"/v2/team/app/referrers/sha256:" HEX64U, RW_EINVAL, 400, "DIGEST_INVALID"},
    /* uploads */
    {"/v2/team/app/blobs/uploads/a%2Fb", RW_EINVAL, 404, "BLOB_UPLOAD_UNKNOWN"},
    {"/v2/team/app/blobs/uploads/a~b", RW_EINVAL, 404, "BLOB_UPLOAD_UNKNOWN"},
    {"/v2/team/app/blobs/uploads/abc/", RW_EINVAL, 404, "NAME_UNKNOWN"},
    /* not an OCI route */
    {"/", RW_EINVAL, 404, "NAME_UNKNOWN"},
    {"", RW_EINVAL, 404, "NAME_UNKNOWN"},
    {"/v1/team/app/manifests/v1", RW_EINVAL, 404, "NAME_UNKNOWN"},
    {"/v2x/team", RW_EINVAL, 404, "NAME_UNKNOWN"},
    {"v2/team/app/manifests/v1", RW_EINVAL, 404, "NAME_UNKNOWN"},
    {"http://evil.example/v2/", RW_EINVAL, 404, "NAME_UNKNOWN"},
    {"/v2/_catalog/", RW_EINVAL, 404, "NAME_UNKNOWN"},
    {"/v2/team/app", RW_EINVAL, 404, "NAME_UNKNOWN"},
    {"/v2/team/app/", RW_EINVAL, 404, "NAME_UNKNOWN"},
    {"/v2/team/app/tags/list/", RW_EINVAL, 404, "NAME_UNKNOWN"},
    {"/v2/team/app/tags/lis", RW_EINVAL, 404, "NAME_UNKNOWN"},
    {"/v2/team/app/manifests/v1/", RW_EINVAL, 404, "NAME_UNKNOWN"},
    {"/v2/team/app/manifest/v1", RW_EINVAL, 404, "NAME_UNKNOWN"},
    /* query */
    {"/v2/team/app/manifests/v1?ns=a&ns=b", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/app/manifests/v1?ns=", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/app/manifests/v1?ns", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/app/manifests/v1?ns=evil.example/x", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/app/manifests/v1?ns=evil.example%2Fx", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/app/manifests/v1?ns=a@b", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/app/manifests/v1?ns=a%00", RW_EINVAL, 400, "NAME_INVALID"},
    {"/v2/team/app/manifests/v1?x=a b", RW_EINVAL, 400, "UNSUPPORTED"},
    {"/v2/team/app/manifests/v1?x=%zz", RW_EINVAL, 400, "UNSUPPORTED"},
    {"/v2/team/app/manifests/v1?x=%4", RW_EINVAL, 400, "UNSUPPORTED"},
    {"/v2/team/app/manifests/v1?x=\"<>", RW_EINVAL, 400, "UNSUPPORTED"},
    {"/v2/team/app/manifests/v1#frag", RW_EINVAL, 400, "NAME_INVALID"},
};

static void test_good_targets(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
        const struct good *g = &goods[i];
        struct rw_route_match m;
        const char *code = "unset";
        int status = -1;
        int rc;

        rc = rw_route_parse(g->target, strlen(g->target), &m, &status, &code);
        if (rc != 0) {
            fail_msg("%s: rc %d status %d code %s", g->target, rc, status, code);
        }
        assert_int_equal(status, -1);
        if (m.route != g->route || strcmp(m.repo, g->repo) != 0 ||
            strcmp(m.reference, g->ref) != 0 || m.by_digest != g->by_digest ||
            m.has_ns != (g->ns != NULL) || strcmp(m.ns, g->ns != NULL ? g->ns : "") != 0 ||
            strcmp(m.query, g->query) != 0) {
            fail_msg("%s: got route %s repo '%s' ref '%s' dig %d ns %d '%s' query '%s'", g->target,
                     rw_route_str(m.route), m.repo, m.reference, m.by_digest, m.has_ns, m.ns,
                     m.query);
        }
    }
}

static void test_bad_targets(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        const struct bad *b = &bads[i];
        struct rw_route_match m;
        struct rw_route_match untouched;
        const char *code = NULL;
        int status = 0;
        int rc;

        memset(&m, 0x5a, sizeof(m));
        untouched = m;
        rc = rw_route_parse(b->target, strlen(b->target), &m, &status, &code);
        if (rc != b->rc || status != b->status || code == NULL || strcmp(code, b->code) != 0) {
            fail_msg("%s: got rc %d status %d code %s, want %d %d %s", b->target, rc, status,
                     code != NULL ? code : "(null)", b->rc, b->status, b->code);
        }
        assert_memory_equal(&m, &untouched, sizeof(m));
    }
}

static void expect(const char *t, size_t len, int rc, int st, const char *code)
{
    struct rw_route_match m;
    const char *c = NULL;
    int status = 0;

    assert_int_equal(rw_route_parse(t, len, &m, &status, &c), rc);
    if (rc != 0) {
        assert_int_equal(status, st);
        assert_string_equal(c, code);
    }
}

static void test_bounds(void **state)
{
    char *t = malloc(RW_MAX_REQ_LINE + 64);
    char *name = malloc(RW_MAX_REPO_LEN + 8);
    size_t n;

    (void)state;
    assert_non_null(t);
    assert_non_null(name);

    /* tags: 128 ok, 129 too long */
    n = (size_t)snprintf(t, RW_MAX_REQ_LINE, "/v2/a/manifests/%0128d", 0);
    expect(t, n, 0, 0, NULL);
    n = (size_t)snprintf(t, RW_MAX_REQ_LINE, "/v2/a/manifests/%0129d", 0);
    expect(t, n, RW_ETOOBIG, 400, "TAG_INVALID");
    n = (size_t)snprintf(t, RW_MAX_REQ_LINE, "/v2/a/manifests/%0200d", 0);
    expect(t, n, RW_ETOOBIG, 400, "TAG_INVALID");

    /* repository: 255 ok, 256 too long */
    memset(name, 'a', RW_MAX_REPO_LEN);
    for (size_t i = 1; i < RW_MAX_REPO_LEN; i += 2) {
        name[i] = '/';
    }
    name[RW_MAX_REPO_LEN] = '\0';
    n = (size_t)snprintf(t, RW_MAX_REQ_LINE, "/v2/%s/manifests/v1", name);
    expect(t, n, 0, 0, NULL);
    n = (size_t)snprintf(t, RW_MAX_REQ_LINE, "/v2/%s/b/manifests/v1", name);
    expect(t, n, RW_ETOOBIG, 400, "NAME_INVALID");
    /* many segments */
    memset(t, 0, RW_MAX_REQ_LINE);
    n = (size_t)snprintf(t, RW_MAX_REQ_LINE, "/v2/");
    for (int i = 0; i < 400; i++) {
        n += (size_t)snprintf(t + n, RW_MAX_REQ_LINE - n, "a/");
    }
    n += (size_t)snprintf(t + n, RW_MAX_REQ_LINE - n, "manifests/v1");
    expect(t, n, RW_ETOOBIG, 400, "NAME_INVALID");

    /* digest longer than any algorithm we know */
    n = (size_t)snprintf(t, RW_MAX_REQ_LINE, "/v2/a/blobs/sha256:%0300d", 0);
    expect(t, n, RW_ETOOBIG, 400, "DIGEST_INVALID");

    /* upload id: 512 ok, 513 too long */
    n = (size_t)snprintf(t, RW_MAX_REQ_LINE, "/v2/a/blobs/uploads/%0512d", 0);
    expect(t, n, 0, 0, NULL);
    n = (size_t)snprintf(t, RW_MAX_REQ_LINE, "/v2/a/blobs/uploads/%0513d", 0);
    expect(t, n, RW_ETOOBIG, 404, "BLOB_UPLOAD_UNKNOWN");

    /* ns: 128 ok, 129 too long */
    n = (size_t)snprintf(t, RW_MAX_REQ_LINE, "/v2/?ns=%0128d", 0);
    expect(t, n, 0, 0, NULL);
    n = (size_t)snprintf(t, RW_MAX_REQ_LINE, "/v2/?ns=%0129d", 0);
    expect(t, n, RW_ETOOBIG, 400, "NAME_INVALID");

    /* query: 4096 ok, 4097 too long */
    n = (size_t)snprintf(t, RW_MAX_REQ_LINE, "/v2/?x=%04094d", 0);
    expect(t, n, 0, 0, NULL);
    n = (size_t)snprintf(t, RW_MAX_REQ_LINE, "/v2/?x=%04095d", 0);
    expect(t, n, RW_ETOOBIG, 414, "UNSUPPORTED");

    /* the whole target */
    memset(t, 'a', RW_MAX_REQ_LINE + 1);
    memcpy(t, "/v2/", 4);
    expect(t, RW_MAX_REQ_LINE + 1, RW_ETOOBIG, 414, "UNSUPPORTED");
    memcpy(t, "/v2/?", 5);
    expect(t, RW_MAX_REQ_LINE, RW_ETOOBIG, 414, "UNSUPPORTED");

    /* an embedded NUL is not the end of the target */
    expect("/v2/a/manifests/v1\0x", 20, RW_EINVAL, 400, "NAME_INVALID");
    /* the length is honoured: the bytes after it are not read */
    expect("/v2/a/manifests/v1garbage!", 18, 0, 0, NULL);
    expect(NULL, 0, RW_EINVAL, 400, "NAME_INVALID");
    free(t);
    free(name);
}

static void test_full_query_kept(void **state)
{
    struct rw_route_match m;
    const char *code = NULL;
    int status = 0;
    const char *t = "/v2/a/tags/list?last=v%2B1&n=5&ns=r.local&z=%41&q?=/@:";

    (void)state;
    assert_int_equal(rw_route_parse(t, strlen(t), &m, &status, &code), 0);
    assert_string_equal(m.query, "last=v%2B1&n=5&z=%41&q?=/@:");
    assert_string_equal(m.ns, "r.local");
    assert_true(m.has_ns);
}

static void test_route_str(void **state)
{
    (void)state;
    assert_string_equal(rw_route_str(RW_ROUTE_PING), "ping");
    assert_string_equal(rw_route_str(RW_ROUTE_CATALOG), "catalog");
    assert_string_equal(rw_route_str(RW_ROUTE_MANIFEST), "manifest");
    assert_string_equal(rw_route_str(RW_ROUTE_BLOB), "blob");
    assert_string_equal(rw_route_str(RW_ROUTE_UPLOAD_START), "upload_start");
    assert_string_equal(rw_route_str(RW_ROUTE_UPLOAD), "upload");
    assert_string_equal(rw_route_str(RW_ROUTE_TAGS), "tags");
    assert_string_equal(rw_route_str(RW_ROUTE_REFERRERS), "referrers");
    assert_string_equal(rw_route_str(RW_ROUTE_COUNT), "unknown");
    assert_string_equal(rw_route_str((enum rw_route)-1), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_targets), cmocka_unit_test(test_bad_targets),
        cmocka_unit_test(test_bounds),       cmocka_unit_test(test_full_query_kept),
        cmocka_unit_test(test_route_str),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
