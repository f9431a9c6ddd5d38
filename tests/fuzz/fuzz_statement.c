/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: in-toto statement checks (rw_attest_statement_check, rw_attest_statement_judge)
 * and the condition engine (rw_cond_eval) over fuzzed JSON, with a fixed set of requirements
 * whose conditions use every check, array indexes and wildcards. Invariants: results in range,
 * messages NUL-terminated, printable ASCII and within their buffers.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rw/mem.h"
#include "rw/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define D1 "sha256:658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24"

struct spec {
    const char *path;
    enum rw_cond_op op;
    const char *values[3]; /* "s:", "n:", "b:" prefixed */
};

static const struct spec specs[] = {
    {"runDetails.builder.id", RW_COND_MATCHES, {"s:https://*"}},
    {"buildDefinition.externalParameters.repository", RW_COND_IN, {"s:team/app", "n:3", "b:true"}},
    {"buildDefinition.resolvedDependencies.0.uri", RW_COND_EQUALS, {"s:git+https://x"}},
    {"scanner.result.Results.*.Vulnerabilities.*.Severity", RW_COND_IN, {"s:LOW", "s:MEDIUM"}},
    {"scanner.result.summary.critical", RW_COND_AT_MOST, {"n:0"}},
    {"*.*.*", RW_COND_AT_MOST, {"n:1.5"}},
    {"subject.*.digest.sha256", RW_COND_MATCHES, {"s:[0-9a-f]*"}},
};
#define N_SPECS (sizeof(specs) / sizeof(specs[0]))

static struct rw_cond conds[N_SPECS];
static struct rw_att_req reqs[3];

static void setup(void)
{
    for (size_t i = 0; i < N_SPECS; i++) {
        conds[i].path = rw_strdup(specs[i].path);
        conds[i].op = specs[i].op;
        conds[i].values = rw_calloc(3, sizeof(*conds[i].values));
        if (conds[i].path == NULL || conds[i].values == NULL ||
            rw_cond_path_check(conds[i].path, NULL, 0) != 0) {
            __builtin_trap();
        }
        for (size_t k = 0; k < 3 && specs[i].values[k] != NULL; k++) {
            const char *v = specs[i].values[k];

            if (rw_cond_value_parse(v + 2, strlen(v + 2), v[0] != 's', &conds[i].values[k]) != 0) {
                __builtin_trap();
            }
            conds[i].n_values = k + 1;
        }
    }
    reqs[0].predicate_type = (char *)RW_SLSA_PROVENANCE_V1;
    reqs[0].conds = conds;
    reqs[0].n_conds = 3;
    reqs[1].predicate_type = (char *)"https://cosign.sigstore.dev/attestation/vuln/v1";
    reqs[1].conds = conds + 3;
    reqs[1].n_conds = 2;
    reqs[2].predicate_type = (char *)"https://spdx.dev/Document";
}

static void check_text(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);

    if (n == cap) {
        __builtin_trap();
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f) {
            __builtin_trap();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    const struct rw_att_req *rp[3] = {&reqs[0], &reqs[1], &reqs[2]};
    struct rw_attest_judgement j[3];
    enum rw_attest_result res;
    char pt[64];
    char why[160];
    size_t failed = 0;

    if (!ready) {
        setup();
        ready = true;
    }
    if (rw_attest_statement_check(data, size, D1, RW_SLSA_PROVENANCE_V1, &res, pt, sizeof(pt)) ==
        0) {
        if (res >= RW_ATTEST_RESULT_COUNT) {
            __builtin_trap();
        }
        check_text(pt, sizeof(pt));
    }
    if (rw_attest_statement_judge(data, size, D1, rp, 3, j, pt, sizeof(pt)) == 0) {
        check_text(pt, sizeof(pt));
        for (size_t k = 0; k < 3; k++) {
            if (j[k].result >= RW_ATTEST_RESULT_COUNT ||
                (j[k].result == RW_ATTEST_CONDITION) != (j[k].failed != 0) ||
                j[k].failed > reqs[k].n_conds) {
                __builtin_trap();
            }
            check_text(j[k].why, sizeof(j[k].why));
        }
    }
    /* the raw input as a predicate, every condition */
    if (rw_cond_eval(data, size, conds, N_SPECS, &failed, why, sizeof(why)) == 0) {
        if (failed > N_SPECS) {
            __builtin_trap();
        }
        check_text(why, sizeof(why));
    }
    return 0;
}
