#!/bin/sh
# SPDX-License-Identifier: MIT
# SPIRE registration entry for regwarden's service account (run where spire-server runs).
set -eu
TRUST_DOMAIN=${TRUST_DOMAIN:-example.org}
NS=${NS:-regwarden}
SA=${SA:-regwarden}
CLUSTER=${CLUSTER:-cluster}
PARENT=${PARENT:-spiffe://$TRUST_DOMAIN/spire/agent/k8s_psat/$CLUSTER}

spire-server entry create \
    -spiffeID "spiffe://$TRUST_DOMAIN/ns/$NS/sa/$SA" \
    -parentID "$PARENT" \
    -selector "k8s:ns:$NS" \
    -selector "k8s:sa:$SA" \
    -jwtSVIDTTL 300
