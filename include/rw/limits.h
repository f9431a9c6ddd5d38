/* SPDX-License-Identifier: MIT */
/* Every bound of invariant 6, named once (R17). */
#ifndef RW_LIMITS_H
#define RW_LIMITS_H

#define RW_MAX_MANIFEST_BYTES     (4u * 1024u * 1024u) /* distribution's maxManifestBodySize */
#define RW_MAX_SIG_MANIFEST_BYTES (1u * 1024u * 1024u) /* a .sig manifest with many layers */
#define RW_MAX_PAYLOAD_BYTES      (64u * 1024u)        /* one simple-signing payload blob */
#define RW_MAX_SIG_LAYERS         64u                  /* signature layers examined per image */
#define RW_MAX_INDEX_CHILDREN     256u                 /* manifests listed in one index */
#define RW_MAX_MANIFEST_LAYERS    1024u                /* layers listed in one manifest */
#define RW_MAX_JSON_DEPTH         32u                  /* nesting accepted in any JSON input */
#define RW_MAX_SIG_BYTES          1024u                /* one decoded signature (RSA-4096 = 512) */
#define RW_MAX_ENVELOPE_BYTES     (512u * 1024u)       /* one DSSE envelope (.att layer blob) */
#define RW_MAX_DSSE_SIGS          16u                  /* signatures examined per DSSE envelope */
#define RW_MAX_DSSE_TYPE_LEN      256u                 /* DSSE payloadType, in-toto predicateType */
#define RW_MAX_ATTESTATION_TYPES  16u                  /* require.attestations entries per rule */
#define RW_MAX_REFERRERS          128u                 /* referrer descriptors examined, all pages */
#define RW_MAX_REFERRERS_PAGES    8u                   /* referrers API pages followed (Link next) */
#define RW_MAX_REFERRERS_PAGE_BYTES (1u * 1024u * 1024u) /* one referrers page or fallback index */
#define RW_MAX_REFERRER_ARTIFACTS 32u                  /* referrer manifests fetched per image */
#define RW_MAX_REFERRER_LAYERS    8u                   /* layers examined per referrer manifest */
#define RW_MAX_REFERRER_ANNOTATIONS 32u                /* annotations kept per referrer descriptor */
#define RW_MAX_LINK_URL           4096u                /* a Link rel="next" target */
#define RW_MAX_CONDITIONS         16u                  /* conditions per attestation requirement */
#define RW_MAX_COND_PATH_LEN      256u                 /* bytes of one condition path */
#define RW_MAX_COND_SEGMENTS      16u                  /* dot-separated segments of a path */
#define RW_MAX_COND_IN_VALUES     64u                  /* values of one `in` list */
#define RW_MAX_COND_VALUE_LEN     1024u                /* bytes of one condition value */
#define RW_MAX_COND_REACHED       4096u                /* values one wildcard path may reach */
#define RW_MAX_REQ_LINE           8192u                /* request line (method + target) */
#define RW_MAX_HEADER_BYTES       (64u * 1024u)        /* all request header fields together */
#define RW_MAX_HEADERS            100u                 /* request header fields */
#define RW_MAX_UPSTREAM_HEADER_BYTES (64u * 1024u)     /* all upstream response header fields */
#define RW_MAX_REPO_LEN           255u                 /* repository name */
#define RW_MAX_TAG_LEN            128u                 /* tag */
#define RW_MAX_DIGEST_LEN         135u                 /* "sha512:" + 128 hex */
#define RW_MAX_NAME_LEN           128u                 /* upstream / key / rule names */
#define RW_MAX_CONFIG_BYTES       (1u * 1024u * 1024u) /* config file */
#define RW_MAX_KEYS               64u                  /* keys in the config */
#define RW_MAX_RULES              1024u                /* push + pull rules */
#define RW_MAX_UPSTREAMS          64u
#define RW_MAX_LISTENERS          16u
#define RW_H2_MAX_STREAMS         100u                 /* concurrent streams per h2 connection */
#define RW_H2_STREAM_WINDOW       (1u * 1024u * 1024u) /* request body buffered per stream */
#define RW_H2_CONN_WINDOW         (8u * 1024u * 1024u) /* request body buffered per connection */
#define RW_H2_MAX_REQ_PER_S       10000u               /* new streams per connection per second */
#define RW_H2_MAX_RST_PER_S       200u                 /* client RST_STREAM per second, then GOAWAY */
#define RW_H2_MAX_CTRL_PER_S      200u                 /* client SETTINGS + PING per second */
#define RW_H2_MAX_CONTINUATIONS   8u                   /* CONTINUATION frames per header block */
#define RW_H2_STREAM_HIGH_WATER   (512u * 1024u)       /* response bytes queued per h2 stream */
#define RW_H2_STREAM_LOW_WATER    (128u * 1024u)       /* resume the route below this */
#define RW_BODY_HIGH_WATER        (1u * 1024u * 1024u) /* buffered bytes before backpressure */
#define RW_BODY_LOW_WATER         (256u * 1024u)       /* resume below this */
#define RW_SOCK_READ_AHEAD        (256u * 1024u)       /* client bytes read ahead of the parser */
#define RW_SOCK_MAX_WRITE         RW_BODY_HIGH_WATER   /* one client write(v) call (libevent: 16 KiB) */
#define RW_SOCK_MAX_READ          RW_SOCK_READ_AHEAD   /* one client read call (libevent: 16 KiB) */
#define RW_IDLE_TIMEOUT_MS        120000               /* client idle between requests */
#define RW_UPSTREAM_CONNECT_TIMEOUT_MS 10000
#define RW_UPSTREAM_IDLE_TIMEOUT_S 60                  /* no byte for this long ends a transfer */

#endif
