/* SPDX-License-Identifier: MIT */
/* Shared vocabulary: a pull verdict and the contract's deny reasons (R4, R7). */
#ifndef RW_VERDICT_T_H
#define RW_VERDICT_T_H

#include <stdbool.h>
#include <stdint.h>

/* The contract's reason strings (DESIGN.md "Deny log"); text lives in rw_reason_str() only. */
enum rw_reason {
    RW_REASON_NONE = 0,
    RW_REASON_NO_RULE,
    RW_REASON_NO_SIGNATURE,
    RW_REASON_BAD_SIGNATURE,
    RW_REASON_UNTRUSTED_KEY,
    RW_REASON_MISSING_ATTESTATION,
    RW_REASON_DIGEST_MISMATCH,
    RW_REASON_UPSTREAM_ERROR,
    RW_REASON_INVALID_MANIFEST,
    RW_REASON_UNKNOWN_UPSTREAM,
    RW_REASON_PUSH_NOT_ALLOWED,
    RW_REASON_UNREFERENCED_BLOB,
    RW_REASON_COUNT
};

/* Evidence a verdict rests on: the signature and each required attestation (issue 7 item 5). */
#define RW_MAX_EVIDENCE 17u /* one signature + RW_MAX_ATTESTATION_TYPES attestations */

struct rw_verdict {
    bool allow;
    enum rw_reason reason; /* RW_REASON_NONE when allowed */
    char detail[512];      /* one human sentence, no secrets (RW_DENYLOG_DETAIL_MAX in the log) */
    char key_id[64];       /* name of the key that verified (allow) */
    int64_t time;          /* unix seconds the verdict was reached */
    int64_t expires;       /* unix seconds; 0 = do not cache */
    /* allow: digests ("sha256:<hex>") of the blobs whose verified signatures made the verdict
     * (simple-signing payload, DSSE envelope, Sigstore bundle), in the order they were found */
    unsigned n_evidence;
    char evidence[RW_MAX_EVIDENCE][72];
};

#endif
