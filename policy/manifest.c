/* SPDX-License-Identifier: MIT */
/*
 * Image manifest and index parsing (OCI image-spec v1.1, Docker schema2): just enough to know
 * what a body is, which children an index names, and that every descriptor digest is well formed
 * (C26: a digest such as "sha256:../../x" never reaches a URL). jansson values do not outlive
 * rw_manifest_parse (R9).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "jsonutil.h"
#include "rw/err.h"
#include "rw/mem.h"
#include "rw/policy.h"

static bool known_type(const char *mt, bool *is_index)
{
    if (strcmp(mt, RW_MT_OCI_MANIFEST) == 0 || strcmp(mt, RW_MT_DOCKER_MANIFEST) == 0) {
        *is_index = false;
        return true;
    }
    if (strcmp(mt, RW_MT_OCI_INDEX) == 0 || strcmp(mt, RW_MT_DOCKER_LIST) == 0) {
        *is_index = true;
        return true;
    }
    return false;
}

/* Content-Type without parameters and surrounding blanks, into @p out. */
static void bare_type(const char *ct, char *out, size_t cap)
{
    size_t n;

    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    n = strcspn(ct, "; \t");
    if (n >= cap) {
        n = 0; /* too long to be one of ours */
    }
    memcpy(out, ct, n);
    out[n] = '\0';
}

static int check_descriptor(const json_t *d)
{
    const json_t *dg = json_object_get(d, "digest");
    const json_t *mt = json_object_get(d, "mediaType");
    const json_t *sz = json_object_get(d, "size");

    if (!json_is_object(d) || !json_is_string(dg)) {
        return RW_EPROTO;
    }
    if (!rw_oci_digest_valid(json_string_value(dg), json_string_length(dg))) {
        return RW_EPROTO;
    }
    if (mt != NULL && !json_is_string(mt)) {
        return RW_EPROTO;
    }
    if (sz != NULL && rw_policy_json_size(sz) < 0) {
        return RW_EPROTO;
    }
    return 0;
}

/* Blob gating keeps sha256 references only (sha512 does not fit the slot, and is not gated). */
static void add_blob(struct rw_manifest_info *info, const json_t *d)
{
    const char *dg = json_string_value(json_object_get(d, "digest"));

    if (dg != NULL && strlen(dg) == 71) {
        snprintf(info->blobs[info->n_blobs++], sizeof(info->blobs[0]), "%s", dg);
    }
}

int rw_manifest_parse(const uint8_t *body, size_t len, const char *content_type,
                      struct rw_manifest_info *out)
{
    json_t *root = NULL;
    const json_t *sv;
    const json_t *mt;
    const json_t *manifests;
    const json_t *layers;
    const json_t *config;
    const json_t *subject;
    struct rw_manifest_info info;
    char ct[128];
    bool is_index = false;
    bool ct_known = false;
    bool ct_index = false;
    size_t i;
    int rc;

    memset(&info, 0, sizeof(info));
    rc = rw_policy_json_load(body, len, RW_MAX_MANIFEST_BYTES, &root);
    if (rc != 0) {
        goto out;
    }
    rc = RW_EPROTO;
    if (!json_is_object(root)) {
        goto out;
    }
    sv = json_object_get(root, "schemaVersion");
    if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
        goto out; /* schema1 and friends are refused */
    }
    ct[0] = '\0';
    if (content_type != NULL) {
        bare_type(content_type, ct, sizeof(ct));
        ct_known = known_type(ct, &ct_index);
    }
    manifests = json_object_get(root, "manifests");
    layers = json_object_get(root, "layers");
    config = json_object_get(root, "config");
    mt = json_object_get(root, "mediaType");
    if (mt != NULL) {
        if (!json_is_string(mt) || json_string_length(mt) >= sizeof(info.media_type) ||
            !known_type(json_string_value(mt), &is_index)) {
            goto out;
        }
        if (ct_known && strcmp(ct, json_string_value(mt)) != 0) {
            goto out; /* body and header disagree: refuse rather than guess */
        }
        snprintf(info.media_type, sizeof(info.media_type), "%s", json_string_value(mt));
    } else if (ct_known) {
        is_index = ct_index;
        snprintf(info.media_type, sizeof(info.media_type), "%s", ct);
    } else {
        is_index = json_is_array(manifests);
    }
    info.is_index = is_index;
    if (is_index) {
        if (!json_is_array(manifests) || layers != NULL || config != NULL) {
            goto out;
        }
        if (json_array_size(manifests) > RW_MAX_INDEX_CHILDREN) {
            rc = RW_ETOOBIG;
            goto out;
        }
        info.n_children = json_array_size(manifests);
        if (info.n_children > 0) {
            info.children = rw_calloc(info.n_children, sizeof(*info.children));
            if (info.children == NULL) {
                rc = -ENOMEM;
                goto out;
            }
        }
        for (i = 0; i < info.n_children; i++) {
            const json_t *d = json_array_get(manifests, i);

            if (check_descriptor(d) != 0) {
                goto out;
            }
            snprintf(info.children[i], sizeof(info.children[i]), "%s",
                     json_string_value(json_object_get(d, "digest")));
            if (strlen(info.children[i]) != json_string_length(json_object_get(d, "digest"))) {
                goto out; /* sha512 children do not fit a 72-byte slot: refuse, never truncate */
            }
        }
    } else {
        if (manifests != NULL || !json_is_array(layers) || check_descriptor(config) != 0) {
            goto out;
        }
        if (json_array_size(layers) > RW_MAX_MANIFEST_LAYERS) {
            rc = RW_ETOOBIG;
            goto out;
        }
        info.n_layers = json_array_size(layers);
        info.blobs = rw_calloc(info.n_layers + 1, sizeof(*info.blobs));
        if (info.blobs == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        add_blob(&info, config);
        for (i = 0; i < info.n_layers; i++) {
            if (check_descriptor(json_array_get(layers, i)) != 0) {
                goto out;
            }
            add_blob(&info, json_array_get(layers, i));
        }
    }
    subject = json_object_get(root, "subject");
    if (subject != NULL && check_descriptor(subject) != 0) {
        goto out;
    }
    info.has_subject = subject != NULL;
    *out = info;
    memset(&info, 0, sizeof(info));
    rc = 0;
out:
    rw_manifest_info_fini(&info);
    json_decref(root);
    return rc;
}

void rw_manifest_info_fini(struct rw_manifest_info *m)
{
    if (m == NULL) {
        return;
    }
    rw_free_clear(&m->children);
    rw_free_clear(&m->blobs);
    m->n_blobs = 0;
    m->n_children = 0;
    m->n_layers = 0;
}
