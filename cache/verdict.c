/* SPDX-License-Identifier: MIT */
/*
 * Verdicts and index->child links on top of cache/store.c: the key encoding, the versioned
 * record formats (cache/README.md), expiry, sweep and purge. Never touches LMDB directly (R5);
 * never trusts a stored byte: a record that does not decode exactly is RW_ECACHECORRUPT and the
 * caller treats it as absent (a miss costs a re-verification, never an allow).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "rw/cache.h"
#include "rw/err.h"

#include "store.h"
#include "verdict.h"

/* ------------------------------------------------------------------ sha256 (FIPS 180-4) */

struct sha256_ctx {
    uint32_t h[8];
    uint8_t block[64];
    size_t fill;
    uint64_t total;
};

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static uint32_t ror32(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32u - n));
}

static void sha256_compress(struct sha256_ctx *s, const uint8_t *p)
{
    uint32_t w[64];
    uint32_t a[8];

    for (unsigned i = 0; i < 16; i++) {
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    }
    for (unsigned i = 16; i < 64; i++) {
        uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);

        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(a, s->h, sizeof(a));
    for (unsigned i = 0; i < 64; i++) {
        uint32_t e = a[4];
        uint32_t t1 = a[7] + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) +
                      ((e & a[5]) ^ (~e & a[6])) + sha256_k[i] + w[i];
        uint32_t t2 = (ror32(a[0], 2) ^ ror32(a[0], 13) ^ ror32(a[0], 22)) +
                      ((a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]));

        memmove(&a[1], &a[0], 7 * sizeof(a[0]));
        a[4] += t1;
        a[0] = t1 + t2;
    }
    for (unsigned i = 0; i < 8; i++) {
        s->h[i] += a[i];
    }
}

static void sha256_update(struct sha256_ctx *s, const uint8_t *p, size_t n)
{
    s->total += n;
    while (n > 0) {
        size_t take = 64 - s->fill < n ? 64 - s->fill : n;

        memcpy(s->block + s->fill, p, take);
        s->fill += take;
        p += take;
        n -= take;
        if (s->fill == 64) {
            sha256_compress(s, s->block);
            s->fill = 0;
        }
    }
}

void rw_cache_sha256(const void *p, size_t n, uint8_t out[32])
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    struct sha256_ctx s = {.fill = 0, .total = 0};
    uint8_t pad[72] = {0x80};
    uint64_t bits;
    size_t padlen;

    memcpy(s.h, iv, sizeof(iv));
    sha256_update(&s, p, n);
    bits = s.total * 8u;
    padlen = (s.fill < 56 ? 56 - s.fill : 120 - s.fill);
    for (unsigned i = 0; i < 8; i++) {
        pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    }
    sha256_update(&s, pad, padlen + 8);
    for (unsigned i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s.h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s.h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s.h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s.h[i];
    }
}

/* ------------------------------------------------------------------ byte helpers */

static void put_i64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;

    for (unsigned i = 0; i < 8; i++) {
        p[i] = (uint8_t)(u >> (56 - 8 * i));
    }
}

static int64_t get_i64(const uint8_t *p)
{
    uint64_t u = 0;

    for (unsigned i = 0; i < 8; i++) {
        u = u << 8 | p[i];
    }
    return (int64_t)u;
}

/* Length of a NUL-terminated string stored in a char array of @p cap; -1 if unterminated. */
static long field_len(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);

    return n == cap ? -1 : (long)n;
}

/* ------------------------------------------------------------------ keys */

int rw_cache_key_encode(const struct rw_cache_key *k, uint8_t out[RW_CACHE_KEY_MAX], size_t *len)
{
    long ul = field_len(k->upstream, sizeof(k->upstream));
    long rl = field_len(k->repo, sizeof(k->repo));
    long dl = field_len(k->digest, sizeof(k->digest));
    size_t plain;
    size_t n = 0;

    if (ul <= 0 || rl <= 0 || dl <= 0) {
        return -EINVAL;
    }
    plain = sizeof(k->policy) + 1 + 1 + (size_t)ul + 1 + (size_t)rl + 1 + (size_t)dl;
    memcpy(out, k->policy, sizeof(k->policy));
    n = sizeof(k->policy);
    if (plain <= RW_CACHE_KEY_MAX) {
        out[n++] = RW_CACHE_KEY_PLAIN;
        out[n++] = (uint8_t)ul;
        memcpy(out + n, k->upstream, (size_t)ul);
        n += (size_t)ul;
        out[n++] = (uint8_t)rl;
        memcpy(out + n, k->repo, (size_t)rl);
        n += (size_t)rl;
    } else {
        /* Hash exactly the bytes the plain form would hold, so the mapping stays injective
         * up to sha256 collisions; the digest stays in clear for purge by digest. */
        uint8_t var[1 + RW_MAX_NAME_LEN + 1 + RW_MAX_REPO_LEN];
        size_t vn = 0;

        var[vn++] = (uint8_t)ul;
        memcpy(var + vn, k->upstream, (size_t)ul);
        vn += (size_t)ul;
        var[vn++] = (uint8_t)rl;
        memcpy(var + vn, k->repo, (size_t)rl);
        vn += (size_t)rl;
        out[n++] = RW_CACHE_KEY_HASHED;
        rw_cache_sha256(var, vn, out + n);
        n += 32;
    }
    out[n++] = (uint8_t)dl;
    memcpy(out + n, k->digest, (size_t)dl);
    n += (size_t)dl;
    *len = n;
    return 0;
}

int rw_cache_key_digest(const uint8_t *key, size_t klen, const uint8_t **digest, size_t *dlen)
{
    size_t i = 32;

    if (klen < i + 1) {
        return RW_ECACHECORRUPT;
    }
    if (key[i] == RW_CACHE_KEY_PLAIN) {
        i++;
        for (int f = 0; f < 2; f++) {
            if (i >= klen) {
                return RW_ECACHECORRUPT;
            }
            i += 1u + key[i];
        }
    } else if (key[i] == RW_CACHE_KEY_HASHED) {
        i += 1 + 32;
    } else {
        return RW_ECACHECORRUPT;
    }
    if (i >= klen || key[i] == 0 || i + 1 + key[i] != klen) {
        return RW_ECACHECORRUPT;
    }
    *digest = key + i + 1;
    *dlen = key[i];
    return 0;
}

/* ------------------------------------------------------------------ records */

/*
 * Verdict record, version 2 (integers big-endian):
 *   u8 version | u8 allow | u8 reason | i64 time | i64 expires | u8 n, key_id[n] | u16 n, detail[n]
 *   | u8 count, count x (u8 n, evidence digest[n])
 * A version 1 record (no evidence list) does not decode: it is re-evaluated, never trusted.
 */
#define REC_FIXED (1u + 1u + 1u + 8u + 8u)

static bool has_nul(const uint8_t *p, size_t n)
{
    return memchr(p, '\0', n) != NULL;
}

int rw_cache_record_encode(const struct rw_verdict *v, uint8_t out[RW_CACHE_RECORD_MAX],
                           size_t *len)
{
    long kl = field_len(v->key_id, sizeof(v->key_id));
    long dl = field_len(v->detail, sizeof(v->detail));
    size_t n = 0;

    if (kl < 0 || dl < 0 || v->expires <= 0 || (unsigned)v->reason >= RW_REASON_COUNT ||
        v->allow != (v->reason == RW_REASON_NONE) || v->n_evidence > RW_MAX_EVIDENCE) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < v->n_evidence; i++) {
        if (field_len(v->evidence[i], sizeof(v->evidence[i])) <= 0) {
            return -EINVAL;
        }
    }
    out[n++] = RW_CACHE_VERDICT_VERSION;
    out[n++] = v->allow ? 1 : 0;
    out[n++] = (uint8_t)v->reason;
    put_i64(out + n, v->time);
    n += 8;
    put_i64(out + n, v->expires);
    n += 8;
    out[n++] = (uint8_t)kl;
    memcpy(out + n, v->key_id, (size_t)kl);
    n += (size_t)kl;
    out[n++] = (uint8_t)((unsigned)dl >> 8);
    out[n++] = (uint8_t)dl;
    memcpy(out + n, v->detail, (size_t)dl);
    n += (size_t)dl;
    out[n++] = (uint8_t)v->n_evidence;
    for (unsigned i = 0; i < v->n_evidence; i++) {
        size_t el = strlen(v->evidence[i]);

        out[n++] = (uint8_t)el;
        memcpy(out + n, v->evidence[i], el);
        n += el;
    }
    *len = n;
    return 0;
}

int rw_cache_record_decode(const uint8_t *p, size_t n, struct rw_verdict *out)
{
    struct rw_verdict v;
    size_t i = 0;
    size_t kl;
    size_t dl;

    memset(&v, 0, sizeof(v));
    if (n < REC_FIXED + 1 + 2 + 1 || p[0] != RW_CACHE_VERDICT_VERSION || p[1] > 1 ||
        p[2] >= RW_REASON_COUNT) {
        return RW_ECACHECORRUPT;
    }
    v.allow = p[1] == 1;
    v.reason = (enum rw_reason)p[2];
    if (v.allow != (v.reason == RW_REASON_NONE)) {
        return RW_ECACHECORRUPT;
    }
    v.time = get_i64(p + 3);
    v.expires = get_i64(p + 11);
    if (v.expires <= 0) {
        return RW_ECACHECORRUPT;
    }
    i = REC_FIXED;
    kl = p[i++];
    if (kl >= sizeof(v.key_id) || n - i < kl + 2 || has_nul(p + i, kl)) {
        return RW_ECACHECORRUPT;
    }
    memcpy(v.key_id, p + i, kl);
    i += kl;
    dl = (size_t)p[i] << 8 | p[i + 1];
    i += 2;
    if (dl >= sizeof(v.detail) || n - i < dl + 1 || has_nul(p + i, dl)) {
        return RW_ECACHECORRUPT;
    }
    memcpy(v.detail, p + i, dl);
    i += dl;
    v.n_evidence = p[i++];
    if (v.n_evidence > RW_MAX_EVIDENCE) {
        return RW_ECACHECORRUPT;
    }
    for (unsigned k = 0; k < v.n_evidence; k++) {
        size_t el;

        if (i >= n) {
            return RW_ECACHECORRUPT;
        }
        el = p[i++];
        if (el == 0 || el >= sizeof(v.evidence[k]) || n - i < el || has_nul(p + i, el)) {
            return RW_ECACHECORRUPT;
        }
        memcpy(v.evidence[k], p + i, el);
        i += el;
    }
    if (i != n) {
        return RW_ECACHECORRUPT;
    }
    *out = v;
    return 0;
}

/* Link record, version 1: u8 version | i64 expires | u8 n, parent digest[n] */
int rw_cache_link_encode(const char *parent_digest, int64_t expires,
                         uint8_t out[RW_CACHE_LINK_MAX], size_t *len)
{
    size_t pl = parent_digest != NULL ? strnlen(parent_digest, RW_MAX_DIGEST_LEN + 1) : 0;

    if (pl == 0 || pl > RW_MAX_DIGEST_LEN || expires <= 0) {
        return -EINVAL;
    }
    out[0] = RW_CACHE_RECORD_VERSION;
    put_i64(out + 1, expires);
    out[9] = (uint8_t)pl;
    memcpy(out + 10, parent_digest, pl);
    *len = 10 + pl;
    return 0;
}

int rw_cache_link_decode(const uint8_t *p, size_t n, char parent_out[RW_MAX_DIGEST_LEN + 1],
                         int64_t *expires)
{
    int64_t e;
    size_t pl;

    if (n < 11 || p[0] != RW_CACHE_RECORD_VERSION) {
        return RW_ECACHECORRUPT;
    }
    e = get_i64(p + 1);
    pl = p[9];
    if (e <= 0 || pl == 0 || pl > RW_MAX_DIGEST_LEN || n != 10 + pl || has_nul(p + 10, pl)) {
        return RW_ECACHECORRUPT;
    }
    memcpy(parent_out, p + 10, pl);
    parent_out[pl] = '\0';
    *expires = e;
    return 0;
}

/* ------------------------------------------------------------------ public API */

int rw_cache_verdict_get(struct rw_cache *c, const struct rw_cache_key *k, int64_t now,
                         struct rw_verdict *out)
{
    struct rw_cache_txn *txn = NULL;
    uint8_t key[RW_CACHE_KEY_MAX];
    const uint8_t *val = NULL;
    struct rw_verdict v;
    size_t klen = 0;
    size_t vlen = 0;
    int rc;

    rc = rw_cache_key_encode(k, key, &klen);
    if (rc != 0) {
        goto out;
    }
    rc = rw_cache_txn_begin(c, RW_CACHE_TXN_RO, &txn);
    if (rc != 0) {
        goto out;
    }
    rc = rw_cache_txn_get(txn, RW_CACHE_DB_VERDICTS, key, klen, &val, &vlen);
    if (rc != 0) {
        goto out;
    }
    /* Decode while the read txn pins the page: val points into the map. */
    rc = rw_cache_record_decode(val, vlen, &v);
    if (rc != 0) {
        goto out;
    }
    if (now >= v.expires) {
        rc = -ENOENT;
        goto out;
    }
    *out = v;
out:
    rw_cache_txn_abort(&txn);
    return rc;
}

/* One record into @p db in its own write transaction. */
static int put_one(struct rw_cache *c, enum rw_cache_db db, const uint8_t *key, size_t klen,
                   const uint8_t *rec, size_t reclen)
{
    struct rw_cache_txn *txn = NULL;
    int rc;

    rc = rw_cache_txn_begin(c, RW_CACHE_TXN_RW, &txn);
    if (rc == 0) {
        rc = rw_cache_txn_put(txn, db, key, klen, rec, reclen);
    }
    if (rc == 0) {
        rc = rw_cache_txn_commit(&txn);
    }
    rw_cache_txn_abort(&txn);
    return rc;
}

int rw_cache_verdict_put(struct rw_cache *c, const struct rw_cache_key *k,
                         const struct rw_verdict *v)
{
    uint8_t key[RW_CACHE_KEY_MAX];
    uint8_t rec[RW_CACHE_RECORD_MAX];
    size_t klen = 0;
    size_t reclen = 0;
    int rc;

    rc = rw_cache_key_encode(k, key, &klen);
    if (rc == 0) {
        rc = rw_cache_record_encode(v, rec, &reclen);
    }
    if (rc == 0) {
        rc = put_one(c, RW_CACHE_DB_VERDICTS, key, klen, rec, reclen);
    }
    return rc;
}

int rw_cache_link_put(struct rw_cache *c, const struct rw_cache_key *child,
                      const char *parent_digest, int64_t expires)
{
    uint8_t key[RW_CACHE_KEY_MAX];
    uint8_t rec[RW_CACHE_LINK_MAX];
    size_t klen = 0;
    size_t reclen = 0;
    int rc;

    rc = rw_cache_key_encode(child, key, &klen);
    if (rc == 0) {
        rc = rw_cache_link_encode(parent_digest, expires, rec, &reclen);
    }
    if (rc == 0) {
        rc = put_one(c, RW_CACHE_DB_LINKS, key, klen, rec, reclen);
    }
    return rc;
}

int rw_cache_link_record_get(struct rw_cache *c, enum rw_cache_db db, const struct rw_cache_key *k,
                             int64_t now, char parent_out[RW_MAX_DIGEST_LEN + 1])
{
    struct rw_cache_txn *txn = NULL;
    uint8_t key[RW_CACHE_KEY_MAX];
    char parent[RW_MAX_DIGEST_LEN + 1];
    const uint8_t *val = NULL;
    int64_t expires = 0;
    size_t klen = 0;
    size_t vlen = 0;
    int rc;

    rc = rw_cache_key_encode(k, key, &klen);
    if (rc != 0) {
        goto out;
    }
    rc = rw_cache_txn_begin(c, RW_CACHE_TXN_RO, &txn);
    if (rc != 0) {
        goto out;
    }
    rc = rw_cache_txn_get(txn, db, key, klen, &val, &vlen);
    if (rc == 0) {
        rc = rw_cache_link_decode(val, vlen, parent, &expires);
    }
    if (rc != 0) {
        goto out;
    }
    if (now >= expires) {
        rc = -ENOENT;
        goto out;
    }
    memcpy(parent_out, parent, sizeof(parent));
out:
    rw_cache_txn_abort(&txn);
    return rc;
}

int rw_cache_link_get(struct rw_cache *c, const struct rw_cache_key *child, int64_t now,
                      char parent_out[RW_MAX_DIGEST_LEN + 1])
{
    return rw_cache_link_record_get(c, RW_CACHE_DB_LINKS, child, now, parent_out);
}

struct sweep_ctx {
    enum rw_cache_db db; /* the database being walked, set by walk_all() */
    int64_t now;
    const char *digest; /* borrowed: purge target, NULL for a sweep */
    size_t dlen;
    uint64_t removed;
};

static bool expired_or_bad(enum rw_cache_db db, const uint8_t *val, size_t vlen, int64_t now)
{
    if (db == RW_CACHE_DB_VERDICTS) {
        struct rw_verdict v;

        return rw_cache_record_decode(val, vlen, &v) != 0 || now >= v.expires;
    } else if (db == RW_CACHE_DB_MANIFESTS) {
        int64_t expires = 0;

        return rw_cache_manifest_expires(val, vlen, &expires) != 0 || now >= expires;
    } else {
        char parent[RW_MAX_DIGEST_LEN + 1];
        int64_t expires = 0;

        return rw_cache_link_decode(val, vlen, parent, &expires) != 0 || now >= expires;
    }
}

static int on_sweep(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                    bool *del)
{
    struct sweep_ctx *s = arg;

    (void)key;
    (void)klen;
    *del = expired_or_bad(s->db, val, vlen, s->now);
    s->removed += *del ? 1 : 0;
    return 0;
}

/* Visit every database in the order sweep and purge have always used; blob records share the
 * link format, so the callbacks read s->db to know which record they hold. */
static int walk_all(struct rw_cache_txn *txn, rw_cache_walk_cb *cb, struct sweep_ctx *s)
{
    static const enum rw_cache_db dbs[] = {RW_CACHE_DB_VERDICTS, RW_CACHE_DB_LINKS,
                                           RW_CACHE_DB_BLOBS, RW_CACHE_DB_MANIFESTS};
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < sizeof(dbs) / sizeof(dbs[0]); i++) {
        s->db = dbs[i];
        rc = rw_cache_txn_walk(txn, dbs[i], cb, s);
    }
    return rc;
}

int rw_cache_sweep(struct rw_cache *c, int64_t now, uint64_t *n_removed)
{
    struct rw_cache_txn *txn = NULL;
    struct sweep_ctx s = {
        .db = RW_CACHE_DB_VERDICTS, .now = now, .digest = NULL, .dlen = 0, .removed = 0};
    int rc;

    rc = rw_cache_txn_begin(c, RW_CACHE_TXN_RW, &txn);
    if (rc != 0) {
        goto out;
    }
    rc = walk_all(txn, on_sweep, &s);
    if (rc == 0) {
        rc = rw_cache_txn_commit(&txn);
    }
    if (rc == 0 && n_removed != NULL) {
        *n_removed = s.removed;
    }
out:
    rw_cache_txn_abort(&txn);
    return rc;
}

static bool key_has_digest(const struct sweep_ctx *s, const uint8_t *key, size_t klen)
{
    const uint8_t *d = NULL;
    size_t dl = 0;

    /* A key that does not parse cannot be matched to a digest: leave it to the sweep. */
    if (rw_cache_key_digest(key, klen, &d, &dl) != 0) {
        return false;
    }
    return dl == s->dlen && memcmp(d, s->digest, dl) == 0;
}

/* A record goes when its key names the purged digest. A link or blob record also goes when its
 * parent is that digest (the index or manifest was purged, so what it let through loses the allow
 * it inherited). */
static int on_purge(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                    bool *del)
{
    struct sweep_ctx *s = arg;
    char parent[RW_MAX_DIGEST_LEN + 1];
    int64_t expires = 0;

    *del = key_has_digest(s, key, klen);
    if (!*del && (s->db == RW_CACHE_DB_LINKS || s->db == RW_CACHE_DB_BLOBS) &&
        rw_cache_link_decode(val, vlen, parent, &expires) == 0) {
        *del = strlen(parent) == s->dlen && memcmp(parent, s->digest, s->dlen) == 0;
    }
    s->removed += *del ? 1 : 0;
    return 0;
}

int rw_cache_purge(struct rw_cache *c, const char *digest, uint64_t *n_removed)
{
    struct rw_cache_txn *txn = NULL;
    struct sweep_ctx s = {
        .db = RW_CACHE_DB_VERDICTS, .now = 0, .digest = digest, .dlen = 0, .removed = 0};
    int rc;

    rc = rw_cache_txn_begin(c, RW_CACHE_TXN_RW, &txn);
    if (rc != 0) {
        goto out;
    }
    if (digest == NULL) {
        uint64_t nv = 0;
        uint64_t nl = 0;

        uint64_t nb = 0;
        uint64_t nm = 0;

        rc = rw_cache_txn_drop(txn, RW_CACHE_DB_VERDICTS, &nv);
        if (rc == 0) {
            rc = rw_cache_txn_drop(txn, RW_CACHE_DB_LINKS, &nl);
        }
        if (rc == 0) {
            rc = rw_cache_txn_drop(txn, RW_CACHE_DB_BLOBS, &nb);
        }
        if (rc == 0) {
            rc = rw_cache_txn_drop(txn, RW_CACHE_DB_MANIFESTS, &nm);
        }
        s.removed = nv + nl + nb + nm;
    } else {
        s.dlen = strlen(digest);
        rc = walk_all(txn, on_purge, &s);
    }
    if (rc == 0) {
        rc = rw_cache_txn_commit(&txn);
    }
    if (rc == 0 && n_removed != NULL) {
        *n_removed = s.removed;
    }
out:
    rw_cache_txn_abort(&txn);
    return rc;
}
