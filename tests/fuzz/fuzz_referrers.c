/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: referrers indexes (two pages into one accumulator, bounds checked), referrer
 * manifests, and the Link rel="next" resolver (whatever it returns must stay on the origin).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "rw/mem.h"
#include "rw/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BASE "http://reg.example:5000/v2/team/app/referrers/sha256:aa"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rw_referrers acc = {0};
    struct rw_referrer_manifest m;
    char link[2048];
    char *next = NULL;

    if (rw_referrers_parse(data, size, &acc) == 0) {
        (void)rw_referrers_parse(data, size, &acc);
        if (acc.n > RW_MAX_REFERRERS) {
            __builtin_trap();
        }
        for (size_t i = 0; i < acc.n; i++) {
            if (!rw_oci_digest_valid(acc.v[i].digest, strlen(acc.v[i].digest)) ||
                acc.v[i].n_ann > RW_MAX_REFERRER_ANNOTATIONS) {
                __builtin_trap();
            }
            (void)rw_referrer_kind_of(acc.v[i].artifact_type);
        }
    }
    rw_referrers_fini(&acc);
    if (rw_referrer_manifest_parse(data, size, &m) == 0 && m.kind >= RW_REFERRER_KIND_COUNT) {
        __builtin_trap();
    }
    /* the bytes as a Link header value */
    if (size < sizeof(link)) {
        memcpy(link, data, size);
        link[size] = '\0';
        if (rw_referrers_next(BASE, link, &next) == 0) {
            if (strncasecmp(next, "http://reg.example:5000", 23) != 0) {
                __builtin_trap();
            }
            if (next[23] != '/' && next[23] != '?' && next[23] != '#' && next[23] != '\0') {
                __builtin_trap(); /* the authority must end where the base's does */
            }
            rw_free(next);
        }
    }
    return 0;
}
