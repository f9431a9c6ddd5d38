/* SPDX-License-Identifier: MIT */
/*
 * cosign's simple-signing payload and its `sha256-<hex>.sig` signature manifest (PROTOCOLS.md §5):
 * build byte-exact payloads (Go encoding/json escaping), parse payloads from cosign and
 * containers/image, parse and build signature manifests. No crypto and no I/O here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "jsonutil.h"
#include "rw/err.h"
#include "rw/mem.h"
#include "rw/policy.h"

#define DOCKER_REF_MAX 511u
#define ZERO_TIME      "0001-01-01T00:00:00Z"

/* Length of the valid UTF-8 sequence at @p s (n bytes left), or 0 when invalid. */
static size_t utf8_len(const uint8_t *s, size_t n)
{
    uint32_t cp;
    size_t len;

    if (s[0] < 0x80) {
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

/* A JSON string as Go's encoding/json writes it (HTML-safe escaping, U+2028/9, U+FFFD). */
static int go_json_string(struct rw_buf *b, const char *str)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = (const uint8_t *)str;
    size_t n = strlen(str);
    int rc = rw_buf_append(b, "\"", 1);

    for (size_t i = 0; i < n && rc == 0;) {
        uint8_t c = s[i];
        size_t l;

        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};

            rc = rw_buf_append(b, e, 2);
            i++;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            char e[2] = {'\\', c == '\n' ? 'n' : c == '\r' ? 'r' : 't'};

            rc = rw_buf_append(b, e, 2);
            i++;
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};

            rc = rw_buf_append(b, e, 6);
            i++;
        } else if (c < 0x80) {
            rc = rw_buf_append(b, &s[i], 1);
            i++;
        } else if ((l = utf8_len(s + i, n - i)) == 0) {
            rc = rw_buf_appends(b, "\\ufffd");
            i++;
        } else if (l == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] & 0xfe) == 0xa8) {
            rc = rw_buf_appends(b, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
            i += 3;
        } else {
            rc = rw_buf_append(b, &s[i], l);
            i += l;
        }
    }
    if (rc == 0) {
        rc = rw_buf_append(b, "\"", 1);
    }
    return rc;
}

int rw_cosign_payload_build(const char *docker_ref, const char *digest, struct rw_buf *out)
{
    struct rw_buf b;
    int rc;

    if (docker_ref == NULL || digest == NULL || docker_ref[0] == '\0' ||
        strnlen(docker_ref, DOCKER_REF_MAX + 1) > DOCKER_REF_MAX ||
        !rw_oci_digest_valid(digest, strlen(digest))) {
        return RW_EINVAL;
    }
    rw_buf_init(&b, RW_MAX_PAYLOAD_BYTES);
    rc = rw_buf_appends(&b, "{\"critical\":{\"identity\":{\"docker-reference\":");
    if (rc == 0) {
        rc = go_json_string(&b, docker_ref);
    }
    if (rc == 0) {
        rc = rw_buf_appends(&b, "},\"image\":{\"docker-manifest-digest\":");
    }
    if (rc == 0) {
        rc = go_json_string(&b, digest);
    }
    if (rc == 0) {
        rc = rw_buf_appends(&b, "},\"type\":\"" RW_COSIGN_TYPE "\"},\"optional\":null}");
    }
    if (rc == 0) {
        rc = rw_buf_append(out, b.data, b.len);
    }
    rw_buf_fini(&b);
    return rc;
}

int rw_cosign_payload_parse(const uint8_t *p, size_t n, struct rw_cosign_payload *out)
{
    json_t *root = NULL;
    const json_t *crit;
    const json_t *type;
    const json_t *image;
    const json_t *digest;
    const json_t *ident;
    const json_t *ref;
    const json_t *opt;
    int rc;

    rc = rw_policy_json_load(p, n, RW_MAX_PAYLOAD_BYTES, &root);
    if (rc != 0) {
        return rc == RW_ETOOBIG ? RW_ETOOBIG : RW_ESIGFORMAT;
    }
    rc = RW_ESIGFORMAT;
    crit = json_object_get(root, "critical");
    type = json_object_get(crit, "type");
    image = json_object_get(crit, "image");
    digest = json_object_get(image, "docker-manifest-digest");
    ident = json_object_get(crit, "identity");
    ref = json_object_get(ident, "docker-reference");
    opt = json_object_get(root, "optional");
    if (!json_is_object(root) || !json_is_object(crit) || !json_is_object(image) ||
        !json_is_string(type) || !json_is_string(digest)) {
        goto out;
    }
    if (strcmp(json_string_value(type), RW_COSIGN_TYPE) != 0 ||
        json_string_length(type) != strlen(RW_COSIGN_TYPE)) {
        goto out;
    }
    if (json_string_length(digest) > RW_MAX_DIGEST_LEN ||
        !rw_oci_digest_valid(json_string_value(digest), json_string_length(digest))) {
        goto out;
    }
    /* identity is informative (cosign ignores it); when present it must be a sane string */
    if (ident != NULL && !json_is_object(ident) && !json_is_null(ident)) {
        goto out;
    }
    if (ref != NULL && (!json_is_string(ref) || json_string_length(ref) > DOCKER_REF_MAX)) {
        goto out;
    }
    if (opt != NULL && !json_is_null(opt) && !json_is_object(opt)) {
        goto out;
    }
    memset(out, 0, sizeof(*out));
    memcpy(out->digest, json_string_value(digest), json_string_length(digest));
    if (ref != NULL) {
        memcpy(out->docker_ref, json_string_value(ref), json_string_length(ref));
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static int attach_tag(const char *digest, const char *suffix, char out[80])
{
    size_t n;

    if (digest == NULL) {
        return RW_EINVAL;
    }
    n = strnlen(digest, RW_MAX_DIGEST_LEN + 1);
    if (n != 71 || strncmp(digest, "sha256:", 7) != 0 || !rw_oci_digest_valid(digest, n)) {
        return RW_EINVAL;
    }
    snprintf(out, 80, "sha256-%s.%s", digest + 7, suffix);
    return 0;
}

int rw_cosign_sig_tag(const char *digest, char out[80])
{
    return attach_tag(digest, "sig", out);
}

int rw_cosign_att_tag(const char *digest, char out[80])
{
    return attach_tag(digest, "att", out);
}

static int parse_layer(const json_t *l, struct rw_cosign_sig_layer *out)
{
    const json_t *mt = json_object_get(l, "mediaType");
    const json_t *dg = json_object_get(l, "digest");
    const json_t *ann = json_object_get(l, "annotations");
    const json_t *sig = json_object_get(ann, RW_ANN_COSIGN_SIG);
    int64_t size = rw_policy_json_size(json_object_get(l, "size"));

    if (!json_is_object(l) || !json_is_string(mt) || !json_is_string(dg) || size < 0) {
        return RW_ESIGFORMAT;
    }
    if (json_string_length(mt) >= sizeof(out->media_type) ||
        json_string_length(dg) >= sizeof(out->digest) ||
        !rw_oci_digest_valid(json_string_value(dg), json_string_length(dg))) {
        return RW_ESIGFORMAT;
    }
    if (ann != NULL && !json_is_object(ann)) {
        return RW_ESIGFORMAT;
    }
    memcpy(out->media_type, json_string_value(mt), json_string_length(mt) + 1);
    memcpy(out->digest, json_string_value(dg), json_string_length(dg) + 1);
    out->size = (uint64_t)size;
    out->sig_len = 0;
    out->sig_valid_b64 = false;
    if (json_is_string(sig) && json_string_length(sig) > 0 &&
        rw_base64_decode(json_string_value(sig), json_string_length(sig), out->sig, sizeof(out->sig),
                         &out->sig_len) == 0) {
        out->sig_valid_b64 = true;
    } else {
        out->sig_len = 0;
    }
    return 0;
}

int rw_cosign_sig_manifest_parse(const uint8_t *p, size_t n, struct rw_cosign_sig_manifest *out)
{
    json_t *root = NULL;
    const json_t *layers;
    const json_t *sv;
    struct rw_cosign_sig_manifest m = {0};
    size_t total;
    int rc;

    rc = rw_policy_json_load(p, n, RW_MAX_SIG_MANIFEST_BYTES, &root);
    if (rc != 0) {
        return rc == RW_ETOOBIG ? RW_ETOOBIG : RW_ESIGFORMAT;
    }
    rc = RW_ESIGFORMAT;
    layers = json_object_get(root, "layers");
    sv = json_object_get(root, "schemaVersion");
    if (!json_is_object(root) || !json_is_array(layers) || !json_is_integer(sv) ||
        json_integer_value(sv) != 2) {
        goto out;
    }
    total = json_array_size(layers);
    /* the newest layers (pushes append) are the ones examined; older ones past the bound are
     * counted in n_ignored, and layer i of m is layer n_ignored + i of the manifest */
    m.n_layers = total > RW_MAX_SIG_LAYERS ? RW_MAX_SIG_LAYERS : total;
    m.n_ignored = total - m.n_layers;
    if (m.n_layers > 0) {
        m.layers = rw_calloc(m.n_layers, sizeof(*m.layers));
        if (m.layers == NULL) {
            rc = -ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < m.n_layers; i++) {
        if (parse_layer(json_array_get(layers, m.n_ignored + i), &m.layers[i]) != 0) {
            goto out;
        }
    }
    *out = m;
    memset(&m, 0, sizeof(m));
    rc = 0;
out:
    rw_cosign_sig_manifest_fini(&m);
    json_decref(root);
    return rc;
}

void rw_cosign_sig_manifest_fini(struct rw_cosign_sig_manifest *m)
{
    if (m == NULL) {
        return;
    }
    rw_free_clear(&m->layers);
    m->n_layers = 0;
    m->n_ignored = 0;
}

/* The layer descriptor cosign writes for one signature or attestation. */
static json_t *new_layer(const struct rw_cosign_layer_desc *d)
{
    json_t *l = json_object();
    json_t *ann = json_object();
    bool ok = l != NULL && ann != NULL;

    ok = ok && json_object_set_new(l, "mediaType", json_string(d->media_type)) == 0;
    ok = ok && json_object_set_new(l, "size", json_integer((json_int_t)d->size)) == 0;
    ok = ok && json_object_set_new(l, "digest", json_string(d->digest)) == 0;
    ok = ok && json_object_set_new(ann, RW_ANN_COSIGN_SIG, json_string(d->sig_b64)) == 0;
    for (size_t i = 0; ok && i < d->n_ann; i++) {
        ok = d->ann_kv[2 * i] != NULL && d->ann_kv[2 * i + 1] != NULL &&
             json_object_set_new(ann, d->ann_kv[2 * i], json_string(d->ann_kv[2 * i + 1])) == 0;
    }
    ok = ok && json_object_set(l, "annotations", ann) == 0;
    json_decref(ann);
    if (!ok) {
        json_decref(l);
        return NULL;
    }
    return l;
}

static int check_layer_digest(const json_t *l)
{
    const json_t *dg = json_object_get(l, "digest");

    if (!json_is_object(l) || !json_is_string(dg) || json_string_length(dg) > RW_MAX_DIGEST_LEN ||
        !rw_oci_digest_valid(json_string_value(dg), json_string_length(dg))) {
        return RW_ESIGFORMAT;
    }
    return 0;
}

static bool same_signature(const json_t *l, const char *payload_digest, const char *sig_b64)
{
    const json_t *dg = json_object_get(l, "digest");
    const json_t *sig = json_object_get(json_object_get(l, "annotations"), RW_ANN_COSIGN_SIG);

    return json_is_string(dg) && json_is_string(sig) &&
           strcmp(json_string_value(dg), payload_digest) == 0 &&
           strcmp(json_string_value(sig), sig_b64) == 0;
}

/*
 * A layer the new one replaces: same payload blob and every annotation of the new layer present
 * with the same value (for regwarden's layers: the same key version). Re-pushing an image then
 * re-signs it in place instead of growing its .sig by a layer each time (ECDSA signatures
 * differ on every run). Layers without those annotations (other signers) are always kept.
 */
static bool superseded(const json_t *l, const struct rw_cosign_layer_desc *d)
{
    const json_t *dg = json_object_get(l, "digest");
    const json_t *ann = json_object_get(l, "annotations");

    /* only simple-signing layers: their payload is the same bytes for the same image, so the
     * same blob digest means the same statement (attestations carry times: each is kept) */
    if (d->n_ann == 0 || strcmp(d->media_type, RW_MT_SIMPLESIGNING) != 0 || !json_is_string(dg) ||
        strcmp(json_string_value(dg), d->digest) != 0) {
        return false;
    }
    for (size_t i = 0; i < d->n_ann; i++) {
        const json_t *v = json_object_get(ann, d->ann_kv[2 * i]);

        if (!json_is_string(v) || strcmp(json_string_value(v), d->ann_kv[2 * i + 1]) != 0) {
            return false;
        }
    }
    return true;
}

/* Serialise @p v (@p need bytes, from a sizing call) into @p b. */
static int dump_into(const json_t *v, size_t need, struct rw_buf *b)
{
    uint8_t *p;
    int rc;

    rw_buf_reset(b);
    /* grow to need bytes with one append of zeros, then overwrite */
    p = rw_calloc(1, need);
    if (p == NULL) {
        return -ENOMEM;
    }
    rc = rw_buf_append(b, p, need);
    rw_free(p);
    if (rc != 0) {
        return rc;
    }
    if (json_dumpb(v, (char *)b->data, need, JSON_COMPACT | JSON_PRESERVE_ORDER) != need) {
        return RW_EINTERNAL;
    }
    b->data[need] = '\0';
    return 0;
}

/* go-containerregistry's empty image config with rootfs.diff_ids = every layer digest. */
static int build_config(const json_t *layers, struct rw_buf *cfg)
{
    int rc = rw_buf_appends(cfg, "{\"architecture\":\"\",\"created\":\"" ZERO_TIME
                                 "\",\"history\":[{\"created\":\"" ZERO_TIME
                                 "\"}],\"os\":\"\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[");

    for (size_t i = 0; rc == 0 && i < json_array_size(layers); i++) {
        const char *d = json_string_value(json_object_get(json_array_get(layers, i), "digest"));

        rc = rw_buf_printf(cfg, "%s\"%s\"", i == 0 ? "" : ",", d);
    }
    if (rc == 0) {
        rc = rw_buf_appends(cfg, "]},\"config\":{}}");
    }
    return rc;
}

int rw_cosign_sig_manifest_build(const uint8_t *existing, size_t existing_len,
                                 const char *payload_digest, uint64_t payload_size,
                                 const char *sig_b64, const char *const *ann_kv, size_t n_ann,
                                 struct rw_buf *config_out, struct rw_buf *manifest_out)
{
    const struct rw_cosign_layer_desc d = {
        .media_type = RW_MT_SIMPLESIGNING,
        .digest = payload_digest,
        .size = payload_size,
        .max_size = RW_MAX_PAYLOAD_BYTES,
        .sig_b64 = sig_b64,
        .ann_kv = ann_kv,
        .n_ann = n_ann,
    };

    return rw_cosign_attach_manifest_build(existing, existing_len, &d, config_out, manifest_out);
}

int rw_cosign_attach_manifest_build(const uint8_t *existing, size_t existing_len,
                                    const struct rw_cosign_layer_desc *d,
                                    struct rw_buf *config_out, struct rw_buf *manifest_out)
{
    json_t *old = NULL;
    json_t *layers = NULL;
    json_t *manifest = NULL;
    json_t *cdesc = NULL;
    json_t *l = NULL;
    const json_t *dup = NULL;
    struct rw_buf text;
    size_t need;
    struct rw_buf cfg;
    char cfg_digest[72];
    size_t sig_max;
    size_t bytes;
    int rc;

    rw_buf_init(&cfg, 0);
    rw_buf_init(&text, RW_MAX_SIG_MANIFEST_BYTES);
    sig_max = (RW_MAX_SIG_BYTES + 2) / 3 * 4;
    if (d == NULL || d->media_type == NULL || d->digest == NULL || d->sig_b64 == NULL ||
        (d->n_ann > 0 && d->ann_kv == NULL) ||
        !rw_oci_digest_valid(d->digest, strlen(d->digest)) ||
        strnlen(d->sig_b64, sig_max + 1) > sig_max || d->size > d->max_size) {
        rc = RW_EINVAL;
        goto out;
    }
    layers = json_array();
    if (layers == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (existing != NULL && existing_len > 0) {
        struct rw_cosign_sig_manifest check = {0};
        const json_t *ol;

        /* Same checks as the verify side: a manifest we would not read, we do not extend. */
        rc = rw_cosign_sig_manifest_parse(existing, existing_len, &check);
        rw_cosign_sig_manifest_fini(&check);
        if (rc != 0) {
            goto out;
        }
        rc = rw_policy_json_load(existing, existing_len, RW_MAX_SIG_MANIFEST_BYTES, &old);
        if (rc != 0) {
            rc = RW_ESIGFORMAT;
            goto out;
        }
        ol = json_object_get(old, "layers");
        for (size_t i = 0; i < json_array_size(ol); i++) {
            const json_t *one = json_array_get(ol, i);

            if (check_layer_digest(one) != 0) {
                rc = RW_ESIGFORMAT;
                goto out;
            }
            if (dup == NULL && same_signature(one, d->digest, d->sig_b64)) {
                dup = one; /* this very signature: it moves to the end, as the newest */
                continue;
            }
            if (dup == NULL && superseded(one, d)) {
                continue; /* our own earlier signature of the same payload by the same key */
            }
            if (json_array_append(layers, json_array_get(ol, i)) != 0) {
                rc = -ENOMEM;
                goto out;
            }
        }
    }
    l = dup != NULL ? json_deep_copy(dup) : new_layer(d);
    if (l == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    /*
     * The new layer goes last, and the pull side examines the newest RW_MAX_SIG_LAYERS: what was
     * just signed is always read. The oldest layers make room when the manifest would list more
     * than RW_MAX_MANIFEST_LAYERS or outgrow RW_MAX_SIG_MANIFEST_BYTES (an .att grows by one layer
     * per push of the same image): a push never fails for good on a full .sig/.att.
     */
    bytes = json_dumpb(l, NULL, 0, JSON_COMPACT) + 1;
    for (size_t i = 0; i < json_array_size(layers); i++) {
        bytes += json_dumpb(json_array_get(layers, i), NULL, 0, JSON_COMPACT) + 1 + 80;
    }
    while (json_array_size(layers) > 0 &&
           (json_array_size(layers) + 1 > RW_MAX_MANIFEST_LAYERS ||
            bytes > RW_MAX_SIG_MANIFEST_BYTES - 4096)) {
        bytes -= json_dumpb(json_array_get(layers, 0), NULL, 0, JSON_COMPACT) + 1 + 80;
        if (json_array_remove(layers, 0) != 0) {
            rc = RW_EINTERNAL;
            goto out;
        }
    }
    if (json_array_append(layers, l) != 0) {
        rc = -ENOMEM;
        goto out;
    }
    rc = build_config(layers, &cfg);
    if (rc != 0) {
        goto out;
    }
    rw_sha256_digest(cfg.data, cfg.len, cfg_digest);
    cdesc = json_pack("{s:s, s:I, s:s}", "mediaType", RW_MT_OCI_CONFIG, "size", (json_int_t)cfg.len,
                      "digest", cfg_digest);
    manifest = json_pack("{s:i, s:s, s:O, s:O}", "schemaVersion", 2, "mediaType",
                         RW_MT_OCI_MANIFEST, "config", cdesc, "layers", layers);
    if (cdesc == NULL || manifest == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    /* json_dumpb twice (size, then bytes) keeps every allocation on rw_mem (R10) */
    need = json_dumpb(manifest, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (need == 0) {
        rc = -ENOMEM;
        goto out;
    }
    rc = dump_into(manifest, need, &text);
    if (rc != 0) {
        goto out;
    }
    if (text.len > RW_MAX_SIG_MANIFEST_BYTES) {
        rc = RW_ETOOBIG; /* one layer alone larger than the budget: not ours to write */
        goto out;
    }
    rc = rw_buf_append(config_out, cfg.data, cfg.len);
    if (rc == 0) {
        rc = rw_buf_append(manifest_out, text.data, text.len);
        if (rc != 0) {
            config_out->len -= cfg.len;
        }
    }
out:
    rw_buf_fini(&text);
    json_decref(l);
    json_decref(cdesc);
    json_decref(manifest);
    json_decref(layers);
    json_decref(old);
    rw_buf_fini(&cfg);
    return rc;
}
