/* SPDX-License-Identifier: MIT */
/*
 * The keyring: public key versions learnt at run time (Vault transit keys, PROTOCOLS.md §7.3),
 * per id "<mount>/<key>". Pure data: the identity thread fetches and calls rw_keyring_put, the
 * pull path verifies with rw_keyring_verify on any worker. A rwlock guards it; the writer holds
 * it only to swap arrays (keys are parsed before), readers only for the EVP verify. The
 * fingerprint over every (id, version, SPKI) lets the verdict cache key move when a version
 * appears or disappears (invariant 7; see rw_config_verdict_policy).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rw/buf.h"
#include "rw/err.h"
#include "rw/mem.h"
#include "rw/policy.h"

struct ring_entry {
    char *id;                /* owned */
    struct rw_pubkey **keys; /* owned, each owned */
    int *versions;           /* owned */
    size_t n;
};

struct rw_keyring {
    atomic_int refs;
    pthread_rwlock_t lock;
    struct ring_entry *e; /* owned; sorted by id */
    size_t n;
    uint8_t fp[32];
};

int rw_keyring_new(struct rw_keyring **out)
{
    struct rw_keyring *kr = rw_calloc(1, sizeof(*kr));

    if (kr == NULL) {
        return -ENOMEM;
    }
    atomic_init(&kr->refs, 1);
    pthread_rwlock_init(&kr->lock, NULL);
    *out = kr;
    return 0;
}

struct rw_keyring *rw_keyring_ref(struct rw_keyring *kr)
{
    if (kr != NULL) {
        atomic_fetch_add(&kr->refs, 1);
    }
    return kr;
}

static void entry_fini(struct ring_entry *e)
{
    for (size_t i = 0; i < e->n; i++) {
        rw_pubkey_free(&e->keys[i]);
    }
    rw_free(e->keys);
    rw_free(e->versions);
    rw_free(e->id);
}

void rw_keyring_unref(struct rw_keyring **pkr)
{
    struct rw_keyring *kr = *pkr;

    if (kr == NULL) {
        return;
    }
    *pkr = NULL;
    if (atomic_fetch_sub(&kr->refs, 1) != 1) {
        return;
    }
    for (size_t i = 0; i < kr->n; i++) {
        entry_fini(&kr->e[i]);
    }
    rw_free(kr->e);
    pthread_rwlock_destroy(&kr->lock);
    rw_free(kr);
}

static struct ring_entry *find(struct rw_keyring *kr, const char *id)
{
    for (size_t i = 0; i < kr->n; i++) {
        if (strcmp(kr->e[i].id, id) == 0) {
            return &kr->e[i];
        }
    }
    return NULL;
}

static int put_u32(struct rw_buf *b, size_t v)
{
    uint8_t p[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

    return rw_buf_append(b, p, sizeof(p));
}

/* Under the write lock. Entries are kept sorted by id and versions ascending by the writer. */
static int fingerprint(struct rw_keyring *kr, uint8_t out[32])
{
    struct rw_buf b;
    struct rw_buf spki;
    size_t total = 0;
    int rc = 0;

    for (size_t i = 0; i < kr->n; i++) {
        total += kr->e[i].n;
    }
    if (total == 0) {
        memset(out, 0, 32);
        return 0;
    }
    rw_buf_init(&b, 0);
    rw_buf_init(&spki, 0);
    rc = rw_buf_appends(&b, "regwarden-keyring-v1");
    for (size_t i = 0; rc == 0 && i < kr->n; i++) {
        const struct ring_entry *e = &kr->e[i];

        rc = put_u32(&b, strlen(e->id));
        rc = rc != 0 ? rc : rw_buf_appends(&b, e->id);
        for (size_t k = 0; rc == 0 && k < e->n; k++) {
            rw_buf_reset(&spki);
            rc = put_u32(&b, (size_t)e->versions[k]);
            rc = rc != 0 ? rc : rw_pubkey_spki(e->keys[k], &spki);
            rc = rc != 0 ? rc : put_u32(&b, spki.len);
            rc = rc != 0 ? rc : rw_buf_append(&b, spki.data, spki.len);
        }
    }
    if (rc == 0) {
        rw_sha256(b.data, b.len, out);
    }
    rw_buf_fini(&spki);
    rw_buf_fini(&b);
    return rc;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct ring_entry *)a)->id, ((const struct ring_entry *)b)->id);
}

int rw_keyring_put(struct rw_keyring *kr, const char *id, struct rw_pubkey **keys,
                   const int *versions, size_t n)
{
    struct ring_entry ne = {0};
    struct ring_entry *slot;
    uint8_t fp[32];
    int rc = -ENOMEM;

    ne.id = rw_strdup(id);
    ne.keys = rw_calloc(n > 0 ? n : 1, sizeof(*ne.keys));
    ne.versions = rw_calloc(n > 0 ? n : 1, sizeof(*ne.versions));
    if (ne.id == NULL || ne.keys == NULL || ne.versions == NULL) {
        for (size_t i = 0; i < n; i++) {
            rw_pubkey_free(&keys[i]);
        }
        entry_fini(&ne);
        return -ENOMEM;
    }
    /* insertion sort by version: n is small (versions of one key) */
    for (size_t i = 0; i < n; i++) {
        size_t j = ne.n;

        while (j > 0 && ne.versions[j - 1] > versions[i]) {
            ne.keys[j] = ne.keys[j - 1];
            ne.versions[j] = ne.versions[j - 1];
            j--;
        }
        ne.keys[j] = keys[i];
        ne.versions[j] = versions[i];
        keys[i] = NULL;
        ne.n++;
    }
    pthread_rwlock_wrlock(&kr->lock);
    slot = find(kr, id);
    if (slot == NULL) {
        struct ring_entry *grown = rw_realloc(kr->e, (kr->n + 1) * sizeof(*grown));

        if (grown == NULL) {
            pthread_rwlock_unlock(&kr->lock);
            entry_fini(&ne);
            return -ENOMEM;
        }
        kr->e = grown;
        kr->e[kr->n++] = ne;
        qsort(kr->e, kr->n, sizeof(*kr->e), cmp_entry);
    } else {
        struct ring_entry old = *slot;

        *slot = ne;
        entry_fini(&old);
    }
    rc = fingerprint(kr, fp);
    if (rc == 0) {
        rc = memcmp(fp, kr->fp, sizeof(fp)) != 0 ? 1 : 0;
        memcpy(kr->fp, fp, sizeof(fp));
    } else {
        /* cannot fingerprint: make sure no verdict keyed on the old set survives */
        memset(kr->fp, 0xff, sizeof(kr->fp));
    }
    pthread_rwlock_unlock(&kr->lock);
    return rc;
}

size_t rw_keyring_count(struct rw_keyring *kr, const char *id)
{
    const struct ring_entry *e;
    size_t n;

    if (kr == NULL) {
        return 0;
    }
    pthread_rwlock_rdlock(&kr->lock);
    e = find(kr, id);
    n = e != NULL ? e->n : 0;
    pthread_rwlock_unlock(&kr->lock);
    return n;
}

int rw_keyring_verify(struct rw_keyring *kr, const char *id, const uint8_t *msg, size_t len,
                      const uint8_t *sig, size_t siglen, int *version)
{
    const struct ring_entry *e;
    int rc = -ENOENT;

    if (kr == NULL) {
        return -ENOENT;
    }
    pthread_rwlock_rdlock(&kr->lock);
    e = find(kr, id);
    if (e != NULL && e->n > 0) {
        rc = RW_EBADSIG;
        /* newest first: a fresh signature is most likely by the latest version */
        for (size_t i = e->n; i-- > 0;) {
            int vr = rw_pubkey_verify(e->keys[i], msg, len, sig, siglen);

            if (vr == 0) {
                if (version != NULL) {
                    *version = e->versions[i];
                }
                rc = 0;
                break;
            }
            if (vr == -ENOMEM) {
                rc = vr;
                break;
            }
        }
    }
    pthread_rwlock_unlock(&kr->lock);
    return rc;
}

void rw_keyring_fingerprint(struct rw_keyring *kr, uint8_t out[32])
{
    if (kr == NULL) {
        memset(out, 0, 32);
        return;
    }
    pthread_rwlock_rdlock(&kr->lock);
    memcpy(out, kr->fp, 32);
    pthread_rwlock_unlock(&kr->lock);
}
