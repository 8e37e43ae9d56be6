"""Compliance incidents and disputes: the emergency response of Art. 20.

A leak, a lost volume, a wrong disclosure or a client dispute is reported by whoever finds
it (:func:`open_incident`) and management is told at once: the report goes into the mail
outbox in the same transaction, and :func:`report_to_management` sends it as soon as that
commits (the CLI and the API do, within the request). CS and management record the handling
steps with their owners and deadlines (:func:`add_step`); management closes it with what was
done (:func:`close`). Every step is in the ledger; free text holding an e-mail address or a
phone number is refused (no personal data in what the ledger keeps).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from dossiers.core import clock, ledger, paging
from dossiers.core.config import settings
from dossiers.core.directory import staff_id
from dossiers.core.errors import NotFound, Refused
from dossiers.core.free_text import refuse_personal_data
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import dossier, incident, incident_step, staff, staff_role
from dossiers.core.vocabulary import IncidentKind, IncidentStatus, LedgerAction
from dossiers.duties import mail
from dossiers.workflows.access import find
from dossiers.workflows.results import Result

#: The outbox's duty name for incident reports (``mail_outbox.duty``).
MAIL_DUTY = "incident"


@dataclass(frozen=True)
class Opened(Result):
    incident_id: str
    kind: str
    status: str
    dossier_no: str | None
    reported_to: list[str]
    #: Mails sent to management now (:func:`report_to_management`); 0 with ``mail_error``
    #: when the mail server refused or could not be reached: the report waits in the outbox.
    mailed: int = 0
    mail_error: str | None = field(default=None, metadata={"omit_none": True})


@dataclass(frozen=True)
class Step(Result):
    incident_id: str
    status: str
    step: str
    owner: str | None
    due_on: date | None


@dataclass(frozen=True)
class Closed(Result):
    incident_id: str
    status: str
    closure: str


def _text(value: str | None, record: str, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise Refused("is required", record=record, field=field)
    if len(text) > 2000:
        raise Refused("is longer than 2,000 characters", record=record, field=field)
    refuse_personal_data(text, record=record, field=field)
    return text


def management_addresses(conn: Connection) -> tuple[str, ...]:
    """Management (Art. 20): the configured management recipients and every active member
    of management."""
    members = conn.execute(select(staff.c.username).join(
        staff_role, staff_role.c.staff_id == staff.c.id).where(
        staff_role.c.role == "management", staff.c.active).order_by(staff.c.username)).scalars()
    return tuple(dict.fromkeys((*settings().management_recipients,
                                *(mail.staff_address(u) for u in members))))


def open_incident(conn: Connection, actor: Actor, kind: str, summary: str, *,
                  dossier_no: str | None = None, owner: str | None = None,
                  at: datetime | None = None) -> Opened:
    """Report a compliance incident or dispute (Art. 20); management is mailed at once."""
    at = at or clock.now()
    record = "incident"
    authorize(conn, actor, Action.INCIDENT_OPEN, subject=record)
    if kind not in {k.value for k in IncidentKind}:
        raise Refused(f"unknown kind {kind!r}; one of {', '.join(k.value for k in IncidentKind)}",
                      record=record, field="kind")
    text = _text(summary, record, "summary")
    target = find(conn, dossier_no) if dossier_no else None
    owner_id = staff_id(conn, owner) if owner else None
    incident_id = uuid.uuid4()
    conn.execute(insert(incident).values(
        id=incident_id, kind=kind, dossier_id=target.id if target is not None else None,
        summary=text, opened_by=actor.staff_id, opened_at=at, owner_id=owner_id))
    to = management_addresses(conn)
    about = f" ({dossier_no})" if dossier_no else ""
    mail.enqueue(conn, MAIL_DUTY, _period(at), _mail_kind(incident_id), [mail.Message(
        to=to, subject=f"[合規事件 Compliance incident] {kind}{about} {incident_id}",
        text="\n".join([
            "合規事件已報告，請管理層立即知悉並協調處理（第二十條）。",
            "A compliance incident was reported; management is to know at once and "
            "coordinate its handling (Art. 20).", "",
            f"Incident: {incident_id}", f"Kind: {kind}", f"Dossier: {dossier_no or '-'}",
            f"Reported by: {actor.username}", f"Owner: {owner or '-'}", "",
            f"Summary: {text}", "",
            f"Handling steps: dossier incidents update {incident_id} --step ...",
        ]))])
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.INCIDENT_OPEN, subject_type="incident",
        subject_id=str(incident_id), dossier_no=dossier_no,
        details={"kind": kind, "summary": text, "owner": owner, "reported_to": list(to)}))
    return Opened(str(incident_id), kind, IncidentStatus.OPEN, dossier_no, list(to))


def _period(at: datetime) -> str:
    return clock.local_date(at).isoformat()


def _mail_kind(incident_id: uuid.UUID) -> str:
    return f"incident:{incident_id}"


def report_to_management(engine: Engine, opened: Opened, at: datetime | None = None) -> Opened:
    """Send the incident's report still in the outbox (after the opening committed); a
    later call sends only what is still unsent. The incident stays on record whatever the
    mail server does: what was not delivered is said (``mail_error``, addresses masked)."""
    day = _period(at or clock.now())
    try:
        delivery = mail.deliver(engine, MAIL_DUTY, day,
                                _mail_kind(uuid.UUID(opened.incident_id)))
        delivery.raise_if_failed()
    except Exception as exc:  # any mail failure: the incident stays recorded, the mail queued
        return replace(opened, mailed=0, mail_error=mail.describe_error(exc))
    return replace(opened, mailed=delivery.sent)


def _incident(conn: Connection, incident_id: uuid.UUID) -> Any:
    row = conn.execute(select(incident).where(incident.c.id == incident_id)
                       .with_for_update()).first()
    if row is None:
        raise NotFound("no such incident", record=f"incident {incident_id}")
    return row


def add_step(conn: Connection, actor: Actor, incident_id: uuid.UUID, step: str, *,
             owner: str | None = None, due_on: date | None = None,
             at: datetime | None = None) -> Step:
    """Record a handling step, its owner and deadline (Art. 20: coordinate the handling)."""
    at = at or clock.now()
    record = f"incident {incident_id}"
    authorize(conn, actor, Action.INCIDENT_HANDLE, subject=record)
    row = _incident(conn, incident_id)
    if row.status == IncidentStatus.CLOSED:
        raise Refused("is closed", record=record)
    text = _text(step, record, "step")
    owner_id = staff_id(conn, owner) if owner else None
    if due_on is not None and due_on < clock.local_date(at):
        raise Refused("is in the past", record=record, field="due_on")
    conn.execute(insert(incident_step).values(
        incident_id=incident_id, step=text, owner_id=owner_id, due_on=due_on,
        recorded_by=actor.staff_id, recorded_at=at))
    values: dict[str, Any] = {"status": IncidentStatus.HANDLING}
    if owner_id is not None and row.owner_id is None:
        values["owner_id"] = owner_id
    conn.execute(update(incident).where(incident.c.id == incident_id).values(**values))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.INCIDENT_UPDATE, subject_type="incident",
        subject_id=str(incident_id),
        details={"step": text, "owner": owner, "due_on": due_on.isoformat() if due_on else None}))
    return Step(str(incident_id), IncidentStatus.HANDLING, text, owner, due_on)


def close(conn: Connection, actor: Actor, incident_id: uuid.UUID, closure: str, *,
          at: datetime | None = None) -> Closed:
    """Management closes an incident with what was done (Art. 20)."""
    at = at or clock.now()
    record = f"incident {incident_id}"
    authorize(conn, actor, Action.INCIDENT_CLOSE, subject=record)
    row = _incident(conn, incident_id)
    if row.status == IncidentStatus.CLOSED:
        raise Refused("is already closed", record=record)
    text = _text(closure, record, "closure")
    if not conn.execute(select(incident_step.c.id).where(
            incident_step.c.incident_id == incident_id).limit(1)).first():
        raise Refused("has no handling step: record how it was handled first "
                      "(`dossier incidents update`)", record=record)
    conn.execute(update(incident).where(incident.c.id == incident_id).values(
        status=IncidentStatus.CLOSED, closed_by=actor.staff_id, closed_at=at, closure=text))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.INCIDENT_CLOSE, subject_type="incident",
        subject_id=str(incident_id), details={"closure": text}))
    return Closed(str(incident_id), IncidentStatus.CLOSED, text)


def list_incidents(conn: Connection, actor: Actor, *, open_only: bool = False,
                   limit: int = paging.DEFAULT_LIMIT,
                   after: str | None = None) -> paging.Page[dict[str, Any]]:
    """The incident register (CS head, QA supervisor, management): a page of ``limit`` in
    the order they were opened, after the cursor ``after`` (:mod:`dossiers.core.paging`),
    each with its handling steps, owners and deadlines (Art. 20)."""
    authorize(conn, actor, Action.COMPLIANCE_READ, subject="incidents")
    owner = staff.alias("owner")
    opener = staff.alias("opener")
    query = (select(incident.c.id, incident.c.kind, incident.c.status, incident.c.summary,
                    incident.c.opened_at, incident.c.closed_at, incident.c.closure,
                    dossier.c.dossier_no, owner.c.username.label("owner"),
                    opener.c.username.label("opened_by"))
             .outerjoin(owner, owner.c.id == incident.c.owner_id)
             .join(opener, opener.c.id == incident.c.opened_by)
             .outerjoin(dossier, dossier.c.id == incident.c.dossier_id))
    if open_only:
        query = query.where(incident.c.status != IncidentStatus.CLOSED)
    page = paging.fetch(conn, "incidents", query, (incident.c.opened_at, incident.c.id),
                        limit=limit, after=after)
    steps: dict[uuid.UUID, list[dict[str, Any]]] = {}
    if page.items:
        who = staff.alias("step_owner")
        for s in conn.execute(select(incident_step.c.incident_id, incident_step.c.step,
                                     incident_step.c.due_on, incident_step.c.recorded_at,
                                     who.c.username.label("owner"))
                              .outerjoin(who, who.c.id == incident_step.c.owner_id)
                              .where(incident_step.c.incident_id.in_([r.id for r in page.items]))
                              .order_by(incident_step.c.id)):
            steps.setdefault(s.incident_id, []).append({
                "step": s.step, "owner": s.owner,
                "due_on": s.due_on.isoformat() if s.due_on else None,
                "recorded_at": s.recorded_at.isoformat()})
    return paging.Page([{
        "incident_id": str(r.id), "kind": r.kind, "status": r.status,
        "dossier_no": r.dossier_no, "summary": r.summary, "opened_by": r.opened_by,
        "owner": r.owner, "opened_at": r.opened_at.isoformat(),
        "steps": steps.get(r.id, []), "closure": r.closure,
        "closed_at": r.closed_at.isoformat() if r.closed_at else None}
        for r in page.items], page.next)
