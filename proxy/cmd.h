/* SPDX-License-Identifier: MIT */
/* The one-shot subcommands (cmd_*.c). Each returns the process exit status. */
#ifndef RW_PROXY_CMD_H
#define RW_PROXY_CMD_H

int rw_cmd_check(const char *config_path);
int rw_cmd_verify(const char *config_path, const char *ref);
int rw_cmd_denies(const char *config_path, int argc, char **argv);
int rw_cmd_cache(const char *config_path, int argc, char **argv);

#endif
