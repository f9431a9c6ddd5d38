/* SPDX-License-Identifier: MIT */
/*
 * The deny log (R15 channel 2): one JSON object per line, exactly the contract's schema
 * (DESIGN.md "Deny log"). Written with one write(2) per line on an O_APPEND descriptor, so lines
 * from several worker threads never interleave. Never receives secrets.
 */
#ifndef RW_PROXY_DENYLOG_H
#define RW_PROXY_DENYLOG_H

#include <stdint.h>

struct rw_denylog;

/* Every string is borrowed for the duration of the call; NULL is written as JSON null. */
struct rw_deny_event {
    const char *event;       /* "deny" or "audit-deny" */
    const char *request_id;
    const char *client_addr; /* "10.0.0.7" */
    const char *identity;    /* SPIFFE ID or NULL */
    const char *user_agent;
    const char *registry;    /* upstream name, or the ns value when unknown-upstream */
    const char *repository;
    const char *reference;   /* tag or digest as requested */
    const char *digest;      /* digest of the bytes seen, or NULL */
    const char *rule;        /* the rule's match pattern, or NULL (no-rule) */
    const char *mode;        /* "enforce" or "audit" */
    const char *reason;      /* contract reason string */
    const char *detail;      /* one sentence */
};

struct rw_signed_event {
    const char *request_id;
    const char *client_addr;
    const char *identity;
    const char *user_agent;
    const char *registry;
    const char *repository;
    const char *reference;   /* the tag or digest the client pushed to */
    const char *digest;      /* sha256 of the manifest bytes signed */
    const char *rule;        /* push rule pattern */
    const char *key;         /* signer name ("file", "vault") */
    const char *key_version; /* e.g. "file" or "vault:v2" */
    const char *signature;   /* the signature tag, "sha256-<hex>.sig" */
};

/* Bounds on what one line carries; longer values are cut on a UTF-8 character boundary. */
#define RW_DENYLOG_DETAIL_MAX 512u  /* detail */
#define RW_DENYLOG_UA_MAX     256u  /* client.user_agent */
#define RW_DENYLOG_FIELD_MAX  512u  /* every other string field */
/* How often (seconds) a write checks that the path still names the open file (rotation). */
#define RW_DENYLOG_CHECK_S    1

/**
 * Open @p path for appending (O_APPEND|O_CREAT|O_CLOEXEC, created 0640), or stdout when "-".
 * @return 0; -EINVAL; -ENOMEM; negative errno from open(2).
 * Ownership: *out is owned by the caller (rw_denylog_close()); @p path is copied.
 * Thread: startup.
 */
int rw_denylog_open(const char *path, struct rw_denylog **out);
/** Close and free *pd (stdout stays open); no-op on NULL. */
void rw_denylog_close(struct rw_denylog **pd);
/**
 * Reopen the same path (log rotation; SIGUSR1). The new file replaces the old descriptor
 * atomically (dup3), so writers on other threads never see a closed descriptor. Writes also
 * reopen by themselves, at most every RW_DENYLOG_CHECK_S seconds, when the file was moved or
 * deleted (inode at the path differs, or st_nlink is 0).
 * @return 0; negative errno (the old file stays in use).  Thread: any.
 */
int rw_denylog_reopen(struct rw_denylog *d);
/**
 * Write one deny/audit-deny line with the current UTC time in milliseconds.
 * Strings that are not UTF-8 are repaired ('?'), then JSON-escaped by jansson.
 * @return 0; -EINVAL; -ENOMEM; negative errno from write(2); -EIO on a short write.
 * Thread: any (one write(2) per line).
 */
int rw_denylog_deny(struct rw_denylog *d, const struct rw_deny_event *e);
/** Write one "event":"signed" line. Same codes as rw_denylog_deny().  Thread: any. */
int rw_denylog_signed(struct rw_denylog *d, const struct rw_signed_event *e);

#endif
