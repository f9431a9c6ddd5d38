/* SPDX-License-Identifier: MIT */
/*
 * OCI request-target parsing (proxy/image_ref.h is the spec): split path and query, decode the
 * path once, refuse traversal and ambiguity, find the route from the right, validate the name,
 * tag, digest or upload id with policy/oci.c, take ns= out of the query. Pure: no I/O, no
 * allocation; every output is copied into the caller's struct only when the whole target is
 * valid. The path forwarded upstream is rebuilt from these parts, never copied from the client.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "rw/buf.h"
#include "rw/err.h"
#include "rw/limits.h"
#include "rw/policy.h"

#include "image_ref.h"

/* A repository of RW_MAX_REPO_LEN bytes has at most 128 components; the route adds three. */
#define MAX_SEGS ((RW_MAX_REPO_LEN + 1u) / 2u + 4u)

#define CODE_NAME_INVALID   "NAME_INVALID"
#define CODE_TAG_INVALID    "TAG_INVALID"
#define CODE_DIGEST_INVALID "DIGEST_INVALID"
#define CODE_NAME_UNKNOWN   "NAME_UNKNOWN"
#define CODE_UPLOAD_UNKNOWN "BLOB_UPLOAD_UNKNOWN"
#define CODE_UNSUPPORTED    "UNSUPPORTED"

struct seg {
    const char *p; /* borrowed: points into the decode buffer */
    size_t n;
    bool bad;      /* bad escape, a byte outside pchar, or a decoded '/', control or non-ASCII */
};

struct parse {
    struct rw_route_match m;
    char dec[RW_MAX_REQ_LINE + 1];
    struct seg segs[MAX_SEGS];
    size_t nsegs;
    int status;
    const char *code;
};

static const char *const route_names[RW_ROUTE_COUNT] = {
    "ping", "catalog", "manifest", "blob", "upload_start", "upload", "tags", "referrers"};

const char *rw_route_str(enum rw_route r)
{
    if ((unsigned)r >= RW_ROUTE_COUNT) {
        return "unknown";
    }
    return route_names[r];
}

static int fail(struct parse *ps, int rc, int status, const char *code)
{
    ps->status = status;
    ps->code = code;
    return rc;
}

static bool is_unreserved(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 3986 pchar minus pct-encoded (checked by the caller). */
static bool is_pchar(char c)
{
    return is_unreserved(c) || strchr("!$&'()*+,;=:@", c) != NULL;
}

/* RFC 3986 query = *( pchar / "/" / "?" ) */
static bool is_querychar(char c)
{
    return c != '\0' && (is_pchar(c) || c == '/' || c == '?' || c == '%');
}

static bool seg_is(const struct seg *s, const char *word)
{
    return !s->bad && s->n == strlen(word) && memcmp(s->p, word, s->n) == 0;
}

/*
 * Decode raw[0..n) once into out; *bad is set for a malformed escape, a raw byte outside pchar,
 * or a decoded byte that is '/', a control, a space or non-ASCII. Returns the decoded length.
 */
static size_t decode(const char *raw, size_t n, char *out, bool *bad)
{
    size_t o = 0;

    *bad = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)raw[i];

        if (c == '%') {
            int hi = i + 2 < n ? rw_buf_hex_digit(raw[i + 1]) : -1;
            int lo = i + 2 < n ? rw_buf_hex_digit(raw[i + 2]) : -1;

            if (hi < 0 || lo < 0) {
                *bad = true;
                out[o++] = '%';
                continue;
            }
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (!is_pchar((char)c)) {
            *bad = true;
        }
        if (c <= 0x20 || c >= 0x7f || c == '/') {
            *bad = true;
        }
        out[o++] = (char)c;
    }
    return o;
}

/* Split the part after "/v2/" into decoded segments. */
static int split_path(struct parse *ps, const char *rest, size_t n)
{
    size_t start = 0;
    size_t o = 0;

    for (size_t i = 0; i <= n; i++) {
        struct seg *s;

        if (i < n && rest[i] != '/') {
            continue;
        }
        if (ps->nsegs == MAX_SEGS) {
            return fail(ps, RW_ETOOBIG, 400, CODE_NAME_INVALID);
        }
        s = &ps->segs[ps->nsegs++];
        s->p = ps->dec + o;
        s->n = decode(rest + start, i - start, ps->dec + o, &s->bad);
        o += s->n;
        start = i + 1;
    }
    for (size_t i = 0; i < ps->nsegs; i++) {
        const struct seg *s = &ps->segs[i];

        /* "." and ".." (raw or decoded) never reach a router or a file system. */
        if ((s->n == 1 && s->p[0] == '.') || (s->n == 2 && s->p[0] == '.' && s->p[1] == '.')) {
            return fail(ps, RW_EINVAL, 400, CODE_NAME_INVALID);
        }
        /* "//" anywhere; a trailing '/' is judged by the route shape */
        if (s->n == 0 && i + 1 < ps->nsegs) {
            return fail(ps, RW_EINVAL, 400, CODE_NAME_INVALID);
        }
    }
    return 0;
}

/* Join segments [0, k) with '/' into m.repo and validate the repository name. */
static int take_name(struct parse *ps, size_t k)
{
    size_t o = 0;

    if (k == 0) {
        return fail(ps, RW_EINVAL, 400, CODE_NAME_INVALID);
    }
    for (size_t i = 0; i < k; i++) {
        const struct seg *s = &ps->segs[i];

        if (s->bad) {
            return fail(ps, RW_EINVAL, 400, CODE_NAME_INVALID);
        }
        if (o + s->n + (i > 0 ? 1 : 0) > RW_MAX_REPO_LEN) {
            return fail(ps, RW_ETOOBIG, 400, CODE_NAME_INVALID);
        }
        if (i > 0) {
            ps->m.repo[o++] = '/';
        }
        memcpy(ps->m.repo + o, s->p, s->n);
        o += s->n;
    }
    ps->m.repo[o] = '\0';
    if (!rw_oci_name_valid(ps->m.repo, o)) {
        return fail(ps, RW_EINVAL, 400, CODE_NAME_INVALID);
    }
    return 0;
}

static void set_ref(struct parse *ps, const struct seg *s)
{
    memcpy(ps->m.reference, s->p, s->n);
    ps->m.reference[s->n] = '\0';
}

static int take_digest(struct parse *ps, const struct seg *s)
{
    if (s->n > RW_MAX_DIGEST_LEN) {
        return fail(ps, RW_ETOOBIG, 400, CODE_DIGEST_INVALID);
    }
    if (s->bad || !rw_oci_digest_valid(s->p, s->n)) {
        return fail(ps, RW_EINVAL, 400, CODE_DIGEST_INVALID);
    }
    set_ref(ps, s);
    ps->m.by_digest = true;
    return 0;
}

static int take_reference(struct parse *ps, const struct seg *s)
{
    /* A tag never holds ':', so anything with one is judged as a digest. */
    if (s->n > 0 && memchr(s->p, ':', s->n) != NULL) {
        return take_digest(ps, s);
    }
    if (s->n > RW_MAX_TAG_LEN) {
        return fail(ps, RW_ETOOBIG, 400, CODE_TAG_INVALID);
    }
    if (s->bad || !rw_oci_tag_valid(s->p, s->n)) {
        return fail(ps, RW_EINVAL, 400, CODE_TAG_INVALID);
    }
    set_ref(ps, s);
    return 0;
}

static bool upload_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '=' || c == ':' || c == '-';
}

static int take_upload_id(struct parse *ps, const struct seg *s)
{
    if (s->n > RW_MAX_UPLOAD_ID_LEN) {
        return fail(ps, RW_ETOOBIG, 404, CODE_UPLOAD_UNKNOWN);
    }
    if (s->bad || s->n == 0) {
        return fail(ps, RW_EINVAL, 404, CODE_UPLOAD_UNKNOWN);
    }
    for (size_t i = 0; i < s->n; i++) {
        if (!upload_id_char(s->p[i])) {
            return fail(ps, RW_EINVAL, 404, CODE_UPLOAD_UNKNOWN);
        }
    }
    set_ref(ps, s);
    return 0;
}

/*
 * Route from the right: the reference is always the last segment and the route word the one
 * (or two) before it, so a repository may itself hold segments named manifests, blobs or tags.
 */
static int route_path(struct parse *ps)
{
    size_t n = ps->nsegs;
    const struct seg *s = ps->segs;
    int rc;

    if (n == 1 && seg_is(&s[0], "_catalog")) {
        ps->m.route = RW_ROUTE_CATALOG;
        return 0;
    }
    if (n >= 3 && seg_is(&s[n - 3], "blobs") && seg_is(&s[n - 2], "uploads")) {
        rc = take_name(ps, n - 3);
        if (rc != 0) {
            return rc;
        }
        if (s[n - 1].n == 0) {
            ps->m.route = RW_ROUTE_UPLOAD_START;
            return 0;
        }
        ps->m.route = RW_ROUTE_UPLOAD;
        return take_upload_id(ps, &s[n - 1]);
    }
    if (n < 2) {
        return fail(ps, RW_EINVAL, 404, CODE_NAME_UNKNOWN);
    }
    if (seg_is(&s[n - 2], "blobs") && seg_is(&s[n - 1], "uploads")) {
        ps->m.route = RW_ROUTE_UPLOAD_START;
        return take_name(ps, n - 2);
    }
    if (seg_is(&s[n - 2], "manifests")) {
        ps->m.route = RW_ROUTE_MANIFEST;
    } else if (seg_is(&s[n - 2], "blobs")) {
        ps->m.route = RW_ROUTE_BLOB;
    } else if (seg_is(&s[n - 2], "referrers")) {
        ps->m.route = RW_ROUTE_REFERRERS;
    } else if (seg_is(&s[n - 2], "tags") && seg_is(&s[n - 1], "list")) {
        ps->m.route = RW_ROUTE_TAGS;
    } else {
        return fail(ps, RW_EINVAL, 404, CODE_NAME_UNKNOWN);
    }
    rc = take_name(ps, n - 2);
    if (rc != 0) {
        return rc;
    }
    switch (ps->m.route) {
    case RW_ROUTE_MANIFEST:
        return take_reference(ps, &s[n - 1]);
    case RW_ROUTE_BLOB:
    case RW_ROUTE_REFERRERS:
        return take_digest(ps, &s[n - 1]);
    default:
        return 0;
    }
}

static bool ns_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
}

static int take_ns(struct parse *ps, const char *v, size_t n)
{
    char buf[RW_MAX_NAME_LEN + 1];
    size_t o = 0;

    if (ps->m.has_ns) {
        return fail(ps, RW_EINVAL, 400, CODE_NAME_INVALID);
    }
    for (size_t i = 0; i < n; i++) {
        char c = v[i];

        if (c == '%') {
            /* the query was checked: every '%' has two hex digits after it */
            c = (char)(rw_buf_hex_digit(v[i + 1]) << 4 | rw_buf_hex_digit(v[i + 2]));
            i += 2;
        }
        if (o == RW_MAX_NAME_LEN) {
            return fail(ps, RW_ETOOBIG, 400, CODE_NAME_INVALID);
        }
        if (!ns_char(c)) {
            return fail(ps, RW_EINVAL, 400, CODE_NAME_INVALID);
        }
        buf[o++] = c;
    }
    if (o == 0) {
        return fail(ps, RW_EINVAL, 400, CODE_NAME_INVALID);
    }
    memcpy(ps->m.ns, buf, o);
    ps->m.ns[o] = '\0';
    ps->m.has_ns = true;
    return 0;
}

/* Is the (raw) parameter name "ns", however it was percent-encoded? */
static bool param_is_ns(const char *p, size_t n)
{
    char name[2];
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = p[i];

        if (c == '%') {
            c = (char)(rw_buf_hex_digit(p[i + 1]) << 4 | rw_buf_hex_digit(p[i + 2]));
            i += 2;
        }
        if (o == sizeof(name)) {
            return false;
        }
        name[o++] = c;
    }
    return o == 2 && name[0] == 'n' && name[1] == 's';
}

static int parse_query(struct parse *ps, const char *q, size_t n)
{
    size_t o = 0;
    size_t start = 0;

    if (n > RW_MAX_QUERY_LEN) {
        return fail(ps, RW_ETOOBIG, 414, CODE_UNSUPPORTED);
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_querychar(q[i])) {
            return fail(ps, RW_EINVAL, 400, CODE_UNSUPPORTED);
        }
        if (q[i] == '%' &&
            (i + 2 >= n || rw_buf_hex_digit(q[i + 1]) < 0 || rw_buf_hex_digit(q[i + 2]) < 0)) {
            return fail(ps, RW_EINVAL, 400, CODE_UNSUPPORTED);
        }
    }
    for (size_t i = 0; i <= n; i++) {
        const char *p = q + start;
        size_t len = i - start;
        const char *eq;
        int rc;

        if (i < n && q[i] != '&') {
            continue;
        }
        start = i + 1;
        if (len == 0) {
            continue;
        }
        eq = memchr(p, '=', len);
        if (param_is_ns(p, eq != NULL ? (size_t)(eq - p) : len)) {
            rc = take_ns(ps, eq != NULL ? eq + 1 : p + len,
                         eq != NULL ? len - (size_t)(eq - p) - 1 : 0);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        if (o > 0) {
            ps->m.query[o++] = '&';
        }
        memcpy(ps->m.query + o, p, len);
        o += len;
    }
    ps->m.query[o] = '\0';
    return 0;
}

static int parse(struct parse *ps, const char *target, size_t len)
{
    const char *q;
    size_t plen;
    int rc;

    if (len > RW_MAX_REQ_LINE) {
        return fail(ps, RW_ETOOBIG, 414, CODE_UNSUPPORTED);
    }
    if (memchr(target, '\0', len) != NULL || memchr(target, '#', len) != NULL) {
        return fail(ps, RW_EINVAL, 400, CODE_NAME_INVALID);
    }
    q = memchr(target, '?', len);
    plen = q != NULL ? (size_t)(q - target) : len;
    if (plen < 3 || memcmp(target, "/v2", 3) != 0 || (plen > 3 && target[3] != '/')) {
        return fail(ps, RW_EINVAL, 404, CODE_NAME_UNKNOWN);
    }
    if (plen <= 4) {
        ps->m.route = RW_ROUTE_PING;
    } else {
        rc = split_path(ps, target + 4, plen - 4);
        if (rc == 0) {
            rc = route_path(ps);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (q != NULL) {
        return parse_query(ps, q + 1, len - plen - 1);
    }
    return 0;
}

int rw_route_parse(const char *target, size_t len, struct rw_route_match *out, int *status,
                   const char **oci_code)
{
    /* static-free and allocation-free: the scratch lives on the caller's stack */
    struct parse ps;
    int rc;

    memset(&ps.m, 0, sizeof(ps.m));
    ps.nsegs = 0;
    ps.status = 400;
    ps.code = CODE_NAME_INVALID;
    if (target == NULL) {
        rc = RW_EINVAL;
    } else {
        rc = parse(&ps, target, len);
    }
    if (rc != 0) {
        if (status != NULL) {
            *status = ps.status;
        }
        if (oci_code != NULL) {
            *oci_code = ps.code;
        }
        return rc;
    }
    *out = ps.m;
    return 0;
}
