/* SPDX-License-Identifier: MIT */
/*
 * The configuration file (DESIGN.md "Config file"): libyaml document -> plain structs, checked
 * against the schema with every error as "file:line: message" (R17). This is the only file that
 * touches libyaml (R5); no yaml_* value outlives rw_config_load_mem (R9). Key files and the file
 * signer are loaded here, so a config that loads is a config that can run. The policy hash is
 * computed here too (invariant 7).
 */
#include <errno.h>
#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "rw/err.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "rw/policy.h"

#define CFG_MAX_PATH       4096u
#define CFG_MAX_STR        1024u
#define CFG_MAX_PATTERN    512u
#define CFG_MAX_URL        512u
#define CFG_MAX_PAIRS      1024u /* entries of any one mapping */
#define CFG_MAX_IDENTITIES 64u
#define CFG_MAX_DEPTH      32u      /* collections inside collections (a full config needs ~10) */
#define CFG_MAX_NODES      524288u  /* nodes with aliases expanded: what 1 MiB holds written out */

/* The refcount lives beside the public struct, so the header stays plain data. */
struct config_box {
    struct rw_config c; /* first: a struct rw_config * is a struct config_box * */
    atomic_int refs;
};

struct ld {
    const char *name;  /* borrowed: file name for messages */
    const char *dir;   /* borrowed: absolute base for relative paths */
    yaml_document_t *doc;
    struct rw_config *c;
    char *err;         /* borrowed: caller's buffer */
    size_t errlen;
};

static int line_of(const yaml_node_t *n)
{
    return n != NULL ? (int)n->start_mark.line + 1 : 1;
}

static int fail(struct ld *l, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ld *l, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (l->err != NULL && l->errlen > 0) {
        snprintf(l->err, l->errlen, "%s:%d: %s", l->name, line_of(n), msg);
    }
    return RW_ECONFIG;
}

static yaml_node_t *node(struct ld *l, int id)
{
    return yaml_document_get_node(l->doc, id);
}

static bool is_scalar(const yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SCALAR_NODE;
}

static bool is_map(const yaml_node_t *n)
{
    return n != NULL && n->type == YAML_MAPPING_NODE;
}

static bool is_seq(const yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SEQUENCE_NODE;
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A plain null ("", "~", "null") as YAML 1.1 reads it. */
static bool is_null(const yaml_node_t *n)
{
    const char *s;

    if (!is_scalar(n) || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return false;
    }
    s = sval(n);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static size_t map_len(const yaml_node_t *m)
{
    return (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
}

static size_t seq_len(const yaml_node_t *s)
{
    return (size_t)(s->data.sequence.items.top - s->data.sequence.items.start);
}

/*
 * Check a mapping: keys are scalars, each known (when @p allowed is not NULL), none repeated.
 * @p what names the mapping in messages ("cache", "pull.rules[2]").
 */
static int check_map(struct ld *l, yaml_node_t *m, const char *what, const char *const *allowed)
{
    size_t n;

    if (!is_map(m)) {
        return fail(l, m, "%s: expected a mapping", what);
    }
    n = map_len(m);
    if (n > CFG_MAX_PAIRS) {
        return fail(l, m, "%s: too many entries (max %u)", what, CFG_MAX_PAIRS);
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k = node(l, m->data.mapping.pairs.start[i].key);
        bool known = allowed == NULL;

        if (!is_scalar(k) || strlen(sval(k)) != k->data.scalar.length) {
            return fail(l, k, "%s: keys must be plain strings", what);
        }
        for (size_t j = 0; allowed != NULL && allowed[j] != NULL; j++) {
            known |= strcmp(allowed[j], sval(k)) == 0;
        }
        if (!known) {
            return fail(l, k, "%s: unknown key '%.64s'", what, sval(k));
        }
        for (size_t j = 0; j < i; j++) {
            yaml_node_t *o = node(l, m->data.mapping.pairs.start[j].key);

            if (strcmp(sval(o), sval(k)) == 0) {
                return fail(l, k, "%s: duplicated key '%.64s' (first at line %d)", what, sval(k),
                            line_of(o));
            }
        }
    }
    return 0;
}

/* Value node for @p key in a checked mapping, or NULL. */
static yaml_node_t *get(struct ld *l, yaml_node_t *m, const char *key)
{
    for (size_t i = 0; i < map_len(m); i++) {
        yaml_node_pair_t *p = &m->data.mapping.pairs.start[i];

        if (strcmp(sval(node(l, p->key)), key) == 0) {
            return node(l, p->value);
        }
    }
    return NULL;
}

/* A non-empty string scalar without NUL bytes, at most @p max bytes; duplicated into @p out. */
static int get_str(struct ld *l, yaml_node_t *n, const char *what, size_t max, char **out)
{
    char *s;

    if (!is_scalar(n) || is_null(n)) {
        return fail(l, n, "%s: expected a non-empty string", what);
    }
    if (n->data.scalar.length > max) {
        return fail(l, n, "%s: too long (max %zu bytes)", what, max);
    }
    if (strlen(sval(n)) != n->data.scalar.length) {
        return fail(l, n, "%s: NUL byte in string", what);
    }
    s = rw_strdup(sval(n));
    if (s == NULL) {
        return -ENOMEM;
    }
    rw_free(*out);
    *out = s;
    return 0;
}

static int get_bool(struct ld *l, yaml_node_t *n, const char *what, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", NULL};
    static const char *const no[] = {"false", "False", "FALSE", NULL};

    if (is_scalar(n) && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        for (size_t i = 0; yes[i] != NULL; i++) {
            if (strcmp(sval(n), yes[i]) == 0) {
                *out = true;
                return 0;
            }
            if (strcmp(sval(n), no[i]) == 0) {
                *out = false;
                return 0;
            }
        }
    }
    return fail(l, n, "%s: expected true or false", what);
}

/* Absolute form of @p p: as is when absolute, else joined to the config's directory. */
static int resolve(struct ld *l, yaml_node_t *n, const char *what, char **out)
{
    char *raw = NULL;
    char *abs;
    int rc = get_str(l, n, what, CFG_MAX_PATH, &raw);

    if (rc != 0) {
        return rc;
    }
    if (raw[0] == '/') {
        abs = raw;
        raw = NULL;
    } else {
        abs = rw_asprintf("%s/%s", l->dir, raw);
    }
    rw_free(raw);
    if (abs == NULL) {
        return -ENOMEM;
    }
    rw_free(*out);
    *out = abs;
    return 0;
}

static bool name_char(unsigned char c, bool upstream)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || (upstream && c == ':');
}

static bool name_ok(const char *s, bool upstream)
{
    size_t n = strlen(s);

    if (n == 0 || n > RW_MAX_NAME_LEN) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!name_char((unsigned char)s[i], upstream)) {
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ syntax of values */

int64_t rw_duration_parse(const char *s)
{
    int64_t total = 0;
    bool any_unit = false;
    size_t i = 0;

    if (s == NULL || s[0] == '\0' || strlen(s) > 64) {
        return -1;
    }
    while (s[i] != '\0') {
        int64_t v = 0;
        int64_t mult;
        size_t start = i;

        while (s[i] >= '0' && s[i] <= '9') {
            if (v > (INT64_MAX - 9) / 10) {
                return -1;
            }
            v = v * 10 + (s[i] - '0');
            i++;
        }
        if (i == start) {
            return -1;
        }
        switch (s[i]) {
        case '\0':
            if (any_unit) {
                return -1; /* "1h30" is ambiguous: refuse */
            }
            return v;
        case 's':
            mult = 1;
            break;
        case 'm':
            mult = 60;
            break;
        case 'h':
            mult = 3600;
            break;
        case 'd':
            mult = 86400;
            break;
        default:
            return -1;
        }
        i++;
        any_unit = true;
        if (v > INT64_MAX / mult || total > INT64_MAX - v * mult) {
            return -1;
        }
        total += v * mult;
    }
    return total;
}

/* "268435456", "256MiB", "256 MiB", "1GiB", "512KiB"; false when invalid or zero. */
static bool size_parse(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    uint64_t mult = 1;
    size_t i = 0;

    while (s[i] >= '0' && s[i] <= '9') {
        if (v > (UINT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
        i++;
    }
    if (i == 0) {
        return false;
    }
    if (s[i] == ' ') {
        i++;
    }
    if (strcmp(s + i, "") == 0 || strcmp(s + i, "B") == 0) {
        mult = 1;
    } else if (strcmp(s + i, "KiB") == 0) {
        mult = 1024;
    } else if (strcmp(s + i, "MiB") == 0) {
        mult = 1024 * 1024;
    } else if (strcmp(s + i, "GiB") == 0) {
        mult = 1024ull * 1024 * 1024;
    } else if (strcmp(s + i, "TiB") == 0) {
        mult = 1024ull * 1024 * 1024 * 1024;
    } else {
        return false;
    }
    if (v == 0 || v > UINT64_MAX / mult) {
        return false;
    }
    *out = v * mult;
    return true;
}

static bool port_ok(const char *p, size_t n)
{
    unsigned v = 0;

    if (n == 0 || n > 5) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

static bool hostname_ok(const char *h, size_t n)
{
    size_t label = 0;

    if (n == 0 || n > 253) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];

        if (c == '.') {
            if (label == 0 || h[i - 1] == '-') {
                return false;
            }
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-') ||
            (label == 0 && c == '-') || ++label > 63) {
            return false;
        }
    }
    return label > 0 && h[n - 1] != '-';
}

/* host[:port] where host is a name, IPv4 or [IPv6]; @p need_port for listen addresses. */
static bool authority_ok(const char *a, size_t n, bool need_port)
{
    const char *colon;
    char tmp[64];
    struct in6_addr v6;

    if (n > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        size_t hl;

        if (close == NULL) {
            return false;
        }
        hl = (size_t)(close - a - 1);
        if (hl == 0 || hl >= sizeof(tmp)) {
            return false;
        }
        memcpy(tmp, a + 1, hl);
        tmp[hl] = '\0';
        if (inet_pton(AF_INET6, tmp, &v6) != 1) {
            return false;
        }
        if ((size_t)(close - a) + 1 == n) {
            return !need_port;
        }
        if (close[1] != ':') {
            return false;
        }
        return port_ok(close + 2, n - (size_t)(close - a) - 2);
    }
    colon = memchr(a, ':', n);
    if (colon == NULL) {
        return !need_port && hostname_ok(a, n);
    }
    if (colon == a && need_port) {
        return port_ok(a + 1, n - 1); /* ":5001": every address */
    }
    /* all-digit dotted names are IPv4 (hostname_ok accepts the same characters) */
    return hostname_ok(a, (size_t)(colon - a)) &&
           port_ok(colon + 1, n - (size_t)(colon - a) - 1);
}

/* http(s)://authority[/], stored without the trailing slash. */
static bool url_ok(char *u)
{
    size_t n = strlen(u);
    size_t off;

    if (strncmp(u, "http://", 7) == 0) {
        off = 7;
    } else if (strncmp(u, "https://", 8) == 0) {
        off = 8;
    } else {
        return false;
    }
    if (n > off && u[n - 1] == '/') {
        u[--n] = '\0';
    }
    if (strpbrk(u + off, "/?#@ \\") != NULL) {
        return false;
    }
    return authority_ok(u + off, n - off, false);
}

/* ------------------------------------------------------------------ sections */

static int parse_listen(struct ld *l, yaml_node_t *n)
{
    static const char *const keys[] = {"address", "tls", "upstream", NULL};
    static const char *const tls_keys[] = {"cert", "key", "client_ca", NULL};
    struct rw_config *c = l->c;
    size_t count;
    int rc;

    if (!is_seq(n)) {
        return fail(l, n, "listen: expected a list");
    }
    count = seq_len(n);
    if (count > RW_MAX_LISTENERS) {
        return fail(l, n, "listen: too many listeners (max %u)", RW_MAX_LISTENERS);
    }
    c->listen = rw_calloc(count, sizeof(*c->listen));
    if (c->listen == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *e = node(l, n->data.sequence.items.start[i]);
        struct rw_listen_cfg *lc = &c->listen[i];
        char what[64];
        yaml_node_t *addr;
        yaml_node_t *tls;

        c->n_listen = i + 1;
        snprintf(what, sizeof(what), "listen[%zu]", i);
        rc = check_map(l, e, what, keys);
        if (rc != 0) {
            return rc;
        }
        lc->line = line_of(e);
        addr = get(l, e, "address");
        if (addr == NULL) {
            return fail(l, e, "%s: address is required", what);
        }
        rc = get_str(l, addr, "listen.address", 300, &lc->address);
        if (rc != 0) {
            return rc;
        }
        if (!authority_ok(lc->address, strlen(lc->address), true)) {
            return fail(l, addr, "listen.address: expected host:port, got '%.64s'", lc->address);
        }
        if ((addr = get(l, e, "upstream")) != NULL) {
            rc = get_str(l, addr, "listen.upstream", RW_MAX_NAME_LEN, &lc->upstream);
            if (rc != 0) {
                return rc;
            }
            if (rw_config_upstream(l->c, lc->upstream) == NULL) {
                return fail(l, addr, "listen.upstream: '%.64s' is not one of upstreams:",
                            lc->upstream);
            }
        }
        tls = get(l, e, "tls");
        if (tls == NULL) {
            continue;
        }
        rc = check_map(l, tls, "listen.tls", tls_keys);
        if (rc != 0) {
            return rc;
        }
        if (get(l, tls, "cert") == NULL || get(l, tls, "key") == NULL) {
            return fail(l, tls, "listen.tls: cert and key are required");
        }
        rc = resolve(l, get(l, tls, "cert"), "listen.tls.cert", &lc->tls_cert);
        if (rc == 0) {
            rc = resolve(l, get(l, tls, "key"), "listen.tls.key", &lc->tls_key);
        }
        if (rc == 0 && get(l, tls, "client_ca") != NULL) {
            rc = resolve(l, get(l, tls, "client_ca"), "listen.tls.client_ca", &lc->client_ca);
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

#define CFG_MAX_SECRET_FILE 4096u /* upstreams.<name>.auth.password_file */

/* Whole small file into a fresh buffer; RW_ETOOBIG over @p max. The caller wipes secrets. */
static int read_bounded(const char *path, size_t max, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;
    int rc = 0;

    if (f == NULL) {
        return -errno;
    }
    buf = rw_malloc(max + 1);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    n = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        rc = -EIO;
    } else if (n > max) {
        rc = RW_ETOOBIG;
    }
    if (rc != 0) {
        explicit_bzero(buf, max + 1);
        rw_free_clear(&buf);
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
out:
    fclose(f);
    return rc;
}

/* host[:port] of a checked upstream URL. */
static const char *url_hostport(const char *url)
{
    const char *p = strstr(url, "://");

    return p != NULL ? p + 3 : url;
}

/*
 * upstreams.<name>.auth: passthrough | {username, password_file} | {docker_config: PATH}.
 * Secrets are read now (so `regwarden check` and a reload catch a missing file) and never appear
 * in a message: errors name the file and the field.
 */
static int parse_upstream_auth(struct ld *l, yaml_node_t *a, struct rw_upstream_cfg *u)
{
    static const char *const akeys[] = {"username", "password_file", "docker_config", NULL};
    char *path = NULL;
    char *secret = NULL;
    size_t slen = 0;
    char why[300];
    int rc;

    if (is_scalar(a) && strcmp(sval(a), "passthrough") == 0) {
        u->auth = RW_UPSTREAM_AUTH_PASSTHROUGH;
        return 0;
    }
    if (!is_map(a)) {
        return fail(l, a,
                    "upstreams.%s.auth: expected passthrough, {username, password_file} or "
                    "{docker_config}",
                    u->name);
    }
    rc = check_map(l, a, "upstreams.<name>.auth", akeys);
    if (rc != 0) {
        return rc;
    }
    if ((get(l, a, "docker_config") != NULL) ==
        (get(l, a, "username") != NULL || get(l, a, "password_file") != NULL)) {
        return fail(l, a, "upstreams.%s.auth: either username and password_file, or docker_config",
                    u->name);
    }
    u->auth = RW_UPSTREAM_AUTH_OWN;
    if (get(l, a, "docker_config") != NULL) {
        yaml_node_t *dv = get(l, a, "docker_config");

        rc = resolve(l, dv, "upstreams.<name>.auth.docker_config", &path);
        if (rc == 0) {
            rc = read_bounded(path, RW_MAX_CONFIG_BYTES, &secret, &slen);
            if (rc != 0) {
                rc = fail(l, dv, "upstreams.%s.auth.docker_config: cannot read %.200s: %s",
                          u->name, path, rw_strerror(rc));
            }
        }
        if (rc == 0) {
            rc = rw_dockercfg_lookup(secret, slen, url_hostport(u->url), &u->auth_basic,
                                     &u->auth_user, why, sizeof(why));
            if (rc != 0 && rc != -ENOMEM) {
                rc = fail(l, dv, "upstreams.%s.auth.docker_config: %.200s: %s", u->name, path,
                          why);
            }
        }
        goto out;
    }
    if (get(l, a, "username") == NULL || get(l, a, "password_file") == NULL) {
        rc = fail(l, a, "upstreams.%s.auth: username and password_file are both required",
                  u->name);
        goto out;
    }
    rc = get_str(l, get(l, a, "username"), "upstreams.<name>.auth.username", 256, &u->auth_user);
    if (rc == 0 && strpbrk(u->auth_user, ":\r\n") != NULL) {
        rc = fail(l, get(l, a, "username"), "upstreams.%s.auth.username: ':' is not allowed",
                  u->name);
    }
    if (rc == 0) {
        rc = resolve(l, get(l, a, "password_file"), "upstreams.<name>.auth.password_file", &path);
    }
    if (rc == 0) {
        rc = read_bounded(path, CFG_MAX_SECRET_FILE, &secret, &slen);
        if (rc != 0) {
            rc = fail(l, get(l, a, "password_file"),
                      "upstreams.%s.auth.password_file: cannot read %.200s: %s", u->name, path,
                      rc == RW_ETOOBIG ? "larger than 4 KiB" : rw_strerror(rc));
        }
    }
    if (rc == 0) {
        struct rw_buf b;
        size_t ul = strlen(u->auth_user);
        char *raw;

        /* one trailing newline is the file's, not the password's */
        if (slen > 0 && secret[slen - 1] == '\n') {
            secret[--slen] = '\0';
        }
        if (slen > 0 && secret[slen - 1] == '\r') {
            secret[--slen] = '\0';
        }
        if (slen == 0 || strlen(secret) != slen || strpbrk(secret, "\r\n") != NULL) {
            rc = fail(l, get(l, a, "password_file"),
                      "upstreams.%s.auth.password_file: %.200s must hold one non-empty line",
                      u->name, path);
            goto out;
        }
        raw = rw_asprintf("%s:%s", u->auth_user, secret);
        if (raw == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        rw_buf_init(&b, 0);
        rc = rw_base64_encode((const uint8_t *)raw, ul + 1 + slen, &b);
        explicit_bzero(raw, ul + 1 + slen);
        rw_free(raw);
        if (rc != 0) {
            rw_buf_fini(&b);
            goto out;
        }
        u->auth_basic = (char *)b.data;
    }
out:
    if (secret != NULL) {
        explicit_bzero(secret, slen);
        rw_free(secret);
    }
    rw_free(path);
    return rc;
}

static int parse_allowed_hosts(struct ld *l, yaml_node_t *v, struct rw_upstream_cfg *u);

static int parse_upstreams(struct ld *l, yaml_node_t *n)
{
    struct rw_config *c = l->c;
    size_t count;
    int rc = check_map(l, n, "upstreams", NULL);

    if (rc != 0) {
        return rc;
    }
    count = map_len(n);
    if (count > RW_MAX_UPSTREAMS) {
        return fail(l, n, "upstreams: too many (max %u)", RW_MAX_UPSTREAMS);
    }
    c->upstreams = rw_calloc(count, sizeof(*c->upstreams));
    if (c->upstreams == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *k = node(l, n->data.mapping.pairs.start[i].key);
        yaml_node_t *v = node(l, n->data.mapping.pairs.start[i].value);
        struct rw_upstream_cfg *u = &c->upstreams[i];

        c->n_upstreams = i + 1;
        u->line = line_of(k);
        if (!name_ok(sval(k), true)) {
            return fail(l, k, "upstreams: invalid upstream name '%.64s'", sval(k));
        }
        rc = get_str(l, k, "upstreams", RW_MAX_NAME_LEN, &u->name);
        if (rc == 0 && v->type == YAML_MAPPING_NODE) {
            /* name: {url: URL, ca: FILE} (the short form is name: URL) */
            static const char *const ukeys[] = {"url", "ca", "auth", "allowed_hosts", NULL};
            yaml_node_t *cv = get(l, v, "ca");
            yaml_node_t *uv = get(l, v, "url");

            rc = check_map(l, v, "upstreams.<name>", ukeys);
            if (rc == 0 && uv == NULL) {
                rc = fail(l, v, "upstreams.%s: url is required", u->name);
            }
            if (rc == 0 && cv != NULL) {
                rc = resolve(l, cv, "upstreams.<name>.ca", &u->ca);
            }
            v = uv != NULL ? uv : v;
        }
        if (rc == 0) {
            rc = get_str(l, v, "upstreams", CFG_MAX_URL, &u->url);
        }
        if (rc != 0) {
            return rc;
        }
        if (!url_ok(u->url)) {
            return fail(l, v,
                        "upstreams.%s: invalid URL (want http[s]://host[:port], no path, query "
                        "or userinfo)",
                        u->name);
        }
        v = node(l, n->data.mapping.pairs.start[i].value); /* the entry again (url above) */
        if (is_map(v) && get(l, v, "allowed_hosts") != NULL) {
            rc = parse_allowed_hosts(l, get(l, v, "allowed_hosts"), u);
            if (rc != 0) {
                return rc;
            }
        }
        if (is_map(v) && get(l, v, "auth") != NULL) {
            rc = parse_upstream_auth(l, get(l, v, "auth"), u);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

static int parse_str_list(struct ld *l, yaml_node_t *n, const char *what, size_t max_items,
                          size_t max_len, char ***out, size_t *n_out);

/* upstreams.<name>.allowed_hosts: host names (no scheme, port or path), kept as "a,b,c". */
static int parse_allowed_hosts(struct ld *l, yaml_node_t *v, struct rw_upstream_cfg *u)
{
    char **hosts = NULL;
    size_t n = 0;
    struct rw_buf b;
    int rc;

    rc = parse_str_list(l, v, "upstreams.<name>.allowed_hosts", 32, 253, &hosts, &n);
    if (rc != 0) {
        return rc;
    }
    rw_buf_init(&b, 32 * 256);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        for (char *p = hosts[i]; *p != '\0'; p++) {
            *p = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' ||
                  *p == ':' || *p == '[' || *p == ']')) {
                rc = fail(l, v, "upstreams.%s.allowed_hosts: '%.64s' is not a host name", u->name,
                          hosts[i]);
                break;
            }
        }
        if (rc == 0 && hosts[i][0] == '\0') {
            rc = fail(l, v, "upstreams.%s.allowed_hosts: empty host", u->name);
        }
        if (rc == 0) {
            rc = rw_buf_printf(&b, "%s%s", i > 0 ? "," : "", hosts[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        rw_free(hosts[i]);
    }
    rw_free(hosts);
    if (rc != 0) {
        rw_buf_fini(&b);
        return rc;
    }
    u->allowed_hosts = (char *)b.data;
    return 0;
}

static int parse_cache(struct ld *l, yaml_node_t *n)
{
    static const char *const keys[] = {"path",     "allow_ttl",       "deny_ttl", "map_size",
                                       "tag_ttl",  "serve_by_digest", NULL};
    static const char *const ttl[] = {"allow_ttl", "deny_ttl", "tag_ttl"};
    struct rw_config *c = l->c;
    yaml_node_t *v;
    int rc = check_map(l, n, "cache", keys);

    if (rc != 0) {
        return rc;
    }
    v = get(l, n, "path");
    if (v != NULL) {
        rc = resolve(l, v, "cache.path", &c->cache.path);
        if (rc != 0) {
            return rc;
        }
    }
    for (size_t i = 0; i < 3; i++) {
        int64_t d;

        v = get(l, n, ttl[i]);
        if (v == NULL) {
            continue;
        }
        d = is_scalar(v) ? rw_duration_parse(sval(v)) : -1;
        if (d < 0) {
            return fail(l, v, "cache.%s: invalid duration (e.g. 30s, 15m, 24h, 7d)", ttl[i]);
        }
        *(i == 0 ? &c->cache.allow_ttl : (i == 1 ? &c->cache.deny_ttl : &c->cache.tag_ttl)) = d;
    }
    if ((v = get(l, n, "serve_by_digest")) != NULL &&
        (rc = get_bool(l, v, "cache.serve_by_digest", &c->cache.serve_by_digest)) != 0) {
        return rc;
    }
    v = get(l, n, "map_size");
    if (v != NULL && (!is_scalar(v) || !size_parse(sval(v), &c->cache.map_size))) {
        return fail(l, v, "cache.map_size: invalid size (bytes, or with KiB/MiB/GiB)");
    }
    return 0;
}

/* Transit key and role names: Vault path segments, no '/', no dot segments. */
static bool vault_name_ok(const char *s)
{
    return name_ok(s, false) && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Mount paths: one or more name segments joined by '/'. */
static bool vault_path_ok(const char *s)
{
    char seg[RW_MAX_NAME_LEN + 1];
    size_t n = 0;

    for (const char *p = s;; p++) {
        if (*p == '/' || *p == '\0') {
            seg[n] = '\0';
            if (!vault_name_ok(seg)) {
                return false;
            }
            n = 0;
            if (*p == '\0') {
                return true;
            }
            continue;
        }
        if (n >= RW_MAX_NAME_LEN) {
            return false;
        }
        seg[n++] = *p;
    }
}

static int parse_keys(struct ld *l, yaml_node_t *n)
{
    static const char *const keys[] = {"file", "vault_transit", "mount", NULL};
    struct rw_config *c = l->c;
    size_t count;
    int rc = check_map(l, n, "keys", NULL);

    if (rc != 0) {
        return rc;
    }
    count = map_len(n);
    if (count > RW_MAX_KEYS) {
        return fail(l, n, "keys: too many (max %u)", RW_MAX_KEYS);
    }
    c->keys = rw_calloc(count, sizeof(*c->keys));
    if (c->keys == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *k = node(l, n->data.mapping.pairs.start[i].key);
        yaml_node_t *v = node(l, n->data.mapping.pairs.start[i].value);
        struct rw_key_cfg *kc = &c->keys[i];
        char what[RW_MAX_NAME_LEN + 16];
        yaml_node_t *file;

        c->n_keys = i + 1;
        kc->line = line_of(k);
        if (!name_ok(sval(k), false)) {
            return fail(l, k, "keys: invalid key name '%.64s'", sval(k));
        }
        rc = get_str(l, k, "keys", RW_MAX_NAME_LEN, &kc->name);
        if (rc != 0) {
            return rc;
        }
        snprintf(what, sizeof(what), "keys.%s", kc->name);
        rc = check_map(l, v, what, keys);
        if (rc != 0) {
            return rc;
        }
        if (get(l, v, "vault_transit") != NULL) {
            /* versions arrive at run time (rw_keyring); the mount defaults to signer.vault's,
             * checked in check_vault_keys() once signer: is parsed */
            if (get(l, v, "file") != NULL) {
                return fail(l, v, "%s: file and vault_transit are exclusive", what);
            }
            rc = get_str(l, get(l, v, "vault_transit"), "keys.vault_transit", RW_MAX_NAME_LEN,
                         &kc->vault_key);
            if (rc == 0 && get(l, v, "mount") != NULL) {
                rc = get_str(l, get(l, v, "mount"), "keys.mount", RW_MAX_NAME_LEN,
                             &kc->vault_mount);
            }
            if (rc != 0) {
                return rc;
            }
            if (!vault_name_ok(kc->vault_key) ||
                (kc->vault_mount != NULL && !vault_path_ok(kc->vault_mount))) {
                return fail(l, v, "%s: invalid Vault key or mount name", what);
            }
            continue;
        }
        if (get(l, v, "mount") != NULL) {
            return fail(l, get(l, v, "mount"), "%s.mount: only with vault_transit", what);
        }
        file = get(l, v, "file");
        if (file == NULL) {
            return fail(l, v, "%s: file is required", what);
        }
        rc = resolve(l, file, "keys.file", &kc->file);
        if (rc != 0) {
            return rc;
        }
        rc = rw_pubkey_load_file(kc->file, &kc->pub);
        if (rc == -ENOMEM) {
            return rc;
        }
        if (rc != 0) {
            return fail(l, file, "%s: cannot load public key %.256s: %s", what, kc->file,
                        rc == RW_ECRYPTO ? "not a PEM ECDSA P-256/P-384, RSA >= 2048 or Ed25519 "
                                           "public key"
                                         : rw_strerror(rc));
        }
    }
    return 0;
}

/* An optional string member of @p m into @p out, with @p def when absent (may be NULL). */
static int opt_str(struct ld *l, yaml_node_t *m, const char *key, const char *what,
                   const char *def, char **out)
{
    yaml_node_t *v = get(l, m, key);

    if (v != NULL) {
        return get_str(l, v, what, CFG_MAX_STR, out);
    }
    if (def != NULL) {
        *out = rw_strdup(def);
        return *out == NULL ? -ENOMEM : 0;
    }
    return 0;
}

/*
 * signer.vault: {address, mount, key, namespace, ca, auth: {jwt: {role, mount, audience}} |
 * {token_file: PATH}}. Nothing is contacted here (a config that loads can still meet a Vault
 * that is down: the proxy reports not-ready until it logs in).
 */
static int parse_vault(struct ld *l, yaml_node_t *n)
{
    static const char *const keys[] = {"address", "mount", "key", "namespace", "ca", "auth",
                                       NULL};
    static const char *const auth_keys[] = {"jwt", "token_file", NULL};
    static const char *const jwt_keys[] = {"role", "mount", "audience", NULL};
    struct rw_vault_cfg *v;
    yaml_node_t *a;
    int rc = check_map(l, n, "signer.vault", keys);

    if (rc != 0) {
        return rc;
    }
    v = rw_calloc(1, sizeof(*v));
    if (v == NULL) {
        return -ENOMEM;
    }
    l->c->signer_cfg.vault = v;
    v->line = line_of(n);
    if (get(l, n, "address") == NULL || get(l, n, "key") == NULL) {
        return fail(l, n, "signer.vault: address and key are required");
    }
    rc = get_str(l, get(l, n, "address"), "signer.vault.address", CFG_MAX_URL, &v->address);
    if (rc == 0 && !url_ok(v->address)) {
        return fail(l, get(l, n, "address"),
                    "signer.vault.address: invalid URL (want http[s]://host[:port])");
    }
    if (rc == 0) {
        rc = opt_str(l, n, "mount", "signer.vault.mount", "transit", &v->mount);
    }
    if (rc == 0) {
        rc = get_str(l, get(l, n, "key"), "signer.vault.key", RW_MAX_NAME_LEN, &v->key);
    }
    if (rc == 0) {
        rc = opt_str(l, n, "namespace", "signer.vault.namespace", NULL, &v->ns);
    }
    if (rc == 0 && get(l, n, "ca") != NULL) {
        rc = resolve(l, get(l, n, "ca"), "signer.vault.ca", &v->ca);
    }
    if (rc != 0) {
        return rc;
    }
    if (!vault_path_ok(v->mount) || !vault_name_ok(v->key)) {
        return fail(l, n, "signer.vault: invalid mount or key name");
    }
    if (v->ns != NULL && strpbrk(v->ns, "\r\n") != NULL) {
        return fail(l, get(l, n, "namespace"), "signer.vault.namespace: invalid");
    }
    a = get(l, n, "auth");
    if (a == NULL) {
        return fail(l, n, "signer.vault: auth is required ({jwt: {role: ...}} or {token_file: "
                          "PATH})");
    }
    rc = check_map(l, a, "signer.vault.auth", auth_keys);
    if (rc != 0) {
        return rc;
    }
    if ((get(l, a, "jwt") != NULL) == (get(l, a, "token_file") != NULL)) {
        return fail(l, a, "signer.vault.auth: exactly one of jwt or token_file");
    }
    if (get(l, a, "token_file") != NULL) {
        return resolve(l, get(l, a, "token_file"), "signer.vault.auth.token_file",
                       &v->token_file);
    }
    a = get(l, a, "jwt");
    rc = check_map(l, a, "signer.vault.auth.jwt", jwt_keys);
    if (rc != 0) {
        return rc;
    }
    if (get(l, a, "role") == NULL) {
        return fail(l, a, "signer.vault.auth.jwt: role is required");
    }
    rc = get_str(l, get(l, a, "role"), "signer.vault.auth.jwt.role", RW_MAX_NAME_LEN,
                 &v->jwt_role);
    if (rc == 0) {
        rc = opt_str(l, a, "mount", "signer.vault.auth.jwt.mount", "jwt", &v->jwt_mount);
    }
    if (rc == 0) {
        rc = opt_str(l, a, "audience", "signer.vault.auth.jwt.audience", "vault",
                     &v->jwt_audience);
    }
    if (rc != 0) {
        return rc;
    }
    if (!vault_name_ok(v->jwt_role) || !vault_path_ok(v->jwt_mount)) {
        return fail(l, a, "signer.vault.auth.jwt: invalid role or mount name");
    }
    return 0;
}

/* spire: {socket: unix:///abs/path}; only the unix form (the agent's usual endpoint). */
static int parse_spire(struct ld *l, yaml_node_t *n)
{
    static const char *const keys[] = {"socket", NULL};
    int rc = check_map(l, n, "spire", keys);

    if (rc != 0 || get(l, n, "socket") == NULL) {
        return rc;
    }
    rc = get_str(l, get(l, n, "socket"), "spire.socket", CFG_MAX_PATH, &l->c->spire_socket);
    if (rc == 0 && (strncmp(l->c->spire_socket, "unix:///", 8) != 0 ||
                    strpbrk(l->c->spire_socket, "?#") != NULL)) {
        return fail(l, get(l, n, "socket"), "spire.socket: expected unix:///absolute/path");
    }
    return rc;
}

/*
 * An absolute URI (RFC 3986 §3: scheme ":" hier-part) as the SLSA predicate carries it: a scheme
 * of ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then at least one printable ASCII character
 * that may appear in a URI (no space, quote, backslash or other delimiters RFC 3986 excludes).
 */
static bool uri_ok(const char *s)
{
    const char *p = s;

    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
        return false;
    }
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '-' || *p == '.') {
        p++;
    }
    if (*p != ':' || p[1] == '\0') {
        return false;
    }
    for (p++; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;

        if (c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c) != NULL) {
            return false;
        }
    }
    return true;
}

/* provenance: {builder_id: URI, build_type: URI}, both optional (push attestations, §6.3). */
static int parse_provenance(struct ld *l, yaml_node_t *n)
{
    static const char *const keys[] = {"builder_id", "build_type", NULL};
    static const char *const what[] = {"provenance.builder_id", "provenance.build_type"};
    char **out[] = {&l->c->provenance.builder_id, &l->c->provenance.build_type};
    int rc = check_map(l, n, "provenance", keys);

    for (size_t i = 0; rc == 0 && i < 2; i++) {
        yaml_node_t *v = get(l, n, keys[i]);

        if (v == NULL) {
            continue;
        }
        rc = get_str(l, v, what[i], CFG_MAX_URL, out[i]);
        if (rc == 0 && !uri_ok(*out[i])) {
            rc = fail(l, v, "%s: expected an absolute URI (scheme:...)", what[i]);
        }
    }
    return rc;
}

/* After keys: and signer: — vault keys need the Vault connection; jwt auth needs SPIRE. */
static int check_vault(struct ld *l, yaml_node_t *root)
{
    struct rw_config *c = l->c;
    const struct rw_vault_cfg *v = c->signer_cfg.vault;
    const char *env;

    for (size_t i = 0; i < c->n_keys; i++) {
        struct rw_key_cfg *kc = &c->keys[i];

        if (kc->vault_key == NULL) {
            continue;
        }
        if (v == NULL) {
            return fail(l, get(l, root, "keys"),
                        "keys.%s.vault_transit: needs signer.vault (the Vault connection it is "
                        "read through)",
                        kc->name);
        }
        if (kc->vault_mount == NULL) {
            kc->vault_mount = rw_strdup(v->mount);
        }
        if (kc->vault_mount == NULL) {
            return -ENOMEM;
        }
        kc->ring_id = rw_asprintf("%s/%s", kc->vault_mount, kc->vault_key);
        if (kc->ring_id == NULL) {
            return -ENOMEM;
        }
    }
    if (v == NULL || v->jwt_role == NULL || c->spire_socket != NULL) {
        return 0;
    }
    env = getenv("SPIFFE_ENDPOINT_SOCKET");
    if (env == NULL || strncmp(env, "unix:///", 8) != 0 || strlen(env) > CFG_MAX_PATH) {
        return fail(l, get(l, root, "signer"),
                    "signer.vault.auth.jwt: needs spire.socket (or SPIFFE_ENDPOINT_SOCKET="
                    "unix:///path) to fetch the JWT-SVID");
    }
    c->spire_socket = rw_strdup(env);
    return c->spire_socket == NULL ? -ENOMEM : 0;
}

static int parse_signer(struct ld *l, yaml_node_t *n)
{
    static const char *const keys[] = {"file", "vault", NULL};
    static const char *const file_keys[] = {"key", NULL};
    struct rw_config *c = l->c;
    yaml_node_t *f;
    yaml_node_t *k;
    int rc = check_map(l, n, "signer", keys);

    if (rc != 0) {
        return rc;
    }
    if (get(l, n, "vault") != NULL) {
        if (get(l, n, "file") != NULL) {
            return fail(l, n, "signer: file and vault are exclusive");
        }
        return parse_vault(l, get(l, n, "vault"));
    }
    f = get(l, n, "file");
    if (f == NULL) {
        return fail(l, n, "signer: expected file: {key: PATH}");
    }
    rc = check_map(l, f, "signer.file", file_keys);
    if (rc != 0) {
        return rc;
    }
    k = get(l, f, "key");
    if (k == NULL) {
        return fail(l, f, "signer.file: key is required");
    }
    rc = resolve(l, k, "signer.file.key", &c->signer_cfg.file_key);
    if (rc != 0) {
        return rc;
    }
    rc = rw_signer_file_new(c->signer_cfg.file_key, &c->signer);
    if (rc == -ENOMEM) {
        return rc;
    }
    if (rc != 0) {
        /* the message names the file, never its content */
        return fail(l, k, "signer.file.key: cannot load private key %.256s: %s",
                    c->signer_cfg.file_key,
                    rc == RW_ECRYPTO ? "not an unencrypted PEM ECDSA P-256, RSA >= 2048 or "
                                       "Ed25519 private key"
                                     : rw_strerror(rc));
    }
    return 0;
}

static int parse_str_list(struct ld *l, yaml_node_t *n, const char *what, size_t max_items,
                          size_t max_len, char ***out, size_t *count)
{
    size_t len;
    int rc;

    if (!is_seq(n)) {
        return fail(l, n, "%s: expected a list", what);
    }
    len = seq_len(n);
    if (len > max_items) {
        return fail(l, n, "%s: too many entries (max %zu)", what, max_items);
    }
    *out = rw_calloc(len, sizeof(**out));
    if (*out == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < len; i++) {
        *count = i + 1;
        rc = get_str(l, node(l, n->data.sequence.items.start[i]), what, max_len, &(*out)[i]);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int parse_pattern(struct ld *l, yaml_node_t *rule, const char *what, char **out)
{
    yaml_node_t *m = get(l, rule, "match");
    int rc;

    if (m == NULL) {
        return fail(l, rule, "%s: match is required", what);
    }
    rc = get_str(l, m, "match", CFG_MAX_PATTERN, out);
    if (rc != 0) {
        return rc;
    }
    if (rw_pattern_check(*out) != 0) {
        return fail(l, m,
                    "%s.match: invalid pattern '%.128s' ('*' within one segment, '**' only as a "
                    "whole segment, no empty segments)",
                    what, *out);
    }
    return 0;
}

static int parse_push(struct ld *l, yaml_node_t *n)
{
    static const char *const keys[] = {"match", "sign", "attest", "identities", NULL};
    struct rw_config *c = l->c;
    size_t count;
    int rc;

    if (!is_seq(n)) {
        return fail(l, n, "push: expected a list");
    }
    count = seq_len(n);
    if (count > RW_MAX_RULES) {
        return fail(l, n, "push: too many rules (max %u)", RW_MAX_RULES);
    }
    c->push = rw_calloc(count, sizeof(*c->push));
    if (c->push == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *e = node(l, n->data.sequence.items.start[i]);
        struct rw_push_rule *r = &c->push[i];
        char what[32];
        yaml_node_t *v;

        c->n_push = i + 1;
        snprintf(what, sizeof(what), "push[%zu]", i);
        rc = check_map(l, e, what, keys);
        if (rc == 0) {
            rc = parse_pattern(l, e, what, &r->match);
        }
        if (rc != 0) {
            return rc;
        }
        r->line = line_of(e);
        r->sign = true; /* a push rule exists to sign; "sign: false" opts out */
        if ((v = get(l, e, "sign")) != NULL && (rc = get_bool(l, v, "push.sign", &r->sign)) != 0) {
            return rc;
        }
        if ((v = get(l, e, "attest")) != NULL &&
            (rc = get_bool(l, v, "push.attest", &r->attest)) != 0) {
            return rc;
        }
        if ((v = get(l, e, "identities")) != NULL && !is_null(v)) {
            rc = parse_str_list(l, v, "push.identities", CFG_MAX_IDENTITIES, CFG_MAX_STR,
                                &r->identities, &r->n_identities);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

static int parse_mode(struct ld *l, yaml_node_t *v, const char *what, enum rw_mode *out)
{
    if (is_scalar(v) && strcmp(sval(v), "enforce") == 0) {
        *out = RW_MODE_ENFORCE;
        return 0;
    }
    if (is_scalar(v) && strcmp(sval(v), "audit") == 0) {
        *out = RW_MODE_AUDIT;
        return 0;
    }
    return fail(l, v, "%s: expected enforce or audit", what);
}

/* A predicate type URI as the short form always required: "<scheme>:<printable, no space>". */
static bool predicate_type_ok(const char *t)
{
    const char *colon = strchr(t, ':');
    bool ok = colon != NULL && colon != t;

    for (const char *c = t; ok && *c != '\0'; c++) {
        ok = *c > 0x20 && *c < 0x7f && *c != '"' && *c != '\\';
    }
    return ok;
}

/* One condition value: a scalar (string, number or boolean), at most RW_MAX_COND_VALUE_LEN. */
static int parse_cond_value(struct ld *l, yaml_node_t *n, const char *what,
                            struct rw_cond_value *out)
{
    int rc;

    if (!is_scalar(n) || is_null(n)) {
        return fail(l, n, "%s: expected a string, number or boolean", what);
    }
    rc = rw_cond_value_parse(sval(n), n->data.scalar.length,
                             n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, out);
    if (rc == RW_EINVAL) {
        return fail(l, n, "%s: too long (max %u bytes), a NUL byte, or a number out of range",
                    what, RW_MAX_COND_VALUE_LEN);
    }
    return rc;
}

/* {path: P, <op>: V}: exactly one of equals, in (a list), matches (a glob), at_most (a number). */
static int parse_condition(struct ld *l, yaml_node_t *n, const char *what, struct rw_cond *c)
{
    static const char *const keys[] = {"path", "equals", "in", "matches", "at_most", NULL};
    yaml_node_t *v;
    yaml_node_t *opv = NULL;
    char sub[192];
    char why[128];
    int rc = check_map(l, n, what, keys);

    if (rc != 0) {
        return rc;
    }
    c->line = line_of(n);
    v = get(l, n, "path");
    if (v == NULL) {
        return fail(l, n, "%s: path is required", what);
    }
    snprintf(sub, sizeof(sub), "%s.path", what);
    rc = get_str(l, v, sub, RW_MAX_COND_PATH_LEN, &c->path);
    if (rc != 0) {
        return rc;
    }
    if (rw_cond_path_check(c->path, why, sizeof(why)) != 0) {
        return fail(l, v, "%s: %s", sub, why);
    }
    for (int op = 0; op < RW_COND_OP_COUNT; op++) {
        yaml_node_t *x = get(l, n, rw_cond_op_str((enum rw_cond_op)op));

        if (x == NULL) {
            continue;
        }
        if (opv != NULL) {
            return fail(l, x, "%s: exactly one of equals, in, matches, at_most", what);
        }
        opv = x;
        c->op = (enum rw_cond_op)op;
    }
    if (opv == NULL) {
        return fail(l, n, "%s: exactly one of equals, in, matches, at_most", what);
    }
    snprintf(sub, sizeof(sub), "%s.%s", what, rw_cond_op_str(c->op));
    if (c->op == RW_COND_IN) {
        if (!is_seq(opv) || seq_len(opv) == 0) {
            return fail(l, opv, "%s: expected a non-empty list of values", sub);
        }
        if (seq_len(opv) > RW_MAX_COND_IN_VALUES) {
            return fail(l, opv, "%s: too many values (max %u)", sub, RW_MAX_COND_IN_VALUES);
        }
    }
    c->values = rw_calloc(c->op == RW_COND_IN ? seq_len(opv) : 1, sizeof(*c->values));
    if (c->values == NULL) {
        return -ENOMEM;
    }
    if (c->op != RW_COND_IN) {
        rc = parse_cond_value(l, opv, sub, &c->values[0]);
        c->n_values = rc == 0 ? 1 : 0;
    }
    for (size_t k = 0; rc == 0 && c->op == RW_COND_IN && k < seq_len(opv); k++) {
        rc = parse_cond_value(l, node(l, opv->data.sequence.items.start[k]), sub, &c->values[k]);
        c->n_values = rc == 0 ? k + 1 : k;
    }
    if (rc != 0) {
        return rc;
    }
    if (c->op == RW_COND_MATCHES) {
        if (c->values[0].type != RW_COND_STRING) {
            return fail(l, opv, "%s: expected a string (a glob)", sub);
        }
        if (rw_cond_glob_check(c->values[0].text, why, sizeof(why)) != 0) {
            return fail(l, opv, "%s: %s", sub, why);
        }
    }
    if (c->op == RW_COND_AT_MOST && c->values[0].type != RW_COND_NUMBER) {
        return fail(l, opv, "%s: expected a number", sub);
    }
    return 0;
}

static bool same_keys(const struct rw_att_req *a, const struct rw_att_req *b)
{
    if (a->n_signed_by != b->n_signed_by) {
        return false;
    }
    for (size_t i = 0; i < a->n_signed_by; i++) {
        if (strcmp(a->signed_by[i], b->signed_by[i]) != 0) {
            return false;
        }
    }
    return true;
}

/*
 * One require.attestations entry: a predicate type (short form), or {predicate_type, signed_by,
 * conditions}. signed_by defaults to the rule's (copied, so eval reads one list).
 */
static int parse_att_req(struct ld *l, yaml_node_t *item, const char *what, size_t k,
                         const struct rw_pull_rule *r, struct rw_att_req *a)
{
    static const char *const keys[] = {"predicate_type", "signed_by", "conditions", NULL};
    yaml_node_t *tn = item;
    yaml_node_t *v;
    char w[96];
    char sub[128];
    int rc;

    a->line = line_of(item);
    snprintf(w, sizeof(w), "%s.require.attestations[%zu]", what, k);
    if (is_map(item)) {
        rc = check_map(l, item, w, keys);
        if (rc != 0) {
            return rc;
        }
        tn = get(l, item, "predicate_type");
        if (tn == NULL) {
            return fail(l, item, "%s: predicate_type is required", w);
        }
    }
    rc = get_str(l, tn, "require.attestations", RW_MAX_DSSE_TYPE_LEN, &a->predicate_type);
    if (rc != 0) {
        return rc;
    }
    if (!predicate_type_ok(a->predicate_type)) {
        return fail(l, tn,
                    "%s.require.attestations: '%.64s' is not a predicate type URI "
                    "(e.g. " RW_SLSA_PROVENANCE_V1 ")",
                    what, a->predicate_type);
    }
    if (is_map(item) && (v = get(l, item, "signed_by")) != NULL && !is_null(v)) {
        snprintf(sub, sizeof(sub), "%s.signed_by", w);
        rc = parse_str_list(l, v, sub, RW_MAX_KEYS, RW_MAX_NAME_LEN, &a->signed_by,
                            &a->n_signed_by);
        if (rc != 0) {
            return rc;
        }
        if (a->n_signed_by == 0) {
            return fail(l, v, "%s: at least one key name is required", sub);
        }
        for (size_t i = 0; i < a->n_signed_by; i++) {
            if (rw_config_key(l->c, a->signed_by[i]) == NULL) {
                return fail(l, node(l, v->data.sequence.items.start[i]),
                            "%s: key '%.64s' is not defined in keys:", sub, a->signed_by[i]);
            }
        }
        a->own_keys = true;
    } else {
        a->signed_by = rw_calloc(r->n_signed_by, sizeof(*a->signed_by));
        if (a->signed_by == NULL) {
            return -ENOMEM;
        }
        for (size_t i = 0; i < r->n_signed_by; i++) {
            a->signed_by[i] = rw_strdup(r->signed_by[i]);
            if (a->signed_by[i] == NULL) {
                return -ENOMEM;
            }
            a->n_signed_by = i + 1;
        }
    }
    if (is_map(item) && (v = get(l, item, "conditions")) != NULL && !is_null(v)) {
        snprintf(sub, sizeof(sub), "%s.conditions", w);
        if (!is_seq(v)) {
            return fail(l, v, "%s: expected a list", sub);
        }
        if (seq_len(v) > RW_MAX_CONDITIONS) {
            return fail(l, v, "%s: too many conditions (max %u)", sub, RW_MAX_CONDITIONS);
        }
        a->conds = rw_calloc(seq_len(v), sizeof(*a->conds));
        if (a->conds == NULL) {
            return -ENOMEM;
        }
        for (size_t i = 0; i < seq_len(v); i++) {
            char cw[160];

            a->n_conds = i + 1;
            snprintf(cw, sizeof(cw), "%s[%zu]", sub, i);
            rc = parse_condition(l, node(l, v->data.sequence.items.start[i]), cw, &a->conds[i]);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* require.attestations: a list of entries (parse_att_req); the same bare requirement twice is
 * a mistake, the same type with other keys or conditions is another requirement. */
static int parse_attestations(struct ld *l, yaml_node_t *v, const char *what,
                              struct rw_pull_rule *r)
{
    size_t n;
    int rc;

    if (!is_seq(v)) {
        return fail(l, v, "require.attestations: expected a list");
    }
    n = seq_len(v);
    if (n > RW_MAX_ATTESTATION_TYPES) {
        return fail(l, v, "require.attestations: too many entries (max %u)",
                    RW_MAX_ATTESTATION_TYPES);
    }
    r->attestations = rw_calloc(n, sizeof(*r->attestations));
    if (r->attestations == NULL) {
        return -ENOMEM;
    }
    for (size_t k = 0; k < n; k++) {
        yaml_node_t *item = node(l, v->data.sequence.items.start[k]);
        struct rw_att_req *a = &r->attestations[k];

        r->n_attestations = k + 1;
        rc = parse_att_req(l, item, what, k, r, a);
        if (rc != 0) {
            return rc;
        }
        for (size_t j = 0; j < k; j++) {
            const struct rw_att_req *o = &r->attestations[j];

            if (strcmp(o->predicate_type, a->predicate_type) == 0 && o->n_conds == 0 &&
                a->n_conds == 0 && same_keys(o, a)) {
                return fail(l, item, "%s.require.attestations: '%.64s' is listed twice", what,
                            a->predicate_type);
            }
        }
    }
    return 0;
}

/* require.signature_on: either (default) | index | manifest. */
static int parse_signature_on(struct ld *l, yaml_node_t *v, const char *what, enum rw_sig_on *out)
{
    static const char *const names[RW_SIG_ON_COUNT] = {"either", "index", "manifest"};

    for (int i = 0; i < RW_SIG_ON_COUNT; i++) {
        if (is_scalar(v) && strcmp(sval(v), names[i]) == 0) {
            *out = (enum rw_sig_on)i;
            return 0;
        }
    }
    return fail(l, v, "%s.require.signature_on: expected either, index or manifest", what);
}

static int parse_pull_rule(struct ld *l, yaml_node_t *e, size_t i, struct rw_pull_rule *r)
{
    static const char *const keys[] = {"match", "allow", "require", "mode", NULL};
    static const char *const req_keys[] = {"signed_by", "attestations", "signature_on", NULL};
    char what[32];
    yaml_node_t *v;
    yaml_node_t *req;
    int rc;

    snprintf(what, sizeof(what), "pull.rules[%zu]", i);
    rc = check_map(l, e, what, keys);
    if (rc == 0) {
        rc = parse_pattern(l, e, what, &r->match);
    }
    if (rc != 0) {
        return rc;
    }
    r->line = line_of(e);
    if ((v = get(l, e, "allow")) != NULL && (rc = get_bool(l, v, "allow", &r->allow)) != 0) {
        return rc;
    }
    if ((v = get(l, e, "mode")) != NULL && (rc = parse_mode(l, v, "mode", &r->mode)) != 0) {
        return rc;
    }
    req = get(l, e, "require");
    if (req != NULL) {
        rc = check_map(l, req, "require", req_keys);
        if (rc != 0) {
            return rc;
        }
        v = get(l, req, "signed_by");
        if (v == NULL) {
            return fail(l, req, "%s.require: signed_by is required", what);
        }
        rc = parse_str_list(l, v, "require.signed_by", RW_MAX_KEYS, RW_MAX_NAME_LEN,
                            &r->signed_by, &r->n_signed_by);
        if (rc != 0) {
            return rc;
        }
        if (r->n_signed_by == 0) {
            return fail(l, v, "%s.require.signed_by: at least one key name is required", what);
        }
        for (size_t k = 0; k < r->n_signed_by; k++) {
            yaml_node_t *kn = node(l, v->data.sequence.items.start[k]);

            if (rw_config_key(l->c, r->signed_by[k]) == NULL) {
                return fail(l, kn, "%s.require.signed_by: key '%.64s' is not defined in keys:",
                            what, r->signed_by[k]);
            }
        }
        if ((v = get(l, req, "attestations")) != NULL && !is_null(v)) {
            rc = parse_attestations(l, v, what, r);
            if (rc != 0) {
                return rc;
            }
        }
        if ((v = get(l, req, "signature_on")) != NULL &&
            (rc = parse_signature_on(l, v, what, &r->signature_on)) != 0) {
            return rc;
        }
    }
    if (r->allow && r->n_signed_by > 0) {
        return fail(l, e, "%s: use either allow: true or require.signed_by, not both", what);
    }
    if (!r->allow && r->n_signed_by == 0) {
        return fail(l, e, "%s: needs allow: true or require.signed_by", what);
    }
    return 0;
}

static int parse_pull(struct ld *l, yaml_node_t *n)
{
    static const char *const keys[] = {"mode", "rules", "gate_blobs", NULL};
    struct rw_config *c = l->c;
    yaml_node_t *v;
    size_t count;
    int rc = check_map(l, n, "pull", keys);

    if (rc != 0) {
        return rc;
    }
    if ((v = get(l, n, "gate_blobs")) != NULL &&
        (rc = get_bool(l, v, "pull.gate_blobs", &c->gate_blobs)) != 0) {
        return rc;
    }
    if ((v = get(l, n, "mode")) != NULL && (rc = parse_mode(l, v, "pull.mode", &c->pull_mode))) {
        return rc;
    }
    v = get(l, n, "rules");
    if (v == NULL || is_null(v)) {
        return 0;
    }
    if (!is_seq(v)) {
        return fail(l, v, "pull.rules: expected a list");
    }
    count = seq_len(v);
    if (count + c->n_push > RW_MAX_RULES) {
        return fail(l, v, "pull.rules: too many rules (max %u with push)", RW_MAX_RULES);
    }
    c->pull = rw_calloc(count, sizeof(*c->pull));
    if (c->pull == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        c->n_pull = i + 1;
        rc = parse_pull_rule(l, node(l, v->data.sequence.items.start[i]), i, &c->pull[i]);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int parse_log(struct ld *l, yaml_node_t *n)
{
    static const char *const keys[] = {"format", "level", NULL};
    struct rw_config *c = l->c;
    yaml_node_t *v;
    int rc = check_map(l, n, "log", keys);

    if (rc != 0) {
        return rc;
    }
    if ((v = get(l, n, "format")) != NULL) {
        if (!is_scalar(v) || (strcmp(sval(v), "text") != 0 && strcmp(sval(v), "json") != 0)) {
            return fail(l, v, "log.format: expected text or json");
        }
        rc = get_str(l, v, "log.format", 8, &c->log_format);
    }
    if (rc == 0 && (v = get(l, n, "level")) != NULL) {
        if (!is_scalar(v) || rw_log_level_parse(sval(v)) < 0) {
            return fail(l, v, "log.level: expected debug, info, warn or error");
        }
        rc = get_str(l, v, "log.level", 16, &c->log_level);
    }
    return rc;
}

static int parse_root(struct ld *l, yaml_node_t *root)
{
    static const char *const keys[] = {"listen", "admin",  "upstreams", "default_upstream",
                                       "cache",  "deny_log", "keys",    "signer",
                                       "spire",  "push",   "pull",      "log",
                                       "provenance", NULL};
    struct rw_config *c = l->c;
    yaml_node_t *v;
    int rc = check_map(l, root, "config", keys);

    if (rc != 0) {
        return rc;
    }
    /* order matters: upstreams before default_upstream, keys before pull rules */
    v = get(l, root, "upstreams");
    if (v == NULL || (is_map(v) && map_len(v) == 0)) {
        return fail(l, v != NULL ? v : root, "upstreams: at least one upstream is required");
    }
    if ((rc = parse_upstreams(l, v)) != 0) {
        return rc;
    }
    if ((v = get(l, root, "default_upstream")) != NULL) {
        rc = get_str(l, v, "default_upstream", RW_MAX_NAME_LEN, &c->default_upstream);
        if (rc != 0) {
            return rc;
        }
        if (rw_config_upstream(c, c->default_upstream) == NULL) {
            return fail(l, v, "default_upstream: '%.64s' is not one of upstreams:",
                        c->default_upstream);
        }
    }
    if ((v = get(l, root, "listen")) != NULL && (rc = parse_listen(l, v)) != 0) {
        return rc;
    }
    if ((v = get(l, root, "admin")) != NULL) {
        rc = get_str(l, v, "admin", 300, &c->admin);
        if (rc != 0) {
            return rc;
        }
        if (!authority_ok(c->admin, strlen(c->admin), true)) {
            return fail(l, v, "admin: expected host:port");
        }
    }
    if ((v = get(l, root, "cache")) != NULL && (rc = parse_cache(l, v)) != 0) {
        return rc;
    }
    if ((v = get(l, root, "deny_log")) != NULL) {
        if (is_scalar(v) && strcmp(sval(v), "-") == 0) {
            rc = 0; /* already "-" */
        } else {
            rc = resolve(l, v, "deny_log", &c->deny_log);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if ((v = get(l, root, "keys")) != NULL && !is_null(v) && (rc = parse_keys(l, v)) != 0) {
        return rc;
    }
    if ((v = get(l, root, "signer")) != NULL && (rc = parse_signer(l, v)) != 0) {
        return rc;
    }
    if ((v = get(l, root, "spire")) != NULL && (rc = parse_spire(l, v)) != 0) {
        return rc;
    }
    if ((v = get(l, root, "provenance")) != NULL && !is_null(v) &&
        (rc = parse_provenance(l, v)) != 0) {
        return rc;
    }
    if ((rc = check_vault(l, root)) != 0) {
        return rc;
    }
    if ((v = get(l, root, "push")) != NULL && !is_null(v) && (rc = parse_push(l, v)) != 0) {
        return rc;
    }
    if ((v = get(l, root, "pull")) != NULL && (rc = parse_pull(l, v)) != 0) {
        return rc;
    }
    for (size_t i = 0; i < l->c->n_pull; i++) {
        /* the index->child links live in the cache: without one nothing would ever be allowed */
        if (l->c->pull[i].signature_on == RW_SIG_ON_INDEX && l->c->cache.path == NULL) {
            return fail(l, get(l, root, "pull"),
                        "pull rule %s: signature_on: index needs cache.path (the index->child "
                        "links are kept there)",
                        l->c->pull[i].match);
        }
    }
    if ((v = get(l, root, "log")) != NULL && (rc = parse_log(l, v)) != 0) {
        return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ policy hash */

static int put_field(struct rw_buf *b, const void *p, size_t n)
{
    uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    int rc = rw_buf_append(b, len, sizeof(len));

    return rc != 0 ? rc : rw_buf_append(b, p, n);
}

static int put_str(struct rw_buf *b, const char *s)
{
    return put_field(b, s, strlen(s));
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int put_count(struct rw_buf *b, size_t n)
{
    char num[32];

    snprintf(num, sizeof(num), "%zu", n);
    return put_str(b, num);
}

/*
 * require.attestations of one rule. Only types (the short form everywhere): "attestations", n,
 * types, as before, so older hashes stay valid. With any per-entry keys or conditions:
 * "attestations-v2", n, then per entry: type, "keys"|"rule-keys", n, names, "conditions", n,
 * per condition path, op, n, per value a type tag ("s", "n", "b") and the text as written.
 * Every field is length-prefixed, so no two policies share an encoding.
 */
static int put_attestations(struct rw_buf *b, const struct rw_pull_rule *r)
{
    static const char *const tags[RW_COND_TYPE_COUNT] = {"s", "n", "b"};
    bool full = false;
    int rc;

    for (size_t k = 0; k < r->n_attestations; k++) {
        full |= r->attestations[k].own_keys || r->attestations[k].n_conds > 0;
    }
    rc = put_str(b, full ? "attestations-v2" : "attestations");
    if (rc == 0) {
        rc = put_count(b, r->n_attestations);
    }
    for (size_t k = 0; rc == 0 && k < r->n_attestations; k++) {
        const struct rw_att_req *a = &r->attestations[k];

        rc = put_str(b, a->predicate_type);
        if (rc != 0 || !full) {
            continue;
        }
        rc = put_str(b, a->own_keys ? "keys" : "rule-keys");
        if (rc == 0) {
            rc = put_count(b, a->n_signed_by);
        }
        for (size_t i = 0; rc == 0 && i < a->n_signed_by; i++) {
            rc = put_str(b, a->signed_by[i]);
        }
        if (rc == 0) {
            rc = put_str(b, "conditions");
        }
        if (rc == 0) {
            rc = put_count(b, a->n_conds);
        }
        for (size_t i = 0; rc == 0 && i < a->n_conds; i++) {
            const struct rw_cond *c = &a->conds[i];

            rc = put_str(b, c->path);
            if (rc == 0) {
                rc = put_str(b, rw_cond_op_str(c->op));
            }
            if (rc == 0) {
                rc = put_count(b, c->n_values);
            }
            for (size_t j = 0; rc == 0 && j < c->n_values; j++) {
                rc = put_str(b, tags[c->values[j].type]);
                if (rc == 0) {
                    rc = put_field(b, c->values[j].text, c->values[j].len);
                }
            }
        }
    }
    return rc;
}

/* Does some pull rule (or one of its attestation requirements) name key @p name? */
static bool key_used(const struct rw_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_pull; i++) {
        const struct rw_pull_rule *r = &c->pull[i];

        for (size_t j = 0; j < r->n_signed_by; j++) {
            if (strcmp(r->signed_by[j], name) == 0) {
                return true;
            }
        }
        for (size_t k = 0; k < r->n_attestations; k++) {
            for (size_t j = 0; j < r->attestations[k].n_signed_by; j++) {
                if (strcmp(r->attestations[k].signed_by[j], name) == 0) {
                    return true;
                }
            }
        }
    }
    return false;
}

/*
 * sha256 over length-prefixed fields: a version tag, pull.mode, each pull rule (match, allow,
 * signed_by names, required attestations when any, signature_on when not "either", mode) in
 * order, then each referenced key (sorted by name) with its SPKI DER.
 * Nothing else (listeners, upstream URLs, TTLs) is in it: editing those keeps cached verdicts.
 */
static int policy_hash(struct rw_config *c)
{
    struct rw_buf b;
    struct rw_buf spki;
    const char **names = NULL;
    size_t n_names = 0;
    char num[32];
    int rc;

    rw_buf_init(&b, 0);
    rw_buf_init(&spki, 0);
    rc = put_str(&b, "regwarden-policy-v1");
    if (rc == 0) {
        rc = put_str(&b, rw_mode_str(c->pull_mode));
    }
    if (rc == 0 && !c->gate_blobs) {
        rc = put_str(&b, "gate_blobs=false"); /* absent when on: older hashes stay valid */
    }
    for (size_t i = 0; rc == 0 && i < c->n_pull; i++) {
        const struct rw_pull_rule *r = &c->pull[i];

        rc = put_str(&b, "rule");
        if (rc == 0) {
            rc = put_str(&b, r->match);
        }
        if (rc == 0) {
            rc = put_str(&b, r->allow ? "allow" : "require");
        }
        snprintf(num, sizeof(num), "%zu", r->n_signed_by);
        if (rc == 0) {
            rc = put_str(&b, num);
        }
        for (size_t k = 0; rc == 0 && k < r->n_signed_by; k++) {
            rc = put_str(&b, r->signed_by[k]);
        }
        if (rc == 0 && r->n_attestations > 0) {
            rc = put_attestations(&b, r);
        }
        if (rc == 0 && r->signature_on != RW_SIG_ON_EITHER) {
            /* absent at the default: older hashes stay valid */
            rc = put_str(&b, "signature_on");
            if (rc == 0) {
                rc = put_str(&b, r->signature_on == RW_SIG_ON_INDEX ? "index" : "manifest");
            }
        }
        if (rc == 0) {
            rc = put_str(&b, rw_mode_str(r->mode));
        }
    }
    if (rc == 0 && c->n_keys > 0) {
        names = rw_calloc(c->n_keys, sizeof(*names));
        rc = names == NULL ? -ENOMEM : 0;
    }
    for (size_t k = 0; rc == 0 && k < c->n_keys; k++) {
        if (key_used(c, c->keys[k].name)) {
            names[n_names++] = c->keys[k].name;
        }
    }
    if (n_names > 1) {
        qsort(names, n_names, sizeof(*names), cmp_names);
    }
    for (size_t k = 0; rc == 0 && k < n_names; k++) {
        const struct rw_key_cfg *kc = rw_config_key(c, names[k]);

        rw_buf_reset(&spki);
        rc = put_str(&b, "key");
        if (rc == 0) {
            rc = put_str(&b, names[k]);
        }
        if (rc == 0 && kc->vault_key != NULL) {
            /* the name and mount, not the versions: those change with rotations and are
             * folded into verdict keys by rw_config_verdict_policy() instead */
            rc = put_str(&b, "vault_transit");
            if (rc == 0) {
                rc = put_str(&b, kc->ring_id);
            }
            if (rc == 0) {
                rc = put_str(&b, c->signer_cfg.vault->address);
            }
            continue;
        }
        if (rc == 0) {
            rc = rw_pubkey_spki(kc->pub, &spki);
        }
        if (rc == 0) {
            rc = put_field(&b, spki.data, spki.len);
        }
    }
    if (rc == 0) {
        rw_sha256(b.data, b.len, c->policy_hash);
        rw_hex(c->policy_hash, sizeof(c->policy_hash), c->policy_hash_hex);
    }
    rw_free(names);
    rw_buf_fini(&spki);
    rw_buf_fini(&b);
    return rc;
}

/* ------------------------------------------------------------------ life cycle */

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        rw_free(v[i]);
    }
    rw_free(v);
}

static void config_free(struct rw_config *c)
{
    for (size_t i = 0; c->listen != NULL && i < c->n_listen; i++) {
        rw_free(c->listen[i].address);
        rw_free(c->listen[i].tls_cert);
        rw_free(c->listen[i].tls_key);
        rw_free(c->listen[i].client_ca);
        rw_free(c->listen[i].upstream);
    }
    rw_free(c->listen);
    for (size_t i = 0; c->upstreams != NULL && i < c->n_upstreams; i++) {
        rw_free(c->upstreams[i].name);
        rw_free(c->upstreams[i].url);
        rw_free(c->upstreams[i].ca);
        rw_free(c->upstreams[i].allowed_hosts);
        rw_free(c->upstreams[i].auth_user);
        if (c->upstreams[i].auth_basic != NULL) {
            explicit_bzero(c->upstreams[i].auth_basic, strlen(c->upstreams[i].auth_basic));
        }
        rw_free(c->upstreams[i].auth_basic);
    }
    rw_free(c->upstreams);
    for (size_t i = 0; c->keys != NULL && i < c->n_keys; i++) {
        rw_free(c->keys[i].name);
        rw_free(c->keys[i].file);
        rw_pubkey_free(&c->keys[i].pub);
        rw_free(c->keys[i].vault_key);
        rw_free(c->keys[i].vault_mount);
        rw_free(c->keys[i].ring_id);
    }
    rw_free(c->keys);
    for (size_t i = 0; c->push != NULL && i < c->n_push; i++) {
        rw_free(c->push[i].match);
        free_strv(c->push[i].identities, c->push[i].n_identities);
    }
    rw_free(c->push);
    for (size_t i = 0; c->pull != NULL && i < c->n_pull; i++) {
        rw_free(c->pull[i].match);
        free_strv(c->pull[i].signed_by, c->pull[i].n_signed_by);
        for (size_t k = 0; c->pull[i].attestations != NULL && k < c->pull[i].n_attestations;
             k++) {
            rw_att_req_fini(&c->pull[i].attestations[k]);
        }
        rw_free(c->pull[i].attestations);
    }
    rw_free(c->pull);
    rw_signer_free(&c->signer);
    rw_free(c->signer_cfg.file_key);
    if (c->signer_cfg.vault != NULL) {
        struct rw_vault_cfg *v = c->signer_cfg.vault;

        rw_free(v->address);
        rw_free(v->mount);
        rw_free(v->key);
        rw_free(v->ns);
        rw_free(v->ca);
        rw_free(v->jwt_role);
        rw_free(v->jwt_mount);
        rw_free(v->jwt_audience);
        rw_free(v->token_file);
        rw_free(v);
    }
    rw_free(c->spire_socket);
    rw_free(c->provenance.builder_id);
    rw_free(c->provenance.build_type);
    rw_keyring_unref(&c->keyring);
    rw_free(c->path);
    rw_free(c->dir);
    rw_free(c->admin);
    rw_free(c->default_upstream);
    rw_free(c->cache.path);
    rw_free(c->deny_log);
    rw_free(c->log_level);
    rw_free(c->log_format);
    rw_free(c);
}

static int set_defaults(struct rw_config *c)
{
    c->cache.allow_ttl = 86400;
    c->cache.deny_ttl = 30;
    c->cache.map_size = 256u * 1024u * 1024u;
    c->pull_mode = RW_MODE_ENFORCE;
    c->gate_blobs = true;
    c->cache.serve_by_digest = true;
    c->deny_log = rw_strdup("-");
    c->log_level = rw_strdup("info");
    c->log_format = rw_strdup("text");
    if (c->deny_log == NULL || c->log_level == NULL || c->log_format == NULL) {
        return -ENOMEM;
    }
    return 0;
}

/* Absolute form of @p p against the working directory (no symlink resolution needed). */
static char *absolute(const char *p)
{
    char cwd[PATH_MAX];

    if (p[0] == '/') {
        return rw_strdup(p);
    }
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        return NULL;
    }
    return rw_asprintf("%s/%s", cwd, p);
}

/*
 * Before the document is built: nesting deeper than CFG_MAX_DEPTH is refused from the event
 * stream, so libyaml's loader (quadratic in flow depth: 100,000 '[' took minutes) never sees it.
 */
static int check_depth(struct ld *l, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    unsigned depth = 0;
    int rc = 0;

    if (!yaml_parser_initialize(&parser)) {
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    for (;;) {
        yaml_event_type_t t;
        int line;

        if (!yaml_parser_parse(&parser, &ev)) {
            break; /* the loader reports the syntax error with its own message */
        }
        t = ev.type;
        line = (int)ev.start_mark.line + 1;
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT) {
            break;
        }
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > CFG_MAX_DEPTH) {
                snprintf(l->err, l->errlen, "%s:%d: nested deeper than %u levels", l->name, line,
                         CFG_MAX_DEPTH);
                rc = RW_ECONFIG;
                break;
            }
        } else if ((t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) && depth > 0) {
            depth--;
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* Nodes under @p id with aliases expanded (saturating past CFG_MAX_NODES); memo[id - 1] holds
 * a finished count, -1 while the node is being walked (an alias to it there is a cycle).
 * Recursion follows the document's own nesting (check_depth bounded it): an alias names a node
 * that is already finished or an enclosing one. */
static int expanded(struct ld *l, int id, int64_t *memo, int64_t *out)
{
    yaml_node_t *n = node(l, id);
    int64_t total = 1;

    if (n == NULL) {
        *out = 0;
        return 0;
    }
    if (memo[id - 1] > 0) {
        *out = memo[id - 1];
        return 0;
    }
    if (memo[id - 1] < 0) {
        return fail(l, n, "an alias is inside the node it names (&anchor ... *anchor)");
    }
    memo[id - 1] = -1;
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             it < n->data.sequence.items.top; it++) {
            int64_t k;
            int rc = expanded(l, *it, memo, &k);

            if (rc != 0) {
                return rc;
            }
            total += k;
            total = total > CFG_MAX_NODES ? CFG_MAX_NODES + 1 : total;
        }
    } else if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            int64_t k;
            int64_t v;
            int rc = expanded(l, p->key, memo, &k);

            if (rc == 0) {
                rc = expanded(l, p->value, memo, &v);
            }
            if (rc != 0) {
                return rc;
            }
            total += k + v;
            total = total > CFG_MAX_NODES ? CFG_MAX_NODES + 1 : total;
        }
    }
    memo[id - 1] = total;
    *out = total;
    return 0;
}

/* Anchors and aliases may name a node many times: bound what the schema walk will visit. */
static int check_expansion(struct ld *l)
{
    size_t n = (size_t)(l->doc->nodes.top - l->doc->nodes.start);
    int64_t *memo;
    int64_t total = 0;
    int rc;

    if (n == 0) {
        return 0;
    }
    memo = rw_calloc(n, sizeof(*memo));
    if (memo == NULL) {
        return -ENOMEM;
    }
    rc = expanded(l, 1, memo, &total);
    rw_free(memo);
    if (rc == 0 && total > CFG_MAX_NODES) {
        rc = fail(l, yaml_document_get_root_node(l->doc),
                  "anchors and aliases expand to more than %u nodes (the most a %u-byte file "
                  "holds written out)",
                  CFG_MAX_NODES, RW_MAX_CONFIG_BYTES);
    }
    return rc;
}

static int load_doc(struct ld *l, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    yaml_node_t *root;
    int rc;

    rc = check_depth(l, text, len);
    if (rc != 0) {
        return rc;
    }
    if (!yaml_parser_initialize(&parser)) {
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, l->doc)) {
        /* libyaml frees the partial document itself */
        rc = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : RW_ECONFIG;
        snprintf(l->err, l->errlen, "%s:%d: %s%s%s", l->name, (int)parser.problem_mark.line + 1,
                 parser.problem != NULL ? parser.problem : "YAML syntax error",
                 parser.context != NULL ? " " : "", parser.context != NULL ? parser.context : "");
        yaml_parser_delete(&parser);
        return rc;
    }
    root = yaml_document_get_root_node(l->doc);
    if (root == NULL) {
        yaml_document_delete(l->doc);
        yaml_parser_delete(&parser);
        snprintf(l->err, l->errlen, "%s:1: empty configuration", l->name);
        return RW_ECONFIG;
    }
    rc = 0;
    if (!yaml_parser_load(&parser, &extra)) {
        rc = fail(l, NULL, "YAML syntax error after the first document");
    } else {
        if (yaml_document_get_root_node(&extra) != NULL) {
            rc = fail(l, yaml_document_get_root_node(&extra), "only one YAML document is allowed");
        }
        yaml_document_delete(&extra);
    }
    yaml_parser_delete(&parser);
    if (rc == 0) {
        rc = check_expansion(l);
    }
    if (rc != 0) {
        yaml_document_delete(l->doc);
    }
    return rc;
}

int rw_config_load_mem(const char *name, const char *base_dir, const char *text, size_t len,
                       struct rw_config **out, char *err, size_t errlen)
{
    struct config_box *box = NULL;
    struct rw_config *c = NULL;
    yaml_document_t doc;
    char dummy[8];
    struct ld l = {0};
    bool have_doc = false;
    int rc;

    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    l.name = name != NULL ? name : "<config>";
    l.err = err;
    l.errlen = errlen;
    if (text == NULL || len > RW_MAX_CONFIG_BYTES) {
        fail(&l, NULL, "configuration larger than %u bytes", RW_MAX_CONFIG_BYTES);
        return RW_ECONFIG;
    }
    box = rw_calloc(1, sizeof(*box));
    if (box == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    atomic_init(&box->refs, 1);
    c = &box->c;
    l.c = c;
    rc = set_defaults(c);
    if (rc != 0) {
        goto out;
    }
    c->dir = absolute(base_dir != NULL && base_dir[0] != '\0' ? base_dir : ".");
    if (c->dir == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    c->path = name != NULL && name[0] == '/' ? rw_strdup(name)
                                             : rw_asprintf("%s/%s", c->dir, l.name);
    if (c->path == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    l.dir = c->dir;
    l.doc = &doc;
    rc = load_doc(&l, text, len);
    if (rc != 0) {
        goto out;
    }
    have_doc = true;
    rc = parse_root(&l, yaml_document_get_root_node(&doc));
    if (rc == 0) {
        rc = policy_hash(c);
    }
out:
    if (have_doc) {
        yaml_document_delete(&doc);
    }
    if (rc == -ENOMEM) {
        snprintf(err, errlen, "%s: out of memory", l.name);
    }
    if (rc != 0) {
        if (c != NULL) {
            config_free(c);
        }
        return rc;
    }
    *out = c;
    return 0;
}

int rw_config_load(const char *path, struct rw_config **out, char *err, size_t errlen)
{
    FILE *f = NULL;
    char *text = NULL;
    char absbuf[PATH_MAX];
    const char *abs;
    char *dir = NULL;
    char *slash;
    struct rw_config *c = NULL;
    size_t n;
    int rc;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (path == NULL) {
        return RW_EINVAL;
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        rc = -errno;
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "%s:1: cannot open: %s", path, rw_strerror(rc));
        }
        return RW_ECONFIG;
    }
    text = rw_malloc(RW_MAX_CONFIG_BYTES + 1);
    abs = realpath(path, absbuf);
    if (text == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    n = fread(text, 1, RW_MAX_CONFIG_BYTES + 1, f);
    if (ferror(f) || n > RW_MAX_CONFIG_BYTES) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "%s:1: %s", path,
                     ferror(f) ? "read error" : "configuration larger than 1 MiB");
        }
        rc = RW_ECONFIG;
        goto out;
    }
    dir = rw_strdup(abs != NULL ? abs : path);
    if (dir == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    slash = strrchr(dir, '/');
    if (slash == NULL) {
        dir[0] = '.';
        dir[1] = '\0';
    } else if (slash == dir) {
        slash[1] = '\0';
    } else {
        *slash = '\0';
    }
    rc = rw_config_load_mem(path, dir, text, n, &c, err, errlen);
    if (rc == 0 && abs != NULL) {
        char *p = rw_strdup(abs);

        if (p == NULL) {
            rw_config_unref(&c);
            rc = -ENOMEM;
            goto out;
        }
        rw_free(c->path);
        c->path = p;
    }
    if (rc == 0) {
        *out = c;
    }
out:
    fclose(f);
    rw_free(text);
    rw_free(dir);
    return rc;
}

struct rw_config *rw_config_ref(struct rw_config *c)
{
    if (c != NULL) {
        atomic_fetch_add(&((struct config_box *)c)->refs, 1);
    }
    return c;
}

void rw_config_unref(struct rw_config **pc)
{
    struct config_box *box;

    if (pc == NULL || *pc == NULL) {
        return;
    }
    box = (struct config_box *)*pc;
    *pc = NULL;
    if (atomic_fetch_sub(&box->refs, 1) == 1) {
        config_free(&box->c);
    }
}

const struct rw_upstream_cfg *rw_config_upstream(const struct rw_config *c, const char *name)
{
    for (size_t i = 0; c != NULL && name != NULL && i < c->n_upstreams; i++) {
        if (c->upstreams[i].name != NULL && strcmp(c->upstreams[i].name, name) == 0) {
            return &c->upstreams[i];
        }
    }
    return NULL;
}

const struct rw_key_cfg *rw_config_key(const struct rw_config *c, const char *name)
{
    for (size_t i = 0; c != NULL && name != NULL && i < c->n_keys; i++) {
        if (c->keys[i].name != NULL && (c->keys[i].pub != NULL || c->keys[i].vault_key != NULL) &&
            strcmp(c->keys[i].name, name) == 0) {
            return &c->keys[i];
        }
    }
    return NULL;
}

bool rw_config_uses_vault_keys(const struct rw_config *c)
{
    for (size_t k = 0; k < c->n_keys; k++) {
        if (c->keys[k].vault_key != NULL && key_used(c, c->keys[k].name)) {
            return true; /* a rule's signed_by or an attestation requirement's */
        }
    }
    return false;
}

void rw_config_verdict_policy(const struct rw_config *c, uint8_t out[32])
{
    uint8_t buf[64];

    if (!rw_config_uses_vault_keys(c)) {
        memcpy(out, c->policy_hash, 32);
        return;
    }
    memcpy(buf, c->policy_hash, 32);
    rw_keyring_fingerprint(c->keyring, buf + 32);
    rw_sha256(buf, sizeof(buf), out);
}

void rw_config_set_keyring(struct rw_config *c, struct rw_keyring *kr)
{
    rw_keyring_unref(&c->keyring);
    c->keyring = rw_keyring_ref(kr);
}
