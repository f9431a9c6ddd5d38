/* SPDX-License-Identifier: MIT */
/*
 * The contract's Prometheus metrics (DESIGN.md "Metrics"), as fixed arrays of relaxed atomics:
 * no lock on the request path, no allocation. Rendered on the admin port by admin.c.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "rw/buf.h"
#include "rw/cache.h"
#include "rw/policy.h"
#include "proxy.h"

static const char *const methods[] = {"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OTHER"};
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))
#define N_ROUTES  (RW_ROUTE_COUNT + 1) /* the last slot: requests that matched no route */
#define N_CODES   500                  /* 100..599 */

static atomic_ulong requests[N_METHODS][N_ROUTES][N_CODES];
static atomic_ulong verdicts[2][RW_REASON_COUNT][2];
static const char *const sig_results[] = {"signed", "error"};
static atomic_ulong signatures[2];
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))
static atomic_ulong up_hist[N_BUCKETS + 1];
static atomic_ulong up_sum_us;
static atomic_ulong up_count;

static size_t method_idx(const char *m)
{
    for (size_t i = 0; i + 1 < N_METHODS; i++) {
        if (strcmp(m, methods[i]) == 0) {
            return i;
        }
    }
    return N_METHODS - 1;
}

void rw_metrics_request(const char *method, enum rw_route route, int status)
{
    size_t r = (size_t)route < RW_ROUTE_COUNT ? (size_t)route : RW_ROUTE_COUNT;

    if (status < 100 || status > 599) {
        status = 599;
    }
    atomic_fetch_add_explicit(&requests[method_idx(method)][r][status - 100], 1,
                              memory_order_relaxed);
}

void rw_metrics_verdict(bool allow, enum rw_reason reason, bool cached)
{
    if ((unsigned)reason >= RW_REASON_COUNT) {
        reason = RW_REASON_NONE;
    }
    atomic_fetch_add_explicit(&verdicts[allow ? 1 : 0][reason][cached ? 1 : 0], 1,
                              memory_order_relaxed);
}

void rw_metrics_signature(const char *result)
{
    atomic_fetch_add_explicit(&signatures[strcmp(result, "signed") == 0 ? 0 : 1], 1,
                              memory_order_relaxed);
}

void rw_metrics_upstream_seconds(double s)
{
    size_t i = 0;

    while (i < N_BUCKETS && s > buckets[i]) {
        i++;
    }
    atomic_fetch_add_explicit(&up_hist[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&up_sum_us, (unsigned long)(s * 1e6), memory_order_relaxed);
    atomic_fetch_add_explicit(&up_count, 1, memory_order_relaxed);
}

static const char *route_name(size_t r)
{
    return r < RW_ROUTE_COUNT ? rw_route_str((enum rw_route)r) : "invalid";
}

int rw_metrics_render(struct rw_server *s, struct rw_buf *out)
{
    struct rw_cache_stats st = {0};
    unsigned long cum = 0;
    struct rusage ru;
    int rc = 0;

    rc |= rw_buf_appends(out, "# HELP regwarden_requests_total Client requests answered.\n"
                              "# TYPE regwarden_requests_total counter\n");
    for (size_t m = 0; m < N_METHODS; m++) {
        for (size_t r = 0; r < N_ROUTES; r++) {
            for (size_t c = 0; c < N_CODES; c++) {
                unsigned long v = atomic_load_explicit(&requests[m][r][c], memory_order_relaxed);

                if (v != 0) {
                    rc |= rw_buf_printf(out,
                                        "regwarden_requests_total{method=\"%s\",route=\"%s\","
                                        "code=\"%zu\"} %lu\n",
                                        methods[m], route_name(r), c + 100, v);
                }
            }
        }
    }
    rc |= rw_buf_appends(out, "# HELP regwarden_verdicts_total Pull verdicts.\n"
                              "# TYPE regwarden_verdicts_total counter\n");
    for (size_t a = 0; a < 2; a++) {
        for (size_t r = 0; r < RW_REASON_COUNT; r++) {
            for (size_t c = 0; c < 2; c++) {
                unsigned long v = atomic_load_explicit(&verdicts[a][r][c], memory_order_relaxed);

                if (v != 0 || (r == 0 && a == 1)) {
                    rc |= rw_buf_printf(
                        out, "regwarden_verdicts_total{verdict=\"%s\",reason=\"%s\",cached=\"%s\"} %lu\n",
                        a ? "allow" : "deny", r == 0 ? "none" : rw_reason_str((enum rw_reason)r),
                        c ? "true" : "false", v);
                }
            }
        }
    }
    rc |= rw_buf_appends(out, "# HELP regwarden_signatures_total Signatures made on push.\n"
                              "# TYPE regwarden_signatures_total counter\n");
    for (size_t i = 0; i < 2; i++) {
        rc |= rw_buf_printf(out, "regwarden_signatures_total{result=\"%s\"} %lu\n", sig_results[i],
                            atomic_load(&signatures[i]));
    }
    rc |= rw_buf_appends(out,
                         "# HELP regwarden_upstream_request_seconds Upstream request latency.\n"
                         "# TYPE regwarden_upstream_request_seconds histogram\n");
    for (size_t i = 0; i < N_BUCKETS; i++) {
        cum += atomic_load(&up_hist[i]);
        rc |= rw_buf_printf(out, "regwarden_upstream_request_seconds_bucket{le=\"%g\"} %lu\n",
                            buckets[i], cum);
    }
    cum += atomic_load(&up_hist[N_BUCKETS]);
    rc |= rw_buf_printf(out, "regwarden_upstream_request_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
    rc |= rw_buf_printf(out, "regwarden_upstream_request_seconds_sum %.6f\n",
                        (double)atomic_load(&up_sum_us) / 1e6);
    rc |= rw_buf_printf(out, "regwarden_upstream_request_seconds_count %lu\n",
                        atomic_load(&up_count));
    if (s->cache != NULL) {
        rw_cache_stats_get(s->cache, &st);
    }
    rc |= rw_buf_printf(out,
                        "# HELP regwarden_cache_entries Verdicts and index links in the cache.\n"
                        "# TYPE regwarden_cache_entries gauge\n"
                        "regwarden_cache_entries %llu\n",
                        (unsigned long long)(st.verdicts + st.links));
    rc |= rw_buf_printf(out,
                        "# HELP regwarden_connections Open client connections.\n"
                        "# TYPE regwarden_connections gauge\n"
                        "regwarden_connections %ld\n",
                        atomic_load(&s->connections));
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        rc |= rw_buf_printf(out,
                            "# HELP process_cpu_seconds_total CPU time used.\n"
                            "# TYPE process_cpu_seconds_total counter\n"
                            "process_cpu_seconds_total %.3f\n"
                            "# HELP process_max_resident_memory_bytes Peak RSS.\n"
                            "# TYPE process_max_resident_memory_bytes gauge\n"
                            "process_max_resident_memory_bytes %ld\n",
                            (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                                ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6,
                            ru.ru_maxrss * 1024L);
    }
    return rc != 0 ? -1 : 0;
}
