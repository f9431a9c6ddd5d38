/* SPDX-License-Identifier: MIT */
/* Fuzz target: every Vault reply parser (login/renew auth, lookup-self, transit sign, read key,
 * errors) and the JWT claim reader over the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rw/identity.h"
#include "rw/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rw_secret t = {0};
    int64_t n64 = 0;
    bool ren = false;
    uint8_t sig[RW_MAX_SIG_BYTES];
    size_t siglen = 0;
    int ver = 0;
    char errs[256];
    struct rw_pubkey *keys[RW_ID_VAULT_MAX_VERSIONS] = {0};
    int versions[RW_ID_VAULT_MAX_VERSIONS];
    size_t nk = 0;
    char type[32];
    char sub[128];

    rw_id_vault_errors(data, size, errs, sizeof(errs));
    rw_id_vault_parse_auth(data, size, &t, &n64, &ren);
    rw_secret_clear(&t);
    rw_id_vault_parse_lookup(data, size, &n64, &ren);
    if (rw_id_vault_parse_sign(data, size, sig, sizeof(sig), &siglen, &ver) == 0 &&
        (siglen == 0 || siglen > sizeof(sig) || ver < 1)) {
        __builtin_trap();
    }
    if (rw_id_vault_parse_key(data, size, keys, versions, RW_ID_VAULT_MAX_VERSIONS, &nk, type,
                              sizeof(type)) == 0) {
        for (size_t i = 0; i < nk; i++) {
            rw_pubkey_free(&keys[i]);
        }
    }
    rw_id_jwt_claims((const char *)data, size, &n64, sub, sizeof(sub));
    return 0;
}
