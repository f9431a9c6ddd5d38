/* SPDX-License-Identifier: MIT */
/*
 * OCI error bodies: the dist-spec shape {"errors":[{"code","message","detail"}]} and the
 * contract's 403 DENIED body, built with jansson so escaping is always right, plus the UTF-8
 * sanitiser that keeps client-supplied text (user agents, names) from breaking a JSON dump.
 * Builds bytes only; the caller sets the status and Content-Type: application/json.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "rw/buf.h"
#include "rw/err.h"
#include "rw/mem.h"

#include "oci_errors.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

/* Length of the well-formed UTF-8 sequence at s[0..n), 0 if it is not one (RFC 3629). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;

    if (s[0] < 0x80) {
        return 1;
    } else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1fu;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0u) != 0x80u) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    /* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

size_t rw_oci_text_sanitize(char *dst, size_t cap, const char *src)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t n;
    size_t o = 0;

    if (cap == 0) {
        return 0;
    }
    if (src == NULL) {
        dst[0] = '\0';
        return 0;
    }
    n = strlen(src);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(s + i, n - i);

        if (k == 0) {
            if (o + 1 >= cap) {
                break;
            }
            dst[o++] = '?';
            i++;
            continue;
        }
        if (o + k >= cap) {
            break;
        }
        memcpy(dst + o, s + i, k);
        o += k;
        i += k;
    }
    dst[o] = '\0';
    return o;
}

static bool code_valid(const char *code)
{
    if (code == NULL || code[0] == '\0' || strlen(code) > 64) {
        return false;
    }
    for (const char *p = code; *p != '\0'; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || *p == '_')) {
            return false;
        }
    }
    return true;
}

/* A JSON string of at most @p max bytes of @p s, or JSON null for NULL. New reference. */
static json_t *text(const char *s, size_t max)
{
    char buf[RW_OCI_MESSAGE_MAX + 1];
    size_t n;

    if (s == NULL) {
        return json_null();
    }
    n = rw_oci_text_sanitize(buf, (max < RW_OCI_MESSAGE_MAX ? max : RW_OCI_MESSAGE_MAX) + 1, s);
    return json_stringn(buf, n);
}

/* Dump @p root and append it to @p out in one piece. */
static int append_json(struct rw_buf *out, const json_t *root)
{
    char *tmp = NULL;
    size_t need;
    int rc;

    need = json_dumpb(root, NULL, 0, DUMP_FLAGS);
    if (need == 0) {
        rc = -ENOMEM;
        goto out;
    }
    tmp = rw_malloc(need);
    if (tmp == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (json_dumpb(root, tmp, need, DUMP_FLAGS) != need) {
        rc = RW_EINTERNAL;
        goto out;
    }
    rc = rw_buf_append(out, tmp, need);
out:
    rw_free(tmp);
    return rc;
}

/* {"errors":[{"code":code,"message":message,"detail":detail}]}; steals @p detail. */
static int body(struct rw_buf *out, const char *code, const char *message, json_t *detail)
{
    json_t *root = NULL;
    json_t *err = NULL;
    json_t *list = NULL;
    int rc = -ENOMEM;

    err = json_object();
    if (err == NULL || detail == NULL ||
        json_object_set_new(err, "code", json_string(code)) != 0 ||
        json_object_set_new(err, "message", text(message != NULL ? message : "",
                                                 RW_OCI_MESSAGE_MAX)) != 0) {
        goto out;
    }
    rc = json_object_set_new(err, "detail", detail);
    detail = NULL;
    if (rc != 0) {
        rc = -ENOMEM;
        goto out;
    }
    list = json_array();
    root = json_object();
    if (list == NULL || root == NULL || json_array_append(list, err) != 0 ||
        json_object_set(root, "errors", list) != 0) {
        rc = -ENOMEM;
        goto out;
    }
    rc = append_json(out, root);
out:
    json_decref(detail);
    json_decref(err);
    json_decref(list);
    json_decref(root);
    return rc;
}

int rw_oci_error_body(struct rw_buf *out, const char *code, const char *message)
{
    if (out == NULL || !code_valid(code)) {
        return -EINVAL;
    }
    return body(out, code, message, json_object());
}

int rw_oci_denied_body(struct rw_buf *out, const char *message, const char *reason,
                       const char *request_id)
{
    json_t *detail = NULL;

    if (out == NULL) {
        return -EINVAL;
    }
    detail = json_object();
    if (detail != NULL && (json_object_set_new(detail, "reason", text(reason, 64)) != 0 ||
                           json_object_set_new(detail, "request_id", text(request_id, 128)) != 0)) {
        json_decref(detail);
        detail = NULL;
    }
    return body(out, "DENIED", message, detail);
}
