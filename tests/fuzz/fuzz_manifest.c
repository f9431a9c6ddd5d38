/* SPDX-License-Identifier: MIT */
/* Fuzz target: image manifest / index parsing, with and without a Content-Type. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rw/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rw_manifest_info m;

    if (rw_manifest_parse(data, size, NULL, &m) == 0) {
        for (size_t i = 0; i < m.n_children; i++) {
            if (!rw_oci_digest_valid(m.children[i], strlen(m.children[i]))) {
                __builtin_trap(); /* C26: every child digest handed out is valid */
            }
        }
        rw_manifest_info_fini(&m);
    }
    if (rw_manifest_parse(data, size, RW_MT_OCI_INDEX, &m) == 0) {
        rw_manifest_info_fini(&m);
    }
    return 0;
}
