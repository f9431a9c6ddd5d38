/* SPDX-License-Identifier: MIT */
/* Fuzz target: Sigstore bundle parsing and verification (DSSE and messageSignature). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rw/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DA "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"

/* vector 9's key (ECDSA P-256): a real verify on every input that parses */
static const char pub_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAExRRST79+PsrRBnGAI4cMu6Omz2Jh\n"
    "fwlMW+gIutNKVRaMyS4rQKvgngc5p8UbLj55pVHhIoAxi/SRgURZI0J3Xw==\n"
    "-----END PUBLIC KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rw_pubkey *pk;
    struct rw_bundle b;
    enum rw_attest_result res;
    char pt[64];

    if (pk == NULL && rw_pubkey_load_pem(pub_pem, sizeof(pub_pem) - 1, &pk) != 0) {
        __builtin_trap();
    }
    if (rw_bundle_parse(data, size, &b) != 0) {
        return 0;
    }
    if (b.version < 1 || b.version > 3 || b.sig_len > sizeof(b.sig) ||
        b.digest_len > sizeof(b.digest)) {
        __builtin_trap();
    }
    if (b.content == RW_BUNDLE_DSSE) {
        (void)rw_dsse_verify(&b.env, pk);
        (void)rw_attest_statement_check(b.env.payload, b.env.payload_len, DA,
                                        RW_COSIGN_SIGN_PREDICATE, &res, pt, sizeof(pt));
    } else if (b.content == RW_BUNDLE_MESSAGE_SIGNATURE) {
        (void)rw_bundle_verify_message(&b, DA, pk);
    } else {
        __builtin_trap();
    }
    rw_bundle_fini(&b);
    return 0;
}
