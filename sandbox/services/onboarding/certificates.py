"""The application's certificate: reading a PEM upload (refusing private keys) and storing it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sandbox.core.clock import Clock, to_naive_utc
from sandbox.core.db import Database
from sandbox.core.errors import Refused
from sandbox.core.profile import Profile
from sandbox.services.onboarding.applications import application
from sandbox.services.onboarding.status import evaluate
from sandbox.services.onboarding.times import _utc_text

MAX_CERTIFICATE_BYTES = 64 * 1024


@dataclass(frozen=True)
class CertificateInfo:
    pem: str  # the certificate alone, as PEM
    subject: str
    fingerprint: str  # SHA-256, colon-separated upper-case hex
    not_before: dt.datetime  # naive UTC
    expires_at: dt.datetime  # naive UTC


def parse_certificate(data: str | bytes, now: dt.datetime) -> CertificateInfo:
    """Read a PEM certificate. Refused (nothing stored) for an upload with a private key in it,
    anything that is not a readable PEM certificate, and a certificate that is expired or not
    yet valid at `now` (the sandbox clock). Of a chain, the first certificate counts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding

    if isinstance(data, bytes):
        # one character per byte, so the size and private-key checks below see the upload as it
        # came; only then is a non-ASCII (binary) upload refused
        binary, text = not data.isascii(), data.decode("latin-1")
    else:
        binary, text = False, data or ""
    if len(text) > MAX_CERTIFICATE_BYTES:
        raise Refused(
            f"certificate: larger than {MAX_CERTIFICATE_BYTES // 1024} KB; a certificate is a few KB.", "certificate"
        )
    if "PRIVATE KEY" in text:
        raise Refused(_PRIVATE_KEY, "certificate")
    if binary:
        raise Refused(
            "certificate: this is not a PEM text file (binary DER?). Upload the certificate in PEM "
            "form (-----BEGIN CERTIFICATE-----), e.g. from `openssl x509 -inform der -in cert.der "
            "-out cert.pem`.",
            "certificate",
        )
    if not text.strip():
        raise Refused("certificate: choose a PEM file or paste the certificate.", "certificate")
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise Refused(
            "certificate: no -----BEGIN CERTIFICATE----- block found: upload the certificate in PEM form.",
            "certificate",
        )
    try:
        cert = x509.load_pem_x509_certificate(text.encode("ascii"))
    except ValueError as exc:
        raise Refused(
            f"certificate: the PEM block could not be read as an X.509 certificate ({exc}).", "certificate"
        ) from None
    n = to_naive_utc(now)
    try:
        not_before = to_naive_utc(cert.not_valid_before_utc)
        expires = to_naive_utc(cert.not_valid_after_utc)
        subject = cert.subject.rfc4514_string() or "(empty subject)"
    except ValueError as exc:
        raise Refused(f"certificate: its contents could not be read ({exc}).", "certificate") from None
    if expires <= n:
        raise Refused(
            f"certificate: it expired on {_utc_text(expires)} (sandbox time now: {_utc_text(n)}); "
            "upload a current certificate.",
            "certificate",
        )
    if not_before > n:
        raise Refused(
            f"certificate: it is not valid before {_utc_text(not_before)} (sandbox time now: {_utc_text(n)}).",
            "certificate",
        )
    return CertificateInfo(
        pem=cert.public_bytes(Encoding.PEM).decode("ascii"),
        subject=subject[:500],
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        not_before=not_before,
        expires_at=expires,
    )


_PRIVATE_KEY = (
    'certificate: this upload contains a private key (a "PRIVATE KEY" block). Never send a private '
    "key to anyone, a utility included: upload only the certificate (the -----BEGIN CERTIFICATE----- "
    "block). Nothing was stored; if the key was sent over a network, consider it exposed."
)


def store_certificate(
    db: Database,
    clock: Clock,
    utility_id: int,
    app_id: int,
    data: str | bytes,
    profile: Profile,
    *,
    developer_id: int | None = None,
) -> CertificateInfo:
    now = clock.naive_now()
    info = parse_certificate(data, now)
    with db.transaction() as s:
        app = application(s, utility_id, app_id, developer_id)
        app.certificate_pem, app.certificate_subject = info.pem, info.subject
        app.certificate_fingerprint, app.certificate_expires_at = info.fingerprint, info.expires_at
        evaluate(app, profile, now)
    return info
