/* SPDX-License-Identifier: MIT */
/*
 * The signer handle: an ops table (file key here, Vault transit in proxy/identity/) behind one
 * opaque type (R23). The handle owns its backend's impl and frees it through ops->free.
 */
#include <errno.h>
#include <stdbool.h>

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

/*
 * The cancellable wrapper: the backend always calls its cb exactly once (possibly before
 * returning); the wrapper forwards it unless cancelled, and is freed by whoever comes last.
 */
struct rw_signer_op {
    rw_signer_done_cb *cb;
    void *arg;       /* borrowed: the caller's context, until cb or cancel */
    bool in_start;   /* the backend has not returned from sign yet */
    bool done;       /* cb came while in_start */
    bool cancelled;
};

static void op_done(void *arg, int rc, const uint8_t *sig, size_t siglen, const char *key_version)
{
    struct rw_signer_op *op = arg;

    if (!op->cancelled) {
        op->cb(op->arg, rc, sig, siglen, key_version);
    }
    if (op->in_start) {
        op->done = true; /* freed by rw_signer_sign_start */
        return;
    }
    rw_free(op);
}

int rw_signer_sign_start(struct rw_signer *s, const uint8_t *msg, size_t len,
                         rw_signer_done_cb *cb, void *arg, struct rw_signer_op **out)
{
    struct rw_signer_op *op;
    int rc;

    if (s == NULL || cb == NULL || out == NULL || (msg == NULL && len > 0)) {
        return RW_EINVAL;
    }
    op = rw_calloc(1, sizeof(*op));
    if (op == NULL) {
        return -ENOMEM;
    }
    op->cb = cb;
    op->arg = arg;
    op->in_start = true;
    *out = NULL;
    rc = s->ops->sign(s->impl, msg, len, op_done, op);
    op->in_start = false;
    if (rc != 0 || op->done) {
        rw_free(op);
        return rc;
    }
    *out = op;
    return 0;
}

void rw_signer_cancel(struct rw_signer_op **pop)
{
    if (pop == NULL || *pop == NULL) {
        return;
    }
    (*pop)->cancelled = true; /* op_done frees it when the backend completes */
    *pop = NULL;
}
