/* SPDX-License-Identifier: MIT */
/* OCI error bodies (dist-spec §error codes), including the contract's 403 DENIED body. */
#ifndef RW_PROXY_OCI_ERRORS_H
#define RW_PROXY_OCI_ERRORS_H

#include "rw/buf.h"

/** {"errors":[{"code":CODE,"message":MSG,"detail":{}}]} with correct JSON escaping. */
int rw_oci_error_body(struct rw_buf *out, const char *code, const char *message);
/**
 * The contract's denied body:
 * {"errors":[{"code":"DENIED","message":MSG,"detail":{"reason":REASON,"request_id":ID}}]}
 */
int rw_oci_denied_body(struct rw_buf *out, const char *message, const char *reason,
                       const char *request_id);

#endif
