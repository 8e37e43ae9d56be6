"""Legal holds (Art. 17): while a litigation or a regulator's inspection holds a dossier, it
is not destroyed, whatever condition it meets. Placed and released by the CS head or
management, ledgered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from dossiers.core import clock, ledger
from dossiers.core.errors import NotFound, Refused
from dossiers.core.free_text import refuse_personal_data
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import legal_hold
from dossiers.core.vocabulary import HoldKind, LedgerAction
from dossiers.workflows.access import find
from dossiers.workflows.results import Result


@dataclass(frozen=True)
class Hold(Result):
    hold_id: int
    dossier_no: str
    kind: str
    reference: str
    placed_at: datetime
    released_at: datetime | None = None


def place(conn: Connection, actor: Actor, dossier_no: str, *, kind: str, reference: str,
          at: datetime | None = None) -> Hold:
    """Hold a dossier for a litigation or a regulator (Art. 17)."""
    at = at or clock.now()
    row = find(conn, dossier_no, lock=True)
    record = f"dossier {dossier_no}"
    authorize(conn, actor, Action.LEGAL_HOLD_MANAGE, subject=record)
    if kind not in set(HoldKind):
        raise Refused(f"must be one of {', '.join(HoldKind)}", record=record, field="kind")
    if not reference.strip():
        raise Refused("name the case or the inspection", record=record, field="reference")
    refuse_personal_data(reference, record=record, field="reference")  # ledgered: Art. 19
    hold_id = conn.execute(insert(legal_hold).values(
        dossier_id=row.id, kind=kind, reference=reference.strip(), placed_by=actor.staff_id,
        placed_at=at).returning(legal_hold.c.id)).scalar_one()
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.LEGAL_HOLD_PLACE, subject_type="legal_hold",
        subject_id=str(hold_id), dossier_no=dossier_no,
        details={"kind": kind, "reference": reference.strip()}))
    return Hold(hold_id, dossier_no, kind, reference.strip(), at)


def release(conn: Connection, actor: Actor, hold_id: int, *, reason: str,
            at: datetime | None = None) -> Hold:
    at = at or clock.now()
    record = f"legal hold {hold_id}"
    row = conn.execute(select(legal_hold).where(legal_hold.c.id == hold_id)
                       .with_for_update()).first()
    if row is None:
        raise NotFound("no such legal hold", record=record)
    authorize(conn, actor, Action.LEGAL_HOLD_MANAGE, subject=record)
    if row.released_at is not None:
        raise Refused("is already released", record=record)
    if not reason.strip():
        raise Refused("say why the hold ends", record=record, field="reason")
    refuse_personal_data(reason, record=record, field="reason")  # ledgered: Art. 19
    conn.execute(update(legal_hold).where(legal_hold.c.id == hold_id).values(
        released_by=actor.staff_id, released_at=at, release_reason=reason.strip()))
    from dossiers.core.schema import dossier

    number = conn.execute(select(dossier.c.dossier_no).where(dossier.c.id == row.dossier_id)
                          ).scalar_one()
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.LEGAL_HOLD_RELEASE, subject_type="legal_hold",
        subject_id=str(hold_id), dossier_no=number, details={"reason": reason.strip()}))
    return Hold(hold_id, number, row.kind, row.reference, row.placed_at, at)


def active_holds(conn: Connection, dossier_id: object) -> list[str]:
    """The dossier's holds in force, as ``kind reference`` (what blocks its destruction)."""
    return [f"{r.kind} {r.reference}" for r in conn.execute(
        select(legal_hold.c.kind, legal_hold.c.reference).where(
            legal_hold.c.dossier_id == dossier_id, legal_hold.c.released_at.is_(None))
        .order_by(legal_hold.c.id))]
