/* SPDX-License-Identifier: MIT */
/*
 * Just enough protobuf (proto3 wire format) for the Workload API messages regwarden uses
 * (PROTOCOLS.md §8.1): encode JWTSVIDRequest, decode JWTSVIDResponse. Every length is checked
 * against what is left; unknown fields are skipped; nesting is one level. Fuzzed (fuzz_pb).
 */
#include <errno.h>
#include <string.h>

#include "rw/err.h"
#include "rw/identity.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct pb_rd {
    const uint8_t *p;
    size_t n;
    size_t off;
};

static int rd_varint(struct pb_rd *r, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b;

        if (r->off >= r->n) {
            return RW_EPROTO;
        }
        b = r->p[r->off++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return RW_EPROTO; /* over 10 bytes */
}

/* Next field: number, wire type, and for WT_LEN the bytes. Skips nothing itself. */
static int rd_field(struct pb_rd *r, uint32_t *field, int *wt, const uint8_t **val, size_t *len)
{
    uint64_t key;
    uint64_t v;
    int rc = rd_varint(r, &key);

    if (rc != 0) {
        return rc;
    }
    *field = (uint32_t)(key >> 3);
    *wt = (int)(key & 7);
    if (*field == 0 || (key >> 3) > 0x1fffffff) {
        return RW_EPROTO;
    }
    switch (*wt) {
    case WT_VARINT:
        return rd_varint(r, &v);
    case WT_I64:
    case WT_I32: {
        size_t w = *wt == WT_I64 ? 8 : 4;

        if (r->n - r->off < w) {
            return RW_EPROTO;
        }
        r->off += w;
        return 0;
    }
    case WT_LEN:
        rc = rd_varint(r, &v);
        if (rc != 0) {
            return rc;
        }
        if (v > r->n - r->off) {
            return RW_EPROTO;
        }
        *val = r->p + r->off;
        *len = (size_t)v;
        r->off += (size_t)v;
        return 0;
    default:
        return RW_EPROTO; /* groups (3, 4) are not used by these messages */
    }
}

static int put_varint(struct rw_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;

    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v != 0) {
            tmp[n] |= 0x80;
        }
        n++;
    } while (v != 0);
    return rw_buf_append(b, tmp, n);
}

static int put_str(struct rw_buf *b, uint32_t field, const char *s)
{
    size_t n = strlen(s);
    int rc = put_varint(b, ((uint64_t)field << 3) | WT_LEN);

    rc = rc != 0 ? rc : put_varint(b, n);
    return rc != 0 ? rc : rw_buf_append(b, s, n);
}

int rw_id_pb_jwtsvid_request(const char *audience, const char *spiffe_id, struct rw_buf *out)
{
    int rc;

    if (audience == NULL || audience[0] == '\0') {
        return RW_EINVAL;
    }
    rc = put_str(out, 1, audience);
    if (rc == 0 && spiffe_id != NULL && spiffe_id[0] != '\0') {
        rc = put_str(out, 2, spiffe_id);
    }
    return rc;
}

int rw_id_pb_jwtsvid_response(const uint8_t *p, size_t n, char *spiffe_id, size_t cap,
                              struct rw_secret *svid)
{
    struct pb_rd r = {p, n, 0};

    if (n > RW_ID_PB_MAX_MSG) {
        return RW_ETOOBIG;
    }
    while (r.off < r.n) {
        uint32_t field;
        int wt;
        const uint8_t *val = NULL;
        size_t len = 0;
        int rc = rd_field(&r, &field, &wt, &val, &len);

        if (rc != 0) {
            return rc;
        }
        if (field != 1) {
            continue;
        }
        if (wt != WT_LEN) {
            return RW_EPROTO;
        }
        {
            struct pb_rd in = {val, len, 0};
            const uint8_t *id = NULL;
            size_t id_len = 0;
            const uint8_t *tok = NULL;
            size_t tok_len = 0;

            while (in.off < in.n) {
                uint32_t f2;
                int wt2;
                const uint8_t *v2 = NULL;
                size_t l2 = 0;

                rc = rd_field(&in, &f2, &wt2, &v2, &l2);
                if (rc != 0) {
                    return rc;
                }
                if ((f2 == 1 || f2 == 2 || f2 == 3) && wt2 != WT_LEN) {
                    return RW_EPROTO;
                }
                if (f2 == 1) {
                    id = v2;
                    id_len = l2;
                } else if (f2 == 2) {
                    tok = v2;
                    tok_len = l2;
                }
            }
            if (tok == NULL || tok_len == 0 || memchr(tok, '\0', tok_len) != NULL ||
                id_len > RW_ID_MAX_SPIFFE_ID || (id != NULL && memchr(id, '\0', id_len) != NULL)) {
                return RW_EPROTO;
            }
            if (cap > 0) {
                size_t c = id_len < cap - 1 ? id_len : cap - 1;

                if (c > 0) {
                    memcpy(spiffe_id, id, c);
                }
                spiffe_id[c] = '\0';
            }
            /* the first SVID is the default identity (Workload API spec §5.3) */
            return rw_secret_set(svid, tok, tok_len);
        }
    }
    return -ENOENT;
}
