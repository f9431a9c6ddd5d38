/* SPDX-License-Identifier: MIT */
/*
 * DSSE v1.0.2 envelopes (PROTOCOLS.md §6.1): the pre-authentication encoding (PAE), a bounded
 * envelope parser, verification of the signatures over PAE with one key (or every known version
 * of a keyring id), and the envelope that regwarden writes (go-securesystemslib field order).
 * Which payloadType is acceptable is the caller's decision (eval.c: in-toto only); this file
 * verifies with the envelope's own payloadType, as the spec says. No I/O here.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "jsonutil.h"
#include "rw/err.h"
#include "rw/mem.h"
#include "rw/policy.h"

int rw_dsse_pae(const char *type, size_t type_len, const uint8_t *body, size_t body_len,
                struct rw_buf *out)
{
    int rc;

    if ((type == NULL && type_len > 0) || (body == NULL && body_len > 0) || out == NULL) {
        return RW_EINVAL;
    }
    rc = rw_buf_printf(out, "DSSEv1 %zu ", type_len);
    if (rc == 0 && type_len > 0) {
        rc = rw_buf_append(out, type, type_len);
    }
    if (rc == 0) {
        rc = rw_buf_printf(out, " %zu ", body_len);
    }
    if (rc == 0 && body_len > 0) {
        rc = rw_buf_append(out, body, body_len);
    }
    return rc;
}

void rw_dsse_envelope_fini(struct rw_dsse_envelope *e)
{
    if (e == NULL) {
        return;
    }
    rw_free_clear(&e->payload);
    rw_free_clear(&e->sigs);
    e->payload_len = 0;
    e->n_sigs = 0;
    e->n_ignored = 0;
}

int rw_dsse_envelope_parse(const uint8_t *p, size_t n, struct rw_dsse_envelope *out)
{
    struct rw_dsse_envelope env;
    json_t *root = NULL;
    const json_t *type;
    const json_t *payload;
    const json_t *sigs;
    size_t plen;
    size_t total;
    int rc;

    memset(&env, 0, sizeof(env));
    if (p == NULL || out == NULL) {
        return RW_EINVAL;
    }
    rc = rw_policy_json_load(p, n, RW_MAX_ENVELOPE_BYTES, &root);
    if (rc != 0) {
        return rc == RW_ETOOBIG ? RW_ETOOBIG : RW_ESIGFORMAT;
    }
    rc = RW_ESIGFORMAT;
    type = json_object_get(root, "payloadType");
    payload = json_object_get(root, "payload");
    sigs = json_object_get(root, "signatures");
    /* all three are required even when empty (DSSE envelope.md) */
    if (!json_is_object(root) || !json_is_string(type) || !json_is_string(payload) ||
        !json_is_array(sigs)) {
        goto out;
    }
    if (json_string_length(type) > RW_MAX_DSSE_TYPE_LEN) {
        goto out;
    }
    memcpy(env.payload_type, json_string_value(type), json_string_length(type));
    env.payload_type_len = json_string_length(type);
    plen = json_string_length(payload);
    env.payload = rw_malloc(plen / 4 * 3 + 4);
    if (env.payload == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (rw_base64_decode(json_string_value(payload), plen, env.payload, plen / 4 * 3 + 3,
                         &env.payload_len) != 0) {
        goto out;
    }
    env.payload[env.payload_len] = '\0';
    total = json_array_size(sigs);
    if (total > 0) {
        size_t examined = total > RW_MAX_DSSE_SIGS ? RW_MAX_DSSE_SIGS : total;

        env.sigs = rw_calloc(examined, sizeof(*env.sigs));
        if (env.sigs == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        env.n_ignored = total - examined;
        for (size_t i = 0; i < examined; i++) {
            const json_t *s = json_array_get(sigs, i);
            const json_t *sig = json_object_get(s, "sig");
            struct rw_dsse_sig *d = &env.sigs[env.n_sigs];

            if (!json_is_object(s) || !json_is_string(sig)) {
                goto out; /* `sig` is required in every signature object */
            }
            if (json_string_length(sig) == 0 ||
                rw_base64_decode(json_string_value(sig), json_string_length(sig), d->sig,
                                 sizeof(d->sig), &d->len) != 0) {
                env.n_ignored++; /* cannot verify; another signature still may */
                continue;
            }
            env.n_sigs++;
        }
    }
    *out = env;
    memset(&env, 0, sizeof(env));
    rc = 0;
out:
    rw_dsse_envelope_fini(&env);
    json_decref(root);
    return rc;
}

/* Try every signature with one verifier; the PAE is built once. */
static int verify_each(const struct rw_dsse_envelope *e, const struct rw_pubkey *pk,
                       struct rw_keyring *kr, const char *id)
{
    struct rw_buf pae;
    int rc;
    int result = RW_EBADSIG;

    if (e == NULL || (pk == NULL && (kr == NULL || id == NULL))) {
        return RW_EBADSIG;
    }
    if (e->n_sigs == 0) {
        return RW_EBADSIG;
    }
    rw_buf_init(&pae, 0);
    rc = rw_dsse_pae(e->payload_type, e->payload_type_len, e->payload, e->payload_len, &pae);
    if (rc != 0) {
        result = rc == -ENOMEM ? -ENOMEM : RW_EBADSIG;
        goto out;
    }
    for (size_t i = 0; i < e->n_sigs; i++) {
        const struct rw_dsse_sig *s = &e->sigs[i];

        if (pk != NULL) {
            rc = rw_pubkey_verify(pk, pae.data, pae.len, s->sig, s->len);
            if (rc == RW_EBADSIG) {
                /* RSA keys: in-toto signs with PSS (returns RW_EBADSIG for other key types) */
                rc = rw_pubkey_verify_pss(pk, pae.data, pae.len, s->sig, s->len);
            }
        } else {
            rc = rw_keyring_verify(kr, id, pae.data, pae.len, s->sig, s->len, NULL);
            if (rc == -ENOENT) {
                result = -ENOENT; /* no version of the key known: nothing can verify */
                goto out;
            }
        }
        if (rc == 0 || rc == -ENOMEM) {
            result = rc;
            goto out;
        }
    }
out:
    rw_buf_fini(&pae);
    return result;
}

int rw_dsse_verify(const struct rw_dsse_envelope *e, const struct rw_pubkey *pk)
{
    if (pk == NULL) {
        return RW_EBADSIG;
    }
    return verify_each(e, pk, NULL, NULL);
}

int rw_dsse_verify_keyring(const struct rw_dsse_envelope *e, struct rw_keyring *kr, const char *id)
{
    if (kr == NULL || id == NULL) {
        return -ENOENT;
    }
    return verify_each(e, NULL, kr, id);
}

int rw_dsse_envelope_build(const char *type, const uint8_t *payload, size_t len,
                           const uint8_t *sig, size_t siglen, struct rw_buf *out)
{
    struct rw_buf b;
    int rc;

    if (type == NULL || out == NULL || (payload == NULL && len > 0) || sig == NULL ||
        siglen == 0 || siglen > RW_MAX_SIG_BYTES ||
        strnlen(type, RW_MAX_DSSE_TYPE_LEN + 1) > RW_MAX_DSSE_TYPE_LEN) {
        return RW_EINVAL;
    }
    for (const char *c = type; *c != '\0'; c++) {
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\') {
            return RW_EINVAL; /* no escaping needed for what we accept */
        }
    }
    rw_buf_init(&b, 0);
    rc = rw_buf_printf(&b, "{\"payloadType\":\"%s\",\"payload\":\"", type);
    if (rc == 0) {
        rc = rw_base64_encode(payload, len, &b);
    }
    if (rc == 0) {
        rc = rw_buf_appends(&b, "\",\"signatures\":[{\"keyid\":\"\",\"sig\":\"");
    }
    if (rc == 0) {
        rc = rw_base64_encode(sig, siglen, &b);
    }
    if (rc == 0) {
        rc = rw_buf_appends(&b, "\"}]}");
    }
    if (rc == 0 && b.len > RW_MAX_ENVELOPE_BYTES) {
        rc = RW_ETOOBIG; /* we would not read it back */
    }
    if (rc == 0) {
        rc = rw_buf_append(out, b.data, b.len);
    }
    rw_buf_fini(&b);
    return rc;
}
