/* SPDX-License-Identifier: MIT */
/*
 * The identity service: one thread with its own loop and upstream client runs the SPIRE
 * Workload API client (spire.c), the Vault login/renew timer and the periodic read of transit
 * key versions into the keyring. The Vault signer backend (struct rw_signer_ops) runs on the
 * calling worker's loop with that worker's client (R11: nothing blocks, no thread hop): it
 * takes a snapshot of the token under the lock, signs, and on a 403 logs in again once, inline,
 * with the cached JWT-SVID, so a token that expired or was revoked costs the next push one
 * extra round trip instead of a failure. Shared state (token, SVID, status text) lives under
 * one mutex; secrets are struct rw_secret and only fingerprints reach the log (R15).
 * See README.md in this folder for the bootstrap order and timers.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "rw/err.h"
#include "rw/identity.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "spire.h"

#define ID_VAULT_TIMEOUT_MS     10000 /* every Vault call */
#define ID_KEYS_REFRESH_S       300   /* transit key versions */
#define ID_LOGIN_BACKOFF_MIN_MS 1000
#define ID_LOGIN_BACKOFF_MAX_MS 30000
#define ID_DENIED_BACKOFF_MIN_S 5     /* Vault refused our identity: no retry storm */
#define ID_DENIED_BACKOFF_MAX_S 300
#define ID_TOKEN_FILE_MAX       4096
#define ID_NO_EXPIRY_RECHECK_S  300   /* tokens without a TTL: re-read / re-check this often */

struct vkey {
    char *ring_id; /* owned */
    char *mount;   /* owned */
    char *key;     /* owned */
};

struct rw_id {
    /* settings, immutable after rw_id_start (owned copies of signer.vault / spire) */
    char *address;
    char *mount;
    char *key;
    char *ns;
    char *ca;
    char *role;
    char *jwt_mount;
    char *audience;
    char *token_file;
    char *socket_path; /* the path part of spire.socket; NULL with token_file auth */
    struct rw_keyring *kr; /* ref */

    /* identity thread only */
    pthread_t thread;
    bool thread_started;
    struct event_base *base;  /* owned */
    struct rw_httpc *httpc;   /* owned */
    struct event *login_ev;   /* owned: login or renew timer */
    struct event *keys_ev;    /* owned: key refresh timer */
    struct event *wake_ev;    /* owned: other threads poke it (event_active) */
    struct rw_id_spire *spire;/* owned */
    struct rw_xfer *login_x;  /* weak: cleared in its callback */
    struct rw_xfer *keys_x;   /* weak: cleared in its callback */
    size_t keys_next;
    int login_backoff_ms;
    int denied_backoff_s;
    bool renewing;

    /* shared: under lock */
    pthread_mutex_t lock;
    struct vkey *vkeys; /* owned */
    size_t n_vkeys;
    struct rw_secret token;
    uint64_t token_gen;
    int64_t token_deadline; /* monotonic s; 0 = no expiry */
    bool token_renewable;
    struct rw_secret jwt;
    int64_t jwt_exp; /* unix s */
    int64_t denied_until; /* monotonic s: no login attempt before (403 backoff) */
    char spire_why[256];
    char spiffe_id[RW_ID_MAX_SPIFFE_ID + 1]; /* of the last JWT-SVID; "" until one arrives */
    char vault_why[400];
    atomic_bool want_keys;
    atomic_bool want_login;
};

static _Thread_local struct rw_httpc *tl_httpc;

void rw_id_thread_httpc(struct rw_httpc *h)
{
    tl_httpc = h;
}

static int64_t mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

static double mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void arm(struct event *ev, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};

    evtimer_add(ev, &tv);
}

static void set_why(struct rw_id *id, char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_why(struct rw_id *id, char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&id->lock);
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&id->lock);
}

/* ------------------------------------------------------------------ Vault calls */

/*
 * One Vault request on @p h: X-Vault-Token when @p token, X-Vault-Namespace when configured,
 * X-Vault-Request (Vault Proxy listeners require it), a 10 s deadline (R11: never wait longer).
 */
static int vault_fetch(struct rw_id *id, struct rw_httpc *h, const char *method, const char *path,
                       const struct rw_secret *token, const uint8_t *body, size_t len,
                       rw_fetch_cb *cb, void *arg, struct rw_xfer **out)
{
    const char *hdrs[5];
    struct rw_secret th = {0};
    char *nsh = NULL;
    char *url = rw_asprintf("%s%s", id->address, path);
    struct rw_fetch_req fr = {0};
    size_t n = 0;
    int rc = -ENOMEM;

    if (url == NULL) {
        goto out;
    }
    hdrs[n++] = "X-Vault-Request: true";
    hdrs[n++] = "User-Agent: regwarden";
    if (body != NULL) {
        hdrs[n++] = "Content-Type: application/json";
    }
    if (token != NULL) {
        char line[4200];
        int k = snprintf(line, sizeof(line), "X-Vault-Token: %s", rw_secret_str(token));

        rc = (k < 0 || (size_t)k >= sizeof(line)) ? RW_ETOOBIG : rw_secret_set(&th, line, (size_t)k);
        rw_secret_wipe(line, sizeof(line));
        if (rc != 0) {
            goto out;
        }
        hdrs[n++] = rw_secret_str(&th);
    }
    if (id->ns != NULL) {
        nsh = rw_asprintf("X-Vault-Namespace: %s", id->ns);
        if (nsh == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        hdrs[n++] = nsh;
    }
    fr.method = method;
    fr.url = url;
    fr.headers = hdrs;
    fr.n_headers = n;
    fr.body = body;
    fr.body_len = len;
    fr.has_body = body != NULL;
    fr.max = RW_ID_VAULT_MAX_REPLY;
    fr.ca_file = id->ca;
    fr.timeout_ms = ID_VAULT_TIMEOUT_MS;
    rc = rw_fetch_start(h, &fr, cb, arg, out);
out:
    rw_secret_clear(&th);
    rw_free(nsh);
    rw_free(url);
    return rc;
}

/* Under no lock. Stores a new token; wakes the identity thread to re-arm renewal. */
static void store_token(struct rw_id *id, struct rw_secret *tok, int64_t lease, bool renewable)
{
    char fp[RW_SECRET_FP_LEN];

    rw_secret_fingerprint(tok, fp);
    pthread_mutex_lock(&id->lock);
    rw_secret_clear(&id->token);
    id->token = *tok; /* moved */
    *tok = (struct rw_secret){0};
    id->token_gen++;
    id->token_deadline = lease > 0 ? mono_s() + lease : 0;
    id->token_renewable = renewable;
    id->denied_until = 0;
    id->vault_why[0] = '\0';
    pthread_mutex_unlock(&id->lock);
    rw_log_info(ID, "Vault token %s (lease %" PRId64 "s, %s)", fp, lease,
                renewable ? "renewable" : "not renewable");
    if (id->wake_ev != NULL) {
        event_active(id->wake_ev, EV_READ, 0);
    }
}

/* The login was refused: remember it so neither the timer nor pushes hammer Vault. */
static void login_denied(struct rw_id *id, int status, const char *errs)
{
    int64_t wait;

    pthread_mutex_lock(&id->lock);
    if (id->denied_backoff_s < ID_DENIED_BACKOFF_MIN_S) {
        id->denied_backoff_s = ID_DENIED_BACKOFF_MIN_S;
    } else if (id->denied_backoff_s < ID_DENIED_BACKOFF_MAX_S) {
        id->denied_backoff_s *= 2;
        if (id->denied_backoff_s > ID_DENIED_BACKOFF_MAX_S) {
            id->denied_backoff_s = ID_DENIED_BACKOFF_MAX_S;
        }
    }
    wait = id->denied_backoff_s;
    id->denied_until = mono_s() + wait;
    if (id->token_file != NULL) {
        snprintf(id->vault_why, sizeof(id->vault_why),
                 "Vault refused the token from %s (HTTP %d: %s)", id->token_file, status, errs);
    } else {
        snprintf(id->vault_why, sizeof(id->vault_why),
                 "Vault refused login for role '%s' with audience '%s' at auth/%s (HTTP %d: %s); "
                 "check the role's bound_audiences and bound_subject",
                 id->role, id->audience, id->jwt_mount, status, errs);
    }
    rw_log_err(ID, "%s; next attempt in %" PRId64 "s", id->vault_why, wait);
    pthread_mutex_unlock(&id->lock);
}

static bool denied_now(struct rw_id *id)
{
    bool d;

    pthread_mutex_lock(&id->lock);
    d = id->denied_until > mono_s();
    pthread_mutex_unlock(&id->lock);
    return d;
}

/* Read the token file (small, local; read at login time only). */
static int read_token_file(const char *path, struct rw_secret *out)
{
    char buf[ID_TOKEN_FILE_MAX + 1];
    ssize_t n;
    size_t len;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc;

    if (fd < 0) {
        return -errno;
    }
    n = read(fd, buf, sizeof(buf));
    rc = n < 0 ? -errno : 0;
    close(fd);
    if (rc != 0) {
        return rc;
    }
    len = (size_t)n;
    if (len > ID_TOKEN_FILE_MAX) {
        rw_secret_wipe(buf, sizeof(buf));
        return RW_ETOOBIG;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ')) {
        len--;
    }
    if (len == 0 || memchr(buf, '\n', len) != NULL || memchr(buf, '\0', len) != NULL) {
        rw_secret_wipe(buf, sizeof(buf));
        return RW_EPROTO;
    }
    rc = rw_secret_set(out, buf, len);
    rw_secret_wipe(buf, sizeof(buf));
    return rc;
}

/* ------------------------------------------------------------------ login (any loop) */

typedef void login_done_cb(void *arg, int rc);

/* A login in flight: jwt (POST auth/<mount>/login) or token file (GET lookup-self). */
struct login {
    struct rw_id *id;       /* borrowed: outlives every call */
    struct rw_secret cand;  /* token_file: the candidate token */
    login_done_cb *cb;
    void *arg;              /* borrowed until cb */
    struct rw_xfer **slot;  /* weak: where the caller keeps the handle, cleared on completion */
};

static void on_login_reply(void *arg, int rc, int status, const struct rw_hdrs *h,
                           const uint8_t *body, size_t len)
{
    struct login *lg = arg;
    struct rw_id *id = lg->id;
    struct rw_secret tok = {0};
    int64_t lease = 0;
    bool renewable = false;
    char errs[256];

    (void)h;
    if (lg->slot != NULL) {
        *lg->slot = NULL;
    }
    if (rc != 0) {
        set_why(id, id->vault_why, sizeof(id->vault_why), "Vault %s unreachable for login: %s",
                id->address, rw_strerror(rc));
        rw_log_warn(ID, "Vault %s unreachable for login: %s", id->address, rw_strerror(rc));
        rc = RW_EUNAVAIL;
        goto out;
    }
    rw_id_vault_errors(body, len, errs, sizeof(errs));
    if (status == 400 || status == 401 || status == 403) {
        login_denied(id, status, errs);
        rc = RW_EAUTH;
        goto out;
    }
    if (status != 200) {
        set_why(id, id->vault_why, sizeof(id->vault_why), "Vault login answered HTTP %d: %s",
                status, errs);
        rw_log_warn(ID, "Vault login answered HTTP %d: %s", status, errs);
        rc = RW_EUNAVAIL;
        goto out;
    }
    if (id->token_file != NULL) {
        rc = rw_id_vault_parse_lookup(body, len, &lease, &renewable);
        if (rc == 0) {
            tok = lg->cand;
            lg->cand = (struct rw_secret){0};
        }
    } else {
        rc = rw_id_vault_parse_auth(body, len, &tok, &lease, &renewable);
    }
    if (rc != 0) {
        set_why(id, id->vault_why, sizeof(id->vault_why), "Vault login reply malformed");
        rw_log_warn(ID, "Vault login reply malformed");
        rc = RW_EUNAVAIL;
        goto out;
    }
    if (id->token_file != NULL) {
        rw_log_info(ID, "Vault token from %s accepted", id->token_file);
    } else {
        rw_log_info(ID, "logged in to Vault %s as role '%s' (auth/%s)", id->address, id->role,
                    id->jwt_mount);
    }
    atomic_store(&id->want_keys, true); /* before the wake-up store_token sends */
    store_token(id, &tok, lease, renewable);
out:
    rw_secret_clear(&tok);
    rw_secret_clear(&lg->cand);
    lg->cb(lg->arg, rc);
    rw_free(lg);
}

/*
 * Start a login on @p h. cb is called exactly once when this returns 0. RW_EAUTH while a
 * refusal backs off, RW_EUNAVAIL when there is no JWT-SVID to log in with.
 */
static int login_start(struct rw_id *id, struct rw_httpc *h, login_done_cb *cb, void *arg,
                       struct rw_xfer **slot)
{
    struct login *lg;
    struct rw_secret jwt = {0};
    struct rw_secret body = {0};
    char path[300];
    int rc;

    if (denied_now(id)) {
        return RW_EAUTH;
    }
    lg = rw_calloc(1, sizeof(*lg));
    if (lg == NULL) {
        return -ENOMEM;
    }
    lg->id = id;
    lg->cb = cb;
    lg->arg = arg;
    lg->slot = slot;
    if (id->token_file != NULL) {
        rc = read_token_file(id->token_file, &lg->cand);
        if (rc != 0) {
            set_why(id, id->vault_why, sizeof(id->vault_why), "cannot read token file %s: %s",
                    id->token_file, rw_strerror(rc));
            rw_log_err(ID, "cannot read Vault token file %s: %s", id->token_file,
                       rw_strerror(rc));
            rc = RW_EUNAVAIL;
            goto out;
        }
        rc = vault_fetch(id, h, "GET", "/v1/auth/token/lookup-self", &lg->cand, NULL, 0,
                         on_login_reply, lg, slot);
        goto out;
    }
    pthread_mutex_lock(&id->lock);
    if (id->jwt_exp > (int64_t)time(NULL)) {
        rc = rw_secret_copy(&jwt, &id->jwt);
    } else {
        rc = RW_EUNAVAIL;
        if (id->spire_why[0] == '\0') {
            snprintf(id->spire_why, sizeof(id->spire_why), "no valid JWT-SVID from SPIRE yet");
        }
    }
    pthread_mutex_unlock(&id->lock);
    if (rc != 0) {
        goto out;
    }
    rc = rw_id_vault_login_body(id->role, &jwt, &body);
    if (rc == 0) {
        snprintf(path, sizeof(path), "/v1/auth/%s/login", id->jwt_mount);
        rc = vault_fetch(id, h, "POST", path, NULL, (const uint8_t *)body.p, body.len,
                         on_login_reply, lg, slot);
    }
out:
    rw_secret_clear(&jwt);
    rw_secret_clear(&body);
    if (rc != 0) {
        rw_secret_clear(&lg->cand);
        rw_free(lg);
    }
    return rc;
}

/* ------------------------------------------------------------------ identity thread */

static void schedule_login(struct rw_id *id);
static void keys_next(struct rw_id *id);

static void on_thread_login_done(void *arg, int rc)
{
    struct rw_id *id = arg;

    if (rc == 0) {
        id->login_backoff_ms = 0;
        id->denied_backoff_s = 0;
        /* store_token woke us: the wake handler re-arms renewal and starts the key refresh */
        return;
    }
    if (rc == RW_EAUTH) {
        int64_t until;

        pthread_mutex_lock(&id->lock);
        until = id->denied_until - mono_s();
        pthread_mutex_unlock(&id->lock);
        arm(id->login_ev, (until > 0 ? until : ID_DENIED_BACKOFF_MIN_S) * 1000);
        return;
    }
    id->login_backoff_ms = id->login_backoff_ms == 0 ? ID_LOGIN_BACKOFF_MIN_MS
                                                      : id->login_backoff_ms * 2;
    if (id->login_backoff_ms > ID_LOGIN_BACKOFF_MAX_MS) {
        id->login_backoff_ms = ID_LOGIN_BACKOFF_MAX_MS;
    }
    arm(id->login_ev, id->login_backoff_ms);
}

static void on_renew_reply(void *arg, int rc, int status, const struct rw_hdrs *h,
                           const uint8_t *body, size_t len)
{
    struct rw_id *id = arg;
    struct rw_secret tok = {0};
    int64_t lease = 0;
    bool renewable = false;

    (void)h;
    id->login_x = NULL;
    id->renewing = false;
    if (rc == 0 && status == 200 &&
        rw_id_vault_parse_auth(body, len, &tok, &lease, &renewable) == 0 && lease > 0) {
        rw_log_debug(ID, "Vault token renewed (lease %" PRId64 "s)", lease);
        store_token(id, &tok, lease, renewable);
        rw_secret_clear(&tok);
        return;
    }
    rw_secret_clear(&tok);
    rw_log_info(ID, "Vault token renewal failed (%s, HTTP %d): logging in again",
                rc != 0 ? rw_strerror(rc) : "refused", status);
    arm(id->login_ev, 0);
    pthread_mutex_lock(&id->lock);
    id->token_renewable = false; /* the timer logs in instead of renewing */
    pthread_mutex_unlock(&id->lock);
}

/* Login timer: renew when the token can be renewed and still lives, else log in. */
static void on_login_timer(evutil_socket_t fd, short what, void *arg)
{
    struct rw_id *id = arg;
    struct rw_secret tok = {0};
    bool renew;
    int rc;

    (void)fd;
    (void)what;
    if (id->login_x != NULL) {
        return; /* one at a time */
    }
    pthread_mutex_lock(&id->lock);
    renew = !rw_secret_empty(&id->token) && id->token_renewable &&
            (id->token_deadline == 0 || id->token_deadline > mono_s() + 1) &&
            id->token_file == NULL;
    if (renew) {
        rc = rw_secret_copy(&tok, &id->token);
    }
    pthread_mutex_unlock(&id->lock);
    if (renew) {
        id->renewing = true;
        rc = vault_fetch(id, id->httpc, "POST", "/v1/auth/token/renew-self", &tok,
                         (const uint8_t *)"{}", 2, on_renew_reply, id, &id->login_x);
        rw_secret_clear(&tok);
        if (rc != 0) {
            id->renewing = false;
            arm(id->login_ev, ID_LOGIN_BACKOFF_MIN_MS);
        }
        return;
    }
    rc = login_start(id, id->httpc, on_thread_login_done, id, &id->login_x);
    if (rc != 0) {
        on_thread_login_done(id, rc);
    }
}

/* After a new token: renew (or log in again) at two thirds of the lease. */
static void schedule_login(struct rw_id *id)
{
    int64_t left;
    bool have;

    pthread_mutex_lock(&id->lock);
    have = !rw_secret_empty(&id->token);
    left = id->token_deadline == 0 ? ID_NO_EXPIRY_RECHECK_S : id->token_deadline - mono_s();
    pthread_mutex_unlock(&id->lock);
    if (!have) {
        arm(id->login_ev, 0);
        return;
    }
    arm(id->login_ev, left > 0 ? left * 1000 * 2 / 3 : 0);
}

static void on_key_reply(void *arg, int rc, int status, const struct rw_hdrs *h,
                         const uint8_t *body, size_t len)
{
    struct rw_id *id = arg;
    struct rw_pubkey *keys[RW_ID_VAULT_MAX_VERSIONS] = {0};
    int versions[RW_ID_VAULT_MAX_VERSIONS];
    size_t n = 0;
    char type[32] = "";
    char ring_id[300] = "";
    char errs[256];

    (void)h;
    id->keys_x = NULL;
    pthread_mutex_lock(&id->lock);
    if (id->keys_next < id->n_vkeys) {
        snprintf(ring_id, sizeof(ring_id), "%s", id->vkeys[id->keys_next].ring_id);
    }
    pthread_mutex_unlock(&id->lock);
    if (rc != 0 || status != 200) {
        rw_id_vault_errors(body, len, errs, sizeof(errs));
        rw_log_warn(ID, "cannot read Vault key %s (%s, HTTP %d%s%s): keeping the known versions",
                    ring_id, rw_strerror(rc), status, errs[0] != '\0' ? ": " : "", errs);
    } else {
        rc = rw_id_vault_parse_key(body, len, keys, versions, RW_ID_VAULT_MAX_VERSIONS, &n, type,
                                   sizeof(type));
        if (rc != 0) {
            rw_log_warn(ID, "Vault key %s: unusable reply (%s): keeping the known versions",
                        ring_id, rw_strerror(rc));
        } else if (ring_id[0] != '\0') {
            rc = rw_keyring_put(id->kr, ring_id, keys, versions, n);
            if (rc == 1) {
                rw_log_info(ID, "Vault key %s (%s): versions %d..%d known", ring_id, type,
                            n > 0 ? versions[0] : 0, n > 0 ? versions[n - 1] : 0);
            }
        }
        for (size_t i = 0; i < n; i++) {
            rw_pubkey_free(&keys[i]);
        }
    }
    id->keys_next++;
    keys_next(id);
}

static void keys_next(struct rw_id *id)
{
    struct rw_secret tok = {0};
    char path[400] = "";
    int rc = 0;

    pthread_mutex_lock(&id->lock);
    if (id->keys_next < id->n_vkeys && !rw_secret_empty(&id->token)) {
        snprintf(path, sizeof(path), "/v1/%s/keys/%s", id->vkeys[id->keys_next].mount,
                 id->vkeys[id->keys_next].key);
        rc = rw_secret_copy(&tok, &id->token);
    }
    pthread_mutex_unlock(&id->lock);
    if (path[0] == '\0' || rc != 0) {
        return; /* done (or no token: the next login restarts the refresh) */
    }
    rc = vault_fetch(id, id->httpc, "GET", path, &tok, NULL, 0, on_key_reply, id, &id->keys_x);
    rw_secret_clear(&tok);
    if (rc != 0) {
        rw_log_warn(ID, "cannot start the Vault key read: %s", rw_strerror(rc));
    }
}

static void keys_refresh(struct rw_id *id)
{
    if (id->keys_x != NULL) {
        atomic_store(&id->want_keys, true); /* again after this round */
        return;
    }
    atomic_store(&id->want_keys, false);
    id->keys_next = 0;
    keys_next(id);
}

static void on_keys_timer(evutil_socket_t fd, short what, void *arg)
{
    struct rw_id *id = arg;

    (void)fd;
    (void)what;
    keys_refresh(id);
    arm(id->keys_ev, (int64_t)ID_KEYS_REFRESH_S * 1000);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct rw_id *id = arg;

    (void)fd;
    (void)what;
    if (atomic_exchange(&id->want_login, false) && id->login_x == NULL) {
        arm(id->login_ev, 0);
    } else if (id->login_x == NULL) {
        schedule_login(id);
    }
    if (atomic_load(&id->want_keys)) {
        keys_refresh(id);
    }
}

/* spire.c reports a new SVID (or a failure): keep it, and log in when we have no token. */
static void on_svid(void *arg, int rc, const char *why, struct rw_secret *jwt, int64_t exp,
                    const char *spiffe_id)
{
    struct rw_id *id = arg;
    bool need_login;

    pthread_mutex_lock(&id->lock);
    if (rc != 0) {
        snprintf(id->spire_why, sizeof(id->spire_why), "%s", why);
        pthread_mutex_unlock(&id->lock);
        return;
    }
    rw_secret_clear(&id->jwt);
    id->jwt = *jwt; /* moved */
    *jwt = (struct rw_secret){0};
    id->jwt_exp = exp;
    id->spire_why[0] = '\0';
    snprintf(id->spiffe_id, sizeof(id->spiffe_id), "%s", spiffe_id);
    need_login = rw_secret_empty(&id->token) ||
                 (id->token_deadline != 0 && id->token_deadline <= mono_s());
    pthread_mutex_unlock(&id->lock);
    if (need_login && id->login_x == NULL) {
        arm(id->login_ev, 0);
    }
}

static void *thread_main(void *arg)
{
    struct rw_id *id = arg;

    rw_id_thread_httpc(id->httpc);
    if (id->spire != NULL) {
        rw_id_spire_start(id->spire);
    } else {
        arm(id->login_ev, 0);
    }
    arm(id->keys_ev, (int64_t)ID_KEYS_REFRESH_S * 1000);
    event_base_loop(id->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* ------------------------------------------------------------------ the signer backend */

struct sign_op {
    struct rw_id *id;        /* borrowed */
    struct rw_httpc *h;      /* borrowed: the worker's client */
    rw_signer_done_cb *cb;
    void *arg;               /* borrowed until cb */
    struct rw_buf body;
    struct rw_secret token;
    uint64_t gen;
    bool relogged;
    double t0;
    struct rw_xfer *x;       /* weak */
};

static void op_finish(struct sign_op *op, int rc, const uint8_t *sig, size_t siglen,
                      const char *ver)
{
    op->cb(op->arg, rc, sig, siglen, ver);
    rw_buf_fini(&op->body);
    rw_secret_clear(&op->token);
    rw_free(op);
}

static int op_send(struct sign_op *op);

static void on_inline_login(void *arg, int rc)
{
    struct sign_op *op = arg;

    if (rc != 0) {
        op_finish(op, rc == RW_EAUTH ? RW_EAUTH : RW_EUNAVAIL, NULL, 0, NULL);
        return;
    }
    pthread_mutex_lock(&op->id->lock);
    rc = rw_secret_copy(&op->token, &op->id->token);
    op->gen = op->id->token_gen;
    pthread_mutex_unlock(&op->id->lock);
    if (rc == 0) {
        rc = op_send(op);
    }
    if (rc != 0) {
        op_finish(op, rc, NULL, 0, NULL);
    }
}

/* The token we used was refused: forget it (unless another thread already replaced it). */
static void drop_token(struct rw_id *id, uint64_t gen)
{
    pthread_mutex_lock(&id->lock);
    if (id->token_gen == gen) {
        rw_secret_clear(&id->token);
        id->token_deadline = 0;
    }
    pthread_mutex_unlock(&id->lock);
}

static void on_sign_reply(void *arg, int rc, int status, const struct rw_hdrs *h,
                          const uint8_t *body, size_t len)
{
    struct sign_op *op = arg;
    uint8_t sig[RW_MAX_SIG_BYTES];
    size_t siglen = 0;
    int version = 0;
    char ver[32];
    char errs[256];

    (void)h;
    op->x = NULL;
    if (rc != 0) {
        rw_log_warn(ID, "Vault transit sign with %s/%s failed: %s", op->id->mount, op->id->key,
                    rw_strerror(rc));
        set_why(op->id, op->id->vault_why, sizeof(op->id->vault_why),
                "last transit sign failed: %s", rw_strerror(rc));
        op_finish(op, RW_EUNAVAIL, NULL, 0, NULL);
        return;
    }
    if (status == 200) {
        rc = rw_id_vault_parse_sign(body, len, sig, sizeof(sig), &siglen, &version);
        if (rc != 0) {
            rw_log_err(ID, "Vault transit sign reply malformed: %s", rw_strerror(rc));
            op_finish(op, RW_EUNAVAIL, NULL, 0, NULL);
            return;
        }
        snprintf(ver, sizeof(ver), "vault:v%d", version);
        rw_log_debug(ID, "transit sign %s/%s -> %s in %.1f ms", op->id->mount, op->id->key, ver,
                     mono_ms() - op->t0);
        op_finish(op, 0, sig, siglen, ver);
        return;
    }
    rw_id_vault_errors(body, len, errs, sizeof(errs));
    if ((status == 401 || status == 403) && !op->relogged) {
        /* token expired or revoked mid-run: log in again once, transparently */
        op->relogged = true;
        rw_log_info(ID, "Vault refused the token for transit sign (HTTP %d): logging in again",
                    status);
        drop_token(op->id, op->gen);
        rc = login_start(op->id, op->h, on_inline_login, op, &op->x);
        if (rc != 0) {
            atomic_store(&op->id->want_login, true);
            event_active(op->id->wake_ev, EV_READ, 0);
            op_finish(op, rc == RW_EAUTH ? RW_EAUTH : RW_EUNAVAIL, NULL, 0, NULL);
        }
        return;
    }
    rw_log_warn(ID, "Vault transit sign with %s/%s answered HTTP %d: %s", op->id->mount,
                op->id->key, status, errs);
    set_why(op->id, op->id->vault_why, sizeof(op->id->vault_why),
            "last transit sign answered HTTP %d: %s", status, errs);
    op_finish(op, status == 403 ? RW_EAUTH : RW_EUNAVAIL, NULL, 0, NULL);
}

static int op_send(struct sign_op *op)
{
    char path[300];

    snprintf(path, sizeof(path), "/v1/%s/sign/%s", op->id->mount, op->id->key);
    return vault_fetch(op->id, op->h, "POST", path, &op->token, op->body.data, op->body.len,
                       on_sign_reply, op, &op->x);
}

static int vault_sign(void *impl, const uint8_t *msg, size_t len, rw_signer_done_cb *cb,
                      void *arg)
{
    struct rw_id *id = impl;
    struct sign_op *op;
    int rc;

    if (tl_httpc == NULL) {
        return RW_EINTERNAL; /* not on a worker loop */
    }
    op = rw_calloc(1, sizeof(*op));
    if (op == NULL) {
        return -ENOMEM;
    }
    op->id = id;
    op->h = tl_httpc;
    op->cb = cb;
    op->arg = arg;
    op->t0 = mono_ms();
    rw_buf_init(&op->body, 0);
    rc = rw_id_vault_sign_body(msg, len, &op->body);
    if (rc != 0) {
        rw_buf_fini(&op->body);
        rw_free(op);
        return rc;
    }
    pthread_mutex_lock(&id->lock);
    if (!rw_secret_empty(&id->token) &&
        (id->token_deadline == 0 || id->token_deadline > mono_s())) {
        rc = rw_secret_copy(&op->token, &id->token);
        op->gen = id->token_gen;
    } else {
        rc = -ENOENT;
    }
    pthread_mutex_unlock(&id->lock);
    if (rc == -ENOENT) {
        /* no token (expired, never obtained): one inline login, then sign */
        op->relogged = true;
        rc = login_start(id, op->h, on_inline_login, op, &op->x);
        if (rc != 0) {
            atomic_store(&id->want_login, true);
            event_active(id->wake_ev, EV_READ, 0);
            op_finish(op, rc == RW_EAUTH ? RW_EAUTH : RW_EUNAVAIL, NULL, 0, NULL);
        }
        return 0;
    }
    if (rc == 0) {
        rc = op_send(op);
    }
    if (rc != 0) {
        op_finish(op, rc, NULL, 0, NULL);
    }
    return 0;
}

static void vault_signer_free(void *impl)
{
    (void)impl; /* borrowed: the service outlives every config */
}

static const struct rw_signer_ops vault_signer_ops = {
    .name = "vault",
    .sign = vault_sign,
    .free = vault_signer_free,
};

/* ------------------------------------------------------------------ life cycle */

static void vkeys_free(struct vkey *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        rw_free(v[i].ring_id);
        rw_free(v[i].mount);
        rw_free(v[i].key);
    }
    rw_free(v);
}

static int dup_opt(const char *s, char **out)
{
    if (s == NULL) {
        *out = NULL;
        return 0;
    }
    *out = rw_strdup(s);
    return *out == NULL ? -ENOMEM : 0;
}

static void id_free(struct rw_id *id)
{
    rw_xfer_cancel(&id->login_x);
    rw_xfer_cancel(&id->keys_x);
    rw_id_spire_free(&id->spire);
    if (id->login_ev != NULL) {
        event_free(id->login_ev);
    }
    if (id->keys_ev != NULL) {
        event_free(id->keys_ev);
    }
    if (id->wake_ev != NULL) {
        event_free(id->wake_ev);
    }
    rw_httpc_free(&id->httpc);
    if (id->base != NULL) {
        event_base_free(id->base);
    }
    rw_free(id->address);
    rw_free(id->mount);
    rw_free(id->key);
    rw_free(id->ns);
    rw_free(id->ca);
    rw_free(id->role);
    rw_free(id->jwt_mount);
    rw_free(id->audience);
    rw_free(id->token_file);
    rw_free(id->socket_path);
    rw_secret_clear(&id->token);
    rw_secret_clear(&id->jwt);
    vkeys_free(id->vkeys, id->n_vkeys);
    rw_keyring_unref(&id->kr);
    pthread_mutex_destroy(&id->lock);
    rw_free(id);
}

int rw_id_start(const struct rw_config *cfg, struct rw_keyring *kr, struct rw_id **out)
{
    const struct rw_vault_cfg *v = cfg->signer_cfg.vault;
    struct rw_id *id;
    int rc = 0;

    *out = NULL;
    if (v == NULL) {
        return 0;
    }
    id = rw_calloc(1, sizeof(*id));
    if (id == NULL) {
        return -ENOMEM;
    }
    pthread_mutex_init(&id->lock, NULL);
    atomic_init(&id->want_keys, true);
    atomic_init(&id->want_login, false);
    id->kr = rw_keyring_ref(kr);
    rc = dup_opt(v->address, &id->address);
    rc = rc != 0 ? rc : dup_opt(v->mount, &id->mount);
    rc = rc != 0 ? rc : dup_opt(v->key, &id->key);
    rc = rc != 0 ? rc : dup_opt(v->ns, &id->ns);
    rc = rc != 0 ? rc : dup_opt(v->ca, &id->ca);
    rc = rc != 0 ? rc : dup_opt(v->jwt_role, &id->role);
    rc = rc != 0 ? rc : dup_opt(v->jwt_mount, &id->jwt_mount);
    rc = rc != 0 ? rc : dup_opt(v->jwt_audience, &id->audience);
    rc = rc != 0 ? rc : dup_opt(v->token_file, &id->token_file);
    if (rc == 0 && v->jwt_role != NULL && cfg->spire_socket != NULL) {
        rc = dup_opt(cfg->spire_socket + strlen("unix://"), &id->socket_path);
    }
    if (rc != 0) {
        goto fail;
    }
    snprintf(id->vault_why, sizeof(id->vault_why), "not logged in to Vault yet");
    id->base = event_base_new();
    if (id->base == NULL || rw_httpc_new(id->base, &id->httpc) != 0) {
        rc = -ENOMEM;
        goto fail;
    }
    id->login_ev = evtimer_new(id->base, on_login_timer, id);
    id->keys_ev = evtimer_new(id->base, on_keys_timer, id);
    id->wake_ev = event_new(id->base, -1, 0, on_wake, id);
    if (id->login_ev == NULL || id->keys_ev == NULL || id->wake_ev == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    if (id->socket_path != NULL) {
        rc = rw_id_spire_new(id->base, id->httpc, id->socket_path, id->audience, on_svid, id,
                             &id->spire);
        if (rc != 0) {
            goto fail;
        }
    }
    rc = pthread_create(&id->thread, NULL, thread_main, id);
    if (rc != 0) {
        rc = -rc;
        goto fail;
    }
    id->thread_started = true;
    rw_log_info(ID, "identity: Vault %s transit %s/%s, auth %s%s%s", id->address, id->mount,
                id->key, id->token_file != NULL ? "token_file " : "jwt role ",
                id->token_file != NULL ? id->token_file : id->role,
                id->socket_path != NULL ? " (JWT-SVID from SPIRE)" : "");
    *out = id;
    return 0;
fail:
    id_free(id);
    return rc;
}

void rw_id_stop(struct rw_id **pid)
{
    struct rw_id *id = *pid;

    if (id == NULL) {
        return;
    }
    *pid = NULL;
    if (id->thread_started) {
        event_base_loopbreak(id->base);
        pthread_join(id->thread, NULL);
    }
    id_free(id);
}

int rw_id_attach(struct rw_id *id, struct rw_config *cfg, struct rw_keyring *kr)
{
    struct vkey *vk = NULL;
    size_t n = 0;
    int rc = 0;

    rw_config_set_keyring(cfg, kr);
    if (id == NULL) {
        if (cfg->signer_cfg.vault != NULL) {
            rw_log_warn(ID, "signer.vault appeared in a reloaded config: restart to apply it");
        }
        return 0;
    }
    if (cfg->signer_cfg.vault != NULL && cfg->signer == NULL) {
        const struct rw_vault_cfg *v = cfg->signer_cfg.vault;

        if (strcmp(v->address, id->address) != 0 || strcmp(v->key, id->key) != 0 ||
            strcmp(v->mount, id->mount) != 0) {
            rw_log_warn(ID, "signer.vault changed in the reloaded config: the running Vault "
                            "session (%s %s/%s) is kept until a restart",
                        id->address, id->mount, id->key);
        }
        rc = rw_signer_new(&vault_signer_ops, id, &cfg->signer);
        if (rc != 0) {
            return rc;
        }
    }
    vk = rw_calloc(cfg->n_keys > 0 ? cfg->n_keys : 1, sizeof(*vk));
    if (vk == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < cfg->n_keys; i++) {
        const struct rw_key_cfg *kc = &cfg->keys[i];

        if (kc->vault_key == NULL) {
            continue;
        }
        vk[n].ring_id = rw_strdup(kc->ring_id);
        vk[n].mount = rw_strdup(kc->vault_mount);
        vk[n].key = rw_strdup(kc->vault_key);
        n++;
        if (vk[n - 1].ring_id == NULL || vk[n - 1].mount == NULL || vk[n - 1].key == NULL) {
            vkeys_free(vk, n);
            return -ENOMEM;
        }
    }
    pthread_mutex_lock(&id->lock);
    vkeys_free(id->vkeys, id->n_vkeys);
    id->vkeys = vk;
    id->n_vkeys = n;
    pthread_mutex_unlock(&id->lock);
    atomic_store(&id->want_keys, true);
    event_active(id->wake_ev, EV_READ, 0);
    return 0;
}

bool rw_id_spiffe_id(struct rw_id *id, char *out, size_t cap)
{
    bool known;

    if (id == NULL || cap == 0) {
        return false;
    }
    pthread_mutex_lock(&id->lock);
    known = id->spiffe_id[0] != '\0' && strlen(id->spiffe_id) < cap;
    if (known) {
        memcpy(out, id->spiffe_id, strlen(id->spiffe_id) + 1);
    }
    pthread_mutex_unlock(&id->lock);
    return known;
}

bool rw_id_ready(struct rw_id *id, char *why, size_t cap)
{
    bool ok;
    int64_t now = mono_s();

    if (id == NULL) {
        snprintf(why, cap, "no Vault signer");
        return false;
    }
    pthread_mutex_lock(&id->lock);
    ok = !rw_secret_empty(&id->token) && (id->token_deadline == 0 || id->token_deadline > now);
    if (id->token_file == NULL && !(id->jwt_exp > (int64_t)time(NULL))) {
        ok = false;
    }
    if (ok) {
        snprintf(why, cap, "ok");
    } else if (id->token_file == NULL && !(id->jwt_exp > (int64_t)time(NULL))) {
        snprintf(why, cap, "no valid JWT-SVID: %s",
                 id->spire_why[0] != '\0' ? id->spire_why : "waiting for SPIRE");
    } else {
        snprintf(why, cap, "no Vault token: %s",
                 id->vault_why[0] != '\0' ? id->vault_why : "logging in");
    }
    pthread_mutex_unlock(&id->lock);
    return ok;
}
