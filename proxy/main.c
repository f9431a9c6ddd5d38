/* SPDX-License-Identifier: MIT */
/* regwarden: subcommand dispatch (DESIGN.md "Commands"). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rw/log.h"
#include "rw/policy.h"
#include "rw_version.h"
#include "cmd.h"
#include "proxy.h"

static void usage(FILE *f)
{
    fprintf(f, "usage:\n"
               "  regwarden serve  -c FILE          run the proxy (SIGHUP reloads, SIGTERM drains)\n"
               "  regwarden check  -c FILE          validate config and policy (exit 0 ok, 2 invalid)\n"
               "  regwarden verify -c FILE REF      pull-side verdict for REF (exit 0 allow, 1 deny, 2 error)\n"
               "  regwarden denies -c FILE|--log FILE [--since DURATION] [--image PATTERN]\n"
               "                   [--reason REASON] [--top N] [--recent N] [--json] [--html FILE]\n"
               "                                    summarise the deny log (and its rotations)\n"
               "  regwarden cache  -c FILE stats|purge [--digest D]\n"
               "  regwarden version\n");
}

/* Parse "-c FILE" / "--config FILE" / "-c=FILE" anywhere; the rest stays in order. */
static const char *take_config(int *argc, char **argv)
{
    const char *cfg = NULL;
    int o = 1;

    for (int i = 1; i < *argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < *argc) {
            cfg = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            cfg = argv[i] + 9;
        } else {
            argv[o++] = argv[i];
        }
    }
    *argc = o;
    return cfg;
}

int main(int argc, char **argv)
{
    const char *cmd;
    const char *cfg;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    cmd = argv[1];
    argc--;
    argv++;
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("regwarden %s\n", RW_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    cfg = take_config(&argc, argv);
    if (strcmp(cmd, "serve") == 0) {
        if (cfg == NULL) {
            usage(stderr);
            return 2;
        }
        return rw_server_run(cfg);
    }
    if (strcmp(cmd, "check") == 0) {
        return rw_cmd_check(cfg);
    }
    if (strcmp(cmd, "verify") == 0) {
        if (cfg == NULL || argc != 2) {
            usage(stderr);
            return 2;
        }
        return rw_cmd_verify(cfg, argv[1]);
    }
    if (strcmp(cmd, "denies") == 0) {
        return rw_cmd_denies(cfg, argc, argv);
    }
    if (strcmp(cmd, "cache") == 0) {
        return rw_cmd_cache(cfg, argc, argv);
    }
    usage(stderr);
    return 2;
}
