/* SPDX-License-Identifier: MIT */
/*
 * Fake fetch ops for policy/eval.c (R23), shared by the eval unit tests: an object store keyed by
 * manifest reference or blob digest, pages of the referrers API, callbacks delivered at once or
 * held until pumped, and a fixture with a config and the two test signers. Test-only: it asserts
 * through cmocka and allocates with libc malloc, never through rw_mem (failmalloc stays on the code
 * under test).
 */
#ifndef RW_TEST_EVALFAKE_H
#define RW_TEST_EVALFAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rw/policy.h"

#define RWT_FAKE_MAX_OBJ   128
#define RWT_FAKE_MAX_PAGES 16
/* The upstream's origin; the evaluation must never follow a referrers Link off it. */
#define RWT_FAKE_ORIGIN "http://h:1"

struct rwt_obj {
    char key[100]; /* manifest reference or blob digest */
    int status;
    struct rw_buf body;
};

struct rwt_page {
    char url[256];
    int status;
    char ctype[96];
    char link[300]; /* "" = none */
    struct rw_buf body;
};

struct rwt_fake_io {
    struct rwt_obj objs[RWT_FAKE_MAX_OBJ];
    size_t n;
    struct rwt_page pages[RWT_FAKE_MAX_PAGES]; /* pages[0] answers the first request */
    size_t n_pages;
    bool no_api;              /* the referrers endpoint answers 404 like distribution 2.8 */
    int att_status_override;  /* non-zero: the .att manifest answers this */
    int blob_status_override; /* non-zero: envelope-sized blob fetches answer this */
    bool deferred;
    /* one pending callback when deferred */
    rw_policy_fetch_cb *pending_cb;
    rw_policy_referrers_cb *pending_rcb;
    void *pending_arg;
    int pending_status;
    struct rwt_page pending_page;
    uint8_t *pending_body; /* owned (test malloc) */
    size_t pending_len;
    int n_fetch;     /* fetch_manifest and fetch_blob calls */
    int n_referrers; /* fetch_referrers calls */
    int n_manifest;
    int n_blob;
    int n_tag; /* fetches of the sha256-<hex> fallback tag */
    bool sig_fetched;
    bool att_fetched;
    char last_next[300];
};

/* Manifests of at most RW_MAX_SIG_MANIFEST_BYTES and blobs; no referrers API. */
extern const struct rw_policy_fetch_ops rwt_fake_ops;
/* The same plus fetch_referrers; manifests may also be referrers pages (the fallback tag). */
extern const struct rw_policy_fetch_ops rwt_fake_ops_referrers;

/** The body of @p key, emptied, answering @p status; a new object if absent. */
struct rw_buf *rwt_fake_put(struct rwt_fake_io *io, const char *key, int status);
/** The body of @p key, or NULL. */
const struct rw_buf *rwt_fake_get(struct rwt_fake_io *io, const char *key);
/** Run the one pending callback; true if there was one. */
bool rwt_fake_pump(struct rwt_fake_io *io);

struct rwt_sig {
    int rc;
    uint8_t sig[RW_MAX_SIG_BYTES];
    size_t len;
};

/** Sign @p msg with @p s (synchronous file signer), asserting success. */
struct rwt_sig rwt_sign(struct rw_signer *s, const uint8_t *msg, size_t len);

struct rwt_eval_fx {
    struct rw_config *cfg;                 /* ref */
    struct rw_signer *team;                /* owned: policy/p256-sec1.key */
    struct rw_signer *other;               /* owned: policy/other-sec1.key */
    const struct rw_policy_fetch_ops *ops; /* borrowed: rwt_fake_ops or rwt_fake_ops_referrers */
    struct rwt_fake_io io;
};

/**
 * A fixture whose config is @p yaml loaded as file @p name from the policy test data directory
 * (keys p256.pub and other.pub live there); fails the test with the config error otherwise.
 */
struct rwt_eval_fx *rwt_eval_fx_new(const char *name, const char *yaml,
                                    const struct rw_policy_fetch_ops *ops);
void rwt_eval_fx_free(struct rwt_eval_fx *f);

/** The .sig of image @p digest: one layer, payload @p payload signed by the team key. */
void rwt_eval_add_sig_payload(struct rwt_eval_fx *f, const char *digest,
                              const struct rw_buf *payload);
/** A valid .sig tag signature of @p digest (repository r/team/app) by the team key. */
void rwt_eval_add_sig(struct rwt_eval_fx *f, const char *digest);

struct rwt_eval_result {
    int calls;
    int rc;
    struct rw_verdict v;
};

/** rw_policy_done_cb that copies into a struct rwt_eval_result. */
void rwt_eval_on_done(void *arg, int rc, const struct rw_verdict *v);
/**
 * Evaluate the pull rule for r/@p repo on @p digest; when deferred, pump until done. Asserts
 * exactly one callback.
 */
struct rwt_eval_result rwt_eval_run(struct rwt_eval_fx *f, const char *repo, const char *digest);

#endif
