#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""SPIRE agent stand-in: the Workload API's FetchJWTSVID over gRPC (python3-grpcio) on a unix socket.

Speaks the real wire protocol (shared/PROTOCOLS.md §8): service `SpiffeWorkloadAPI` (the proto has no
package), messages hand-encoded in protobuf wire format (no protoc here), mandatory metadata
`workload.spiffe.io: true` (else InvalidArgument). JWT-SVIDs are ES256 compact JWS with sub, aud,
exp, iat, signed by a P-256 key kept in --key (created once, so restarts keep it) whose public half
is written as PEM (--pub) and JWKS (--jwks) for the Vault stand-in.

Modes (read from the --control JSON file on every call, so tests switch them at run time):
  {"mode": "ok"}        normal SVIDs, TTL from "ttl" (default 60 s)
  {"mode": "expired"}   an SVID whose exp is in the past
  {"mode": "invalid"}   a string that is not a JWS
  {"mode": "badsig"}    a JWS signed by another key
  {"mode": "denied"}    PermissionDenied (no identity for this caller yet)
Absent = the process is not running. Every call is appended to --calls (one JSON line).

  spire_agent.py --socket /run/spire/agent.sock --key k.pem --pub k.pub --jwks jwks.json \
                 [--spiffe-id spiffe://example.org/ns/regwarden/sa/regwarden] [--control c.json]
"""
import argparse
import base64
import json
import os
import signal
import sys
import threading
import time
from concurrent import futures

import grpc
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


# -- protobuf wire format ------------------------------------------------------------------
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_bytes(num, data):
    return varint((num << 3) | 2) + varint(len(data)) + data


def read_varint(b, i):
    shift = v = 0
    while True:
        if i >= len(b) or shift > 63:
            raise ValueError("bad varint")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, i
        shift += 7


def parse_fields(b):
    """[(field, wiretype, value)] for a flat message; bytes for length-delimited."""
    i, out = 0, []
    while i < len(b):
        key, i = read_varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(b, i)
        elif wt == 2:
            n, i = read_varint(b, i)
            if i + n > len(b):
                raise ValueError("truncated")
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.append((f, wt, v))
    return out


# -- keys and JWTs -----------------------------------------------------------------------
def load_or_make_key(path):
    if os.path.exists(path):
        with open(path, "rb") as f:
            return serialization.load_pem_private_key(f.read(), None)
    k = ec.generate_private_key(ec.SECP256R1())
    with open(path, "wb") as f:
        f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()))
    return k


def jwk_of(pub, kid):
    n = pub.public_numbers()
    return {"kty": "EC", "crv": "P-256", "kid": kid, "use": "jwt-svid",
            "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}


def make_jwt(key, kid, sub, aud, exp, iat):
    header = {"alg": "ES256", "kid": kid, "typ": "JWT"}
    claims = {"sub": sub, "aud": aud, "exp": exp, "iat": iat, "iss": "https://oidc.spire.test"}
    si = b64u(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        b64u(json.dumps(claims, separators=(",", ":")).encode())
    r, s = decode_dss_signature(key.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
    return si + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class Agent:
    def __init__(self, args):
        self.args = args
        self.key = load_or_make_key(args.key)
        self.kid = "standin-1"
        self.other = ec.generate_private_key(ec.SECP256R1())
        pub = self.key.public_key()
        with open(args.pub, "wb") as f:
            f.write(pub.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo))
        with open(args.jwks, "w") as f:
            json.dump({"keys": [jwk_of(pub, self.kid)]}, f)
        self.lock = threading.Lock()

    def control(self):
        try:
            with open(self.args.control) as f:
                return json.load(f)
        except (OSError, ValueError, TypeError):
            return {}

    def log_call(self, rec):
        if not self.args.calls:
            return
        with self.lock, open(self.args.calls, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def fetch_jwt_svid(self, request, context):
        md = dict(context.invocation_metadata())
        ctl = self.control()
        mode = ctl.get("mode", "ok")
        try:
            fields = parse_fields(request)
        except ValueError:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "malformed JWTSVIDRequest")
        aud = [v.decode() for f, wt, v in fields if f == 1 and wt == 2]
        self.log_call({"method": "FetchJWTSVID", "aud": aud, "mode": mode,
                       "header": md.get("workload.spiffe.io"), "time": time.time()})
        if md.get("workload.spiffe.io") != "true":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "security header missing from request")
        if not aud:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "audience must be specified")
        if mode == "denied":
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "no identity issued")
        now = int(time.time())
        ttl = int(ctl.get("ttl", self.args.ttl))
        sid = ctl.get("spiffe_id", self.args.spiffe_id)
        if mode == "expired":
            svid = make_jwt(self.key, self.kid, sid, aud, now - 120, now - 180)
        elif mode == "invalid":
            svid = "not-a-jws"
        elif mode == "badsig":
            svid = make_jwt(self.other, self.kid, sid, aud, now + ttl, now)
        else:
            svid = make_jwt(self.key, self.kid, sid, aud, now + ttl, now)
        self.log_call({"issued": svid})
        one = field_bytes(1, sid.encode()) + field_bytes(2, svid.encode())
        return field_bytes(1, one)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--socket", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--pub", required=True)
    p.add_argument("--jwks", required=True)
    p.add_argument("--spiffe-id", default="spiffe://example.org/ns/regwarden/sa/regwarden")
    p.add_argument("--ttl", type=int, default=60)
    p.add_argument("--control", default="")
    p.add_argument("--calls", default="")
    args = p.parse_args()
    agent = Agent(args)
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler("SpiffeWorkloadAPI", {
        "FetchJWTSVID": grpc.unary_unary_rpc_method_handler(agent.fetch_jwt_svid),
    })
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("unix://" + args.socket)
    server.start()
    sys.stderr.write("spire_agent stand-in on unix://%s\n" % args.socket)
    sys.stderr.flush()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    done.wait()
    server.stop(0)
    try:
        os.unlink(args.socket)
    except OSError:
        pass


if __name__ == "__main__":
    main()
