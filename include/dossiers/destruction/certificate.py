"""The destruction certificate (Art. 17(2)(4)): a PDF of the Destruction Request Form (every
dossier: number, client name, filing time, condition, reason), every gate's decision, the
execution record (when, by whom, the data keys destroyed and the date after which no backup
can decrypt them), the paper volumes' destruction (method, date, personnel), and the
archivist's and the QA supervisor's confirmations; signed (PAdES) with the company's
signing key (:mod:`dossiers.destruction.signing`), kept in the certificate store
(``DOSSIER_CERTIFICATE_STORE``, a folder; default ``certificates`` in ``DOSSIER_HOME``) and
ledgered with its digest.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, update

from dossiers.core import clock, ledger
from dossiers.core.config import SHANGHAI, home
from dossiers.core.errors import Refused
from dossiers.core.objects import LocalObjectStore
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import destruction_request, paper_destruction, staff
from dossiers.core.vocabulary import DestructionStatus, LedgerAction
from dossiers.destruction import requests
from dossiers.destruction.signing import sign_pdf
from dossiers.workflows.results import Result

FONT = "cjk"


@dataclass(frozen=True)
class Certified(Result):
    request_id: uuid.UUID
    uri: str
    sha256: str
    pages: int


def store() -> LocalObjectStore:
    return LocalObjectStore(Path(os.environ.get("DOSSIER_CERTIFICATE_STORE")
                                 or home() / "certificates"))


def _when(value: datetime | None) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if value else "—"


def render(form: requests.Form, paper: Sequence[Any], executed_by: str) -> bytes:
    """The certificate's pages (unsigned): fpdf2 with the CJK font embedded."""
    from fpdf import FPDF

    from dossiers.reports.fonts import cjk_font

    pdf = FPDF()
    font = cjk_font()
    pdf.add_font(FONT, fname=str(font.path), collection_font_number=font.index)
    pdf.set_creation_date(form.executed_at or clock.now())
    pdf.set_title(f"Destruction certificate {form.request_id}")
    pdf.add_page()
    width = pdf.epw

    def line(text: str, size: int = 10, gap: float = 6) -> None:
        pdf.set_font(FONT, size=size)
        pdf.multi_cell(width, gap, text, new_x="LMARGIN", new_y="NEXT")

    line("客戶檔案銷毀證明 / Destruction certificate (Art. 17(2)(4))", 15, 9)
    line(f"Request {form.request_id} — requested by {form.requested_by} on "
         f"{_when(form.requested_at)}; status {form.status}")
    line("")
    line("1. 銷毀申請表 / Destruction Request Form", 12, 8)
    for d in form.dossiers:
        line(f"• {d['dossier_no']} — {d['client_name_zh']} / {d['client_name_en']}; filed "
             f"{_when(d['filed_at'])}; condition {d['condition']}; reason: {d['reason']}; "
             f"departments re-checking: {', '.join(d['departments']) or '—'}")
    line("2. 審批 / Approvals", 12, 8)
    for dec in form.decisions:
        verdict = "approved" if dec["approved"] else "rejected"
        line(f"• {dec['gate']}: {verdict} by {dec['decided_by']} on {_when(dec['decided_at'])} "
             f"(via {dec['via']}){'; ' + dec['reason'] if dec['reason'] else ''}")
    line("3. 執行記錄 / Execution record", 12, 8)
    line(f"Executed by {executed_by} on {_when(form.executed_at)} under the QA supervisor's "
         "supervision: every row of each electronic dossier deleted, its documents' objects "
         "deleted from the document store, its data key destroyed (crypto-shredding).")
    line(f"No backup anywhere can decrypt these dossiers after {form.unrecoverable_after} "
         "(the key ring's own backups have then expired).")
    line("4. 紙質檔案 / Paper volumes", 12, 8)
    for p in paper:
        line(f"• {p.dossier_no} volume {p.volume_no}: {p.method} on {p.destroyed_on}, "
             f"personnel {', '.join(p.personnel)}")
    line("5. 簽署確認 / Confirmations", 12, 8)
    for dec in form.decisions:
        if dec["gate"].startswith("signed:"):
            line(f"• {dec['gate'].removeprefix('signed:')}: {dec['decided_by']} signed on "
                 f"{_when(dec['decided_at'])}")
    line("")
    line("The dossier numbers stay used forever; a tombstone keeps number, client name, "
         "filing time and reason, nothing personal. This document is digitally signed.", 8, 5)
    return bytes(pdf.output())


def certify(conn: Connection, actor: Actor, request_id: uuid.UUID, *,
            at: datetime | None = None) -> Certified:
    """Render, sign, store and ledger the certificate of an executed, signed request."""
    at = at or clock.now()
    row = requests.load(conn, request_id, lock=True)
    record = f"destruction request {request_id}"
    authorize(conn, actor, Action.DESTRUCTION_EXECUTE, subject=record)
    if row.status != DestructionStatus.EXECUTED:
        raise Refused(f"is {row.status}: only an executed request is certified", record=record)
    waiting = requests.open_gates(conn, request_id)
    if waiting:
        raise Refused(f"waits for {', '.join(waiting)} (`dossier destruction confirm`)",
                      record=record)
    form = requests.show(conn, actor, request_id)
    paper = conn.execute(select(paper_destruction).where(
        paper_destruction.c.request_id == request_id).order_by(
        paper_destruction.c.dossier_no, paper_destruction.c.volume_no)).all()
    executed_by = conn.execute(select(staff.c.username).where(
        staff.c.id == row.executed_by)).scalar_one()
    signed = sign_pdf(render(form, paper, executed_by),
                      reason=f"Destruction certificate {request_id} (Art. 17(2)(4))")
    digest = hashlib.sha256(signed).hexdigest()
    key = f"destruction/{request_id}.pdf"
    target = store()
    target.put(key, [signed])
    uri = f"{target.location}/{key}"
    conn.execute(update(destruction_request).where(destruction_request.c.id == request_id)
                 .values(certificate_uri=uri, certificate_sha256=digest))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.DESTRUCTION_CERTIFY,
        subject_type="destruction_request", subject_id=str(request_id),
        details={"sha256": digest, "uri": uri,
                 "dossiers": [d["dossier_no"] for d in form.dossiers]}))
    import io

    from pypdf import PdfReader

    return Certified(request_id, uri, digest, len(PdfReader(io.BytesIO(signed)).pages))
