/* SPDX-License-Identifier: MIT */
/*
 * The deny log (R15 channel 2): deny, audit-deny and signed lines in exactly the contract's
 * schema (DESIGN.md "Deny log"), key order fixed, NULL written as JSON null, every string
 * bounded and made valid UTF-8 before jansson escapes it. Each line leaves in one write(2) on an
 * O_APPEND descriptor, so lines from worker threads never interleave. Never handed secrets.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "rw/err.h"
#include "rw/mem.h"

#include "denylog.h"
#include "oci_errors.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)
#define LINE_STACK 2048u /* most lines fit; longer ones go to the heap */

struct rw_denylog {
    int fd;         /* owned unless is_stdout */
    bool is_stdout;
    char *path;     /* owned; NULL for stdout */
    atomic_llong next_check_s; /* CLOCK_MONOTONIC second of the next moved-file check */
};

static int open_path(const char *path, int *fd)
{
    int f = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

    if (f < 0) {
        return -errno;
    }
    *fd = f;
    return 0;
}

int rw_denylog_open(const char *path, struct rw_denylog **out)
{
    struct rw_denylog *d = NULL;
    int rc = 0;

    if (path == NULL || path[0] == '\0' || out == NULL) {
        return -EINVAL;
    }
    d = rw_calloc(1, sizeof(*d));
    if (d == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    d->fd = -1;
    if (strcmp(path, "-") == 0) {
        d->is_stdout = true;
        d->fd = STDOUT_FILENO;
    } else {
        d->path = rw_strdup(path);
        if (d->path == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        rc = open_path(path, &d->fd);
        if (rc != 0) {
            goto out;
        }
    }
    *out = d;
    d = NULL;
out:
    rw_denylog_close(&d);
    return rc;
}

void rw_denylog_close(struct rw_denylog **pd)
{
    struct rw_denylog *d = pd != NULL ? *pd : NULL;

    if (d == NULL) {
        return;
    }
    if (!d->is_stdout && d->fd >= 0) {
        close(d->fd);
    }
    rw_free(d->path);
    rw_free_clear(pd);
}

int rw_denylog_reopen(struct rw_denylog *d)
{
    int nfd = -1;
    int rc;

    if (d->is_stdout) {
        return 0;
    }
    rc = open_path(d->path, &nfd);
    if (rc != 0) {
        goto out;
    }
    /* dup3 swaps the file under d->fd in one step: a concurrent write lands in one or the
     * other, never on a closed descriptor. */
    if (dup3(nfd, d->fd, O_CLOEXEC) < 0) {
        rc = -errno;
    }
out:
    if (nfd >= 0) {
        close(nfd);
    }
    return rc;
}

/*
 * Rotation without a signal: at most once per RW_DENYLOG_CHECK_S, the writer that wins the
 * compare-exchange checks whether d->fd is still the file at d->path (deleted: st_nlink 0;
 * moved or replaced: another inode or nothing at the path) and reopens if not. Lines written
 * in between land in the moved file, which is where logrotate expects them.
 */
static void check_moved(struct rw_denylog *d)
{
    struct timespec now;
    struct stat fst;
    struct stat pst;
    long long due;

    if (d->is_stdout) {
        return;
    }
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    due = atomic_load_explicit(&d->next_check_s, memory_order_relaxed);
    if ((long long)now.tv_sec < due ||
        !atomic_compare_exchange_strong(&d->next_check_s, &due,
                                        (long long)now.tv_sec + RW_DENYLOG_CHECK_S)) {
        return;
    }
    if (fstat(d->fd, &fst) != 0) {
        return;
    }
    if (fst.st_nlink == 0 || stat(d->path, &pst) != 0 || pst.st_ino != fst.st_ino ||
        pst.st_dev != fst.st_dev) {
        (void)rw_denylog_reopen(d); /* on failure the old file stays in use */
    }
}

/* "2026-12-03T12:00:00.123Z" */
static void now_iso(char out[48])
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 48 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000L));
}

/* Set @p key to a bounded, UTF-8-clean copy of @p v, or null. @return 0 or -ENOMEM. */
static int set_str(json_t *o, const char *key, const char *v, size_t max)
{
    char buf[RW_DENYLOG_FIELD_MAX + 1];
    size_t n;

    if (v == NULL) {
        return json_object_set_new(o, key, json_null()) == 0 ? 0 : -ENOMEM;
    }
    if (max > RW_DENYLOG_FIELD_MAX) {
        max = RW_DENYLOG_FIELD_MAX;
    }
    n = rw_oci_text_sanitize(buf, max + 1, v);
    return json_object_set_new(o, key, json_stringn(buf, n)) == 0 ? 0 : -ENOMEM;
}

struct common {
    const char *event;
    const char *request_id;
    const char *client_addr;
    const char *identity;
    const char *user_agent;
    const char *registry;
    const char *repository;
    const char *reference;
    const char *digest;
    const char *rule;
};

/* time, event, request_id, client{...}, image{...}, rule: the head both line kinds share. */
static int add_common(json_t *root, const struct common *c)
{
    json_t *client = NULL;
    json_t *image = NULL;
    char ts[48];
    int rc;

    now_iso(ts);
    rc = set_str(root, "time", ts, sizeof(ts));
    if (rc == 0) {
        rc = set_str(root, "event", c->event, RW_DENYLOG_FIELD_MAX);
    }
    if (rc == 0) {
        rc = set_str(root, "request_id", c->request_id, RW_DENYLOG_FIELD_MAX);
    }
    if (rc != 0) {
        goto out;
    }
    client = json_object();
    image = json_object();
    if (client == NULL || image == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = set_str(client, "addr", c->client_addr, RW_DENYLOG_FIELD_MAX);
    if (rc == 0) {
        rc = set_str(client, "identity", c->identity, RW_DENYLOG_FIELD_MAX);
    }
    if (rc == 0) {
        rc = set_str(client, "user_agent", c->user_agent, RW_DENYLOG_UA_MAX);
    }
    if (rc == 0) {
        rc = set_str(image, "registry", c->registry, RW_DENYLOG_FIELD_MAX);
    }
    if (rc == 0) {
        rc = set_str(image, "repository", c->repository, RW_DENYLOG_FIELD_MAX);
    }
    if (rc == 0) {
        rc = set_str(image, "reference", c->reference, RW_DENYLOG_FIELD_MAX);
    }
    if (rc == 0) {
        rc = set_str(image, "digest", c->digest, RW_DENYLOG_FIELD_MAX);
    }
    if (rc != 0) {
        goto out;
    }
    if (json_object_set(root, "client", client) != 0 ||
        json_object_set(root, "image", image) != 0) {
        rc = -ENOMEM;
        goto out;
    }
    rc = set_str(root, "rule", c->rule, RW_DENYLOG_FIELD_MAX);
out:
    json_decref(client);
    json_decref(image);
    return rc;
}

/* Dump @p root plus '\n' and hand it to the kernel in one write(2). */
static int write_line(struct rw_denylog *d, const json_t *root)
{
    char stackbuf[LINE_STACK];
    char *heap = NULL;
    char *line = stackbuf;
    size_t need;
    ssize_t w;
    int rc = 0;

    need = json_dumpb(root, NULL, 0, DUMP_FLAGS);
    if (need == 0) {
        rc = -ENOMEM;
        goto out;
    }
    if (need + 1 > sizeof(stackbuf)) {
        heap = rw_malloc(need + 1);
        if (heap == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        line = heap;
    }
    if (json_dumpb(root, line, need, DUMP_FLAGS) != need) {
        rc = RW_EINTERNAL;
        goto out;
    }
    line[need] = '\n';
    check_moved(d);
    /* Retrying a partial write would split the line; O_APPEND writes of this size to a regular
     * file are not partial in practice, so a short write is reported, not patched up. */
    do {
        w = write(d->fd, line, need + 1);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
        rc = -errno;
    } else if ((size_t)w != need + 1) {
        rc = -EIO;
    }
out:
    rw_free(heap);
    return rc;
}

/* One top-level field after the common head: key, value (NULL writes null), length bound. */
struct tail_field {
    const char *key;
    const char *val;
    size_t max;
};

/* Build head + @p tail (in order, as the schema lists them) and write it as one line. */
static int emit_line(struct rw_denylog *d, const struct common *c, const struct tail_field *tail,
                     size_t ntail)
{
    json_t *root = NULL;
    int rc;

    root = json_object();
    if (root == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = add_common(root, c);
    for (size_t i = 0; rc == 0 && i < ntail; i++) {
        rc = set_str(root, tail[i].key, tail[i].val, tail[i].max);
    }
    if (rc == 0) {
        rc = write_line(d, root);
    }
out:
    json_decref(root);
    return rc;
}

int rw_denylog_deny(struct rw_denylog *d, const struct rw_deny_event *e)
{
    if (d == NULL || e == NULL) {
        return -EINVAL;
    }
    const struct common c = {
        .event = e->event,
        .request_id = e->request_id,
        .client_addr = e->client_addr,
        .identity = e->identity,
        .user_agent = e->user_agent,
        .registry = e->registry,
        .repository = e->repository,
        .reference = e->reference,
        .digest = e->digest,
        .rule = e->rule,
    };
    const struct tail_field tail[] = {
        {"mode", e->mode, RW_DENYLOG_FIELD_MAX},
        {"reason", e->reason, RW_DENYLOG_FIELD_MAX},
        {"detail", e->detail, RW_DENYLOG_DETAIL_MAX},
    };

    return emit_line(d, &c, tail, sizeof(tail) / sizeof(tail[0]));
}

int rw_denylog_signed(struct rw_denylog *d, const struct rw_signed_event *e)
{
    if (d == NULL || e == NULL) {
        return -EINVAL;
    }
    const struct common c = {
        .event = "signed",
        .request_id = e->request_id,
        .client_addr = e->client_addr,
        .identity = e->identity,
        .user_agent = e->user_agent,
        .registry = e->registry,
        .repository = e->repository,
        .reference = e->reference,
        .digest = e->digest,
        .rule = e->rule,
    };
    const struct tail_field tail[] = {
        {"key", e->key, RW_DENYLOG_FIELD_MAX},
        {"key_version", e->key_version, RW_DENYLOG_FIELD_MAX},
        {"signature", e->signature, RW_DENYLOG_FIELD_MAX},
    };

    return emit_line(d, &c, tail, sizeof(tail) / sizeof(tail[0]));
}

