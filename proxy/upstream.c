/* SPDX-License-Identifier: MIT */
/*
 * Everything about talking to a configured upstream: URLs built from validated parts only,
 * which headers cross in each direction (hop-by-hop never does, RFC 9110 §7.6.1), Location and
 * Link rewriting to the client-facing origin (C11, C21), and the evidence fetches that policy
 * evaluation asks for (R23). Credentials only ever go to the upstream's own origin.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "rw/err.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "rw_version.h"
#include "proxy.h"
#include "upstream_auth.h"

static const char *const hop_by_hop[] = {
    "connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate",
    "te",         "trailer",    "transfer-encoding", "upgrade", "http2-settings", "host",
    "content-length", "expect",
};

static bool is_hop(const char *name)
{
    for (size_t i = 0; i < sizeof(hop_by_hop) / sizeof(hop_by_hop[0]); i++) {
        if (strcasecmp(name, hop_by_hop[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether @p name is listed in a Connection header value (those are hop-by-hop too). */
static bool named_in_connection(const struct rw_hdrs *h, const char *name)
{
    size_t nl = strlen(name);

    for (size_t i = 0; i < h->n; i++) {
        const char *v = h->v[i].value;

        if (strcasecmp(h->v[i].name, "connection") != 0) {
            continue;
        }
        while (*v != '\0') {
            const char *e;

            while (*v == ' ' || *v == '\t' || *v == ',') {
                v++;
            }
            e = v;
            while (*e != '\0' && *e != ',' && *e != ' ' && *e != '\t') {
                e++;
            }
            if ((size_t)(e - v) == nl && strncasecmp(v, name, nl) == 0) {
                return true;
            }
            v = e;
        }
    }
    return false;
}

bool rw_upstream_resp_header_ok(const char *name)
{
    return !is_hop(name);
}

char *rw_upstream_url(const struct rw_upstream_cfg *up, const struct rw_route_match *m)
{
    const char *q = m->query[0] != '\0' ? "?" : "";

    switch (m->route) {
    case RW_ROUTE_PING:
        return rw_asprintf("%s/v2/%s%s", up->url, q, m->query);
    case RW_ROUTE_CATALOG:
        return rw_asprintf("%s/v2/_catalog%s%s", up->url, q, m->query);
    case RW_ROUTE_MANIFEST:
        return rw_asprintf("%s/v2/%s/manifests/%s%s%s", up->url, m->repo, m->reference, q,
                           m->query);
    case RW_ROUTE_BLOB:
        return rw_asprintf("%s/v2/%s/blobs/%s%s%s", up->url, m->repo, m->reference, q, m->query);
    case RW_ROUTE_UPLOAD_START:
        return rw_asprintf("%s/v2/%s/blobs/uploads/%s%s", up->url, m->repo, q, m->query);
    case RW_ROUTE_UPLOAD:
        return rw_asprintf("%s/v2/%s/blobs/uploads/%s%s%s", up->url, m->repo, m->reference, q,
                           m->query);
    case RW_ROUTE_TAGS:
        return rw_asprintf("%s/v2/%s/tags/list%s%s", up->url, m->repo, q, m->query);
    case RW_ROUTE_REFERRERS:
        return rw_asprintf("%s/v2/%s/referrers/%s%s%s", up->url, m->repo, m->reference, q,
                           m->query);
    case RW_ROUTE_COUNT:
    default:
        return NULL;
    }
}

char *rw_upstream_url_for(const struct rw_upstream_cfg *up, const char *repo, const char *kind,
                          const char *ref)
{
    return rw_asprintf("%s/v2/%s/%s/%s", up->url, repo, kind, ref);
}

void rw_upstream_headers_free(char ***pv, size_t n)
{
    char **v = *pv;

    if (v == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        rw_free(v[i]);
    }
    rw_free(v);
    *pv = NULL;
}

int rw_upstream_req_headers(const struct rw_req *r, char ***out, size_t *n)
{
    char **v = rw_calloc(r->hdrs.n + 1, sizeof(*v));
    size_t k = 0;

    if (v == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < r->hdrs.n; i++) {
        const struct rw_hdr *h = &r->hdrs.v[i];

        if (is_hop(h->name) || named_in_connection(&r->hdrs, h->name)) {
            continue;
        }
        if (rw_upauth_own(r->up) && strcasecmp(h->name, "Authorization") == 0) {
            continue; /* regwarden's own credentials replace the client's (upstream_auth.c) */
        }
        v[k] = rw_asprintf("%s: %s", h->name, h->value);
        if (v[k] == NULL) {
            rw_upstream_headers_free(&v, k);
            return -ENOMEM;
        }
        k++;
    }
    *out = v;
    *n = k;
    return 0;
}

/* Length of "scheme://authority" at the start of @p s, or 0. */
static size_t origin_len(const char *s)
{
    const char *p = strstr(s, "://");
    const char *e;

    if (p == NULL) {
        return 0;
    }
    for (const char *q = s; q < p; q++) {
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z'))) {
            return 0;
        }
    }
    e = p + 3;
    while (*e != '\0' && *e != '/' && *e != '?' && *e != '#') {
        e++;
    }
    return (size_t)(e - s);
}

static bool same_origin(const struct rw_upstream_cfg *up, const char *abs, size_t olen)
{
    return strlen(up->url) == olen && strncasecmp(up->url, abs, olen) == 0;
}

char *rw_upstream_rewrite_location(const struct rw_upstream_cfg *up, const char *loc)
{
    size_t olen = origin_len(loc);

    if (olen == 0) {
        return rw_strdup(loc); /* relative: already ours */
    }
    if (!same_origin(up, loc, olen)) {
        return NULL; /* another origin (object storage): relayed verbatim by the caller */
    }
    if (loc[olen] == '\0') {
        return rw_strdup("/");
    }
    return rw_strdup(loc + olen);
}

char *rw_upstream_rewrite_link(const struct rw_upstream_cfg *up, const char *link)
{
    struct rw_buf b;
    const char *p = link;

    rw_buf_init(&b, 16 * 1024);
    while (*p != '\0') {
        const char *lt = strchr(p, '<');
        const char *gt;
        size_t olen;

        if (lt == NULL || (gt = strchr(lt, '>')) == NULL) {
            if (rw_buf_appends(&b, p) != 0) {
                goto fail;
            }
            break;
        }
        if (rw_buf_append(&b, p, (size_t)(lt - p) + 1) != 0) {
            goto fail;
        }
        olen = origin_len(lt + 1);
        if (olen > 0 && lt + 1 + olen <= gt && same_origin(up, lt + 1, olen)) {
            if (rw_buf_append(&b, lt + 1 + olen, (size_t)(gt - (lt + 1 + olen))) != 0) {
                goto fail;
            }
        } else if (rw_buf_append(&b, lt + 1, (size_t)(gt - lt - 1)) != 0) {
            goto fail;
        }
        if (rw_buf_append(&b, ">", 1) != 0) {
            goto fail;
        }
        p = gt + 1;
    }
    if (b.data == NULL && rw_buf_append(&b, "", 0) != 0) {
        goto fail;
    }
    return (char *)b.data;
fail:
    rw_buf_fini(&b);
    return NULL;
}

char *rw_upstream_resolve(const struct rw_upstream_cfg *up, const char *loc)
{
    size_t olen = origin_len(loc);

    if (olen > 0) {
        return same_origin(up, loc, olen) ? rw_strdup(loc) : NULL;
    }
    if (loc[0] != '/' || loc[1] == '/') {
        return NULL; /* path-relative or scheme-relative: not something a registry sends */
    }
    return rw_asprintf("%s%s", up->url, loc);
}

/* Host part of "scheme://host[:port]/..." into @p out (lowercase, brackets kept); false if none. */
static bool url_host(const char *url, char *out, size_t cap, const char **port)
{
    const char *p = strstr(url, "://");
    const char *e;
    size_t n;

    if (p == NULL) {
        return false;
    }
    p += 3;
    {
        /* userinfo ("allowed:80@evil") or a backslash would make libcurl dial another host
         * than the one compared here: such an authority is never allowed */
        size_t alen = strcspn(p, "/?#");

        if (memchr(p, '@', alen) != NULL || memchr(p, '\\', alen) != NULL) {
            return false;
        }
    }
    if (*p == '[') {
        e = strchr(p, ']');
        if (e == NULL) {
            return false;
        }
        e++;
    } else {
        e = p + strcspn(p, ":/?#");
    }
    n = (size_t)(e - p);
    if (n == 0 || n >= cap) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] - 'A' + 'a' : p[i]);
    }
    out[n] = '\0';
    *port = *e == ':' ? e + 1 : NULL;
    return true;
}

bool rw_upstream_may_dial(const struct rw_upstream_cfg *up, const char *url)
{
    char host[256];
    char own[256];
    const char *port = NULL;
    const char *own_port = NULL;
    const char *list = up->allowed_hosts;

    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        return false;
    }
    if (!url_host(url, host, sizeof(host), &port) || !url_host(up->url, own, sizeof(own), &own_port)) {
        return false;
    }
    if (strcmp(host, own) == 0) {
        return true;
    }
    while (list != NULL && *list != '\0') {
        size_t n = strcspn(list, ",");
        size_t hl = strlen(host);
        size_t pl = port != NULL ? strcspn(port, "/?#") : 0;

        /* an entry is "host" (any port) or "host:port" */
        if ((n == hl && strncmp(list, host, n) == 0) ||
            (port != NULL && n == hl + 1 + pl && strncmp(list, host, hl) == 0 && list[hl] == ':' &&
             strncmp(list + hl + 1, port, pl) == 0)) {
            return true;
        }
        list += n;
        list += *list == ',' ? 1 : 0;
    }
    return false;
}

/* ------------------------------------------------------------------ evidence fetches */

#define RW_MAX_EVIDENCE_REDIRECTS 3

/* One evidence fetch. It copies what it needs: a cancelled evaluation still waits for this
 * callback, but the pull that owned the evidence_io may be gone by then. */
struct evidence_fetch {
    rw_policy_fetch_cb *cb;
    rw_policy_referrers_cb *rcb; /* referrers pages: also Content-Type, Link and the URL */
    void *arg;
    struct rw_httpc *httpc; /* borrowed: the worker's, lives as long as its loop */
    char *up_url;           /* owned; the upstream's origin */
    const char *ca;         /* borrowed: the upstream's CA file, kept alive by the owner's config */
    char *auth;             /* owned; "Authorization: ..." or NULL */
    char *url;              /* owned; the URL of the request in flight */
    bool with_auth;
    size_t max;
    int hops;
    int retries;            /* 429 retries so far */
    bool follow;            /* blobs: follow redirects to allowed hosts; manifests: never */
    struct rw_upstream_cfg dial; /* name/url/allowed_hosts copies for rw_upstream_may_dial */
};

#define RW_MAX_429_RETRIES 2
#define RW_MAX_RETRY_AFTER_S 10

static void evidence_free(struct evidence_fetch *f)
{
    rw_free(f->dial.url);
    rw_free(f->dial.allowed_hosts);
    rw_free(f->url);
    rw_free(f->up_url);
    rw_free(f->auth);
    rw_free(f);
}

static int evidence_send(struct evidence_fetch *f, const char *url, bool with_auth);

static void on_retry(evutil_socket_t fd, short what, void *arg);

/* The one place a fetch reports to policy/; @p h may be NULL (no answer). */
static void evidence_report(struct evidence_fetch *f, int rc, int status, const struct rw_hdrs *h,
                            const uint8_t *body, size_t len)
{
    if (f->rcb != NULL) {
        struct rw_policy_referrers_page pg = {
            .status = status,
            .url = f->url,
            .content_type = h != NULL ? rw_hdrs_get(h, "Content-Type") : NULL,
            .link = h != NULL ? rw_hdrs_get(h, "Link") : NULL,
            .body = body,
            .len = len,
        };

        f->rcb(f->arg, rc, &pg);
        return;
    }
    f->cb(f->arg, rc, status, body, len);
}

static void on_evidence(void *arg, int rc, int status, const struct rw_hdrs *h, const uint8_t *body,
                        size_t len)
{
    struct evidence_fetch *f = arg;
    const char *loc = rw_hdrs_get(h, "Location");

    /* 429 (Docker Hub rate limits): back off as the upstream asks, a bounded number of times,
     * then report the failure (the pull fails closed with upstream-error). */
    if (rc == 0 && status == 429 && f->retries < RW_MAX_429_RETRIES) {
        const char *ra = rw_hdrs_get(h, "Retry-After");
        long secs = ra != NULL ? strtol(ra, NULL, 10) : 1;
        struct timeval tv;

        if (secs < 1) {
            secs = 1;
        }
        if (secs <= RW_MAX_RETRY_AFTER_S) {
            tv.tv_sec = secs;
            tv.tv_usec = 0;
            f->retries++;
            rw_log_info(UPSTREAM, "upstream answered 429: retrying in %ld s", secs);
            if (event_base_once(rw_httpc_base(f->httpc), -1, EV_TIMEOUT, on_retry, f, &tv) == 0) {
                return;
            }
        }
    }
    /* Blob stores redirect to object storage (C02): follow, and send the registry credential
     * only while the target is the upstream's own origin. */
    if (rc == 0 && f->follow && (status == 301 || status == 302 || status == 303 ||
                                 status == 307 || status == 308) &&
        loc != NULL && f->hops < RW_MAX_EVIDENCE_REDIRECTS) {
        size_t olen = origin_len(loc);
        char *next = NULL;
        bool same = false;

        if (olen > 0 && (strncasecmp(loc, "http://", 7) == 0 || strncasecmp(loc, "https://", 8) == 0)) {
            next = rw_strdup(loc);
            same = strlen(f->up_url) == olen && strncasecmp(f->up_url, loc, olen) == 0;
        } else if (olen == 0 && loc[0] == '/' && loc[1] != '/') {
            next = rw_asprintf("%s%s", f->up_url, loc);
            same = true;
        }
        if (next != NULL && !rw_upstream_may_dial(&f->dial, next)) {
            /* invariant 4: only configured hosts are dialed (allowed_hosts for storage) */
            rw_log_warn(UPSTREAM, "upstream %s redirected to a host not in its allowed_hosts; "
                                  "not followed", f->dial.url);
            rw_free_clear(&next);
        }
        if (next != NULL) {
            int src;

            f->hops++;
            src = evidence_send(f, next, same);
            rw_free(next);
            if (src == 0) {
                return;
            }
            rc = src;
        }
    }
    evidence_report(f, rc, status, h, body, len);
    evidence_free(f);
}

static int evidence_send(struct evidence_fetch *f, const char *url, bool with_auth)
{
    char *copy = url != f->url ? rw_strdup(url) : NULL;

    if (url != f->url) {
        if (copy == NULL) {
            return -ENOMEM;
        }
        rw_free(f->url);
        f->url = copy;
    }
    f->with_auth = with_auth;
    const char *hdrs[3];
    size_t n = 0;
    struct rw_fetch_req req = {0};

    hdrs[n++] = "Accept: " RW_ACCEPT_ALL_MANIFESTS;
    hdrs[n++] = "User-Agent: regwarden/" RW_VERSION;
    if (with_auth && f->auth != NULL) {
        hdrs[n++] = f->auth;
    }
    req.method = "GET";
    req.url = f->url;
    req.ca_file = f->ca;
    req.headers = hdrs;
    req.n_headers = n;
    req.max = f->max;
    return rw_fetch_start(f->httpc, &req, on_evidence, f, NULL);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct evidence_fetch *f = arg;
    int rc;

    (void)fd;
    (void)what;
    rc = evidence_send(f, f->url, f->with_auth);
    if (rc != 0) {
        evidence_report(f, rc, 0, NULL, NULL, 0);
        evidence_free(f);
    }
}

/* Start one evidence GET of @p url (on io->up's origin); exactly one of @p cb, @p rcb is set. */
static int evidence_start(struct rw_evidence_io *io, const char *url, bool follow, size_t max,
                          rw_policy_fetch_cb *cb, rw_policy_referrers_cb *rcb, void *arg)
{
    struct evidence_fetch *f = NULL;
    int rc = -ENOMEM;

    f = rw_calloc(1, sizeof(*f));
    if (f == NULL) {
        goto out;
    }
    f->cb = cb;
    f->rcb = rcb;
    f->arg = arg;
    f->httpc = io->httpc;
    f->ca = io->up->ca;
    f->max = max;
    f->follow = follow;
    f->dial.url = rw_strdup(io->up->url);
    if (f->dial.url == NULL ||
        (io->up->allowed_hosts != NULL &&
         (f->dial.allowed_hosts = rw_strdup(io->up->allowed_hosts)) == NULL)) {
        goto out;
    }
    f->up_url = rw_strdup(io->up->url);
    if (f->up_url == NULL) {
        goto out;
    }
    if (io->authorization != NULL) {
        f->auth = rw_asprintf("Authorization: %s", io->authorization);
        if (f->auth == NULL) {
            goto out;
        }
    }
    rc = evidence_send(f, url, true);
    if (rc == 0) {
        f = NULL;
    }
out:
    if (f != NULL) {
        evidence_free(f);
    }
    return rc;
}

static int evidence_get(struct rw_evidence_io *io, const char *kind, const char *ref, size_t max,
                        rw_policy_fetch_cb *cb, void *arg)
{
    char *url = rw_upstream_url_for(io->up, io->repo, kind, ref);
    int rc;

    if (url == NULL) {
        return -ENOMEM;
    }
    /* manifests are never redirected by registries: following one could only reach a host
     * the config never named; blobs may go to object storage (C02), if allowed_hosts says so */
    rc = evidence_start(io, url, strcmp(kind, "blobs") == 0, max, cb, NULL, arg);
    rw_free(url);
    return rc;
}

static int fetch_manifest(void *io, const char *reference, size_t max, rw_policy_fetch_cb *cb,
                          void *arg)
{
    return evidence_get(io, "manifests", reference, max, cb, arg);
}

static int fetch_blob(void *io, const char *digest, size_t max, rw_policy_fetch_cb *cb, void *arg)
{
    return evidence_get(io, "blobs", digest, max, cb, arg);
}

/* artifactType values are media types: keep unreserved characters, percent-encode the rest */
static int query_escape(const char *v, struct rw_buf *b)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;

    for (const char *c = v; *c != '\0' && rc == 0; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            rc = rw_buf_append(b, c, 1);
        } else {
            char e[3] = {'%', hex[(unsigned char)*c >> 4], hex[(unsigned char)*c & 15]};

            rc = rw_buf_append(b, e, 3);
        }
    }
    return rc;
}

/*
 * Does @p rest (what follows "<upstream>/v2/<repo>/referrers/" in a next-page URL) name the
 * referrers of @p digest exactly: the digest, then nothing or a query? Anything else (a dot
 * segment, a percent-encoded '.' or '/', another digest, a further path, a fragment) could make
 * the request reach another path of the origin once normalised: refused.
 */
static bool next_names_endpoint(const char *rest, const char *digest)
{
    size_t dl = strlen(digest);

    if (strncmp(rest, digest, dl) != 0 || (rest[dl] != '\0' && rest[dl] != '?')) {
        return false;
    }
    return strchr(rest + dl, '#') == NULL;
}

/*
 * The referrers API (PROTOCOLS.md §1.9), one page per call. A next-page URL comes from a Link
 * header: it is followed only when it resolves on the upstream's own origin AND names this
 * repository's referrers endpoint for this digest (next_names_endpoint: no dot segments or
 * encodings that a server would normalise elsewhere), so an upstream can neither send regwarden
 * (and the registry credential) to another host nor to another path of its own.
 */
static int fetch_referrers(void *vio, const char *digest, const char *artifact_type,
                           const char *next, size_t max, rw_policy_referrers_cb *cb, void *arg)
{
    struct rw_evidence_io *io = vio;
    struct rw_buf url;
    char *prefix = NULL;
    int rc;

    rw_buf_init(&url, RW_MAX_LINK_URL + 1024);
    if (digest == NULL || !rw_oci_digest_valid(digest, strlen(digest))) {
        return RW_EINVAL;
    }
    prefix = rw_asprintf("%s/v2/%s/referrers/", io->up->url, io->repo);
    if (prefix == NULL) {
        return -ENOMEM;
    }
    if (next != NULL) {
        char *abs = rw_upstream_resolve(io->up, next);

        if (abs == NULL || strncmp(abs, prefix, strlen(prefix)) != 0 ||
            !next_names_endpoint(abs + strlen(prefix), digest) ||
            !rw_upstream_may_dial(io->up, abs)) {
            rw_log_warn(UPSTREAM, "upstream %s: referrers Link to another origin or path not "
                                  "followed", io->up->name);
            rw_free(abs);
            rw_free(prefix);
            return RW_EPROTO;
        }
        rc = rw_buf_appends(&url, abs);
        rw_free(abs);
    } else {
        rc = rw_buf_printf(&url, "%s%s", prefix, digest);
        if (rc == 0 && artifact_type != NULL) {
            rc = rw_buf_appends(&url, "?artifactType=");
            if (rc == 0) {
                rc = query_escape(artifact_type, &url);
            }
        }
    }
    rw_free(prefix);
    if (rc == 0) {
        rc = evidence_start(io, (const char *)url.data, false, max, NULL, cb, arg);
    }
    rw_buf_fini(&url);
    return rc;
}

const struct rw_policy_fetch_ops rw_evidence_ops = {
    .fetch_manifest = fetch_manifest,
    .fetch_blob = fetch_blob,
    .fetch_referrers = fetch_referrers,
};
