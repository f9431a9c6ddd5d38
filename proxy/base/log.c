/* SPDX-License-Identifier: MIT */
/*
 * Diagnostic log writer. One write(2) per line so lines from worker threads never interleave.
 * Callers never pass secrets (R15); this file cannot check that, the secret-grep tests do.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "rw/log.h"

static atomic_int min_level = RW_LOG_INFO;
static atomic_bool json_mode = false;

static const char *const level_names[RW_LOG_LEVEL_COUNT] = {"debug", "info", "warn", "error"};
static const char *const group_names[RW_LOG_GROUP_COUNT] = {"BASE",     "PROXY",  "TLS",
                                                            "H2",       "UPSTREAM", "POLICY",
                                                            "CACHE",    "ID"};

void rw_log_set_level(enum rw_log_level lvl)
{
    atomic_store(&min_level, (int)lvl);
}

void rw_log_set_json(bool json)
{
    atomic_store(&json_mode, json);
}

int rw_log_level_parse(const char *s)
{
    for (int i = 0; i < RW_LOG_LEVEL_COUNT; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            return i;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        return RW_LOG_WARN;
    }
    return -1;
}

bool rw_log_enabled(enum rw_log_level lvl)
{
    return (int)lvl >= atomic_load(&min_level);
}

/* Append @p s JSON-escaped; stops at the end of @p out. */
static size_t json_escape(char *out, size_t cap, const char *s)
{
    size_t o = 0;

    for (; *s != '\0' && o + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
    return o;
}

/* Text format: control bytes as \xNN, so a string from outside (an upstream's error body, a
 * Vault message) can neither start a forged line nor drive the terminal. One call, one line. */
static void text_escape(char *out, size_t cap, const char *s)
{
    size_t o = 0;

    for (; *s != '\0' && o + 5 < cap; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
}

void rw_log_write(enum rw_log_level lvl, enum rw_log_group grp, const char *fmt, ...)
{
    char msg[2048];
    char line[4608];
    char ts[96];
    struct timespec now;
    struct tm tm;
    va_list ap;
    int n;

    if (!rw_log_enabled(lvl)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(now.tv_nsec / 1000000) % 1000);
    if (atomic_load(&json_mode)) {
        char esc[4200];

        json_escape(esc, sizeof(esc), msg);
        n = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\",\"group\":\"%s\",\"msg\":\"%s\"}\n",
                     ts, level_names[lvl], group_names[grp], esc);
    } else {
        char esc[4200];

        text_escape(esc, sizeof(esc), msg);
        n = snprintf(line, sizeof(line), "%s %s %s %s\n", ts, level_names[lvl], group_names[grp],
                     esc);
    }
    if (n < 0) {
        return;
    }
    if ((size_t)n >= sizeof(line)) {
        n = (int)sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    (void)!write(STDERR_FILENO, line, (size_t)n);
}
