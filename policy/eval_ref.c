/* SPDX-License-Identifier: MIT */
/*
 * The OCI 1.1 referrers phase of a pull-side evaluation (eval.c owns the object, the loop and the
 * .sig/.att phases). When the signature phase (rw_eval_conclude) or the attestation phase
 * (rw_eval_att_conclude) would end without an allow, the referrers of the digest are consulted
 * once for that phase: the list is fetched once per evaluation (the referrers API and its Link
 * rel="next" pages, or the sha256-<hex> fallback tag when there is no API, PROTOCOLS.md §1.9),
 * then scanned for the artifact types of the phase. Each referrer manifest is fetched by digest,
 * digest-checked and must name this digest as its subject (the index is not authenticated); its
 * layers are cosign simple-signing payloads (the .sig checks, rw_eval_on_payload), DSSE envelopes
 * (rw_eval_judge_envelope) or Sigstore bundles (message signatures, sign/v1 statements, or
 * attestations). What cannot be read counts as an upstream failure of the phase, what is wrong as
 * a bad layer, so the phase's own conclusion decides.
 *
 * Bounds: RW_MAX_REFERRERS_PAGES pages of RW_MAX_REFERRERS_PAGE_BYTES, RW_MAX_REFERRERS
 * descriptors, RW_MAX_REFERRER_ARTIFACTS manifests (RW_MAX_SIG_MANIFEST_BYTES each) per
 * evaluation, RW_MAX_REFERRER_LAYERS layers each (RW_MAX_PAYLOAD_BYTES or RW_MAX_ENVELOPE_BYTES);
 * the rest are ignored, never fetched. A next-page link that leaves the upstream is never
 * followed (invariant 4). No I/O here either: fetches go through the fetch ops (R23).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rw/err.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "rw/policy.h"

#include "eval_int.h"

/* "sha256-<hex>.sig and 3 referrers": where evidence was looked for, for deny details. */
void rw_eval_ref_where(const struct rw_policy_eval *e, const char *tag, char *out, size_t cap)
{
    if (e->ops->fetch_referrers == NULL) {
        textf(out, cap, "%s", tag);
    } else if (e->ref_step == REF_LISTED && !e->ref_listed_api) {
        textf(out, cap, "%s and %zu referrers (fallback tag)", tag, e->refs.n);
    } else {
        textf(out, cap, "%s and %zu referrers", tag, e->refs.n);
    }
}

/* Something about a referrer that keeps it from counting, into the counters of the phase being
 * decided: @p upstream = could not be read (an unread one might have been the valid one). */
static void ref_trouble(struct rw_policy_eval *e, bool upstream, const char *why)
{
    if (upstream) {
        e->ref_unreadable = true;
    }
    if (e->ref_att_phase) {
        if (upstream) {
            e->n_att_upstream++;
        } else {
            rw_eval_att_problem(e, 2, "%s", why);
        }
    } else if (upstream) {
        e->n_upstream++;
    } else {
        rw_eval_bad(e, why);
    }
}

/*
 * Before a phase concludes without an allow, consult the referrers: the list is fetched once per
 * evaluation, then scanned once per phase for the artifact types of that phase.
 * @return true when the evaluation goes on there.
 */
bool rw_eval_ref_enter(struct rw_policy_eval *e, bool att_phase)
{
    bool *done = att_phase ? &e->ref_att_done : &e->ref_sig_done;

    if (*done || e->ops->fetch_referrers == NULL) {
        return false;
    }
    *done = true;
    e->ref_att_phase = att_phase;
    e->ref_i = 0;
    if (e->ref_step == REF_LISTED) {
        if (e->ref_unreadable) {
            ref_trouble(e, true, NULL); /* part of the list could not be read */
        }
        e->state = EV_REF_MANIFEST;
    } else {
        e->state = EV_REF_LIST;
    }
    return true;
}

static void ref_listed(struct rw_policy_eval *e)
{
    e->ref_step = REF_LISTED;
    e->state = EV_REF_MANIFEST;
    e->ref_i = 0;
    if (e->refs.n_ignored > 0) {
        rw_log_debug(POLICY, "eval: %s: %zu referrers over the limit of %u ignored", e->digest,
                     e->refs.n_ignored, RW_MAX_REFERRERS);
    }
}

/* A referrers page: keep its headers, then the common result path. */
static void on_ref_page(void *arg, int rc, const struct rw_policy_referrers_page *pg)
{
    struct rw_policy_eval *e = arg;

    if (e->outstanding > 0 && !e->cancelled && !e->finished && pg != NULL) {
        rw_free_clear(&e->ref_url);
        rw_free_clear(&e->ref_link);
        e->ref_ctype[0] = '\0';
        if (pg->content_type != NULL && strlen(pg->content_type) < sizeof(e->ref_ctype)) {
            memcpy(e->ref_ctype, pg->content_type, strlen(pg->content_type) + 1);
        }
        if ((pg->url != NULL && (e->ref_url = rw_strdup(pg->url)) == NULL) ||
            (pg->link != NULL && (e->ref_link = rw_strdup(pg->link)) == NULL)) {
            rc = -ENOMEM;
        }
    }
    rw_eval_on_fetch(arg, rc, pg != NULL ? pg->status : 0, pg != NULL ? pg->body : NULL,
                     pg != NULL ? pg->len : 0);
}

/* Statuses after which go-containerregistry reads the sha256-<hex> tag instead (§1.9). */
static bool ref_no_api(int status, const char *ctype)
{
    if (status == 200) {
        return strcmp(ctype, RW_MT_OCI_INDEX) != 0;
    }
    return status == 400 || status == 404 || status == 405 || status == 406 || status == 501;
}

/* The fallback tag's answer: 404 or a non-index means no referrers (§1.9). */
static void on_ref_tag(struct rw_policy_eval *e)
{
    int rc;

    if (e->res_status == 404 && rw_eval_not_found_body(e->body.data, e->body.len)) {
        ref_listed(e);
        return;
    }
    if (e->res_status != 200) {
        rw_log_debug(POLICY, "eval: %s: upstream answered %d", e->ref_tag, e->res_status);
        ref_trouble(e, true, NULL);
        ref_listed(e);
        return;
    }
    rc = e->res_too_big ? RW_ETOOBIG : rw_referrers_parse(e->body.data, e->body.len, &e->refs);
    if (rc == -ENOMEM) {
        rw_eval_finish(e, rc, NULL);
        return;
    }
    if (rc != 0) {
        rw_log_debug(POLICY, "eval: %s is not a referrers index: no referrers", e->ref_tag);
    }
    ref_listed(e);
}

void rw_eval_on_ref_list(struct rw_policy_eval *e)
{
    int rc;

    if (e->res_rc == -ENOMEM) {
        rw_eval_finish(e, -ENOMEM, NULL);
        return;
    }
    if (e->res_rc != 0 || e->res_status == 0) {
        rw_log_debug(POLICY, "eval: referrers of %s: transport error: %s", e->digest,
                     rw_strerror(e->res_rc));
        ref_trouble(e, true, NULL);
        ref_listed(e);
        return;
    }
    if (e->ref_asked == REF_TAG) {
        on_ref_tag(e);
        return;
    }
    if (e->ref_asked == REF_FIRST && ref_no_api(e->res_status, e->ref_ctype)) {
        e->ref_step = REF_TAG; /* no referrers API: the tag schema */
        return;
    }
    if (e->res_status != 200 || strcmp(e->ref_ctype, RW_MT_OCI_INDEX) != 0) {
        rw_log_debug(POLICY, "eval: referrers of %s: upstream answered %d (%s)", e->digest,
                     e->res_status, e->ref_ctype);
        ref_trouble(e, true, NULL);
        ref_listed(e);
        return;
    }
    rc = e->res_too_big ? RW_ETOOBIG : rw_referrers_parse(e->body.data, e->body.len, &e->refs);
    if (rc == -ENOMEM) {
        rw_eval_finish(e, rc, NULL);
        return;
    }
    if (rc != 0) {
        ref_trouble(e, false, "malformed referrers index");
        ref_listed(e);
        return;
    }
    e->ref_listed_api = true;
    if (e->ref_link == NULL || e->refs.n >= RW_MAX_REFERRERS) {
        ref_listed(e);
        return;
    }
    rw_free_clear(&e->ref_next);
    rc = e->ref_url != NULL ? rw_referrers_next(e->ref_url, e->ref_link, &e->ref_next) : RW_EPROTO;
    if (rc == -ENOMEM) {
        rw_eval_finish(e, rc, NULL);
        return;
    }
    if (rc == -ENOENT) {
        ref_listed(e);
        return;
    }
    if (rc != 0) {
        /* invariant 4: a Link header never makes regwarden dial another host */
        rw_log_warn(POLICY, "eval: referrers of %s: Link rel=\"next\" leaves the upstream; not "
                            "followed", e->digest);
        ref_trouble(e, true, NULL);
        ref_listed(e);
        return;
    }
    if (e->ref_pages >= RW_MAX_REFERRERS_PAGES) {
        rw_log_debug(POLICY, "eval: referrers of %s: more than %u pages; the rest ignored",
                     e->digest, RW_MAX_REFERRERS_PAGES);
        ref_listed(e);
        return;
    }
    e->ref_step = REF_NEXT_PAGE;
}

static bool ref_wanted(const struct rw_policy_eval *e, enum rw_referrer_kind k)
{
    if (k == RW_REFERRER_BUNDLE) {
        return true; /* a signature or an attestation: only its content tells */
    }
    return k == (e->ref_att_phase ? RW_REFERRER_COSIGN_ATT : RW_REFERRER_COSIGN_SIG);
}

void rw_eval_on_ref_manifest(struct rw_policy_eval *e)
{
    struct rw_referrer_manifest rm;
    char got[72];
    int rc;

    if (e->res_rc == -ENOMEM) {
        rw_eval_finish(e, -ENOMEM, NULL);
        return;
    }
    if (e->res_rc != 0 || e->res_status == 0 || (e->res_status != 200 && e->res_status != 404)) {
        ref_trouble(e, true, NULL);
        return;
    }
    if (e->res_status == 404) {
        ref_trouble(e, false, "referrer manifest missing");
        return;
    }
    if (e->res_too_big) {
        ref_trouble(e, false, "referrer manifest over the size limit");
        return;
    }
    rw_sha256_digest(e->body.data, e->body.len, got);
    if (strcmp(got, e->ref_digest) != 0) {
        ref_trouble(e, false, "referrer manifest digest mismatch");
        return;
    }
    rc = rw_referrer_manifest_parse(e->body.data, e->body.len, &rm);
    if (rc == -ENOMEM) {
        rw_eval_finish(e, rc, NULL);
        return;
    }
    if (rc != 0) {
        ref_trouble(e, false, "malformed referrer manifest");
        return;
    }
    if (strcmp(rm.subject, e->digest) != 0) {
        /* the index is not authenticated: only the manifest's own subject binds it to us */
        ref_trouble(e, false, "referrer manifest names another subject");
        return;
    }
    if (!ref_wanted(e, rm.kind)) {
        ref_trouble(e, false, "referrer manifest is not of the artifact type its index names");
        return;
    }
    rw_cosign_sig_manifest_fini(&e->refm);
    rc = rw_cosign_sig_manifest_parse(e->body.data, e->body.len, &e->refm);
    if (rc == -ENOMEM) {
        rw_eval_finish(e, rc, NULL);
        return;
    }
    if (rc != 0) {
        ref_trouble(e, false, "malformed referrer manifest");
        return;
    }
    e->ref_kind = rm.kind;
    e->ref_layer = 0;
    e->state = EV_REF_LAYERS;
}

/* An envelope found through a referrer (a cosign .att-style layer, or a Sigstore bundle's DSSE):
 * the one attestation judgement (rw_eval_judge_envelope), then an allow when a signature already
 * passed and nothing is unmet. @return 0; -ENOMEM or another error (the caller fails closed). */
static int ref_judge_att(struct rw_policy_eval *e, const struct rw_dsse_envelope *env,
                         const char *blob)
{
    uint32_t before = e->satisfied;
    int rc = rw_eval_judge_envelope(e, env, blob);

    if (rc != 0) {
        return rc;
    }
    if (e->satisfied != before) {
        e->att_from_ref = true;
    }
    if (e->sig_passed && att_all(e)) {
        rw_eval_allow(e, e->sig_key);
    }
    return 0;
}

/* A messageSignature bundle: a signature when a listed key verifies it over its messageDigest
 * (SHA2_256 only) and that digest is this very image's. Verified first, then the binding. */
static int ref_bundle_message(struct rw_policy_eval *e, const struct rw_bundle *b,
                              const char *blob)
{
    char signs[72];

    if (rw_bundle_message_digest(b, signs) != 0) {
        rw_eval_bad(e, "Sigstore bundle message signature without a SHA2_256 message digest");
        return 0;
    }
    for (size_t k = 0; k < e->rule->n_signed_by; k++) {
        const struct rw_key_cfg *kc = rw_config_key(e->cfg, e->rule->signed_by[k]);
        int rc;

        if (kc == NULL || kc->vault_key != NULL) {
            continue; /* no prehashed verify over Vault key versions: never an allow */
        }
        rc = rw_pubkey_verify_digest(kc->pub, b->digest, b->sig, b->sig_len);
        if (rc == -ENOMEM) {
            return rc;
        }
        if (rc != 0) {
            continue;
        }
        if (strcmp(signs, e->digest) != 0) {
            rw_eval_bad_verified(e,
                                 "a Sigstore bundle verifies with key %s but signs another image "
                                 "(%s)",
                                 kc->name, signs);
            return 0;
        }
        rw_eval_evidence_add(e, blob);
        rw_eval_signature_ok(e, kc->name);
        return 0;
    }
    e->n_untrusted++;
    return 0;
}

/* A DSSE bundle over a sigstore.dev/cosign/sign/v1 statement (cosign v3 `cosign sign`). */
static int ref_bundle_dsse_sig(struct rw_policy_eval *e, const struct rw_bundle *b,
                               enum rw_attest_result res, const char *blob)
{
    for (size_t k = 0; k < e->rule->n_signed_by; k++) {
        const struct rw_key_cfg *kc = rw_config_key(e->cfg, e->rule->signed_by[k]);
        int rc;

        if (kc == NULL) {
            continue;
        }
        rc = kc->vault_key != NULL ? rw_dsse_verify_keyring(&b->env, e->cfg->keyring, kc->ring_id)
                                   : rw_dsse_verify(&b->env, kc->pub);
        if (rc == -ENOMEM) {
            return rc;
        }
        if (rc != 0) {
            continue;
        }
        if (res == RW_ATTEST_NO_SUBJECT) {
            rw_eval_bad_verified(e,
                                 "a Sigstore bundle verifies with key %s but its statement signs "
                                 "another image digest",
                                 kc->name);
            return 0;
        }
        if (res != RW_ATTEST_OK) {
            rw_eval_bad_verified(e,
                                 "a Sigstore bundle verifies with key %s but carries no in-toto "
                                 "statement",
                                 kc->name);
            return 0;
        }
        rw_eval_evidence_add(e, blob);
        rw_eval_signature_ok(e, kc->name);
        return 0;
    }
    e->n_untrusted++;
    return 0;
}

/* One Sigstore bundle layer (already digest-checked): a signature or an attestation. */
static int ref_bundle(struct rw_policy_eval *e, const char *blob)
{
    struct rw_bundle *b = rw_calloc(1, sizeof(*b));
    enum rw_attest_result res;
    char pt[128];
    int rc;

    if (b == NULL) {
        return -ENOMEM;
    }
    rc = rw_bundle_parse(e->body.data, e->body.len, b);
    if (rc != 0) {
        if (rc != -ENOMEM) {
            ref_trouble(e, false, "malformed Sigstore bundle");
            rc = 0;
        }
        rw_free(b);
        return rc;
    }
    if (b->content == RW_BUNDLE_MESSAGE_SIGNATURE) {
        rc = e->ref_att_phase ? 0 : ref_bundle_message(e, b, blob);
        goto out;
    }
    /* routing only, on unverified bytes: a sign/v1 statement is a signature, anything else is
     * judged as an attestation; both verify the envelope before they believe it */
    res = RW_ATTEST_MALFORMED;
    if (b->env.payload_type_len == strlen(RW_DSSE_INTOTO_TYPE) &&
        memcmp(b->env.payload_type, RW_DSSE_INTOTO_TYPE, b->env.payload_type_len) == 0) {
        rc = rw_attest_statement_check(b->env.payload, b->env.payload_len, e->digest,
                                       RW_COSIGN_SIGN_PREDICATE, &res, pt, sizeof(pt));
        if (rc != 0) {
            goto out;
        }
    }
    if (res == RW_ATTEST_OK || res == RW_ATTEST_NO_SUBJECT) {
        if (!e->ref_att_phase) {
            rc = ref_bundle_dsse_sig(e, b, res, blob);
        }
    } else if (e->rule->n_attestations > 0) {
        rc = ref_judge_att(e, &b->env, blob); /* cosign attest --new-bundle-format */
    } else if (res == RW_ATTEST_MALFORMED && !e->ref_att_phase) {
        rc = ref_bundle_dsse_sig(e, b, res, blob); /* says whether a listed key signed it */
    }
out:
    rw_bundle_fini(b);
    rw_free(b);
    return rc;
}

/* A DSSE envelope layer of a cosign attestation referrer (the .att layout). */
static int ref_envelope(struct rw_policy_eval *e, const char *blob)
{
    struct rw_dsse_envelope env;
    int rc;

    memset(&env, 0, sizeof(env));
    rc = rw_dsse_envelope_parse(e->body.data, e->body.len, &env);
    if (rc == -ENOMEM) {
        return rc;
    }
    if (rc != 0) {
        rw_eval_att_problem(e, 2, "malformed DSSE envelope in a referrer");
        return 0;
    }
    rc = ref_judge_att(e, &env, blob);
    rw_dsse_envelope_fini(&env);
    return rc;
}

void rw_eval_on_ref_layer(struct rw_policy_eval *e)
{
    const struct rw_cosign_sig_layer *l;
    char got[72];
    int rc;

    if (e->ref_kind == RW_REFERRER_COSIGN_SIG) {
        rw_eval_on_payload(e); /* the same checks as a .sig layer */
        return;
    }
    l = &e->refm.layers[e->ref_layer];
    if (e->res_rc == -ENOMEM) {
        rw_eval_finish(e, -ENOMEM, NULL);
        return;
    }
    if (e->res_rc != 0 || e->res_status == 0 || (e->res_status != 200 && e->res_status != 404)) {
        ref_trouble(e, true, NULL);
        goto next;
    }
    if (e->res_status == 404) {
        ref_trouble(e, false, "referrer layer blob missing");
        goto next;
    }
    if (e->res_too_big) {
        ref_trouble(e, false, "referrer layer over the size limit");
        goto next;
    }
    rw_sha256_digest(e->body.data, e->body.len, got);
    if (strcmp(got, l->digest) != 0) {
        ref_trouble(e, false, "referrer layer digest mismatch");
        goto next;
    }
    rc = e->ref_kind == RW_REFERRER_BUNDLE ? ref_bundle(e, l->digest) : ref_envelope(e, l->digest);
    if (rc != 0) {
        rw_eval_finish(e, rc, NULL);
        return;
    }
    if (e->finished || e->state != EV_REF_LAYERS) {
        return; /* allowed, or a signature passed and the attestations come next */
    }
next:
    e->ref_layer++;
}

/* A fetch op that failed without calling back (and by contract will not): a transport error. */
static void ref_issued(struct rw_policy_eval *e, int rc)
{
    if (rc != 0 && e->outstanding > 0 && !e->have_result) {
        e->outstanding--;
        e->have_result = true;
        e->res_rc = rc < 0 ? rc : RW_EUPSTREAM;
        e->res_status = 0;
        e->res_too_big = false;
        rw_buf_reset(&e->body);
    }
}

/* The next referrer manifest of this phase (bounded), or NULL when the scan is over. */
static const struct rw_referrer *ref_next_desc(struct rw_policy_eval *e)
{
    for (; e->ref_i < e->refs.n; e->ref_i++) {
        const struct rw_referrer *d = &e->refs.v[e->ref_i];

        if (e->ref_examined[e->ref_i] || !ref_wanted(e, rw_referrer_kind_of(d->artifact_type))) {
            continue;
        }
        if (e->n_ref_fetched >= RW_MAX_REFERRER_ARTIFACTS) {
            rw_log_debug(POLICY, "eval: %s: more than %u referrer manifests; the rest ignored",
                         e->digest, RW_MAX_REFERRER_ARTIFACTS);
            return NULL;
        }
        e->ref_examined[e->ref_i] = true;
        if (strncmp(d->digest, "sha256:", 7) != 0 || d->size > RW_MAX_SIG_MANIFEST_BYTES) {
            ref_trouble(e, false, "referrer manifest digest algorithm or size not supported");
            continue;
        }
        e->ref_i++;
        return d;
    }
    return NULL;
}

void rw_eval_ref_issue(struct rw_policy_eval *e)
{
    const struct rw_cosign_sig_layer *l;
    int rc;

    if (e->state == EV_REF_LIST) {
        if (e->ref_step != REF_FIRST && e->ref_step != REF_NEXT_PAGE && e->ref_step != REF_TAG) {
            rw_eval_finish(e, RW_EINTERNAL, NULL); /* no result and nothing outstanding */
            return;
        }
        e->ref_asked = e->ref_step;
        e->ref_step = REF_WAIT;
        e->cur_max = RW_MAX_REFERRERS_PAGE_BYTES;
        e->outstanding++;
        if (e->ref_asked == REF_TAG) {
            rc = e->ops->fetch_manifest(e->io, e->ref_tag, e->cur_max, rw_eval_on_fetch, e);
        } else {
            e->ref_pages++;
            rc = e->ops->fetch_referrers(e->io, e->digest, NULL,
                                         e->ref_asked == REF_NEXT_PAGE ? e->ref_next : NULL,
                                         e->cur_max, on_ref_page, e);
        }
        ref_issued(e, rc);
        return;
    }
    if (e->state == EV_REF_MANIFEST) {
        const struct rw_referrer *d = ref_next_desc(e);

        if (d == NULL) {
            if (e->ref_att_phase) {
                rw_eval_att_conclude(e);
            } else {
                rw_eval_conclude(e);
            }
            return;
        }
        e->n_ref_fetched++;
        snprintf(e->ref_digest, sizeof(e->ref_digest), "%s", d->digest);
        e->cur_max = RW_MAX_SIG_MANIFEST_BYTES;
        e->outstanding++;
        rc = e->ops->fetch_manifest(e->io, e->ref_digest, e->cur_max, rw_eval_on_fetch, e);
        ref_issued(e, rc);
        return;
    }
    for (;;) {
        if (e->ref_layer >= e->refm.n_layers || e->ref_layer >= RW_MAX_REFERRER_LAYERS) {
            rw_cosign_sig_manifest_fini(&e->refm);
            e->state = EV_REF_MANIFEST;
            return;
        }
        l = &e->refm.layers[e->ref_layer];
        if (e->ref_kind == RW_REFERRER_COSIGN_SIG) {
            if (rw_eval_sig_layer_ok(e, l)) {
                e->cur_max = RW_MAX_PAYLOAD_BYTES;
                break;
            }
        } else if (e->ref_kind == RW_REFERRER_COSIGN_ATT
                       ? strcmp(l->media_type, RW_MT_DSSE_ENVELOPE) != 0
                       : !rw_bundle_media_type_ok(l->media_type)) {
            rw_log_debug(POLICY, "eval: referrer %s: layer of type %.80s skipped", e->ref_digest,
                         l->media_type);
        } else if (l->size > RW_MAX_ENVELOPE_BYTES) {
            ref_trouble(e, false, "referrer layer over the size limit");
        } else if (strncmp(l->digest, "sha256:", 7) != 0) {
            ref_trouble(e, false, "referrer layer digest algorithm not supported");
        } else {
            e->cur_max = RW_MAX_ENVELOPE_BYTES;
            break;
        }
        e->ref_layer++;
    }
    e->outstanding++;
    rc = e->ops->fetch_blob(e->io, l->digest, e->cur_max, rw_eval_on_fetch, e);
    ref_issued(e, rc);
}
