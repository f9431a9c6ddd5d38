/* SPDX-License-Identifier: MIT */
/*
 * Vault's wire formats (PROTOCOLS.md §7): request bodies and reply parsing for JWT login,
 * token renew/lookup, transit sign and read key, plus the unverified claims of a JWT-SVID.
 * The only file of proxy/identity that touches jansson (R5); no json_t outlives a function
 * (R9). Pure: no I/O, fuzzed (fuzz_vault_reply). Tokens and JWTs only ever live in
 * struct rw_secret.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rw/err.h"
#include "rw/identity.h"
#include "rw/mem.h"
#include "rw/policy.h"

static json_t *load(const uint8_t *body, size_t n)
{
    if (body == NULL || n == 0 || n > RW_ID_VAULT_MAX_REPLY) {
        return NULL;
    }
    return json_loadb((const char *)body, n, JSON_REJECT_DUPLICATES, NULL);
}

void rw_id_vault_errors(const uint8_t *body, size_t n, char *out, size_t cap)
{
    json_t *root = load(body, n);
    json_t *errs = root != NULL ? json_object_get(root, "errors") : NULL;
    size_t o = 0;

    if (cap == 0) {
        json_decref(root);
        return;
    }
    out[0] = '\0';
    for (size_t i = 0; json_is_array(errs) && i < json_array_size(errs) && i < 8; i++) {
        const char *m = json_string_value(json_array_get(errs, i));

        if (m == NULL) {
            continue;
        }
        for (size_t k = 0; m[k] != '\0' && o + 3 < cap; k++) {
            char c = m[k];

            out[o++] = (c >= 0x20 && c < 0x7f) ? c : ' ';
        }
        if (i + 1 < json_array_size(errs) && o + 3 < cap) {
            out[o++] = ';';
            out[o++] = ' ';
        }
    }
    out[o] = '\0';
    json_decref(root);
}

int rw_id_vault_parse_auth(const uint8_t *body, size_t n, struct rw_secret *token,
                           int64_t *lease_s, bool *renewable)
{
    json_t *root = load(body, n);
    json_t *auth = root != NULL ? json_object_get(root, "auth") : NULL;
    json_t *tok = auth != NULL ? json_object_get(auth, "client_token") : NULL;
    json_t *lease = auth != NULL ? json_object_get(auth, "lease_duration") : NULL;
    json_t *ren = auth != NULL ? json_object_get(auth, "renewable") : NULL;
    int rc = RW_EPROTO;

    if (json_is_string(tok) && json_string_length(tok) > 0 && json_string_length(tok) < 4096 &&
        strlen(json_string_value(tok)) == json_string_length(tok) &&
        strpbrk(json_string_value(tok), "\r\n") == NULL &&
        (lease == NULL || (json_is_integer(lease) && json_integer_value(lease) >= 0))) {
        rc = rw_secret_set(token, json_string_value(tok), json_string_length(tok));
        if (rc == 0) {
            *lease_s = lease != NULL ? (int64_t)json_integer_value(lease) : 0;
            *renewable = json_is_true(ren);
        }
    }
    json_decref(root);
    return rc;
}

int rw_id_vault_parse_lookup(const uint8_t *body, size_t n, int64_t *ttl_s, bool *renewable)
{
    json_t *root = load(body, n);
    json_t *data = root != NULL ? json_object_get(root, "data") : NULL;
    json_t *ttl = data != NULL ? json_object_get(data, "ttl") : NULL;
    int rc = RW_EPROTO;

    if (json_is_integer(ttl) && json_integer_value(ttl) >= 0) {
        *ttl_s = (int64_t)json_integer_value(ttl);
        *renewable = json_is_true(json_object_get(data, "renewable"));
        rc = 0;
    }
    json_decref(root);
    return rc;
}

int rw_id_vault_parse_sign(const uint8_t *body, size_t n, uint8_t *sig, size_t cap,
                           size_t *siglen, int *version)
{
    json_t *root = load(body, n);
    json_t *data = root != NULL ? json_object_get(root, "data") : NULL;
    const char *s = data != NULL ? json_string_value(json_object_get(data, "signature")) : NULL;
    const char *p;
    long v = 0;
    int rc = RW_EPROTO;

    if (s == NULL || strncmp(s, "vault:v", 7) != 0) {
        goto out;
    }
    p = s + 7;
    if (*p < '1' || *p > '9') {
        goto out;
    }
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > 1000000) {
            goto out;
        }
        p++;
    }
    if (*p != ':' || p[1] == '\0') {
        goto out;
    }
    p++;
    rc = rw_base64_decode(p, strlen(p), sig, cap, siglen);
    if (rc == 0 && *siglen == 0) {
        rc = RW_EPROTO;
    }
    if (rc == RW_EINVAL) {
        rc = RW_EPROTO;
    }
    if (rc == 0) {
        *version = (int)v;
    }
out:
    json_decref(root);
    return rc;
}

/* Vault gives ed25519 public keys as raw base64 (gotcha 10): wrap them in an SPKI PEM. */
static int ed25519_raw_to_key(const char *b64, struct rw_pubkey **out)
{
    static const uint8_t prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                       0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
    uint8_t der[44];
    size_t rawlen = 0;
    struct rw_buf b64der;
    char *pem = NULL;
    int rc;

    memcpy(der, prefix, sizeof(prefix));
    rc = rw_base64_decode(b64, strlen(b64), der + 12, 32, &rawlen);
    if (rc != 0 || rawlen != 32) {
        return RW_ECRYPTO;
    }
    rw_buf_init(&b64der, 0);
    rc = rw_base64_encode(der, sizeof(der), &b64der);
    if (rc == 0) {
        pem = rw_asprintf("-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n",
                          (const char *)b64der.data);
        rc = pem == NULL ? -ENOMEM : rw_pubkey_load_pem(pem, strlen(pem), out);
    }
    rw_free(pem);
    rw_buf_fini(&b64der);
    return rc;
}

static int int_field(json_t *o, const char *k, int64_t *out)
{
    json_t *v = json_object_get(o, k);

    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    return RW_EPROTO;
}

int rw_id_vault_parse_key(const uint8_t *body, size_t n, struct rw_pubkey **keys, int *versions,
                          size_t max, size_t *count, char *type, size_t typecap)
{
    json_t *root = load(body, n);
    json_t *data = root != NULL ? json_object_get(root, "data") : NULL;
    json_t *ks = data != NULL ? json_object_get(data, "keys") : NULL;
    const char *t = data != NULL ? json_string_value(json_object_get(data, "type")) : NULL;
    int64_t latest = 0;
    int64_t min_dec = 1;
    size_t got = 0;
    int rc = RW_EPROTO;

    if (!json_is_object(ks) || t == NULL || int_field(data, "latest_version", &latest) != 0) {
        goto out;
    }
    if (json_object_get(data, "min_decryption_version") != NULL &&
        int_field(data, "min_decryption_version", &min_dec) != 0) {
        goto out;
    }
    if (min_dec < 1) {
        min_dec = 1;
    }
    if (latest < min_dec || latest > 1000000) {
        goto out;
    }
    if ((uint64_t)(latest - min_dec + 1) > max) {
        rc = RW_ETOOBIG;
        goto out;
    }
    snprintf(type, typecap, "%s", t);
    for (int64_t v = min_dec; v <= latest; v++) {
        char vk[24];
        json_t *kv;
        const char *pub;

        snprintf(vk, sizeof(vk), "%lld", (long long)v);
        kv = json_object_get(ks, vk);
        pub = json_is_object(kv) ? json_string_value(json_object_get(kv, "public_key")) : NULL;
        if (pub == NULL || pub[0] == '\0') {
            rc = RW_EPROTO; /* every version in range must be there (no silent gaps) */
            goto out;
        }
        if (strncmp(pub, "-----BEGIN", 10) == 0) {
            rc = rw_pubkey_load_pem(pub, strlen(pub), &keys[got]);
        } else {
            rc = ed25519_raw_to_key(pub, &keys[got]);
        }
        if (rc != 0) {
            rc = rc == -ENOMEM ? rc : RW_ECRYPTO;
            goto out;
        }
        versions[got++] = (int)v;
    }
    *count = got;
    got = 0;
    rc = 0;
out:
    for (size_t i = 0; i < got; i++) {
        rw_pubkey_free(&keys[i]);
    }
    json_decref(root);
    return rc;
}

int rw_id_jwt_claims(const char *jwt, size_t n, int64_t *exp, char *sub, size_t subcap)
{
    const char *d1 = memchr(jwt, '.', n);
    const char *d2 = d1 != NULL ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - jwt)) : NULL;
    uint8_t claims[8192];
    size_t clen = 0;
    json_t *root = NULL;
    json_t *e;
    int rc = RW_EPROTO;

    if (d1 == NULL || d2 == NULL || d1 == jwt || d2 == d1 + 1 || d2 + 1 == jwt + n) {
        return RW_EPROTO;
    }
    if (rw_base64_decode(d1 + 1, (size_t)(d2 - d1 - 1), claims, sizeof(claims), &clen) != 0) {
        return RW_EPROTO;
    }
    root = json_loadb((const char *)claims, clen, JSON_REJECT_DUPLICATES, NULL);
    e = root != NULL ? json_object_get(root, "exp") : NULL;
    if (json_is_integer(e) || json_is_real(e)) {
        *exp = json_is_integer(e) ? (int64_t)json_integer_value(e) : (int64_t)json_real_value(e);
        if (sub != NULL && subcap > 0) {
            const char *s = json_string_value(json_object_get(root, "sub"));

            /* whole or not at all: a cut SPIFFE ID would name another workload */
            snprintf(sub, subcap, "%s", s != NULL && strlen(s) < subcap ? s : "");
        }
        rc = 0;
    }
    json_decref(root);
    rw_secret_wipe(claims, sizeof(claims));
    return rc;
}

int rw_id_vault_login_body(const char *role, const struct rw_secret *jwt, struct rw_secret *out)
{
    json_t *o = json_pack("{s:s, s:s}", "role", role, "jwt", rw_secret_str(jwt));
    char *s = NULL;
    size_t need;
    int rc = -ENOMEM;

    if (o == NULL) {
        return -ENOMEM;
    }
    need = json_dumpb(o, NULL, 0, JSON_COMPACT);
    if (need > 0) {
        s = rw_malloc(need);
    }
    if (s != NULL && json_dumpb(o, s, need, JSON_COMPACT) == need) {
        rc = rw_secret_set(out, s, need);
        rw_secret_wipe(s, need);
    }
    rw_free(s);
    json_decref(o); /* jansson's own copy of the JWT is freed unwiped: short-lived heap */
    return rc;
}

int rw_id_vault_sign_body(const uint8_t *msg, size_t len, struct rw_buf *out)
{
    struct rw_buf b64;
    int rc;

    rw_buf_init(&b64, 0);
    rc = rw_base64_encode(msg, len, &b64);
    if (rc == 0) {
        /* asn1 applies to ECDSA only, pkcs1v15 to RSA only (gotcha 9); Vault ignores each for
         * the other key types, so one body fits every key type */
        rc = rw_buf_printf(out,
                           "{\"input\":\"%s\",\"hash_algorithm\":\"sha2-256\","
                           "\"marshaling_algorithm\":\"asn1\",\"signature_algorithm\":"
                           "\"pkcs1v15\"}",
                           b64.len > 0 ? (const char *)b64.data : "");
    }
    rw_buf_fini(&b64);
    return rc;
}
