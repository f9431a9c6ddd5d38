/* SPDX-License-Identifier: MIT */
/* rw_strerror(): one table of project codes; errno values fall through to strerror_r. */
#include <errno.h>
#include <string.h>

#include "rw/err.h"

const char *rw_strerror(int rc)
{
    static _Thread_local char tbuf[96];

    switch (rc) {
    case 0:
        return "ok";
    case RW_EPROTO:
        return "protocol error";
    case RW_EUPSTREAM:
        return "upstream error";
    case RW_ECONFIG:
        return "invalid configuration";
    case RW_ESIGFORMAT:
        return "malformed signature";
    case RW_EINTERNAL:
        return "internal error";
    case RW_ETOOBIG:
        return "input too large";
    case RW_EDIGEST:
        return "digest mismatch";
    case RW_ECACHECORRUPT:
        return "cache record corrupt";
    case RW_ECRYPTO:
        return "crypto error";
    case RW_EBADSIG:
        return "signature does not verify";
    case RW_ETIMEOUT:
        return "timed out";
    case RW_EINVAL:
        return "invalid input";
    case RW_ECACHEFULL:
        return "cache map full";
    case RW_EUNAVAIL:
        return "signer unavailable (Vault or SPIRE down or slow)";
    case RW_EAUTH:
        return "Vault refused regwarden's identity";
    default:
        break;
    }
    if (rc < 0 && rc > -1000) {
        /* GNU strerror_r returns the message pointer (may not use tbuf) */
        return strerror_r(-rc, tbuf, sizeof(tbuf));
    }
    return "unknown error";
}

bool rw_err_is_fatal(int rc)
{
    return rc == -ENOMEM || rc == RW_EINTERNAL || rc == RW_EPROTO;
}
