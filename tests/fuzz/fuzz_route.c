/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: OCI request-target parsing (proxy/image_ref.c, R21). Besides "no crash", checks
 * the invariants the router relies on: a parsed target yields a valid name and reference, no
 * "..", and a query that no longer carries ns=.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rw/err.h"
#include "rw/policy.h"

#include "image_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rw_route_match m;
    const char *code = NULL;
    int status = 0;
    int rc;

    rc = rw_route_parse((const char *)data, size, &m, &status, &code);
    if (rc != 0) {
        check(rc == RW_EINVAL || rc == RW_ETOOBIG);
        check(status == 400 || status == 404 || status == 414);
        check(code != NULL);
        return 0;
    }
    check(m.route < RW_ROUTE_COUNT);
    check(strstr(m.repo, "..") == NULL && strstr(m.repo, "//") == NULL);
    check(strlen(m.query) <= RW_MAX_QUERY_LEN);
    check(strncmp(m.query, "ns=", 3) != 0 && strstr(m.query, "&ns=") == NULL);
    switch (m.route) {
    case RW_ROUTE_PING:
    case RW_ROUTE_CATALOG:
        check(m.repo[0] == '\0' && m.reference[0] == '\0');
        break;
    case RW_ROUTE_MANIFEST:
        check(rw_oci_name_valid(m.repo, strlen(m.repo)));
        check(m.by_digest ? rw_oci_digest_valid(m.reference, strlen(m.reference))
                          : rw_oci_tag_valid(m.reference, strlen(m.reference)));
        break;
    case RW_ROUTE_BLOB:
    case RW_ROUTE_REFERRERS:
        check(rw_oci_name_valid(m.repo, strlen(m.repo)) && m.by_digest);
        check(rw_oci_digest_valid(m.reference, strlen(m.reference)));
        break;
    case RW_ROUTE_UPLOAD:
        check(m.reference[0] != '\0' && strchr(m.reference, '/') == NULL);
        check(rw_oci_name_valid(m.repo, strlen(m.repo)));
        break;
    default:
        check(rw_oci_name_valid(m.repo, strlen(m.repo)));
        break;
    }
    if (m.has_ns) {
        check(m.ns[0] != '\0' && strchr(m.ns, '/') == NULL && strchr(m.ns, '@') == NULL);
    }
    return 0;
}
