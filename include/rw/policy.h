/* SPDX-License-Identifier: MIT */
/*
 * policy/: configuration, rules, trust decisions and the crypto on bytes (STYLE idea 2: pure;
 * no sockets here). Evidence (signature manifests, payload blobs) arrives through
 * struct rw_policy_fetch_ops, which the proxy implements over libcurl and tests fake.
 */
#ifndef RW_POLICY_H
#define RW_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rw/buf.h"
#include "rw/limits.h"
#include "rw/verdict-t.h"

/* ------------------------------------------------------------------ attestation conditions */

/*
 * require.attestations entries in their full form (policy/README.md "Attestations"): a predicate
 * type, the keys that may sign it, and conditions over the statement's `predicate`. The engine
 * (policy/conditions.c) is pure: JSON in, a yes/no and one sanitised sentence out.
 */
enum rw_cond_op {
    RW_COND_EQUALS = 0,
    RW_COND_IN,
    RW_COND_MATCHES,
    RW_COND_AT_MOST,
    RW_COND_OP_COUNT
};
enum rw_cond_type { RW_COND_STRING = 0, RW_COND_NUMBER, RW_COND_BOOL, RW_COND_TYPE_COUNT };

struct rw_cond_value {
    enum rw_cond_type type;
    char *text;  /* owned; the value as written: the string, the number's digits, "true"/"false"
                  * (messages and the policy hash use it) */
    size_t len;  /* of text */
    bool is_int; /* RW_COND_NUMBER without fraction or exponent, within int64 */
    int64_t i;   /* is_int */
    double num;  /* RW_COND_NUMBER (also set when is_int) */
    bool b;      /* RW_COND_BOOL */
};

struct rw_cond {
    char *path;                   /* owned; relative to `predicate`, valid per rw_cond_path_check */
    enum rw_cond_op op;
    struct rw_cond_value *values; /* owned; one, or 1..RW_MAX_COND_IN_VALUES for RW_COND_IN */
    size_t n_values;
    int line;
};

struct rw_att_req {
    char *predicate_type; /* owned; in-toto predicateType URI */
    char **signed_by;     /* owned; keys that may sign the envelope: the entry's own signed_by,
                           * else a copy of the rule's (never empty after rw_config_load) */
    size_t n_signed_by;
    bool own_keys;        /* signed_by was given on the entry */
    struct rw_cond *conds; /* owned; all must hold */
    size_t n_conds;       /* <= RW_MAX_CONDITIONS */
    int line;
};

/**
 * Check a condition path: 1..RW_MAX_COND_PATH_LEN bytes, 1..RW_MAX_COND_SEGMENTS non-empty
 * dot-separated segments, no control bytes, '*' only as a whole segment.
 * @param[out] why  the problem, for a config error
 * @return 0; RW_EINVAL.
 */
int rw_cond_path_check(const char *path, char *why, size_t cap);
/** Check a glob for `matches` (fnmatch syntax: * ? [...] [!...] \x): RW_EINVAL if malformed. */
int rw_cond_glob_check(const char *pattern, char *why, size_t cap);
/**
 * fnmatch(3) without FNM_PATHNAME or FNM_PERIOD over @p n bytes: '*' matches any run, '/'
 * included. Worst case O(len(pattern) * n): one backtrack point (the last '*').
 */
bool rw_cond_glob_match(const char *pattern, const char *s, size_t n);
/**
 * A value from the config: @p plain (an unquoted YAML scalar) "true"/"false" is a bool and a
 * JSON number is a number; anything else, and every quoted scalar, is a string.
 * @return 0; RW_EINVAL (over RW_MAX_COND_VALUE_LEN, NUL byte); -ENOMEM. Ownership: fini @p out.
 */
int rw_cond_value_parse(const char *text, size_t len, bool plain, struct rw_cond_value *out);
void rw_cond_value_fini(struct rw_cond_value *v);
void rw_cond_fini(struct rw_cond *c);
void rw_att_req_fini(struct rw_att_req *r);
const char *rw_cond_op_str(enum rw_cond_op op);
/**
 * Evaluate @p conds over the JSON document @p json (a predicate): a path without '*' must exist
 * and its value satisfy the check; with '*', the part before the first '*' must exist and be an
 * array or object, and every value reached (at most RW_MAX_COND_REACHED; none is a pass) must
 * satisfy it. Checks are JSON-type-strict; a value of another type fails.
 * @param[out] failed  0 when all hold, else the 1-based index of the first that does not
 * @param[out] why     when *failed: "condition <n> <path> <op> <value>: got <what>", printable
 *                     ASCII only (the values quoted in it are sanitised and truncated)
 * @return 0; RW_EPROTO (not JSON); RW_ETOOBIG (over RW_MAX_ENVELOPE_BYTES, too deep); -ENOMEM.
 * Thread: any.
 */
int rw_cond_eval(const uint8_t *json, size_t n, const struct rw_cond *conds, size_t n_conds,
                 size_t *failed, char *why, size_t cap);
/**
 * Quote @p n bytes for a deny detail: '"', printable ASCII kept ('"' and '\' escaped), any other
 * byte as '?', cut with "..." after @p max bytes; always NUL-terminated within @p cap.
 */
void rw_cond_quote(const char *s, size_t n, size_t max, char *out, size_t cap);

/* ------------------------------------------------------------------ config */

enum rw_mode { RW_MODE_INHERIT = 0, RW_MODE_ENFORCE, RW_MODE_AUDIT };

struct rw_listen_cfg {
    char *address;   /* owned; "host:port" */
    char *tls_cert;  /* owned; NULL = plain listener; absolute path */
    char *tls_key;   /* owned */
    char *client_ca; /* owned; NULL = no mTLS */
    char *upstream;  /* owned; listen[].upstream: the upstream of requests without ns= on this
                      * listener (a listener per registry name); NULL = default_upstream */
    int line;
};

/* Whose credential reaches an upstream: the client's (forwarded, challenges relayed) or
 * regwarden's own (it does the token dance itself; the client's Authorization is dropped). */
enum rw_upstream_auth { RW_UPSTREAM_AUTH_PASSTHROUGH = 0, RW_UPSTREAM_AUTH_OWN };

struct rw_upstream_cfg {
    char *name; /* owned; "registry.local" */
    char *url;  /* owned; "http://127.0.0.1:5000", scheme+authority, no trailing '/' */
    char *ca;   /* owned; upstreams.<name>.ca: CA bundle for an https upstream, absolute; NULL =
                 * the system store */
    enum rw_upstream_auth auth; /* upstreams.<name>.auth; RW_UPSTREAM_AUTH_PASSTHROUGH default */
    char *auth_user;  /* owned; own credentials: the user name (logs may name it); else NULL */
    char *auth_basic; /* owned, secret: base64("user:password"), only ever sent to the token
                       * realm (or the upstream for Basic); zeroed when freed; NULL = passthrough */
    char *allowed_hosts; /* owned; upstreams.<name>.allowed_hosts joined with ',' (lowercase):
                          * other hosts this upstream may send regwarden to (token realm, blob
                          * storage redirects); NULL = only the upstream's own host */
    int line;
};

struct rw_pubkey; /* opaque, policy/crypto.c */

struct rw_key_cfg {
    char *name;              /* owned */
    char *file;              /* owned; absolute path of a PEM public key; NULL for vault keys */
    struct rw_pubkey *pub;   /* owned; loaded by rw_config_load; NULL for vault keys */
    char *vault_key;         /* owned; keys.<name>.vault_transit: transit key name, or NULL */
    char *vault_mount;       /* owned; keys.<name>.mount, default signer.vault.mount */
    char *ring_id;           /* owned; "<mount>/<key>": the id in struct rw_keyring */
    int line;
};

/* signer.vault (PROTOCOLS.md §7): the one Vault connection of the server. keys.*.vault_transit
 * read their public key versions through it too. */
struct rw_vault_cfg {
    char *address;      /* owned; http(s)://host[:port], no trailing '/' */
    char *mount;        /* owned; transit mount, default "transit" */
    char *key;          /* owned; transit key that signs pushes */
    char *ns;           /* owned; X-Vault-Namespace, NULL = none */
    char *ca;           /* owned; absolute path of a CA bundle, NULL = system store */
    char *jwt_role;     /* owned; auth.jwt.role; NULL when auth is token_file */
    char *jwt_mount;    /* owned; auth.jwt.mount, default "jwt" */
    char *jwt_audience; /* owned; auth.jwt.audience, default "vault" */
    char *token_file;   /* owned; auth.token_file (absolute), NULL when auth is jwt */
    int line;
};

struct rw_push_rule {
    char *match;        /* owned; pattern over "<upstream>/<repo>" */
    bool sign;
    bool attest;
    char **identities;  /* owned; SPIFFE ID patterns; empty = any */
    size_t n_identities;
    int line;
};

/* require.signature_on: for a multi-platform image, which manifest the signature must be on
 * (proxy/route_pull.c gives it meaning; policy/ parses and hashes it). */
enum rw_sig_on { RW_SIG_ON_EITHER = 0, RW_SIG_ON_INDEX, RW_SIG_ON_MANIFEST, RW_SIG_ON_COUNT };

struct rw_pull_rule {
    char *match;        /* owned */
    bool allow;         /* allow: true */
    char **signed_by;   /* owned; key names from keys: (validated at load) */
    size_t n_signed_by;
    enum rw_sig_on signature_on; /* require.signature_on; RW_SIG_ON_EITHER default */
    struct rw_att_req *attestations; /* owned; require.attestations: each must be met by one
                                      * verified DSSE envelope (policy/README.md "Attestations") */
    size_t n_attestations; /* <= RW_MAX_ATTESTATION_TYPES */
    enum rw_mode mode;  /* RW_MODE_INHERIT = pull.mode */
    int line;
};

struct rw_signer; /* opaque, policy/signer.c */

struct rw_config {
    char *path; /* owned; absolute path of the file */
    char *dir;  /* owned; its directory: relative paths resolve against it */
    struct rw_listen_cfg *listen;
    size_t n_listen;
    char *admin; /* owned; "host:port" or NULL */
    struct rw_upstream_cfg *upstreams;
    size_t n_upstreams;
    char *default_upstream; /* owned; NULL = requests without ns= are refused */
    struct {
        char *path;        /* owned; absolute; NULL = no cache */
        int64_t allow_ttl; /* seconds; default 86400 */
        int64_t deny_ttl;  /* seconds; default 30 */
        uint64_t map_size; /* bytes; default 256 MiB */
        int64_t tag_ttl;   /* seconds a tag->digest resolution is reused; default 0 (never) */
        bool serve_by_digest; /* serve verified manifests by digest from the cache; default true */
    } cache;
    char *deny_log; /* owned; absolute path or "-" (stdout); default "-" */
    struct rw_key_cfg *keys;
    size_t n_keys;
    struct {
        char *file_key; /* owned; absolute path of the PEM private key (signer.file.key) */
        struct rw_vault_cfg *vault; /* owned; signer.vault, NULL when absent */
    } signer_cfg;
    /* owned; NULL when no signer is configured. For signer.vault it stays NULL after
     * rw_config_load: the proxy installs the Vault backend (proxy/identity) before serving. */
    struct rw_signer *signer;
    char *spire_socket; /* owned; "unix:///abs/path" (spire.socket, else SPIFFE_ENDPOINT_SOCKET) */
    struct {
        char *builder_id; /* owned; provenance.builder_id (URI); NULL = regwarden's SPIFFE ID when
                           * known, else RW_ATTEST_BUILDER_ID */
        char *build_type; /* owned; provenance.build_type (URI); NULL = RW_ATTEST_BUILD_TYPE */
    } provenance;
    struct rw_keyring *keyring; /* ref; Vault key versions, set by the proxy; NULL = none known */
    struct rw_push_rule *push;
    size_t n_push;
    enum rw_mode pull_mode; /* RW_MODE_ENFORCE (default) or RW_MODE_AUDIT */
    bool gate_blobs;        /* pull.gate_blobs (default true): blobs only via an allowed manifest */
    struct rw_pull_rule *pull;
    size_t n_pull;
    char *log_level;  /* owned; "info" default */
    char *log_format; /* owned; "text" or "json" */
    uint8_t policy_hash[32]; /* sha256 over the canonical pull policy and trusted key SPKIs */
    char policy_hash_hex[65];
};

/**
 * Load and validate a config file (YAML 1.1 via libyaml; JSON is YAML too): every key of DESIGN.md,
 * unknown keys refused, key files loaded, patterns checked, upstream URLs well-formed
 * (http/https, host, optional port, no path/query/userinfo), rule key names defined.
 * @param[in]  path    config file
 * @param[out] out     new config with refcount 1, untouched on error
 * @param[out] err     on error: "file:line: message" (NUL-terminated, truncated to errlen)
 * @return 0; RW_ECONFIG (err says why); -ENOMEM.
 * Ownership: caller owns *out (rw_config_unref).  Thread: any.
 */
int rw_config_load(const char *path, struct rw_config **out, char *err, size_t errlen);
/** Same, from memory; @p name is used in error messages and as the base for relative paths. */
int rw_config_load_mem(const char *name, const char *base_dir, const char *text, size_t len,
                       struct rw_config **out, char *err, size_t errlen);
struct rw_config *rw_config_ref(struct rw_config *c);
/** Drop one reference; frees at zero and sets *pc to NULL. Thread: any (atomic refcount). */
void rw_config_unref(struct rw_config **pc);
const struct rw_upstream_cfg *rw_config_upstream(const struct rw_config *c, const char *name);
const struct rw_key_cfg *rw_config_key(const struct rw_config *c, const char *name);
/** True when a pull rule uses a keys.*.vault_transit key (verification needs the keyring). */
bool rw_config_uses_vault_keys(const struct rw_config *c);
/**
 * The policy part of a verdict cache key: policy_hash when no Vault key is used, else
 * sha256(policy_hash || rw_keyring_fingerprint): a verdict can't outlive a key version that
 * disappeared or appeared (the versions are not in policy_hash, which names the keys only).
 * Thread: any.
 */
void rw_config_verdict_policy(const struct rw_config *c, uint8_t out[32]);
/** Give @p c a reference on @p kr (drops a previous one). Thread: before publishing @p c. */
void rw_config_set_keyring(struct rw_config *c, struct rw_keyring *kr);
/** Parse "24h", "30s", "15m", "7d", "90" (seconds); -1 when invalid. */
int64_t rw_duration_parse(const char *s);

/* ------------------------------------------------------------------ rules */

/**
 * Glob over '/'-separated segments: '*' is exactly one segment (or the part of one segment
 * where it stands, e.g. "app-*"), '**' any number of segments (zero included).
 * Subject is "<upstream>/<repository>".
 */
bool rw_pattern_match(const char *pattern, const char *subject);
/** @return 0 when @p pattern is valid; RW_EINVAL otherwise (empty, '**' not a whole segment...). */
int rw_pattern_check(const char *pattern);
/** First pull rule matching "<upstream>/<repo>", or NULL (= deny no-rule). */
const struct rw_pull_rule *rw_policy_pull_rule(const struct rw_config *c, const char *upstream,
                                               const char *repo);
const struct rw_push_rule *rw_policy_push_rule(const struct rw_config *c, const char *upstream,
                                               const char *repo);
/** Effective mode of @p r (its override or pull.mode). */
enum rw_mode rw_policy_rule_mode(const struct rw_config *c, const struct rw_pull_rule *r);
const char *rw_reason_str(enum rw_reason r);
const char *rw_mode_str(enum rw_mode m);

/* ------------------------------------------------------------------ crypto */

void rw_sha256(const void *p, size_t n, uint8_t out[32]);
/** "sha256:" + 64 lowercase hex of @p p; @p out has room for 72 bytes. */
void rw_sha256_digest(const void *p, size_t n, char out[72]);
void rw_hex(const uint8_t *p, size_t n, char *out /* 2n+1 */);

struct rw_sha256_ctx; /* opaque streaming hash (blob bodies) */
int rw_sha256_new(struct rw_sha256_ctx **out);
void rw_sha256_update(struct rw_sha256_ctx *c, const void *p, size_t n);
void rw_sha256_final(struct rw_sha256_ctx *c, char out[72]);
void rw_sha256_free(struct rw_sha256_ctx **pc);

/** Load a PEM SubjectPublicKeyInfo (ECDSA P-256/384, RSA >= 2048, Ed25519). RW_ECRYPTO if not. */
int rw_pubkey_load_pem(const char *pem, size_t len, struct rw_pubkey **out);
int rw_pubkey_load_file(const char *path, struct rw_pubkey **out);
void rw_pubkey_free(struct rw_pubkey **pk);
/** DER of the SPKI (for hashing into the policy); @p out untouched on failure. */
int rw_pubkey_spki(const struct rw_pubkey *pk, struct rw_buf *out);
/**
 * Verify @p sig over @p msg: ECDSA with SHA-256 (DER, or raw r||s of the curve's size when not
 * DER), RSA PKCS#1 v1.5 SHA-256, Ed25519 pure.
 * @return 0 valid; RW_EBADSIG invalid or malformed signature.
 */
int rw_pubkey_verify(const struct rw_pubkey *pk, const uint8_t *msg, size_t len, const uint8_t *sig,
                     size_t siglen);
/**
 * RSASSA-PSS (SHA-256, MGF1-SHA-256, salt length 32) over @p msg; the in-toto reference
 * implementation signs DSSE this way (vector 11). Only DSSE verification uses it.
 * @return 0 valid; RW_EBADSIG invalid, malformed, or @p pk is not an RSA key.
 */
int rw_pubkey_verify_pss(const struct rw_pubkey *pk, const uint8_t *msg, size_t len,
                         const uint8_t *sig, size_t siglen);
/**
 * Verify @p sig over an already computed SHA-256 @p digest (Sigstore bundle messageSignature):
 * ECDSA (DER, or raw r||s of the curve's size) and RSA PKCS#1 v1.5 with the SHA-256 DigestInfo.
 * Ed25519 cannot verify a prehashed message: always RW_EBADSIG (fail closed).
 * @return 0 valid; RW_EBADSIG invalid, malformed, or an Ed25519 key; -ENOMEM.
 */
int rw_pubkey_verify_digest(const struct rw_pubkey *pk, const uint8_t digest[32],
                            const uint8_t *sig, size_t siglen);

/**
 * Credential for registry @p hostport ("host[:port]") in a docker config.json: auths.<key>.auth
 * (base64 "user:password") or auths.<key>.username/password; keys may be "host[:port]" or a URL
 * ("https://index.docker.io/v1/" matches every Docker Hub host name).
 * @param[out] basic     base64("user:password"), untouched on error
 * @param[out] username  the user name, untouched on error
 * @param[out] err       why not (names the host and field, never a value)
 * @return 0; -ENOENT no entry for the host; RW_EINVAL malformed; RW_ETOOBIG; -ENOMEM.
 * Ownership: caller owns *basic (a secret: wipe before freeing) and *username.  Thread: any.
 */
int rw_dockercfg_lookup(const char *json, size_t len, const char *hostport, char **basic,
                        char **username, char *err, size_t errlen);

/** Standard (or URL-safe) base64 decode with bound; RW_EINVAL on bad input, RW_ETOOBIG over max. */
int rw_base64_decode(const char *in, size_t inlen, uint8_t *out, size_t max, size_t *outlen);
/** Standard base64 with padding into @p out (NUL-terminated). */
int rw_base64_encode(const uint8_t *in, size_t inlen, struct rw_buf *out);

/* ------------------------------------------------------------------ keyring */

/*
 * Public key versions that arrive at run time (Vault transit, PROTOCOLS.md §7.3), per id
 * "<mount>/<key>". Thread-safe: one writer (the identity thread) replaces a whole id at a time;
 * verifiers on any worker take the read lock only for the EVP verify. Verification never waits
 * on Vault: it uses whatever versions are known now.
 */
struct rw_keyring;

int rw_keyring_new(struct rw_keyring **out);
struct rw_keyring *rw_keyring_ref(struct rw_keyring *kr);
void rw_keyring_unref(struct rw_keyring **pkr);
/**
 * Replace every version of @p id. @p keys[i] has version @p versions[i].
 * Ownership: takes every keys[i] (set to NULL), also on error.
 * @return 0; 1 when the set changed (fingerprint moved); -ENOMEM.
 */
int rw_keyring_put(struct rw_keyring *kr, const char *id, struct rw_pubkey **keys,
                   const int *versions, size_t n);
/** Versions known for @p id (0 = none yet). */
size_t rw_keyring_count(struct rw_keyring *kr, const char *id);
/**
 * Verify with ANY known version of @p id. @param[out] version the one that verified.
 * @return 0; RW_EBADSIG none verifies; -ENOENT no version of @p id is known.
 */
int rw_keyring_verify(struct rw_keyring *kr, const char *id, const uint8_t *msg, size_t len,
                      const uint8_t *sig, size_t siglen, int *version);
/** sha256 over every (id, version, SPKI), sorted; all zero for an empty ring. */
void rw_keyring_fingerprint(struct rw_keyring *kr, uint8_t out[32]);

/* ------------------------------------------------------------------ OCI syntax */

/** dist-spec repository grammar, length <= RW_MAX_REPO_LEN. */
bool rw_oci_name_valid(const char *s, size_t n);
/** Tag grammar [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. */
bool rw_oci_tag_valid(const char *s, size_t n);
/** "sha256:" + 64 lowercase hex or "sha512:" + 128 lowercase hex. */
bool rw_oci_digest_valid(const char *s, size_t n);

#define RW_MT_OCI_MANIFEST   "application/vnd.oci.image.manifest.v1+json"
#define RW_MT_OCI_INDEX      "application/vnd.oci.image.index.v1+json"
#define RW_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define RW_MT_DOCKER_LIST    "application/vnd.docker.distribution.manifest.list.v2+json"
#define RW_MT_OCI_CONFIG     "application/vnd.oci.image.config.v1+json"
#define RW_MT_SIMPLESIGNING  "application/vnd.dev.cosign.simplesigning.v1+json"
#define RW_ANN_COSIGN_SIG    "dev.cosignproject.cosign/signature"
#define RW_COSIGN_TYPE       "cosign container image signature"
#define RW_MT_DSSE_ENVELOPE  "application/vnd.dsse.envelope.v1+json"
#define RW_DSSE_INTOTO_TYPE  "application/vnd.in-toto+json"
#define RW_ANN_PREDICATE     "predicateType"
#define RW_INTOTO_STATEMENT_V1  "https://in-toto.io/Statement/v1"
#define RW_INTOTO_STATEMENT_V01 "https://in-toto.io/Statement/v0.1"
#define RW_SLSA_PROVENANCE_V1   "https://slsa.dev/provenance/v1"
#define RW_ATTEST_BUILD_TYPE    "https://regwarden.dev/push/v1"
#define RW_ATTEST_BUILDER_ID    "https://regwarden.dev/builder"
/* Evidence found through referrers (PROTOCOLS.md §5.6, §5.7) */
#define RW_AT_COSIGN_SIG        "application/vnd.dev.cosign.artifact.sig.v1+json"
#define RW_AT_COSIGN_ATT        "application/vnd.dev.cosign.artifact.att.v1+json"
#define RW_MT_BUNDLE_V03        "application/vnd.dev.sigstore.bundle.v0.3+json"
#define RW_MT_BUNDLE_LEGACY     "application/vnd.dev.sigstore.bundle+json;version=" /* 0.1..0.3 */
#define RW_COSIGN_SIGN_PREDICATE "https://sigstore.dev/cosign/sign/v1"
/* Accept list for the proxy's own manifest fetches (gotcha 1). */
#define RW_ACCEPT_ALL_MANIFESTS                                                                    \
    RW_MT_OCI_MANIFEST ", " RW_MT_OCI_INDEX ", " RW_MT_DOCKER_MANIFEST ", " RW_MT_DOCKER_LIST

/* ------------------------------------------------------------------ manifests */

struct rw_manifest_info {
    char media_type[128];  /* body "mediaType", else the Content-Type passed in, else "" */
    bool is_index;         /* OCI index or Docker manifest list */
    size_t n_children;     /* is_index: entries of manifests[] (<= RW_MAX_INDEX_CHILDREN) */
    char (*children)[72];  /* owned; digests of manifests[] (validated) */
    size_t n_layers;       /* manifest: layers[] count (<= RW_MAX_MANIFEST_LAYERS) */
    char (*blobs)[72];     /* owned; manifest: sha256 digests of config and layers (blob gating) */
    size_t n_blobs;
    bool has_subject;      /* a `subject` descriptor: an OCI 1.1 referrer attached to another */
};

/**
 * Parse an image manifest or index: JSON object, schemaVersion 2, every descriptor digest
 * valid (C26), bounded counts and depth. @p content_type may be NULL.
 * @return 0; RW_EPROTO (not a manifest we accept); RW_ETOOBIG; -ENOMEM.
 */
int rw_manifest_parse(const uint8_t *body, size_t len, const char *content_type,
                      struct rw_manifest_info *out);
void rw_manifest_info_fini(struct rw_manifest_info *m);

/* ------------------------------------------------------------------ cosign */

/**
 * Build cosign's simple-signing payload, byte-exact as sigstore's payload.Cosign marshals it:
 * {"critical":{"identity":{"docker-reference":REF},"image":{"docker-manifest-digest":DIGEST},
 * "type":"cosign container image signature"},"optional":null}
 * @p docker_ref is "<registry>/<repo>" without tag.
 */
int rw_cosign_payload_build(const char *docker_ref, const char *digest, struct rw_buf *out);

struct rw_cosign_payload {
    char digest[RW_MAX_DIGEST_LEN + 1];     /* critical.image.docker-manifest-digest */
    char docker_ref[512];                   /* critical.identity.docker-reference */
};
/** Parse and check a payload: critical.type exact, digest valid. RW_ESIGFORMAT otherwise. */
int rw_cosign_payload_parse(const uint8_t *p, size_t n, struct rw_cosign_payload *out);

struct rw_cosign_sig_layer {
    char media_type[128];
    char digest[72];          /* payload blob digest (validated) */
    uint64_t size;
    uint8_t sig[RW_MAX_SIG_BYTES]; /* decoded dev.cosignproject.cosign/signature */
    size_t sig_len;           /* 0 when the annotation is absent or empty */
    bool sig_valid_b64;       /* annotation present and decoded */
};

struct rw_cosign_sig_manifest {
    struct rw_cosign_sig_layer *layers; /* owned */
    size_t n_layers;                    /* <= RW_MAX_SIG_LAYERS (more are ignored, counted below) */
    size_t n_ignored;
};
/** Parse a `sha256-<hex>.sig` manifest. RW_ESIGFORMAT on shape errors; RW_ETOOBIG. */
int rw_cosign_sig_manifest_parse(const uint8_t *p, size_t n, struct rw_cosign_sig_manifest *out);
void rw_cosign_sig_manifest_fini(struct rw_cosign_sig_manifest *m);

/** "sha256-<hex>.sig" for a digest; RW_EINVAL if @p digest is not valid. */
int rw_cosign_sig_tag(const char *digest, char out[80]);
/** "sha256-<hex>.att" (attestations, PROTOCOLS.md §5.5); RW_EINVAL if @p digest is not valid. */
int rw_cosign_att_tag(const char *digest, char out[80]);

/* One layer to add to a cosign attachment manifest (.sig or .att). */
struct rw_cosign_layer_desc {
    const char *media_type;  /* borrowed; RW_MT_SIMPLESIGNING or RW_MT_DSSE_ENVELOPE */
    const char *digest;      /* borrowed; sha256 of the layer blob */
    uint64_t size;           /* <= @p max_size */
    uint64_t max_size;       /* RW_MAX_PAYLOAD_BYTES (.sig) or RW_MAX_ENVELOPE_BYTES (.att) */
    const char *sig_b64;     /* borrowed; dev.cosignproject.cosign/signature ("" in .att) */
    const char *const *ann_kv; /* borrowed; n_ann key/value pairs after the signature annotation */
    size_t n_ann;
};

/**
 * The generic form of rw_cosign_sig_manifest_build: @p existing (the current .sig/.att manifest,
 * may be NULL) plus the layer @p l (not added twice: same digest and signature annotation), plus
 * a config blob listing every layer digest.
 * @return 0; RW_EINVAL bad @p l; RW_ESIGFORMAT @p existing unreadable; RW_ETOOBIG; -ENOMEM.
 */
int rw_cosign_attach_manifest_build(const uint8_t *existing, size_t existing_len,
                                    const struct rw_cosign_layer_desc *l,
                                    struct rw_buf *config_out, struct rw_buf *manifest_out);

/**
 * Build the new signature manifest: the layers of @p existing (raw JSON of the current .sig
 * manifest, may be NULL) kept byte-for-byte in meaning, plus one new layer (payload digest/size,
 * base64 signature, extra annotations), plus the config descriptor. Also builds the config blob
 * (image config whose rootfs.diff_ids lists every layer digest).
 * @param[out] config_out  config blob bytes
 * @param[out] manifest_out manifest bytes (OCI image manifest)
 * A layer already present with the same payload digest and signature is not added twice.
 * @p ann_kv holds @p n_ann key/value pairs: ann_kv[2i] is a key, ann_kv[2i+1] its value.
 */
int rw_cosign_sig_manifest_build(const uint8_t *existing, size_t existing_len,
                                 const char *payload_digest, uint64_t payload_size,
                                 const char *sig_b64, const char *const *ann_kv, size_t n_ann,
                                 struct rw_buf *config_out, struct rw_buf *manifest_out);

/* ------------------------------------------------------------------ DSSE (PROTOCOLS.md §6.1) */

/**
 * PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, appended to @p out.
 * @return 0; -ENOMEM; RW_ETOOBIG (@p out bound).
 */
int rw_dsse_pae(const char *type, size_t type_len, const uint8_t *body, size_t body_len,
                struct rw_buf *out);

struct rw_dsse_sig {
    uint8_t sig[RW_MAX_SIG_BYTES]; /* decoded `sig` */
    size_t len;
};

struct rw_dsse_envelope {
    char payload_type[RW_MAX_DSSE_TYPE_LEN + 1];
    size_t payload_type_len;
    uint8_t *payload;          /* owned; decoded `payload` (NUL-terminated, not counted) */
    size_t payload_len;
    struct rw_dsse_sig *sigs;  /* owned; signatures that decoded (<= RW_MAX_DSSE_SIGS examined) */
    size_t n_sigs;
    size_t n_ignored;          /* over the bound, or not base64 / too long: never verified */
};

/**
 * Parse a DSSE envelope (JSON): payloadType (string), payload (std or URL-safe base64),
 * signatures (array, each object with a string `sig`; `keyid` ignored, unknown fields ignored).
 * @return 0; RW_ESIGFORMAT (shape); RW_ETOOBIG (over RW_MAX_ENVELOPE_BYTES, depth); -ENOMEM.
 * Ownership: fini @p out after success; untouched on failure.
 */
int rw_dsse_envelope_parse(const uint8_t *p, size_t n, struct rw_dsse_envelope *out);
void rw_dsse_envelope_fini(struct rw_dsse_envelope *e);

/**
 * Does any signature of @p e verify over PAE(e->payload_type, e->payload) with @p pk? ECDSA
 * (DER or raw r||s), Ed25519, RSA PKCS#1 v1.5, and for RSA keys also RSASSA-PSS (vector 11).
 * The payloadType is NOT checked here (the caller decides which types it accepts).
 * @return 0; RW_EBADSIG; -ENOMEM.
 */
int rw_dsse_verify(const struct rw_dsse_envelope *e, const struct rw_pubkey *pk);
/** Same with every known version of keyring id @p id (Vault keys). -ENOENT: no version known. */
int rw_dsse_verify_keyring(const struct rw_dsse_envelope *e, struct rw_keyring *kr, const char *id);

/**
 * Build an envelope in go-securesystemslib's field order:
 * {"payloadType":T,"payload":b64,"signatures":[{"keyid":"","sig":b64}]} (std base64).
 * @p type must be printable ASCII without '"' or '\'. @return 0; RW_EINVAL; -ENOMEM.
 */
int rw_dsse_envelope_build(const char *type, const uint8_t *payload, size_t len,
                           const uint8_t *sig, size_t siglen, struct rw_buf *out);

/* ------------------------------------------------------------------ in-toto / SLSA */

struct rw_attest_params {
    const char *subject_name;  /* borrowed; "<registry>/<repo>" */
    const char *digest;        /* borrowed; "sha256:<hex>" of the pushed manifest */
    const char *repository;    /* borrowed; externalParameters.repository */
    const char *reference;     /* borrowed; externalParameters.reference (tag or digest) */
    const char *pusher;        /* borrowed; client SPIFFE ID, NULL = anonymous (omitted) */
    const char *builder_id;    /* borrowed; NULL = RW_ATTEST_BUILDER_ID */
    const char *build_type;    /* borrowed; NULL = RW_ATTEST_BUILD_TYPE */
    const char *invocation_id; /* borrowed; the request id */
    int64_t started_on;        /* unix seconds */
    int64_t finished_on;
};

/**
 * The in-toto Statement v1 with an SLSA Provenance v1 predicate for one push (PROTOCOLS.md
 * §6.2, §6.3), compact JSON in a fixed key order, appended to @p out.
 * @return 0; RW_EINVAL (missing field, bad digest); -ENOMEM.
 */
int rw_attest_statement_build(const struct rw_attest_params *p, struct rw_buf *out);

/* Why a statement does not attest what was asked (rw_attest_statement_check). */
enum rw_attest_result {
    RW_ATTEST_OK = 0,
    RW_ATTEST_MALFORMED,    /* not a JSON in-toto Statement (v1 or v0.1) */
    RW_ATTEST_WRONG_TYPE,   /* predicateType differs from the one required */
    RW_ATTEST_NO_SUBJECT,   /* no subject has digest.sha256 == the served digest */
    RW_ATTEST_CONDITION,    /* a condition of the requirement does not hold */
    RW_ATTEST_RESULT_COUNT
};

/**
 * Check a statement: `_type` Statement v1 (v0.1 accepted), predicateType == @p predicate_type,
 * and a subject whose digest.sha256 equals the hex of @p digest ("sha256:<hex>").
 * @param[out] predicate_out  when not NULL: the statement's predicateType (truncated to @p cap),
 *                            "" when absent
 * @return 0 and *result set; -ENOMEM.
 */
int rw_attest_statement_check(const uint8_t *p, size_t n, const char *digest,
                              const char *predicate_type, enum rw_attest_result *result,
                              char *predicate_out, size_t cap);
const char *rw_attest_result_str(enum rw_attest_result r);

/* What one statement says about one attestation requirement (rw_attest_statement_judge). */
struct rw_attest_judgement {
    enum rw_attest_result result; /* OK, MALFORMED, WRONG_TYPE, NO_SUBJECT or CONDITION */
    size_t failed;                /* RW_ATTEST_CONDITION: 1-based index of the condition */
    char why[200];                /* RW_ATTEST_CONDITION: rw_cond_eval's sentence */
};

/**
 * Judge one statement against several requirements with one parse: each must find `_type`
 * Statement v1 (or v0.1), its predicateType, a subject whose digest.sha256 is the hex of
 * @p digest, and every condition holding over `predicate` (rw_cond_eval).
 * @param[out] out            @p n_reqs judgements, in the order of @p reqs
 * @param[out] predicate_out  when not NULL: the statement's predicateType, printable ASCII only
 *                            (other bytes as '?'), truncated to @p cap; "" when unreadable
 * @return 0; RW_EINVAL (bad arguments); -ENOMEM.
 * Thread: any.
 */
int rw_attest_statement_judge(const uint8_t *p, size_t n, const char *digest,
                              const struct rw_att_req *const *reqs, size_t n_reqs,
                              struct rw_attest_judgement *out, char *predicate_out, size_t cap);

/* ------------------------------------------------------------------ referrers (PROTOCOLS.md §1.9) */

struct rw_referrer_ann {
    char *key;   /* owned */
    char *value; /* owned */
};

/* One descriptor of a referrers index. Nothing in it is authenticated: it only says what to
 * fetch; the manifest fetched by digest decides. */
struct rw_referrer {
    char media_type[128];
    char digest[RW_MAX_DIGEST_LEN + 1]; /* validated */
    uint64_t size;
    char artifact_type[128];            /* "" when absent */
    struct rw_referrer_ann *ann;        /* owned; at most RW_MAX_REFERRER_ANNOTATIONS */
    size_t n_ann;
};

struct rw_referrers {
    struct rw_referrer *v; /* owned; at most RW_MAX_REFERRERS */
    size_t n;
    size_t n_ignored;      /* descriptors past RW_MAX_REFERRERS: never examined */
};

/**
 * Append the manifests[] of one referrers index (an API page or the sha256-<hex> fallback tag)
 * to @p acc. A page is taken whole or not at all: JSON object, schemaVersion 2, mediaType (when
 * present) the OCI index type, manifests an array of objects with a string mediaType, a valid
 * digest, an integer size >= 0, an optional string artifactType and string annotations. Past
 * RW_MAX_REFERRERS descriptors are counted in n_ignored only.
 * @return 0; RW_EPROTO malformed (@p acc untouched); RW_ETOOBIG (over
 *         RW_MAX_REFERRERS_PAGE_BYTES, or too deep); -ENOMEM (@p acc untouched).
 * Ownership: rw_referrers_fini @p acc (zero-initialised before the first call).  Thread: any.
 */
int rw_referrers_parse(const uint8_t *p, size_t n, struct rw_referrers *acc);
void rw_referrers_fini(struct rw_referrers *r);

/**
 * The target of the rel="next" link of a Link header (RFC 8288), resolved against @p base (the
 * absolute URL of the page that carried it). Only a target on the same origin as @p base
 * (scheme, host and port; no userinfo, no backslash) is returned: a Link header must never make
 * regwarden dial another host.
 * @return 0 and *out (owned); -ENOENT no rel="next"; RW_EPROTO malformed, not http(s), or another
 *         origin; RW_ETOOBIG over RW_MAX_LINK_URL; -ENOMEM.
 */
int rw_referrers_next(const char *base, const char *link, char **out);

enum rw_referrer_kind {
    RW_REFERRER_OTHER = 0,
    RW_REFERRER_COSIGN_SIG, /* RW_AT_COSIGN_SIG: simple-signing layers, like a .sig manifest */
    RW_REFERRER_COSIGN_ATT, /* RW_AT_COSIGN_ATT: DSSE layers, like an .att manifest */
    RW_REFERRER_BUNDLE,     /* a Sigstore bundle (v0.1 to v0.3) as the layer */
    RW_REFERRER_KIND_COUNT
};
/** The kind of an artifactType (exact strings; bundle media types of rw_bundle_media_type_ok). */
enum rw_referrer_kind rw_referrer_kind_of(const char *artifact_type);

struct rw_referrer_manifest {
    enum rw_referrer_kind kind;          /* from artifactType, else config.mediaType */
    char subject[RW_MAX_DIGEST_LEN + 1]; /* subject.digest (validated); "" when absent */
};
/**
 * What decides a referrer manifest: its kind and its subject (the layers are read with
 * rw_cosign_sig_manifest_parse, the same shape as a .sig/.att manifest).
 * @return 0; RW_ESIGFORMAT (not an image manifest, malformed subject); RW_ETOOBIG; -ENOMEM.
 */
int rw_referrer_manifest_parse(const uint8_t *p, size_t n, struct rw_referrer_manifest *out);

/* ------------------------------------------------------------------ Sigstore bundles (§5.7) */

enum rw_bundle_content { RW_BUNDLE_NONE = 0, RW_BUNDLE_DSSE, RW_BUNDLE_MESSAGE_SIGNATURE };

struct rw_bundle {
    unsigned version;                /* minor version: 1, 2 or 3 */
    enum rw_bundle_content content;
    bool has_public_key;             /* verificationMaterial.publicKey (a hint only) */
    bool has_certificate;            /* certificate or x509CertificateChain: carried, not checked */
    size_t n_tlog_entries;           /* carried, not checked (key-based verification) */
    struct rw_dsse_envelope env;     /* owned; content == RW_BUNDLE_DSSE */
    char digest_alg[32];             /* messageSignature.messageDigest.algorithm, "" if absent */
    uint8_t digest[64];              /* its decoded digest */
    size_t digest_len;
    uint8_t sig[RW_MAX_SIG_BYTES];   /* messageSignature.signature, decoded */
    size_t sig_len;
};

/** The bundle media types: RW_MT_BUNDLE_V03 and RW_MT_BUNDLE_LEGACY + 0.1, 0.2, 0.3. */
bool rw_bundle_media_type_ok(const char *mt);

/**
 * Parse a Sigstore bundle (JSON, <= RW_MAX_ENVELOPE_BYTES): a known mediaType, a
 * verificationMaterial object, and exactly one of dsseEnvelope (parsed as rw_dsse_envelope_parse
 * does) or messageSignature {messageDigest {algorithm, digest}, signature}.
 * @return 0; RW_ESIGFORMAT (shape, media type); RW_ETOOBIG; -ENOMEM.
 * Ownership: rw_bundle_fini @p out after success; untouched on failure.  Thread: any.
 */
int rw_bundle_parse(const uint8_t *p, size_t n, struct rw_bundle *out);
void rw_bundle_fini(struct rw_bundle *b);

/**
 * A messageSignature bundle signs @p digest ("sha256:<hex>") when its messageDigest algorithm is
 * SHA2_256, its digest equals @p digest, and its signature verifies over that digest with @p pk
 * (rw_pubkey_verify_digest). DSSE bundles verify with rw_dsse_verify(&b->env, ...).
 * @return 0; RW_ESIGFORMAT (no messageSignature, other algorithm, another digest); RW_EBADSIG;
 *         -ENOMEM.
 */
int rw_bundle_verify_message(const struct rw_bundle *b, const char *digest,
                             const struct rw_pubkey *pk);
/** The digest a messageSignature bundle signs, as "sha256:<hex>" into @p out.
 * @return 0; RW_ESIGFORMAT (no messageSignature, no messageDigest, or not SHA2_256). */
int rw_bundle_message_digest(const struct rw_bundle *b, char out[72]);

/* ------------------------------------------------------------------ signer */

/* Called exactly once; may be called before rw_signer_sign returns (file signer).
 * @p sig is DER/raw signature bytes; @p key_version e.g. "file" or "vault:v2". */
typedef void rw_signer_done_cb(void *arg, int rc, const uint8_t *sig, size_t siglen,
                               const char *key_version);

struct rw_signer_ops {
    const char *name; /* "file", "vault" */
    int (*sign)(void *impl, const uint8_t *msg, size_t len, rw_signer_done_cb *cb, void *arg);
    void (*free)(void *impl);
};

/** A signer over a PEM private key (ECDSA P-256 PKCS#8 or SEC1, Ed25519, RSA PKCS#1v1.5). */
int rw_signer_file_new(const char *key_path, struct rw_signer **out);
int rw_signer_new(const struct rw_signer_ops *ops, void *impl, struct rw_signer **out);
void rw_signer_free(struct rw_signer **ps);
const char *rw_signer_name(const struct rw_signer *s);
/** Sign @p msg (the whole message; the backend hashes). @return 0 when cb will be/was called. */
int rw_signer_sign(struct rw_signer *s, const uint8_t *msg, size_t len, rw_signer_done_cb *cb,
                   void *arg);

/* A cancellable signing operation (R13): Vault signs asynchronously, and the client may leave. */
struct rw_signer_op;
/**
 * Like rw_signer_sign, with a handle. When cb already ran, *out is NULL on return 0; otherwise
 * *out is the handle until cb runs. rw_signer_cancel stops cb from running (the backend's work
 * finishes and is discarded). Thread: the caller's loop; cb runs on it.
 */
int rw_signer_sign_start(struct rw_signer *s, const uint8_t *msg, size_t len,
                         rw_signer_done_cb *cb, void *arg, struct rw_signer_op **out);
/** Idempotent; NULLs *pop. Must not be called after cb ran. */
void rw_signer_cancel(struct rw_signer_op **pop);

/* ------------------------------------------------------------------ evaluation */

/* Result of an evidence fetch. @p status: HTTP status (0 on transport error, then rc < 0).
 * @p body is borrowed for the duration of the callback only. */
typedef void rw_policy_fetch_cb(void *arg, int rc, int status, const uint8_t *body, size_t len);

/* One referrers answer, borrowed for the duration of the callback only. */
struct rw_policy_referrers_page {
    int status;               /* HTTP status; 0 on transport error (then rc < 0) */
    const char *url;          /* absolute URL that answered: the base of a relative Link */
    const char *content_type; /* NULL when absent */
    const char *link;         /* the Link header, NULL when absent */
    const uint8_t *body;
    size_t len;
};
typedef void rw_policy_referrers_cb(void *arg, int rc, const struct rw_policy_referrers_page *pg);

/* Evidence I/O the proxy provides (R23). Each call must call @p cb exactly once, possibly before
 * returning. Both fetch from the image's own repository on its own upstream. */
struct rw_policy_fetch_ops {
    /* GET /v2/<repo>/manifests/<reference> with an Accept of every manifest type, body <= max */
    int (*fetch_manifest)(void *io, const char *reference, size_t max, rw_policy_fetch_cb *cb,
                          void *arg);
    /* GET /v2/<repo>/blobs/<digest>, body <= max (the caller checks the digest) */
    int (*fetch_blob)(void *io, const char *digest, size_t max, rw_policy_fetch_cb *cb,
                      void *arg);
    /* GET /v2/<repo>/referrers/<digest>[?artifactType=<t>] (@p next NULL), or the next page
     * @p next: an absolute URL the caller took from a Link header and checked to be on the
     * previous page's origin (the op refuses one that leaves the upstream: it returns non-zero
     * without calling back). No redirect is followed; body <= max. NULL: the upstream's
     * referrers are not consulted (cosign tags only). */
    int (*fetch_referrers)(void *io, const char *digest, const char *artifact_type,
                           const char *next, size_t max, rw_policy_referrers_cb *cb, void *arg);
};

/* Called once with the decision. rc != 0 means "could not decide" (the caller fails closed). */
typedef void rw_policy_done_cb(void *arg, int rc, const struct rw_verdict *v);

struct rw_policy_eval;

/**
 * Decide whether manifest @p digest may be served under @p rule (which must have signed_by):
 * fetch sha256-<hex>.sig, for each layer (bounded) fetch the payload blob, check its digest,
 * parse it, check critical.type and docker-manifest-digest == @p digest, verify the signature
 * with each key of rule->signed_by. Allow on the first layer that passes everything.
 * Deny reasons: no-signature (no .sig manifest, or no layers), untrusted-key (a well-formed,
 * digest-bound signature that no listed key verifies... and no other layer passes),
 * bad-signature (payload digest mismatch, wrong critical.type, payload for another digest,
 * malformed signature), upstream-error (fetch failed: transport, 401, 5xx). A .sig tag 404
 * (MANIFEST_UNKNOWN, NAME_UNKNOWN, bare 404) means "no signature".
 * With rule->attestations, a signature that allows is not enough: sha256-<hex>.att is fetched
 * and, for every required predicate type, some DSSE layer (bounded) must verify with a key of
 * signed_by, carry payloadType application/vnd.in-toto+json and a statement of that type whose
 * subject binds @p digest; else deny missing-attestation. Fetch errors: upstream-error.
 * Ownership: @p cfg and @p rule must stay alive until cb (caller holds a config ref).
 * Handle: when every fetch completed synchronously, cb has already run and *out is NULL on
 * return 0. Otherwise *out is the handle until cb runs; after cb it is invalid (do not cancel it;
 * calling rw_policy_eval_cancel from inside cb is allowed). A fetch op that returns non-zero must
 * not call its cb (it counts as a transport error). A fetch cb arriving after cancel is harmless:
 * the evaluation is freed only when no fetch is outstanding.
 * @return 0; RW_EINVAL (bad arguments, rule without signed_by, digest not sha256); -ENOMEM
 *         (then cb is never called).
 * Thread: the caller's loop; cb runs on it.
 */
int rw_policy_eval_start(const struct rw_config *cfg, const struct rw_pull_rule *rule,
                         const char *digest, const struct rw_policy_fetch_ops *ops, void *io,
                         rw_policy_done_cb *cb, void *arg, struct rw_policy_eval **out);
/** Stop an evaluation; cb is not called afterwards. Idempotent on NULL. */
void rw_policy_eval_cancel(struct rw_policy_eval **pe);

/** The fail-closed helper (R7): a deny verdict for an error that stopped a decision. */
struct rw_verdict rw_verdict_fail_closed(int rc, enum rw_reason reason, const char *detail);

#endif
