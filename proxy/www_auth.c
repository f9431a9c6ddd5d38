/* SPDX-License-Identifier: MIT */
/*
 * Parsers for the Docker token dance: the upstream's `WWW-Authenticate` challenge and the token
 * server's JSON reply. Pure functions over bounded input (fuzzed by tests/fuzz/fuzz_www_auth.c);
 * they never log, because a reply holds a token.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "rw/err.h"
#include "www_auth.h"

static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool t68char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-._~+/", c) != NULL;
}

struct cur {
    const char *p;
    const char *e;
};

static void skip_ows(struct cur *c)
{
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\t')) {
        c->p++;
    }
}

static size_t token(struct cur *c, const char **start)
{
    *start = c->p;
    while (c->p < c->e && tchar((unsigned char)*c->p)) {
        c->p++;
    }
    return (size_t)(c->p - *start);
}

/* A parameter value, unescaped into @p out (cap bytes incl. NUL); NULL @p out just skips. */
static int value(struct cur *c, char *out, size_t cap)
{
    size_t n = 0;

    if (c->p < c->e && *c->p == '"') {
        c->p++;
        for (;;) {
            unsigned char ch;

            if (c->p >= c->e) {
                return RW_EPROTO; /* unterminated */
            }
            ch = (unsigned char)*c->p++;
            if (ch == '"') {
                break;
            }
            if (ch == '\\') {
                if (c->p >= c->e) {
                    return RW_EPROTO;
                }
                ch = (unsigned char)*c->p++;
            }
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
                return RW_EPROTO;
            }
            if (out != NULL) {
                if (n + 1 >= cap) {
                    return RW_ETOOBIG;
                }
                out[n++] = (char)ch;
            }
        }
    } else {
        const char *s;
        size_t tl = token(c, &s);

        if (tl == 0) {
            return RW_EPROTO;
        }
        if (out != NULL) {
            if (tl + 1 > cap) {
                return RW_ETOOBIG;
            }
            memcpy(out, s, tl);
            n = tl;
        }
    }
    if (out != NULL) {
        out[n] = '\0';
    }
    return 0;
}

static bool realm_ok(const char *r)
{
    size_t n = strlen(r);

    if (strncasecmp(r, "https://", 8) != 0 && strncasecmp(r, "http://", 7) != 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)r[i];

        if (ch <= 0x20 || ch >= 0x7f || ch == '#') {
            return false;
        }
    }
    /* userinfo would put a credential of the upstream's choosing on the wire */
    return strcspn(r + (r[4] == 's' || r[4] == 'S' ? 8 : 7), "/?@") ==
           strcspn(r + (r[4] == 's' || r[4] == 'S' ? 8 : 7), "/?");
}

int rw_www_auth_parse(const char *v, size_t len, struct rw_www_auth *out)
{
    struct rw_www_auth cur_ch;
    struct rw_www_auth best;
    struct cur c = {v, v + len};
    bool in = false;      /* inside a challenge whose params we collect */
    bool keep = false;    /* the current challenge is Basic or Bearer */
    unsigned seen = 0;    /* params seen in the current challenge (bits) */
    int rc;

    if (len > RW_WWW_AUTH_MAX_HEADER) {
        return RW_ETOOBIG;
    }
    if (memchr(v, '\0', len) != NULL) {
        return RW_EPROTO;
    }
    memset(&best, 0, sizeof(best));
    memset(&cur_ch, 0, sizeof(cur_ch));
    for (;;) {
        const char *name;
        size_t nl;

        skip_ows(&c);
        while (c.p < c.e && *c.p == ',') {
            c.p++;
            skip_ows(&c);
        }
        if (c.p >= c.e) {
            break;
        }
        nl = token(&c, &name);
        if (nl == 0) {
            return RW_EPROTO;
        }
        skip_ows(&c);
        if (in && c.p < c.e && *c.p == '=') {
            /* auth-param: name BWS "=" BWS value */
            char *dst = NULL;
            size_t cap = 0;
            unsigned bit = 0;

            c.p++;
            skip_ows(&c);
            if (nl == 5 && strncasecmp(name, "realm", 5) == 0) {
                dst = cur_ch.realm, cap = sizeof(cur_ch.realm), bit = 1;
            } else if (nl == 7 && strncasecmp(name, "service", 7) == 0) {
                dst = cur_ch.service, cap = sizeof(cur_ch.service), bit = 2;
            } else if (nl == 5 && strncasecmp(name, "scope", 5) == 0) {
                dst = cur_ch.scope, cap = sizeof(cur_ch.scope), bit = 4;
            } else if (nl == 5 && strncasecmp(name, "error", 5) == 0) {
                dst = cur_ch.error, cap = sizeof(cur_ch.error), bit = 8;
            }
            if (bit != 0 && (seen & bit) != 0) {
                return RW_EPROTO; /* RFC 9110 §11.2: each parameter name once */
            }
            seen |= bit;
            rc = value(&c, keep ? dst : NULL, cap);
            if (rc != 0) {
                return rc;
            }
            skip_ows(&c);
            if (c.p < c.e && *c.p != ',') {
                return RW_EPROTO;
            }
            continue;
        }
        /* a new challenge: close the previous one */
        if (keep && cur_ch.scheme == RW_WWW_AUTH_BEARER && best.scheme != RW_WWW_AUTH_BEARER) {
            best = cur_ch;
        } else if (keep && cur_ch.scheme == RW_WWW_AUTH_BASIC && best.scheme == RW_WWW_AUTH_NONE) {
            best = cur_ch;
        }
        memset(&cur_ch, 0, sizeof(cur_ch));
        seen = 0;
        in = true;
        keep = true;
        if (nl == 6 && strncasecmp(name, "bearer", 6) == 0) {
            cur_ch.scheme = RW_WWW_AUTH_BEARER;
        } else if (nl == 5 && strncasecmp(name, "basic", 5) == 0) {
            cur_ch.scheme = RW_WWW_AUTH_BASIC;
        } else {
            keep = false;
        }
        /* a token68 right after the scheme ("Negotiate abc==") ends that challenge */
        if (c.p < c.e && *c.p != ',') {
            const char *q = c.p;

            while (q < c.e && t68char((unsigned char)*q)) {
                q++;
            }
            if (q > c.p) {
                while (q < c.e && *q == '=') {
                    q++;
                }
                while (q < c.e && (*q == ' ' || *q == '\t')) {
                    q++;
                }
                if (q >= c.e || *q == ',') {
                    c.p = q;
                    in = false;
                }
            }
        }
    }
    if (keep && cur_ch.scheme == RW_WWW_AUTH_BEARER && best.scheme != RW_WWW_AUTH_BEARER) {
        best = cur_ch;
    } else if (keep && cur_ch.scheme == RW_WWW_AUTH_BASIC && best.scheme == RW_WWW_AUTH_NONE) {
        best = cur_ch;
    }
    if (best.scheme == RW_WWW_AUTH_NONE) {
        return RW_EPROTO;
    }
    if (best.scheme == RW_WWW_AUTH_BEARER && !realm_ok(best.realm)) {
        return RW_EPROTO;
    }
    *out = best;
    return 0;
}

int rw_token_reply_parse(const uint8_t *body, size_t len, char *token_out, int64_t *expires_in)
{
    json_t *root = NULL;
    json_t *t;
    json_t *e;
    const char *tok = NULL;
    size_t tl = 0;
    int64_t exp = 60;
    int rc = RW_EPROTO;

    if (len > RW_TOKEN_MAX_REPLY) {
        return RW_ETOOBIG;
    }
    root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root)) {
        goto out;
    }
    t = json_object_get(root, "token");
    if (!json_is_string(t) || json_string_length(t) == 0) {
        t = json_object_get(root, "access_token");
    }
    if (!json_is_string(t) || json_string_length(t) == 0) {
        goto out;
    }
    tok = json_string_value(t);
    tl = json_string_length(t);
    if (tl > RW_TOKEN_MAX_BYTES) {
        rc = RW_ETOOBIG;
        goto out;
    }
    for (size_t i = 0; i < tl; i++) {
        if ((unsigned char)tok[i] <= 0x20 || (unsigned char)tok[i] >= 0x7f) {
            goto out; /* it becomes a header value: no spaces, controls or NUL */
        }
    }
    e = json_object_get(root, "expires_in");
    if (json_is_integer(e) && json_integer_value(e) >= 1) {
        exp = (int64_t)json_integer_value(e);
    } else if (json_is_real(e) && json_real_value(e) >= 1.0 && json_real_value(e) < 1e9) {
        exp = (int64_t)json_real_value(e);
    }
    if (exp > 86400 * 365) {
        exp = 86400 * 365;
    }
    memcpy(token_out, tok, tl);
    token_out[tl] = '\0';
    *expires_in = exp;
    rc = 0;
out:
    json_decref(root);
    return rc;
}
