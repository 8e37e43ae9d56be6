"""Complaints about dossier handling, investigated by QA (Art. 21).

Whoever receives a complaint records it (:func:`receive`): who complained (a client, a staff
member, a third party: never a name), about what, and the dossier it concerns. QA
investigates (:func:`investigate`): the findings; an upheld complaint names the
rectification, its owner and deadline (a ``complaint_rectification`` clock the SLA watch
follows) and who is accountable; one not upheld is closed with the findings. QA closes an
upheld one once rectified (:func:`close`). Every step is in the ledger; free text holding an
e-mail address or a phone number is refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from dossiers.calendar.clocks import close_clock, open_clock
from dossiers.core import clock, ledger, paging
from dossiers.core.directory import staff_id
from dossiers.core.errors import NotFound, Refused
from dossiers.core.free_text import refuse_personal_data
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import complaint, dossier, staff
from dossiers.core.vocabulary import Complainant, ComplaintStatus, LedgerAction
from dossiers.workflows.access import find
from dossiers.workflows.results import Result

#: The clock an upheld complaint's rectification runs on (Arts. 4, 14: 10 wd).
RECTIFICATION_CLOCK = "complaint_rectification"


@dataclass(frozen=True)
class ComplaintState(Result):
    complaint_id: str
    status: str
    dossier_no: str | None = None
    upheld: bool | None = None
    rectification_owner: str | None = None
    rectification_due: date | None = None
    accountable: str | None = None


def _text(value: str | None, record: str, field: str, *, required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise Refused("is required", record=record, field=field)
        return None
    if len(text) > 2000:
        raise Refused("is longer than 2,000 characters", record=record, field=field)
    refuse_personal_data(text, record=record, field=field)
    return text


def receive(conn: Connection, actor: Actor, complainant: str, about: str, *,
            dossier_no: str | None = None, received_on: date | None = None,
            at: datetime | None = None) -> ComplaintState:
    """Record a complaint about dossier handling (Art. 21) for QA to investigate."""
    at = at or clock.now()
    record = "complaint"
    authorize(conn, actor, Action.COMPLAINT_RECEIVE, subject=record)
    if complainant not in {c.value for c in Complainant}:
        raise Refused(f"unknown complainant {complainant!r}; one of "
                      f"{', '.join(c.value for c in Complainant)} (never a name)",
                      record=record, field="complainant")
    text = _text(about, record, "about")
    received_on = received_on or clock.local_date(at)
    if received_on > clock.local_date(at):
        raise Refused("is in the future", record=record, field="received_on")
    target = find(conn, dossier_no) if dossier_no else None
    complaint_id = uuid.uuid4()
    conn.execute(insert(complaint).values(
        id=complaint_id, complainant=complainant, about=text, received_on=received_on,
        received_by=actor.staff_id, dossier_id=target.id if target is not None else None))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.COMPLAINT_RECEIVE, subject_type="complaint",
        subject_id=str(complaint_id), dossier_no=dossier_no,
        details={"complainant": complainant, "about": text,
                 "received_on": received_on.isoformat()}))
    return ComplaintState(str(complaint_id), ComplaintStatus.RECEIVED, dossier_no)


def _complaint(conn: Connection, complaint_id: uuid.UUID) -> Any:
    row = conn.execute(select(complaint).where(complaint.c.id == complaint_id)
                       .with_for_update()).first()
    if row is None:
        raise NotFound("no such complaint", record=f"complaint {complaint_id}")
    return row


def investigate(conn: Connection, actor: Actor, complaint_id: uuid.UUID, *, findings: str,
                upheld: bool, rectification: str | None = None,
                rectification_owner: str | None = None, accountable: str | None = None,
                accountability: str | None = None,
                at: datetime | None = None) -> ComplaintState:
    """QA's investigation (Art. 21): findings; an upheld complaint drives rectification (an
    owner and a deadline) and holds someone accountable; one not upheld is closed."""
    at = at or clock.now()
    record = f"complaint {complaint_id}"
    authorize(conn, actor, Action.COMPLAINT_INVESTIGATE, subject=record)
    row = _complaint(conn, complaint_id)
    if row.status not in (ComplaintStatus.RECEIVED, ComplaintStatus.INVESTIGATING):
        raise Refused(f"is {row.status}: it was investigated already", record=record)
    found = _text(findings, record, "findings")
    values: dict[str, Any] = {"findings": found, "upheld": upheld,
                              "investigator_id": actor.staff_id}
    details: dict[str, Any] = {"findings": found, "upheld": upheld}
    due: date | None = None
    if upheld:
        fix = _text(rectification, record, "rectification")
        if not rectification_owner:
            raise Refused("an upheld complaint's rectification has an owner (Art. 21)",
                          record=record, field="rectification_owner")
        owner_id = staff_id(conn, rectification_owner)
        who = _text(accountability, record, "accountability", required=False)
        accountable_id = staff_id(conn, accountable, active=False) if accountable else None
        due = open_clock(conn, RECTIFICATION_CLOCK, "complaint", str(complaint_id),
                         "rectification_wd", owner_id=owner_id, start=clock.local_date(at)).due
        values.update(status=ComplaintStatus.RECTIFYING, rectification=fix,
                      rectification_owner_id=owner_id, rectification_due_on=due,
                      accountable_id=accountable_id, accountability=who)
        details.update(rectification=fix, rectification_owner=rectification_owner,
                       rectification_due=due.isoformat(), accountable=accountable,
                       accountability=who)
    else:
        if rectification or rectification_owner or accountable:
            raise Refused("a complaint not upheld has no rectification nor accountability",
                          record=record, field="upheld")
        values.update(status=ComplaintStatus.CLOSED, closed_by=actor.staff_id, closed_at=at)
    conn.execute(update(complaint).where(complaint.c.id == complaint_id).values(**values))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.COMPLAINT_INVESTIGATE,
        subject_type="complaint", subject_id=str(complaint_id), details=details))
    return ComplaintState(str(complaint_id), values["status"], None, upheld,
                          rectification_owner if upheld else None, due, accountable)


def close(conn: Connection, actor: Actor, complaint_id: uuid.UUID, *, note: str,
          at: datetime | None = None) -> ComplaintState:
    """QA closes an upheld complaint once its rectification is done (Art. 21)."""
    at = at or clock.now()
    record = f"complaint {complaint_id}"
    authorize(conn, actor, Action.COMPLAINT_INVESTIGATE, subject=record)
    row = _complaint(conn, complaint_id)
    if row.status != ComplaintStatus.RECTIFYING:
        raise Refused(f"is {row.status}: only a complaint being rectified is closed this way",
                      record=record)
    text = _text(note, record, "note")
    conn.execute(update(complaint).where(complaint.c.id == complaint_id).values(
        status=ComplaintStatus.CLOSED, closed_by=actor.staff_id, closed_at=at))
    close_clock(conn, RECTIFICATION_CLOCK, "complaint", str(complaint_id), at)
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.COMPLAINT_CLOSE, subject_type="complaint",
        subject_id=str(complaint_id), details={"note": text}))
    return ComplaintState(str(complaint_id), ComplaintStatus.CLOSED, None, True)


#: What ``list_complaints`` may filter on: a status, ``open`` (not closed) or ``all``.
LIST_STATUSES = (*(s.value for s in ComplaintStatus), "open", "all")


def list_complaints(conn: Connection, actor: Actor, *, status: str = "all",
                    limit: int = paging.DEFAULT_LIMIT,
                    after: str | None = None) -> paging.Page[dict[str, Any]]:
    """The complaint register (CS head, QA supervisor, management): a page of ``limit`` in
    the order received, after the cursor ``after`` (:mod:`dossiers.core.paging`), with the
    findings, the rectification (owner, deadline) and who is accountable (Art. 21)."""
    authorize(conn, actor, Action.COMPLIANCE_READ, subject="complaints")
    if status not in LIST_STATUSES:
        raise Refused(f"unknown status {status!r}; one of {', '.join(LIST_STATUSES)}",
                      record="complaints", field="status")
    fixer = staff.alias("rectification_owner")
    held = staff.alias("accountable")
    query = (select(complaint, dossier.c.dossier_no,
                    fixer.c.username.label("rectification_owner"),
                    held.c.username.label("accountable_username"))
             .outerjoin(dossier, dossier.c.id == complaint.c.dossier_id)
             .outerjoin(fixer, fixer.c.id == complaint.c.rectification_owner_id)
             .outerjoin(held, held.c.id == complaint.c.accountable_id))
    if status == "open":
        query = query.where(complaint.c.status != ComplaintStatus.CLOSED)
    elif status != "all":
        query = query.where(complaint.c.status == status)
    page = paging.fetch(conn, "complaints", query, (complaint.c.received_on, complaint.c.id),
                        limit=limit, after=after)
    return paging.Page([{
        "complaint_id": str(r.id), "complainant": r.complainant, "dossier_no": r.dossier_no,
        "about": r.about, "status": r.status, "received_on": r.received_on.isoformat(),
        "upheld": r.upheld, "findings": r.findings, "rectification": r.rectification,
        "rectification_owner": r.rectification_owner,
        "rectification_due_on": r.rectification_due_on.isoformat()
        if r.rectification_due_on else None,
        "accountable": r.accountable_username, "accountability": r.accountability,
        "closed_at": r.closed_at.isoformat() if r.closed_at else None}
        for r in page.items], page.next)
