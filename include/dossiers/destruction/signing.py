"""The company's signing key for records such as the destruction certificate (Art. 17(2)(4)).

Ops configure it: ``DOSSIER_SIGNING_KEY`` (a PEM private key) and ``DOSSIER_SIGNING_CERT``
(its PEM certificate, issued by the company's CA), both files outside the repository. When
neither is set (development, ``make demo``), a key and a self-signed certificate are
generated once under ``<DOSSIER_HOME>/signing/`` (owner-only) and used from then on: a
standard PDF verifier then says the signature is valid but the signer not trusted.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dossiers.core.config import home
from dossiers.core.errors import CannotRun

DEMO_SUBJECT = "Overseas client dossiers (demo signing key)"


def signing_files() -> tuple[Path, Path]:
    key, cert = os.environ.get("DOSSIER_SIGNING_KEY"), os.environ.get("DOSSIER_SIGNING_CERT")
    if key or cert:
        if not (key and cert):
            raise CannotRun("set both DOSSIER_SIGNING_KEY and DOSSIER_SIGNING_CERT (or neither, "
                            "for a generated demo key)")
        for name, path in (("DOSSIER_SIGNING_KEY", key), ("DOSSIER_SIGNING_CERT", cert)):
            if not Path(path).is_file():
                raise CannotRun(f"{name}={path}: no such file")
        return Path(key), Path(cert)
    return demo_key(home() / "signing")


def demo_key(folder: Path) -> tuple[Path, Path]:
    """A generated RSA key and self-signed certificate (development only), made once."""
    key_path, cert_path = folder / "demo-signing.key", folder / "demo-signing.crt"
    if key_path.is_file() and cert_path.is_file():
        return key_path, cert_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEMO_SUBJECT),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Demo company")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def sign_pdf(pdf: bytes, *, reason: str, field_name: str = "Signature") -> bytes:
    """``pdf`` with a PAdES signature (pyhanko) by the configured signing key."""
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    key_path, cert_path = signing_files()
    signer = signers.SimpleSigner.load(str(key_path), str(cert_path))
    if signer is None:
        raise CannotRun(f"the signing key {key_path} or certificate {cert_path} does not load")
    meta = signers.PdfSignatureMetadata(field_name=field_name, reason=reason,
                                        subfilter=fields.SigSeedSubFilter.PADES)
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer)
    return bytes(out.getvalue())
