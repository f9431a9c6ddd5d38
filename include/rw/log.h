/* SPDX-License-Identifier: MIT */
/*
 * Diagnostic log (channel 1 of R15). Never pass secrets: Authorization values, tokens, keys.
 * Lines go to stderr as text ("2026-12-03T12:00:00.123Z warn UPSTREAM msg") or JSON lines.
 */
#ifndef RW_LOG_H
#define RW_LOG_H

#include <stdbool.h>

enum rw_log_level { RW_LOG_DEBUG = 0, RW_LOG_INFO, RW_LOG_WARN, RW_LOG_ERR, RW_LOG_LEVEL_COUNT };
enum rw_log_group {
    RW_LOG_BASE = 0,
    RW_LOG_PROXY,
    RW_LOG_TLS,
    RW_LOG_H2,
    RW_LOG_UPSTREAM,
    RW_LOG_POLICY,
    RW_LOG_CACHE,
    RW_LOG_ID,
    RW_LOG_GROUP_COUNT
};

void rw_log_set_level(enum rw_log_level lvl);
void rw_log_set_json(bool json);
/** Parse "debug|info|warn|error"; -1 when unknown. */
int rw_log_level_parse(const char *s);
bool rw_log_enabled(enum rw_log_level lvl);
void rw_log_write(enum rw_log_level lvl, enum rw_log_group grp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define rw_log_debug(G, ...)                                                                       \
    do {                                                                                           \
        if (rw_log_enabled(RW_LOG_DEBUG)) {                                                        \
            rw_log_write(RW_LOG_DEBUG, RW_LOG_##G, __VA_ARGS__);                                   \
        }                                                                                          \
    } while (0)
#define rw_log_info(G, ...) rw_log_write(RW_LOG_INFO, RW_LOG_##G, __VA_ARGS__)
#define rw_log_warn(G, ...) rw_log_write(RW_LOG_WARN, RW_LOG_##G, __VA_ARGS__)
#define rw_log_err(G, ...)  rw_log_write(RW_LOG_ERR, RW_LOG_##G, __VA_ARGS__)

#endif
