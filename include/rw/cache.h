/* SPDX-License-Identifier: MIT */
/*
 * cache/: verdicts and index->child links in LMDB (one env shared by every worker thread).
 * Key: (policy hash, upstream, repository, digest). The repository is part of the key because the
 * rule that applies and the place signatures are looked up both depend on it.
 */
#ifndef RW_CACHE_H
#define RW_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rw/limits.h"
#include "rw/verdict-t.h"

struct rw_cache;

/* Map size used when rw_cache_open() is given 0 (cache.size_mb unset). */
#define RW_CACHE_MAP_SIZE_DEFAULT (256ull * 1024u * 1024u)

struct rw_cache_key {
    uint8_t policy[32];                    /* rw_config.policy_hash */
    char upstream[RW_MAX_NAME_LEN + 1];
    char repo[RW_MAX_REPO_LEN + 1];
    char digest[RW_MAX_DIGEST_LEN + 1];    /* validated by the caller */
};

struct rw_cache_stats {
    uint64_t verdicts;
    uint64_t links;
    uint64_t map_size;
    uint64_t used_bytes;
};

/**
 * Open (create) the cache directory @p path with map size @p map_size bytes.
 * Durability: MDB_NOSYNC (a crash may lose recent verdicts, never corrupt the map; a lost
 * verdict only costs a re-verification); rw_cache_sync() flushes, called periodically.
 * @return 0; negative errno; RW_ECACHECORRUPT.  Thread: call once; the handle is shared.
 */
int rw_cache_open(const char *path, uint64_t map_size, struct rw_cache **out);
void rw_cache_close(struct rw_cache **pc);
int rw_cache_sync(struct rw_cache *c);

/**
 * @param[in] now  unix seconds; records with expires <= now are reported absent
 * @return 0; -ENOENT (absent or expired); RW_ECACHECORRUPT (bad record: treat as absent).
 * Ownership: @p out is a copy.  Thread: any; own read txn (MDB_NOTLS).
 */
int rw_cache_verdict_get(struct rw_cache *c, const struct rw_cache_key *k, int64_t now,
                         struct rw_verdict *out);
/** Store @p v (v->expires must be > 0). RW_ECACHEFULL when the map is full. Thread: any. */
int rw_cache_verdict_put(struct rw_cache *c, const struct rw_cache_key *k,
                         const struct rw_verdict *v);
/** Record that index @p parent_digest (allowed) lists @p child (key's digest) until @p expires. */
int rw_cache_link_put(struct rw_cache *c, const struct rw_cache_key *child,
                      const char *parent_digest, int64_t expires);
/** @return 0 and the parent digest; -ENOENT absent/expired. */
int rw_cache_link_get(struct rw_cache *c, const struct rw_cache_key *child, int64_t now,
                      char parent_out[RW_MAX_DIGEST_LEN + 1]);
/**
 * Blob gating: record that allowed manifest @p manifest_digest references each of @p blobs in
 * (base->policy, upstream, repo), until @p expires. One write transaction for all of them.
 */
int rw_cache_blobs_put(struct rw_cache *c, const struct rw_cache_key *base,
                       const char (*blobs)[72], size_t n, const char *manifest_digest,
                       int64_t expires);
/** @return 0 and the allowed manifest that references blob k->digest; -ENOENT. */
int rw_cache_blob_get(struct rw_cache *c, const struct rw_cache_key *k, int64_t now,
                      char manifest_out[RW_MAX_DIGEST_LEN + 1]);
/**
 * Keep the exact bytes of an allowed manifest (key's policy is ignored: bytes are content).
 * @p anonymous: the bytes were fetched without a client credential (only such bytes may be
 * served without asking the upstream, see route_pull.c).
 */
int rw_cache_manifest_put(struct rw_cache *c, const struct rw_cache_key *k,
                          const char *content_type, bool anonymous, const uint8_t *body,
                          size_t len, int64_t expires);
/** @return 0 with a heap copy in *body (rw_free); -ENOENT. */
int rw_cache_manifest_get(struct rw_cache *c, const struct rw_cache_key *k, int64_t now,
                          char content_type[256], bool *anonymous, uint8_t **body, size_t *len);
/** Delete records expired at @p now; *n_removed counts them. */
int rw_cache_sweep(struct rw_cache *c, int64_t now, uint64_t *n_removed);
/** Delete every record (digest == NULL) or those for one digest. */
int rw_cache_purge(struct rw_cache *c, const char *digest, uint64_t *n_removed);
int rw_cache_stats_get(struct rw_cache *c, struct rw_cache_stats *out);

#endif
