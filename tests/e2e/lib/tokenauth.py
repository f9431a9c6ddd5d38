# SPDX-License-Identifier: MIT
"""Upstreams that need credentials regwarden holds itself (issue 5 item 1, case C01).

TokenUpstream: tests/standins/token_server.py (ES256 JWTs with x5c) + a docker-registry configured with
`auth: token` (realm = the token server, rootcertbundle = its certificate). The token server logs every
caller's User-Agent and counts requests per scope; stats() reads them.
"""
import base64
import importlib.util
import json
import os
import sys

from . import registry as _registry
from . import util

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TOKEN_SERVER = os.path.join(REPO, "tests", "standins", "token_server.py")
SERVICE = "registry.test"
ISSUER = "e2e-token-issuer"


def _standin():
    spec = importlib.util.spec_from_file_location("token_server", TOKEN_SERVER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class TokenServer:
    def __init__(self, workdir, user, password, expires_in=300, access_token_only=False):
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.user, self.password = user, password
        self.port = util.free_port()
        self.cert = os.path.join(self.workdir, "issuer.crt")
        self.key = os.path.join(self.workdir, "issuer.key")
        self.log_path = os.path.join(self.workdir, "token.jsonl")
        self.stderr_path = os.path.join(self.workdir, "token.stderr")
        self.password_file = os.path.join(self.workdir, "token-users.pw")
        with open(self.password_file, "w") as f:
            f.write(password + "\n")
        _standin().make_key_and_cert(self.cert, self.key)
        argv = [sys.executable, TOKEN_SERVER, "--port", self.port, "--user", user,
                "--password-file", self.password_file, "--service", SERVICE, "--issuer", ISSUER,
                "--key", self.key, "--cert", self.cert, "--log", self.log_path, "--expires-in", expires_in]
        if access_token_only:
            argv.append("--access-token-only")
        self.proc = util.Proc(argv, self.stderr_path).start()
        util.wait_until(lambda: util.http("GET", self.url + "/_stats", timeout=2).status == 200,
                        timeout=15, what="token server")

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def realm(self):
        return self.url + "/token"

    def stats(self):
        return util.http("GET", self.url + "/_stats").json()

    def lines(self):
        try:
            with open(self.log_path) as f:
                return [json.loads(x) for x in f if x.strip()]
        except FileNotFoundError:
            return []

    def stop(self):
        self.proc.stop()


def token_registry(workdir, server, name="registry.local"):
    """docker-registry with auth.token pointing at `server`."""
    extra = "\n".join(["auth:",
                       "  token:",
                       "    realm: %s" % json.dumps(server.realm),
                       "    service: %s" % json.dumps(SERVICE),
                       "    issuer: %s" % json.dumps(ISSUER),
                       "    rootcertbundle: %s" % json.dumps(server.cert)]) + "\n"
    return _registry.Registry(os.path.join(str(workdir), "upstream-token"), name=name,
                              extra_config=extra).start()


def basic_value(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def write_password_file(path, password):
    with open(path, "w") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)
    return str(path)


def write_docker_config(path, host, user, password, form="auth"):
    if form == "auth":
        entry = {"auth": basic_value(user, password)}
    else:
        entry = {"username": user, "password": password}
    with open(path, "w") as f:
        json.dump({"auths": {host: entry}}, f)
    return str(path)
