/* SPDX-License-Identifier: MIT */
/*
 * Docker's config.json (`upstreams.<name>.auth.docker_config`): finds the credential for one
 * registry host in `auths`, either `auth` (base64 "user:password") or `username`/`password`, and
 * hands back the Basic value regwarden sends to the upstream's token realm. Pure: bytes in,
 * strings out; the file is read by config.c. Nothing here logs a credential: errors name the
 * host and the field, never a value.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rw/err.h"
#include "rw/mem.h"
#include "rw/policy.h"
#include "jsonutil.h"

#define DCFG_MAX_CRED 4096u /* decoded "user:password" */

static void wipe(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
    }
}

/* Host part of an auths key: "host[:port]", "https://host[:port]/v1/" -> "host[:port]". */
static size_t key_host(const char *key, const char **start)
{
    const char *p = key;
    size_t n;

    if (strncasecmp(p, "https://", 8) == 0) {
        p += 8;
    } else if (strncasecmp(p, "http://", 7) == 0) {
        p += 7;
    }
    n = strcspn(p, "/");
    *start = p;
    return n;
}

static bool is_docker_hub(const char *h, size_t n)
{
    static const char *const names[] = {"docker.io", "index.docker.io", "registry-1.docker.io",
                                        "registry.hub.docker.com"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i]) == n && strncasecmp(h, names[i], n) == 0) {
            return true;
        }
    }
    return false;
}

static bool host_matches(const char *key, const char *hostport)
{
    const char *h;
    size_t n = key_host(key, &h);
    size_t hl = strlen(hostport);

    if (n == hl && strncasecmp(h, hostport, n) == 0) {
        return true;
    }
    /* `docker login` stores Docker Hub as https://index.docker.io/v1/; the API host differs */
    return is_docker_hub(h, n) && is_docker_hub(hostport, hl);
}

static int basic_of(const char *user, size_t ul, const char *pass, size_t pl, char **basic)
{
    struct rw_buf b;
    char *raw = NULL;
    int rc;

    if (ul + pl + 1 > DCFG_MAX_CRED) {
        return RW_ETOOBIG;
    }
    raw = rw_malloc(ul + pl + 2);
    if (raw == NULL) {
        return -ENOMEM;
    }
    memcpy(raw, user, ul);
    raw[ul] = ':';
    memcpy(raw + ul + 1, pass, pl);
    raw[ul + pl + 1] = '\0';
    rw_buf_init(&b, 2 * DCFG_MAX_CRED);
    rc = rw_base64_encode((const uint8_t *)raw, ul + pl + 1, &b);
    explicit_bzero(raw, ul + pl + 1);
    rw_free(raw);
    if (rc != 0) {
        rw_buf_fini(&b);
        return rc;
    }
    *basic = (char *)b.data;
    return 0;
}

static bool cred_text_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

int rw_dockercfg_lookup(const char *json, size_t len, const char *hostport, char **basic,
                        char **username, char *err, size_t errlen)
{
    json_t *root = NULL;
    json_t *auths;
    json_t *entry = NULL;
    const char *key;
    json_t *val;
    uint8_t *dec = NULL;
    size_t declen = 0;
    char *b = NULL;
    char *u = NULL;
    int rc;

    rc = rw_policy_json_load((const uint8_t *)json, len, RW_MAX_CONFIG_BYTES, &root);
    if (rc != 0 || !json_is_object(root)) {
        snprintf(err, errlen, "not a JSON object");
        rc = RW_EINVAL;
        goto out;
    }
    auths = json_object_get(root, "auths");
    if (auths != NULL && !json_is_object(auths)) {
        snprintf(err, errlen, "\"auths\" is not an object");
        rc = RW_EINVAL;
        goto out;
    }
    json_object_foreach(auths, key, val) {
        if (host_matches(key, hostport)) {
            entry = val;
            break;
        }
    }
    if (entry == NULL || !json_is_object(entry)) {
        snprintf(err, errlen, "no credential for %.200s in \"auths\"%s", hostport,
                 (json_object_get(root, "credHelpers") != NULL ||
                  json_object_get(root, "credsStore") != NULL)
                     ? " (credential helpers are not supported)"
                     : "");
        rc = -ENOENT;
        goto out;
    }
    val = json_object_get(entry, "auth");
    if (json_is_string(val) && json_string_length(val) > 0) {
        const char *colon;

        dec = rw_malloc(DCFG_MAX_CRED + 1);
        if (dec == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        rc = rw_base64_decode(json_string_value(val), json_string_length(val), dec, DCFG_MAX_CRED,
                              &declen);
        colon = rc == 0 ? memchr(dec, ':', declen) : NULL;
        if (rc != 0 || colon == NULL || colon == (const char *)dec ||
            !cred_text_ok((const char *)dec, declen)) {
            snprintf(err, errlen, "auths.%.200s.auth: not base64 of \"user:password\"", hostport);
            rc = RW_EINVAL;
            goto out;
        }
        u = rw_strndup((const char *)dec, (size_t)(colon - (const char *)dec));
        rc = u == NULL ? -ENOMEM
                       : basic_of((const char *)dec, (size_t)(colon - (const char *)dec),
                                  colon + 1, declen - (size_t)(colon - (const char *)dec) - 1, &b);
    } else {
        json_t *ju = json_object_get(entry, "username");
        json_t *jp = json_object_get(entry, "password");

        if (!json_is_string(ju) || !json_is_string(jp) || json_string_length(ju) == 0 ||
            json_string_length(jp) == 0) {
            snprintf(err, errlen,
                     "auths.%.200s: neither \"auth\" nor \"username\" and \"password\"%s",
                     hostport,
                     json_object_get(entry, "identitytoken") != NULL
                         ? " (identity tokens are not supported)"
                         : "");
            rc = RW_EINVAL;
            goto out;
        }
        if (memchr(json_string_value(ju), ':', json_string_length(ju)) != NULL ||
            !cred_text_ok(json_string_value(ju), json_string_length(ju)) ||
            !cred_text_ok(json_string_value(jp), json_string_length(jp))) {
            snprintf(err, errlen, "auths.%.200s: username with ':' or control characters",
                     hostport);
            rc = RW_EINVAL;
            goto out;
        }
        u = rw_strdup(json_string_value(ju));
        rc = u == NULL ? -ENOMEM
                       : basic_of(json_string_value(ju), json_string_length(ju),
                                  json_string_value(jp), json_string_length(jp), &b);
    }
    if (rc == RW_ETOOBIG) {
        snprintf(err, errlen, "auths.%.200s: credential too long", hostport);
    }
    if (rc == 0) {
        *basic = b;
        *username = u;
        b = NULL;
        u = NULL;
    }
out:
    if (dec != NULL) {
        explicit_bzero(dec, DCFG_MAX_CRED + 1);
        rw_free(dec);
    }
    wipe(b);
    rw_free(b);
    rw_free(u);
    json_decref(root); /* the password strings inside are freed by jansson, not wiped */
    return rc;
}
