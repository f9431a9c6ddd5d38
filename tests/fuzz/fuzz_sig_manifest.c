/* SPDX-License-Identifier: MIT */
/* Fuzz target: cosign .sig manifest parsing, and building on top of it (read-modify-write). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rw/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PD "sha256:1111111111111111111111111111111111111111111111111111111111111111"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rw_cosign_sig_manifest m = {0};
    struct rw_buf cfg;
    struct rw_buf man;

    if (rw_cosign_sig_manifest_parse(data, size, &m) == 0) {
        if (m.n_layers > RW_MAX_SIG_LAYERS) {
            __builtin_trap();
        }
        for (size_t i = 0; i < m.n_layers; i++) {
            if (!rw_oci_digest_valid(m.layers[i].digest, strlen(m.layers[i].digest)) ||
                m.layers[i].sig_len > sizeof(m.layers[i].sig)) {
                __builtin_trap();
            }
        }
        rw_cosign_sig_manifest_fini(&m);
    }
    rw_buf_init(&cfg, 0);
    rw_buf_init(&man, 0);
    if (rw_cosign_sig_manifest_build(data, size, PD, 10, "aGVsbG8=", NULL, 0, &cfg, &man) == 0) {
        /* what we build, we can read back */
        if (rw_cosign_sig_manifest_parse(man.data, man.len, &m) != 0) {
            __builtin_trap();
        }
        rw_cosign_sig_manifest_fini(&m);
    }
    rw_buf_fini(&cfg);
    rw_buf_fini(&man);
    return 0;
}
