/* SPDX-License-Identifier: MIT */
/*
 * Private to cache/: the byte formats of keys, verdict records and link records (cache/README.md),
 * shared by verdict.c, its white-box tests and the cache_record fuzz target.
 */
#ifndef RW_CACHE_VERDICT_H
#define RW_CACHE_VERDICT_H

#include <stddef.h>
#include <stdint.h>

#include "rw/cache.h"
#include "rw/verdict-t.h"

#include "store.h"

#define RW_CACHE_RECORD_VERSION 1u  /* link and manifest records */
#define RW_CACHE_VERDICT_VERSION 2u /* verdict records: v1 + the evidence list */
#define RW_CACHE_RECORD_MAX     2048u /* largest encoded verdict record (actual max 1821) */
#define RW_CACHE_LINK_MAX       160u /* largest encoded link record (actual max 145) */
#define RW_CACHE_KEY_PLAIN      1u   /* key form: upstream and repo in clear */
#define RW_CACHE_KEY_HASHED     2u   /* key form: sha256 of the length-prefixed upstream and repo */

/**
 * Encode @p k: policy[32] | form | (u8 len, upstream, u8 len, repo) or sha256 of that | u8 len,
 * digest. The hashed form is chosen only when the plain one would exceed RW_CACHE_KEY_MAX, so a
 * given key always has one encoding.
 * @return 0; -EINVAL (an empty or unterminated field).
 */
int rw_cache_key_encode(const struct rw_cache_key *k, uint8_t out[RW_CACHE_KEY_MAX],
                        size_t *len);
/**
 * Find the digest inside an encoded key.
 * @return 0 with *digest pointing into @p key; RW_ECACHECORRUPT when the key does not parse.
 */
int rw_cache_key_digest(const uint8_t *key, size_t klen, const uint8_t **digest, size_t *dlen);
/** @return 0; -EINVAL (allow/reason disagree, unterminated strings, expires <= 0). */
int rw_cache_record_encode(const struct rw_verdict *v, uint8_t out[RW_CACHE_RECORD_MAX],
                           size_t *len);
/** @return 0; RW_ECACHECORRUPT (anything but an exact, well-formed version-1 record). */
int rw_cache_record_decode(const uint8_t *p, size_t n, struct rw_verdict *out);
/** @return 0; -EINVAL. */
int rw_cache_link_encode(const char *parent_digest, int64_t expires,
                         uint8_t out[RW_CACHE_LINK_MAX], size_t *len);
/** @return 0; RW_ECACHECORRUPT. */
int rw_cache_link_decode(const uint8_t *p, size_t n, char parent_out[RW_MAX_DIGEST_LEN + 1],
                         int64_t *expires);
/**
 * Read the link-format record for @p k from @p db (RW_CACHE_DB_LINKS or RW_CACHE_DB_BLOBS).
 * @param[out] parent_out  the parent digest on success, untouched otherwise
 * @return 0; -ENOENT if absent or expired at @p now; -EINVAL (bad key); RW_ECACHECORRUPT; store
 * errors. Ownership: @p parent_out is a copy. Thread: any; uses its own read transaction.
 */
int rw_cache_link_record_get(struct rw_cache *c, enum rw_cache_db db, const struct rw_cache_key *k,
                             int64_t now, char parent_out[RW_MAX_DIGEST_LEN + 1]);
/** Expiry of an encoded manifest record (manifest.c). @return 0; RW_ECACHECORRUPT. */
int rw_cache_manifest_expires(const uint8_t *p, size_t n, int64_t *expires);
/** SHA-256 of @p n bytes (FIPS 180-4), for over-long keys only; not for anything secret. */
void rw_cache_sha256(const void *p, size_t n, uint8_t out[32]);

#endif
