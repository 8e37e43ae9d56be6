"""Submitting collection forms (Art. 11 step 1; ``collection-form.md``).

The whole file is validated first. In one transaction, under an intake lock (so two
imports cannot both accept the same client), every accepted row becomes a submitted
form awaiting its department head's review (Art. 11 step 2), with its personal data
sealed under the future dossier's own data key, a review clock (2 wd) and a ledger entry.
Refused rows write nothing. A refused file writes nothing at all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Text, func, insert, select, text

from dossiers import db, ledger
from dossiers.crypto import Field, KeyRing
from dossiers.intake.reader import read_form_file
from dossiers.intake.rules import RowError, ValidForm, name_key, validate_row
from dossiers.permissions import Action, Actor, authorize
from dossiers.policy import policy
from dossiers.schema import clock, dossier, form, staff
from dossiers.staff import department_heads, load_actor
from dossiers.workdays import default_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: pg_advisory_xact_lock key serialising intake ("intake" in ASCII).
INTAKE_LOCK = 0x696E74616B65
PENDING = ("submitted", "reviewed")
PERSONAL_PLACE = "personal"


def zh_key(client_name_zh: str) -> str:
    return "".join(client_name_zh.split())


def personal_field(form_id: uuid.UUID) -> Field:
    """Where a form's sealed personal data lives (bound to that form)."""
    return Field("form", PERSONAL_PLACE, str(form_id))


def split_personal(valid: ValidForm) -> tuple[dict[str, Any], dict[str, str]]:
    """The non-personal payload (stored as JSON) and the personal fields (to be sealed)."""
    return valid.as_dict(personal=False), valid.personal_fields()


@dataclass
class ImportReport:
    file: str
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "accepted": self.accepted, "rejected": self.rejected,
                "warnings": self.warnings}


def import_file(path: Path, *, acting_user: str | None, today: date | None = None,
                keyring: KeyRing | None = None) -> dict[str, Any]:
    """Import one form file; returns the report of ``collection-form.md``."""
    form_file = read_form_file(path)  # FileRefused (exit 2) before anything is written
    today = today or datetime.now(SHANGHAI).date()
    keyring = keyring or KeyRing()
    report = ImportReport(file=path.name, warnings=list(form_file.warnings))
    with db.transaction() as conn:
        actor = load_actor(conn, acting_user)
        authorize(conn, actor, Action.FORM_SUBMIT, subject=f"file {path.name}")
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INTAKE_LOCK})
        liaisons = _active_liaisons(conn)
        checked = [(row, *validate_row(row, raw, known_liaisons=liaisons, today=today))
                   for row, raw in form_file.rows]
        valid = _refuse_duplicates(conn, checked, report)
        _store(conn, keyring, actor, path.name, valid, liaisons, today, report)
    report.rejected.sort(key=lambda e: (e["row"], e["field"]))
    return report.as_dict()


def _active_liaisons(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(staff.c.username, staff.c.id).where(staff.c.active))
    return {r.username: r.id for r in rows}


def _refuse_duplicates(conn: Connection, checked: Iterable[tuple[int, ValidForm | None,
                       list[RowError]]], report: ImportReport) -> list[ValidForm]:
    """Refuse rows whose client already has a dossier, a pending form, or an earlier row."""
    rows = list(checked)
    en_keys = {v.name_key for _, v, _ in rows if v}
    zh_keys = {zh_key(v.client_name_zh) for _, v, _ in rows if v}
    existing = _existing_claims(conn, en_keys, zh_keys)
    seen: dict[tuple[str, str], int] = {}
    accepted = []
    for row, valid, errors in rows:
        for e in errors:
            report.rejected.append(e.as_dict())
        if valid is None:
            continue
        duplicate = None
        for kind, key in (("client_name_en", valid.name_key),
                          ("client_name_zh", zh_key(valid.client_name_zh))):
            what = existing.get((kind, key)) or (
                f"row {seen[(kind, key)]} of this file" if (kind, key) in seen else None)
            if what and duplicate is None:
                duplicate = RowError(row, kind, "duplicate", f"{kind} duplicates {what}")
        for kind, key in (("client_name_en", valid.name_key),
                          ("client_name_zh", zh_key(valid.client_name_zh))):
            seen.setdefault((kind, key), row)
        if duplicate:
            report.rejected.append(duplicate.as_dict())
        else:
            accepted.append(valid)
    return accepted


def _existing_claims(conn: Connection, en_keys: set[str],
                     zh_keys: set[str]) -> dict[tuple[str, str], str]:
    """(field, name key) -> what already claims that client: a pending form or a dossier."""
    claims: dict[tuple[str, str], str] = {}
    if not en_keys and not zh_keys:
        return claims
    pending = conn.execute(
        select(form.c.id.cast(Text).label("label"), form.c.name_en_key, form.c.name_zh_key)
        .where(form.c.status.in_(PENDING))
        .where(form.c.name_en_key.in_(en_keys) | form.c.name_zh_key.in_(zh_keys))
    ).all()
    dossiers = conn.execute(
        select(func.coalesce(dossier.c.dossier_no, dossier.c.id.cast(Text)).label("label"),
               dossier.c.name_en_key, dossier.c.name_zh_key)
        .where(dossier.c.status != "destroyed")
        .where(dossier.c.name_en_key.in_(en_keys) | dossier.c.name_zh_key.in_(zh_keys))
    ).all()
    for kind, rows in (("pending form", pending), ("dossier", dossiers)):
        for r in rows:
            if r.name_en_key in en_keys:
                claims[("client_name_en", r.name_en_key)] = f"{kind} {r.label}"
            if r.name_zh_key in zh_keys:
                claims[("client_name_zh", r.name_zh_key)] = f"{kind} {r.label}"
    return claims


def _store(conn: Connection, keyring: KeyRing, actor: Actor, file_name: str,
           accepted: list[ValidForm], liaisons: dict[str, int], today: date,
           report: ImportReport) -> None:
    if not accepted:
        return
    ids = [(uuid.uuid4(), uuid.uuid4()) for _ in accepted]  # (form id, future dossier id)
    keyring.create_keys(conn, [dossier_id for _, dossier_id in ids])
    review = default_calendar().add(today, policy().form_review_wd)  # Art. 11(2)
    heads = department_heads(conn)
    submitted_at = datetime.combine(today, datetime.now(SHANGHAI).timetz())
    forms, clocks, entries = [], [], []
    for (form_id, dossier_id), valid in zip(ids, accepted, strict=True):
        payload, personal = split_personal(valid)
        liaison_id = liaisons[valid.liaison]
        forms.append({
            "id": form_id, "kind": "collection", "status": "submitted", "dossier_id": dossier_id,
            "client_name_zh": valid.client_name_zh, "client_name_en": valid.client_name_en,
            "name_en_key": name_key(valid.client_name_en),
            "name_zh_key": zh_key(valid.client_name_zh),
            "client_type": valid.client_type, "stage": valid.stage,
            "department": valid.department, "liaison_id": liaison_id,
            "submitted_by": actor.staff_id, "submitted_at": submitted_at,
            "source_file": file_name, "source_row": valid.row, "payload": payload,
            "personal_enc": keyring.seal(conn, dossier_id, personal_field(form_id),
                                         json.dumps(personal, ensure_ascii=False)),
        })
        clocks.append({
            "kind": "form_review", "subject_type": "form", "subject_id": str(form_id),
            "article": policy().article("form_review_wd"),
            "owner_id": heads.get(valid.department),
            "started_on": today, "due_on": review.date, "provisional": review.provisional,
        })
        entries.append(ledger.Entry(
            actor=actor.username, action="form.submit", subject_type="form",
            subject_id=str(form_id),
            details={"file": file_name, "row": valid.row, "client_type": valid.client_type,
                     "stage": valid.stage, "department": valid.department,
                     "liaison": valid.liaison, "review_due": review.date.isoformat(),
                     "review_due_provisional": review.provisional},
        ))
        report.accepted.append({"row": valid.row, "form_id": str(form_id)})
    conn.execute(insert(form), forms)
    conn.execute(insert(clock), clocks)
    ledger.append_many(conn, entries)
