/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: cache record and link decoding (R21). Bytes read back from the LMDB map are
 * outside input after a crash or a foreign write; decode must reject or round-trip them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rw/cache.h"

#include "verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rw_verdict v;
    uint8_t rec[RW_CACHE_RECORD_MAX];
    char parent[RW_MAX_DIGEST_LEN + 1];
    const uint8_t *d = NULL;
    int64_t expires = 0;
    size_t len = 0;
    size_t dlen = 0;

    if (rw_cache_record_decode(data, size, &v) == 0) {
        /* whatever decodes re-encodes to the same bytes: one encoding per verdict */
        if (rw_cache_record_encode(&v, rec, &len) != 0 || len != size ||
            memcmp(rec, data, size) != 0) {
            abort();
        }
    }
    if (rw_cache_link_decode(data, size, parent, &expires) == 0) {
        if (strlen(parent) == 0 || expires <= 0) {
            abort();
        }
    }
    if (rw_cache_key_digest(data, size, &d, &dlen) == 0) {
        if (d < data || d + dlen != data + size) {
            abort();
        }
    }
    return 0;
}
