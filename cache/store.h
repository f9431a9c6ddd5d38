/* SPDX-License-Identifier: MIT */
/*
 * Private to cache/: the transaction wrapper that store.c offers verdict.c. Nothing outside
 * cache/ (and its white-box tests) includes this header; LMDB types never leave store.c (R5).
 */
#ifndef RW_CACHE_STORE_H
#define RW_CACHE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rw_cache;
struct rw_cache_txn;

enum rw_cache_db {
    RW_CACHE_DB_VERDICTS = 0,
    RW_CACHE_DB_LINKS,     /* index -> child manifest */
    RW_CACHE_DB_BLOBS,     /* allowed manifest -> blob it references (blob gating) */
    RW_CACHE_DB_MANIFESTS, /* manifest bytes of allowed manifests, by digest */
    RW_CACHE_DB_COUNT
};
enum rw_cache_txn_mode { RW_CACHE_TXN_RO = 0, RW_CACHE_TXN_RW };

/* Largest key LMDB accepts with its default build (mdb_env_get_maxkeysize()). */
#define RW_CACHE_KEY_MAX 511u

/**
 * Visit one record during rw_cache_txn_walk().
 * @param[out] del  set true to delete the record under the cursor
 * @return 0 to go on; anything else stops the walk and is returned by it.
 * Ownership: @p key and @p val point into the map and die with the transaction.
 */
typedef int rw_cache_walk_cb(void *arg, const uint8_t *key, size_t klen, const uint8_t *val,
                             size_t vlen, bool *del);

/**
 * Begin a transaction on the shared env.
 * @return 0; RW_ECACHEFULL; -EAGAIN (reader table full, map resized by another process);
 *         RW_ECACHECORRUPT; negative errno.
 * Thread: any (MDB_NOTLS); RW transactions are serialised by LMDB's writer lock.
 */
int rw_cache_txn_begin(struct rw_cache *c, enum rw_cache_txn_mode mode,
                       struct rw_cache_txn **out);
/** Commit and free *pt (always consumed, set to NULL). @return 0 or a translated LMDB code. */
int rw_cache_txn_commit(struct rw_cache_txn **pt);
/** Abort and free *pt; no-op on NULL. */
void rw_cache_txn_abort(struct rw_cache_txn **pt);
/**
 * @return 0 with *val and *vlen pointing into the map (valid until the txn ends); -ENOENT.
 */
int rw_cache_txn_get(struct rw_cache_txn *t, enum rw_cache_db db, const uint8_t *key,
                     size_t klen, const uint8_t **val, size_t *vlen);
/** @return 0; RW_ECACHEFULL (the txn must then be aborted); RW_ETOOBIG (key too long). */
int rw_cache_txn_put(struct rw_cache_txn *t, enum rw_cache_db db, const uint8_t *key,
                     size_t klen, const uint8_t *val, size_t vlen);
/** @return 0; -ENOENT. */
int rw_cache_txn_del(struct rw_cache_txn *t, enum rw_cache_db db, const uint8_t *key,
                     size_t klen);
/** Visit every record of @p db in key order (RW txn when the callback may delete). */
int rw_cache_txn_walk(struct rw_cache_txn *t, enum rw_cache_db db, rw_cache_walk_cb *cb,
                      void *arg);
/** Delete every record of @p db; *n_removed is how many there were. */
int rw_cache_txn_drop(struct rw_cache_txn *t, enum rw_cache_db db, uint64_t *n_removed);
/** Number of records in @p db. */
int rw_cache_txn_count(struct rw_cache_txn *t, enum rw_cache_db db, uint64_t *n);

#endif
