/* SPDX-License-Identifier: MIT */
/*
 * OCI 1.1 referrers (PROTOCOLS.md §1.9) as evidence: a bounded parser for referrers indexes (API
 * pages and the sha256-<hex> fallback tag), the Link rel="next" resolver that keeps pagination on
 * the upstream's origin, and the two facts of a referrer manifest that decide whether it counts
 * (its kind and its subject). Nothing here is trusted: a descriptor only says what to fetch by
 * digest. Pure: no I/O (eval_ref.c asks the fetch ops).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "jsonutil.h"
#include "rw/err.h"
#include "rw/mem.h"
#include "rw/policy.h"

static void referrer_fini(struct rw_referrer *d)
{
    for (size_t i = 0; i < d->n_ann; i++) {
        rw_free(d->ann[i].key);
        rw_free(d->ann[i].value);
    }
    rw_free_clear(&d->ann);
    d->n_ann = 0;
}

void rw_referrers_fini(struct rw_referrers *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        referrer_fini(&r->v[i]);
    }
    rw_free_clear(&r->v);
    r->n = 0;
    r->n_ignored = 0;
}

/* Copy a JSON string into a fixed field; false when absent, not a string or too long. */
static bool copy_str(const json_t *v, char *dst, size_t cap)
{
    if (!json_is_string(v) || json_string_length(v) >= cap) {
        return false;
    }
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return true;
}

static int parse_descriptor(const json_t *o, struct rw_referrer *d)
{
    const json_t *dg = json_object_get(o, "digest");
    const json_t *at = json_object_get(o, "artifactType");
    const json_t *ann = json_object_get(o, "annotations");
    int64_t size = rw_policy_json_size(json_object_get(o, "size"));
    const char *k;
    const json_t *v;

    memset(d, 0, sizeof(*d));
    if (!json_is_object(o) || size < 0 ||
        !copy_str(json_object_get(o, "mediaType"), d->media_type, sizeof(d->media_type)) ||
        !copy_str(dg, d->digest, sizeof(d->digest)) ||
        !rw_oci_digest_valid(d->digest, strlen(d->digest))) {
        return RW_EPROTO;
    }
    d->size = (uint64_t)size;
    if (at != NULL && !copy_str(at, d->artifact_type, sizeof(d->artifact_type))) {
        return RW_EPROTO;
    }
    if (ann == NULL) {
        return 0;
    }
    if (!json_is_object(ann)) {
        return RW_EPROTO;
    }
    json_object_foreach((json_t *)ann, k, v) {
        if (!json_is_string(v)) {
            return RW_EPROTO; /* annotations are a map of strings (image-spec) */
        }
    }
    if (json_object_size(ann) > 0) {
        size_t n = json_object_size(ann);

        n = n > RW_MAX_REFERRER_ANNOTATIONS ? RW_MAX_REFERRER_ANNOTATIONS : n;
        d->ann = rw_calloc(n, sizeof(*d->ann));
        if (d->ann == NULL) {
            return -ENOMEM;
        }
        json_object_foreach((json_t *)ann, k, v) {
            if (d->n_ann >= n) {
                break; /* the rest are hints nobody reads: not kept */
            }
            d->ann[d->n_ann].key = rw_strdup(k);
            d->ann[d->n_ann].value = rw_strndup(json_string_value(v), json_string_length(v));
            d->n_ann++;
            if (d->ann[d->n_ann - 1].key == NULL || d->ann[d->n_ann - 1].value == NULL) {
                return -ENOMEM;
            }
        }
    }
    return 0;
}

int rw_referrers_parse(const uint8_t *p, size_t n, struct rw_referrers *acc)
{
    json_t *root = NULL;
    const json_t *mans;
    const json_t *sv;
    const json_t *mt;
    struct rw_referrer *grown = NULL;
    size_t total;
    size_t take;
    size_t done = 0;
    int rc;

    if (p == NULL || acc == NULL) {
        return RW_EINVAL;
    }
    rc = rw_policy_json_load(p, n, RW_MAX_REFERRERS_PAGE_BYTES, &root);
    if (rc != 0) {
        return rc == RW_ETOOBIG ? RW_ETOOBIG : RW_EPROTO;
    }
    rc = RW_EPROTO;
    mans = json_object_get(root, "manifests");
    sv = json_object_get(root, "schemaVersion");
    mt = json_object_get(root, "mediaType");
    if (!json_is_object(root) || !json_is_array(mans) || !json_is_integer(sv) ||
        json_integer_value(sv) != 2) {
        goto out;
    }
    if (mt != NULL && (!json_is_string(mt) || strcmp(json_string_value(mt), RW_MT_OCI_INDEX) != 0)) {
        goto out;
    }
    total = json_array_size(mans);
    take = RW_MAX_REFERRERS - (acc->n < RW_MAX_REFERRERS ? acc->n : RW_MAX_REFERRERS);
    take = total < take ? total : take;
    /* every descriptor is checked, also those past the bound: a page is taken whole or not */
    for (size_t i = take; i < total; i++) {
        struct rw_referrer tmp;

        rc = parse_descriptor(json_array_get(mans, i), &tmp);
        referrer_fini(&tmp);
        if (rc != 0) {
            goto out;
        }
    }
    rc = RW_EPROTO;
    if (take > 0) {
        grown = rw_calloc(acc->n + take, sizeof(*grown));
        if (grown == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        for (; done < take; done++) {
            rc = parse_descriptor(json_array_get(mans, done), &grown[acc->n + done]);
            if (rc != 0) {
                done++; /* its partial annotations are freed below */
                goto out;
            }
        }
        if (acc->n > 0) {
            memcpy(grown, acc->v, acc->n * sizeof(*grown));
        }
        rw_free(acc->v);
        acc->v = grown;
        grown = NULL;
        acc->n += take;
        done = 0;
    }
    acc->n_ignored += total - take;
    rc = 0;
out:
    if (grown != NULL) {
        for (size_t i = 0; i < done; i++) {
            referrer_fini(&grown[acc->n + i]);
        }
        rw_free(grown);
    }
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------ Link rel="next" */

/* Length of "scheme://authority" of an absolute http(s) URL with a clean authority, or 0. */
static size_t http_origin_len(const char *s)
{
    size_t skip;
    size_t alen;

    if (strncasecmp(s, "http://", 7) == 0) {
        skip = 7;
    } else if (strncasecmp(s, "https://", 8) == 0) {
        skip = 8;
    } else {
        return 0;
    }
    alen = strcspn(s + skip, "/?#");
    /* userinfo or a backslash would make an HTTP client dial another host than the one compared */
    if (alen == 0 || memchr(s + skip, '@', alen) != NULL || memchr(s + skip, '\\', alen) != NULL) {
        return 0;
    }
    return skip + alen;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Does the rel parameter value @p v (n bytes, unquoted) list "next"? */
static bool rel_has_next(const char *v, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t j;

        while (i < n && is_space(v[i])) {
            i++;
        }
        j = i;
        while (j < n && !is_space(v[j])) {
            j++;
        }
        if (j - i == 4 && strncasecmp(v + i, "next", 4) == 0) {
            return true;
        }
        i = j;
    }
    return false;
}

/* Parse the parameters of one link-value from @p p up to its ',' (outside quotes) or the end;
 * sets *next when rel lists "next"; returns where the link-value ends. NULL when malformed. */
static const char *link_params(const char *p, bool *next)
{
    *next = false;
    for (;;) {
        const char *name;
        size_t nlen;
        const char *val = NULL;
        size_t vlen = 0;

        while (is_space(*p)) {
            p++;
        }
        if (*p == '\0' || *p == ',') {
            return p;
        }
        if (*p != ';') {
            return NULL;
        }
        p++;
        while (is_space(*p)) {
            p++;
        }
        name = p;
        while (*p != '\0' && *p != '=' && *p != ';' && *p != ',' && !is_space(*p)) {
            p++;
        }
        nlen = (size_t)(p - name);
        while (is_space(*p)) {
            p++;
        }
        if (*p == '=') {
            p++;
            while (is_space(*p)) {
                p++;
            }
            if (*p == '"') {
                val = ++p;
                while (*p != '\0' && *p != '"') {
                    p += (*p == '\\' && p[1] != '\0') ? 2 : 1;
                }
                if (*p != '"') {
                    return NULL;
                }
                vlen = (size_t)(p - val);
                p++;
            } else {
                val = p;
                while (*p != '\0' && *p != ';' && *p != ',' && !is_space(*p)) {
                    p++;
                }
                vlen = (size_t)(p - val);
            }
        }
        if (nlen == 3 && strncasecmp(name, "rel", 3) == 0 && val != NULL && rel_has_next(val, vlen)) {
            *next = true;
        }
    }
}

int rw_referrers_next(const char *base, const char *link, char **out)
{
    const char *p = link;
    size_t bo;

    if (base == NULL || link == NULL || out == NULL) {
        return RW_EINVAL;
    }
    bo = http_origin_len(base);
    if (bo == 0) {
        return RW_EPROTO;
    }
    while (*p != '\0') {
        const char *t;
        const char *gt;
        size_t tlen;
        bool next;

        while (is_space(*p) || *p == ',') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        if (*p != '<' || (gt = strchr(p, '>')) == NULL) {
            return RW_EPROTO;
        }
        t = p + 1;
        tlen = (size_t)(gt - t);
        p = link_params(gt + 1, &next);
        if (p == NULL) {
            return RW_EPROTO;
        }
        if (!next) {
            continue;
        }
        if (tlen == 0 || tlen > RW_MAX_LINK_URL) {
            return tlen == 0 ? RW_EPROTO : RW_ETOOBIG;
        }
        for (size_t i = 0; i < tlen; i++) {
            if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f || t[i] == '\\') {
                return RW_EPROTO;
            }
        }
        if (t[0] == '/' && (tlen == 1 || t[1] != '/')) {
            /* origin-relative: the usual form (distribution, zot) */
            *out = rw_asprintf("%.*s%.*s", (int)bo, base, (int)tlen, t);
        } else {
            char *abs = rw_strndup(t, tlen);
            size_t to;

            if (abs == NULL) {
                return -ENOMEM;
            }
            to = http_origin_len(abs);
            /* scheme-relative, path-relative and other-origin targets are all refused */
            if (to == 0 || to != bo || strncasecmp(abs, base, bo) != 0) {
                rw_free(abs);
                return RW_EPROTO;
            }
            *out = abs;
        }
        return *out == NULL ? -ENOMEM : 0;
    }
    return -ENOENT;
}

/* ------------------------------------------------------------------ referrer manifests */

bool rw_bundle_media_type_ok(const char *mt)
{
    size_t pl = strlen(RW_MT_BUNDLE_LEGACY);

    if (mt == NULL) {
        return false;
    }
    if (strcmp(mt, RW_MT_BUNDLE_V03) == 0) {
        return true;
    }
    return strncmp(mt, RW_MT_BUNDLE_LEGACY, pl) == 0 &&
           (strcmp(mt + pl, "0.1") == 0 || strcmp(mt + pl, "0.2") == 0 ||
            strcmp(mt + pl, "0.3") == 0);
}

enum rw_referrer_kind rw_referrer_kind_of(const char *artifact_type)
{
    if (artifact_type == NULL) {
        return RW_REFERRER_OTHER;
    }
    if (strcmp(artifact_type, RW_AT_COSIGN_SIG) == 0) {
        return RW_REFERRER_COSIGN_SIG;
    }
    if (strcmp(artifact_type, RW_AT_COSIGN_ATT) == 0) {
        return RW_REFERRER_COSIGN_ATT;
    }
    return rw_bundle_media_type_ok(artifact_type) ? RW_REFERRER_BUNDLE : RW_REFERRER_OTHER;
}

int rw_referrer_manifest_parse(const uint8_t *p, size_t n, struct rw_referrer_manifest *out)
{
    struct rw_referrer_manifest m;
    json_t *root = NULL;
    const json_t *mt;
    const json_t *at;
    const json_t *cfg;
    const json_t *subj;
    char type[128];
    int rc;

    memset(&m, 0, sizeof(m));
    if (p == NULL || out == NULL) {
        return RW_EINVAL;
    }
    rc = rw_policy_json_load(p, n, RW_MAX_SIG_MANIFEST_BYTES, &root);
    if (rc != 0) {
        return rc == RW_ETOOBIG ? RW_ETOOBIG : RW_ESIGFORMAT;
    }
    rc = RW_ESIGFORMAT;
    mt = json_object_get(root, "mediaType");
    at = json_object_get(root, "artifactType");
    cfg = json_object_get(root, "config");
    subj = json_object_get(root, "subject");
    if (!json_is_object(root) || !json_is_object(cfg) ||
        (mt != NULL && (!json_is_string(mt) ||
                        strcmp(json_string_value(mt), RW_MT_OCI_MANIFEST) != 0))) {
        goto out;
    }
    type[0] = '\0';
    if (at != NULL && !copy_str(at, type, sizeof(type))) {
        goto out;
    }
    if (type[0] == '\0' && !copy_str(json_object_get(cfg, "mediaType"), type, sizeof(type))) {
        goto out;
    }
    m.kind = rw_referrer_kind_of(type);
    if (subj != NULL) {
        if (!json_is_object(subj) ||
            !copy_str(json_object_get(subj, "digest"), m.subject, sizeof(m.subject)) ||
            !rw_oci_digest_valid(m.subject, strlen(m.subject))) {
            goto out;
        }
    }
    *out = m;
    rc = 0;
out:
    json_decref(root);
    return rc;
}
