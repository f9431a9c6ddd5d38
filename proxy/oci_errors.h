/* SPDX-License-Identifier: MIT */
/* OCI error bodies (dist-spec §error codes), including the contract's 403 DENIED body. */
#ifndef RW_PROXY_OCI_ERRORS_H
#define RW_PROXY_OCI_ERRORS_H

#include <stddef.h>

#include "rw/buf.h"

#define RW_OCI_MESSAGE_MAX 1024u /* bytes of message kept in a body (longer is cut) */

/**
 * Append {"errors":[{"code":CODE,"message":MSG,"detail":{}}]} to @p out, JSON-escaped.
 * @param[in] code     dist-spec code: upper-case letters and '_' only
 * @param[in] message  one sentence, NULL = ""; invalid UTF-8 bytes become '?', cut at
 *                     RW_OCI_MESSAGE_MAX bytes on a character boundary
 * @return 0; -EINVAL (bad code); -ENOMEM; RW_ETOOBIG (@p out's cap). @p out unchanged on error.
 * Ownership: strings borrowed for the call.  Thread: any.
 */
int rw_oci_error_body(struct rw_buf *out, const char *code, const char *message);
/**
 * The contract's denied body:
 * {"errors":[{"code":"DENIED","message":MSG,"detail":{"reason":REASON,"request_id":ID}}]}
 * NULL @p reason or @p request_id is written as JSON null. Same codes as rw_oci_error_body().
 */
int rw_oci_denied_body(struct rw_buf *out, const char *message, const char *reason,
                       const char *request_id);
/**
 * Copy @p src into @p dst (@p cap bytes, always NUL-terminated) as valid UTF-8 without NULs:
 * every byte that does not start a well-formed sequence becomes '?', and the copy stops at a
 * character boundary. Shared by everything here that hands client text to jansson.
 * @return bytes written, not counting the NUL; 0 for NULL @p src.  Thread: any (pure).
 */
size_t rw_oci_text_sanitize(char *dst, size_t cap, const char *src);

#endif
