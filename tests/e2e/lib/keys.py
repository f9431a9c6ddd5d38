# SPDX-License-Identifier: MIT
"""ECDSA P-256 key pairs generated with openssl (SEC1 or PKCS#8 private key, SPKI public key)."""
import os

from cryptography.hazmat.primitives import serialization

from . import util


class KeyPair:
    def __init__(self, directory, name, fmt="sec1"):
        """fmt: 'sec1' (BEGIN EC PRIVATE KEY) or 'pkcs8' (BEGIN PRIVATE KEY)."""
        assert fmt in ("sec1", "pkcs8")
        os.makedirs(directory, exist_ok=True)
        self.name = name
        self.fmt = fmt
        self.priv_path = os.path.join(directory, "%s.key" % name)
        self.pub_path = os.path.join(directory, "%s.pub" % name)
        sec1 = os.path.join(directory, "%s.sec1.pem" % name)
        util.run(["openssl", "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", sec1])
        if fmt == "pkcs8":
            util.run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", sec1, "-out", self.priv_path])
            os.unlink(sec1)
        else:
            os.replace(sec1, self.priv_path)
        util.run(["openssl", "ec", "-in", self.priv_path, "-pubout", "-out", self.pub_path])
        os.chmod(self.priv_path, 0o600)

    def private_key(self):
        with open(self.priv_path, "rb") as f:
            return serialization.load_pem_private_key(f.read(), password=None)

    def public_key(self):
        with open(self.pub_path, "rb") as f:
            return serialization.load_pem_public_key(f.read())

    def pem_header(self):
        with open(self.priv_path) as f:
            return f.readline().strip()

    def __repr__(self):
        return "<KeyPair %s %s>" % (self.name, self.fmt)
