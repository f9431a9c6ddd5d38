/* SPDX-License-Identifier: MIT */
/*
 * The file signer: a PEM private key on disk (ECDSA P-256 as PKCS#8 or SEC1, Ed25519, RSA >= 2048
 * with PKCS#1 v1.5 / SHA-256). Signing is synchronous: the callback runs before rw_signer_sign
 * returns, with key_version "file". Key bytes are zeroised after parsing and never logged;
 * encrypted keys are refused (no passphrase prompt on a server).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "rw/err.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "rw/policy.h"

#define KEY_PEM_MAX (64u * 1024u)
#define SIG_MAX     1024u

struct file_signer {
    EVP_PKEY *pkey;     /* owned */
    const char *mdname; /* "SHA256", or NULL for Ed25519 */
    bool rsa;
};

static void drain_errors(const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256];

    if (e != 0) {
        /* OpenSSL's reason strings carry no key material */
        ERR_error_string_n(e, buf, sizeof(buf));
        rw_log_debug(POLICY, "openssl: %s: %s", what, buf);
    }
    ERR_clear_error();
}

/* Refuse every passphrase request: an encrypted key fails to load instead of prompting. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static int file_sign(void *impl, const uint8_t *msg, size_t len, rw_signer_done_cb *cb, void *arg)
{
    struct file_signer *fs = impl;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    uint8_t sig[SIG_MAX];
    size_t siglen = sizeof(sig);
    int rc = RW_ECRYPTO;

    if (ctx == NULL) {
        return -ENOMEM;
    }
    if (EVP_DigestSignInit_ex(ctx, &pctx, fs->mdname, NULL, NULL, fs->pkey, NULL) != 1) {
        goto out;
    }
    if (fs->rsa && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
        goto out;
    }
    if (EVP_DigestSign(ctx, NULL, &siglen, msg, len) != 1 || siglen > sizeof(sig)) {
        goto out;
    }
    if (EVP_DigestSign(ctx, sig, &siglen, msg, len) != 1) {
        goto out;
    }
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    if (rc != 0) {
        drain_errors("sign");
        return rc;
    }
    cb(arg, 0, sig, siglen, "file");
    return 0;
}

static void file_free(void *impl)
{
    struct file_signer *fs = impl;

    if (fs == NULL) {
        return;
    }
    EVP_PKEY_free(fs->pkey);
    rw_free(fs);
}

static const struct rw_signer_ops file_ops = {
    .name = "file",
    .sign = file_sign,
    .free = file_free,
};

static int check_key(EVP_PKEY *pkey, struct file_signer *fs)
{
    char group[64];
    size_t glen = 0;

    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &glen) != 1) {
            return RW_ECRYPTO;
        }
        if (strcmp(group, "prime256v1") == 0) {
            fs->mdname = "SHA256";
            return 0;
        }
        if (strcmp(group, "secp384r1") == 0) {
            fs->mdname = "SHA384"; /* what crypto.c verifies P-384 with */
            return 0;
        }
        return RW_ECRYPTO;
    case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(pkey) < 2048) {
            return RW_ECRYPTO;
        }
        fs->mdname = "SHA256";
        fs->rsa = true;
        return 0;
    case EVP_PKEY_ED25519:
        fs->mdname = NULL;
        return 0;
    default:
        return RW_ECRYPTO;
    }
}

int rw_signer_file_new(const char *key_path, struct rw_signer **out)
{
    FILE *f = NULL;
    char *pem = NULL;
    size_t n = 0;
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    struct file_signer *fs = NULL;
    int rc;

    if (key_path == NULL || out == NULL) {
        return RW_EINVAL;
    }
    f = fopen(key_path, "rb");
    if (f == NULL) {
        return -errno;
    }
    setvbuf(f, NULL, _IONBF, 0); /* no stdio copy of the key bytes to forget to zeroise */
    pem = rw_malloc(KEY_PEM_MAX + 1);
    if (pem == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    n = fread(pem, 1, KEY_PEM_MAX + 1, f);
    if (ferror(f) || n == 0) {
        rc = RW_ECRYPTO;
        goto out;
    }
    if (n > KEY_PEM_MAX) {
        rc = RW_ETOOBIG;
        goto out;
    }
    bio = BIO_new_mem_buf(pem, (int)n);
    if (bio == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (pkey == NULL) {
        rc = RW_ECRYPTO;
        goto out;
    }
    fs = rw_calloc(1, sizeof(*fs));
    if (fs == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = check_key(pkey, fs);
    if (rc != 0) {
        goto out;
    }
    fs->pkey = pkey;
    pkey = NULL;
    rc = rw_signer_new(&file_ops, fs, out);
    if (rc == 0) {
        fs = NULL;
    }
out:
    if (rc != 0) {
        drain_errors("private key load");
    }
    file_free(fs);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    if (pem != NULL) {
        OPENSSL_cleanse(pem, KEY_PEM_MAX + 1);
    }
    rw_free(pem);
    if (f != NULL) {
        fclose(f);
    }
    return rc;
}
