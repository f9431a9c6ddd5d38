/* SPDX-License-Identifier: MIT */
/* Fuzz target: JWTSVIDResponse protobuf decoding (Workload API reply bodies). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rw/identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char id[RW_ID_MAX_SPIFFE_ID + 1];
    struct rw_secret s = {0};

    if (rw_id_pb_jwtsvid_response(data, size, id, sizeof(id), &s) == 0) {
        if (rw_secret_empty(&s) || strlen(rw_secret_str(&s)) != s.len) {
            __builtin_trap();
        }
    }
    rw_secret_clear(&s);
    return 0;
}
