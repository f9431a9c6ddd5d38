/* SPDX-License-Identifier: MIT */
/*
 * The only file of regwarden that touches LMDB (R5): it opens the one env that every worker
 * thread shares, wraps transactions, walks and drops the two named databases, and converts LMDB
 * return codes to ours once (lmdb_err()). It knows nothing about what keys and records mean;
 * cache/verdict.c does. Durability: MDB_NOSYNC | MDB_NOMETASYNC, flushed by rw_cache_sync().
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "rw/cache.h"
#include "rw/err.h"
#include "rw/log.h"
#include "rw/mem.h"

#include "store.h"

/* Concurrent read transactions: one per worker thread in flight, with a wide margin. */
#define CACHE_MAX_READERS 512u
#define CACHE_PAGE        4096u

static const char *const db_names[RW_CACHE_DB_COUNT] = {"verdicts", "links", "blobs",
                                                          "manifests"};

struct rw_cache {
    MDB_env *env; /* owned */
    MDB_dbi dbi[RW_CACHE_DB_COUNT];
};

struct rw_cache_txn {
    struct rw_cache *c; /* borrowed: the handle outlives every transaction */
    MDB_txn *txn;       /* owned */
};

/* LMDB codes to ours, in one place. LMDB returns either its own band or a positive errno. */
static int lmdb_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_NOTFOUND:
        return -ENOENT;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL:
    case MDB_PAGE_FULL:
        return RW_ECACHEFULL;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
        return RW_ECACHECORRUPT;
    case MDB_MAP_RESIZED:
    case MDB_READERS_FULL:
        return -EAGAIN;
    case MDB_BAD_VALSIZE:
    case MDB_KEYEXIST:
        return RW_ETOOBIG;
    default:
        break;
    }
    if (rc > 0) {
        return -rc;
    }
    return RW_EINTERNAL;
}

int rw_cache_open(const char *path, uint64_t map_size, struct rw_cache **out)
{
    struct rw_cache *c = NULL;
    MDB_txn *txn = NULL;
    int dead = 0;
    int rc;

    if (path == NULL || out == NULL) {
        return -EINVAL;
    }
    if (map_size == 0) {
        map_size = RW_CACHE_MAP_SIZE_DEFAULT;
    }
    map_size = (map_size + CACHE_PAGE - 1) / CACHE_PAGE * CACHE_PAGE;
    if (mkdir(path, 0750) != 0 && errno != EEXIST) {
        rc = -errno;
        rw_log_err(CACHE, "cannot create cache directory %s: %s", path, rw_strerror(rc));
        goto out;
    }
    c = rw_calloc(1, sizeof(*c));
    if (c == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = lmdb_err(mdb_env_create(&c->env));
    if (rc != 0) {
        goto out;
    }
    rc = lmdb_err(mdb_env_set_maxdbs(c->env, RW_CACHE_DB_COUNT));
    if (rc == 0) {
        rc = lmdb_err(mdb_env_set_maxreaders(c->env, CACHE_MAX_READERS));
    }
    if (rc == 0) {
        rc = lmdb_err(mdb_env_set_mapsize(c->env, (size_t)map_size));
    }
    if (rc != 0) {
        goto out;
    }
    /* NOTLS: read transactions are not tied to a thread, so any worker may run any read.
     * NOSYNC|NOMETASYNC: a crash may lose the last verdicts, never corrupt the map. */
    rc = lmdb_err(
        mdb_env_open(c->env, path, MDB_NOTLS | MDB_NOSYNC | MDB_NOMETASYNC, 0640));
    if (rc != 0) {
        rw_log_err(CACHE, "cannot open cache %s: %s", path, rw_strerror(rc));
        goto out;
    }
    /* Slots left by a crashed process would pin old pages forever. */
    (void)mdb_reader_check(c->env, &dead);
    rc = lmdb_err(mdb_txn_begin(c->env, NULL, 0, &txn));
    if (rc != 0) {
        goto out;
    }
    for (int i = 0; i < RW_CACHE_DB_COUNT; i++) {
        rc = lmdb_err(mdb_dbi_open(txn, db_names[i], MDB_CREATE, &c->dbi[i]));
        if (rc != 0) {
            goto out;
        }
    }
    rc = lmdb_err(mdb_txn_commit(txn));
    txn = NULL;
    if (rc != 0) {
        goto out;
    }
    *out = c;
    c = NULL;
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    rw_cache_close(&c);
    return rc;
}

void rw_cache_close(struct rw_cache **pc)
{
    struct rw_cache *c = pc != NULL ? *pc : NULL;

    if (c == NULL) {
        return;
    }
    if (c->env != NULL) {
        /* NOSYNC: flush what the last commits left in the page cache before letting go. */
        (void)mdb_env_sync(c->env, 1);
        mdb_env_close(c->env);
    }
    rw_free_clear(pc);
}

int rw_cache_sync(struct rw_cache *c)
{
    return lmdb_err(mdb_env_sync(c->env, 1));
}

int rw_cache_stats_get(struct rw_cache *c, struct rw_cache_stats *out)
{
    MDB_txn *txn = NULL;
    MDB_envinfo info;
    MDB_stat st;
    struct rw_cache_stats s;
    int rc;

    memset(&s, 0, sizeof(s));
    rc = lmdb_err(mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn));
    if (rc != 0) {
        goto out;
    }
    rc = lmdb_err(mdb_stat(txn, c->dbi[RW_CACHE_DB_VERDICTS], &st));
    if (rc != 0) {
        goto out;
    }
    s.verdicts = st.ms_entries;
    rc = lmdb_err(mdb_stat(txn, c->dbi[RW_CACHE_DB_LINKS], &st));
    if (rc != 0) {
        goto out;
    }
    s.links = st.ms_entries;
    rc = lmdb_err(mdb_env_info(c->env, &info));
    if (rc == 0) {
        rc = lmdb_err(mdb_env_stat(c->env, &st));
    }
    if (rc != 0) {
        goto out;
    }
    s.map_size = info.me_mapsize;
    s.used_bytes = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    *out = s;
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return rc;
}

int rw_cache_txn_begin(struct rw_cache *c, enum rw_cache_txn_mode mode, struct rw_cache_txn **out)
{
    struct rw_cache_txn *t = NULL;
    int rc;

    t = rw_calloc(1, sizeof(*t));
    if (t == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    t->c = c;
    rc = lmdb_err(mdb_txn_begin(c->env, NULL, mode == RW_CACHE_TXN_RO ? MDB_RDONLY : 0, &t->txn));
    if (rc != 0) {
        goto out;
    }
    *out = t;
    t = NULL;
out:
    rw_free(t);
    return rc;
}

int rw_cache_txn_commit(struct rw_cache_txn **pt)
{
    struct rw_cache_txn *t = *pt;
    int rc;

    rc = lmdb_err(mdb_txn_commit(t->txn));
    rw_free_clear(pt);
    return rc;
}

void rw_cache_txn_abort(struct rw_cache_txn **pt)
{
    if (*pt == NULL) {
        return;
    }
    mdb_txn_abort((*pt)->txn);
    rw_free_clear(pt);
}

int rw_cache_txn_get(struct rw_cache_txn *t, enum rw_cache_db db, const uint8_t *key,
                     size_t klen, const uint8_t **val, size_t *vlen)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
    MDB_val v;
    int rc;

    rc = lmdb_err(mdb_get(t->txn, t->c->dbi[db], &k, &v));
    if (rc == 0) {
        *val = v.mv_data;
        *vlen = v.mv_size;
    }
    return rc;
}

int rw_cache_txn_put(struct rw_cache_txn *t, enum rw_cache_db db, const uint8_t *key,
                     size_t klen, const uint8_t *val, size_t vlen)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
    MDB_val v = {.mv_size = vlen, .mv_data = (void *)val};

    if (klen == 0 || klen > RW_CACHE_KEY_MAX) {
        return RW_ETOOBIG;
    }
    return lmdb_err(mdb_put(t->txn, t->c->dbi[db], &k, &v, 0));
}

int rw_cache_txn_del(struct rw_cache_txn *t, enum rw_cache_db db, const uint8_t *key,
                     size_t klen)
{
    MDB_val k = {.mv_size = klen, .mv_data = (void *)key};

    return lmdb_err(mdb_del(t->txn, t->c->dbi[db], &k, NULL));
}

int rw_cache_txn_walk(struct rw_cache_txn *t, enum rw_cache_db db, rw_cache_walk_cb *cb,
                      void *arg)
{
    MDB_cursor *cur = NULL;
    MDB_val k;
    MDB_val v;
    int rc;

    rc = lmdb_err(mdb_cursor_open(t->txn, t->c->dbi[db], &cur));
    if (rc != 0) {
        goto out;
    }
    rc = lmdb_err(mdb_cursor_get(cur, &k, &v, MDB_FIRST));
    while (rc == 0) {
        bool del = false;

        rc = cb(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size, &del);
        if (rc != 0) {
            goto out;
        }
        if (del) {
            /* After a delete LMDB leaves the cursor flagged so MDB_NEXT yields the successor. */
            rc = lmdb_err(mdb_cursor_del(cur, 0));
            if (rc != 0) {
                goto out;
            }
        }
        rc = lmdb_err(mdb_cursor_get(cur, &k, &v, MDB_NEXT));
    }
    if (rc == -ENOENT) {
        rc = 0;
    }
out:
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    return rc;
}

int rw_cache_txn_count(struct rw_cache_txn *t, enum rw_cache_db db, uint64_t *n)
{
    MDB_stat st;
    int rc;

    rc = lmdb_err(mdb_stat(t->txn, t->c->dbi[db], &st));
    if (rc == 0) {
        *n = st.ms_entries;
    }
    return rc;
}

int rw_cache_txn_drop(struct rw_cache_txn *t, enum rw_cache_db db, uint64_t *n_removed)
{
    uint64_t n = 0;
    int rc;

    rc = rw_cache_txn_count(t, db, &n);
    if (rc == 0) {
        rc = lmdb_err(mdb_drop(t->txn, t->c->dbi[db], 0));
    }
    if (rc == 0) {
        *n_removed = n;
    }
    return rc;
}
