/* SPDX-License-Identifier: MIT */
/*
 * Request-target parsing for the OCI distribution routes: validate before routing, caching or
 * any upstream call (C26). The path is percent-decoded once and every part validated; the path
 * forwarded upstream is rebuilt from the validated parts, never copied from the client.
 */
#ifndef RW_PROXY_IMAGE_REF_H
#define RW_PROXY_IMAGE_REF_H

#include <stdbool.h>
#include <stddef.h>

#include "rw/limits.h"

enum rw_route {
    RW_ROUTE_PING = 0,      /* /v2/ */
    RW_ROUTE_CATALOG,       /* /v2/_catalog */
    RW_ROUTE_MANIFEST,      /* /v2/<name>/manifests/<tag|digest> */
    RW_ROUTE_BLOB,          /* /v2/<name>/blobs/<digest> */
    RW_ROUTE_UPLOAD_START,  /* /v2/<name>/blobs/uploads/ (also without trailing '/') */
    RW_ROUTE_UPLOAD,        /* /v2/<name>/blobs/uploads/<session id> */
    RW_ROUTE_TAGS,          /* /v2/<name>/tags/list */
    RW_ROUTE_REFERRERS,     /* /v2/<name>/referrers/<digest> */
    RW_ROUTE_COUNT
};

#define RW_MAX_QUERY_LEN 4096u
#define RW_MAX_UPLOAD_ID_LEN 512u

struct rw_route_match {
    enum rw_route route;
    char repo[RW_MAX_REPO_LEN + 1];          /* "" for PING and CATALOG */
    char reference[RW_MAX_UPLOAD_ID_LEN + 1];/* tag or digest (MANIFEST), digest (BLOB,
                                                REFERRERS), session id (UPLOAD), "" otherwise */
    bool by_digest;                          /* reference is a valid digest */
    bool has_ns;
    char ns[RW_MAX_NAME_LEN + 1];            /* decoded value of ns= */
    char query[RW_MAX_QUERY_LEN + 1];        /* the client's query minus ns=, raw, "" if none */
};

/**
 * Parse an origin-form request target ("/v2/...?..."), as received (not yet decoded).
 * @param[out] out       filled on success, untouched on failure
 * @param[out] status    on failure: HTTP status to answer (400 or 404)
 * @param[out] oci_code  on failure: OCI error code ("NAME_INVALID", "DIGEST_INVALID",
 *                       "TAG_INVALID", "NAME_UNKNOWN" (404: not an OCI route),
 *                       "BLOB_UPLOAD_UNKNOWN" (404: malformed upload id), "UNSUPPORTED"
 *                       (bad query bytes: 400; target or query too long: 414)); static string
 * @return 0; RW_EINVAL (bad input: status/oci_code set); RW_ETOOBIG (over a bound: 414 for the
 *         target or query, 400/404 with the field's code for a name, tag, digest, id or ns).
 * Rules: must start with "/v2/"; no "//" , "." or ".." segments (before or after decoding);
 * a '%' must be followed by two hex digits; decoded bytes must be printable ASCII without
 * '/' inside a component where the raw form had '%2F'; name, tag and digest per dist-spec
 * (rw_oci_name_valid/tag_valid/digest_valid); upload ids [A-Za-z0-9._=:-]{1,512};
 * ns value: a registry host[:port] (letters, digits, '.', '-', ':', '[', ']'), <= 128.
 * Query: "&"-separated; parameters other than ns are kept verbatim in order; the query may
 * hold only RFC 3986 query characters; ns appearing twice is refused.
 * Thread: any (pure).
 */
int rw_route_parse(const char *target, size_t len, struct rw_route_match *out, int *status,
                   const char **oci_code);

/** Route name for metrics and logs: "ping", "catalog", "manifest", "blob", "upload_start",
 *  "upload", "tags", "referrers"; "unknown" out of range. */
const char *rw_route_str(enum rw_route r);

#endif
