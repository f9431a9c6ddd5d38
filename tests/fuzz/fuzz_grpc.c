/* SPDX-License-Identifier: MIT */
/* Fuzz target: gRPC reply framing and grpc-status/grpc-message parsing. The input is split:
 * first byte = length of a "grpc-status" value, then the value, then the message, then a body. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rw/identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char st[16];
    char msg[128];
    char out[64];
    size_t a;
    size_t b;
    const uint8_t *m = NULL;
    size_t mlen = 0;
    int code = 0;

    if (size < 2) {
        return 0;
    }
    a = data[0] % sizeof(st);
    b = data[1] % sizeof(msg);
    data += 2;
    size -= 2;
    if (a + b > size) {
        return 0;
    }
    memcpy(st, data, a);
    st[a] = '\0';
    memcpy(msg, data + a, b);
    msg[b] = '\0';
    {
        struct rw_hdr hv[2] = {{"grpc-status", st}, {"grpc-message", msg}};
        struct rw_hdrs h = {hv, 2};

        if (rw_id_grpc_status(&h, &code, out, sizeof(out)) == 0 && strlen(out) >= sizeof(out)) {
            __builtin_trap();
        }
    }
    data += a + b;
    size -= a + b;
    if (rw_id_grpc_unframe(data, size, &m, &mlen) == 0 && (m != data + 5 || mlen + 5 != size)) {
        __builtin_trap();
    }
    return 0;
}
