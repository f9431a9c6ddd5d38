/* SPDX-License-Identifier: MIT */
/*
 * in-toto Statements (PROTOCOLS.md §6.2) with the SLSA Provenance v1 predicate (§6.3): the
 * statement regwarden writes for a push (builder id and build type from the config or the
 * defaults), and the checks the pull side makes on a statement it found in a verified DSSE
 * envelope: type, predicateType, a subject binding the served digest (rw_attest_statement_check)
 * and, per attestation requirement, its conditions on the predicate (rw_attest_statement_judge,
 * conditions.c). Matching is by digest only (the spec: `name` is informative). No crypto and no
 * I/O here.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "conditions.h"
#include "jsonutil.h"
#include "rw/err.h"
#include "rw/mem.h"
#include "rw/policy.h"

static const char *const result_names[RW_ATTEST_RESULT_COUNT] = {
    "ok", "not an in-toto statement", "other predicate type", "no subject binds the digest",
    "a condition does not hold"};

const char *rw_attest_result_str(enum rw_attest_result r)
{
    return (unsigned)r < RW_ATTEST_RESULT_COUNT ? result_names[r] : "?";
}

/* "YYYY-MM-DDThh:mm:ssZ" (SLSA timestamps) */
static void utc(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(out, 32, "1970-01-01T00:00:00Z");
    }
}

/* Serialise @p v compactly, keys in insertion order, and append it to @p out. */
static int dump_append(const json_t *v, struct rw_buf *out)
{
    size_t need = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *p;
    int rc;

    if (need == 0) {
        return -ENOMEM;
    }
    p = rw_malloc(need);
    if (p == NULL) {
        return -ENOMEM;
    }
    if (json_dumpb(v, p, need, JSON_COMPACT | JSON_PRESERVE_ORDER) != need) {
        rw_free(p);
        return RW_EINTERNAL;
    }
    rc = rw_buf_append(out, p, need);
    rw_free(p);
    return rc;
}

int rw_attest_statement_build(const struct rw_attest_params *p, struct rw_buf *out)
{
    json_t *st = NULL;
    json_t *ext = NULL;
    char started[32];
    char finished[32];
    int rc = -ENOMEM;

    if (p == NULL || out == NULL || p->subject_name == NULL || p->digest == NULL ||
        p->repository == NULL || p->reference == NULL || p->invocation_id == NULL ||
        strnlen(p->digest, 72) != 71 || strncmp(p->digest, "sha256:", 7) != 0 ||
        !rw_oci_digest_valid(p->digest, 71)) {
        return RW_EINVAL;
    }
    utc(p->started_on, started);
    utc(p->finished_on, finished);
    ext = json_pack("{s:s, s:s}", "repository", p->repository, "reference", p->reference);
    if (ext == NULL) {
        rc = RW_EINVAL; /* jansson refuses strings that are not UTF-8 */
        goto out;
    }
    if (p->pusher != NULL && json_object_set_new(ext, "pusher", json_string(p->pusher)) != 0) {
        rc = RW_EINVAL;
        goto out;
    }
    st = json_pack("{s:s, s:[{s:s, s:{s:s}}], s:s, s:{s:{s:s, s:O, s:{}, s:[]}, "
                   "s:{s:{s:s}, s:{s:s, s:s, s:s}}}}",
                   "_type", RW_INTOTO_STATEMENT_V1,
                   "subject", "name", p->subject_name, "digest", "sha256", p->digest + 7,
                   "predicateType", RW_SLSA_PROVENANCE_V1,
                   "predicate",
                   "buildDefinition", "buildType",
                   p->build_type != NULL ? p->build_type : RW_ATTEST_BUILD_TYPE,
                   "externalParameters", ext,
                   "internalParameters", "resolvedDependencies",
                   "runDetails", "builder", "id",
                   p->builder_id != NULL ? p->builder_id : RW_ATTEST_BUILDER_ID,
                   "metadata", "invocationId", p->invocation_id, "startedOn", started,
                   "finishedOn", finished);
    if (st == NULL) {
        rc = RW_EINVAL;
        goto out;
    }
    rc = dump_append(st, out);
out:
    json_decref(ext);
    json_decref(st);
    return rc;
}

/*
 * Parse a statement and find its parts: 1 when it is not an in-toto Statement (v1 or v0.1),
 * 0 with *root owned by the caller and *pt, *subjects borrowed from it, or a negative error.
 */
static int statement_load(const uint8_t *p, size_t n, json_t **root, const char **pt,
                          const json_t **subjects)
{
    const json_t *type;
    const json_t *ptv;
    int rc;

    rc = rw_policy_json_load(p, n, RW_MAX_ENVELOPE_BYTES, root);
    if (rc != 0) {
        return rc == -ENOMEM ? -ENOMEM : 1;
    }
    type = json_object_get(*root, "_type");
    ptv = json_object_get(*root, "predicateType");
    *subjects = json_object_get(*root, "subject");
    if (!json_is_object(*root) || !json_is_string(type) || !json_is_string(ptv) ||
        !json_is_array(*subjects) ||
        (strcmp(json_string_value(type), RW_INTOTO_STATEMENT_V1) != 0 &&
         strcmp(json_string_value(type), RW_INTOTO_STATEMENT_V01) != 0)) {
        json_decref(*root);
        *root = NULL;
        return 1;
    }
    *pt = json_string_value(ptv);
    return 0;
}

/* Does a subject carry digest.sha256 == @p hex? lowercase, exact: the served digest is lowercase
 * (rw_oci_digest_valid), and matching is by digest only (the spec: `name` is informative). */
static bool binds(const json_t *subjects, const char *hex)
{
    for (size_t i = 0; i < json_array_size(subjects); i++) {
        const json_t *sha = json_object_get(json_object_get(json_array_get(subjects, i), "digest"),
                                            "sha256");

        if (json_is_string(sha) && json_string_length(sha) == strlen(hex) &&
            strcmp(json_string_value(sha), hex) == 0) {
            return true;
        }
    }
    return false;
}

/* A predicateType for messages: printable ASCII only, truncated. */
static void predicate_copy(const char *pt, char *out, size_t cap)
{
    size_t i;

    if (out == NULL || cap == 0) {
        return;
    }
    for (i = 0; pt[i] != '\0' && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)pt[i];

        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[i] = '\0';
}

int rw_attest_statement_check(const uint8_t *p, size_t n, const char *digest,
                              const char *predicate_type, enum rw_attest_result *result,
                              char *predicate_out, size_t cap)
{
    json_t *root = NULL;
    const json_t *subjects = NULL;
    const char *pt = NULL;
    int rc;

    if (predicate_out != NULL && cap > 0) {
        predicate_out[0] = '\0';
    }
    if (p == NULL || digest == NULL || predicate_type == NULL || result == NULL ||
        strncmp(digest, "sha256:", 7) != 0) {
        return RW_EINVAL;
    }
    *result = RW_ATTEST_MALFORMED;
    rc = statement_load(p, n, &root, &pt, &subjects);
    if (rc != 0) {
        return rc < 0 ? rc : 0;
    }
    predicate_copy(pt, predicate_out, cap);
    if (strcmp(pt, predicate_type) != 0) {
        *result = RW_ATTEST_WRONG_TYPE;
    } else {
        *result = binds(subjects, digest + 7) ? RW_ATTEST_OK : RW_ATTEST_NO_SUBJECT;
    }
    json_decref(root);
    return 0;
}

int rw_attest_statement_judge(const uint8_t *p, size_t n, const char *digest,
                              const struct rw_att_req *const *reqs, size_t n_reqs,
                              struct rw_attest_judgement *out, char *predicate_out, size_t cap)
{
    json_t *root = NULL;
    const json_t *subjects = NULL;
    const json_t *predicate;
    const char *pt = NULL;
    bool bound;
    int rc;

    if (predicate_out != NULL && cap > 0) {
        predicate_out[0] = '\0';
    }
    if (p == NULL || digest == NULL || strncmp(digest, "sha256:", 7) != 0 ||
        (n_reqs > 0 && (reqs == NULL || out == NULL))) {
        return RW_EINVAL;
    }
    for (size_t k = 0; k < n_reqs; k++) {
        memset(&out[k], 0, sizeof(out[k]));
        out[k].result = RW_ATTEST_MALFORMED;
        if (reqs[k] == NULL || reqs[k]->predicate_type == NULL) {
            return RW_EINVAL;
        }
    }
    rc = statement_load(p, n, &root, &pt, &subjects);
    if (rc != 0) {
        return rc < 0 ? rc : 0;
    }
    predicate_copy(pt, predicate_out, cap);
    bound = binds(subjects, digest + 7);
    predicate = json_object_get(root, "predicate");
    for (size_t k = 0; rc == 0 && k < n_reqs; k++) {
        if (strcmp(pt, reqs[k]->predicate_type) != 0) {
            out[k].result = RW_ATTEST_WRONG_TYPE;
        } else if (!bound) {
            out[k].result = RW_ATTEST_NO_SUBJECT;
        } else {
            rc = rw_cond_eval_tree(predicate, reqs[k]->conds, reqs[k]->n_conds, &out[k].failed,
                                   out[k].why, sizeof(out[k].why));
            out[k].result = out[k].failed == 0 ? RW_ATTEST_OK : RW_ATTEST_CONDITION;
        }
    }
    json_decref(root);
    return rc;
}
