/* SPDX-License-Identifier: MIT */
/*
 * Sigstore bundles (PROTOCOLS.md §5.7), media types v0.1 to v0.3, verified with configured keys
 * only: verificationMaterial must be there (public key hint, certificate or chain) but is carried,
 * not trusted; transparency-log entries and timestamps are carried, not required (the vectors'
 * "project decisions"). The content is a DSSE envelope (parsed and verified by dsse.c) or a
 * messageSignature over a SHA-256 digest (verified prehashed by crypto.c). Whether a bundle counts
 * as a signature or an attestation is eval_ref.c's decision. Pure: no I/O.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "jsonutil.h"
#include "rw/err.h"
#include "rw/mem.h"
#include "rw/policy.h"

void rw_bundle_fini(struct rw_bundle *b)
{
    if (b == NULL) {
        return;
    }
    rw_dsse_envelope_fini(&b->env);
    b->content = RW_BUNDLE_NONE;
}

static unsigned media_version(const char *mt)
{
    if (strcmp(mt, RW_MT_BUNDLE_V03) == 0) {
        return 3;
    }
    return (unsigned)(mt[strlen(mt) - 1] - '0'); /* "...;version=0.N", checked by the caller */
}

static int parse_material(const json_t *vm, struct rw_bundle *b)
{
    const json_t *pk = json_object_get(vm, "publicKey");
    const json_t *cert = json_object_get(vm, "certificate");
    const json_t *chain = json_object_get(vm, "x509CertificateChain");
    const json_t *tlog = json_object_get(vm, "tlogEntries");

    if (!json_is_object(vm)) {
        return RW_ESIGFORMAT;
    }
    if ((pk != NULL && !json_is_object(pk)) || (cert != NULL && !json_is_object(cert)) ||
        (chain != NULL && !json_is_object(chain))) {
        return RW_ESIGFORMAT;
    }
    if (pk == NULL && cert == NULL && chain == NULL) {
        return RW_ESIGFORMAT; /* the bundle's "content" of verificationMaterial is required */
    }
    if (tlog != NULL && !json_is_array(tlog) && !json_is_null(tlog)) {
        return RW_ESIGFORMAT;
    }
    b->has_public_key = pk != NULL;
    b->has_certificate = cert != NULL || chain != NULL;
    b->n_tlog_entries = json_is_array(tlog) ? json_array_size(tlog) : 0;
    return 0;
}

static int parse_dsse(const json_t *env, struct rw_bundle *b)
{
    char *text;
    size_t need;
    int rc;

    if (!json_is_object(env)) {
        return RW_ESIGFORMAT;
    }
    /* one envelope parser (dsse.c) for .att layers and bundles: hand it the object's JSON */
    need = json_dumpb(env, NULL, 0, JSON_COMPACT);
    if (need == 0 || need > RW_MAX_ENVELOPE_BYTES) {
        return RW_ESIGFORMAT;
    }
    text = rw_malloc(need);
    if (text == NULL) {
        return -ENOMEM;
    }
    if (json_dumpb(env, text, need, JSON_COMPACT) != need) {
        rw_free(text);
        return RW_ESIGFORMAT;
    }
    rc = rw_dsse_envelope_parse((const uint8_t *)text, need, &b->env);
    rw_free(text);
    if (rc == 0) {
        b->content = RW_BUNDLE_DSSE;
    }
    return rc == -ENOMEM ? -ENOMEM : rc == 0 ? 0 : RW_ESIGFORMAT;
}

static int parse_message(const json_t *ms, struct rw_bundle *b)
{
    const json_t *md = json_object_get(ms, "messageDigest");
    const json_t *sig = json_object_get(ms, "signature");

    if (!json_is_object(ms) || !json_is_string(sig) || json_string_length(sig) == 0 ||
        rw_base64_decode(json_string_value(sig), json_string_length(sig), b->sig, sizeof(b->sig),
                         &b->sig_len) != 0) {
        return RW_ESIGFORMAT;
    }
    if (md != NULL) {
        const json_t *alg = json_object_get(md, "algorithm");
        const json_t *dg = json_object_get(md, "digest");

        if (!json_is_object(md) || !json_is_string(alg) || !json_is_string(dg) ||
            json_string_length(alg) >= sizeof(b->digest_alg) ||
            rw_base64_decode(json_string_value(dg), json_string_length(dg), b->digest,
                             sizeof(b->digest), &b->digest_len) != 0) {
            return RW_ESIGFORMAT;
        }
        memcpy(b->digest_alg, json_string_value(alg), json_string_length(alg) + 1);
    }
    b->content = RW_BUNDLE_MESSAGE_SIGNATURE;
    return 0;
}

int rw_bundle_parse(const uint8_t *p, size_t n, struct rw_bundle *out)
{
    struct rw_bundle *b = NULL;
    json_t *root = NULL;
    const json_t *mt;
    const json_t *env;
    const json_t *ms;
    int rc;

    if (p == NULL || out == NULL) {
        return RW_EINVAL;
    }
    rc = rw_policy_json_load(p, n, RW_MAX_ENVELOPE_BYTES, &root);
    if (rc != 0) {
        return rc == RW_ETOOBIG ? RW_ETOOBIG : RW_ESIGFORMAT;
    }
    b = rw_calloc(1, sizeof(*b)); /* ~1 KiB of signature buffer: not on the caller's stack twice */
    if (b == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = RW_ESIGFORMAT;
    mt = json_object_get(root, "mediaType");
    env = json_object_get(root, "dsseEnvelope");
    ms = json_object_get(root, "messageSignature");
    if (!json_is_object(root) || !json_is_string(mt) || !rw_bundle_media_type_ok(json_string_value(mt))) {
        goto out;
    }
    b->version = media_version(json_string_value(mt));
    rc = parse_material(json_object_get(root, "verificationMaterial"), b);
    if (rc != 0) {
        goto out;
    }
    if ((env == NULL) == (ms == NULL)) {
        rc = RW_ESIGFORMAT; /* exactly one content */
        goto out;
    }
    rc = env != NULL ? parse_dsse(env, b) : parse_message(ms, b);
    if (rc != 0) {
        goto out;
    }
    *out = *b;
    memset(b, 0, sizeof(*b)); /* ownership of env moved to *out */
out:
    if (b != NULL) {
        rw_bundle_fini(b);
        rw_free(b);
    }
    json_decref(root);
    return rc;
}

int rw_bundle_message_digest(const struct rw_bundle *b, char out[72])
{
    if (b == NULL || b->content != RW_BUNDLE_MESSAGE_SIGNATURE ||
        strcmp(b->digest_alg, "SHA2_256") != 0 || b->digest_len != 32) {
        return RW_ESIGFORMAT;
    }
    memcpy(out, "sha256:", 7);
    rw_hex(b->digest, 32, out + 7);
    return 0;
}

int rw_bundle_verify_message(const struct rw_bundle *b, const char *digest,
                             const struct rw_pubkey *pk)
{
    char signs[72];

    if (b == NULL || digest == NULL || rw_bundle_message_digest(b, signs) != 0) {
        return RW_ESIGFORMAT;
    }
    if (strcmp(signs, digest) != 0) {
        return RW_ESIGFORMAT; /* signs something else (or @p digest is not lowercase sha256) */
    }
    return rw_pubkey_verify_digest(pk, b->digest, b->sig, b->sig_len);
}
