/* SPDX-License-Identifier: MIT */
/* Fuzz target: DSSE envelope parsing, PAE + verification, and in-toto statement checks. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rw/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define D1 "sha256:658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24"

/* vector 6's key (ECDSA P-256): a real verify on every input that parses */
static const char pub_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAESF79b1ToAtoakhBOHEU5UjnEiihV\n"
    "gZPFIp557+TOoDxf14FODWc+sIPETk0OgCplAk60doVXbCv33IU4rXZHrg==\n"
    "-----END PUBLIC KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rw_pubkey *pk;
    struct rw_dsse_envelope env;
    enum rw_attest_result res;
    char pt[64];

    if (pk == NULL && rw_pubkey_load_pem(pub_pem, sizeof(pub_pem) - 1, &pk) != 0) {
        __builtin_trap();
    }
    memset(&env, 0, sizeof(env));
    if (rw_dsse_envelope_parse(data, size, &env) == 0) {
        if (env.n_sigs > RW_MAX_DSSE_SIGS || env.payload_type_len > RW_MAX_DSSE_TYPE_LEN ||
            env.payload_len > size) {
            __builtin_trap();
        }
        (void)rw_dsse_verify(&env, pk);
        if (rw_attest_statement_check(env.payload, env.payload_len, D1,
                                      "https://slsa.dev/provenance/v0.2", &res, pt,
                                      sizeof(pt)) == 0 &&
            res >= RW_ATTEST_RESULT_COUNT) {
            __builtin_trap();
        }
        rw_dsse_envelope_fini(&env);
    }
    /* the raw bytes as a statement too */
    (void)rw_attest_statement_check(data, size, D1, RW_SLSA_PROVENANCE_V1, &res, NULL, 0);
    return 0;
}
