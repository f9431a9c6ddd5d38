/* SPDX-License-Identifier: MIT */
/*
 * `regwarden denies`: summarise the deny log for a person (text), a tool (--json, schema
 * "regwarden-denies/1", documented in README "Deny review") or a browser (--html, one static
 * file with an inline SVG chart, no external assets).
 *
 * Reads the log and its rotated generations oldest first: FILE.N[.gz] ... FILE.1[.gz], FILE
 * (zlib reads plain and gzip files alike). Every deny/audit-deny line is counted once in hash
 * tables (reason, image, client, identity, rule), so 100,000 lines cost one pass and no
 * quadratic scans. Lines that are not JSON objects (a truncated last line, foreign text, an
 * over-long line) are counted as skipped, never fatal. Reads only; never writes the log.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <zlib.h>

#include "rw/buf.h"
#include "rw/mem.h"
#include "rw/policy.h"
#include "cmd.h"

#define LINE_MAX_BYTES  (64u * 1024u) /* a deny line is < 4 KiB (denylog.h bounds) */
#define ROTATED_MAX     99            /* FILE.1 .. FILE.99 */
#define TOP_DEFAULT     10
#define RECENT_DEFAULT  10
#define RECENT_MAX      1000
#define HTML_BUCKETS    60
#define NO_TIME         INT64_MIN
#define N_REASONS       (RW_REASON_COUNT + 1) /* contract reasons 1..COUNT-1, slot 0 "other" */

/* One distinct key and what was seen for it. */
struct entry {
    char *key;              /* owned; NULL marks an empty slot */
    uint64_t hash;
    unsigned long n;
    int64_t first_ms;       /* NO_TIME when no line had a readable time */
    int64_t last_ms;
    const char *last_reason; /* borrowed (kept alive by the reason table) */
    char *last_detail;       /* owned; images table only */
};

/* Open addressing, linear probing, power-of-two capacity, grown at 70% load. */
struct table {
    struct entry *v; /* owned */
    size_t cap;
    size_t n;
};

struct point {
    int64_t ms;
    uint8_t reason; /* index into reason_name() */
};

struct file_stat {
    char *path;          /* owned */
    unsigned long lines;
    unsigned long skipped;
    bool gzip;
};

struct opts {
    const char *log_path;   /* borrowed (argv or config) */
    const char *image_glob; /* borrowed (argv) */
    const char *reason;     /* borrowed (argv) */
    const char *html_path;  /* borrowed (argv) */
    int64_t since_s;        /* -1 = everything */
    size_t top;
    size_t recent;
    bool json;
};

struct summary {
    struct table reasons;
    struct table images;
    struct table clients;
    struct table identities;
    struct table rules;
    unsigned long total;
    unsigned long n_deny;
    unsigned long n_audit;
    unsigned long skipped;
    unsigned long other_events; /* valid JSON, not a deny (e.g. "signed") */
    unsigned long filtered;     /* denies outside --since/--image/--reason */
    int64_t first_ms;
    int64_t last_ms;
    struct rw_buf *recent; /* owned ring of raw lines, opts.recent slots */
    size_t recent_next;
    size_t recent_n;
    struct point *points; /* owned; only with --html */
    size_t n_points;
    size_t cap_points;
    struct file_stat files[ROTATED_MAX + 1];
    size_t n_files;
};

static const char *reason_name(size_t i)
{
    return i == 0 || i >= RW_REASON_COUNT ? "other" : rw_reason_str((enum rw_reason)i);
}

static uint8_t reason_index(const char *r)
{
    for (size_t i = 1; i < RW_REASON_COUNT; i++) {
        if (strcmp(r, rw_reason_str((enum rw_reason)i)) == 0) {
            return (uint8_t)i;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ hash table */

static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int table_grow(struct table *t)
{
    size_t ncap = t->cap == 0 ? 64 : t->cap * 2;
    struct entry *nv = rw_calloc(ncap, sizeof(*nv));

    if (nv == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < t->cap; i++) {
        size_t j;

        if (t->v[i].key == NULL) {
            continue;
        }
        j = (size_t)t->v[i].hash & (ncap - 1);
        while (nv[j].key != NULL) {
            j = (j + 1) & (ncap - 1);
        }
        nv[j] = t->v[i];
    }
    rw_free(t->v);
    t->v = nv;
    t->cap = ncap;
    return 0;
}

/* The entry for @p key, inserted with zero counts when new; NULL on OOM. */
static struct entry *table_get(struct table *t, const char *key)
{
    size_t len = strlen(key);
    uint64_t h = fnv1a(key, len);
    size_t j;

    if ((t->n + 1) * 10 > t->cap * 7 && table_grow(t) != 0) {
        return NULL;
    }
    j = (size_t)h & (t->cap - 1);
    while (t->v[j].key != NULL) {
        if (t->v[j].hash == h && strcmp(t->v[j].key, key) == 0) {
            return &t->v[j];
        }
        j = (j + 1) & (t->cap - 1);
    }
    t->v[j].key = rw_strndup(key, len);
    if (t->v[j].key == NULL) {
        return NULL;
    }
    t->v[j].hash = h;
    t->v[j].first_ms = NO_TIME;
    t->v[j].last_ms = NO_TIME;
    t->n++;
    return &t->v[j];
}

static void table_fini(struct table *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        rw_free(t->v[i].key);
        rw_free(t->v[i].last_detail);
    }
    rw_free_clear(&t->v);
    t->cap = 0;
    t->n = 0;
}

static int by_count(const void *a, const void *b)
{
    const struct entry *x = *(const struct entry *const *)a;
    const struct entry *y = *(const struct entry *const *)b;

    if (x->n != y->n) {
        return x->n < y->n ? 1 : -1;
    }
    return strcmp(x->key, y->key);
}

/* Entries by count (descending), ties by key. Ownership: the array is the caller's (rw_free). */
static struct entry **table_sorted(const struct table *t)
{
    struct entry **out = rw_calloc(t->n + 1, sizeof(*out));
    size_t k = 0;

    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (t->v[i].key != NULL) {
            out[k++] = &t->v[i];
        }
    }
    qsort(out, k, sizeof(*out), by_count);
    return out;
}

/* ------------------------------------------------------------------ time */

static int digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe;
    unsigned doy;
    unsigned doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "2026-12-03T12:00:00.123Z" (milliseconds optional) -> unix ms; NO_TIME when malformed. */
static int64_t parse_time_ms(const char *s)
{
    int y;
    int mo;
    int d;
    int h;
    int mi;
    int se;
    int ms = 0;
    size_t len = s != NULL ? strlen(s) : 0;

    if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') {
        return NO_TIME;
    }
    y = digits(s, 4);
    mo = digits(s + 5, 2);
    d = digits(s + 8, 2);
    h = digits(s + 11, 2);
    mi = digits(s + 14, 2);
    se = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        se < 0 || se > 60) {
        return NO_TIME;
    }
    if (s[19] == '.' && len >= 23) {
        ms = digits(s + 20, 3);
        if (ms < 0) {
            return NO_TIME;
        }
    }
    return ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400) + h * 3600 + mi * 60 + se) *
               1000 +
           ms;
}

static void format_time(int64_t ms, char out[32])
{
    struct tm tm;
    time_t t;
    size_t n;

    if (ms == NO_TIME) {
        snprintf(out, 32, "-");
        return;
    }
    t = (time_t)(ms / 1000);
    gmtime_r(&t, &tm);
    n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

static void seen(struct entry *e, int64_t ms)
{
    e->n++;
    if (ms == NO_TIME) {
        return;
    }
    if (e->first_ms == NO_TIME || ms < e->first_ms) {
        e->first_ms = ms;
    }
    if (e->last_ms == NO_TIME || ms >= e->last_ms) {
        e->last_ms = ms;
    }
}

/* ------------------------------------------------------------------ reading */

static const char *str_or(json_t *o, const char *k, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s != NULL ? s : dflt;
}

static int count_key(struct table *t, const char *key, int64_t ms, struct entry **out)
{
    struct entry *e = table_get(t, key);

    if (e == NULL) {
        return -ENOMEM;
    }
    seen(e, ms);
    if (out != NULL) {
        *out = e;
    }
    return 0;
}

static int remember_line(struct summary *s, const struct opts *o, const char *line, size_t len)
{
    struct rw_buf *b;

    if (o->recent == 0) {
        return 0;
    }
    b = &s->recent[s->recent_next];
    rw_buf_reset(b);
    s->recent_next = (s->recent_next + 1) % o->recent;
    if (s->recent_n < o->recent) {
        s->recent_n++;
    }
    return rw_buf_append(b, line, len);
}

static int add_point(struct summary *s, int64_t ms, uint8_t reason)
{
    if (s->n_points == s->cap_points) {
        size_t ncap = s->cap_points == 0 ? 1024 : s->cap_points * 2;
        struct point *np = rw_realloc(s->points, ncap * sizeof(*np));

        if (np == NULL) {
            return -ENOMEM;
        }
        s->points = np;
        s->cap_points = ncap;
    }
    s->points[s->n_points].ms = ms;
    s->points[s->n_points].reason = reason;
    s->n_points++;
    return 0;
}

/* Count one deny line already parsed into @p root. */
static int count_deny(struct summary *s, const struct opts *o, json_t *root, const char *line,
                      size_t len, int64_t cutoff_ms)
{
    json_t *client = json_object_get(root, "client");
    json_t *image = json_object_get(root, "image");
    const char *ev = str_or(root, "event", "-");
    const char *reason = str_or(root, "reason", "-");
    const char *detail = json_string_value(json_object_get(root, "detail"));
    char img[1100];
    struct entry *r_ent = NULL;
    struct entry *i_ent = NULL;
    int64_t ms = parse_time_ms(json_string_value(json_object_get(root, "time")));
    int rc;

    snprintf(img, sizeof(img), "%s/%s", str_or(image, "registry", "-"),
             str_or(image, "repository", "-"));
    if ((cutoff_ms != NO_TIME && (ms == NO_TIME || ms < cutoff_ms)) ||
        (o->reason != NULL && strcmp(o->reason, reason) != 0) ||
        (o->image_glob != NULL && !rw_pattern_match(o->image_glob, img))) {
        s->filtered++;
        return 0;
    }
    s->total++;
    if (strcmp(ev, "audit-deny") == 0) {
        s->n_audit++;
    } else {
        s->n_deny++;
    }
    if (ms != NO_TIME) {
        if (s->first_ms == NO_TIME || ms < s->first_ms) {
            s->first_ms = ms;
        }
        if (s->last_ms == NO_TIME || ms > s->last_ms) {
            s->last_ms = ms;
        }
    }
    rc = count_key(&s->reasons, reason, ms, &r_ent);
    if (rc == 0) {
        rc = count_key(&s->images, img, ms, &i_ent);
    }
    if (rc == 0) {
        rc = count_key(&s->clients, str_or(client, "addr", "(none)"), ms, NULL);
    }
    if (rc == 0) {
        rc = count_key(&s->identities, str_or(client, "identity", "(none)"), ms, NULL);
    }
    if (rc == 0) {
        rc = count_key(&s->rules, str_or(root, "rule", "(no rule)"), ms, NULL);
    }
    if (rc != 0) {
        return rc;
    }
    if (ms == NO_TIME || ms >= i_ent->last_ms) {
        i_ent->last_reason = r_ent->key;
        if (detail != NULL &&
            (i_ent->last_detail == NULL || strcmp(i_ent->last_detail, detail) != 0)) {
            rw_free(i_ent->last_detail);
            i_ent->last_detail = rw_strdup(detail);
            if (i_ent->last_detail == NULL) {
                return -ENOMEM;
            }
        }
    }
    if (o->html_path != NULL && ms != NO_TIME) {
        rc = add_point(s, ms, reason_index(reason));
        if (rc != 0) {
            return rc;
        }
    }
    return remember_line(s, o, line, len);
}

static int count_line(struct summary *s, const struct opts *o, struct file_stat *fs, char *line,
                      size_t len, int64_t cutoff_ms)
{
    json_error_t je;
    json_t *root;
    const char *ev;
    int rc = 0;

    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
        len--;
    }
    if (len == 0) {
        return 0; /* blank lines are neither data nor damage */
    }
    fs->lines++;
    root = json_loadb(line, len, 0, &je);
    if (root == NULL || !json_is_object(root)) {
        fs->skipped++;
        s->skipped++;
        goto out;
    }
    ev = str_or(root, "event", "");
    if (strcmp(ev, "deny") != 0 && strcmp(ev, "audit-deny") != 0) {
        s->other_events++;
        goto out;
    }
    rc = count_deny(s, o, root, line, len, cutoff_ms);
out:
    json_decref(root);
    return rc;
}

static int read_file(struct summary *s, const struct opts *o, struct file_stat *fs, char *line,
                     int64_t cutoff_ms)
{
    gzFile gz = gzopen(fs->path, "rb");
    bool overlong = false;
    int rc = 0;

    if (gz == NULL) {
        return errno != 0 ? -errno : -ENOENT;
    }
    gzbuffer(gz, 256u * 1024u);
    fs->gzip = gzdirect(gz) == 0;
    while (rc == 0 && gzgets(gz, line, (int)LINE_MAX_BYTES) != NULL) {
        size_t len = strlen(line);
        bool complete = len > 0 && line[len - 1] == '\n';

        if (overlong) {
            /* the tail of a line longer than the buffer: already counted as skipped */
            overlong = !complete;
            continue;
        }
        if (!complete && len == LINE_MAX_BYTES - 1) {
            fs->lines++;
            fs->skipped++;
            s->skipped++;
            overlong = true;
            continue;
        }
        /* A last line without '\n' (a writer cut off mid-line) is tried as is: if the JSON is
         * whole it counts, otherwise it is skipped like any other damaged line. */
        rc = count_line(s, o, fs, line, len, cutoff_ms);
    }
    if (rc == 0) {
        int zerr = Z_OK;

        gzerror(gz, &zerr);
        if (zerr != Z_OK && zerr != Z_BUF_ERROR) {
            /* a damaged or truncated .gz: what was read so far counts, the rest is skipped */
            fs->skipped++;
            s->skipped++;
        }
    }
    gzclose(gz);
    return rc;
}

static bool exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* FILE.N[.gz] down to FILE.1[.gz], then FILE: oldest first, so "recent" is the newest. */
static int collect_files(struct summary *s, const char *base)
{
    char *rot[ROTATED_MAX + 1] = {0};
    size_t n_rot = 0;
    int rc = 0;

    for (int i = 1; i <= ROTATED_MAX; i++) {
        char *p = rw_asprintf("%s.%d", base, i);
        char *pz = rw_asprintf("%s.%d.gz", base, i);

        if (p == NULL || pz == NULL) {
            rw_free(p);
            rw_free(pz);
            rc = -ENOMEM;
            goto out;
        }
        if (exists(p)) {
            rot[n_rot++] = p;
            rw_free(pz);
        } else if (exists(pz)) {
            rot[n_rot++] = pz;
            rw_free(p);
        } else {
            rw_free(p);
            rw_free(pz);
            break;
        }
    }
    while (n_rot > 0) {
        s->files[s->n_files++].path = rot[--n_rot];
        rot[n_rot] = NULL;
    }
    if (exists(base)) {
        s->files[s->n_files].path = rw_strdup(base);
        if (s->files[s->n_files].path == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        s->n_files++;
    }
out:
    for (size_t i = 0; i < n_rot; i++) {
        rw_free(rot[i]);
    }
    return rc;
}

/* ------------------------------------------------------------------ text output */

static void print_table(const char *title, const struct table *t, size_t top)
{
    struct entry **v = table_sorted(t);

    printf("\n%s (%zu distinct)\n", title, t->n);
    if (v == NULL) {
        return;
    }
    for (size_t i = 0; i < t->n && i < top; i++) {
        printf("  %8lu  %s\n", v[i]->n, v[i]->key);
    }
    if (t->n > top) {
        printf("  %8s  ... %zu more (--top N)\n", "", t->n - top);
    }
    rw_free(v);
}

static void print_images(const struct table *t, size_t top)
{
    struct entry **v = table_sorted(t);

    printf("\nTop denied images (%zu distinct)\n", t->n);
    if (v == NULL) {
        return;
    }
    printf("  %8s  %-24s  %-24s  %-19s  %s\n", "count", "first seen", "last seen", "last reason",
           "image");
    for (size_t i = 0; i < t->n && i < top; i++) {
        char f[32];
        char l[32];

        format_time(v[i]->first_ms, f);
        format_time(v[i]->last_ms, l);
        printf("  %8lu  %-24s  %-24s  %-19s  %s\n", v[i]->n, f, l,
               v[i]->last_reason != NULL ? v[i]->last_reason : "-", v[i]->key);
        if (v[i]->last_detail != NULL) {
            printf("  %8s  %s\n", "", v[i]->last_detail);
        }
    }
    if (t->n > top) {
        printf("  %8s  ... %zu more (--top N)\n", "", t->n - top);
    }
    rw_free(v);
}

/* Raw line @p i of the ring, oldest first. */
static const struct rw_buf *recent_at(const struct summary *s, const struct opts *o, size_t i)
{
    size_t start = s->recent_n < o->recent ? 0 : s->recent_next;

    return &s->recent[(start + i) % o->recent];
}

static void print_recent(const struct summary *s, const struct opts *o)
{
    printf("\nMost recent (%zu)\n", s->recent_n);
    for (size_t i = 0; i < s->recent_n; i++) {
        const struct rw_buf *b = recent_at(s, o, i);
        json_t *root = json_loadb((const char *)b->data, b->len, 0, NULL);
        json_t *im = json_object_get(root, "image");
        json_t *cl = json_object_get(root, "client");

        printf("  %s %s %s %s/%s:%s from %s%s%s\n      rule %s: %s\n",
               str_or(root, "time", "-"), str_or(root, "event", "-"), str_or(root, "reason", "-"),
               str_or(im, "registry", "-"), str_or(im, "repository", "-"),
               str_or(im, "reference", "-"), str_or(cl, "addr", "-"),
               json_string_value(json_object_get(cl, "identity")) != NULL ? " as " : "",
               str_or(cl, "identity", ""), str_or(root, "rule", "(none)"),
               str_or(root, "detail", "-"));
        printf("      request_id %s\n", str_or(root, "request_id", "-"));
        json_decref(root);
    }
}

static void print_text(const struct summary *s, const struct opts *o)
{
    char f[32];
    char l[32];

    format_time(s->first_ms, f);
    format_time(s->last_ms, l);
    printf("%lu denies (%lu deny, %lu audit-deny) from %s to %s\n", s->total, s->n_deny,
           s->n_audit, f, l);
    for (size_t i = 0; i < s->n_files; i++) {
        printf("  %s: %lu lines%s", s->files[i].path, s->files[i].lines,
               s->files[i].gzip ? " (gzip)" : "");
        if (s->files[i].skipped > 0) {
            printf(", %lu skipped (not JSON or truncated)", s->files[i].skipped);
        }
        printf("\n");
    }
    if (s->n_files == 0) {
        printf("  no deny log at %s\n", o->log_path);
    }
    if (s->filtered > 0) {
        printf("  %lu denies left out by --since/--image/--reason\n", s->filtered);
    }
    if (s->other_events > 0) {
        printf("  %lu other events (signed pushes) not counted\n", s->other_events);
    }
    print_table("By reason", &s->reasons, RW_REASON_COUNT + 8);
    print_images(&s->images, o->top);
    print_table("By client (node address)", &s->clients, o->top);
    print_table("By identity (SPIFFE ID)", &s->identities, o->top);
    print_table("By rule", &s->rules, o->top);
    print_recent(s, o);
}

/* ------------------------------------------------------------------ JSON output */

static json_t *time_json(int64_t ms)
{
    char t[32];

    if (ms == NO_TIME) {
        return json_null();
    }
    format_time(ms, t);
    return json_string(t);
}

static json_t *map_json(const struct table *t)
{
    struct entry **v = table_sorted(t);
    json_t *m = json_object();

    if (v == NULL || m == NULL) {
        rw_free(v);
        json_decref(m);
        return NULL;
    }
    for (size_t i = 0; i < t->n; i++) {
        json_object_set_new(m, v[i]->key, json_integer((json_int_t)v[i]->n));
    }
    rw_free(v);
    return m;
}

static json_t *images_json(const struct table *t)
{
    struct entry **v = table_sorted(t);
    json_t *a = json_array();

    if (v == NULL || a == NULL) {
        rw_free(v);
        json_decref(a);
        return NULL;
    }
    for (size_t i = 0; i < t->n; i++) {
        json_array_append_new(
            a, json_pack("{s:s, s:I, s:o, s:o, s:s?, s:s?}", "image", v[i]->key, "count",
                         (json_int_t)v[i]->n, "first_seen", time_json(v[i]->first_ms),
                         "last_seen", time_json(v[i]->last_ms), "last_reason",
                         v[i]->last_reason, "last_detail", v[i]->last_detail));
    }
    rw_free(v);
    return a;
}

static int print_json(const struct summary *s, const struct opts *o)
{
    json_t *root = json_object();
    json_t *files = json_array();
    json_t *recent = json_array();
    int rc = 0;

    if (root == NULL || files == NULL || recent == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < s->n_files; i++) {
        json_array_append_new(files, json_pack("{s:s, s:I, s:I, s:b}", "path", s->files[i].path,
                                               "lines", (json_int_t)s->files[i].lines, "skipped",
                                               (json_int_t)s->files[i].skipped, "gzip",
                                               s->files[i].gzip));
    }
    for (size_t i = 0; i < s->recent_n; i++) {
        const struct rw_buf *b = recent_at(s, o, i);
        json_t *line = json_loadb((const char *)b->data, b->len, 0, NULL);

        if (line != NULL) {
            json_array_append_new(recent, line);
        }
    }
    json_object_set_new(root, "schema", json_string("regwarden-denies/1"));
    json_object_set_new(root, "log", json_string(o->log_path));
    json_object_set(root, "files", files);
    json_object_set_new(root, "filters",
                        json_pack("{s:o, s:s?, s:s?}", "since_seconds",
                                  o->since_s >= 0 ? json_integer(o->since_s) : json_null(),
                                  "image", o->image_glob, "reason", o->reason));
    json_object_set_new(root, "total", json_integer((json_int_t)s->total));
    json_object_set_new(root, "skipped_lines", json_integer((json_int_t)s->skipped));
    json_object_set_new(root, "other_events", json_integer((json_int_t)s->other_events));
    json_object_set_new(root, "filtered_out", json_integer((json_int_t)s->filtered));
    json_object_set_new(root, "first_seen", time_json(s->first_ms));
    json_object_set_new(root, "last_seen", time_json(s->last_ms));
    json_object_set_new(root, "by_event",
                        json_pack("{s:I, s:I}", "deny", (json_int_t)s->n_deny, "audit-deny",
                                  (json_int_t)s->n_audit));
    json_object_set_new(root, "by_reason", map_json(&s->reasons));
    json_object_set_new(root, "by_image", map_json(&s->images));
    json_object_set_new(root, "by_client", map_json(&s->clients));
    json_object_set_new(root, "by_identity", map_json(&s->identities));
    json_object_set_new(root, "by_rule", map_json(&s->rules));
    json_object_set_new(root, "images", images_json(&s->images));
    json_object_set(root, "recent", recent);
    if (json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0) {
        rc = -EIO;
        goto out;
    }
    printf("\n");
out:
    json_decref(files);
    json_decref(recent);
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------ HTML output */

static void html_esc(FILE *f, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static const char *const colors[N_REASONS] = {
    "#7f7f7f", "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
    "#bcbd22", "#17becf", "#1f77b4", "#2ca02c", "#393b79", "#637939",
};

static void html_table(FILE *f, const char *title, const char *col, const struct table *t,
                       size_t top)
{
    struct entry **v = table_sorted(t);

    fprintf(f, "<h2>%s</h2>\n<table><tr><th>count</th><th>%s</th></tr>\n", title, col);
    for (size_t i = 0; v != NULL && i < t->n && i < top; i++) {
        fprintf(f, "<tr><td class=n>%lu</td><td>", v[i]->n);
        html_esc(f, v[i]->key);
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n");
    rw_free(v);
}

static void html_chart(FILE *f, const struct summary *s)
{
    static unsigned long bins[HTML_BUCKETS][N_REASONS];
    const int w = 900;
    const int h = 260;
    const int left = 50;
    const int bottom = 30;
    int64_t lo = s->first_ms;
    int64_t span = s->last_ms - s->first_ms + 1;
    unsigned long peak = 1;
    char a[32];
    char b[32];
    bool used[N_REASONS] = {false};

    memset(bins, 0, sizeof(bins));
    for (size_t i = 0; i < s->n_points; i++) {
        size_t k = (size_t)((s->points[i].ms - lo) * HTML_BUCKETS / span);

        bins[k < HTML_BUCKETS ? k : HTML_BUCKETS - 1][s->points[i].reason]++;
        used[s->points[i].reason] = true;
    }
    for (size_t k = 0; k < HTML_BUCKETS; k++) {
        unsigned long sum = 0;

        for (size_t r = 0; r < N_REASONS; r++) {
            sum += bins[k][r];
        }
        peak = sum > peak ? sum : peak;
    }
    format_time(s->first_ms, a);
    format_time(s->last_ms, b);
    fprintf(f,
            "<h2>Denies over time</h2>\n<svg id=chart xmlns=\"http://www.w3.org/2000/svg\" "
            "width=\"%d\" height=\"%d\" role=img aria-label=\"denies over time\">\n"
            "<line x1=%d y1=%d x2=%d y2=%d stroke=#444 />\n"
            "<line x1=%d y1=10 x2=%d y2=%d stroke=#444 />\n"
            "<text x=%d y=18 text-anchor=end font-size=11>%lu</text>\n"
            "<text x=%d y=%d text-anchor=end font-size=11>0</text>\n"
            "<text x=%d y=%d font-size=11>%s</text>\n"
            "<text x=%d y=%d text-anchor=end font-size=11>%s</text>\n",
            w, h, left, h - bottom, w - 10, h - bottom, left, left, h - bottom, left - 4, peak,
            left - 4, h - bottom, left, h - 10, a, w - 10, h - 10, b);
    for (size_t k = 0; k < HTML_BUCKETS; k++) {
        double bw = (double)(w - 10 - left) / HTML_BUCKETS;
        double y = h - bottom;

        for (size_t r = 0; r < N_REASONS; r++) {
            double bh;

            if (bins[k][r] == 0) {
                continue;
            }
            bh = (double)bins[k][r] * (h - bottom - 12) / (double)peak;
            y -= bh;
            fprintf(f,
                    "<rect class=bar x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                    "fill=\"%s\"><title>%s: %lu</title></rect>\n",
                    left + k * bw + 1, y, bw - 2, bh, colors[r], reason_name(r), bins[k][r]);
        }
    }
    fprintf(f, "</svg>\n<p class=legend>");
    for (size_t r = 0; r < N_REASONS; r++) {
        if (used[r]) {
            fprintf(f, "<span><i style=\"background:%s\"></i>%s</span> ", colors[r],
                    reason_name(r));
        }
    }
    fprintf(f, "</p>\n");
}

static void html_recent(FILE *f, const struct summary *s, const struct opts *o)
{
    static const char *const cols[] = {"time", "event", "reason", "rule", "detail", "request_id"};

    fprintf(f, "<h2>Most recent</h2>\n<table><tr><th>time</th><th>event</th><th>reason</th>"
               "<th>rule</th><th>detail</th><th>request_id</th><th>image</th><th>client</th></tr>\n");
    for (size_t i = 0; i < s->recent_n; i++) {
        const struct rw_buf *b = recent_at(s, o, i);
        json_t *root = json_loadb((const char *)b->data, b->len, 0, NULL);
        json_t *im = json_object_get(root, "image");
        json_t *cl = json_object_get(root, "client");

        fprintf(f, "<tr>");
        for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
            fprintf(f, "<td>");
            html_esc(f, str_or(root, cols[c], "-"));
            fprintf(f, "</td>");
        }
        fprintf(f, "<td>");
        html_esc(f, str_or(im, "registry", "-"));
        fprintf(f, "/");
        html_esc(f, str_or(im, "repository", "-"));
        fprintf(f, ":");
        html_esc(f, str_or(im, "reference", "-"));
        fprintf(f, "</td><td>");
        html_esc(f, str_or(cl, "addr", "-"));
        fprintf(f, " ");
        html_esc(f, str_or(cl, "identity", ""));
        fprintf(f, "</td></tr>\n");
        json_decref(root);
    }
    fprintf(f, "</table>\n");
}

static int write_html(const struct summary *s, const struct opts *o)
{
    FILE *f = fopen(o->html_path, "w");
    struct entry **v = NULL;
    char a[32];
    char b[32];
    int rc = 0;

    if (f == NULL) {
        return -errno;
    }
    format_time(s->first_ms, a);
    format_time(s->last_ms, b);
    fprintf(f, "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\n"
               "<title>regwarden denies</title>\n<style>\n"
               "body{font:14px system-ui,sans-serif;margin:24px;color:#222}\n"
               "table{border-collapse:collapse;margin-bottom:16px}\n"
               "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}\n"
               "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
               ".legend span{margin-right:12px;white-space:nowrap}.legend i{display:inline-block;width:10px;"
               "height:10px;margin-right:4px}\n</style></head><body>\n"
               "<h1>regwarden deny review</h1>\n");
    fprintf(f, "<p id=total>%lu denies (%lu deny, %lu audit-deny) from %s to %s; ", s->total,
            s->n_deny, s->n_audit, a, b);
    fprintf(f, "%lu lines skipped. Log: ", s->skipped);
    html_esc(f, o->log_path);
    fprintf(f, "</p>\n");
    if (s->n_points > 0) {
        html_chart(f, s);
    }
    html_table(f, "By reason", "reason", &s->reasons, RW_REASON_COUNT + 8);
    v = table_sorted(&s->images);
    fprintf(f, "<h2>Top denied images</h2>\n<table><tr><th>count</th><th>image</th>"
               "<th>first seen</th><th>last seen</th><th>last reason</th><th>last detail</th></tr>\n");
    for (size_t i = 0; v != NULL && i < s->images.n && i < o->top; i++) {
        format_time(v[i]->first_ms, a);
        format_time(v[i]->last_ms, b);
        fprintf(f, "<tr><td class=n>%lu</td><td>", v[i]->n);
        html_esc(f, v[i]->key);
        fprintf(f, "</td><td>%s</td><td>%s</td><td>", a, b);
        html_esc(f, v[i]->last_reason);
        fprintf(f, "</td><td>");
        html_esc(f, v[i]->last_detail);
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n");
    rw_free(v);
    html_table(f, "By client (node address)", "client", &s->clients, o->top);
    html_table(f, "By identity", "identity", &s->identities, o->top);
    html_table(f, "By rule", "rule", &s->rules, o->top);
    html_recent(f, s, o);
    fprintf(f, "</body></html>\n");
    if (ferror(f)) {
        rc = -EIO;
    }
    if (fclose(f) != 0 && rc == 0) {
        rc = -errno;
    }
    return rc;
}

/* ------------------------------------------------------------------ command */

static void usage(void)
{
    fprintf(stderr,
            "usage: regwarden denies [-c FILE | --log FILE] [--since DURATION] [--image PATTERN]\n"
            "                        [--reason REASON] [--top N] [--recent N] [--json]\n"
            "                        [--html FILE]\n");
}

static int parse_size(const char *s, size_t max, size_t *out)
{
    char *end = NULL;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (v == NULL) {
            usage();
            return -EINVAL;
        }
        i++;
        if (strcmp(a, "--since") == 0) {
            o->since_s = rw_duration_parse(v);
            if (o->since_s < 0) {
                fprintf(stderr, "regwarden denies: bad duration %s (e.g. 30m, 24h, 7d)\n", v);
                return -EINVAL;
            }
        } else if (strcmp(a, "--log") == 0) {
            o->log_path = v;
        } else if (strcmp(a, "--image") == 0) {
            if (rw_pattern_check(v) != 0) {
                fprintf(stderr, "regwarden denies: bad image pattern %s (rule syntax: "
                                "registry.local/team/**)\n", v);
                return -EINVAL;
            }
            o->image_glob = v;
        } else if (strcmp(a, "--reason") == 0) {
            o->reason = v;
        } else if (strcmp(a, "--html") == 0) {
            o->html_path = v;
        } else if (strcmp(a, "--top") == 0 || strcmp(a, "--recent") == 0) {
            size_t *dst = a[2] == 't' ? &o->top : &o->recent;

            if (parse_size(v, RECENT_MAX, dst) != 0) {
                fprintf(stderr, "regwarden denies: %s wants 0..%d\n", a, RECENT_MAX);
                return -EINVAL;
            }
        } else {
            usage();
            return -EINVAL;
        }
    }
    return 0;
}

static void summary_fini(struct summary *s, const struct opts *o)
{
    table_fini(&s->reasons);
    table_fini(&s->images);
    table_fini(&s->clients);
    table_fini(&s->identities);
    table_fini(&s->rules);
    for (size_t i = 0; s->recent != NULL && i < o->recent; i++) {
        rw_buf_fini(&s->recent[i]);
    }
    rw_free_clear(&s->recent);
    rw_free_clear(&s->points);
    for (size_t i = 0; i < s->n_files; i++) {
        rw_free_clear(&s->files[i].path);
    }
}

int rw_cmd_denies(const char *config_path, int argc, char **argv)
{
    struct opts o = {.since_s = -1, .top = TOP_DEFAULT, .recent = RECENT_DEFAULT};
    struct rw_config *cfg = NULL;
    struct summary s;
    char *line = NULL;
    char err[1024];
    int64_t cutoff_ms = NO_TIME;
    int status = 2;
    int rc;

    memset(&s, 0, sizeof(s));
    s.first_ms = NO_TIME;
    s.last_ms = NO_TIME;
    if (parse_args(argc, argv, &o) != 0) {
        goto out;
    }
    if (o.log_path == NULL) {
        if (config_path == NULL) {
            fprintf(stderr, "regwarden denies: -c FILE or --log FILE is required\n");
            goto out;
        }
        if (rw_config_load(config_path, &cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            goto out;
        }
        o.log_path = cfg->deny_log;
        if (o.log_path == NULL || strcmp(o.log_path, "-") == 0) {
            fprintf(stderr, "regwarden denies: the deny log goes to stdout; pass --log FILE\n");
            goto out;
        }
    }
    if (o.since_s >= 0) {
        struct timespec now;

        clock_gettime(CLOCK_REALTIME, &now);
        cutoff_ms = ((int64_t)now.tv_sec - o.since_s) * 1000 + now.tv_nsec / 1000000;
    }
    line = rw_malloc(LINE_MAX_BYTES);
    s.recent = rw_calloc(o.recent + 1, sizeof(*s.recent));
    if (line == NULL || s.recent == NULL) {
        fprintf(stderr, "regwarden denies: out of memory\n");
        goto out;
    }
    rc = collect_files(&s, o.log_path);
    for (size_t i = 0; rc == 0 && i < s.n_files; i++) {
        rc = read_file(&s, &o, &s.files[i], line, cutoff_ms);
        if (rc != 0) {
            fprintf(stderr, "regwarden denies: %s: %s\n", s.files[i].path, strerror(-rc));
        }
    }
    if (rc != 0) {
        goto out;
    }
    if (s.n_files == 0) {
        /* no log yet is an empty summary, not an error: nothing was denied */
        fprintf(stderr, "regwarden denies: no deny log at %s (nothing denied yet?)\n",
                o.log_path);
    }
    rc = o.json ? print_json(&s, &o) : (print_text(&s, &o), 0);
    if (rc == 0 && o.html_path != NULL) {
        rc = write_html(&s, &o);
        if (rc != 0) {
            fprintf(stderr, "regwarden denies: cannot write %s: %s\n", o.html_path,
                    strerror(-rc));
        }
    }
    status = rc == 0 ? 0 : 1;
out:
    summary_fini(&s, &o);
    rw_free(line);
    rw_config_unref(&cfg);
    return status;
}
