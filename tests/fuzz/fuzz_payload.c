/* SPDX-License-Identifier: MIT */
/* Fuzz target: cosign simple-signing payload parsing; an accepted payload rebuilds and re-parses. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rw/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rw_cosign_payload p;
    struct rw_cosign_payload q;
    struct rw_buf b;

    if (rw_cosign_payload_parse(data, size, &p) != 0) {
        return 0;
    }
    if (!rw_oci_digest_valid(p.digest, strlen(p.digest))) {
        __builtin_trap();
    }
    rw_buf_init(&b, 0);
    if (p.docker_ref[0] != '\0' && rw_cosign_payload_build(p.docker_ref, p.digest, &b) == 0) {
        if (rw_cosign_payload_parse(b.data, b.len, &q) != 0 || strcmp(q.digest, p.digest) != 0) {
            __builtin_trap();
        }
    }
    rw_buf_fini(&b);
    return 0;
}
