/* SPDX-License-Identifier: MIT */
/*
 * `regwarden denies`: summarise the deny log. This first version counts by reason, by image and
 * by client over an optional --since window and prints the most recent lines; --json for tools.
 * Rotated files, --image/--reason filters and the HTML report are the deny-review issue's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "rw/mem.h"
#include "rw/policy.h"
#include "cmd.h"

#define MAX_LINE (64 * 1024)
#define MAX_KEYS 4096
#define TOP 10

struct counter {
    char *key;
    unsigned long n;
};

struct table {
    struct counter v[MAX_KEYS];
    size_t n;
    unsigned long other; /* keys beyond MAX_KEYS */
};

static void count(struct table *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->v[i].key, key) == 0) {
            t->v[i].n++;
            return;
        }
    }
    if (t->n == MAX_KEYS) {
        t->other++;
        return;
    }
    t->v[t->n].key = rw_strdup(key);
    if (t->v[t->n].key == NULL) {
        t->other++;
        return;
    }
    t->v[t->n++].n = 1;
}

static int by_count(const void *a, const void *b)
{
    const struct counter *x = a;
    const struct counter *y = b;

    return x->n < y->n ? 1 : (x->n > y->n ? -1 : strcmp(x->key, y->key));
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        rw_free(t->v[i].key);
    }
    t->n = 0;
}

/* "2026-12-03T12:00:00.123Z" -> unix seconds; -1 when malformed. */
static time_t parse_time(const char *s)
{
    struct tm tm;
    const char *e;

    memset(&tm, 0, sizeof(tm));
    e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (e == NULL) {
        return -1;
    }
    return timegm(&tm);
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s != NULL ? s : "-";
}

int rw_cmd_denies(const char *config_path, int argc, char **argv)
{
    struct rw_config *cfg = NULL;
    const char *log_path = NULL;
    bool as_json = false;
    int64_t since = -1;
    char err[1024];
    FILE *f = NULL;
    char *line = NULL;
    static struct table reasons, images, clients;
    unsigned long total = 0;
    unsigned long skipped = 0;
    char *recent[TOP] = {0};
    size_t n_recent = 0;
    int status = 2;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc) {
            since = rw_duration_parse(argv[++i]);
            if (since < 0) {
                fprintf(stderr, "bad duration %s\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
            log_path = argv[++i];
        } else {
            fprintf(stderr, "usage: regwarden denies [-c FILE | --log FILE] [--since DURATION] [--json]\n");
            return 2;
        }
    }
    if (log_path == NULL) {
        if (config_path == NULL) {
            fprintf(stderr, "regwarden denies: -c FILE or --log FILE is required\n");
            return 2;
        }
        if (rw_config_load(config_path, &cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        log_path = cfg->deny_log;
        if (log_path == NULL || strcmp(log_path, "-") == 0) {
            fprintf(stderr, "the deny log goes to stdout; pass --log FILE\n");
            goto out;
        }
    }
    f = fopen(log_path, "r");
    line = rw_malloc(MAX_LINE);
    if (f == NULL || line == NULL) {
        fprintf(stderr, "cannot read %s\n", log_path);
        goto out;
    }
    while (fgets(line, MAX_LINE, f) != NULL) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        const char *ev;
        char img[1024];
        time_t t;

        if (o == NULL || !json_is_object(o)) {
            skipped++; /* truncated last line or foreign text */
            json_decref(o);
            continue;
        }
        ev = str(o, "event");
        if (strcmp(ev, "deny") != 0 && strcmp(ev, "audit-deny") != 0) {
            json_decref(o);
            continue;
        }
        t = parse_time(str(o, "time"));
        if (since >= 0 && (t < 0 || t < time(NULL) - since)) {
            json_decref(o);
            continue;
        }
        total++;
        count(&reasons, str(o, "reason"));
        {
            json_t *im = json_object_get(o, "image");

            snprintf(img, sizeof(img), "%s/%s", str(im, "registry"), str(im, "repository"));
            count(&images, img);
            count(&clients, str(json_object_get(o, "client"), "addr"));
        }
        if (n_recent == TOP) {
            rw_free(recent[0]);
            memmove(recent, recent + 1, sizeof(recent[0]) * (TOP - 1));
            n_recent--;
        }
        recent[n_recent++] = rw_strdup(line);
        json_decref(o);
    }
    qsort(reasons.v, reasons.n, sizeof(reasons.v[0]), by_count);
    qsort(images.v, images.n, sizeof(images.v[0]), by_count);
    qsort(clients.v, clients.n, sizeof(clients.v[0]), by_count);
    if (as_json) {
        json_t *o = json_object();
        struct table *ts[3] = {&reasons, &images, &clients};
        const char *names[3] = {"by_reason", "by_image", "by_client"};

        json_object_set_new(o, "total", json_integer((json_int_t)total));
        json_object_set_new(o, "skipped_lines", json_integer((json_int_t)skipped));
        for (size_t k = 0; k < 3; k++) {
            json_t *m = json_object();

            for (size_t i = 0; i < ts[k]->n; i++) {
                json_object_set_new(m, ts[k]->v[i].key, json_integer((json_int_t)ts[k]->v[i].n));
            }
            json_object_set_new(o, names[k], m);
        }
        {
            char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

            if (s != NULL) {
                printf("%s\n", s);
                free(s);
            }
        }
        json_decref(o);
    } else {
        printf("%lu denies in %s%s\n", total, log_path, skipped ? " (some lines unreadable)" : "");
        printf("\nby reason:\n");
        for (size_t i = 0; i < reasons.n; i++) {
            printf("  %8lu  %s\n", reasons.v[i].n, reasons.v[i].key);
        }
        printf("\ntop images:\n");
        for (size_t i = 0; i < images.n && i < TOP; i++) {
            printf("  %8lu  %s\n", images.v[i].n, images.v[i].key);
        }
        printf("\ntop clients:\n");
        for (size_t i = 0; i < clients.n && i < TOP; i++) {
            printf("  %8lu  %s\n", clients.v[i].n, clients.v[i].key);
        }
        printf("\nmost recent:\n");
        for (size_t i = 0; i < n_recent; i++) {
            printf("  %s", recent[i]);
        }
    }
    status = 0;
out:
    for (size_t i = 0; i < n_recent; i++) {
        rw_free(recent[i]);
    }
    table_free(&reasons);
    table_free(&images);
    table_free(&clients);
    rw_free(line);
    if (f != NULL) {
        fclose(f);
    }
    rw_config_unref(&cfg);
    return status;
}
