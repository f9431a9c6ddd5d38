/* SPDX-License-Identifier: MIT */
/*
 * in-toto Statements (PROTOCOLS.md §6.2) with the SLSA Provenance v1 predicate (§6.3): the
 * statement regwarden writes for a push, and the checks the pull side makes on a statement it
 * found in a verified DSSE envelope (type, predicateType, a subject binding the served digest).
 * Matching is by digest only (the spec: `name` is informative). No crypto and no I/O here.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "jsonutil.h"
#include "rw/err.h"
#include "rw/mem.h"
#include "rw/policy.h"

static const char *const result_names[RW_ATTEST_RESULT_COUNT] = {
    "ok", "not an in-toto statement", "other predicate type", "no subject binds the digest"};

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

int rw_attest_statement_check(const uint8_t *p, size_t n, const char *digest,
                              const char *predicate_type, enum rw_attest_result *result,
                              char *predicate_out, size_t cap)
{
    json_t *root = NULL;
    const json_t *type;
    const json_t *pt;
    const json_t *subjects;
    const char *hex;
    int rc;

    if (predicate_out != NULL && cap > 0) {
        predicate_out[0] = '\0';
    }
    if (p == NULL || digest == NULL || predicate_type == NULL || result == NULL ||
        strncmp(digest, "sha256:", 7) != 0) {
        return RW_EINVAL;
    }
    hex = digest + 7;
    *result = RW_ATTEST_MALFORMED;
    rc = rw_policy_json_load(p, n, RW_MAX_ENVELOPE_BYTES, &root);
    if (rc != 0) {
        return rc == -ENOMEM ? -ENOMEM : 0;
    }
    type = json_object_get(root, "_type");
    pt = json_object_get(root, "predicateType");
    subjects = json_object_get(root, "subject");
    if (!json_is_object(root) || !json_is_string(type) || !json_is_string(pt) ||
        !json_is_array(subjects)) {
        goto out;
    }
    if (strcmp(json_string_value(type), RW_INTOTO_STATEMENT_V1) != 0 &&
        strcmp(json_string_value(type), RW_INTOTO_STATEMENT_V01) != 0) {
        goto out;
    }
    if (predicate_out != NULL && cap > 0) {
        snprintf(predicate_out, cap, "%s", json_string_value(pt));
    }
    if (strcmp(json_string_value(pt), predicate_type) != 0) {
        *result = RW_ATTEST_WRONG_TYPE;
        goto out;
    }
    *result = RW_ATTEST_NO_SUBJECT;
    for (size_t i = 0; i < json_array_size(subjects); i++) {
        const json_t *sha = json_object_get(json_object_get(json_array_get(subjects, i), "digest"),
                                            "sha256");

        /* lowercase hex, exact: the served digest is lowercase (rw_oci_digest_valid) */
        if (json_is_string(sha) && json_string_length(sha) == strlen(hex) &&
            strcmp(json_string_value(sha), hex) == 0) {
            *result = RW_ATTEST_OK;
            break;
        }
    }
out:
    json_decref(root);
    return 0;
}
