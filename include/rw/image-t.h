/* SPDX-License-Identifier: MIT */
/* Shared vocabulary: an image as the proxy sees it on a request (R4: libc and -t.h only). */
#ifndef RW_IMAGE_T_H
#define RW_IMAGE_T_H

#include <stdbool.h>

#include "rw/limits.h"

struct rw_image_ref {
    char upstream[RW_MAX_NAME_LEN + 1];   /* configured upstream name ("registry.local") */
    char repo[RW_MAX_REPO_LEN + 1];       /* repository, validated per dist-spec grammar */
    char reference[RW_MAX_DIGEST_LEN + 1];/* tag or digest as the client wrote it */
    bool by_digest;                       /* reference is a validated digest */
};

#endif
