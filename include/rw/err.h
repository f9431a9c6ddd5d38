/* SPDX-License-Identifier: MIT */
/*
 * Error codes shared by every module. Functions return 0, a negative errno, or one of the
 * RW_E* codes below (a band from -1000 down, so it never collides with errno values).
 */
#ifndef RW_ERR_H
#define RW_ERR_H

#include <stdbool.h>

enum rw_err {
    RW_EPROTO = -1001,       /* peer protocol violation (HTTP, JSON shape, ...) */
    RW_EUPSTREAM = -1002,    /* upstream unreachable or answered an error */
    RW_ECONFIG = -1003,      /* configuration invalid */
    RW_ESIGFORMAT = -1004,   /* signature or payload malformed */
    RW_EINTERNAL = -1005,    /* broken invariant */
    RW_ETOOBIG = -1006,      /* input over a bound from rw/limits.h */
    RW_EDIGEST = -1007,      /* content does not hash to the digest it claims */
    RW_ECACHECORRUPT = -1008,/* cache record does not decode */
    RW_ECRYPTO = -1009,      /* OpenSSL failed (key load, sign) */
    RW_EBADSIG = -1010,      /* signature does not verify */
    RW_ETIMEOUT = -1011,     /* operation timed out */
    RW_EINVAL = -1012,       /* syntactically invalid input (name, digest, tag) */
    RW_ECACHEFULL = -1013,   /* LMDB map is full */
    RW_EUNAVAIL = -1014,     /* a dependency (Vault, SPIRE) is down or slow: retry later */
    RW_EAUTH = -1015         /* Vault refused our identity (role/audience mismatch, bad token) */
};

/** Human-readable text for any code this project returns (errno or RW_E*). Never NULL. */
const char *rw_strerror(int rc);

/** True when the connection carrying the failing request must be closed. */
bool rw_err_is_fatal(int rc);

#endif
