#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Vault stand-in: the HTTP JSON API regwarden uses (shared/PROTOCOLS.md §7), with fault switches.

Endpoints (documented request/response shapes; errors are {"errors": [...]}):
  POST /v1/auth/<jwt mount>/login        {role, jwt}: ES256 JWT checked against --jwt-pubkey (the
                                          SPIRE stand-in's key), exp, aud ∩ bound_audiences, sub ==
                                          bound_subject -> {"auth": {client_token, lease_duration,
                                          renewable, policies, ...}}
  POST /v1/auth/token/renew-self         -> {"auth": {...}} (extends to token_ttl)
  GET  /v1/auth/token/lookup-self        -> {"data": {ttl, renewable, policies}}
  POST /v1/<transit>/keys/<k>            {type}: create (ecdsa-p256 default, ed25519, rsa-2048)
  POST /v1/<transit>/keys/<k>/rotate     new version
  POST /v1/<transit>/keys/<k>/config     {min_decryption_version}
  GET  /v1/<transit>/keys/<k>            public keys of every version (PEM; ed25519 raw base64)
  POST /v1/<transit>/sign/<k>[/<hash>]   {input, hash_algorithm, marshaling_algorithm,
                                          signature_algorithm, key_version} -> vault:vN:<b64>
  POST /v1/<transit>/verify/<k>[/<hash>] {input, signature} -> {"data": {"valid": bool}}
Control (never faulted): POST /_fault {"mode": "ok"|"down"|"slow"|"5xx"|"403", "slow_s": N},
  GET /_stats (call counters), POST /_revoke (every token), POST /_role {name, bound_audiences,
  bound_subject, token_ttl}, GET /_tokens (issued token strings, for the secrets test).
A static root token (--root-token) is accepted everywhere (token_file auth, setup).
--state FILE keeps the transit keys (every version, private, PEM) across restarts: loaded at
start, rewritten after each create/rotate/config (deploy/local/up uses it; the tests do not).
Tokens and roles stay in memory.
"""
import argparse
import base64
import json
import os
import secrets
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64u_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.fault = {"mode": "ok", "slow_s": 0}
        self.stats = {}
        self.tokens = {}   # token -> {"expires": t, "ttl": n}
        self.root = args.root_token
        self.roles = {args.role: {"bound_audiences": [args.audience], "bound_subject": args.subject,
                                  "token_ttl": args.token_ttl}}
        self.keys = {}     # (mount, name) -> {"type", "versions": {n: priv}, "min_dec": 1}
        with open(args.jwt_pubkey, "rb") as f:
            self.jwt_pub = serialization.load_pem_public_key(f.read())

    def count(self, what):
        with self.lock:
            self.stats[what] = self.stats.get(what, 0) + 1


def new_priv(typ):
    if typ == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if typ == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if typ.startswith("rsa-"):
        return rsa.generate_private_key(65537, int(typ[4:]))
    raise ValueError("unsupported key type %s" % typ)


def save_keys(st):
    """Write every transit key to --state (0600, atomic rename); no-op without --state."""
    path = st.args.state
    if not path:
        return
    with st.lock:
        out = {"%s/%s" % mk: {"type": k["type"], "min_dec": k["min_dec"],
                              "versions": {str(v): p.private_bytes(
                                  serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode()
                                  for v, p in k["versions"].items()}}
               for mk, k in st.keys.items()}
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(out, f)
    os.replace(tmp, path)


def load_keys(st):
    path = st.args.state
    if not path or not os.path.exists(path):
        return
    with open(path) as f:
        data = json.load(f)
    for mk, k in data.items():
        mount, _, name = mk.partition("/")
        st.keys[(mount, name)] = {
            "type": k["type"], "min_dec": int(k["min_dec"]),
            "versions": {int(v): serialization.load_pem_private_key(pem.encode(), None)
                         for v, pem in k["versions"].items()}}


def pub_repr(typ, priv):
    pub = priv.public_key()
    if typ == "ed25519":
        return base64.b64encode(pub.public_bytes(serialization.Encoding.Raw,
                                                 serialization.PublicFormat.Raw)).decode()
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    st = None  # State

    def log_message(self, fmt, *a):
        if self.st.args.verbose:
            sys.stderr.write("vault: " + fmt % a + "\n")

    def reply(self, code, obj=None):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def err(self, code, *msgs):
        self.reply(code, {"errors": list(msgs)})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def token_ok(self):
        t = self.headers.get("X-Vault-Token") or ""
        if t == self.st.root:
            return True
        with self.st.lock:
            rec = self.st.tokens.get(t)
            return rec is not None and rec["expires"] > time.time()

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("POST")

    def route(self, method):
        st = self.st
        path = self.path.split("?")[0]
        if path.startswith("/_"):
            return self.control(method, path)
        mode = st.fault["mode"]
        if mode == "down":
            st.count("dropped")
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        if mode == "slow":
            time.sleep(float(st.fault.get("slow_s", 15)))
        body = self.body() if method == "POST" else {}
        if body is None:
            return self.err(400, "failed to parse JSON input")
        if st.args.namespace and self.headers.get("X-Vault-Namespace") != st.args.namespace:
            return self.err(403, "permission denied (namespace)")
        parts = [p for p in path.split("/") if p][1:]  # drop "v1"
        if parts[:1] == ["auth"] and len(parts) == 3 and parts[2] == "login" and method == "POST":
            st.count("login")
            if mode == "5xx":
                return self.err(500, "internal error")
            return self.login(parts[1], body)
        if parts == ["auth", "token", "renew-self"]:
            st.count("renew")
            if mode == "5xx":
                return self.err(500, "internal error")
            return self.renew()
        if parts == ["auth", "token", "lookup-self"]:
            st.count("lookup")
            if not self.token_ok():
                return self.err(403, "permission denied")
            t = self.headers.get("X-Vault-Token")
            rec = st.tokens.get(t)
            ttl = 0 if rec is None else max(0, int(rec["expires"] - time.time()))
            return self.reply(200, {"data": {"ttl": ttl, "renewable": rec is not None,
                                             "policies": ["regwarden"]}})
        if len(parts) >= 3:
            mount, op, name = parts[0], parts[1], parts[2]
            if op == "sign":
                st.count("sign")
            if mode == "5xx":
                return self.err(503, "Vault is sealed")
            if mode == "403":
                return self.err(403, "permission denied")
            if not self.token_ok():
                return self.err(403, "permission denied")
            return self.transit(method, mount, op, name, parts[3:], body)
        return self.err(404, "no handler for route \"%s\"" % path)

    # -- auth --------------------------------------------------------------------------------
    def login(self, mount, body):
        st = self.st
        if st.fault["mode"] == "403":
            return self.err(403, "error validating claims: forced by /_fault")
        if mount != st.args.jwt_mount:
            return self.err(400, "no handler for route")
        role = st.roles.get(body.get("role"))
        if role is None:
            return self.err(400, "role \"%s\" could not be found" % body.get("role"))
        jwt = body.get("jwt") or ""
        try:
            h64, c64, s64 = jwt.split(".")
            header = json.loads(b64u_dec(h64))
            claims = json.loads(b64u_dec(c64))
            sig = b64u_dec(s64)
            if header.get("alg") != "ES256" or len(sig) != 64:
                raise ValueError("alg")
            st.jwt_pub.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                                   int.from_bytes(sig[32:], "big")),
                              (h64 + "." + c64).encode(), ec.ECDSA(hashes.SHA256()))
        except (ValueError, InvalidSignature, TypeError):
            return self.err(403, "error validating token: invalid signature or malformed JWT")
        if claims.get("exp", 0) < time.time() - 60:
            return self.err(403, "error validating claims: token is expired")
        aud = claims.get("aud")
        aud = [aud] if isinstance(aud, str) else (aud or [])
        if not set(aud) & set(role["bound_audiences"]):
            return self.err(403, "error validating claims: invalid audience (aud) claim: audience "
                                 "claim does not match any expected audience")
        if role["bound_subject"] and claims.get("sub") != role["bound_subject"]:
            return self.err(403, "error validating claims: sub claim does not match bound subject")
        tok = "hvs." + secrets.token_urlsafe(24)
        ttl = int(role["token_ttl"])
        with st.lock:
            st.tokens[tok] = {"expires": time.time() + ttl, "ttl": ttl}
        self.reply(200, {"auth": {"client_token": tok, "accessor": secrets.token_hex(8),
                                  "policies": ["default", "regwarden"],
                                  "token_policies": ["default", "regwarden"],
                                  "metadata": {"role": body.get("role")}, "lease_duration": ttl,
                                  "renewable": True, "entity_id": "e-1", "token_type": "service",
                                  "orphan": True}})

    def renew(self):
        st = self.st
        t = self.headers.get("X-Vault-Token") or ""
        with st.lock:
            rec = st.tokens.get(t)
            if rec is None or rec["expires"] <= time.time():
                return self.err(403, "permission denied")
            if st.args.no_renew:
                return self.err(400, "lease is not renewable")
            rec["expires"] = time.time() + rec["ttl"]
            ttl = rec["ttl"]
        self.reply(200, {"auth": {"client_token": t, "lease_duration": ttl, "renewable": True,
                                  "policies": ["default", "regwarden"]}})

    # -- transit -------------------------------------------------------------------------------
    def transit(self, method, mount, op, name, rest, body):
        st = self.st
        k = st.keys.get((mount, name))
        if op == "keys":
            if rest == ["rotate"] and method == "POST":
                if k is None:
                    return self.err(400, "key not found")
                with st.lock:
                    n = max(k["versions"]) + 1
                    k["versions"][n] = new_priv(k["type"])
                save_keys(st)
                return self.reply(204)
            if rest == ["config"] and method == "POST":
                if k is None:
                    return self.err(400, "key not found")
                k["min_dec"] = int(body.get("min_decryption_version", k["min_dec"]))
                save_keys(st)
                return self.reply(204)
            if not rest and method == "POST":
                typ = body.get("type", "ecdsa-p256")
                try:
                    st.keys[(mount, name)] = {"type": typ, "versions": {1: new_priv(typ)},
                                              "min_dec": 1}
                except ValueError as e:
                    return self.err(400, str(e))
                save_keys(st)
                return self.reply(204)
            if not rest and method == "GET":
                st.count("read_key")
                if k is None:
                    return self.err(404)
                latest = max(k["versions"])
                curve = {"ecdsa-p256": "P-256", "ed25519": "ed25519"}.get(k["type"], k["type"])
                keys = {str(v): {"name": curve, "public_key": pub_repr(k["type"], p),
                                 "creation_time": "2026-01-01T00:00:00Z"}
                        for v, p in k["versions"].items() if v >= k["min_dec"]}
                return self.reply(200, {"data": {"name": name, "type": k["type"], "keys": keys,
                                                 "latest_version": latest,
                                                 "min_decryption_version": k["min_dec"],
                                                 "min_encryption_version": 0,
                                                 "supports_signing": True, "derived": False}})
            return self.err(405)
        if k is None:
            return self.err(400, "signing key not found")
        try:
            data = base64.b64decode(body.get("input", ""), validate=True)
        except ValueError:
            return self.err(400, "unable to decode input as base64")
        hash_alg = rest[0] if rest else body.get("hash_algorithm", "sha2-256")
        if hash_alg != "sha2-256":
            return self.err(400, "stand-in supports sha2-256 only")
        if op == "sign":
            ver = int(body.get("key_version") or max(k["versions"]))
            priv = k["versions"].get(ver)
            if priv is None:
                return self.err(400, "invalid key version")
            sig = self.do_sign(k["type"], priv, data, body)
            return self.reply(200, {"data": {"signature": "vault:v%d:%s" % (
                ver, base64.b64encode(sig).decode()), "key_version": ver}})
        if op == "verify":
            s = body.get("signature", "")
            try:
                _, v, b64 = s.split(":", 2)
                ver = int(v[1:])
                priv = k["versions"][ver]
                if ver < k["min_dec"]:
                    raise KeyError
                self.do_verify(k["type"], priv.public_key(), data, base64.b64decode(b64), body)
                ok = True
            except (ValueError, KeyError, InvalidSignature):
                ok = False
            return self.reply(200, {"data": {"valid": ok}})
        return self.err(405)

    @staticmethod
    def do_sign(typ, priv, data, body):
        if typ == "ed25519":
            return priv.sign(data)
        if typ.startswith("rsa-"):
            pad = padding.PKCS1v15() if body.get("signature_algorithm") == "pkcs1v15" else \
                padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH)
            return priv.sign(data, pad, hashes.SHA256())
        return priv.sign(data, ec.ECDSA(hashes.SHA256()))  # asn1 (DER) marshaling

    @staticmethod
    def do_verify(typ, pub, data, sig, body):
        if typ == "ed25519":
            return pub.verify(sig, data)
        if typ.startswith("rsa-"):
            pad = padding.PKCS1v15() if body.get("signature_algorithm") == "pkcs1v15" else \
                padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO)
            return pub.verify(sig, data, pad, hashes.SHA256())
        return pub.verify(sig, data, ec.ECDSA(hashes.SHA256()))

    # -- control -----------------------------------------------------------------------------
    def control(self, method, path):
        st = self.st
        body = self.body() if method == "POST" else {}
        if path == "/_fault":
            st.fault = {"mode": body.get("mode", "ok"), "slow_s": body.get("slow_s", 15)}
            return self.reply(200, st.fault)
        if path == "/_stats":
            with st.lock:
                return self.reply(200, dict(st.stats))
        if path == "/_revoke":
            with st.lock:
                st.tokens.clear()
            return self.reply(200, {})
        if path == "/_tokens":
            with st.lock:
                return self.reply(200, {"tokens": list(st.tokens)})
        if path == "/_role":
            st.roles[body["name"]] = {"bound_audiences": body.get("bound_audiences", []),
                                      "bound_subject": body.get("bound_subject", ""),
                                      "token_ttl": body.get("token_ttl", 3600)}
            return self.reply(200, {})
        return self.err(404)


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1:8200")
    p.add_argument("--jwt-pubkey", required=True, help="PEM public key of the SPIRE stand-in")
    p.add_argument("--jwt-mount", default="jwt")
    p.add_argument("--role", default="regwarden")
    p.add_argument("--audience", default="vault")
    p.add_argument("--subject", default="spiffe://example.org/ns/regwarden/sa/regwarden")
    p.add_argument("--token-ttl", type=int, default=3600)
    p.add_argument("--no-renew", action="store_true")
    p.add_argument("--root-token", default=os.environ.get("VAULT_STANDIN_ROOT", "root"))
    p.add_argument("--namespace", default="")
    p.add_argument("--transit-key", action="append", default=[],
                   help="MOUNT/NAME[:TYPE] created at start (ecdsa-p256 by default)")
    p.add_argument("--state", default="",
                   help="JSON file keeping the transit keys across restarts (created if absent)")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    st = State(args)
    load_keys(st)
    for spec in args.transit_key:
        mk, _, typ = spec.partition(":")
        mount, _, name = mk.partition("/")
        if (mount, name) in st.keys:
            continue  # kept from --state
        st.keys[(mount, name)] = {"type": typ or "ecdsa-p256",
                                  "versions": {1: new_priv(typ or "ecdsa-p256")}, "min_dec": 1}
    save_keys(st)
    Handler.st = st
    host, port = args.listen.rsplit(":", 1)
    srv = Server((host, int(port)), Handler)
    sys.stderr.write("vault stand-in on http://%s\n" % args.listen)
    sys.stderr.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
