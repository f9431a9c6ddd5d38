/* SPDX-License-Identifier: MIT */
/*
 * Manifest bytes and blob references of allowed manifests (cache/README.md):
 * - blobs: key (policy, upstream, repo, blob digest) -> link record naming the allowed manifest
 *   that references the blob, so blob gating is one read;
 * - manifests: key (zero policy, upstream, repo, manifest digest) -> the exact bytes served and
 *   their Content-Type, so a by-digest pull of a verified manifest needs no upstream round trip.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rw/cache.h"
#include "rw/err.h"
#include "rw/mem.h"
#include "verdict.h"

/* Manifest record, version 1: u8 version | i64 expires | u8 flags (bit 0: anonymous) |
 * u8 n, content type[n] | body */
#define MANIFEST_HDR 11u

static void put_i64(uint8_t *p, int64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static int64_t get_i64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return (int64_t)v;
}

int rw_cache_manifest_expires(const uint8_t *p, size_t n, int64_t *expires)
{
    if (n < MANIFEST_HDR || p[0] != RW_CACHE_RECORD_VERSION || n < MANIFEST_HDR + p[10]) {
        return RW_ECACHECORRUPT;
    }
    *expires = get_i64(p + 1);
    return *expires > 0 ? 0 : RW_ECACHECORRUPT;
}

int rw_cache_blobs_put(struct rw_cache *c, const struct rw_cache_key *base,
                       const char (*blobs)[72], size_t n, const char *manifest_digest,
                       int64_t expires)
{
    struct rw_cache_txn *txn = NULL;
    uint8_t rec[RW_CACHE_LINK_MAX];
    size_t reclen = 0;
    int rc;

    rc = rw_cache_link_encode(manifest_digest, expires, rec, &reclen);
    if (rc == 0) {
        rc = rw_cache_txn_begin(c, RW_CACHE_TXN_RW, &txn);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct rw_cache_key k = *base;
        uint8_t key[RW_CACHE_KEY_MAX];
        size_t klen = 0;

        snprintf(k.digest, sizeof(k.digest), "%s", blobs[i]);
        rc = rw_cache_key_encode(&k, key, &klen);
        if (rc == 0) {
            rc = rw_cache_txn_put(txn, RW_CACHE_DB_BLOBS, key, klen, rec, reclen);
        }
    }
    if (rc == 0) {
        rc = rw_cache_txn_commit(&txn);
    }
    rw_cache_txn_abort(&txn);
    return rc;
}

int rw_cache_blob_get(struct rw_cache *c, const struct rw_cache_key *k, int64_t now,
                      char manifest_out[RW_MAX_DIGEST_LEN + 1])
{
    /* blob records share the link format */
    return rw_cache_link_record_get(c, RW_CACHE_DB_BLOBS, k, now, manifest_out);
}

static void manifest_key(const struct rw_cache_key *k, struct rw_cache_key *out)
{
    *out = *k;
    memset(out->policy, 0, sizeof(out->policy)); /* bytes do not depend on the policy */
}

int rw_cache_manifest_put(struct rw_cache *c, const struct rw_cache_key *k,
                          const char *content_type, bool anonymous, const uint8_t *body,
                          size_t len, int64_t expires)
{
    struct rw_cache_txn *txn = NULL;
    struct rw_cache_key mk;
    uint8_t key[RW_CACHE_KEY_MAX];
    size_t klen = 0;
    size_t ctl = strnlen(content_type, 256);
    uint8_t *rec = NULL;
    int rc;

    if (ctl == 0 || ctl > 255 || expires <= 0 || len > RW_MAX_MANIFEST_BYTES) {
        return -EINVAL;
    }
    manifest_key(k, &mk);
    rc = rw_cache_key_encode(&mk, key, &klen);
    if (rc != 0) {
        return rc;
    }
    rec = rw_malloc(MANIFEST_HDR + ctl + len);
    if (rec == NULL) {
        return -ENOMEM;
    }
    rec[0] = RW_CACHE_RECORD_VERSION;
    put_i64(rec + 1, expires);
    rec[9] = anonymous ? 1 : 0;
    rec[10] = (uint8_t)ctl;
    memcpy(rec + MANIFEST_HDR, content_type, ctl);
    if (len > 0) {
        memcpy(rec + MANIFEST_HDR + ctl, body, len);
    }
    rc = rw_cache_txn_begin(c, RW_CACHE_TXN_RW, &txn);
    if (rc == 0) {
        rc = rw_cache_txn_put(txn, RW_CACHE_DB_MANIFESTS, key, klen, rec, MANIFEST_HDR + ctl + len);
    }
    if (rc == 0) {
        rc = rw_cache_txn_commit(&txn);
    }
    rw_cache_txn_abort(&txn);
    rw_free(rec);
    return rc;
}

int rw_cache_manifest_get(struct rw_cache *c, const struct rw_cache_key *k, int64_t now,
                          char content_type[256], bool *anonymous, uint8_t **body, size_t *len)
{
    struct rw_cache_txn *txn = NULL;
    struct rw_cache_key mk;
    uint8_t key[RW_CACHE_KEY_MAX];
    const uint8_t *val = NULL;
    size_t klen = 0;
    size_t vlen = 0;
    int64_t expires = 0;
    int rc;

    manifest_key(k, &mk);
    rc = rw_cache_key_encode(&mk, key, &klen);
    if (rc == 0) {
        rc = rw_cache_txn_begin(c, RW_CACHE_TXN_RO, &txn);
    }
    if (rc == 0) {
        rc = rw_cache_txn_get(txn, RW_CACHE_DB_MANIFESTS, key, klen, &val, &vlen);
    }
    if (rc == 0) {
        rc = rw_cache_manifest_expires(val, vlen, &expires);
    }
    if (rc == 0 && now >= expires) {
        rc = -ENOENT;
    }
    if (rc == 0) {
        size_t ctl = val[10];
        size_t blen = vlen - MANIFEST_HDR - ctl;
        uint8_t *copy = rw_malloc(blen > 0 ? blen : 1);

        if (copy == NULL) {
            rc = -ENOMEM;
        } else {
            memcpy(content_type, val + MANIFEST_HDR, ctl);
            content_type[ctl] = '\0';
            memcpy(copy, val + MANIFEST_HDR + ctl, blen);
            *anonymous = (val[9] & 1) != 0;
            *body = copy;
            *len = blen;
        }
    }
    rw_cache_txn_abort(&txn);
    return rc;
}
