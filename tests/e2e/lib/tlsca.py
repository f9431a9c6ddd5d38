# SPDX-License-Identifier: MIT
"""A throwaway test CA (python3-cryptography): server certificates for regwarden's TLS listeners
and SPIFFE-style client certificates (one URI SAN) for mTLS push identities."""
import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _write(path, data, mode=0o644):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)  # atomic, like a Secret volume update


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class CA:
    def __init__(self, d, name="regwarden test CA"):
        self.dir = str(d)
        os.makedirs(self.dir, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (x509.CertificateBuilder().subject_name(subj).issuer_name(subj)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                    critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.ca_path = os.path.join(self.dir, "ca.pem")
        _write(self.ca_path, self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem, cn, dns=(), ips=(), uris=(), client=False, server=False, days=2,
              cert_path=None, key_path=None):
        """Issue a leaf; returns (cert_path, key_path, serial)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        sans += [x509.UniformResourceIdentifier(u) for u in uris]
        eku = []
        if client:
            eku.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        if server:
            eku.append(ExtendedKeyUsageOID.SERVER_AUTH)
        serial = x509.random_serial_number()
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
             .issuer_name(self.cert.subject).public_key(key.public_key()).serial_number(serial)
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=days))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        cert = b.sign(self.key, hashes.SHA256())
        cert_path = cert_path or os.path.join(self.dir, stem + ".crt")
        key_path = key_path or os.path.join(self.dir, stem + ".key")
        _write(key_path, _key_pem(key), 0o600)
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return cert_path, key_path, serial

    def server(self, stem="server", **kw):
        return self.issue(stem, "regwarden", dns=("localhost",), ips=("127.0.0.1",), server=True, **kw)

    def client(self, stem, spiffe_id):
        return self.issue(stem, stem, uris=(spiffe_id,), client=True)
