"""The desensitised package of an approved disclosure (Art. 16), and its byte-identical
regeneration for audit.

The package is an AES-256 zip (pyzipper, WinZip AES) holding:

* ``data.json`` — the dimensions in scope, personal data masked by the policy's masking
  rules (:func:`dossiers.workflows.access.mask`), never in clear;
* ``masked.json`` — the written list of what was masked (dimension, record, field);
* ``documents/…`` — each PDF document in scope with a visible watermark on every page naming
  the recipient and the request; a document of another type is not included but listed in
  the manifest (convert it to PDF and request again);
* ``manifest.json`` — the request (recipient, basis, purpose, scope, expiry, agreement) and
  the SHA-256 of every file.

Its passphrase and the zip's salts come from the request's secret (sealed under the dossier's
data key), its times from the approval: the same request makes the same bytes, so audit can
regenerate it and compare with the digest recorded the first time. Nothing is packaged
before management's approval; every package and regeneration is ledgered.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, update

from dossiers.core import clock, ledger
from dossiers.core.config import SHANGHAI
from dossiers.core.crypto import KeyRing
from dossiers.core.errors import Refused
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import disclosure_request, dossier, dossier_file
from dossiers.core.vocabulary import DisclosureStatus, LedgerAction
from dossiers.disclosure.requests import load, secret_field
from dossiers.workflows.results import Result

#: (dimension, field) of the personal values the view masks (Arts. 10, 16).
PERSONAL = {"contacts": ("name", "email", "phone"), "cooperation": ("fee_range",),
            "other": ("credit_rating",)}
PDF_MEDIA = "application/pdf"


@dataclass(frozen=True)
class Packaged(Result):
    request_id: uuid.UUID
    path: str
    sha256: str
    #: deliver apart from the package (another channel)
    passphrase: str
    files: list[str]
    not_included: list[str]
    masked: int
    expires_on: date
    regenerated: bool
    identical: bool


def _derive(secret: bytes, purpose: str) -> bytes:
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()


def passphrase(secret: bytes) -> str:
    raw = base64.b32encode(_derive(secret, "passphrase")).decode()[:24]
    return "-".join(raw[i:i + 4] for i in range(0, 24, 4))


class _Salts:
    """Deterministic salts for pyzipper's AES entries (its ``Random.new().read``)."""

    def __init__(self, secret: bytes):
        self.secret, self.n = secret, 0

    def new(self) -> _Salts:
        return self

    def read(self, size: int) -> bytes:
        self.n += 1
        return _derive(self.secret, f"salt {self.n}")[:size]


@contextlib.contextmanager
def _deterministic_salts(secret: bytes) -> Iterator[None]:
    from pyzipper import zipfile_aes

    saved = zipfile_aes.Random
    zipfile_aes.Random = _Salts(secret)
    try:
        yield
    finally:
        zipfile_aes.Random = saved


def _masked_view(conn: Connection, keyring: KeyRing, row: Any,
                 scope: list[str]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    from dossiers.workflows import dossier_view

    whole = dossier_view.fetch(conn, row.dossier_no)
    assert whole is not None  # the caller has just read its row
    view = dict(dossier_view.build(keyring, whole, set(scope)))  # no "personal": masked
    for internal in ("liaison", "scope", "status"):
        view.pop(internal, None)
    masked = []
    for dimension, names in PERSONAL.items():
        items = view.get(dimension)
        if items is None:
            continue
        for index, item in enumerate(items if isinstance(items, list) else [items]):
            for name in names:
                if item.get(name):
                    masked.append({"dimension": dimension, "record": str(index + 1),
                                   "field": name, "rule": "mask (Art. 10)"})
    return view, masked


def _watermark(pdf: bytes, text: str, at: datetime) -> bytes:
    """Every page of ``pdf`` with ``text`` drawn across it (pypdf, an fpdf2 overlay)."""
    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter

    from dossiers.reports.fonts import cjk_font

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    font = cjk_font()
    for page in writer.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        overlay = FPDF(unit="pt", format=(width, height))
        overlay.set_creation_date(at)
        overlay.add_font("cjk", fname=str(font.path), collection_font_number=font.index)
        overlay.add_page()
        overlay.set_font("cjk", size=9)
        overlay.set_text_color(200, 30, 30)
        for y in (18.0, height / 2, height - 24):
            overlay.set_xy(12, y)
            overlay.cell(width - 24, 10, text, align="C")
        page.merge_page(PdfReader(io.BytesIO(bytes(overlay.output()))).pages[0])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def build(conn: Connection, keyring: KeyRing, row: Any, secret: bytes,
          object_store: Any = None) -> tuple[bytes, dict[str, Any], list[str]]:
    """The package's bytes, its manifest and what was left out, from the request alone."""
    from dossiers.documents import reading
    from dossiers.documents.store import content_key, document_store

    owner = conn.execute(select(dossier).where(dossier.c.id == row.dossier_id)).first()
    if owner is None:
        raise Refused("its dossier no longer exists (destroyed): nothing can be packaged",
                      record=f"disclosure {row.id}")
    at = row.decided_at.astimezone(SHANGHAI)
    view, masked = _masked_view(conn, keyring, owner, list(row.scope))
    files: dict[str, bytes] = {
        "data.json": json.dumps(view, ensure_ascii=False, sort_keys=True, indent=1,
                                default=str).encode(),
        "masked.json": json.dumps(masked, ensure_ascii=False, indent=1).encode()}
    not_included = []
    mark = (f"Disclosed to {row.recipient} ({row.recipient_country}) · request {row.id} · "
            f"{row.legal_basis} · expires {row.expires_on} · confidential, Art. 16")
    store = object_store or document_store()
    for document_id in row.documents:
        doc = conn.execute(select(dossier_file).where(
            dossier_file.c.id == uuid.UUID(document_id))).first()
        if doc is None:
            not_included.append(f"{document_id}: no longer there")
            continue
        if doc.media_type != PDF_MEDIA:
            not_included.append(f"{document_id}: {doc.media_type}, not PDF (convert it to PDF "
                                "and request again)")
            continue
        plain = b"".join(reading.content(doc, content_key(conn, keyring, owner.id), store))
        files[f"documents/{doc.document_type}-{doc.year}-{doc.serial}.pdf"] = \
            _watermark(plain, mark, at)
    manifest = {
        "request": str(row.id), "dossier_no": row.dossier_no, "recipient": row.recipient,
        "recipient_country": row.recipient_country, "legal_basis": row.legal_basis,
        "purpose": row.purpose, "scope": list(row.scope), "expires_on": str(row.expires_on),
        "confidentiality_ref": row.confidentiality_ref, "approved_at": at.isoformat(),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
        "not_included": not_included, "masked": len(masked)}
    files["manifest.json"] = json.dumps(manifest, ensure_ascii=False, sort_keys=True,
                                        indent=1).encode()
    import pyzipper

    out = io.BytesIO()
    stamp = (at.year, at.month, at.day, at.hour, at.minute, at.second)
    with _deterministic_salts(secret), pyzipper.AESZipFile(
            out, "w", compression=zipfile.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as package:
        package.setpassword(passphrase(secret).encode())
        for name in sorted(files):
            info = pyzipper.zipfile_aes.AESZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            package.writestr(info, files[name])
    return out.getvalue(), manifest, not_included


def package(conn: Connection, keyring: KeyRing, actor: Actor, request_id: uuid.UUID,
            out_dir: Path, *, object_store: Any = None, today: date | None = None,
            at: datetime | None = None) -> Packaged:
    """Make the package (after management's approval), or make it again for audit."""
    today = today or clock.today()
    at = at or clock.now()
    row = load(conn, request_id, lock=True)
    record = f"disclosure {request_id}"
    authorize(conn, actor, Action.DISCLOSURE_PACKAGE, subject=record)
    if row.status not in (DisclosureStatus.APPROVED, DisclosureStatus.PACKAGED):
        raise Refused(f"is {row.status}: nothing leaves without management's approval "
                      "(Art. 16)", record=record)
    again = row.status == DisclosureStatus.PACKAGED
    if not again and today > row.expires_on:
        raise Refused(f"expired on {row.expires_on}", record=record, field="expires_on")
    secret = bytes.fromhex(keyring.open(conn, row.dossier_id, secret_field(row.id),
                                        row.secret_enc) or "")
    data, manifest, not_included = build(conn, keyring, row, secret, object_store)
    digest = hashlib.sha256(data).hexdigest()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"disclosure-{request_id}.zip"
    path.write_bytes(data)
    if not again:
        conn.execute(update(disclosure_request).where(
            disclosure_request.c.id == request_id).values(
            status=DisclosureStatus.PACKAGED, packaged_by=actor.staff_id, packaged_at=at,
            package_sha256=digest, manifest=manifest))
    identical = not again or digest == row.package_sha256
    ledger.append(conn, ledger.Entry(
        actor=actor.username,
        action=LedgerAction.DISCLOSURE_REGENERATE if again else LedgerAction.DISCLOSURE_PACKAGE,
        subject_type="disclosure_request", subject_id=str(request_id), dossier_no=row.dossier_no,
        details={"sha256": digest, "files": sorted(manifest["files"]),
                 "not_included": len(not_included), "masked": manifest["masked"],
                 "identical": identical}))
    return Packaged(request_id, str(path), digest, passphrase(secret),
                    sorted(manifest["files"]), not_included, manifest["masked"], row.expires_on,
                    again, identical)

