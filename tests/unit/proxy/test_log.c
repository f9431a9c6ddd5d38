/* SPDX-License-Identifier: MIT */
/*
 * proxy/base/log.c. Red-team 4: text-format lines carry strings from outside (an upstream's error
 * body in "signing ... failed", a Vault or SPIRE message); a newline in one forged a whole log
 * line, an ESC sequence rewrote the operator's terminal. One call is one line in either format.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rw/log.h"

/* What one rw_log_write() call puts on stderr. */
static size_t capture(bool json, const char *hostile, char *out, size_t cap)
{
    int fds[2];
    int saved = dup(STDERR_FILENO);
    ssize_t n;

    assert_int_equal(pipe(fds), 0);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    rw_log_set_json(json);
    rw_log_write(RW_LOG_ERR, RW_LOG_PROXY, "signing failed: upstream answered 400: %s", hostile);
    rw_log_set_json(false);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    n = read(fds[0], out, cap - 1);
    close(fds[0]);
    assert_true(n > 0);
    out[n] = '\0';
    return (size_t)n;
}

static void test_one_call_one_line(void **state)
{
    static const char hostile[] =
        "x\n2026-12-03T12:00:00.000Z info PROXY signed team/app@sha256:00 key=team\r\x1b[2J\x7f\tend";
    char line[8192];

    (void)state;
    for (int json = 0; json < 2; json++) {
        size_t n = capture(json == 1, hostile, line, sizeof(line));

        assert_int_equal(line[n - 1], '\n');
        assert_null(memchr(line, '\n', n - 1));
        assert_null(memchr(line, '\r', n));
        assert_null(memchr(line, 0x1b, n));
        assert_null(memchr(line, 0x7f, n));
        assert_non_null(strstr(line, "end"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_call_one_line),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
