/* SPDX-License-Identifier: MIT */
/*
 * `regwarden serve`: worker threads, each with its own event loop, upstream client and a
 * SO_REUSEPORT listener per configured address (the kernel spreads connections); the main
 * thread only waits for signals: SIGHUP reloads config and policy atomically (a bad file is
 * refused and the old one stays), SIGTERM/SIGINT drain (stop accepting, finish in-flight
 * requests up to RW_DRAIN_TIMEOUT_S, exit 0), SIGUSR1 reopens the deny log.
 * TLS listeners share one rw_tls per listen[] entry across workers; the main thread polls the
 * certificate files every RW_TLS_POLL_S seconds between signals (and on SIGHUP) and tls.c swaps
 * the context without touching open connections.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "rw/err.h"
#include "rw/log.h"
#include "rw/mem.h"
#include "rw_version.h"
#include "rw/identity.h"
#include "conn.h"
#include "proxy.h"
#include "upstream_auth.h"
#include "tls.h"

#define RW_DRAIN_TIMEOUT_S 20
#define RW_SWEEP_INTERVAL_S 60
#define RW_TLS_POLL_S 2 /* certificate files are checked this often (cert-manager rotation) */

struct rw_config *rw_server_config(struct rw_server *s)
{
    struct rw_config *c;

    pthread_mutex_lock(&s->cfg_lock);
    c = s->cfg != NULL ? rw_config_ref(s->cfg) : NULL;
    pthread_mutex_unlock(&s->cfg_lock);
    return c;
}

static int parse_addr(const char *address, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *colon = strrchr(address, ':');
    size_t hl;
    char *end = NULL;
    unsigned long port;

    if (colon == NULL) {
        return RW_EINVAL;
    }
    hl = (size_t)(colon - address);
    if (hl >= sizeof(host)) {
        return RW_EINVAL;
    }
    memcpy(host, address, hl);
    host[hl] = '\0';
    port = strtoul(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port > 65535) {
        return RW_EINVAL;
    }
    memset(ss, 0, sizeof(*ss));
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1) {
            return RW_EINVAL;
        }
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*s6);
        return 0;
    }
    {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

        if (hl == 0 || strcmp(host, "*") == 0) {
            s4->sin_addr.s_addr = htonl(INADDR_ANY);
        } else if (strcmp(host, "localhost") == 0) {
            s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        } else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
            return RW_EINVAL;
        }
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *len = sizeof(*s4);
    }
    return 0;
}

/* Fail early and clearly when the port is taken, even by a SO_REUSEPORT socket of a stale
 * regwarden (which would otherwise silently share our traffic). */
static int probe_bind(const struct sockaddr_storage *ss, socklen_t len)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    int rc = 0;

    if (fd < 0) {
        return -errno;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss, len) != 0) {
        rc = -errno;
    }
    close(fd);
    return rc;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    struct rw_listener_arg *la = arg;
    struct rw_worker *w = la->w;

    (void)l;
    (void)len;
    if (atomic_load(&w->srv->draining)) {
        evutil_closesocket(fd);
        return;
    }
    rw_conn_accept(w, fd, sa, la->tls, la->listen_idx);
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    struct rw_worker *w = arg;
    static _Thread_local int ticks;

    (void)fd;
    (void)what;
    for (size_t i = 0; i < w->n_listeners; i++) {
        if (w->listeners[i] != NULL) {
            evconnlistener_free(w->listeners[i]);
            w->listeners[i] = NULL;
        }
    }
    rw_conn_drain_idle(w);
    if (w->n_conns == 0 || ++ticks > RW_DRAIN_TIMEOUT_S * 10) {
        event_base_loopexit(w->base, NULL);
        return;
    }
    {
        struct timeval tv = {0, 100000};

        evtimer_add(w->drain_ev, &tv);
    }
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct rw_worker *w = arg;
    uint64_t removed = 0;

    (void)fd;
    (void)what;
    if (w->srv->cache != NULL) {
        rw_cache_sweep(w->srv->cache, (int64_t)time(NULL), &removed);
        rw_cache_sync(w->srv->cache);
        if (removed > 0) {
            rw_log_info(CACHE, "swept %llu expired records", (unsigned long long)removed);
        }
    }
}

static void *worker_main(void *arg)
{
    struct rw_worker *w = arg;

    rw_id_thread_httpc(w->httpc); /* Vault transit signs run on this worker's client */
    event_base_dispatch(w->base);
    return NULL;
}

static int worker_init(struct rw_server *s, struct rw_worker *w, size_t idx,
                       const struct rw_config *cfg)
{
    w->idx = idx;
    w->srv = s;
    w->base = event_base_new();
    if (w->base == NULL || rw_httpc_new(w->base, &w->httpc) != 0) {
        return -ENOMEM;
    }
    w->listeners = rw_calloc(cfg->n_listen + 1, sizeof(*w->listeners));
    w->listener_args = rw_calloc(cfg->n_listen + 1, sizeof(*w->listener_args));
    w->drain_ev = evtimer_new(w->base, on_drain_tick, w);
    if (w->listeners == NULL || w->listener_args == NULL || w->drain_ev == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < cfg->n_listen; i++) {
        struct sockaddr_storage ss;
        socklen_t len = 0;

        if (parse_addr(cfg->listen[i].address, &ss, &len) != 0) {
            return RW_ECONFIG;
        }
        w->listener_args[i].w = w;
        w->listener_args[i].tls = i < s->n_tls ? s->tls[i] : NULL;
        w->listener_args[i].listen_idx = i;
        w->listeners[i] = evconnlistener_new_bind(
            w->base, on_accept, &w->listener_args[i],
            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT |
                LEV_OPT_CLOSE_ON_EXEC,
            1024, (struct sockaddr *)&ss, (int)len);
        if (w->listeners[i] == NULL) {
            rw_log_err(PROXY, "cannot listen on %s: %s", cfg->listen[i].address, strerror(errno));
            return -errno;
        }
        w->n_listeners++;
    }
    if (idx == 0) {
        struct timeval tv = {RW_SWEEP_INTERVAL_S, 0};

        w->sweep_ev = event_new(w->base, -1, EV_PERSIST, on_sweep, w);
        if (w->sweep_ev == NULL) {
            return -ENOMEM;
        }
        event_add(w->sweep_ev, &tv);
        if (cfg->admin != NULL && rw_admin_start(w, cfg->admin) != 0) {
            return RW_ECONFIG;
        }
    }
    return 0;
}

static void worker_fini(struct rw_worker *w)
{
    for (size_t i = 0; i < w->n_listeners; i++) {
        if (w->listeners[i] != NULL) {
            evconnlistener_free(w->listeners[i]);
        }
    }
    rw_free(w->listeners);
    rw_free(w->listener_args);
    if (w->drain_ev != NULL) {
        event_free(w->drain_ev);
    }
    if (w->sweep_ev != NULL) {
        event_free(w->sweep_ev);
    }
    rw_httpc_free(&w->httpc);
    rw_admin_stop(w); /* the evhttp and its listener live on w->base */
    if (w->base != NULL) {
        /* run what the last completions scheduled (verdict deliveries), then free the loop */
        event_base_loop(w->base, EVLOOP_NONBLOCK);
        event_base_free(w->base);
    }
}

static void apply_log(const struct rw_config *cfg)
{
    int lvl = cfg->log_level != NULL ? rw_log_level_parse(cfg->log_level) : RW_LOG_INFO;

    rw_log_set_level(lvl >= 0 ? (enum rw_log_level)lvl : RW_LOG_INFO);
    rw_log_set_json(cfg->log_format != NULL && strcmp(cfg->log_format, "json") == 0);
}

/* A config file rewritten in place or replaced (a ConfigMap swaps a symlink) is reloaded like
 * SIGHUP. @return true when the file differs from what @p seen recorded; updates @p seen. */
static bool config_changed(const char *path, struct stat *seen)
{
    struct stat st;
    bool changed;

    if (stat(path, &st) != 0) {
        return false; /* mid-replacement: look again on the next tick */
    }
    changed = st.st_ino != seen->st_ino || st.st_size != seen->st_size ||
              st.st_mtim.tv_sec != seen->st_mtim.tv_sec ||
              st.st_mtim.tv_nsec != seen->st_mtim.tv_nsec;
    *seen = st;
    return changed;
}

static void reload(struct rw_server *s, const char *path)
{
    struct rw_config *next = NULL;
    struct rw_config *old;
    char err[512];

    if (rw_config_load(path, &next, err, sizeof(err)) != 0) {
        rw_log_err(PROXY, "reload refused, keeping the running configuration: %s", err);
        return;
    }
    /* the Vault signer and the key versions (refreshed now: SIGHUP) */
    if (rw_id_attach(s->id, next, s->keyring) != 0) {
        rw_log_err(PROXY, "reload refused: cannot attach the identity service");
        rw_config_unref(&next);
        return;
    }
    apply_log(next);
    pthread_mutex_lock(&s->cfg_lock);
    old = s->cfg;
    s->cfg = next;
    pthread_mutex_unlock(&s->cfg_lock);
    rw_log_info(PROXY, "configuration reloaded from %s (policy %.16s)", path,
                next->policy_hash_hex);
    rw_config_unref(&old);
}

int rw_server_run(const char *config_path)
{
    struct stat cfg_seen = {0};

    struct rw_server s;
    struct rw_config *cfg = NULL;
    char err[512];
    sigset_t set;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t started = 0;
    int rc;

    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.cfg_lock, NULL);
    rc = rw_config_load(config_path, &cfg, err, sizeof(err));
    if (rc != 0) {
        rw_log_err(PROXY, "%s", err);
        return 2;
    }
    apply_log(cfg);
    if (cfg->n_listen == 0) {
        rw_log_err(PROXY, "%s: listen: at least one address is required to serve", cfg->path);
        rw_config_unref(&cfg);
        return 2;
    }
    for (size_t i = 0; i < cfg->n_listen; i++) {
        struct sockaddr_storage ss;
        socklen_t len = 0;

        if (parse_addr(cfg->listen[i].address, &ss, &len) != 0) {
            rw_log_err(PROXY, "%s:%d: bad listen address %s", cfg->path, cfg->listen[i].line,
                       cfg->listen[i].address);
            rw_config_unref(&cfg);
            return 2;
        }
        rc = probe_bind(&ss, len);
        if (rc != 0) {
            rw_log_err(PROXY, "cannot listen on %s: %s", cfg->listen[i].address, rw_strerror(rc));
            rw_config_unref(&cfg);
            return 1;
        }
    }
    if (cfg->cache.path != NULL) {
        rc = rw_cache_open(cfg->cache.path, cfg->cache.map_size, &s.cache);
        if (rc != 0) {
            rw_log_err(CACHE, "cannot open cache %s: %s", cfg->cache.path, rw_strerror(rc));
            rw_config_unref(&cfg);
            return 1;
        }
    }
    rc = rw_denylog_open(cfg->deny_log != NULL ? cfg->deny_log : "-", &s.denylog);
    if (rc != 0) {
        rw_log_err(PROXY, "cannot open deny log %s: %s", cfg->deny_log, rw_strerror(rc));
        rw_cache_close(&s.cache);
        rw_config_unref(&cfg);
        return 1;
    }
    s.cfg = cfg;
    s.tls = rw_calloc(cfg->n_listen + 1, sizeof(*s.tls));
    if (s.tls == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    s.n_tls = cfg->n_listen;
    for (size_t i = 0; i < cfg->n_listen; i++) {
        if (cfg->listen[i].tls_cert != NULL && rw_tls_new(&cfg->listen[i], &s.tls[i]) != 0) {
            rw_log_err(PROXY, "%s:%d: TLS listener %s cannot start", cfg->path,
                       cfg->listen[i].line, cfg->listen[i].address);
            rc = RW_ECONFIG;
            goto out;
        }
    }
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    evthread_use_pthreads();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rw_httpc_set_timing_cb(rw_metrics_upstream_seconds);
    rw_conn_init();
    /* SPIRE + Vault run on their own thread; the first config gets the Vault signer and the
     * keyring before any worker can see it. Nothing here waits for Vault (/readyz says). */
    rc = rw_keyring_new(&s.keyring);
    if (rc == 0) {
        rc = rw_id_start(cfg, s.keyring, &s.id);
    }
    if (rc == 0) {
        rc = rw_id_attach(s.id, cfg, s.keyring);
    }
    if (rc != 0) {
        goto out;
    }
    s.n_workers = ncpu > 0 ? (size_t)ncpu : 1;
    if (getenv("RW_WORKERS") != NULL) {
        unsigned long nw = strtoul(getenv("RW_WORKERS"), NULL, 10);

        if (nw >= 1 && nw <= 256) {
            s.n_workers = nw;
        }
    }
    s.workers = rw_calloc(s.n_workers, sizeof(*s.workers));
    if (s.workers == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < s.n_workers; i++) {
        rc = worker_init(&s, &s.workers[i], i, cfg);
        if (rc != 0) {
            goto out;
        }
    }
    for (size_t i = 0; i < s.n_workers; i++) {
        if (pthread_create(&s.workers[i].thread, NULL, worker_main, &s.workers[i]) != 0) {
            rc = -errno;
            goto out;
        }
        started++;
    }
    rw_log_info(PROXY, "regwarden %s serving with %zu workers, policy %.16s", RW_VERSION,
                s.n_workers, cfg->policy_hash_hex);
    config_changed(config_path, &cfg_seen);
    for (;;) {
        int sig = 0;

        struct timespec poll = {RW_TLS_POLL_S, 0};

        sig = sigtimedwait(&set, NULL, &poll);
        if (sig < 0) {
            if (config_changed(config_path, &cfg_seen)) {
                rw_log_info(PROXY, "%s changed on disk: reloading", config_path);
                reload(&s, config_path);
            }
            for (size_t i = 0; i < s.n_tls; i++) {
                if (s.tls[i] != NULL) {
                    rw_tls_reload(s.tls[i], false);
                }
            }
            continue;
        }
        if (sig == SIGHUP) {
            reload(&s, config_path);
            for (size_t i = 0; i < s.n_tls; i++) {
                if (s.tls[i] != NULL) {
                    rw_tls_reload(s.tls[i], true);
                }
            }
        } else if (sig == SIGUSR1) {
            rw_denylog_reopen(s.denylog);
        } else if (sig == SIGTERM || sig == SIGINT) {
            rw_log_info(PROXY, "draining (signal %d)", sig);
            break;
        }
    }
    rc = 0;
out:
    atomic_store(&s.draining, true);
    for (size_t i = 0; i < started; i++) {
        struct timeval now = {0, 0};

        evtimer_add(s.workers[i].drain_ev, &now);
    }
    for (size_t i = 0; i < started; i++) {
        pthread_join(s.workers[i].thread, NULL);
    }
    rw_id_stop(&s.id);
    if (s.workers != NULL) {
        for (size_t i = 0; i < s.n_workers; i++) {
            worker_fini(&s.workers[i]);
        }
        rw_free(s.workers);
    }
    rw_upauth_fini(); /* tokens of upstreams.<name>.auth, after every worker is gone */
    if (s.cache != NULL) {
        rw_cache_sync(s.cache);
    }
    for (size_t i = 0; s.tls != NULL && i < s.n_tls; i++) {
        rw_tls_free(&s.tls[i]);
    }
    rw_free(s.tls);
    rw_cache_close(&s.cache);
    rw_denylog_close(&s.denylog);
    rw_config_unref(&s.cfg);
    rw_keyring_unref(&s.keyring);
    curl_global_cleanup();
    libevent_global_shutdown();
    if (rc != 0) {
        rw_log_err(PROXY, "serve failed: %s", rw_strerror(rc));
        return 1;
    }
    rw_log_info(PROXY, "stopped");
    return 0;
}
