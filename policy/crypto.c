/* SPDX-License-Identifier: MIT */
/*
 * The verify side of OpenSSL for policy/ (R5): SHA-256, hex, base64, public keys and signature
 * verification. Every OpenSSL failure is turned into an RW_E* code here and its error queue is
 * drained into one debug line. Nothing here allocates through OpenSSL on success paths that
 * outlive a call except struct rw_pubkey.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "rw/err.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "rw/policy.h"

#define PUBKEY_PEM_MAX (64u * 1024u)

enum pubkey_kind { PK_EC_P256 = 0, PK_EC_P384, PK_RSA, PK_ED25519, PK_KIND_COUNT };

struct rw_pubkey {
    EVP_PKEY *pkey; /* owned */
    enum pubkey_kind kind;
};

struct rw_sha256_ctx {
    EVP_MD_CTX *md; /* owned */
};

/* One debug line for whatever OpenSSL queued, then an empty queue (R5). */
static void drain_errors(const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256];

    if (e == 0) {
        return;
    }
    ERR_error_string_n(e, buf, sizeof(buf));
    rw_log_debug(POLICY, "openssl: %s: %s", what, buf);
    ERR_clear_error();
}

void rw_sha256(const void *p, size_t n, uint8_t out[32])
{
    unsigned int len = 32;

    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1) {
        /* Cannot happen with the default provider; never leave stale bytes that could match. */
        drain_errors("sha256");
        memset(out, 0xff, 32);
    }
}

void rw_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0xf];
    }
    out[2 * n] = '\0';
}

void rw_sha256_digest(const void *p, size_t n, char out[72])
{
    uint8_t md[32];

    rw_sha256(p, n, md);
    memcpy(out, "sha256:", 7);
    rw_hex(md, sizeof(md), out + 7);
}

int rw_sha256_new(struct rw_sha256_ctx **out)
{
    struct rw_sha256_ctx *c = rw_calloc(1, sizeof(*c));

    if (c == NULL) {
        return -ENOMEM;
    }
    c->md = EVP_MD_CTX_new();
    if (c->md == NULL || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
        drain_errors("sha256 init");
        EVP_MD_CTX_free(c->md);
        rw_free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

void rw_sha256_update(struct rw_sha256_ctx *c, const void *p, size_t n)
{
    if (n > 0 && EVP_DigestUpdate(c->md, p, n) != 1) {
        drain_errors("sha256 update");
    }
}

void rw_sha256_final(struct rw_sha256_ctx *c, char out[72])
{
    uint8_t md[32];
    unsigned int len = sizeof(md);

    if (EVP_DigestFinal_ex(c->md, md, &len) != 1) {
        drain_errors("sha256 final");
        memset(md, 0xff, sizeof(md));
    }
    memcpy(out, "sha256:", 7);
    rw_hex(md, sizeof(md), out + 7);
}

void rw_sha256_free(struct rw_sha256_ctx **pc)
{
    if (*pc == NULL) {
        return;
    }
    EVP_MD_CTX_free((*pc)->md);
    rw_free_clear(pc);
}

/* ------------------------------------------------------------------ public keys */

static int classify(EVP_PKEY *pkey, enum pubkey_kind *kind)
{
    char group[64];
    size_t glen = 0;

    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &glen) != 1) {
            return RW_ECRYPTO;
        }
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
            *kind = PK_EC_P256;
            return 0;
        }
        if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
            *kind = PK_EC_P384;
            return 0;
        }
        return RW_ECRYPTO;
    case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(pkey) < 2048) {
            return RW_ECRYPTO;
        }
        *kind = PK_RSA;
        return 0;
    case EVP_PKEY_ED25519:
        *kind = PK_ED25519;
        return 0;
    default:
        return RW_ECRYPTO;
    }
}

int rw_pubkey_load_pem(const char *pem, size_t len, struct rw_pubkey **out)
{
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    struct rw_pubkey *pk = NULL;
    enum pubkey_kind kind = PK_EC_P256;
    int rc;

    if (len == 0 || len > PUBKEY_PEM_MAX) {
        return RW_ECRYPTO;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (pkey == NULL) {
        rc = RW_ECRYPTO;
        goto out;
    }
    rc = classify(pkey, &kind);
    if (rc != 0) {
        goto out;
    }
    pk = rw_calloc(1, sizeof(*pk));
    if (pk == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    pk->pkey = pkey;
    pk->kind = kind;
    pkey = NULL;
    *out = pk;
out:
    if (rc != 0) {
        drain_errors("public key load");
    }
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return rc;
}

int rw_pubkey_load_file(const char *path, struct rw_pubkey **out)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;
    int rc;

    if (f == NULL) {
        return -errno;
    }
    buf = rw_malloc(PUBKEY_PEM_MAX + 1);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    n = fread(buf, 1, PUBKEY_PEM_MAX + 1, f);
    if (ferror(f)) {
        rc = -EIO;
        goto out;
    }
    if (n > PUBKEY_PEM_MAX) {
        rc = RW_ETOOBIG;
        goto out;
    }
    rc = rw_pubkey_load_pem(buf, n, out);
out:
    fclose(f);
    rw_free(buf);
    return rc;
}

void rw_pubkey_free(struct rw_pubkey **pk)
{
    if (*pk == NULL) {
        return;
    }
    EVP_PKEY_free((*pk)->pkey);
    rw_free_clear(pk);
}

int rw_pubkey_spki(const struct rw_pubkey *pk, struct rw_buf *out)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pk->pkey, &der);
    int rc;

    if (n <= 0) {
        drain_errors("spki encode");
        return RW_ECRYPTO;
    }
    rc = rw_buf_append(out, der, (size_t)n);
    OPENSSL_free(der);
    return rc;
}

/* Strict DER check: it parses, and re-encodes to exactly the same bytes. */
static bool is_strict_der(const uint8_t *sig, size_t siglen)
{
    const unsigned char *p = sig;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
    unsigned char *der = NULL;
    int n;
    bool ok = false;

    if (s == NULL) {
        ERR_clear_error();
        return false;
    }
    if ((size_t)(p - sig) == siglen) {
        n = i2d_ECDSA_SIG(s, &der);
        ok = n > 0 && (size_t)n == siglen && memcmp(der, sig, siglen) == 0;
        OPENSSL_free(der);
    }
    ECDSA_SIG_free(s);
    ERR_clear_error();
    return ok;
}

/* IEEE P1363 r||s to DER; @p der is OPENSSL_malloc'd. */
static int raw_to_der(const uint8_t *sig, size_t siglen, unsigned char **der, size_t *derlen)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)(siglen / 2), NULL);
    BIGNUM *sv = BN_bin2bn(sig + siglen / 2, (int)(siglen / 2), NULL);
    int n;

    if (s == NULL || r == NULL || sv == NULL || ECDSA_SIG_set0(s, r, sv) != 1) {
        ECDSA_SIG_free(s);
        BN_free(r);
        BN_free(sv);
        return -ENOMEM;
    }
    *der = NULL;
    n = i2d_ECDSA_SIG(s, der);
    ECDSA_SIG_free(s);
    if (n <= 0) {
        return RW_ECRYPTO;
    }
    *derlen = (size_t)n;
    return 0;
}

static int verify_raw(const struct rw_pubkey *pk, const char *mdname, const uint8_t *msg,
                      size_t len, const uint8_t *sig, size_t siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = 0;

    if (ctx == NULL) {
        return -ENOMEM;
    }
    if (EVP_DigestVerifyInit_ex(ctx, &pctx, mdname, NULL, NULL, pk->pkey, NULL) != 1) {
        goto out;
    }
    if (pk->kind == PK_RSA && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
        goto out;
    }
    ok = EVP_DigestVerify(ctx, sig, siglen, msg, len);
out:
    EVP_MD_CTX_free(ctx);
    if (ok != 1) {
        drain_errors("verify");
        return RW_EBADSIG;
    }
    return 0;
}

/* EVP_PKEY_verify over a digest (no hashing here); ECDSA wants DER, RSA PKCS#1 v1.5 DigestInfo. */
static int verify_prehashed(const struct rw_pubkey *pk, const uint8_t digest[32], const uint8_t *sig,
                            size_t siglen)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk->pkey, NULL);
    int ok = 0;

    if (pctx == NULL) {
        return -ENOMEM;
    }
    if (EVP_PKEY_verify_init(pctx) != 1 || EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) != 1) {
        goto out;
    }
    if (pk->kind == PK_RSA && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
        goto out;
    }
    ok = EVP_PKEY_verify(pctx, sig, siglen, digest, 32);
out:
    EVP_PKEY_CTX_free(pctx);
    if (ok != 1) {
        drain_errors("verify prehashed");
        return RW_EBADSIG;
    }
    return 0;
}

/* What a signature is checked over: @p msg hashed with @p md, or a SHA-256 @p digest made
 * elsewhere (digest != NULL: the Sigstore bundle messageSignature case). */
struct signed_data {
    const char *md;
    const uint8_t *msg;
    size_t len;
    const uint8_t *digest;
};

static int verify_over(const struct rw_pubkey *pk, const struct signed_data *d,
                       const uint8_t *sig, size_t siglen)
{
    if (d->digest != NULL) {
        return verify_prehashed(pk, d->digest, sig, siglen);
    }
    return verify_raw(pk, d->md, d->msg, d->len, sig, siglen);
}

/* ECDSA: strict DER, or raw r||s (P1363) of twice the field size. */
static int verify_ecdsa(const struct rw_pubkey *pk, const struct signed_data *d,
                        const uint8_t *sig, size_t siglen)
{
    size_t field = pk->kind == PK_EC_P256 ? 32 : 48;
    unsigned char *der = NULL;
    size_t derlen = 0;
    int rc;

    if (is_strict_der(sig, siglen)) {
        rc = verify_over(pk, d, sig, siglen);
        if (rc == 0 || siglen != 2 * field) {
            return rc;
        }
        /* A raw r||s value can happen to parse as DER; fall through and try it as raw. */
    }
    if (siglen != 2 * field) {
        return RW_EBADSIG;
    }
    rc = raw_to_der(sig, siglen, &der, &derlen);
    if (rc != 0) {
        drain_errors("p1363 convert");
        return rc == -ENOMEM ? -ENOMEM : RW_EBADSIG;
    }
    rc = verify_over(pk, d, der, derlen);
    OPENSSL_free(der);
    return rc;
}

int rw_pubkey_verify(const struct rw_pubkey *pk, const uint8_t *msg, size_t len, const uint8_t *sig,
                     size_t siglen)
{
    struct signed_data d = {.msg = msg, .len = len};

    if (pk == NULL || sig == NULL || siglen == 0 || siglen > RW_MAX_SIG_BYTES ||
        (msg == NULL && len > 0)) {
        return RW_EBADSIG;
    }
    switch (pk->kind) {
    case PK_ED25519:
        return verify_raw(pk, NULL, msg, len, sig, siglen);
    case PK_RSA:
        return verify_raw(pk, "SHA256", msg, len, sig, siglen);
    case PK_EC_P256:
    case PK_EC_P384:
        d.md = pk->kind == PK_EC_P256 ? "SHA256" : "SHA384";
        return verify_ecdsa(pk, &d, sig, siglen);
    default:
        return RW_EBADSIG;
    }
}

int rw_pubkey_verify_pss(const struct rw_pubkey *pk, const uint8_t *msg, size_t len,
                         const uint8_t *sig, size_t siglen)
{
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    int ok = 0;

    if (pk == NULL || pk->kind != PK_RSA || sig == NULL || siglen == 0 ||
        siglen > RW_MAX_SIG_BYTES || (msg == NULL && len > 0)) {
        return RW_EBADSIG;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -ENOMEM;
    }
    /* securesystemslib's rsassa-pss-sha256: MGF1 with SHA-256, salt = digest length (32) */
    if (EVP_DigestVerifyInit_ex(ctx, &pctx, "SHA256", NULL, NULL, pk->pkey, NULL) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", NULL) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1) {
        goto out;
    }
    ok = EVP_DigestVerify(ctx, sig, siglen, msg, len);
out:
    EVP_MD_CTX_free(ctx);
    if (ok != 1) {
        drain_errors("verify pss");
        return RW_EBADSIG;
    }
    return 0;
}

int rw_pubkey_verify_digest(const struct rw_pubkey *pk, const uint8_t digest[32],
                            const uint8_t *sig, size_t siglen)
{
    const struct signed_data d = {.digest = digest};

    if (pk == NULL || digest == NULL || sig == NULL || siglen == 0 || siglen > RW_MAX_SIG_BYTES) {
        return RW_EBADSIG;
    }
    switch (pk->kind) {
    case PK_RSA:
        return verify_prehashed(pk, digest, sig, siglen);
    case PK_EC_P256:
    case PK_EC_P384:
        return verify_ecdsa(pk, &d, sig, siglen);
    case PK_ED25519: /* pure Ed25519 signs the message itself, never a digest of it */
    default:
        return RW_EBADSIG;
    }
}

/* ------------------------------------------------------------------ base64 */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+' || c == '-') {
        return 62;
    }
    if (c == '/' || c == '_') {
        return 63;
    }
    return -1;
}

int rw_base64_decode(const char *in, size_t inlen, uint8_t *out, size_t max, size_t *outlen)
{
    size_t body = inlen;
    size_t pad = 0;
    size_t need;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    bool std = false;
    bool url = false;

    while (body > 0 && in[body - 1] == '=' && pad < 2) {
        body--;
        pad++;
    }
    if (pad > 0 && inlen % 4 != 0) {
        return RW_EINVAL;
    }
    if (body % 4 == 1) {
        return RW_EINVAL;
    }
    need = body / 4 * 3 + (body % 4 == 0 ? 0 : body % 4 - 1);
    if (need > max) {
        return RW_ETOOBIG;
    }
    /* Validate first so that @p out is untouched on failure (R6). */
    for (size_t i = 0; i < body; i++) {
        unsigned char c = (unsigned char)in[i];

        if (b64_value(c) < 0) {
            return RW_EINVAL;
        }
        std |= c == '+' || c == '/';
        url |= c == '-' || c == '_';
    }
    if (std && url) {
        return RW_EINVAL; /* one alphabet per value */
    }
    for (size_t i = 0; i < body; i++) {
        acc = (acc << 6) | (uint32_t)b64_value((unsigned char)in[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *outlen = o;
    return 0;
}

int rw_base64_encode(const uint8_t *in, size_t inlen, struct rw_buf *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    int rc = 0;

    for (size_t i = 0; i < inlen && rc == 0; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t left = inlen - i;

        if (left > 1) {
            v |= (uint32_t)in[i + 1] << 8;
        }
        if (left > 2) {
            v |= in[i + 2];
        }
        q[0] = tbl[(v >> 18) & 63];
        q[1] = tbl[(v >> 12) & 63];
        q[2] = left > 1 ? tbl[(v >> 6) & 63] : '=';
        q[3] = left > 2 ? tbl[v & 63] : '=';
        rc = rw_buf_append(out, q, 4);
    }
    if (rc == 0 && out->data == NULL) {
        rc = rw_buf_append(out, "", 0); /* NUL-terminated even when empty */
    }
    return rc;
}
