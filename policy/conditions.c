/* SPDX-License-Identifier: MIT */
/*
 * The attestation condition engine (policy/README.md "Attestations"): dotted paths over a JSON
 * predicate with '*' wildcards, the four checks (equals, in, matches, at_most), the glob of
 * `matches`, and the one sanitised sentence saying why a condition failed. Pure: no I/O, no
 * crypto, no YAML (config.c hands scalars in). Bounds come from rw/limits.h; the walk allocates
 * nothing, recurses at most RW_MAX_COND_SEGMENTS deep and visits each JSON node at most once per
 * condition.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conditions.h"
#include "jsonutil.h"
#include "rw/err.h"
#include "rw/mem.h"
#include "rw/policy.h"

#define QUOTE_MAX 64u  /* bytes of a value quoted in a message */
#define AT_MAX    160u /* bytes of the concrete path named in a message */

static const char *const op_names[RW_COND_OP_COUNT] = {"equals", "in", "matches", "at_most"};

const char *rw_cond_op_str(enum rw_cond_op op)
{
    return (unsigned)op < RW_COND_OP_COUNT ? op_names[op] : "?";
}

/* snprintf whose truncation is intended (messages are one bounded sentence). */
static void textf(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void textf(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;

    if (dst == NULL || cap == 0) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

void rw_cond_quote(const char *s, size_t n, size_t max, char *out, size_t cap)
{
    size_t o = 0;
    size_t i;

    if (cap < 8) {
        if (cap > 0) {
            out[0] = '\0';
        }
        return;
    }
    out[o++] = '"';
    for (i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)s[i];

        if (o + 2 + 5 > cap) {
            break; /* keep room for an escape pair, then `..."` and the NUL */
        }
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else {
            out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        }
    }
    if (i < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* ------------------------------------------------------------------ syntax */

int rw_cond_path_check(const char *path, char *why, size_t cap)
{
    size_t len;
    size_t segs = 1;
    size_t start = 0;

    if (path == NULL || (len = strnlen(path, RW_MAX_COND_PATH_LEN + 1)) == 0) {
        textf(why, cap, "empty path");
        return RW_EINVAL;
    }
    if (len > RW_MAX_COND_PATH_LEN) {
        textf(why, cap, "path longer than %u bytes", RW_MAX_COND_PATH_LEN);
        return RW_EINVAL;
    }
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)path[i];

        if (i == len || c == '.') {
            size_t seglen = i - start;

            if (seglen == 0) {
                textf(why, cap, "empty segment (leading, trailing or doubled '.')");
                return RW_EINVAL;
            }
            if (seglen > 1 && memchr(path + start, '*', seglen) != NULL) {
                textf(why, cap, "'*' must be a whole segment");
                return RW_EINVAL;
            }
            if (i < len && ++segs > RW_MAX_COND_SEGMENTS) {
                textf(why, cap, "more than %u segments", RW_MAX_COND_SEGMENTS);
                return RW_EINVAL;
            }
            start = i + 1;
        } else if (c < 0x20 || c >= 0x7f) {
            /* printable ASCII only: the path is named as is in deny details */
            textf(why, cap, "byte 0x%02x in path (printable ASCII only)", c);
            return RW_EINVAL;
        }
    }
    return 0;
}

/* p[i] is '[': the index of the ']' closing the class, or 0 when unclosed. */
static size_t class_end(const char *p, size_t i)
{
    size_t j = i + 1;

    if (p[j] == '!' || p[j] == '^') {
        j++;
    }
    if (p[j] == ']') {
        j++; /* a leading ']' is a member */
    }
    while (p[j] != '\0' && p[j] != ']') {
        j += (p[j] == '\\' && p[j + 1] != '\0') ? 2 : 1;
    }
    return p[j] == ']' ? j : 0;
}

int rw_cond_glob_check(const char *pattern, char *why, size_t cap)
{
    for (size_t i = 0; pattern[i] != '\0'; i++) {
        if (pattern[i] == '\\') {
            if (pattern[i + 1] == '\0') {
                textf(why, cap, "pattern ends with a lone '\\'");
                return RW_EINVAL;
            }
            i++;
        } else if (pattern[i] == '[') {
            size_t end = class_end(pattern, i);

            if (end == 0) {
                textf(why, cap, "unclosed '[' in pattern");
                return RW_EINVAL;
            }
            i = end;
        }
    }
    return 0;
}

/* The pattern element at p[*pi] against byte @p c; *pi moves past the element. */
static bool glob_one(const char *p, size_t *pi, unsigned char c)
{
    size_t i = *pi;
    size_t end;
    size_t j;
    bool neg;
    bool hit = false;

    if (p[i] == '?') {
        *pi = i + 1;
        return true;
    }
    if (p[i] == '\\' && p[i + 1] != '\0') {
        *pi = i + 2;
        return (unsigned char)p[i + 1] == c;
    }
    if (p[i] != '[' || (end = class_end(p, i)) == 0) {
        *pi = i + 1; /* an unclosed '[' is itself (fnmatch); config refuses it anyway */
        return (unsigned char)p[i] == c;
    }
    j = i + 1;
    neg = p[j] == '!' || p[j] == '^';
    if (neg) {
        j++;
    }
    while (j < end) {
        unsigned char lo;
        unsigned char hi;

        if (p[j] == '\\' && j + 1 < end) {
            j++;
        }
        lo = (unsigned char)p[j++];
        hi = lo;
        if (j + 1 < end && p[j] == '-') {
            j++;
            if (p[j] == '\\' && j + 1 < end) {
                j++;
            }
            hi = (unsigned char)p[j++];
        }
        if (lo <= c && c <= hi) {
            hit = true;
        }
    }
    *pi = end + 1;
    return hit != neg;
}

bool rw_cond_glob_match(const char *pattern, const char *s, size_t n)
{
    size_t pi = 0;
    size_t si = 0;
    size_t star_pi = SIZE_MAX;
    size_t star_si = 0;

    while (si < n) {
        size_t next = pi;

        if (pattern[pi] == '*') {
            while (pattern[pi] == '*') {
                pi++;
            }
            star_pi = pi;
            star_si = si;
            continue;
        }
        if (pattern[pi] != '\0' && glob_one(pattern, &next, (unsigned char)s[si])) {
            pi = next;
            si++;
            continue;
        }
        if (star_pi == SIZE_MAX) {
            return false;
        }
        /* only the last '*' needs to absorb more: everything before it already matched */
        pi = star_pi;
        si = ++star_si;
    }
    while (pattern[pi] == '*') {
        pi++;
    }
    return pattern[pi] == '\0';
}

/* JSON number grammar (RFC 8259 §6); *is_int when there is no fraction and no exponent. */
static bool number_syntax(const char *s, size_t n, bool *is_int)
{
    size_t i = 0;

    *is_int = true;
    if (i < n && s[i] == '-') {
        i++;
    }
    if (i < n && s[i] == '0') {
        i++;
    } else if (i < n && s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    } else {
        return false;
    }
    if (i < n && s[i] == '.') {
        *is_int = false;
        if (++i >= n || s[i] < '0' || s[i] > '9') {
            return false;
        }
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        *is_int = false;
        if (++i < n && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        if (i >= n || s[i] < '0' || s[i] > '9') {
            return false;
        }
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    return i == n;
}

int rw_cond_value_parse(const char *text, size_t len, bool plain, struct rw_cond_value *out)
{
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};
    struct rw_cond_value v;

    if (text == NULL || out == NULL || len > RW_MAX_COND_VALUE_LEN ||
        memchr(text, '\0', len) != NULL) {
        return RW_EINVAL;
    }
    memset(&v, 0, sizeof(v));
    v.type = RW_COND_STRING;
    v.text = rw_strndup(text, len);
    if (v.text == NULL) {
        return -ENOMEM;
    }
    v.len = len;
    for (size_t k = 0; plain && k < 3; k++) {
        if (strcmp(v.text, yes[k]) == 0 || strcmp(v.text, no[k]) == 0) {
            v.type = RW_COND_BOOL;
            v.b = strcmp(v.text, yes[k]) == 0;
        }
    }
    if (plain && v.type == RW_COND_STRING && number_syntax(v.text, len, &v.is_int)) {
        char *end = NULL;

        errno = 0;
        v.num = strtod(v.text, &end);
        if (end != v.text + len || !isfinite(v.num)) {
            rw_free(v.text);
            return RW_EINVAL; /* 1e999: no JSON value can be compared with it */
        }
        if (v.is_int) {
            errno = 0;
            v.i = strtoll(v.text, &end, 10);
            v.is_int = errno == 0 && end == v.text + len;
        }
        v.type = RW_COND_NUMBER;
    }
    *out = v;
    return 0;
}

void rw_cond_value_fini(struct rw_cond_value *v)
{
    if (v != NULL) {
        rw_free_clear(&v->text);
    }
}

void rw_cond_fini(struct rw_cond *c)
{
    if (c == NULL) {
        return;
    }
    rw_free_clear(&c->path);
    for (size_t k = 0; c->values != NULL && k < c->n_values; k++) {
        rw_cond_value_fini(&c->values[k]);
    }
    rw_free_clear(&c->values);
    c->n_values = 0;
}

void rw_att_req_fini(struct rw_att_req *r)
{
    if (r == NULL) {
        return;
    }
    rw_free_clear(&r->predicate_type);
    for (size_t k = 0; r->signed_by != NULL && k < r->n_signed_by; k++) {
        rw_free(r->signed_by[k]);
    }
    rw_free_clear(&r->signed_by);
    r->n_signed_by = 0;
    for (size_t k = 0; r->conds != NULL && k < r->n_conds; k++) {
        rw_cond_fini(&r->conds[k]);
    }
    rw_free_clear(&r->conds);
    r->n_conds = 0;
}

/* ------------------------------------------------------------------ checks */

/* got <=> want, both numbers: integers exactly, otherwise as doubles. */
static int num_cmp(const json_t *got, const struct rw_cond_value *want)
{
    double g;
    double w;

    if (json_is_integer(got) && want->is_int) {
        json_int_t gi = json_integer_value(got);

        return gi < want->i ? -1 : gi > want->i ? 1 : 0;
    }
    g = json_number_value(got);
    w = want->is_int ? (double)want->i : want->num;
    return g < w ? -1 : g > w ? 1 : 0;
}

/* JSON-type-strict equality: "1" is not 1, and true is not "true". */
static bool value_eq(const struct rw_cond_value *want, const json_t *got)
{
    switch (want->type) {
    case RW_COND_STRING:
        return json_is_string(got) && json_string_length(got) == want->len &&
               memcmp(json_string_value(got), want->text, want->len) == 0;
    case RW_COND_NUMBER:
        return json_is_number(got) && num_cmp(got, want) == 0;
    case RW_COND_BOOL:
        return json_is_boolean(got) && json_is_true(got) == want->b;
    default:
        return false;
    }
}

static bool check(const struct rw_cond *c, const json_t *v)
{
    if (c->n_values == 0) {
        return false;
    }
    switch (c->op) {
    case RW_COND_EQUALS:
        return value_eq(&c->values[0], v);
    case RW_COND_IN:
        for (size_t k = 0; k < c->n_values; k++) {
            if (value_eq(&c->values[k], v)) {
                return true;
            }
        }
        return false;
    case RW_COND_MATCHES:
        return json_is_string(v) && c->values[0].type == RW_COND_STRING &&
               rw_cond_glob_match(c->values[0].text, json_string_value(v), json_string_length(v));
    case RW_COND_AT_MOST:
        return json_is_number(v) && c->values[0].type == RW_COND_NUMBER &&
               num_cmp(v, &c->values[0]) <= 0;
    default:
        return false;
    }
}

/* ------------------------------------------------------------------ messages */

static void value_text(const struct rw_cond_value *v, size_t max, char *out, size_t cap)
{
    if (v->type == RW_COND_STRING) {
        rw_cond_quote(v->text, v->len, max, out, cap);
    } else {
        /* numbers and booleans passed their grammar: printable as written */
        textf(out, cap, "%s", v->text);
    }
}

/* What the condition asks for: "\"x\"", "[\"a\", \"b\"]", "0". */
static void expect_text(const struct rw_cond *c, char *out, size_t cap)
{
    size_t used;

    if (c->n_values == 0) {
        textf(out, cap, "?");
        return;
    }
    if (c->op != RW_COND_IN) {
        value_text(&c->values[0], QUOTE_MAX, out, cap);
        return;
    }
    textf(out, cap, "[");
    used = strlen(out);
    for (size_t k = 0; k < c->n_values; k++) {
        char one[48];

        value_text(&c->values[k], 32, one, sizeof(one));
        if (used + strlen(one) + 8 > cap) {
            textf(out + used, cap - used, "%s...", k > 0 ? ", " : "");
            used += strlen(out + used);
            break;
        }
        textf(out + used, cap - used, "%s%s", k > 0 ? ", " : "", one);
        used += strlen(out + used);
    }
    textf(out + used, cap - used, "]");
}

/* What was found: a quoted string, a number, true/false/null, "an object", "an array". */
static void got_text(const json_t *v, char *out, size_t cap)
{
    if (json_is_string(v)) {
        rw_cond_quote(json_string_value(v), json_string_length(v), QUOTE_MAX, out, cap);
    } else if (json_is_integer(v)) {
        textf(out, cap, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        textf(out, cap, "%.17g", json_real_value(v));
    } else if (json_is_true(v)) {
        textf(out, cap, "true");
    } else if (json_is_false(v)) {
        textf(out, cap, "false");
    } else if (json_is_null(v)) {
        textf(out, cap, "null");
    } else if (json_is_object(v)) {
        textf(out, cap, "an object");
    } else {
        textf(out, cap, "an array");
    }
}

/* ------------------------------------------------------------------ walk */

struct walk {
    const struct rw_cond *c;
    size_t idx; /* 1-based, for messages */
    const char *segs[RW_MAX_COND_SEGMENTS];
    size_t n_segs;
    size_t reached;
    bool failed;
    char at[AT_MAX + 4]; /* concrete path of the node being visited (sanitised, truncated) */
    size_t at_len;
    char *why;
    size_t cap;
};

/* Canonical decimal array index ("0", "12"; not "01", "+1"), else -1. */
static long seg_index(const char *s)
{
    long v = 0;
    size_t i = 0;

    if (s[0] == '0') {
        return s[1] == '\0' ? 0 : -1;
    }
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (i >= 9) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return (i > 0 && s[i] == '\0') ? v : -1;
}

/* The child named by one non-wildcard segment: an object member, or an array element. */
static const json_t *step(const json_t *node, const char *seg)
{
    if (json_is_object(node)) {
        return json_object_get(node, seg);
    }
    if (json_is_array(node)) {
        long i = seg_index(seg);

        return i < 0 ? NULL : json_array_get(node, (size_t)i);
    }
    return NULL;
}

/* Append ".<piece>" to the concrete path; bytes outside printable ASCII become '?'. */
static void at_push(struct walk *w, const char *piece, size_t n)
{
    if (w->at_len >= AT_MAX) {
        return;
    }
    if (w->at_len > 0) {
        w->at[w->at_len++] = '.';
    }
    for (size_t i = 0; i < n && w->at_len < AT_MAX; i++) {
        unsigned char c = (unsigned char)piece[i];

        w->at[w->at_len++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (w->at_len >= AT_MAX) {
        memcpy(w->at + AT_MAX, "...", 3);
        w->at_len = AT_MAX + 3;
    }
    w->at[w->at_len] = '\0';
}

static void at_pop(struct walk *w, size_t mark)
{
    w->at_len = mark;
    w->at[mark] = '\0';
}

static void walk_fail(struct walk *w, const char *tail_fmt, ...) __attribute__((format(printf, 2, 3)));

static void walk_fail(struct walk *w, const char *tail_fmt, ...)
{
    char expect[160];
    char tail[320];
    va_list ap;

    w->failed = true;
    va_start(ap, tail_fmt);
    (void)vsnprintf(tail, sizeof(tail), tail_fmt, ap);
    va_end(ap);
    expect_text(w->c, expect, sizeof(expect));
    textf(w->why, w->cap, "condition %zu %s %s %s: %s", w->idx,
          w->c->path != NULL ? w->c->path : "?",
          rw_cond_op_str(w->c->op), expect, tail);
}

static void visit(struct walk *w, const json_t *node, size_t i)
{
    size_t mark = w->at_len;
    char got[96];

    if (w->failed) {
        return;
    }
    if (i == w->n_segs) {
        if (++w->reached > RW_MAX_COND_REACHED) {
            walk_fail(w, "the path reaches more than %u values", RW_MAX_COND_REACHED);
        } else if (!check(w->c, node)) {
            got_text(node, got, sizeof(got));
            walk_fail(w, "got %s at %s", got, w->at);
        }
        return;
    }
    if (strcmp(w->segs[i], "*") == 0) {
        if (json_is_array(node)) {
            for (size_t k = 0; k < json_array_size(node) && !w->failed; k++) {
                char num[24];

                textf(num, sizeof(num), "%zu", k);
                at_push(w, num, strlen(num));
                visit(w, json_array_get(node, k), i + 1);
                at_pop(w, mark);
            }
        } else if (json_is_object(node)) {
            const char *key;
            json_t *child;

            /* jansson's iteration macro takes a non-const object; nothing is modified */
            json_object_foreach ((json_t *)node, key, child) {
                if (w->failed) {
                    break;
                }
                at_push(w, key, strlen(key));
                visit(w, child, i + 1);
                at_pop(w, mark);
            }
        }
        /* past the first '*', a scalar or a missing member reaches nothing (Trivy omits
         * Vulnerabilities when there are none) */
        return;
    }
    node = step(node, w->segs[i]);
    if (node != NULL) {
        at_push(w, w->segs[i], strlen(w->segs[i]));
        visit(w, node, i + 1);
        at_pop(w, mark);
    }
}

static void eval_one(struct walk *w, const json_t *root)
{
    char buf[RW_MAX_COND_PATH_LEN + 1];
    char got[96];
    const json_t *node = root;
    size_t first_star;
    size_t len = strlen(w->c->path);

    if (len >= sizeof(buf) || rw_cond_path_check(w->c->path, NULL, 0) != 0) {
        walk_fail(w, "invalid path"); /* config validated it: never an allow */
        return;
    }
    memcpy(buf, w->c->path, len + 1);
    w->n_segs = 0;
    w->segs[w->n_segs++] = buf;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '.') {
            buf[i] = '\0';
            w->segs[w->n_segs++] = buf + i + 1;
        }
    }
    for (first_star = 0; first_star < w->n_segs; first_star++) {
        if (strcmp(w->segs[first_star], "*") == 0) {
            break;
        }
        node = node != NULL ? step(node, w->segs[first_star]) : NULL;
    }
    if (first_star == w->n_segs) {
        if (node == NULL) {
            walk_fail(w, "not found");
        } else if (!check(w->c, node)) {
            got_text(node, got, sizeof(got));
            walk_fail(w, "got %s", got);
        }
        return;
    }
    /* the prefix must exist as a container: a result of another shape must not pass silently */
    w->at_len = 0;
    w->at[0] = '\0';
    for (size_t i = 0; i < first_star; i++) {
        at_push(w, w->segs[i], strlen(w->segs[i]));
    }
    if (node == NULL) {
        walk_fail(w, "%s not found", first_star > 0 ? w->at : "predicate");
    } else if (!json_is_array(node) && !json_is_object(node)) {
        walk_fail(w, "%s is not an array or object", first_star > 0 ? w->at : "predicate");
    } else {
        visit(w, node, first_star);
    }
}

int rw_cond_eval_tree(const json_t *root, const struct rw_cond *conds, size_t n_conds,
                      size_t *failed, char *why, size_t cap)
{
    struct walk w;

    if (failed == NULL || (conds == NULL && n_conds > 0)) {
        return RW_EINVAL;
    }
    textf(why, cap, "%s", "");
    for (size_t k = 0; k < n_conds; k++) {
        memset(&w, 0, sizeof(w));
        w.c = &conds[k];
        w.idx = k + 1;
        w.why = why;
        w.cap = cap;
        if (w.c->path == NULL) {
            walk_fail(&w, "no path");
        } else {
            eval_one(&w, root);
        }
        if (w.failed) {
            *failed = k + 1;
            return 0;
        }
    }
    *failed = 0;
    return 0;
}

int rw_cond_eval(const uint8_t *json, size_t n, const struct rw_cond *conds, size_t n_conds,
                 size_t *failed, char *why, size_t cap)
{
    json_t *root = NULL;
    int rc;

    if (json == NULL || failed == NULL) {
        return RW_EINVAL;
    }
    rc = rw_policy_json_load(json, n, RW_MAX_ENVELOPE_BYTES, &root);
    if (rc != 0) {
        return rc;
    }
    rc = rw_cond_eval_tree(root, conds, n_conds, failed, why, cap);
    json_decref(root);
    return rc;
}
