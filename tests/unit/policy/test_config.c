/* SPDX-License-Identifier: MIT */
/* policy/config.c: schema, file:line errors, defaults, policy hash, refcount, failmalloc. */
#include <time.h>

#include "common.h"

static char g_err[512];

static int load(const char *yaml, struct rw_config **out)
{
    return load_t_yaml(yaml, out, g_err, sizeof(g_err));
}

static void test_good_file(void **state)
{
    struct rw_config *c = NULL;
    char path[1024];
    char want[1200];
    const struct rw_pull_rule *r;

    (void)state;
    assert_int_equal(rw_config_load(rwt_data_path(path, sizeof(path), "policy/good.yaml"), &c,
                                    g_err, sizeof(g_err)),
                     0);
    assert_non_null(c);
    assert_int_equal(c->n_listen, 2);
    assert_string_equal(c->listen[0].address, "127.0.0.1:5001");
    assert_null(c->listen[0].tls_cert);
    assert_string_equal(c->listen[1].address, "[::1]:5443");
    snprintf(want, sizeof(want), "%s/tls.crt", c->dir);
    assert_string_equal(c->listen[1].tls_cert, want);
    assert_non_null(c->listen[1].client_ca);
    assert_string_equal(c->admin, "127.0.0.1:9091");
    assert_int_equal(c->n_upstreams, 2);
    assert_string_equal(rw_config_upstream(c, "ghcr")->url, "https://ghcr.io");
    assert_string_equal(c->default_upstream, "registry.local");
    assert_int_equal(c->cache.allow_ttl, 12 * 3600);
    assert_int_equal(c->cache.deny_ttl, 45);
    assert_int_equal(c->cache.map_size, 64u * 1024 * 1024);
    snprintf(want, sizeof(want), "%s/./state/deny.jsonl", c->dir);
    assert_string_equal(c->deny_log, want);
    assert_int_equal(c->n_keys, 3);
    assert_non_null(rw_config_key(c, "team")->pub);
    assert_non_null(c->signer);
    assert_string_equal(rw_signer_name(c->signer), "file");
    assert_int_equal(c->n_push, 1);
    assert_true(c->push[0].attest);
    assert_int_equal(c->push[0].n_identities, 1);
    assert_int_equal(c->n_pull, 2);
    assert_int_equal(c->pull[0].n_signed_by, 2);
    assert_int_equal(c->pull[0].line, 28);
    assert_string_equal(c->log_format, "json");
    assert_string_equal(c->log_level, "debug");
    assert_true(c->path[0] == '/');
    r = rw_policy_pull_rule(c, "registry.local", "team/app");
    assert_ptr_equal(r, &c->pull[0]);
    assert_int_equal(rw_policy_rule_mode(c, r), RW_MODE_ENFORCE);
    r = rw_policy_pull_rule(c, "registry.local", "library/busybox");
    assert_ptr_equal(r, &c->pull[1]);
    assert_int_equal(rw_policy_rule_mode(c, r), RW_MODE_AUDIT);
    assert_null(rw_policy_pull_rule(c, "registry.local", "library/a/b"));
    assert_null(rw_policy_pull_rule(c, "ghcr", "team/app"));
    assert_ptr_equal(rw_policy_push_rule(c, "registry.local", "team/x/y"), &c->push[0]);
    assert_int_equal(strlen(c->policy_hash_hex), 64);
    /* refcount */
    {
        struct rw_config *c2 = rw_config_ref(c);

        rw_config_unref(&c2);
        assert_null(c2);
    }
    rw_config_unref(&c);
    assert_null(c);
}

static void test_defaults(void **state)
{
    struct rw_config *c = NULL;

    (void)state;
    assert_int_equal(load("upstreams: {r: 'http://h:1'}\n", &c), 0);
    assert_int_equal(c->cache.allow_ttl, 86400);
    assert_int_equal(c->cache.deny_ttl, 30);
    assert_int_equal(c->cache.map_size, 256u * 1024 * 1024);
    assert_null(c->cache.path);
    assert_string_equal(c->deny_log, "-");
    assert_int_equal(c->pull_mode, RW_MODE_ENFORCE);
    assert_string_equal(c->log_level, "info");
    assert_string_equal(c->log_format, "text");
    assert_null(c->signer);
    assert_null(c->default_upstream);
    assert_int_equal(c->n_pull, 0);
    assert_null(rw_policy_pull_rule(c, "r", "a"));
    rw_config_unref(&c);
}

static void test_json_form(void **state)
{
    struct rw_config *c = NULL;
    const char *json =
        "{\"upstreams\": {\"registry.local\": \"http://127.0.0.1:5000\"},\n"
        " \"keys\": {\"team\": {\"file\": \"p256.pub\"}},\n"
        " \"cache\": {\"allow_ttl\": 3600, \"deny_ttl\": \"1m\", \"map_size\": 1048576},\n"
        " \"pull\": {\"mode\": \"audit\", \"rules\": [\n"
        "   {\"match\": \"registry.local/**\", \"require\": {\"signed_by\": [\"team\"]}}]}}\n";

    (void)state;
    assert_int_equal(load(json, &c), 0);
    assert_int_equal(c->pull_mode, RW_MODE_AUDIT);
    assert_int_equal(c->cache.allow_ttl, 3600);
    assert_int_equal(c->cache.deny_ttl, 60);
    assert_int_equal(c->cache.map_size, 1048576);
    assert_int_equal(c->n_pull, 1);
    rw_config_unref(&c);
    /* a JSON error still names a line */
    assert_int_equal(load("{\"upstreams\": {\"r\": \"http://h\"},\n \"bogus\": 1}\n", &c),
                     RW_ECONFIG);
    assert_non_null(strstr(g_err, "t.yaml:2: "));
}

#define UP "upstreams: {r: 'http://h:1'}\n"
#define KEYS "keys: {team: {file: p256.pub}}\n"

static const struct err_case err_cases[] = {
    {UP "cache: {path: x}\nbogus: 1\n", "t.yaml:3: ", "unknown key 'bogus'"},
    {UP "cache:\n  path: x\n  alow_ttl: 1h\n", "t.yaml:4: ", "unknown key 'alow_ttl'"},
    {UP KEYS "pull:\n  rules:\n    - match: 'r/a**'\n      allow: true\n", "t.yaml:5: ",
     "invalid pattern"},
    {UP KEYS "pull:\n  rules:\n    - match: 'r//a'\n      allow: true\n", "t.yaml:5: ",
     "invalid pattern"},
    {UP "keys:\n  team: {file: nope.pub}\n", "t.yaml:3: ", "cannot load public key"},
    {UP "keys:\n  team:\n    file: garbage.pub\n", "t.yaml:4: ", "cannot load public key"},
    {UP "keys:\n  weak: {file: rsa1024.pub}\n", "t.yaml:3: ", "cannot load public key"},
    {UP KEYS "pull:\n  rules:\n    - match: 'r/**'\n      require: {signed_by: [team, nobody]}\n",
     "t.yaml:6: ", "key 'nobody' is not defined"},
    {UP KEYS "pull:\n  rules:\n    - match: 'r/**'\n      require: {signed_by: []}\n",
     "t.yaml:6: ", "at least one key"},
    {"upstreams:\n  r: 'http://h:1/v2'\n", "t.yaml:2: ", "invalid URL"},
    {"upstreams:\n  r: 'http://h:1?x=1'\n", "t.yaml:2: ", "invalid URL"},
    {"upstreams:\n  r: 'http://u:p@h:1'\n", "t.yaml:2: ", "invalid URL"},
    {"upstreams:\n  r: 'ftp://h'\n", "t.yaml:2: ", "invalid URL"},
    {"upstreams:\n  r: 'http://h:99999'\n", "t.yaml:2: ", "invalid URL"},
    {"upstreams:\n  r: 'http://[zz::1]:80'\n", "t.yaml:2: ", "invalid URL"},
    {UP "cache:\n  allow_ttl: 1y\n", "t.yaml:3: ", "invalid duration"},
    {UP "cache:\n  deny_ttl: -5s\n", "t.yaml:3: ", "invalid duration"},
    {UP "cache:\n  map_size: 12 parsecs\n", "t.yaml:3: ", "invalid size"},
    {UP KEYS "pull:\n  rules:\n    - match: 'r/**'\n      allow: true\n"
             "      require: {signed_by: [team]}\n",
     "t.yaml:5: ", "not both"},
    {UP KEYS "pull:\n  rules:\n    - match: 'r/**'\n      mode: audit\n", "t.yaml:5: ",
     "needs allow: true"},
    {UP KEYS "pull:\n  rules:\n    - match: 'r/**'\n      allow: yes please\n", "t.yaml:6: ",
     "true or false"},
    {UP KEYS "pull:\n  mode: lenient\n", "t.yaml:4: ", "enforce or audit"},
    {UP "cache: {path: a}\ncache: {path: b}\n", "t.yaml:3: ", "duplicated key 'cache'"},
    {UP "keys:\n  team: {vault_transit: frsca}\n", "t.yaml:3: ", "needs signer.vault"},
    {UP "keys:\n  team: {vault_transit: frsca, file: p256.pub}\n", "t.yaml:3: ", "exclusive"},
    {UP "keys:\n  team: {vault_transit: 'a/b'}\n", "t.yaml:3: ", "invalid Vault key"},
    {UP "keys:\n  team: {file: p256.pub, mount: m}\n", "t.yaml:3: ", "only with vault_transit"},
    {UP "signer:\n  vault: {address: 'https://v'}\n", "t.yaml:3: ",
     "address and key are required"},
    {UP "signer:\n  vault: {address: 'v:1', key: k, auth: {token_file: t}}\n", "t.yaml:3: ",
     "invalid URL"},
    {UP "signer:\n  vault: {address: 'http://v', key: k}\n", "t.yaml:3: ", "auth is required"},
    {UP "signer:\n  vault: {address: 'http://v', key: k, auth: {}}\n", "t.yaml:3: ",
     "exactly one of jwt or token_file"},
    {UP "signer:\n  vault: {address: 'http://v', key: k, auth: {jwt: {mount: j}}}\n",
     "t.yaml:3: ", "role is required"},
    {UP "signer:\n  vault: {address: 'http://v', key: k, auth: {jwt: {role: r}}}\n",
     "t.yaml:3: ", "needs spire.socket"},
    {UP "signer:\n  vault: {address: 'http://v', key: k, bogus: 1, auth: {token_file: t}}\n",
     "t.yaml:3: ", "unknown key 'bogus'"},
    {UP "signer:\n  file: {key: p256-pkcs8.key}\n  vault: {address: 'http://v', key: k}\n",
     "t.yaml:3: ", "exclusive"},
    {UP "spire: {socket: '/run/agent.sock'}\n", "t.yaml:2: ", "unix:///absolute/path"},
    {UP "signer:\n  file: {key: p256-encrypted.key}\n", "t.yaml:3: ", "cannot load private key"},
    {UP "signer:\n  file: {key: missing.key}\n", "t.yaml:3: ", "cannot load private key"},
    {UP "default_upstream: other\n", "t.yaml:2: ", "not one of upstreams"},
    {"listen: []\n", "t.yaml:1: ", "at least one upstream"},
    {UP "listen:\n  - address: nowhere\n", "t.yaml:3: ", "host:port"},
    {UP "listen:\n  - address: ':1'\n    tls: {cert: a}\n", "t.yaml:4: ", "cert and key"},
    {UP "log: {format: xml}\n", "t.yaml:2: ", "text or json"},
    {UP "log: {level: loud}\n", "t.yaml:2: ", "debug, info"},
    {UP "pull: {rules: [\n", "t.yaml:", ""},
    {"", "t.yaml:1: ", "empty"},
    {UP "---\n" UP, "t.yaml:", "one YAML document"},
    {"- a\n- b\n", "t.yaml:1: ", "expected a mapping"},
};

/* signer.vault + keys.vault_transit + spire: parsed into plain structs, nothing contacted. */
static void test_vault(void **state)
{
    struct rw_config *c = NULL;
    struct rw_config *c2 = NULL;
    const struct rw_key_cfg *kc;
    const char *y =
        UP "keys:\n  fr: {vault_transit: frsca}\n  other: {vault_transit: k2, mount: t2}\n"
           "signer:\n  vault:\n    address: 'https://vault:8200/'\n    key: frsca\n"
           "    namespace: ns1/\n    auth: {jwt: {role: regwarden}}\n"
           "spire: {socket: 'unix:///run/spire/agent.sock'}\n"
           "pull:\n  rules:\n    - match: 'r/**'\n      require: {signed_by: [fr]}\n";
    uint8_t vp[32];

    (void)state;
    unsetenv("SPIFFE_ENDPOINT_SOCKET");
    if (load(y, &c) != 0) {
        fail_msg("%s", g_err);
    }
    assert_null(c->signer); /* installed by the proxy */
    assert_non_null(c->signer_cfg.vault);
    assert_string_equal(c->signer_cfg.vault->address, "https://vault:8200");
    assert_string_equal(c->signer_cfg.vault->mount, "transit");
    assert_string_equal(c->signer_cfg.vault->ns, "ns1/");
    assert_string_equal(c->signer_cfg.vault->jwt_role, "regwarden");
    assert_string_equal(c->signer_cfg.vault->jwt_mount, "jwt");
    assert_string_equal(c->signer_cfg.vault->jwt_audience, "vault");
    assert_null(c->signer_cfg.vault->token_file);
    assert_string_equal(c->spire_socket, "unix:///run/spire/agent.sock");
    kc = rw_config_key(c, "fr");
    assert_string_equal(kc->ring_id, "transit/frsca");
    assert_null(kc->pub);
    kc = rw_config_key(c, "other");
    assert_string_equal(kc->ring_id, "t2/k2");
    assert_true(rw_config_uses_vault_keys(c));
    /* no keyring yet: verdict policy = sha256(policy_hash || zeros) != policy_hash */
    rw_config_verdict_policy(c, vp);
    assert_memory_not_equal(vp, c->policy_hash, 32);
    /* SPIFFE_ENDPOINT_SOCKET is the default socket */
    setenv("SPIFFE_ENDPOINT_SOCKET", "unix:///tmp/a.sock", 1);
    assert_int_equal(load(UP "signer:\n  vault: {address: 'http://v', key: k, "
                             "auth: {jwt: {role: r, audience: aud2, mount: spiffe-jwt}}}\n",
                          &c2),
                     0);
    unsetenv("SPIFFE_ENDPOINT_SOCKET");
    assert_string_equal(c2->spire_socket, "unix:///tmp/a.sock");
    assert_string_equal(c2->signer_cfg.vault->jwt_audience, "aud2");
    assert_false(rw_config_uses_vault_keys(c2));
    rw_config_verdict_policy(c2, vp);
    assert_memory_equal(vp, c2->policy_hash, 32);
    rw_config_unref(&c2);
    assert_int_equal(load(UP "signer:\n  vault: {address: 'http://v', key: k, "
                             "auth: {token_file: tok}}\n",
                          &c2),
                     0);
    assert_non_null(strstr(c2->signer_cfg.vault->token_file, "/tok"));
    rw_config_unref(&c2);
    rw_config_unref(&c);
}

static void test_errors(void **state)
{
    (void)state;
    expect_config_errors(err_cases, sizeof(err_cases) / sizeof(err_cases[0]));
}

static void test_missing_file(void **state)
{
    struct rw_config *c = NULL;

    (void)state;
    assert_int_equal(rw_config_load("/nonexistent/x.yaml", &c, g_err, sizeof(g_err)), RW_ECONFIG);
    assert_non_null(strstr(g_err, "/nonexistent/x.yaml:1: "));
}

static void test_too_big(void **state)
{
    struct rw_config *c = NULL;
    size_t n = RW_MAX_CONFIG_BYTES + 1;
    char *big = malloc(n);

    (void)state;
    memset(big, '#', n);
    assert_int_equal(rw_config_load_mem("t.yaml", "/", big, n, &c, g_err, sizeof(g_err)),
                     RW_ECONFIG);
    free(big);
}

static void hash_of(const char *yaml, char out[65])
{
    struct rw_config *c = NULL;

    if (load(yaml, &c) != 0) {
        fail_msg("load: %s", g_err);
    }
    memcpy(out, c->policy_hash_hex, 65);
    rw_config_unref(&c);
}

#define HBASE_KEYS "keys:\n  team: {file: p256.pub}\n  ops: {file: ed25519.pub}\n"
#define HBASE_PULL                                                                                 \
    "pull:\n  rules:\n    - match: 'r/team/**'\n      require: {signed_by: [team]}\n"              \
    "    - match: 'r/lib/*'\n      allow: true\n"

static void test_policy_hash(void **state)
{
    char h0[65];
    char h[65];

    (void)state;
    hash_of(UP HBASE_KEYS HBASE_PULL, h0);
    /* irrelevant edits keep the hash */
    hash_of("listen: [{address: '0.0.0.0:1'}]\nadmin: 'h:2'\n" UP HBASE_KEYS HBASE_PULL, h);
    assert_string_equal(h, h0);
    hash_of("upstreams: {r: 'https://other:9'}\ncache: {allow_ttl: 1h}\n" HBASE_KEYS HBASE_PULL, h);
    assert_string_equal(h, h0);
    hash_of(UP "keys:\n  ops: {file: ed25519.pub}\n  team: {file: p256.pub}\n" HBASE_PULL, h);
    assert_string_equal(h, h0);
    /* an unreferenced key's content does not matter */
    hash_of(UP "keys:\n  team: {file: p256.pub}\n  ops: {file: other.pub}\n" HBASE_PULL, h);
    assert_string_equal(h, h0);
    /* policy edits change it */
    hash_of(UP HBASE_KEYS "pull:\n  rules:\n    - match: 'r/team/**'\n"
                          "      require: {signed_by: [team, ops]}\n"
                          "    - match: 'r/lib/*'\n      allow: true\n",
            h);
    assert_string_not_equal(h, h0);
    hash_of(UP HBASE_KEYS "pull:\n  rules:\n    - match: 'r/lib/*'\n      allow: true\n"
                          "    - match: 'r/team/**'\n      require: {signed_by: [team]}\n",
            h);
    assert_string_not_equal(h, h0);
    hash_of(UP HBASE_KEYS "pull:\n  mode: audit\n  rules:\n    - match: 'r/team/**'\n"
                          "      require: {signed_by: [team]}\n"
                          "    - match: 'r/lib/*'\n      allow: true\n",
            h);
    assert_string_not_equal(h, h0);
    hash_of(UP HBASE_KEYS "pull:\n  rules:\n    - match: 'r/team/**'\n"
                          "      require: {signed_by: [team]}\n      mode: audit\n"
                          "    - match: 'r/lib/*'\n      allow: true\n",
            h);
    assert_string_not_equal(h, h0);
    /* swapping the referenced key's file content changes it */
    hash_of(UP "keys:\n  team: {file: other.pub}\n  ops: {file: ed25519.pub}\n" HBASE_PULL, h);
    assert_string_not_equal(h, h0);
}

static void test_duration(void **state)
{
    (void)state;
    assert_int_equal(rw_duration_parse("24h"), 86400);
    assert_int_equal(rw_duration_parse("30s"), 30);
    assert_int_equal(rw_duration_parse("15m"), 900);
    assert_int_equal(rw_duration_parse("7d"), 7 * 86400);
    assert_int_equal(rw_duration_parse("90"), 90);
    assert_int_equal(rw_duration_parse("0"), 0);
    assert_int_equal(rw_duration_parse("1h30m"), 5400);
    assert_int_equal(rw_duration_parse(""), -1);
    assert_int_equal(rw_duration_parse("h"), -1);
    assert_int_equal(rw_duration_parse("-1s"), -1);
    assert_int_equal(rw_duration_parse("1h30"), -1);
    assert_int_equal(rw_duration_parse("5w"), -1);
    assert_int_equal(rw_duration_parse("99999999999999999999s"), -1);
    assert_int_equal(rw_duration_parse("9999999999999999d"), -1);
    assert_int_equal(rw_duration_parse(NULL), -1);
}

static void test_failmalloc(void **state)
{
    char path[1024];
    size_t len = 0;
    uint8_t *text = read_data("policy/good.yaml", &len);
    bool succeeded = false;

    (void)state;
    for (long n = 0; n < 5000 && !succeeded; n++) {
        struct rw_config *c = NULL;
        int rc;

        rw_mem_fail_after(n);
        rc = rw_config_load_mem("good.yaml", pdata_dir(path, sizeof(path)), (const char *)text,
                                len, &c, g_err, sizeof(g_err));
        rw_mem_fail_after(-1);
        if (rc == 0) {
            assert_non_null(c);
            assert_int_equal(c->n_pull, 2);
            succeeded = true;
            rw_config_unref(&c);
        } else {
            assert_null(c);
        }
    }
    assert_true(succeeded);
    free(text);
}

/*
 * Red-team 4: anchors and aliases. A 70 KB file of `*r` aliases to one big rule expanded to 1021
 * rules of 16 attestations x 16 conditions x 64 values: 1.6 GB resident for `regwarden check`
 * (and for a SIGHUP reload). Aliases are counted as what they expand to; an alias inside the node
 * it names is refused; nesting is bounded before libyaml's loader (quadratic in flow depth) runs.
 */
static char *alias_bomb(size_t n_aliases)
{
    struct rw_buf b;
    char *out;

    rw_buf_init(&b, 0);
    rw_buf_appends(&b, "upstreams: {r: 'http://h:1'}\nkeys:\n  team: {file: p256.pub}\npull:\n"
                       "  rules:\n    - &r {match: "
                       "'r/**', require: {signed_by: [team], attestations: [");
    for (int a = 0; a < 16; a++) {
        char t[64];

        snprintf(t, sizeof(t), "%s{predicate_type: 'https://x/%d', conditions: [", a ? "," : "", a);
        rw_buf_appends(&b, t);
        for (int c = 0; c < 16; c++) {
            rw_buf_appends(&b, c ? ",{path: a.b, in: [" : "{path: a.b, in: [");
            for (int v = 0; v < 64; v++) {
                snprintf(t, sizeof(t), "%sv%d", v ? "," : "", v);
                rw_buf_appends(&b, t);
            }
            rw_buf_appends(&b, "]}");
        }
        rw_buf_appends(&b, "]}");
    }
    rw_buf_appends(&b, "]}}\n");
    for (size_t i = 0; i < n_aliases; i++) {
        rw_buf_appends(&b, "    - *r\n");
    }
    rw_buf_append(&b, "", 1);
    out = strdup((const char *)b.data);
    rw_buf_fini(&b);
    return out;
}

static void test_alias_expansion_bounded(void **state)
{
    struct rw_config *c = NULL;
    char *yaml;

    (void)state;
    /* a few aliases of a rule: fine */
    yaml = alias_bomb(3);
    if (load(yaml, &c) != 0) {
        fail_msg("load: %s", g_err);
    }
    assert_int_equal(c->n_pull, 4);
    rw_config_unref(&c);
    free(yaml);
    /* 64 of them: over a million nodes once expanded */
    yaml = alias_bomb(64);
    assert_int_equal(load(yaml, &c), RW_ECONFIG);
    assert_null(c);
    assert_non_null(strstr(g_err, "aliases expand to more than"));
    free(yaml);
    /* an alias inside the node it names */
    assert_int_equal(load("pull: &a {mode: enforce, rules: [*a]}\n", &c), RW_ECONFIG);
    assert_non_null(strstr(g_err, "t.yaml:1: "));
    assert_non_null(strstr(g_err, "inside the node it names"));
}

static void test_nesting_bounded(void **state)
{
    struct rw_config *c = NULL;
    size_t depth = 100000;
    char *yaml = malloc(2 * depth + 16);
    struct timespec t0;
    struct timespec t1;

    (void)state;
    memcpy(yaml, "x: ", 3);
    memset(yaml + 3, '[', depth);
    memset(yaml + 3 + depth, ']', depth);
    yaml[3 + 2 * depth] = '\n';
    yaml[4 + 2 * depth] = '\0';
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(load(yaml, &c), RW_ECONFIG);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_null(c);
    assert_non_null(strstr(g_err, "t.yaml:1: "));
    assert_non_null(strstr(g_err, "nested deeper than"));
    assert_true(t1.tv_sec - t0.tv_sec < 2);
    free(yaml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),   cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_json_form),   cmocka_unit_test(test_errors),
        cmocka_unit_test(test_missing_file), cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_policy_hash), cmocka_unit_test(test_duration),
        cmocka_unit_test(test_failmalloc),  cmocka_unit_test(test_vault),
        cmocka_unit_test(test_alias_expansion_bounded), cmocka_unit_test(test_nesting_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
