"""Stage transitions and reading a dossier (Arts. 15, 16).

Stages (Art. 15 classification): potential → active → terminated, with a termination date
and whether further cooperation is possible (which decides the six-month review of
Art. 14). Every transition is ledgered. Every read of a dossier is logged in
``access_log``; personal data is masked unless the reader may see it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update

from dossiers.core import clock, db, ledger
from dossiers.core.crypto import KeyRing
from dossiers.core.errors import NotFound, Refused
from dossiers.core.free_text import refuse_personal_data
from dossiers.core.permissions import Action, Actor, Role, authorize
from dossiers.core.schema import QUERY_SCOPES, access_log, dossier
from dossiers.core.vocabulary import DossierStatus, LedgerAction, Stage
from dossiers.workflows import dossier_view
from dossiers.workflows.access import find
from dossiers.workflows.dossier_view import DossierView
from dossiers.workflows.results import Result

TRANSITIONS = {  # Art. 15; a terminated client may come back (renewed cooperation)
    Stage.POTENTIAL: {Stage.ACTIVE, Stage.TERMINATED},
    Stage.ACTIVE: {Stage.TERMINATED},
    Stage.TERMINATED: {Stage.ACTIVE},
}


@dataclass(frozen=True)
class StageChanged(Result):
    dossier_no: str
    from_stage: str = field(metadata={"key": "from"})
    stage: str
    terminated_on: date | None
    further_cooperation: bool | None


@dataclass(frozen=True)
class Kept(Result):
    """A terminated dossier kept after its six-month review (Art. 14)."""

    dossier_no: str
    status: DossierStatus


def change_stage(conn: Connection, actor: Actor, dossier_no: str, stage: str, *,
                 terminated_on: date | None = None, further_cooperation: bool | None = None,
                 today: date | None = None) -> StageChanged:
    """Move a dossier to another stage (archivist, Art. 15), refusing illegal moves."""
    today = today or clock.today()
    row = find(conn, dossier_no, lock=True)
    record = f"dossier {dossier_no}"
    authorize(conn, actor, Action.DOSSIER_STAGE, subject=record)
    if stage not in TRANSITIONS.get(row.stage, set()):
        raise Refused(f"cannot move from {row.stage} to {stage} (allowed: "
                      f"{', '.join(sorted(TRANSITIONS[row.stage]))})", record=record, field="stage")
    if stage == Stage.TERMINATED:
        if terminated_on is None:
            raise Refused("a termination needs its date", record=record, field="terminated_on")
        if terminated_on > today:
            raise Refused("is in the future", record=record, field="terminated_on")
        if further_cooperation is None:
            raise Refused("say whether further cooperation is possible (Art. 14)", record=record,
                          field="further_cooperation")
    elif terminated_on is not None or further_cooperation is not None:
        raise Refused("only a termination takes a date and a prospect", record=record,
                      field="terminated_on")
    values = {"stage": stage, "updated_at": clock.on(today),
              "terminated_on": terminated_on, "further_cooperation": further_cooperation}
    conn.execute(update(dossier).where(dossier.c.id == row.id).values(**values))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.DOSSIER_STAGE, subject_type="dossier",
        subject_id=str(row.id), dossier_no=dossier_no,
        details={"from": row.stage, "to": stage,
                 "terminated_on": terminated_on.isoformat() if terminated_on else None,
                 "further_cooperation": further_cooperation},
    ))
    return StageChanged(dossier_no, row.stage, stage, terminated_on, further_cooperation)


def read(conn: Connection, keyring: KeyRing, actor: Actor, dossier_no: str) -> DossierView:
    """A dossier with the dimensions the reader may see (Arts. 7, 16); every read is logged.

    The client's own liaison and the archivist (its custodian) see all of it. Anyone else
    sees only the scope of their approved, unexpired query grants, with personal data
    masked unless the scope includes ``personal``; without a grant the read is refused.

    The dossier, its grants for the reader and its dimensions come in one statement
    (:mod:`dossiers.workflows.dossier_view`). The read is logged in the caller's
    transaction: the view reaches the reader only once that has committed (the API and the
    CLI show nothing before), so a shown read is a logged one, and a read whose transaction
    fails was shown to nobody. A refusal is logged in a transaction of its own.
    """
    row = dossier_view.fetch(conn, dossier_no, actor.staff_id, clock.today())
    shown, logged = _shown(conn, keyring, actor, dossier_no, row)
    conn.execute(_LOG_READ, logged)
    return shown


def read_fetched(unit: db.Autocommit, keyring: KeyRing, actor: Actor, dossier_no: str,
                 row: Any) -> DossierView:
    """:func:`read` of a row already fetched for ``actor``
    (:func:`dossier_view.fetch_with_reader`), on a connection in autocommit: the same
    permission check and view, and the read's ``access_log`` row is committed, durably, by
    its own statement before the view is returned (one round trip, no BEGIN or COMMIT of
    their own: issue 16). So here too a shown read is a logged one. A refusal is logged by
    :func:`authorize` as everywhere.
    """
    shown, logged = _shown(unit.conn, keyring, actor, dossier_no, row)
    db.run_together(unit.conn, [(_LOG_READ_DRIVER, logged)])
    return shown


def _shown(conn: Connection, keyring: KeyRing, actor: Actor, dossier_no: str,
           row: Any) -> tuple[DossierView, dict[str, Any]]:
    """The view ``actor`` may see of ``row``, and the parameters of its ``access_log`` row;
    :class:`NotFound`, or :class:`PermissionDenied` (logged), when they may see nothing."""
    record = f"dossier {dossier_no}"
    if row is None or row.status == DossierStatus.DESTROYED:
        raise NotFound("no such dossier", record=record)
    authorize(conn, actor, Action.DOSSIER_READ, subject=record)
    if Role.ARCHIVIST in actor.roles or actor.staff_id == row.liaison_id:
        scope: set[str] | None = set(QUERY_SCOPES)
    else:
        scope = dossier_view.granted_scope(row)
    if scope is None:
        authorize(conn, actor, Action.DOSSIER_READ, subject=record,
                  reason="only the client's own liaison reads without an approved query grant "
                         "(Art. 16): request one with `dossier queries request`")
    assert scope is not None
    shown = dossier_view.build(keyring, row, scope)
    return shown, {"at": clock.now(), "actor": actor.username, "subject": record,
                   "reason": json.dumps({"scope": sorted(scope)})}


#: Built once (SQLAlchemy then reuses its compiled form): an allowed read of a dossier.
_LOG_READ = insert(access_log).values(
    at=bindparam("at"), actor=bindparam("actor"), action=Action.DOSSIER_READ.value,
    subject=bindparam("subject"), allowed=True, reason=bindparam("reason"))
_LOG_READ_DRIVER = db.DriverStatement(_LOG_READ)


def keep_terminated(conn: Connection, actor: Actor, dossier_no: str, *, reason: str,
                    at: datetime | None = None) -> Kept:
    """Art. 14: after the six-month review the archivist keeps a terminated, no-prospect
    dossier, filed separately as a "terminated-cooperation client dossier" (終止合作客戶檔案).
    (The other outcome, destruction, follows Art. 17.)"""
    from dossiers.calendar.clocks import close_clock

    at = at or clock.local_now()
    row = find(conn, dossier_no, lock=True)
    record = f"dossier {dossier_no}"
    authorize(conn, actor, Action.DOSSIER_STAGE, subject=record)
    if row.stage != Stage.TERMINATED or row.further_cooperation is not False:
        raise Refused("only a terminated dossier with no prospect of further cooperation is "
                      "kept as a terminated-cooperation client dossier (Art. 14)", record=record)
    if row.status != DossierStatus.OPEN:
        raise Refused(f"is already {row.status}", record=record)
    if not reason.strip():
        raise Refused("say why it is kept (Art. 14)", record=record, field="reason")
    refuse_personal_data(reason, record=record, field="reason")  # ledgered: Art. 19
    conn.execute(update(dossier).where(dossier.c.id == row.id).values(
        status=DossierStatus.TERMINATED_KEPT, updated_at=at))
    close_clock(conn, "inactive_review", "dossier", str(row.id), at)
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.DOSSIER_KEEP_TERMINATED, subject_type="dossier",
        subject_id=str(row.id), dossier_no=dossier_no, details={"reason": reason.strip()}))
    return Kept(dossier_no, DossierStatus.TERMINATED_KEPT)
