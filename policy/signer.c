/* SPDX-License-Identifier: MIT */
/*
 * The signer handle: an ops table (file key here, Vault transit in proxy/identity/) behind one
 * opaque type (R23). The handle owns its backend's impl and frees it through ops->free.
 */
#include <errno.h>

#include "rw/err.h"
#include "rw/mem.h"
#include "rw/policy.h"

struct rw_signer {
    const struct rw_signer_ops *ops; /* borrowed: static table of the backend */
    void *impl;                      /* owned: freed with ops->free */
};

int rw_signer_new(const struct rw_signer_ops *ops, void *impl, struct rw_signer **out)
{
    struct rw_signer *s;

    if (ops == NULL || ops->sign == NULL || out == NULL) {
        return RW_EINVAL;
    }
    s = rw_calloc(1, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    s->ops = ops;
    s->impl = impl;
    *out = s;
    return 0;
}

void rw_signer_free(struct rw_signer **ps)
{
    if (ps == NULL || *ps == NULL) {
        return;
    }
    if ((*ps)->ops->free != NULL) {
        (*ps)->ops->free((*ps)->impl);
    }
    rw_free_clear(ps);
}

const char *rw_signer_name(const struct rw_signer *s)
{
    if (s == NULL || s->ops->name == NULL) {
        return "none";
    }
    return s->ops->name;
}

int rw_signer_sign(struct rw_signer *s, const uint8_t *msg, size_t len, rw_signer_done_cb *cb,
                   void *arg)
{
    if (s == NULL || cb == NULL || (msg == NULL && len > 0)) {
        return RW_EINVAL;
    }
    return s->ops->sign(s->impl, msg, len, cb, arg);
}
