/* SPDX-License-Identifier: MIT */
/*
 * Pull-side evaluation of one `require: {signed_by: [...]}` rule for one manifest digest: fetch
 * `sha256-<hex>.sig`, then for each signature layer (the newest RW_MAX_SIG_LAYERS) fetch the
 * payload blob, check its digest, verify the signature with each key of the rule, and only then
 * parse it and check that it names the digest being served. With `require.attestations`, a
 * signature that passes leads on to `sha256-<hex>.att`: each DSSE layer (the newest
 * RW_MAX_SIG_LAYERS) is fetched, digest-checked and judged (rw_eval_judge_envelope): verified
 * with a requirement's own keys, its in-toto statement must have the requirement's predicate
 * type, a subject binding the digest, and pass its conditions. A signature or envelope is
 * verified before its payload is parsed. When either phase would end without an allow, the OCI
 * 1.1 referrers phase (eval_ref.c) is consulted first; it shares the state (eval_int.h) and the
 * judgements of this file. Evidence arrives only through the fetch ops (R23); this file never
 * does I/O. It owns the object's life: start, cancel, the loop, the fetch callback, the one exit
 * (rw_eval_finish) and the free.
 *
 * Re-entrancy: fetch ops may call back before they return. One loop (run()) advances the state;
 * a callback arriving while the loop runs only records its result, so the stack never grows with
 * the number of layers. The object is freed only when it is finished or cancelled AND no fetch is
 * outstanding AND the loop is not on the stack, so a late fetch callback after cancel is harmless.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rw/err.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "rw/policy.h"

#include "eval_int.h"

/* "team, other" into @p out, truncated with "..." when long. */
static void names_list(char *const *names, size_t count, char *out, size_t cap)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        int n = snprintf(out + used, cap - used, "%s%s", i == 0 ? "" : ", ", names[i]);

        if (n < 0 || (size_t)n >= cap - used) {
            if (cap > 4) {
                memcpy(out + cap - 4, "...", 4);
            }
            return;
        }
        used += (size_t)n;
    }
}

static void key_list(const struct rw_pull_rule *r, char *out, size_t cap)
{
    names_list(r->signed_by, r->n_signed_by, out, cap);
}

static bool run(struct rw_policy_eval *e);

/* Record that the blob @p digest carried a verified signature the verdict rests on. */
void rw_eval_evidence_add(struct rw_policy_eval *e, const char *digest)
{
    for (unsigned i = 0; i < e->n_evidence; i++) {
        if (strcmp(e->evidence[i], digest) == 0) {
            return;
        }
    }
    if (e->n_evidence < RW_MAX_EVIDENCE && strlen(digest) < sizeof(e->evidence[0])) {
        memcpy(e->evidence[e->n_evidence++], digest, strlen(digest) + 1);
    }
}

/* Free @p e when nothing can reach it any more; true when freed. */
static bool maybe_free(struct rw_policy_eval *e)
{
    if ((e->cancelled || e->finished) && e->outstanding == 0 && !e->running) {
        rw_buf_fini(&e->body);
        rw_cosign_sig_manifest_fini(&e->sigm);
        rw_cosign_sig_manifest_fini(&e->attm);
        rw_cosign_sig_manifest_fini(&e->refm);
        rw_referrers_fini(&e->refs);
        rw_free(e->ref_next);
        rw_free(e->ref_url);
        rw_free(e->ref_link);
        rw_free(e);
        return true;
    }
    return false;
}

/* The one exit: rc != 0 becomes a fail-closed verdict here too, so cb always gets a deny. */
void rw_eval_finish(struct rw_policy_eval *e, int rc, const struct rw_verdict *v)
{
    struct rw_verdict fc;

    if (e->finished || e->cancelled) {
        return;
    }
    e->finished = true;
    if (rc != 0 || v == NULL) {
        char detail[sizeof(fc.detail)];

        if (rc == 0) {
            rc = RW_EINTERNAL;
        }
        textf(detail, sizeof(detail), "could not check the signatures of %s: %s", e->digest,
                 rc == RW_EUPSTREAM ? "the upstream registry failed to answer"
                                    : rw_strerror(rc));
        fc = rw_verdict_fail_closed(rc, RW_REASON_UPSTREAM_ERROR, detail);
        e->cb(e->arg, rc, &fc);
        return;
    }
    e->cb(e->arg, 0, v);
}

static void deny(struct rw_policy_eval *e, enum rw_reason reason, const char *detail)
{
    struct rw_verdict v;

    memset(&v, 0, sizeof(v));
    v.allow = false;
    v.reason = reason;
    textf(v.detail, sizeof(v.detail), "%s", detail);
    v.time = (int64_t)time(NULL);
    rw_eval_finish(e, 0, &v);
}

void rw_eval_allow(struct rw_policy_eval *e, const char *key)
{
    struct rw_verdict v;

    memset(&v, 0, sizeof(v));
    v.allow = true;
    v.reason = RW_REASON_NONE;
    textf(v.key_id, sizeof(v.key_id), "%s", key);
    v.n_evidence = e->n_evidence;
    memcpy(v.evidence, e->evidence, sizeof(v.evidence));
    if (e->rule->n_attestations > 0) {
        textf(v.detail, sizeof(v.detail),
              "%s verified with key %s; %zu attestation type(s) in %s%s verified", e->sig_where,
              key, e->rule->n_attestations, e->att_tag, e->att_from_ref ? " and referrers" : "");
    } else {
        textf(v.detail, sizeof(v.detail), "%s verified with key %s", e->sig_where, key);
    }
    v.time = (int64_t)time(NULL);
    rw_eval_finish(e, 0, &v);
}

/* Nothing passed: pick the reason from what was seen, most decisive first. */
void rw_eval_conclude(struct rw_policy_eval *e)
{
    char keys[160];
    char detail[sizeof(((struct rw_verdict *)NULL)->detail)];

    if (rw_eval_ref_enter(e, false)) {
        return; /* the .sig tag gave no allow: the referrers may */
    }
    key_list(e->rule, keys, sizeof(keys));
    if (e->n_upstream > 0) {
        /* a layer we could not read might have been the valid one: no decision */
        rw_eval_finish(e, RW_EUPSTREAM, NULL);
    } else if (e->n_untrusted > 0) {
        textf(detail, sizeof(detail), "no signature on %s verifies with key %s", e->digest,
                 keys);
        deny(e, RW_REASON_UNTRUSTED_KEY, detail);
    } else if (e->n_bad > 0) {
        textf(detail, sizeof(detail), "signature for %s is invalid (%s); keys tried: %s",
                 e->digest, e->first_bad != NULL ? e->first_bad : "malformed", keys);
        deny(e, RW_REASON_BAD_SIGNATURE, detail);
    } else {
        char where[128];

        rw_eval_ref_where(e, e->sig_tag, where, sizeof(where));
        textf(detail, sizeof(detail), "no cosign signature for %s (looked in %s; keys: %s)",
              e->digest, where, keys);
        deny(e, RW_REASON_NO_SIGNATURE, detail);
    }
}

void rw_eval_bad(struct rw_policy_eval *e, const char *why)
{
    e->n_bad++;
    if (e->first_bad == NULL) {
        e->first_bad = why;
    }
}

/* A layer whose signature verifies with a listed key, but whose payload does not vouch for the
 * served digest: the most telling kind of bad layer, so it replaces an earlier other kind. */
void rw_eval_bad_verified(struct rw_policy_eval *e, const char *fmt, ...)
{
    va_list ap;

    e->n_bad++;
    if (e->first_bad_verified) {
        return;
    }
    e->first_bad_verified = true;
    va_start(ap, fmt);
    (void)vsnprintf(e->first_bad_buf, sizeof(e->first_bad_buf), fmt, ap);
    va_end(ap);
    e->first_bad = e->first_bad_buf;
}

/* A signature passed: allow, or go on to the attestations the rule requires. */
void rw_eval_signature_ok(struct rw_policy_eval *e, const char *key)
{
    e->sig_passed = true;
    if (e->state == EV_REF_LAYERS) {
        textf(e->sig_where, sizeof(e->sig_where), "%s layer %zu of referrer %s",
              e->ref_kind == RW_REFERRER_BUNDLE ? "Sigstore bundle" : "signature",
              e->ref_layer + 1, e->ref_digest);
    } else {
        textf(e->sig_where, sizeof(e->sig_where), "signature layer %zu of %s",
              e->sigm.n_ignored + e->layer + 1, e->sig_tag);
    }
    if (e->rule->n_attestations == 0 || att_all(e)) {
        rw_eval_allow(e, key);
        return;
    }
    textf(e->sig_key, sizeof(e->sig_key), "%s", key);
    e->state = EV_ATT;
}

/* Remember why an attestation layer did not count; a stronger reason replaces a weaker one. */
void rw_eval_att_problem(struct rw_policy_eval *e, int rank, const char *fmt, ...)
{
    va_list ap;

    if (rank <= e->att_problem_rank) {
        return;
    }
    e->att_problem_rank = rank;
    va_start(ap, fmt);
    (void)vsnprintf(e->att_problem, sizeof(e->att_problem), fmt, ap);
    va_end(ap);
}

/*
 * Remember why an envelope did not meet requirement @p k; a higher rank replaces a lower one:
 * 1 no key of it verifies, 2 other predicate type, 3 not an in-toto payload or statement,
 * 4 no subject binds the digest, 5 a condition does not hold.
 */
static void req_problem(struct rw_policy_eval *e, size_t k, int rank, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void req_problem(struct rw_policy_eval *e, size_t k, int rank, const char *fmt, ...)
{
    va_list ap;

    if (k >= RW_MAX_ATTESTATION_TYPES || rank <= e->req_rank[k]) {
        return;
    }
    e->req_rank[k] = rank;
    va_start(ap, fmt);
    (void)vsnprintf(e->req_problem[k], sizeof(e->req_problem[k]), fmt, ap);
    va_end(ap);
}

/* Every attestation layer examined and something is still missing. */
void rw_eval_att_conclude(struct rw_policy_eval *e)
{
    char keys[160];
    char detail[sizeof(((struct rw_verdict *)NULL)->detail)];
    const char *missing = "?";
    const char *why;
    size_t mk = 0;

    if (att_all(e)) {
        rw_eval_allow(e, e->sig_key); /* referrers satisfied what the .att tag did not */
        return;
    }
    if (rw_eval_ref_enter(e, true)) {
        return; /* the .att tag left a type unmet: the referrers may have it */
    }
    if (e->n_att_upstream > 0) {
        rw_eval_finish(e, RW_EUPSTREAM, NULL); /* an unread layer might have been the one */
        return;
    }
    for (size_t k = 0; k < e->rule->n_attestations; k++) {
        if ((e->satisfied & (1u << k)) == 0) {
            missing = e->rule->attestations[k].predicate_type;
            mk = k;
            break;
        }
    }
    names_list(e->rule->attestations[mk].signed_by, e->rule->attestations[mk].n_signed_by, keys,
               sizeof(keys));
    /* the requirement's own story first, unless an envelope could not even be judged */
    if (e->req_rank[mk] >= 2 || (e->req_rank[mk] == 1 && e->att_problem_rank < 2)) {
        why = e->req_problem[mk];
    } else if (e->att_problem_rank > 0) {
        why = e->att_problem;
    } else {
        why = "no DSSE envelope";
    }
    if (e->att_absent && e->req_rank[mk] == 0 && e->att_problem_rank == 0) {
        char where[128];

        rw_eval_ref_where(e, e->att_tag, where, sizeof(where));
        textf(detail, sizeof(detail), "no attestation of type %s for %s (looked in %s); keys: %s",
              missing, e->digest, where, keys);
    } else {
        /* where it looked goes last and is never cut: the why is shortened to make room */
        char tail[80];
        char where[80];
        size_t room;

        if (e->att_absent) {
            textf(where, sizeof(where), "no .att tag");
        } else {
            textf(where, sizeof(where), "%zu .att layer(s)", e->attm.n_layers);
        }
        textf(tail, sizeof(tail), " [looked in %s and %zu referrers]", where, e->refs.n);
        room = sizeof(detail) - strlen(tail);
        textf(detail, room, "attestation %zu (%s, keys %s) not met: %s", mk + 1, missing, keys,
              why);
        memcpy(detail + strlen(detail), tail, strlen(tail) + 1);
    }
    deny(e, RW_REASON_MISSING_ATTESTATION, detail);
}

void rw_eval_on_fetch(void *arg, int rc, int status, const uint8_t *body, size_t len)
{
    struct rw_policy_eval *e = arg;

    if (e->outstanding == 0) {
        /* a second callback for one fetch breaks the ops contract; do not act on it */
        rw_log_warn(POLICY, "eval: unexpected fetch callback ignored");
        return;
    }
    e->outstanding--;
    if (e->cancelled || e->finished) {
        maybe_free(e);
        return;
    }
    e->have_result = true;
    e->res_rc = rc;
    e->res_status = status;
    e->res_too_big = false;
    rw_buf_reset(&e->body);
    if (rc == 0 && body != NULL && len > 0) {
        if (len > e->cur_max) {
            e->res_too_big = true;
        } else {
            int arc = rw_buf_append(&e->body, body, len);

            if (arc != 0) {
                e->res_rc = arc; /* OOM: reported as rc, never as evidence */
            }
        }
    }
    if (!e->running) {
        /* asynchronous completion: drive the loop from here (run() frees when done) */
        run(e);
    }
}

/* Is a 404 body an OCI "not there" (MANIFEST_UNKNOWN / NAME_UNKNOWN) or a bare 404? */
bool rw_eval_not_found_body(const uint8_t *p, size_t n)
{
    bool json_like = false;

    for (size_t i = 0; i < n; i++) {
        if (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t') {
            continue;
        }
        json_like = p[i] == '{';
        break;
    }
    if (!json_like) {
        return true; /* empty, or distribution's text/plain "404 page not found" */
    }
    /* substring checks are enough: any other code means the registry said something else */
    return memmem(p, n, "\"MANIFEST_UNKNOWN\"", 18) != NULL ||
           memmem(p, n, "\"NAME_UNKNOWN\"", 14) != NULL || memmem(p, n, "\"errors\"", 8) == NULL;
}

static void on_sig_manifest(struct rw_policy_eval *e)
{
    int rc;

    if (e->res_rc == -ENOMEM) {
        rw_eval_finish(e, -ENOMEM, NULL);
        return;
    }
    if (e->res_rc != 0 || e->res_status == 0) {
        rw_log_debug(POLICY, "eval: %s: transport error: %s", e->sig_tag, rw_strerror(e->res_rc));
        rw_eval_finish(e, RW_EUPSTREAM, NULL);
        return;
    }
    if (e->res_status == 404) {
        if (rw_eval_not_found_body(e->body.data, e->body.len)) {
            rw_eval_conclude(e); /* nothing seen: no-signature */
        } else {
            rw_eval_finish(e, RW_EUPSTREAM, NULL);
        }
        return;
    }
    if (e->res_status != 200) {
        rw_log_debug(POLICY, "eval: %s: upstream answered %d", e->sig_tag, e->res_status);
        rw_eval_finish(e, RW_EUPSTREAM, NULL);
        return;
    }
    if (e->res_too_big) {
        rw_eval_bad(e, "signature manifest over the size limit");
        rw_eval_conclude(e);
        return;
    }
    rc = rw_cosign_sig_manifest_parse(e->body.data, e->body.len, &e->sigm);
    if (rc == -ENOMEM) {
        rw_eval_finish(e, rc, NULL);
        return;
    }
    if (rc != 0) {
        rw_eval_bad(e, "malformed signature manifest");
        rw_eval_conclude(e);
        return;
    }
    if (e->sigm.n_ignored > 0) {
        rw_log_debug(POLICY, "eval: %s: %zu layers over the limit of %u ignored", e->sig_tag,
                     e->sigm.n_ignored, RW_MAX_SIG_LAYERS);
    }
    e->state = EV_LAYERS;
    e->layer = 0;
}

/* The simple-signing layer on_payload examines: of the .sig manifest, or of a referrer's. */
static const struct rw_cosign_sig_layer *payload_layer(const struct rw_policy_eval *e)
{
    return e->state == EV_REF_LAYERS ? &e->refm.layers[e->ref_layer] : &e->sigm.layers[e->layer];
}

static void payload_next(struct rw_policy_eval *e)
{
    if (e->state == EV_REF_LAYERS) {
        e->ref_layer++;
    } else {
        e->layer++;
    }
}

/* 1-based number of the signature layer on_payload examines (for details). */
static size_t sig_layer_no(const struct rw_policy_eval *e)
{
    /* .sig or a referrer; as the manifest numbers it (older layers past the bound skipped) */
    return e->state == EV_REF_LAYERS ? e->refm.n_ignored + e->ref_layer + 1
                                     : e->sigm.n_ignored + e->layer + 1;
}

/*
 * Verify layer @p l's signature over the payload bytes in e->body with each key of the rule.
 * @param[out] key  the name of the key that verified (borrowed: kept alive by e->cfg)
 * @return 0; RW_EBADSIG (no key verifies); -ENOMEM.
 */
static int payload_verify(struct rw_policy_eval *e, const struct rw_cosign_sig_layer *l,
                          const char **key)
{
    for (size_t k = 0; k < e->rule->n_signed_by; k++) {
        const struct rw_key_cfg *kc = rw_config_key(e->cfg, e->rule->signed_by[k]);
        int rc;

        if (kc == NULL) {
            continue; /* cannot happen after config validation; never an allow */
        }
        if (kc->vault_key != NULL) {
            /* any known version (rotation: v1 images keep verifying); never waits on Vault,
             * and no known version (-ENOENT) verifies nothing */
            rc = rw_keyring_verify(e->cfg->keyring, kc->ring_id, e->body.data, e->body.len,
                                   l->sig, l->sig_len, NULL);
        } else {
            rc = rw_pubkey_verify(kc->pub, e->body.data, e->body.len, l->sig, l->sig_len);
        }
        if (rc == 0) {
            *key = kc->name;
            return 0;
        }
        if (rc == -ENOMEM) {
            return rc;
        }
    }
    return RW_EBADSIG;
}

void rw_eval_on_payload(struct rw_policy_eval *e)
{
    const struct rw_cosign_sig_layer *l = payload_layer(e);
    struct rw_cosign_payload pl;
    const char *key = NULL;
    char got[72];
    int rc;

    if (e->res_rc == -ENOMEM) {
        rw_eval_finish(e, -ENOMEM, NULL);
        return;
    }
    if (e->res_rc != 0 || e->res_status == 0 || (e->res_status != 200 && e->res_status != 404)) {
        e->n_upstream++;
        goto next;
    }
    if (e->res_status == 404) {
        rw_eval_bad(e, "payload blob missing");
        goto next;
    }
    if (e->res_too_big) {
        rw_eval_bad(e, "payload over the size limit");
        goto next;
    }
    rw_sha256_digest(e->body.data, e->body.len, got);
    if (strcmp(got, l->digest) != 0) {
        rw_eval_bad(e, "payload digest mismatch");
        goto next;
    }
    /* the signature over the exact bytes first: only a payload a listed key signed is read */
    rc = payload_verify(e, l, &key);
    if (rc == -ENOMEM) {
        rw_eval_finish(e, rc, NULL);
        return;
    }
    if (rc != 0) {
        e->n_untrusted++;
        goto next;
    }
    rc = rw_cosign_payload_parse(e->body.data, e->body.len, &pl);
    if (rc == -ENOMEM) {
        rw_eval_finish(e, rc, NULL);
        return;
    }
    if (rc != 0) {
        rw_eval_bad_verified(e,
                             "signature layer %zu verifies with key %s but its payload is not a "
                             "cosign simple-signing payload",
                             sig_layer_no(e), key);
        goto next;
    }
    if (strcmp(pl.digest, e->digest) != 0) {
        rw_eval_bad_verified(e,
                             "signature layer %zu verifies with key %s but signs %s (not this "
                             "image)",
                             sig_layer_no(e), key, pl.digest);
        goto next;
    }
    rw_eval_evidence_add(e, l->digest);
    rw_eval_signature_ok(e, key);
    return;
next:
    payload_next(e);
}

static void on_att_manifest(struct rw_policy_eval *e)
{
    int rc;

    if (e->res_rc == -ENOMEM) {
        rw_eval_finish(e, -ENOMEM, NULL);
        return;
    }
    if (e->res_rc != 0 || e->res_status == 0 ||
        (e->res_status != 200 && e->res_status != 404)) {
        rw_log_debug(POLICY, "eval: %s: upstream answered %d (%s)", e->att_tag, e->res_status,
                     rw_strerror(e->res_rc));
        rw_eval_finish(e, RW_EUPSTREAM, NULL);
        return;
    }
    if (e->res_status == 404) {
        if (!rw_eval_not_found_body(e->body.data, e->body.len)) {
            rw_eval_finish(e, RW_EUPSTREAM, NULL);
            return;
        }
        e->att_absent = true;
        rw_eval_att_conclude(e);
        return;
    }
    if (e->res_too_big) {
        rw_eval_att_problem(e, 2, "attestation manifest over the size limit");
        rw_eval_att_conclude(e);
        return;
    }
    rc = rw_cosign_sig_manifest_parse(e->body.data, e->body.len, &e->attm);
    if (rc == -ENOMEM) {
        rw_eval_finish(e, rc, NULL);
        return;
    }
    if (rc != 0) {
        rw_eval_att_problem(e, 2, "malformed attestation manifest");
        rw_eval_att_conclude(e);
        return;
    }
    e->state = EV_ATT_LAYERS;
    e->att_layer = 0;
}

/*
 * Does a signature of @p env verify with one of requirement @p a's keys? @p kstate caches the
 * answer per configured key (index into cfg->keys): 0 untried, 1 verifies, -1 does not.
 * @param[out] key  the key that verified (borrowed: kept alive by e->cfg)
 * @return 0; RW_EBADSIG; -ENOMEM.
 */
static int req_verify(struct rw_policy_eval *e, const struct rw_dsse_envelope *env,
                      const struct rw_att_req *a, int8_t *kstate, const char **key)
{
    for (size_t i = 0; i < a->n_signed_by; i++) {
        const struct rw_key_cfg *kc = rw_config_key(e->cfg, a->signed_by[i]);
        size_t ki;
        int rc;

        if (kc == NULL) {
            continue; /* cannot happen after config validation; never an allow */
        }
        ki = (size_t)(kc - e->cfg->keys);
        if (ki < RW_MAX_KEYS && kstate[ki] != 0) {
            rc = kstate[ki] > 0 ? 0 : RW_EBADSIG;
        } else if (kc->vault_key != NULL) {
            rc = rw_dsse_verify_keyring(env, e->cfg->keyring, kc->ring_id);
        } else {
            rc = rw_dsse_verify(env, kc->pub);
        }
        if (rc == -ENOMEM) {
            return rc;
        }
        if (ki < RW_MAX_KEYS) {
            kstate[ki] = rc == 0 ? 1 : -1;
        }
        if (rc == 0) {
            *key = kc->name;
            return 0;
        }
    }
    return RW_EBADSIG;
}

/*
 * Judge one DSSE envelope against every attestation requirement of the rule not met yet; any
 * evidence source calls it (.att layers, referrers, Sigstore bundles). Requirement k is met when
 * a signature of @p env verifies with one of ITS keys (rule->attestations[k].signed_by), the
 * payloadType is application/vnd.in-toto+json, and the statement has its predicate type, a
 * subject binding e->digest, and passes its conditions. One envelope may meet several.
 * Each requirement met sets bit k of e->satisfied and records @p blob_digest as evidence; each
 * one not met keeps its most telling reason (req_problem) for the deny detail. The payload is
 * parsed only after some requirement's key verified the envelope.
 * @param[in] env          a parsed envelope (borrowed for the call)
 * @param[in] blob_digest  "sha256:<hex>" of the blob that carried @p env
 * @return 0 (see e->satisfied); -ENOMEM or another error: the caller fails closed
 *         (rw_eval_finish()).
 */
int rw_eval_judge_envelope(struct rw_policy_eval *e, const struct rw_dsse_envelope *env,
                           const char *blob_digest)
{
    const struct rw_att_req *cand[RW_MAX_ATTESTATION_TYPES];
    struct rw_attest_judgement j[RW_MAX_ATTESTATION_TYPES];
    size_t cand_k[RW_MAX_ATTESTATION_TYPES];
    const char *vkey[RW_MAX_ATTESTATION_TYPES];
    int8_t kstate[RW_MAX_KEYS];
    size_t n = 0;
    char keys[160];
    char pt[128];
    char q[96];
    bool intoto = env->payload_type_len == strlen(RW_DSSE_INTOTO_TYPE) &&
                  memcmp(env->payload_type, RW_DSSE_INTOTO_TYPE, env->payload_type_len) == 0;
    int rc;

    memset(kstate, 0, sizeof(kstate));
    for (size_t k = 0; k < e->rule->n_attestations && k < RW_MAX_ATTESTATION_TYPES; k++) {
        const struct rw_att_req *a = &e->rule->attestations[k];
        const char *key = NULL;

        if ((e->satisfied & (1u << k)) != 0) {
            continue;
        }
        rc = req_verify(e, env, a, kstate, &key);
        if (rc == -ENOMEM) {
            return rc;
        }
        if (rc != 0) {
            names_list(a->signed_by, a->n_signed_by, keys, sizeof(keys));
            req_problem(e, k, 1, "no envelope verifies with keys %s", keys);
            continue;
        }
        if (!intoto) {
            /* the signature is good, but only in-toto statements count (vector 7's legacy
             * payload types do not) */
            rw_cond_quote(env->payload_type, env->payload_type_len, 80, q, sizeof(q));
            req_problem(e, k, 3,
                        "an envelope verified with key %s has payload type %s, not "
                        RW_DSSE_INTOTO_TYPE,
                        key, q);
            continue;
        }
        cand[n] = a;
        cand_k[n] = k;
        vkey[n] = key;
        n++;
    }
    if (n == 0) {
        return 0;
    }
    rc = rw_attest_statement_judge(env->payload, env->payload_len, e->digest, cand, n, j, pt,
                                   sizeof(pt));
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = cand_k[i];

        switch (j[i].result) {
        case RW_ATTEST_OK:
            e->satisfied |= 1u << k;
            rw_eval_evidence_add(e, blob_digest);
            break;
        case RW_ATTEST_WRONG_TYPE:
            rw_cond_quote(pt, strlen(pt), 80, q, sizeof(q));
            req_problem(e, k, 2, "an envelope verified with key %s has predicate type %s",
                        vkey[i], q);
            break;
        case RW_ATTEST_NO_SUBJECT:
            req_problem(e, k, 4,
                        "a statement verified with key %s has no subject with the sha256 of "
                        "%.16s...",
                        vkey[i], e->digest + 7);
            break;
        case RW_ATTEST_CONDITION:
            req_problem(e, k, 5, "%s", j[i].why);
            break;
        default:
            req_problem(e, k, 3, "an envelope verified with key %s carries no in-toto statement",
                        vkey[i]);
            break;
        }
    }
    return 0;
}

static void on_envelope(struct rw_policy_eval *e)
{
    const struct rw_cosign_sig_layer *l = &e->attm.layers[e->att_layer];
    struct rw_dsse_envelope env;
    char got[72];
    int rc;

    memset(&env, 0, sizeof(env));
    if (e->res_rc == -ENOMEM) {
        rw_eval_finish(e, -ENOMEM, NULL);
        return;
    }
    if (e->res_rc != 0 || e->res_status == 0 || (e->res_status != 200 && e->res_status != 404)) {
        e->n_att_upstream++;
        goto next;
    }
    if (e->res_status == 404) {
        rw_eval_att_problem(e, 2, "envelope blob %.80s missing", l->digest);
        goto next;
    }
    if (e->res_too_big) {
        rw_eval_att_problem(e, 2, "envelope over the size limit");
        goto next;
    }
    rw_sha256_digest(e->body.data, e->body.len, got);
    if (strcmp(got, l->digest) != 0) {
        rw_eval_att_problem(e, 2, "envelope digest mismatch");
        goto next;
    }
    rc = rw_dsse_envelope_parse(e->body.data, e->body.len, &env);
    if (rc == -ENOMEM) {
        rw_eval_finish(e, rc, NULL);
        return;
    }
    if (rc != 0) {
        rw_eval_att_problem(e, 2, "malformed DSSE envelope");
        goto next;
    }
    rc = rw_eval_judge_envelope(e, &env, l->digest);
    if (rc != 0) {
        rw_dsse_envelope_fini(&env);
        rw_eval_finish(e, rc, NULL);
        return;
    }
next:
    rw_dsse_envelope_fini(&env);
    if (att_all(e)) {
        rw_eval_allow(e, e->sig_key);
        return;
    }
    e->att_layer++;
}

/* A simple-signing layer worth fetching the payload of; else counts why not (skipped, bad). */
bool rw_eval_sig_layer_ok(struct rw_policy_eval *e, const struct rw_cosign_sig_layer *l)
{
    if (strcmp(l->media_type, RW_MT_SIMPLESIGNING) != 0) {
        e->n_skipped++;
    } else if (!l->sig_valid_b64 || l->sig_len == 0) {
        rw_eval_bad(e, "missing or malformed signature annotation");
    } else if (l->size > RW_MAX_PAYLOAD_BYTES) {
        rw_eval_bad(e, "payload over the size limit");
    } else if (strncmp(l->digest, "sha256:", 7) != 0) {
        rw_eval_bad(e, "payload digest algorithm not supported");
    } else {
        return true;
    }
    return false;
}

/* Start the next fetch, or conclude when there is nothing left to fetch. */
static void issue_next(struct rw_policy_eval *e)
{
    int rc;

    if (e->state >= EV_REF_LIST) {
        rw_eval_ref_issue(e);
        return;
    }
    if (e->state == EV_SIG) {
        if (e->sig_requested) {
            rw_eval_finish(e, RW_EINTERNAL, NULL); /* no result and nothing outstanding */
            return;
        }
        e->sig_requested = true;
        e->cur_max = RW_MAX_SIG_MANIFEST_BYTES;
        e->outstanding++;
        rc = e->ops->fetch_manifest(e->io, e->sig_tag, e->cur_max, rw_eval_on_fetch, e);
    } else if (e->state == EV_ATT) {
        if (e->att_requested) {
            rw_eval_finish(e, RW_EINTERNAL, NULL);
            return;
        }
        e->att_requested = true;
        e->cur_max = RW_MAX_SIG_MANIFEST_BYTES;
        e->outstanding++;
        rc = e->ops->fetch_manifest(e->io, e->att_tag, e->cur_max, rw_eval_on_fetch, e);
    } else if (e->state == EV_ATT_LAYERS) {
        const struct rw_cosign_sig_layer *l;

        for (;;) {
            if (e->att_layer >= e->attm.n_layers) {
                rw_eval_att_conclude(e);
                return;
            }
            l = &e->attm.layers[e->att_layer];
            if (strcmp(l->media_type, RW_MT_DSSE_ENVELOPE) != 0) {
                rw_eval_att_problem(e, 1, "layer media type %.80s is not a DSSE envelope",
                                    l->media_type);
            } else if (l->size > RW_MAX_ENVELOPE_BYTES) {
                rw_eval_att_problem(e, 2, "envelope over the size limit");
            } else if (strncmp(l->digest, "sha256:", 7) != 0) {
                rw_eval_att_problem(e, 2, "envelope digest algorithm not supported");
            } else {
                break;
            }
            e->att_layer++;
        }
        e->cur_max = RW_MAX_ENVELOPE_BYTES;
        e->outstanding++;
        rc = e->ops->fetch_blob(e->io, l->digest, e->cur_max, rw_eval_on_fetch, e);
    } else {
        const struct rw_cosign_sig_layer *l;

        for (;;) {
            if (e->layer >= e->sigm.n_layers) {
                rw_eval_conclude(e);
                return;
            }
            l = &e->sigm.layers[e->layer];
            if (rw_eval_sig_layer_ok(e, l)) {
                break;
            }
            e->layer++;
        }
        e->cur_max = RW_MAX_PAYLOAD_BYTES;
        e->outstanding++;
        rc = e->ops->fetch_blob(e->io, l->digest, e->cur_max, rw_eval_on_fetch, e);
    }
    if (rc != 0 && e->outstanding > 0 && !e->have_result) {
        /* the op failed without calling back (and by contract will not): a transport error */
        e->outstanding--;
        e->have_result = true;
        e->res_rc = rc < 0 ? rc : RW_EUPSTREAM;
        e->res_status = 0;
        e->res_too_big = false;
        rw_buf_reset(&e->body);
    }
}

/* The loop; frees @p e when it is over and then returns true. Never re-entered (R13). */
static bool run(struct rw_policy_eval *e)
{
    if (e->running) {
        return false;
    }
    e->running = true;
    while (!e->cancelled && !e->finished && e->outstanding == 0) {
        if (e->have_result) {
            e->have_result = false;
            if (e->state == EV_SIG) {
                on_sig_manifest(e);
            } else if (e->state == EV_LAYERS) {
                rw_eval_on_payload(e);
            } else if (e->state == EV_ATT) {
                on_att_manifest(e);
            } else if (e->state == EV_REF_LIST) {
                rw_eval_on_ref_list(e);
            } else if (e->state == EV_REF_MANIFEST) {
                rw_eval_on_ref_manifest(e);
            } else if (e->state == EV_REF_LAYERS) {
                rw_eval_on_ref_layer(e);
            } else {
                on_envelope(e);
            }
        } else {
            issue_next(e);
        }
    }
    e->running = false;
    return maybe_free(e);
}

int rw_policy_eval_start(const struct rw_config *cfg, const struct rw_pull_rule *rule,
                         const char *digest, const struct rw_policy_fetch_ops *ops, void *io,
                         rw_policy_done_cb *cb, void *arg, struct rw_policy_eval **out)
{
    struct rw_policy_eval *e;

    if (cfg == NULL || rule == NULL || digest == NULL || ops == NULL ||
        ops->fetch_manifest == NULL || ops->fetch_blob == NULL || cb == NULL || out == NULL ||
        rule->n_signed_by == 0 || strnlen(digest, RW_MAX_DIGEST_LEN + 1) > RW_MAX_DIGEST_LEN) {
        return RW_EINVAL;
    }
    e = rw_calloc(1, sizeof(*e));
    if (e == NULL) {
        return -ENOMEM;
    }
    if (rw_cosign_sig_tag(digest, e->sig_tag) != 0 || rw_cosign_att_tag(digest, e->att_tag) != 0 ||
        rule->n_attestations > RW_MAX_ATTESTATION_TYPES) {
        rw_free(e);
        return RW_EINVAL;
    }
    snprintf(e->digest, sizeof(e->digest), "%s", digest);
    snprintf(e->ref_tag, sizeof(e->ref_tag), "sha256-%s", digest + 7);
    e->cfg = cfg;
    e->rule = rule;
    e->ops = ops;
    e->io = io;
    e->cb = cb;
    e->arg = arg;
    e->state = EV_SIG;
    rw_buf_init(&e->body, 0);
    /* All fetches may complete synchronously: then cb has run and e is gone already. */
    *out = run(e) ? NULL : e;
    return 0;
}

void rw_policy_eval_cancel(struct rw_policy_eval **pe)
{
    struct rw_policy_eval *e;

    if (pe == NULL || *pe == NULL) {
        return;
    }
    e = *pe;
    *pe = NULL;
    e->cancelled = true;
    (void)maybe_free(e);
}
