/* SPDX-License-Identifier: MIT */
/*
 * Private to policy/eval.c and policy/eval_ref.c: the evaluation object, its states, and the
 * helpers both halves call. eval.c owns the object's life (start, loop, fetch callback, the one
 * exit, free) and the .sig/.att phases; eval_ref.c the OCI 1.1 referrers phase. Never included
 * from outside policy/ (R4); the public API is rw_policy_eval_* in rw/policy.h.
 */
#ifndef RW_POLICY_EVAL_INT_H
#define RW_POLICY_EVAL_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rw/policy.h"

enum eval_state {
    EV_SIG = 0,
    EV_LAYERS,
    EV_ATT,
    EV_ATT_LAYERS,
    EV_REF_LIST,     /* referrers API pages, or the sha256-<hex> fallback tag */
    EV_REF_MANIFEST, /* the next referrer manifest of the phase, fetched by digest */
    EV_REF_LAYERS,   /* its layers: simple-signing payloads, DSSE envelopes, Sigstore bundles */
    EV_STATE_COUNT
};

/* What the referrers listing does next (EV_REF_LIST). */
enum ref_step { REF_FIRST = 0, REF_NEXT_PAGE, REF_TAG, REF_WAIT, REF_LISTED, REF_STEP_COUNT };

struct rw_policy_eval {
    const struct rw_config *cfg;           /* borrowed: the caller holds a ref until cb */
    const struct rw_pull_rule *rule;       /* borrowed: kept alive by cfg */
    const struct rw_policy_fetch_ops *ops; /* borrowed: kept alive by the caller */
    void *io;                              /* borrowed: kept alive by the caller */
    rw_policy_done_cb *cb;
    void *arg;
    char digest[RW_MAX_DIGEST_LEN + 1];
    char sig_tag[80];
    enum eval_state state;
    bool sig_requested;
    bool cancelled;    /* cb must not run any more */
    bool finished;     /* cb ran */
    bool running;      /* run() is on the stack */
    unsigned outstanding; /* fetches whose cb has not arrived (0 or 1) */
    /* the last fetch result, copied out of the callback (its body is borrowed) */
    bool have_result;
    int res_rc;
    int res_status;
    bool res_too_big;
    struct rw_buf body; /* owned */
    size_t cur_max;
    /* signature layers */
    struct rw_cosign_sig_manifest sigm; /* owned */
    size_t layer;     /* layer being fetched / next to examine */
    unsigned n_bad;
    unsigned n_untrusted;
    unsigned n_upstream;
    unsigned n_skipped;
    const char *first_bad; /* why the first bad layer was bad: static text or first_bad_buf */
    bool first_bad_verified; /* first_bad is about a layer whose signature verified */
    char first_bad_buf[200];
    /* attestations (rule->n_attestations > 0), after a signature passed */
    char att_tag[80];
    char sig_key[RW_MAX_NAME_LEN + 1]; /* the key that verified the signature */
    bool att_requested;
    bool att_absent;                    /* the .att tag does not exist */
    struct rw_cosign_sig_manifest attm; /* owned */
    size_t att_layer;
    uint32_t satisfied;                 /* bit k: rule->attestations[k] is attested */
    unsigned n_att_upstream;
    int att_problem_rank;               /* 0 none, 1 weak (other type, skipped), 2 strong */
    char att_problem[160];              /* why the most telling layer did not count */
    /* per requirement k (rule->attestations[k]): why no envelope met it, most telling kept */
    int req_rank[RW_MAX_ATTESTATION_TYPES]; /* 0 none .. 5 a condition failed (req_problem()) */
    char req_problem[RW_MAX_ATTESTATION_TYPES][200];
    /* referrers: listed once per evaluation, scanned once per phase (signatures, attestations) */
    enum ref_step ref_step;             /* what to ask next (REF_WAIT: an answer is due) */
    enum ref_step ref_asked;            /* what the last request asked */
    bool ref_unreadable;                /* part of the list could not be read */
    struct rw_referrers refs;           /* owned */
    unsigned ref_pages;                 /* API pages requested */
    bool ref_listed_api;                /* the list came from the referrers API */
    char *ref_next;                     /* owned; the next page's URL (same origin, checked) */
    char *ref_url;                      /* owned; URL of the last page answered */
    char *ref_link;                     /* owned; its Link header, or NULL */
    char ref_ctype[128];                /* its Content-Type, "" when absent */
    char ref_tag[80];                   /* "sha256-<hex>": the tag-schema fallback */
    bool ref_sig_done;                  /* the signature phase consulted the referrers */
    bool ref_att_done;                  /* the attestation phase consulted the referrers */
    bool ref_att_phase;                 /* scanning for attestations (else signatures) */
    size_t ref_i;                       /* next descriptor to consider */
    bool ref_examined[RW_MAX_REFERRERS];
    unsigned n_ref_fetched;             /* referrer manifests fetched (RW_MAX_REFERRER_ARTIFACTS) */
    enum rw_referrer_kind ref_kind;     /* of the referrer manifest being examined */
    char ref_digest[RW_MAX_DIGEST_LEN + 1];
    struct rw_cosign_sig_manifest refm; /* owned; its layers */
    size_t ref_layer;
    bool sig_passed;                    /* a signature verified (sig_key, sig_where are set) */
    bool att_from_ref;                  /* an attestation counted from a referrer */
    char sig_where[176];                /* where the signature that passed was found */
    /* the blobs whose verified signatures count towards an allow (copied into the verdict) */
    unsigned n_evidence;
    char evidence[RW_MAX_EVIDENCE][72];
};

/* snprintf whose truncation is intended (details are one bounded sentence). */
static inline void textf(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void textf(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

/* Is every attestation type of the rule satisfied? */
static inline bool att_all(const struct rw_policy_eval *e)
{
    uint32_t all = (e->rule->n_attestations >= 32) ? UINT32_MAX
                                                   : ((1u << e->rule->n_attestations) - 1u);

    return (e->satisfied & all) == all;
}

/* ---------------------------------------------------------------- defined in eval.c */

/* A simple-signing layer worth fetching its payload for; otherwise counts why not. */
bool rw_eval_sig_layer_ok(struct rw_policy_eval *e, const struct rw_cosign_sig_layer *l);

/* The one exit: rc != 0 (or v == NULL) becomes a fail-closed deny; cb runs at most once. */
void rw_eval_finish(struct rw_policy_eval *e, int rc, const struct rw_verdict *v);
/* Allow with @p key (borrowed: kept alive by e->cfg), the evidence gathered so far attached. */
void rw_eval_allow(struct rw_policy_eval *e, const char *key);
/* The signature phase found no allow: referrers next (once), else the deny or RW_EUPSTREAM. */
void rw_eval_conclude(struct rw_policy_eval *e);
/* The attestation phase found a type unmet: referrers next (once), else the deny. */
void rw_eval_att_conclude(struct rw_policy_eval *e);
/* Tally a bad signature layer; @p why (static text) is kept when it is the first. */
void rw_eval_bad(struct rw_policy_eval *e, const char *why);
/* Tally a layer that verifies but does not vouch for the digest; its reason wins over others. */
void rw_eval_bad_verified(struct rw_policy_eval *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Why an attestation layer did not count; a higher @p rank replaces a lower one. */
void rw_eval_att_problem(struct rw_policy_eval *e, int rank, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Record blob @p digest as evidence the verdict rests on (deduplicated, bounded). */
void rw_eval_evidence_add(struct rw_policy_eval *e, const char *digest);
/* A signature verified with @p key: allow, or go on to EV_ATT. */
void rw_eval_signature_ok(struct rw_policy_eval *e, const char *key);
/* Judge one DSSE envelope against every unmet attestation requirement (see eval.c).
 * @return 0; -ENOMEM or another error: the caller fails closed (rw_eval_finish()). */
int rw_eval_judge_envelope(struct rw_policy_eval *e, const struct rw_dsse_envelope *env,
                           const char *blob_digest);
/* The fetch ops' callback: records the result and drives the loop when it is not running. */
void rw_eval_on_fetch(void *arg, int rc, int status, const uint8_t *body, size_t len);
/* A simple-signing payload blob arrived (a .sig layer, or a cosign signature referrer's). */
void rw_eval_on_payload(struct rw_policy_eval *e);
/* Is a 404 body an OCI "not there" (MANIFEST_UNKNOWN / NAME_UNKNOWN) or a bare 404? */
bool rw_eval_not_found_body(const uint8_t *p, size_t n);

/* ---------------------------------------------------------------- defined in eval_ref.c */

/* Before a phase concludes without an allow: go on to the referrers (true), once per phase. */
bool rw_eval_ref_enter(struct rw_policy_eval *e, bool att_phase);
/* "<tag> and N referrers": where evidence was looked for, for deny details. */
void rw_eval_ref_where(const struct rw_policy_eval *e, const char *tag, char *out, size_t cap);
/* Start the next fetch of EV_REF_LIST / EV_REF_MANIFEST / EV_REF_LAYERS, or conclude the phase. */
void rw_eval_ref_issue(struct rw_policy_eval *e);
/* Results of the fetches rw_eval_ref_issue started, one per state. */
void rw_eval_on_ref_list(struct rw_policy_eval *e);
void rw_eval_on_ref_manifest(struct rw_policy_eval *e);
void rw_eval_on_ref_layer(struct rw_policy_eval *e);

#endif /* RW_POLICY_EVAL_INT_H */
