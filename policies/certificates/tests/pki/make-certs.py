#!/usr/bin/env python3
"""Writes the test PKI of the certificates policy's case files (test-only keys, never
used anywhere else). Run from this directory: `python3 make-certs.py` (needs the
`cryptography` package). Dates are fixed so that the files keep their meaning: the good
certificates are valid from 2026 to 2046, `expired.crt` ended in 2021, `future.crt`
starts in 2045."""

import datetime as dt
import ipaddress
import os
import subprocess
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
END = dt.datetime(2046, 1, 1, tzinfo=dt.timezone.utc)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def write_key(path, key):
    with open(path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def write_cert(path, cert):
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def leaf(issuer, cn, dns=(), ips=(), key=None, start=START, end=END, digest=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    ikey, icert = issuer
    b = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(icert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    sans = [x509.DNSName(d) for d in dns] + [
        x509.IPAddress(ipaddress.ip_address(i)) for i in ips
    ]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, b.sign(ikey, digest or hashes.SHA256())


def main():
    root = ca("Test CA")
    other = ca("Other Test CA")
    write_cert("ca.crt", root[1])
    write_cert("other-ca.crt", other[1])
    for file, issuer, cn, dns, ips, extra in [
        ("server", root, "pg-node1", ["pg-node1"], ["10.0.1.11"], {}),
        ("ctl", root, "patronictl", [], [], {}),
        ("untrusted", other, "pg-node1", ["pg-node1"], ["10.0.1.11"], {}),
        ("wrong-name", root, "pg-node9", ["pg-node9"], ["10.0.1.19"], {}),
        ("expired", root, "pg-node1", ["pg-node1"], ["10.0.1.11"],
         {"start": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
          "end": dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)}),
        ("future", root, "pg-node1", ["pg-node1"], ["10.0.1.11"],
         {"start": dt.datetime(2045, 1, 1, tzinfo=dt.timezone.utc)}),
        ("weak", root, "pg-node1", ["pg-node1"], ["10.0.1.11"],
         {"key": rsa.generate_private_key(public_exponent=65537, key_size=1024)}),
    ]:
        key, cert = leaf(issuer, cn, dns, ips, **extra)
        write_cert(f"{file}.crt", cert)
        write_key(f"{file}.key", key)
    sha1(root)


def sha1(root):
    """`sha1.crt`: signed with SHA-1, which `cryptography` refuses to do; openssl does."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name("pg-node1"))
        .sign(key, hashes.SHA256())
    )
    with tempfile.TemporaryDirectory() as tmp:
        paths = {n: os.path.join(tmp, n) for n in ["ca.key", "ca.crt", "req.csr", "ext"]}
        write_key(paths["ca.key"], root[0])
        write_cert(paths["ca.crt"], root[1])
        with open(paths["req.csr"], "wb") as f:
            f.write(csr.public_bytes(serialization.Encoding.PEM))
        with open(paths["ext"], "w") as f:
            f.write("subjectAltName=DNS:pg-node1,IP:10.0.1.11\n")
        subprocess.run(
            ["openssl", "x509", "-req", "-sha1", "-days", "7300", "-set_serial", "7",
             "-in", paths["req.csr"], "-CA", paths["ca.crt"], "-CAkey", paths["ca.key"],
             "-extfile", paths["ext"], "-out", "sha1.crt"],
            check=True, capture_output=True,
        )
    write_key("sha1.key", key)


main()
