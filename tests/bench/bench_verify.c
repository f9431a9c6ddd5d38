/* SPDX-License-Identifier: MIT */
/*
 * Cold verification throughput (issue 5 benchmark): the whole pure-policy path of one pull
 * decision with no cache: parse the .sig manifest, check the payload blob's digest, parse the
 * payload, verify the ECDSA P-256 signature with the rule's key. Evidence comes from memory
 * (synchronous fetch ops), so this counts CPU per decision on one core, not I/O.
 * Usage: bench_verify CONFIG REPO_DIGEST_SIG_DIR  (made by tests/bench/run); prints decisions/s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rw/buf.h"
#include "rw/policy.h"

struct mem_io {
    struct rw_buf sigman;
    struct rw_buf payload;
    char payload_digest[72];
};

static int fetch_manifest(void *vio, const char *ref, size_t max, rw_policy_fetch_cb *cb, void *arg)
{
    struct mem_io *io = vio;

    (void)ref;
    (void)max;
    cb(arg, 0, 200, io->sigman.data, io->sigman.len);
    return 0;
}

static int fetch_blob(void *vio, const char *digest, size_t max, rw_policy_fetch_cb *cb, void *arg)
{
    struct mem_io *io = vio;

    (void)max;
    if (strcmp(digest, io->payload_digest) == 0) {
        cb(arg, 0, 200, io->payload.data, io->payload.len);
    } else {
        cb(arg, 0, 404, NULL, 0);
    }
    return 0;
}

static const struct rw_policy_fetch_ops ops = {fetch_manifest, fetch_blob, NULL}; /* no referrers */

struct sig_out {
    struct rw_buf b64;
};

static void on_signed(void *arg, int rc, const uint8_t *sig, size_t len, const char *kv)
{
    struct sig_out *o = arg;

    (void)kv;
    if (rc == 0) {
        rw_base64_encode(sig, len, &o->b64);
    }
}

static int allowed;

static void on_done(void *arg, int rc, const struct rw_verdict *v)
{
    (void)arg;
    allowed += rc == 0 && v != NULL && v->allow;
}

int main(int argc, char **argv)
{
    struct rw_config *cfg = NULL;
    struct mem_io io;
    struct sig_out so;
    struct rw_buf cfgblob;
    const char *digest = "sha256:65855d7eaf01d6d664dfafe2cd651fd2cae08a09f7b9e259d960e7b5a4cdd925";
    const struct rw_pull_rule *rule;
    char err[512];
    struct timespec t0, t1;
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
    double secs;

    if (argc < 2 || rw_config_load(argv[1], &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "usage: bench_verify CONFIG [N] (%s)\n", argc < 2 ? "no config" : err);
        return 2;
    }
    rule = rw_policy_pull_rule(cfg, "registry.local", "team/app");
    if (rule == NULL || rule->allow || cfg->signer == NULL) {
        fprintf(stderr, "config needs a signer and a require rule for registry.local/team/app\n");
        return 2;
    }
    rw_buf_init(&io.sigman, 0);
    rw_buf_init(&io.payload, 0);
    rw_buf_init(&so.b64, 0);
    rw_buf_init(&cfgblob, 0);
    rw_cosign_payload_build("registry.local/team/app", digest, &io.payload);
    rw_sha256_digest(io.payload.data, io.payload.len, io.payload_digest);
    rw_signer_sign(cfg->signer, io.payload.data, io.payload.len, on_signed, &so);
    if (so.b64.len == 0 ||
        rw_cosign_sig_manifest_build(NULL, 0, io.payload_digest, io.payload.len,
                                     (const char *)so.b64.data, NULL, 0, &cfgblob, &io.sigman) != 0) {
        fprintf(stderr, "cannot build the signature\n");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        struct rw_policy_eval *e = NULL;

        rw_policy_eval_start(cfg, rule, digest, &ops, &io, on_done, NULL, &e);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("cold verifications: %ld in %.3f s = %.0f /s on one core (%d allowed)\n", n, secs,
           (double)n / secs, allowed);
    rw_buf_fini(&io.sigman);
    rw_buf_fini(&io.payload);
    rw_buf_fini(&so.b64);
    rw_buf_fini(&cfgblob);
    rw_config_unref(&cfg);
    return allowed == n ? 0 : 1;
}
