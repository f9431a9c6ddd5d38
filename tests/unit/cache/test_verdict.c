/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for cache/ (store.c + verdict.c): round trips, expiry, key separation, links,
 * sweep and purge, corrupt records, a full map, persistence and concurrent use. White-box: the
 * private headers give the tests the raw transaction API to plant garbage records.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rw/cache.h"
#include "rw/err.h"
#include "support.h"

#include "store.h"
#include "verdict.h"

#define NOW 1700000000

struct fixture {
    char *dir;
    struct rw_cache *c;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = rwt_tempdir();
    assert_int_equal(rw_cache_open(f->dir, 16u * 1024u * 1024u, &f->c), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    rw_cache_close(&f->c);
    assert_null(f->c);
    rwt_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void make_key(struct rw_cache_key *k, uint8_t pol, const char *up, const char *repo,
                     const char *digest)
{
    memset(k, 0, sizeof(*k));
    memset(k->policy, pol, sizeof(k->policy));
    snprintf(k->upstream, sizeof(k->upstream), "%s", up);
    snprintf(k->repo, sizeof(k->repo), "%s", repo);
    snprintf(k->digest, sizeof(k->digest), "%s", digest);
}

static void make_digest(char *out, size_t cap, unsigned n)
{
    snprintf(out, cap, "sha256:%064x", n);
}

static struct rw_verdict allow_verdict(int64_t expires)
{
    struct rw_verdict v;

    memset(&v, 0, sizeof(v));
    v.allow = true;
    v.reason = RW_REASON_NONE;
    snprintf(v.key_id, sizeof(v.key_id), "team");
    snprintf(v.detail, sizeof(v.detail), "signed by team");
    v.time = NOW;
    v.expires = expires;
    return v;
}

static struct rw_verdict deny_verdict(int64_t expires)
{
    struct rw_verdict v;

    memset(&v, 0, sizeof(v));
    v.allow = false;
    v.reason = RW_REASON_NO_SIGNATURE;
    snprintf(v.detail, sizeof(v.detail), "no signature by key \"team\"\n\t\x01");
    v.time = NOW;
    v.expires = expires;
    return v;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    }
}

static void test_sha256_vectors(void **state)
{
    uint8_t d[32];
    char h[65];
    char *million = malloc(1000000);

    (void)state;
    rw_cache_sha256("", 0, d);
    hex(d, 32, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    rw_cache_sha256("abc", 3, d);
    hex(d, 32, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    rw_cache_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
    hex(d, 32, h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    assert_non_null(million);
    memset(million, 'a', 1000000);
    rw_cache_sha256(million, 1000000, d);
    hex(d, 32, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    struct rw_cache_key k1;
    struct rw_cache_key k2;
    struct rw_verdict a = allow_verdict(NOW + 100);
    struct rw_verdict d = deny_verdict(NOW + 30);
    struct rw_verdict out;
    char dg[80];

    make_digest(dg, sizeof(dg), 1);
    make_key(&k1, 0xaa, "registry.local", "team/app", dg);
    make_digest(dg, sizeof(dg), 2);
    make_key(&k2, 0xaa, "registry.local", "team/app", dg);
    assert_int_equal(rw_cache_verdict_get(f->c, &k1, NOW, &out), -ENOENT);
    assert_int_equal(rw_cache_verdict_put(f->c, &k1, &a), 0);
    assert_int_equal(rw_cache_verdict_put(f->c, &k2, &d), 0);

    memset(&out, 0x55, sizeof(out));
    assert_int_equal(rw_cache_verdict_get(f->c, &k1, NOW, &out), 0);
    assert_true(out.allow);
    assert_int_equal(out.reason, RW_REASON_NONE);
    assert_string_equal(out.key_id, "team");
    assert_string_equal(out.detail, "signed by team");
    assert_int_equal(out.time, NOW);
    assert_int_equal(out.expires, NOW + 100);

    assert_int_equal(rw_cache_verdict_get(f->c, &k2, NOW, &out), 0);
    assert_false(out.allow);
    assert_int_equal(out.reason, RW_REASON_NO_SIGNATURE);
    assert_string_equal(out.key_id, "");
    assert_string_equal(out.detail, d.detail);

    /* overwrite: the latest verdict wins */
    d.expires = NOW + 1000;
    assert_int_equal(rw_cache_verdict_put(f->c, &k1, &d), 0);
    assert_int_equal(rw_cache_verdict_get(f->c, &k1, NOW, &out), 0);
    assert_false(out.allow);
}

static void test_expiry(void **state)
{
    struct fixture *f = *state;
    struct rw_cache_key k;
    struct rw_verdict v = allow_verdict(NOW + 10);
    struct rw_verdict out;
    struct rw_verdict untouched;
    char dg[80];

    make_digest(dg, sizeof(dg), 7);
    make_key(&k, 1, "registry.local", "team/app", dg);
    assert_int_equal(rw_cache_verdict_put(f->c, &k, &v), 0);
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW + 9, &out), 0);
    memset(&out, 0x33, sizeof(out));
    untouched = out;
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW + 10, &out), -ENOENT);
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW + 11, &out), -ENOENT);
    assert_memory_equal(&out, &untouched, sizeof(out));

    /* expires must be set: 0 means "do not cache" and is refused */
    v.expires = 0;
    assert_int_equal(rw_cache_verdict_put(f->c, &k, &v), -EINVAL);
}

static void test_key_separation(void **state)
{
    struct fixture *f = *state;
    struct rw_cache_key k;
    struct rw_cache_key m;
    struct rw_verdict v = allow_verdict(NOW + 10);
    struct rw_verdict out;
    char dg[80];
    char dg2[80];

    make_digest(dg, sizeof(dg), 9);
    make_digest(dg2, sizeof(dg2), 10);
    make_key(&k, 1, "registry.local", "team/app", dg);
    assert_int_equal(rw_cache_verdict_put(f->c, &k, &v), 0);
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW, &out), 0);

    m = k;
    m.policy[31] ^= 1;
    assert_int_equal(rw_cache_verdict_get(f->c, &m, NOW, &out), -ENOENT);
    make_key(&m, 1, "registry.other", "team/app", dg);
    assert_int_equal(rw_cache_verdict_get(f->c, &m, NOW, &out), -ENOENT);
    make_key(&m, 1, "registry.local", "team/app2", dg);
    assert_int_equal(rw_cache_verdict_get(f->c, &m, NOW, &out), -ENOENT);
    make_key(&m, 1, "registry.local", "team/app", dg2);
    assert_int_equal(rw_cache_verdict_get(f->c, &m, NOW, &out), -ENOENT);
    /* length prefixes: moving a byte between fields must not collide */
    make_key(&m, 1, "registry.localt", "eam/app", dg);
    assert_int_equal(rw_cache_verdict_get(f->c, &m, NOW, &out), -ENOENT);

    /* empty fields are refused */
    make_key(&m, 1, "", "team/app", dg);
    assert_int_equal(rw_cache_verdict_put(f->c, &m, &v), -EINVAL);
    assert_int_equal(rw_cache_verdict_get(f->c, &m, NOW, &out), -EINVAL);
}

static void test_long_keys_hashed(void **state)
{
    struct fixture *f = *state;
    struct rw_cache_key k;
    struct rw_cache_key m;
    struct rw_verdict v = allow_verdict(NOW + 10);
    struct rw_verdict out;
    uint8_t enc[RW_CACHE_KEY_MAX];
    const uint8_t *d = NULL;
    size_t dlen = 0;
    size_t len = 0;
    char dg[RW_MAX_DIGEST_LEN + 1];

    memset(&k, 0, sizeof(k));
    memset(k.upstream, 'u', RW_MAX_NAME_LEN);
    memset(k.repo, 'r', RW_MAX_REPO_LEN);
    snprintf(dg, sizeof(dg), "sha512:%0128x", 5u);
    memcpy(k.digest, dg, strlen(dg));
    assert_int_equal(rw_cache_key_encode(&k, enc, &len), 0);
    assert_true(len <= RW_CACHE_KEY_MAX);
    assert_int_equal(enc[32], RW_CACHE_KEY_HASHED);
    assert_int_equal(rw_cache_key_digest(enc, len, &d, &dlen), 0);
    assert_int_equal(dlen, strlen(dg));
    assert_memory_equal(d, dg, dlen);

    assert_int_equal(rw_cache_verdict_put(f->c, &k, &v), 0);
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW, &out), 0);
    m = k;
    m.repo[RW_MAX_REPO_LEN - 1] = 's';
    assert_int_equal(rw_cache_verdict_get(f->c, &m, NOW, &out), -ENOENT);

    /* short keys stay plain, and the digest is found in them too */
    make_key(&m, 0, "r", "a", "sha256:x");
    assert_int_equal(rw_cache_key_encode(&m, enc, &len), 0);
    assert_int_equal(enc[32], RW_CACHE_KEY_PLAIN);
    assert_int_equal(rw_cache_key_digest(enc, len, &d, &dlen), 0);
    assert_int_equal(dlen, 8);
    assert_int_equal(rw_cache_key_digest(enc, len - 1, &d, &dlen), RW_ECACHECORRUPT);

    /* unterminated fields are refused */
    memset(m.upstream, 'x', sizeof(m.upstream));
    assert_int_equal(rw_cache_key_encode(&m, enc, &len), -EINVAL);
}

static void test_links(void **state)
{
    struct fixture *f = *state;
    struct rw_cache_key child;
    char parent[80];
    char out[RW_MAX_DIGEST_LEN + 1];
    char dg[80];

    make_digest(dg, sizeof(dg), 0x100);
    make_digest(parent, sizeof(parent), 0x200);
    make_key(&child, 2, "registry.local", "team/app", dg);
    assert_int_equal(rw_cache_link_get(f->c, &child, NOW, out), -ENOENT);
    assert_int_equal(rw_cache_link_put(f->c, &child, parent, NOW + 5), 0);
    assert_int_equal(rw_cache_link_get(f->c, &child, NOW, out), 0);
    assert_string_equal(out, parent);
    assert_int_equal(rw_cache_link_get(f->c, &child, NOW + 5, out), -ENOENT);
    assert_int_equal(rw_cache_link_put(f->c, &child, NULL, NOW + 5), -EINVAL);
    assert_int_equal(rw_cache_link_put(f->c, &child, parent, 0), -EINVAL);
    /* a link is not a verdict */
    {
        struct rw_verdict v;

        assert_int_equal(rw_cache_verdict_get(f->c, &child, NOW, &v), -ENOENT);
    }
}

static void fill(struct fixture *f, unsigned n_digests, unsigned first, int64_t expires)
{
    for (unsigned i = 0; i < n_digests; i++) {
        struct rw_cache_key k;
        struct rw_verdict v = allow_verdict(expires);
        char dg[80];

        make_digest(dg, sizeof(dg), first + i);
        make_key(&k, 3, "registry.local", "team/app", dg);
        assert_int_equal(rw_cache_verdict_put(f->c, &k, &v), 0);
    }
}

static void test_sweep(void **state)
{
    struct fixture *f = *state;
    struct rw_cache_stats st;
    struct rw_cache_key k;
    uint64_t n = 99;
    char dg[80];
    char parent[80];

    fill(f, 10, 0, NOW + 10);
    fill(f, 7, 100, NOW + 100);
    make_digest(dg, sizeof(dg), 500);
    make_digest(parent, sizeof(parent), 501);
    make_key(&k, 3, "registry.local", "team/app", dg);
    assert_int_equal(rw_cache_link_put(f->c, &k, parent, NOW + 10), 0);
    make_key(&k, 3, "registry.local", "team/other", dg);
    assert_int_equal(rw_cache_link_put(f->c, &k, parent, NOW + 100), 0);

    assert_int_equal(rw_cache_sweep(f->c, NOW, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(rw_cache_sweep(f->c, NOW + 10, &n), 0);
    assert_int_equal(n, 11);
    assert_int_equal(rw_cache_stats_get(f->c, &st), 0);
    assert_int_equal(st.verdicts, 7);
    assert_int_equal(st.links, 1);
    assert_true(st.map_size >= 16u * 1024u * 1024u);
    assert_true(st.used_bytes > 0 && st.used_bytes <= st.map_size);
    assert_int_equal(rw_cache_sweep(f->c, NOW + 1000, &n), 0);
    assert_int_equal(n, 8);
    assert_int_equal(rw_cache_stats_get(f->c, &st), 0);
    assert_int_equal(st.verdicts + st.links, 0);
}

static void test_purge(void **state)
{
    struct fixture *f = *state;
    struct rw_cache_stats st;
    struct rw_cache_key k;
    struct rw_verdict v = allow_verdict(NOW + 10);
    struct rw_verdict out;
    char target[80];
    char other[80];
    char out_parent[RW_MAX_DIGEST_LEN + 1];
    uint64_t n = 0;

    make_digest(target, sizeof(target), 42);
    make_digest(other, sizeof(other), 43);
    /* target under two policies and two repos, plus one other digest */
    make_key(&k, 1, "registry.local", "team/app", target);
    assert_int_equal(rw_cache_verdict_put(f->c, &k, &v), 0);
    make_key(&k, 2, "registry.local", "team/app", target);
    assert_int_equal(rw_cache_verdict_put(f->c, &k, &v), 0);
    make_key(&k, 1, "registry.local", "team/b", target);
    assert_int_equal(rw_cache_verdict_put(f->c, &k, &v), 0);
    make_key(&k, 1, "registry.local", "team/app", other);
    assert_int_equal(rw_cache_verdict_put(f->c, &k, &v), 0);
    /* a link whose child is target, one whose parent is target, one unrelated */
    make_key(&k, 1, "registry.local", "team/app", target);
    assert_int_equal(rw_cache_link_put(f->c, &k, other, NOW + 10), 0);
    make_key(&k, 1, "registry.local", "team/c", other);
    assert_int_equal(rw_cache_link_put(f->c, &k, target, NOW + 10), 0);
    make_key(&k, 1, "registry.local", "team/d", other);
    assert_int_equal(rw_cache_link_put(f->c, &k, other, NOW + 10), 0);

    assert_int_equal(rw_cache_purge(f->c, target, &n), 0);
    assert_int_equal(n, 5);
    make_key(&k, 1, "registry.local", "team/app", other);
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW, &out), 0);
    make_key(&k, 1, "registry.local", "team/app", target);
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW, &out), -ENOENT);
    make_key(&k, 1, "registry.local", "team/d", other);
    assert_int_equal(rw_cache_link_get(f->c, &k, NOW, out_parent), 0);

    assert_int_equal(rw_cache_purge(f->c, NULL, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rw_cache_stats_get(f->c, &st), 0);
    assert_int_equal(st.verdicts + st.links, 0);
    assert_int_equal(rw_cache_purge(f->c, NULL, &n), 0);
    assert_int_equal(n, 0);
}

static void plant(struct fixture *f, enum rw_cache_db db, const struct rw_cache_key *k,
                  const void *rec, size_t len)
{
    struct rw_cache_txn *txn = NULL;
    uint8_t key[RW_CACHE_KEY_MAX];
    size_t klen = 0;

    assert_int_equal(rw_cache_key_encode(k, key, &klen), 0);
    assert_int_equal(rw_cache_txn_begin(f->c, RW_CACHE_TXN_RW, &txn), 0);
    assert_int_equal(rw_cache_txn_put(txn, db, key, klen, rec, len), 0);
    assert_int_equal(rw_cache_txn_commit(&txn), 0);
    assert_null(txn);
}

static void test_corrupt_record(void **state)
{
    struct fixture *f = *state;
    struct rw_cache_key k;
    struct rw_verdict v = allow_verdict(NOW + 10);
    struct rw_verdict out;
    uint8_t rec[RW_CACHE_RECORD_MAX];
    char parent[RW_MAX_DIGEST_LEN + 1];
    size_t len = 0;
    uint64_t n = 0;
    char dg[80];

    make_digest(dg, sizeof(dg), 77);
    make_key(&k, 4, "registry.local", "team/app", dg);
    plant(f, RW_CACHE_DB_VERDICTS, &k, "garbage", 7);
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW, &out), RW_ECACHECORRUPT);
    plant(f, RW_CACHE_DB_VERDICTS, &k, "", 0);
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW, &out), RW_ECACHECORRUPT);

    /* a future version is not guessed at, nor is the old one without evidence */
    assert_int_equal(rw_cache_record_encode(&v, rec, &len), 0);
    rec[0] = 3;
    plant(f, RW_CACHE_DB_VERDICTS, &k, rec, len);
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW, &out), RW_ECACHECORRUPT);
    rec[0] = 1;
    plant(f, RW_CACHE_DB_VERDICTS, &k, rec, len);
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW, &out), RW_ECACHECORRUPT);
    /* allow with a deny reason */
    rec[0] = 2;
    rec[2] = RW_REASON_NO_RULE;
    plant(f, RW_CACHE_DB_VERDICTS, &k, rec, len);
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW, &out), RW_ECACHECORRUPT);
    /* truncated and padded */
    rec[2] = RW_REASON_NONE;
    plant(f, RW_CACHE_DB_VERDICTS, &k, rec, len - 1);
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW, &out), RW_ECACHECORRUPT);
    rec[len] = 0;
    plant(f, RW_CACHE_DB_VERDICTS, &k, rec, len + 1);
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW, &out), RW_ECACHECORRUPT);
    plant(f, RW_CACHE_DB_VERDICTS, &k, rec, len);
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW, &out), 0);

    plant(f, RW_CACHE_DB_LINKS, &k, "\x01zz", 3);
    assert_int_equal(rw_cache_link_get(f->c, &k, NOW, parent), RW_ECACHECORRUPT);

    /* the sweep clears corrupt records: one verdict is now fine, the link is not */
    plant(f, RW_CACHE_DB_VERDICTS, &k, "junk", 4);
    assert_int_equal(rw_cache_sweep(f->c, NOW, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rw_cache_verdict_get(f->c, &k, NOW, &out), -ENOENT);
}

static void test_record_codec(void **state)
{
    struct rw_verdict v = deny_verdict(NOW + 1);
    struct rw_verdict out;
    uint8_t rec[RW_CACHE_RECORD_MAX];
    size_t len = 0;

    (void)state;
    memset(v.detail, 'd', sizeof(v.detail) - 1);
    memset(v.key_id, 'k', sizeof(v.key_id) - 1);
    v.time = -5;
    assert_int_equal(rw_cache_record_encode(&v, rec, &len), 0);
    assert_int_equal(len, 597); /* 19 fixed + 1+63 key + 2+511 detail + 1 (no evidence) */
    assert_int_equal(rw_cache_record_decode(rec, len, &out), 0);
    assert_memory_equal(&out, &v, sizeof(v));

    /* the evidence list: every slot full, round trip exact, the largest record fits */
    v.n_evidence = RW_MAX_EVIDENCE;
    for (unsigned i = 0; i < RW_MAX_EVIDENCE; i++) {
        memset(v.evidence[i], 'a' + (int)i, sizeof(v.evidence[i]) - 1);
        memcpy(v.evidence[i], "sha256:", 7);
    }
    assert_int_equal(rw_cache_record_encode(&v, rec, &len), 0);
    assert_int_equal(len, 597 + RW_MAX_EVIDENCE * 72);
    assert_true(len <= RW_CACHE_RECORD_MAX);
    memset(&out, 0, sizeof(out));
    assert_int_equal(rw_cache_record_decode(rec, len, &out), 0);
    assert_memory_equal(&out, &v, sizeof(v));
    /* a count past the bound, a zero-length entry, a short list: corrupt */
    rec[597 - 1] = RW_MAX_EVIDENCE + 1;
    assert_int_equal(rw_cache_record_decode(rec, len, &out), RW_ECACHECORRUPT);
    rec[597 - 1] = RW_MAX_EVIDENCE;
    rec[597] = 0;
    assert_int_equal(rw_cache_record_decode(rec, len, &out), RW_ECACHECORRUPT);
    rec[597] = 71;
    assert_int_equal(rw_cache_record_decode(rec, len - 1, &out), RW_ECACHECORRUPT);
    v.n_evidence = RW_MAX_EVIDENCE + 1; /* encoder refuses what the decoder would */
    assert_int_equal(rw_cache_record_encode(&v, rec, &len), -EINVAL);
    v.n_evidence = 1;
    v.evidence[0][0] = '\0';
    assert_int_equal(rw_cache_record_encode(&v, rec, &len), -EINVAL);
    v.n_evidence = 0;

    v.allow = true; /* with a deny reason */
    assert_int_equal(rw_cache_record_encode(&v, rec, &len), -EINVAL);
    v.allow = false;
    v.reason = RW_REASON_NONE; /* deny without reason */
    assert_int_equal(rw_cache_record_encode(&v, rec, &len), -EINVAL);
    v.reason = RW_REASON_COUNT;
    assert_int_equal(rw_cache_record_encode(&v, rec, &len), -EINVAL);
    v.reason = RW_REASON_NO_RULE;
    v.expires = -1;
    assert_int_equal(rw_cache_record_encode(&v, rec, &len), -EINVAL);
    v.expires = 1;
    memset(v.detail, 'd', sizeof(v.detail));
    assert_int_equal(rw_cache_record_encode(&v, rec, &len), -EINVAL);
}

static void test_map_full(void **state)
{
    char *dir = rwt_tempdir();
    struct rw_cache *c = NULL;
    struct rw_cache_key k;
    struct rw_verdict v = deny_verdict(NOW + 10);
    struct rw_verdict out;
    unsigned stored = 0;
    uint64_t n = 0;
    int rc = 0;
    char dg[80];

    (void)state;
    memset(v.detail, 'x', sizeof(v.detail) - 1);
    assert_int_equal(rw_cache_open(dir, 64u * 1024u, &c), 0);
    for (unsigned i = 0; i < 100000; i++) {
        make_digest(dg, sizeof(dg), i);
        make_key(&k, 5, "registry.local", "team/app", dg);
        rc = rw_cache_verdict_put(c, &k, &v);
        if (rc != 0) {
            break;
        }
        stored++;
    }
    assert_int_equal(rc, RW_ECACHEFULL);
    assert_true(stored > 0);
    /* still readable after the failed write, and still full on the next one */
    for (unsigned i = 0; i < stored; i++) {
        make_digest(dg, sizeof(dg), i);
        make_key(&k, 5, "registry.local", "team/app", dg);
        assert_int_equal(rw_cache_verdict_get(c, &k, NOW, &out), 0);
    }
    make_digest(dg, sizeof(dg), stored + 1);
    make_key(&k, 5, "registry.local", "team/app", dg);
    assert_int_equal(rw_cache_verdict_put(c, &k, &v), RW_ECACHEFULL);
    assert_int_equal(rw_cache_verdict_get(c, &k, NOW, &out), -ENOENT);
    /* the operator's way out without a restart: purging frees the pages */
    assert_int_equal(rw_cache_purge(c, NULL, &n), 0);
    assert_int_equal(n, stored);
    assert_int_equal(rw_cache_verdict_put(c, &k, &v), 0);
    assert_int_equal(rw_cache_verdict_get(c, &k, NOW, &out), 0);
    rw_cache_close(&c);
    rwt_rmtree(dir);
    free(dir);
}

static void test_reopen(void **state)
{
    char *dir = rwt_tempdir();
    struct rw_cache *c = NULL;
    struct rw_cache_key k;
    struct rw_verdict v = allow_verdict(NOW + 10);
    struct rw_verdict out;
    char parent[RW_MAX_DIGEST_LEN + 1];
    char dg[80];

    (void)state;
    make_digest(dg, sizeof(dg), 1234);
    make_key(&k, 6, "registry.local", "team/app", dg);
    assert_int_equal(rw_cache_open(dir, 0, &c), 0);
    assert_int_equal(rw_cache_verdict_put(c, &k, &v), 0);
    assert_int_equal(rw_cache_link_put(c, &k, "sha256:parent", NOW + 10), 0);
    assert_int_equal(rw_cache_sync(c), 0);
    rw_cache_close(&c);
    rw_cache_close(&c); /* idempotent */

    assert_int_equal(rw_cache_open(dir, 0, &c), 0);
    assert_int_equal(rw_cache_verdict_get(c, &k, NOW, &out), 0);
    assert_true(out.allow);
    assert_string_equal(out.key_id, "team");
    assert_int_equal(rw_cache_link_get(c, &k, NOW, parent), 0);
    assert_string_equal(parent, "sha256:parent");
    rw_cache_close(&c);
    rwt_rmtree(dir);
    free(dir);
}

static void test_open_errors(void **state)
{
    struct rw_cache *c = NULL;

    (void)state;
    assert_true(rw_cache_open("/nonexistent-dir-rw/x/y", 0, &c) < 0);
    assert_null(c);
    assert_int_equal(rw_cache_open(NULL, 0, &c), -EINVAL);
}

#define N_THREADS 4
#define N_OPS     300

struct worker {
    struct rw_cache *c;
    unsigned id;
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    for (unsigned i = 0; i < N_OPS; i++) {
        struct rw_cache_key k;
        struct rw_verdict v = allow_verdict(NOW + 100);
        struct rw_verdict out;
        char dg[80];
        int rc;

        make_digest(dg, sizeof(dg), w->id * 100000 + i);
        make_key(&k, 7, "registry.local", "team/app", dg);
        snprintf(v.detail, sizeof(v.detail), "w%u i%u", w->id, i);
        if (rw_cache_verdict_put(w->c, &k, &v) != 0) {
            w->failures++;
        }
        if (rw_cache_verdict_get(w->c, &k, NOW, &out) != 0 || strcmp(out.detail, v.detail) != 0) {
            w->failures++;
        }
        /* read what a neighbour may or may not have written yet */
        make_digest(dg, sizeof(dg), ((w->id + 1) % N_THREADS) * 100000 + i);
        make_key(&k, 7, "registry.local", "team/app", dg);
        rc = rw_cache_verdict_get(w->c, &k, NOW, &out);
        if (rc != 0 && rc != -ENOENT) {
            w->failures++;
        }
        if (i % 50 == 0) {
            uint64_t n = 0;

            if (rw_cache_sweep(w->c, NOW, &n) != 0 || n != 0) {
                w->failures++;
            }
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct fixture *f = *state;
    pthread_t th[N_THREADS];
    struct worker w[N_THREADS];
    struct rw_cache_stats st;

    for (unsigned i = 0; i < N_THREADS; i++) {
        w[i] = (struct worker){.c = f->c, .id = i, .failures = 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (unsigned i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(rw_cache_stats_get(f->c, &st), 0);
    assert_int_equal(st.verdicts, N_THREADS * N_OPS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_separation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_keys_hashed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_record, setup, teardown),
        cmocka_unit_test(test_record_codec),
        cmocka_unit_test(test_map_full),
        cmocka_unit_test(test_reopen),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
