/* SPDX-License-Identifier: MIT */
/*
 * Server-side TLS: OpenSSL 3 contexts for `listen[].tls`, libevent_openssl bufferevents, ALPN
 * (h2, http/1.1), optional client certificates and the SPIFFE ID they carry. This file is the only
 * one in proxy/ that touches OpenSSL or libevent_openssl (R5); the connection code sees a
 * bufferevent and two questions (is it h2? who is the client?).
 *
 * Reload: a listener's SSL_CTX is swapped under a mutex when its files change (polled by the main
 * thread, and forced on SIGHUP). Each SSL holds a reference to the context it was made from, so
 * connections already open keep their old certificate until they close. A new pair that does not
 * load or does not match is refused with a log line and the running context stays.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "rw/err.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "rw/policy.h"
#include "tls.h"

/* TLS 1.2 suites: forward secret AEAD only. TLS 1.3 keeps OpenSSL's default (all AEAD). */
#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define RW_MAX_SPIFFE_ID_LEN 2048 /* SPIFFE ID spec: URIs up to 2048 bytes */

struct file_sig {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool present;
};

struct rw_tls {
    pthread_mutex_t lock;
    SSL_CTX *ctx;          /* ref; swapped under lock */
    char *address;         /* owned, for log lines */
    char *cert;            /* owned */
    char *key;             /* owned */
    char *client_ca;       /* owned; NULL = no client certificates asked */
    struct file_sig sig[3];/* cert, key, client_ca as last seen (loaded or refused) */
};

/* Drain the OpenSSL error queue into one string (R5). */
static const char *ssl_errors(char *buf, size_t cap)
{
    unsigned long e;
    size_t off = 0;

    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        char one[256];

        ERR_error_string_n(e, one, sizeof(one));
        if (off < cap) {
            int n = snprintf(buf + off, cap - off, "%s%s", off ? "; " : "", one);

            off += n > 0 ? (size_t)n : 0;
        }
    }
    if (buf[0] == '\0') {
        snprintf(buf, cap, "unknown error");
    }
    return buf;
}

static void sig_get(const char *path, struct file_sig *s)
{
    struct stat st;

    memset(s, 0, sizeof(*s));
    if (path == NULL || stat(path, &st) != 0) {
        return;
    }
    s->present = true;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->size = st.st_size;
    s->mtime = st.st_mtim;
}

static bool sig_eq(const struct file_sig *a, const struct file_sig *b)
{
    return a->present == b->present && a->dev == b->dev && a->ino == b->ino &&
           a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char prefs[] = "\x02h2\x08http/1.1";
    unsigned char *sel = NULL;
    unsigned char sellen = 0;

    (void)ssl;
    (void)arg;
    /* server preference: h2 first */
    if (SSL_select_next_proto(&sel, &sellen, prefs, sizeof(prefs) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK; /* no overlap: carry on without ALPN (HTTP/1.1) */
    }
    *out = sel;
    *outlen = sellen;
    return SSL_TLSEXT_ERR_OK;
}

/* Build a context from the files; NULL with a log line on failure. */
static SSL_CTX *ctx_build(const struct rw_tls *t)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    char err[512];

    if (ctx == NULL) {
        goto fail;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"regwarden", 9);
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
        rw_log_err(TLS, "listener %s: certificate %s: %s", t->address, t->cert,
                   ssl_errors(err, sizeof(err)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        rw_log_err(TLS, "listener %s: key %s does not load or does not match %s: %s", t->address,
                   t->key, t->cert, ssl_errors(err, sizeof(err)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (t->client_ca != NULL) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->client_ca);

        if (names == NULL || SSL_CTX_load_verify_locations(ctx, t->client_ca, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            rw_log_err(TLS, "listener %s: client CA %s: %s", t->address, t->client_ca,
                       ssl_errors(err, sizeof(err)));
            SSL_CTX_free(ctx);
            return NULL;
        }
        /* the CA list tells clients (Go picks by issuer) which certificate to send */
        SSL_CTX_set_client_CA_list(ctx, names);
        /* Ask, do not require: pulls may be anonymous; push rules with identities refuse a
         * request without one. A certificate that is sent must verify (handshake fails). */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_verify_depth(ctx, 4);
    }
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    return ctx;
fail:
    rw_log_err(TLS, "listener %s: cannot create a TLS context: %s", t->address,
               ssl_errors(err, sizeof(err)));
    SSL_CTX_free(ctx);
    return NULL;
}

static void sigs_get(const struct rw_tls *t, struct file_sig sig[3])
{
    sig_get(t->cert, &sig[0]);
    sig_get(t->key, &sig[1]);
    sig_get(t->client_ca, &sig[2]);
}

int rw_tls_new(const struct rw_listen_cfg *l, struct rw_tls **out)
{
    struct rw_tls *t = rw_calloc(1, sizeof(*t));

    if (t == NULL) {
        return -ENOMEM;
    }
    pthread_mutex_init(&t->lock, NULL);
    t->address = rw_strdup(l->address);
    t->cert = rw_strdup(l->tls_cert);
    t->key = rw_strdup(l->tls_key != NULL ? l->tls_key : l->tls_cert);
    t->client_ca = l->client_ca != NULL ? rw_strdup(l->client_ca) : NULL;
    if (t->address == NULL || t->cert == NULL || t->key == NULL ||
        (l->client_ca != NULL && t->client_ca == NULL)) {
        rw_tls_free(&t);
        return -ENOMEM;
    }
    sigs_get(t, t->sig);
    t->ctx = ctx_build(t);
    if (t->ctx == NULL) {
        rw_tls_free(&t);
        return RW_ECONFIG;
    }
    *out = t;
    return 0;
}

void rw_tls_free(struct rw_tls **pt)
{
    struct rw_tls *t = *pt;

    if (t == NULL) {
        return;
    }
    *pt = NULL;
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->lock);
    rw_free(t->address);
    rw_free(t->cert);
    rw_free(t->key);
    rw_free(t->client_ca);
    rw_free(t);
}

int rw_tls_reload(struct rw_tls *t, bool force)
{
    struct file_sig now[3];
    SSL_CTX *next;
    SSL_CTX *old;
    bool same;

    sigs_get(t, now);
    pthread_mutex_lock(&t->lock);
    same = sig_eq(&now[0], &t->sig[0]) && sig_eq(&now[1], &t->sig[1]) &&
           sig_eq(&now[2], &t->sig[2]);
    /* remember what we looked at even when refused: one log line per change, not per poll */
    memcpy(t->sig, now, sizeof(now));
    pthread_mutex_unlock(&t->lock);
    if (same && !force) {
        return 0;
    }
    next = ctx_build(t);
    if (next == NULL) {
        rw_log_err(TLS, "listener %s: new certificate refused, the running one stays in use",
                   t->address);
        return RW_ECONFIG;
    }
    pthread_mutex_lock(&t->lock);
    old = t->ctx;
    t->ctx = next;
    pthread_mutex_unlock(&t->lock);
    SSL_CTX_free(old); /* open connections hold their own reference */
    rw_log_info(TLS, "listener %s: certificate %s reloaded", t->address, t->cert);
    return 1;
}

struct bufferevent *rw_tls_bev_new(struct rw_tls *t, struct event_base *base, evutil_socket_t fd,
                                   int bev_opts)
{
    struct bufferevent *bev;
    SSL *ssl;

    pthread_mutex_lock(&t->lock);
    ssl = SSL_new(t->ctx);
    pthread_mutex_unlock(&t->lock);
    if (ssl == NULL) {
        ERR_clear_error();
        evutil_closesocket(fd);
        return NULL;
    }
    bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, bev_opts);
    if (bev == NULL) {
        SSL_free(ssl);
        evutil_closesocket(fd);
        return NULL;
    }
    /* a client closing without close_notify is an EOF like any other, not an error */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

bool rw_tls_bev_is_h2(struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    const unsigned char *p = NULL;
    unsigned int n = 0;

    if (ssl == NULL) {
        return false;
    }
    SSL_get0_alpn_selected(ssl, &p, &n);
    return n == 2 && memcmp(p, "h2", 2) == 0;
}

/* SPIFFE ID syntax (X509-SVID): "spiffe://" trust-domain path, no query, fragment, port or
 * userinfo; trust domain [a-z0-9.-_]; path segments non-empty, not "." or "..". */
static bool spiffe_id_ok(const char *s, size_t n)
{
    size_t i = 9;
    size_t seg = 0;

    if (n <= 9 || n > RW_MAX_SPIFFE_ID_LEN || memcmp(s, "spiffe://", 9) != 0) {
        return false;
    }
    for (; i < n && s[i] != '/'; i++) {
        char ch = s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
              ch == '_')) {
            return false;
        }
    }
    if (i == 9) {
        return false;
    }
    while (i < n) {
        size_t start = ++i; /* s[i-1] == '/' */

        while (i < n && s[i] != '/') {
            char ch = s[i];

            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_')) {
                return false;
            }
            i++;
        }
        seg = i - start;
        if (seg == 0 || (seg == 1 && s[start] == '.') ||
            (seg == 2 && s[start] == '.' && s[start + 1] == '.')) {
            return false;
        }
    }
    return true;
}

static int spiffe_id_from_x509(X509 *cert, char **out)
{
    GENERAL_NAMES *names;
    const ASN1_IA5STRING *uri = NULL;
    int n_uri = 0;
    int rc = 0;

    *out = NULL;
    names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (names == NULL) {
        return 0;
    }
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);

        if (gn->type == GEN_URI) {
            uri = gn->d.uniformResourceIdentifier;
            n_uri++;
        }
    }
    /* X509-SVID: exactly one URI SAN, and a leaf (not a CA) */
    if (n_uri == 1 && (X509_get_extension_flags(cert) & EXFLAG_CA) == 0 &&
        spiffe_id_ok((const char *)ASN1_STRING_get0_data(uri), (size_t)ASN1_STRING_length(uri))) {
        *out = rw_strndup((const char *)ASN1_STRING_get0_data(uri),
                          (size_t)ASN1_STRING_length(uri));
        if (*out == NULL) {
            rc = -ENOMEM;
        }
    }
    GENERAL_NAMES_free(names);
    return rc;
}

int rw_tls_bev_identity(struct bufferevent *bev, char **out)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    X509 *cert;

    *out = NULL;
    if (ssl == NULL) {
        return 0;
    }
    cert = SSL_get0_peer_certificate(ssl);
    if (cert == NULL || SSL_get_verify_result(ssl) != X509_V_OK) {
        return 0;
    }
    return spiffe_id_from_x509(cert, out);
}

int rw_tls_spiffe_id_from_der(const unsigned char *der, long len, char **out)
{
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, len);
    int rc;

    *out = NULL;
    if (cert == NULL) {
        ERR_clear_error();
        return 0;
    }
    rc = spiffe_id_from_x509(cert, out);
    X509_free(cert);
    return rc;
}
