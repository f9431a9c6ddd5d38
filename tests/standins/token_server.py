#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Docker registry token server stand-in (shared/PROTOCOLS.md §3): what auth.docker.io is to Docker Hub.

GET <realm>?service=S&scope=A&scope=B with `Authorization: Basic user:pass` -> 200
{"token": JWT, "access_token": JWT, "expires_in": N, "issued_at": RFC3339}. The JWT is ES256 with an
`x5c` header (a self-signed certificate that is also docker-registry's `auth.token.rootcertbundle`),
claims iss/sub/aud/exp/nbf/iat/jti/access, as docker-registry 2.8's token access controller checks
them. Wrong or missing credentials -> 401 (anonymous requests are refused: the upstream is private).
The OAuth2 POST form (grant_type=password) is answered the same way.

Every request is one JSON line in --log: time, method, user agent, user (never the password),
scopes, status, and the token issued (so the secrets test can grep for it). GET /_stats returns
{"requests": N, "per_scope": {scope: N}, "user_agents": [...], "tokens": [...]}.
"""
import argparse
import base64
import datetime
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_key_and_cert(cert_path, key_path):
    """ES256 key and a self-signed certificate: docker-registry trusts it through rootcertbundle."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "e2e token issuer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.requests = 0
        self.per_scope = {}
        self.user_agents = []
        self.tokens = []
        with open(args.key, "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), None)
        with open(args.cert, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        self.x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
        with open(args.password_file) as f:
            self.password = f.read().rstrip("\n")

    def log(self, entry):
        with open(self.args.log, "a") as f:
            f.write(json.dumps(entry) + "\n")


def parse_scope(s):
    """repository:team/app:pull,push -> access entry (the name may hold a ':' port: split on the last ':')."""
    typ, _, rest = s.partition(":")
    name, _, actions = rest.rpartition(":")
    if not typ or not name:
        return None
    return {"type": typ.split("(")[0], "name": name, "actions": [a for a in actions.split(",") if a]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "e2e-token-server"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _user(self, form):
        auth = self.headers.get("Authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                user, _, pw = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except Exception:
                return None
            return user if (user, pw) == (self.server.st.args.user, self.server.st.password) else None
        if form.get("grant_type") == ["password"]:
            user = (form.get("username") or [""])[0]
            pw = (form.get("password") or [""])[0]
            return user if (user, pw) == (self.server.st.args.user, self.server.st.password) else None
        return None

    def _token(self, form):
        st = self.server.st
        ua = self.headers.get("User-Agent", "")
        scopes = []
        for s in form.get("scope", []):
            scopes += [x for x in s.split(" ") if x]
        user = self._user(form)
        entry = {"time": time.time(), "method": self.command, "user_agent": ua,
                 "user": user, "service": (form.get("service") or [None])[0], "scopes": scopes}
        with st.lock:
            st.requests += 1
            st.user_agents.append(ua)
            key = " ".join(scopes)
            st.per_scope[key] = st.per_scope.get(key, 0) + 1
        if user is None:
            entry["status"] = 401
            st.log(entry)
            self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
            return
        now = int(time.time())
        access = [a for a in (parse_scope(s) for s in scopes) if a is not None]
        claims = {"iss": st.args.issuer, "sub": user, "aud": st.args.service, "exp": now + st.args.expires_in,
                  "nbf": now - 5, "iat": now, "jti": secrets.token_hex(12), "access": access}
        token = jwt.encode(claims, st.key, algorithm="ES256", headers={"x5c": st.x5c})
        with st.lock:
            st.tokens.append(token)
        entry["status"] = 200
        entry["token"] = token
        st.log(entry)
        reply = {"token": token, "expires_in": st.args.expires_in,
                 "issued_at": datetime.datetime.utcfromtimestamp(now).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if st.args.access_token_only:
            reply = {"access_token": token, "expires_in": st.args.expires_in}
        self._send(200, reply)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_stats":
            st = self.server.st
            with st.lock:
                self._send(200, {"requests": st.requests, "per_scope": dict(st.per_scope),
                                 "user_agents": list(st.user_agents), "tokens": list(st.tokens)})
            return
        if url.path != "/token":
            self._send(404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        self._token(urllib.parse.parse_qs(url.query))

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        if url.path != "/token":
            self._send(404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        form = urllib.parse.parse_qs(body)
        if "scope" in form:
            form["scope"] = [" ".join(form["scope"])]
        self._token(form)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--expires-in", type=int, default=300)
    ap.add_argument("--access-token-only", action="store_true")
    ap.add_argument("--make-cert", action="store_true", help="write --key/--cert and exit")
    args = ap.parse_args()
    if args.make_cert:
        make_key_and_cert(args.cert, args.key)
        return
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.st = State(args)
    srv.serve_forever()


if __name__ == "__main__":
    main()
