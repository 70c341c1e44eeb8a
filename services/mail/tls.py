"""A self-signed certificate for STARTTLS (RFC 3207), made at start-up.

Mail servers that offer STARTTLS with a certificate nobody signed are the
common case, and clients go on after a failed verification, so this is what
a small site's sendmail looks like. The certificate names the host and is
kept under the state directory, so that it stays the same across restarts,
as a real server's would; a scanner that notes certificates sees one host.

It needs the `cryptography` package, imported only when STARTTLS is on.
"""

from __future__ import annotations

import datetime
import os
import ssl


def server_context(directory: str, hostname: str) -> ssl.SSLContext:
    """A server-side SSLContext with the host's certificate, made if missing."""
    certificate = os.path.join(directory, f"{hostname}.crt")
    key = os.path.join(directory, f"{hostname}.key")
    if not (os.path.exists(certificate) and os.path.exists(key)):
        os.makedirs(directory, exist_ok=True)
        write_self_signed(certificate, key, hostname)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    return context


def write_self_signed(certificate: str, key: str, hostname: str) -> None:
    """An RSA-2048 certificate for `hostname`, valid for ten years."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, hostname),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Mail"),
        ]
    )
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), False)
        .sign(private, hashes.SHA256())
    )
    key_bytes = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key_bytes)
    with open(certificate, "wb") as out:
        out.write(built.public_bytes(serialization.Encoding.PEM))
