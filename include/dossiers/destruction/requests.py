"""The Destruction Request Form and its gates (Art. 17(2)).

The archivist lists the dossiers (number, client name, filing time, reason, the condition
each meets); then, in this order, each a gate that one person decides:

1. ``cs_head`` — the CS head reviews (Art. 17(2)(1));
2. ``department:<code>`` — the head of **every** department that worked with a listed
   client re-checks that it needs the dossier no more (Art. 17(2)(2)), in any order;
3. ``management`` — approves (Art. 17(2)(2)): the request is then ``approved``;
4. ``qa_supervisor`` — the QA supervisor confirms the execution may start under their
   supervision (Art. 17(2)(3)).

After the execution the archivist and the QA supervisor sign the form (``signed:archivist``,
``signed:qa_supervisor``, Art. 17(2)(4)). A rejection at any gate stops the request with its
reason. Nobody decides their own request, nor two gates of one request. The decisions come
from the CLI or from Airflow's approval tasks (``via``); each is ledgered.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from dossiers.core import clock, ledger
from dossiers.core.errors import NotFound, Refused
from dossiers.core.free_text import refuse_personal_data
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import (
    destruction_approval,
    destruction_item,
    destruction_request,
    dossier,
    staff,
)
from dossiers.core.vocabulary import DestructionCondition, DestructionStatus, LedgerAction
from dossiers.destruction.eligibility import candidate, meets_cooperation_ended
from dossiers.workflows.access import find
from dossiers.workflows.results import Result

CS_HEAD = "cs_head"
MANAGEMENT = "management"
QA_SUPERVISOR = "qa_supervisor"
SIGNED_ARCHIVIST = "signed:archivist"
SIGNED_QA = "signed:qa_supervisor"
DEPARTMENT = "department:"


def department_gate(department: str) -> str:
    return f"{DEPARTMENT}{department}"


#: The permission each kind of gate needs.
GATE_ACTION = {CS_HEAD: Action.DESTRUCTION_REVIEW, MANAGEMENT: Action.DESTRUCTION_APPROVE,
               QA_SUPERVISOR: Action.DESTRUCTION_SUPERVISE,
               SIGNED_ARCHIVIST: Action.DESTRUCTION_EXECUTE,
               SIGNED_QA: Action.DESTRUCTION_SUPERVISE}


@dataclass(frozen=True)
class Item:
    """One dossier the archivist lists, with the condition it meets and why."""

    dossier_no: str
    condition: str = DestructionCondition.COOPERATION_ENDED
    reason: str = ""


@dataclass(frozen=True)
class Requested(Result):
    request_id: uuid.UUID
    status: str
    dossiers: list[str]
    gates: list[str]


@dataclass(frozen=True)
class GateDecided(Result):
    request_id: uuid.UUID
    gate: str
    approved: bool
    status: str
    next_gates: list[str]


def request(conn: Connection, actor: Actor, items: Sequence[Item], *,
            today: date | None = None, at: datetime | None = None) -> Requested:
    """The archivist's Destruction Request Form (Art. 17(2)(1)): each dossier must meet the
    condition it names, be held by no legal hold, and be in no other open request."""
    today = today or clock.today()
    at = at or clock.now()
    authorize(conn, actor, Action.DESTRUCTION_PROPOSE, subject="destruction request")
    if not items:
        raise Refused("list at least one dossier", record="destruction request",
                      field="dossiers")
    request_id = uuid.uuid4()
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        record = f"dossier {item.dossier_no}"
        if item.dossier_no in seen:
            raise Refused("is listed twice", record=record)
        seen.add(item.dossier_no)
        row = find(conn, item.dossier_no, lock=True)
        if item.condition not in set(DestructionCondition):
            raise Refused(f"must be one of {', '.join(DestructionCondition)}", record=record,
                          field="condition")
        reason = item.reason.strip()
        refuse_personal_data(reason, record=record, field="reason")  # ledgered: Art. 19
        if item.condition == DestructionCondition.COOPERATION_ENDED:
            if not meets_cooperation_ended(row, today):
                raise Refused("does not meet condition (1): terminated at least the policy's "
                              "years ago with no prospect of further cooperation (Art. 17(1))",
                              record=record, field="condition")
            reason = reason or (f"cooperation terminated {row.terminated_on}, no prospect "
                                "(Art. 17(1)(1))")
        elif not reason:
            raise Refused("say why the information is invalid or which law or restructuring "
                          "requires it (Art. 17(1))", record=record, field="reason")
        found = candidate(conn, row, item.condition)
        if found.blocked_by:
            raise Refused(f"held by a legal hold ({'; '.join(found.blocked_by)})",
                          record=record, field="legal_hold")
        open_request = conn.execute(
            select(destruction_request.c.id).join(
                destruction_item, destruction_item.c.request_id == destruction_request.c.id)
            .where(destruction_item.c.dossier_id == row.id, destruction_request.c.status.in_(
                (DestructionStatus.REQUESTED, DestructionStatus.APPROVED)))).scalar()
        if open_request is not None:
            raise Refused(f"is already in destruction request {open_request}", record=record)
        rows.append({"request_id": request_id, "dossier_no": row.dossier_no,
                     "dossier_id": row.id, "client_name_zh": row.client_name_zh,
                     "client_name_en": row.client_name_en, "filed_at": row.filed_at,
                     "condition": item.condition, "reason": reason,
                     "departments": found.departments})
    conn.execute(insert(destruction_request).values(
        id=request_id, status=DestructionStatus.REQUESTED, requested_by=actor.staff_id,
        requested_at=at))
    conn.execute(insert(destruction_item), rows)
    ledger.append(conn, *[ledger.Entry(
        actor=actor.username, action=LedgerAction.DESTRUCTION_REQUEST,
        subject_type="destruction_request", subject_id=str(request_id),
        dossier_no=r["dossier_no"], details={"condition": r["condition"],
                                             "departments": r["departments"]}) for r in rows])
    return Requested(request_id, DestructionStatus.REQUESTED, [r["dossier_no"] for r in rows],
                     gates(conn, request_id))


def load(conn: Connection, request_id: uuid.UUID, *, lock: bool = False) -> Any:
    query = select(destruction_request).where(destruction_request.c.id == request_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound("no such destruction request", record=f"destruction request {request_id}")
    return row


def items(conn: Connection, request_id: uuid.UUID) -> list[Any]:
    return list(conn.execute(select(destruction_item).where(
        destruction_item.c.request_id == request_id).order_by(destruction_item.c.dossier_no)))


def gates(conn: Connection, request_id: uuid.UUID) -> list[str]:
    """The approval gates of a request, in order (the department gates among themselves in
    any order): CS head, every relevant department's head, management, QA supervisor."""
    departments = sorted({d for i in items(conn, request_id) for d in i.departments})
    return [CS_HEAD, *(department_gate(d) for d in departments), MANAGEMENT, QA_SUPERVISOR]


def decisions(conn: Connection, request_id: uuid.UUID) -> dict[str, Any]:
    return {r.gate: r for r in conn.execute(select(destruction_approval).where(
        destruction_approval.c.request_id == request_id))}


def open_gates(conn: Connection, request_id: uuid.UUID) -> list[str]:
    """The gates that may be decided now (several only among the department gates)."""
    row = load(conn, request_id)
    if row.status in (DestructionStatus.REJECTED, DestructionStatus.STOPPED):
        return []
    done = decisions(conn, request_id)
    if row.status == DestructionStatus.EXECUTED:
        return [g for g in (SIGNED_ARCHIVIST, SIGNED_QA) if g not in done]
    pending = [g for g in gates(conn, request_id) if g not in done]
    if not pending:
        return []
    if pending[0].startswith(DEPARTMENT):
        return [g for g in pending if g.startswith(DEPARTMENT)]
    return pending[:1]


def decide(conn: Connection, actor: Actor, request_id: uuid.UUID, gate: str, *,
           approve: bool, reason: str | None = None, via: str = "cli",
           at: datetime | None = None) -> GateDecided:
    """One gate's decision (see the module): checked, recorded, ledgered."""
    at = at or clock.now()
    row = load(conn, request_id, lock=True)
    record = f"destruction request {request_id}"
    kind = DEPARTMENT if gate.startswith(DEPARTMENT) else gate
    action = Action.DESTRUCTION_RECHECK if kind == DEPARTMENT else GATE_ACTION.get(gate)
    if action is None:
        raise Refused(f"no gate {gate!r} (gates: {', '.join(gates(conn, request_id))})",
                      record=record, field="gate")
    authorize(conn, actor, action, subject=record)
    if kind == DEPARTMENT and actor.department != gate.removeprefix(DEPARTMENT):
        authorize(conn, actor, action, subject=record,
                  reason=f"only the head of {gate.removeprefix(DEPARTMENT)} decides this gate")
    if actor.staff_id == row.requested_by and gate != SIGNED_ARCHIVIST:
        authorize(conn, actor, action, subject=record,
                  reason="nobody decides their own request (Art. 17(2))")
    done = decisions(conn, request_id)
    if gate in done:
        raise Refused(f"the {gate} gate is already decided", record=record, field="gate")
    mine = [g for g, d in done.items() if d.decided_by == actor.staff_id]
    if mine and gate != SIGNED_QA:
        authorize(conn, actor, action, subject=record,
                  reason=f"already decided the {mine[0]} gate: nobody decides twice")
    allowed = open_gates(conn, request_id)
    if gate not in allowed:
        state = f"is {row.status}" if not allowed else f"waits for {', '.join(allowed)}"
        raise Refused(f"cannot decide the {gate} gate now: the request {state}",
                      record=record, field="gate")
    reason = (reason or "").strip() or None
    if not approve and reason is None:
        raise Refused("a rejection states its reason", record=record, field="reason")
    conn.execute(insert(destruction_approval).values(
        request_id=request_id, gate=gate, decided_by=actor.staff_id, approved=approve,
        reason=reason, decided_at=at, via=via))
    status = row.status
    if not approve:
        status = DestructionStatus.REJECTED
        conn.execute(update(destruction_request).where(destruction_request.c.id == request_id)
                     .values(status=status, rejected_by=actor.staff_id, rejection_reason=reason))
    elif gate == MANAGEMENT:
        status = DestructionStatus.APPROVED
        conn.execute(update(destruction_request).where(destruction_request.c.id == request_id)
                     .values(status=status))
    ledger.append(conn, ledger.Entry(
        actor=actor.username,
        action=LedgerAction.DESTRUCTION_APPROVE if approve else LedgerAction.DESTRUCTION_REJECT,
        subject_type="destruction_request", subject_id=str(request_id),
        details={"gate": gate, "reason": reason, "via": via}))
    return GateDecided(request_id, gate, approve, status, open_gates(conn, request_id))


@dataclass(frozen=True)
class Form(Result):
    """A Destruction Request Form as it stands: dossiers, gates and decisions."""

    request_id: uuid.UUID
    status: str
    requested_by: str
    requested_at: datetime
    dossiers: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    open_gates: list[str]
    rejection_reason: str | None
    stop_reason: str | None
    executed_at: datetime | None
    unrecoverable_after: date | None


def show(conn: Connection, actor: Actor, request_id: uuid.UUID) -> Form:
    row = load(conn, request_id)
    record = f"destruction request {request_id}"
    if not any(actor.may(a) for a in (Action.DESTRUCTION_PROPOSE, Action.DESTRUCTION_REVIEW,
                                       Action.DESTRUCTION_RECHECK, Action.DESTRUCTION_APPROVE,
                                       Action.DESTRUCTION_SUPERVISE)):
        authorize(conn, actor, Action.DESTRUCTION_REVIEW, subject=record)
    names = dict(conn.execute(select(staff.c.id, staff.c.username)).tuples().all())
    gate_order = [*gates(conn, request_id), SIGNED_ARCHIVIST, SIGNED_QA]
    done = decisions(conn, request_id)
    return Form(
        request_id, row.status, names[row.requested_by], row.requested_at,
        [{"dossier_no": i.dossier_no, "client_name_zh": i.client_name_zh,
          "client_name_en": i.client_name_en, "filed_at": i.filed_at, "condition": i.condition,
          "reason": i.reason, "departments": list(i.departments),
          "paper_volumes": list(i.paper_volumes)} for i in items(conn, request_id)],
        [{"gate": g, "decided_by": names[done[g].decided_by], "approved": done[g].approved,
          "reason": done[g].reason, "decided_at": done[g].decided_at, "via": done[g].via}
         for g in gate_order if g in done],
        open_gates(conn, request_id), row.rejection_reason, row.stop_reason, row.executed_at,
        row.unrecoverable_after)


def dossier_ids(conn: Connection, request_id: uuid.UUID) -> list[uuid.UUID]:
    return [i.dossier_id for i in items(conn, request_id)]


def live(conn: Connection, dossier_id: uuid.UUID) -> Any:
    """The dossier's row, locked (the destroying transaction holds it), or None."""
    return conn.execute(select(dossier).where(dossier.c.id == dossier_id).with_for_update()).first()
