/* SPDX-License-Identifier: MIT */
/*
 * proxy/identity/ (rw_id_): regwarden's own identity. A SPIRE Workload API client (gRPC over
 * HTTP/2 on the agent's unix socket) fetches the JWT-SVID; a Vault client logs in with it (or a
 * token file), keeps the token fresh, signs through transit and reads transit public keys into
 * the keyring. It runs on its own thread and loop; the signer backend it installs runs on the
 * calling worker's loop. Secrets are struct rw_secret: printed only as fingerprints (R15).
 */
#ifndef RW_IDENTITY_H
#define RW_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rw/buf.h"
#include "rw/httpc.h"
#include "rw/policy.h"

/* ------------------------------------------------------------------ secrets (secret.c) */

/* A token, SVID or header value. Storage is zeroised when replaced or cleared. Never pass
 * rw_secret_str() to a log call: use rw_secret_fingerprint(). */
struct rw_secret {
    char *p;    /* owned; NUL-terminated, zeroised before free */
    size_t len;
};

#define RW_SECRET_FP_LEN 24 /* "sha256:" + 12 hex + NUL, rounded */

int rw_secret_set(struct rw_secret *s, const void *p, size_t n);
int rw_secret_copy(struct rw_secret *dst, const struct rw_secret *src);
void rw_secret_clear(struct rw_secret *s);
bool rw_secret_empty(const struct rw_secret *s);
/** The value, for building a header or body only. "" when empty. */
const char *rw_secret_str(const struct rw_secret *s);
/** "sha256:<12 hex>" of the value, or "(none)": the only form that may be logged. */
void rw_secret_fingerprint(const struct rw_secret *s, char out[RW_SECRET_FP_LEN]);
/** Zero @p n bytes of @p p in a way the compiler keeps. */
void rw_secret_wipe(void *p, size_t n);

/* ------------------------------------------------------------------ protobuf (pb.c) */

#define RW_ID_PB_MAX_MSG   (64u * 1024u) /* one Workload API reply */
#define RW_ID_MAX_SPIFFE_ID 2048u

/** JWTSVIDRequest {1: repeated string audience = [@p audience]; 2: spiffe_id (optional)}. */
int rw_id_pb_jwtsvid_request(const char *audience, const char *spiffe_id, struct rw_buf *out);
/**
 * The first JWTSVID of a JWTSVIDResponse {1: repeated JWTSVID {1 spiffe_id, 2 svid, 3 hint}}.
 * @return 0; -ENOENT no svids; RW_EPROTO malformed; RW_ETOOBIG; -ENOMEM.
 * Ownership: @p svid is set (a secret); @p spiffe_id copied (truncated to cap).
 */
int rw_id_pb_jwtsvid_response(const uint8_t *p, size_t n, char *spiffe_id, size_t cap,
                              struct rw_secret *svid);

/* ------------------------------------------------------------------ gRPC (grpc.c) */

/** Append the 5-byte prefix (uncompressed) and @p n bytes of @p msg to @p out. */
int rw_id_grpc_frame(const uint8_t *msg, size_t n, struct rw_buf *out);
/**
 * The one message of a unary reply body. @return 0 (msg points into @p p); -ENOENT empty body;
 * RW_EPROTO truncated, trailing bytes or compressed; RW_ETOOBIG over RW_ID_PB_MAX_MSG.
 */
int rw_id_grpc_unframe(const uint8_t *p, size_t n, const uint8_t **msg, size_t *msglen);
/** grpc-status (and percent-decoded grpc-message) from headers or trailers. RW_EPROTO if absent. */
int rw_id_grpc_status(const struct rw_hdrs *h, int *code, char *msg, size_t cap);
const char *rw_id_grpc_code_str(int code);

typedef void rw_id_grpc_cb(void *arg, int rc, int grpc_status, const char *grpc_msg,
                           const uint8_t *msg, size_t len);

/* One call in flight; caller storage. Cancel with rw_xfer_cancel(&call->x). */
struct rw_id_grpc_call {
    rw_id_grpc_cb *cb;
    void *arg;        /* borrowed until cb */
    struct rw_xfer *x;/* weak: cleared before cb runs */
};
/**
 * Unary call over HTTP/2 prior knowledge on a unix socket, with metadata
 * "workload.spiffe.io: true". rc: 0 (then see grpc_status), RW_EUNAVAIL (cannot connect,
 * timeout), RW_EPROTO (not gRPC). Ownership: @p call (cb, arg set by the caller) stays alive
 * until call->cb runs or call->x is cancelled.
 */
int rw_id_grpc_start(struct rw_httpc *h, const char *socket_path, const char *path,
                     const uint8_t *req, size_t n, long timeout_ms, struct rw_id_grpc_call *call);

/* ------------------------------------------------------------------ Vault replies (vault.c) */

#define RW_ID_VAULT_MAX_REPLY (256u * 1024u)
#define RW_ID_VAULT_MAX_VERSIONS 64u

/** "msg1; msg2" from {"errors":[...]}; "" when none. */
void rw_id_vault_errors(const uint8_t *body, size_t n, char *out, size_t cap);
/** {"auth":{"client_token","lease_duration","renewable"}} (login, renew-self). */
int rw_id_vault_parse_auth(const uint8_t *body, size_t n, struct rw_secret *token,
                           int64_t *lease_s, bool *renewable);
/** lookup-self: {"data":{"ttl","renewable"}}. */
int rw_id_vault_parse_lookup(const uint8_t *body, size_t n, int64_t *ttl_s, bool *renewable);
/** {"data":{"signature":"vault:vN:<b64>"}} -> raw signature bytes and N. */
int rw_id_vault_parse_sign(const uint8_t *body, size_t n, uint8_t *sig, size_t cap,
                           size_t *siglen, int *version);
/**
 * Read key: every version from min_decryption_version to latest_version, PEM (ECDSA, RSA) or
 * raw base64 (ed25519). keys[i] owned by the caller. @p type gets data.type.
 * @return 0; RW_EPROTO shape; RW_ECRYPTO a key does not load; RW_ETOOBIG too many versions.
 */
int rw_id_vault_parse_key(const uint8_t *body, size_t n, struct rw_pubkey **keys, int *versions,
                          size_t max, size_t *count, char *type, size_t typecap);
/** exp (and sub) of a compact JWS, not verified. RW_EPROTO when malformed or exp is absent.
 * @p sub is "" when absent or when it does not fit in @p subcap (never truncated). */
int rw_id_jwt_claims(const char *jwt, size_t n, int64_t *exp, char *sub, size_t subcap);
/** JSON bodies. Ownership: @p out is a secret when it carries the JWT. */
int rw_id_vault_login_body(const char *role, const struct rw_secret *jwt, struct rw_secret *out);
int rw_id_vault_sign_body(const uint8_t *msg, size_t len, struct rw_buf *out);

/* ------------------------------------------------------------------ the service (identity.c) */

struct rw_id;

/**
 * Start the identity thread for @p cfg's signer.vault (and spire) settings; the keyring gets
 * the versions of every keys.*.vault_transit. Nothing is awaited: readiness follows.
 * @return 0 (*out NULL when the config has no signer.vault); -ENOMEM; -errno (thread).
 * Thread: main, after evthread_use_pthreads().
 */
int rw_id_start(const struct rw_config *cfg, struct rw_keyring *kr, struct rw_id **out);
/** Stop the thread, cancel every call, free. Workers must have stopped. NULLs *pid. */
void rw_id_stop(struct rw_id **pid);
/**
 * Wire a config to the service: the Vault signer backend into cfg->signer (when signer.vault)
 * and the keyring. Also refreshes the vault key versions now (SIGHUP). @p id may be NULL (only
 * the keyring is attached). Thread: main, before publishing @p cfg.
 */
int rw_id_attach(struct rw_id *id, struct rw_config *cfg, struct rw_keyring *kr);
/**
 * regwarden's own SPIFFE ID: that of the last JWT-SVID the SPIRE agent served (not a secret).
 * @return true and @p out filled; false (untouched) when @p id is NULL, no SVID has arrived yet
 * (token_file auth never has one) or it does not fit in @p cap.  Thread: any.
 */
bool rw_id_spiffe_id(struct rw_id *id, char *out, size_t cap);
/** Whether a signer is usable now (token valid and, with jwt auth, a valid SVID). */
bool rw_id_ready(struct rw_id *id, char *why, size_t cap);
/** The worker thread's upstream client: Vault sign calls run on it. Thread: that worker. */
void rw_id_thread_httpc(struct rw_httpc *h);

#endif
