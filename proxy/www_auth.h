/* SPDX-License-Identifier: MIT */
/*
 * Private to proxy/: the two parsers of the Docker token dance (PROTOCOLS.md §3), pure and
 * bounded so they can be fuzzed: a `WWW-Authenticate` challenge from an upstream (RFC 9110
 * §11.6.1 grammar) and a token server's JSON reply.
 */
#ifndef RW_PROXY_WWW_AUTH_H
#define RW_PROXY_WWW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define RW_WWW_AUTH_MAX_REALM   1024u /* realm URL */
#define RW_WWW_AUTH_MAX_PARAM   1024u /* service, scope */
#define RW_WWW_AUTH_MAX_HEADER  8192u /* whole header value examined */
#define RW_TOKEN_MAX_BYTES      8192u /* one bearer token */
#define RW_TOKEN_MAX_REPLY      (64u * 1024u) /* token server JSON reply */

enum rw_www_auth_scheme { RW_WWW_AUTH_NONE = 0, RW_WWW_AUTH_BASIC, RW_WWW_AUTH_BEARER };

struct rw_www_auth {
    enum rw_www_auth_scheme scheme;
    char realm[RW_WWW_AUTH_MAX_REALM + 1];   /* "" when absent */
    char service[RW_WWW_AUTH_MAX_PARAM + 1];
    char scope[RW_WWW_AUTH_MAX_PARAM + 1];
    char error[64];
};

/**
 * Parse one `WWW-Authenticate` value: one or more comma-separated challenges, each a case-
 * insensitive scheme followed by auth-params (token or quoted-string values, backslash escapes,
 * commas inside quotes) or a token68. The Bearer challenge wins over Basic; other schemes are
 * skipped. A Bearer challenge needs a realm that is an absolute http(s) URL.
 * @param[out] out  filled on success, untouched otherwise
 * @return 0; RW_EPROTO malformed, duplicated parameter, no Basic/Bearer challenge, or a Bearer
 *         challenge without a usable realm; RW_ETOOBIG over a bound.
 * Thread: any.
 */
int rw_www_auth_parse(const char *v, size_t len, struct rw_www_auth *out);

/**
 * Parse a token server reply: `token` or `access_token` (the first non-empty one), `expires_in`
 * (seconds, default 60; values under 1 read as 60). The token must be visible ASCII.
 * @param[out] token       NUL-terminated, RW_TOKEN_MAX_BYTES + 1 bytes; untouched on error
 * @param[out] expires_in  seconds
 * @return 0; RW_EPROTO not a token reply; RW_ETOOBIG over a bound.  Thread: any.
 */
int rw_token_reply_parse(const uint8_t *body, size_t len, char *token, int64_t *expires_in);

#endif
