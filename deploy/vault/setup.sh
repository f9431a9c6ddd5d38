#!/bin/sh
# SPDX-License-Identifier: MIT
# Vault side of regwarden's signing (PROTOCOLS.md §7): transit key, jwt auth pointed at SPIRE's OIDC
# discovery, a role bound to regwarden's SPIFFE ID, a policy allowing only sign + read on the key.
set -eu
TRUST_DOMAIN=${TRUST_DOMAIN:-example.org}
SPIFFE_ID=${SPIFFE_ID:-spiffe://$TRUST_DOMAIN/ns/regwarden/sa/regwarden}
OIDC_URL=${OIDC_URL:-https://oidc-discovery.$TRUST_DOMAIN}
TRANSIT=${TRANSIT:-transit}
KEY=${KEY:-frsca}
JWT_MOUNT=${JWT_MOUNT:-jwt}
ROLE=${ROLE:-regwarden}
AUDIENCE=${AUDIENCE:-vault}

vault secrets enable -path="$TRANSIT" transit 2>/dev/null || true
# ECDSA P-256: what cosign and containers/image verify by default (gotcha 9: RSA would need pkcs1v15)
vault write -f "$TRANSIT/keys/$KEY" type=ecdsa-p256

vault policy write regwarden-transit - <<EOP
path "$TRANSIT/sign/$KEY"   { capabilities = ["update"] }
path "$TRANSIT/sign/$KEY/*" { capabilities = ["update"] }
path "$TRANSIT/keys/$KEY"   { capabilities = ["read"] }
EOP

vault auth enable -path="$JWT_MOUNT" jwt 2>/dev/null || true
# Vault fetches $OIDC_URL/.well-known/openid-configuration; its issuer must equal OIDC_URL exactly
vault write "auth/$JWT_MOUNT/config" oidc_discovery_url="$OIDC_URL"
vault write "auth/$JWT_MOUNT/role/$ROLE" \
    role_type=jwt user_claim=sub \
    bound_audiences="$AUDIENCE" bound_subject="$SPIFFE_ID" \
    token_ttl=1h token_max_ttl=24h token_policies=regwarden-transit

# rotation (new pushes sign with v2; regwarden keeps verifying v1 until min_decryption_version moves):
#   vault write -f "$TRANSIT/keys/$KEY/rotate"
echo "vault: transit $TRANSIT/$KEY, auth/$JWT_MOUNT role $ROLE bound to $SPIFFE_ID (aud $AUDIENCE)"
