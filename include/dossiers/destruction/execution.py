"""Executing an approved Destruction Request Form (Art. 17(2)(3), (4)).

Inside the one transaction that destroys, every listed dossier is locked and checked again
against what may have changed since the request: new cooperation, an open complaint, an
open loan of its paper, a legal hold, a query grant used since the request. If any has, no
dossier is destroyed: the request is ``stopped`` with the condition that changed, named
per dossier, and ledgered.

Otherwise, per dossier: the register entry (outside the database) is written, then the
documents' objects are deleted, every row of the electronic dossier is deleted (its forms,
grants, volumes' records and every Art. 10 dimension), its **data key** is destroyed — so
any copy of its sealed fields, in any backup, is unreadable once the key ring's own backups
taken before today have expired: the record states that date (``unrecoverable_after``) —
and a tombstone (number, client name, filing time, reason) takes its place. The number
stays used forever (``dossier_number`` keeps it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from dossiers.core import clock, ledger
from dossiers.core.config import SHANGHAI
from dossiers.core.crypto import KeyRing
from dossiers.core.errors import Refused
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.policy import policy
from dossiers.core.schema import (
    access_log,
    communication,
    contract,
    destruction_item,
    destruction_request,
    dossier,
    dossier_tombstone,
    feedback,
    form,
    loan,
    loan_volume,
    paper_destruction,
    paper_volume,
    project,
    query_grant,
    staff,
)
from dossiers.core.vocabulary import (
    DestructionCondition,
    DestructionStatus,
    FeedbackKind,
    GrantStatus,
    LedgerAction,
    LoanStatus,
    PaperMethod,
    Stage,
)
from dossiers.destruction import requests
from dossiers.destruction.holds import active_holds
from dossiers.destruction.register import DestructionRegister, RegisterEntry
from dossiers.workflows.results import Result

#: Deletes a dossier's documents' objects from the document store; returns how many.
DocumentShredder = Callable[[Connection, uuid.UUID], int]
#: How long the key ring's backups are kept (None: no key ring backups).
KeyringRetention = Callable[[], timedelta | None]


def no_documents(conn: Connection, dossier_id: uuid.UUID) -> int:
    """The seam for the document store: no documents layer, no objects to delete."""
    return 0


def keyring_backups_kept() -> timedelta | None:
    """The key ring backups' retention, the backups' policy rule (Arts. 17(3), 18): a key ring
    backup taken before the destruction is gone after it, and with it the last copy of the
    data key."""
    return timedelta(days=policy().keyring_backup_keep_days)


@dataclass(frozen=True)
class Executed(Result):
    request_id: uuid.UUID
    status: str
    destroyed: list[str]
    documents_destroyed: int
    executed_at: datetime
    #: after this day no backup anywhere can decrypt the dossiers (crypto-shredding)
    unrecoverable_after: date | None
    paper_volumes: dict[str, list[int]]


@dataclass(frozen=True)
class Stopped(Result):
    """The request stopped at execution: what changed, per dossier. Nothing was destroyed."""

    request_id: uuid.UUID
    status: str
    changed: dict[str, list[str]]


def changed_conditions(conn: Connection, item: Any, requested_at: datetime,
                       today: date) -> list[str]:
    """What no longer holds for one listed dossier since the request (Art. 17 re-check)."""
    row = requests.live(conn, item.dossier_id)
    if row is None:
        return ["the dossier no longer exists"]
    changed = []
    since = requested_at.astimezone(UTC).date()
    # condition (1) rests on the cooperation having ended for good; conditions (2) and (3)
    # only on nothing new happening with the client since the request (Art. 17(1))
    ended_for_good = item.condition != DestructionCondition.COOPERATION_ENDED or (
        row.stage == Stage.TERMINATED and row.further_cooperation is False)
    new_cooperation = (
        not ended_for_good
        or conn.execute(select(contract.c.id).where(
            contract.c.dossier_id == row.id, contract.c.signed_on >= since)).first()
        or conn.execute(select(project.c.id).where(
            project.c.dossier_id == row.id, project.c.started_on >= since)).first()
        or conn.execute(select(communication.c.id).where(
            communication.c.dossier_id == row.id,
            communication.c.occurred_at >= requested_at)).first())
    if new_cooperation:
        changed.append("new cooperation since the request")
    if conn.execute(select(feedback.c.id).where(
            feedback.c.dossier_id == row.id, feedback.c.kind == FeedbackKind.COMPLAINT,
            feedback.c.closed_on.is_(None))).first():
        changed.append("an open complaint")
    if conn.execute(select(loan.c.id).join(loan_volume, loan_volume.c.loan_id == loan.c.id)
                    .join(paper_volume, paper_volume.c.id == loan_volume.c.volume_id).where(
            paper_volume.c.dossier_id == row.id,
            loan.c.status.in_((LoanStatus.REQUESTED, LoanStatus.APPROVED, LoanStatus.LENT)))
                    ).first():
        changed.append("an open loan of its paper")
    holds = active_holds(conn, row.id)
    if holds:
        changed.append(f"a legal hold ({'; '.join(holds)})")
    used = conn.execute(select(staff.c.username).join(
        query_grant, query_grant.c.requester_id == staff.c.id).join(
        access_log, (access_log.c.actor == staff.c.username)
        & (access_log.c.subject == f"dossier {row.dossier_no}")).where(
        query_grant.c.dossier_id == row.id, query_grant.c.status == GrantStatus.APPROVED,
        query_grant.c.expires_on >= today, access_log.c.allowed,
        access_log.c.action == Action.DOSSIER_READ.value,
        access_log.c.at >= requested_at)).first()
    if used:
        changed.append(f"a query grant used since the request (by {used.username})")
    if item.condition == DestructionCondition.COOPERATION_ENDED and row.terminated_on is not None:
        from dossiers.destruction.eligibility import meets_cooperation_ended

        if not new_cooperation and not meets_cooperation_ended(row, today):
            changed.append("no longer meets condition (1)")
    return changed


def execute(conn: Connection, keyring: KeyRing, actor: Actor, request_id: uuid.UUID, *,
            register: DestructionRegister | None = None,
            shred_documents: DocumentShredder = no_documents,
            keyring_retention: KeyringRetention = keyring_backups_kept,
            at: datetime | None = None) -> Executed | Stopped:
    """Destroy every dossier of an approved, QA-confirmed request, or stop (module doc)."""
    at = at or clock.now()
    today = at.astimezone(SHANGHAI).date()
    row = requests.load(conn, request_id, lock=True)
    record = f"destruction request {request_id}"
    authorize(conn, actor, Action.DESTRUCTION_EXECUTE, subject=record)
    done = requests.decisions(conn, request_id)
    if row.status != DestructionStatus.APPROVED:
        raise Refused(f"is {row.status}: only an approved request is executed", record=record)
    if requests.QA_SUPERVISOR not in done:
        raise Refused("waits for the QA supervisor's confirmation (Art. 17(2)(3))",
                      record=record)
    listed = requests.items(conn, request_id)
    changed = {i.dossier_no: c for i in listed
               if (c := changed_conditions(conn, i, row.requested_at, today))}
    if changed:
        reason = "; ".join(f"{n}: {', '.join(c)}" for n, c in changed.items())
        conn.execute(update(destruction_request).where(destruction_request.c.id == request_id)
                     .values(status=DestructionStatus.STOPPED, stopped_at=at, stop_reason=reason))
        ledger.append(conn, *[ledger.Entry(
            actor=actor.username, action=LedgerAction.DESTRUCTION_STOP,
            subject_type="destruction_request", subject_id=str(request_id), dossier_no=n,
            details={"changed": c}) for n, c in changed.items()])
        return Stopped(request_id, DestructionStatus.STOPPED, changed)
    retention = keyring_retention()
    unrecoverable = (at + retention).astimezone(UTC).date() if retention is not None else None
    register = register or DestructionRegister()
    documents = 0
    volumes: dict[str, list[int]] = {}
    for item in listed:
        entry = RegisterEntry(
            str(item.dossier_id), item.dossier_no, item.client_name_zh, item.client_name_en,
            item.filed_at.isoformat() if item.filed_at else None, item.condition, item.reason,
            str(request_id), at.isoformat(), unrecoverable.isoformat() if unrecoverable else None)
        register.record(entry)  # before the commit: a crash errs on the side of destruction
        volumes[item.dossier_no] = [int(v) for v in conn.execute(
            select(paper_volume.c.volume_no).where(paper_volume.c.dossier_id == item.dossier_id)
            .order_by(paper_volume.c.volume_no)).scalars()]
        count = destroy_dossier(conn, keyring, entry, shred_documents)
        documents += count
        conn.execute(update(destruction_item).where(
            destruction_item.c.request_id == request_id,
            destruction_item.c.dossier_no == item.dossier_no).values(
            paper_volumes=volumes[item.dossier_no]))
        ledger.append(conn, ledger.Entry(
            actor=actor.username, action=LedgerAction.DESTRUCTION_EXECUTE,
            subject_type="destruction_request", subject_id=str(request_id),
            dossier_no=item.dossier_no,
            details={"condition": item.condition, "documents_destroyed": count,
                     "data_key": "destroyed", "paper_volumes": volumes[item.dossier_no],
                     "unrecoverable_after": entry.unrecoverable_after}))
    conn.execute(update(destruction_request).where(destruction_request.c.id == request_id).values(
        status=DestructionStatus.EXECUTED, executed_by=actor.staff_id, executed_at=at,
        unrecoverable_after=unrecoverable))
    return Executed(request_id, DestructionStatus.EXECUTED, [i.dossier_no for i in listed],
                    documents, at, unrecoverable, volumes)


def destroy_dossier(conn: Connection, keyring: KeyRing, entry: RegisterEntry,
                    shred_documents: DocumentShredder) -> int:
    """Destroy one dossier's electronic copy and leave its tombstone; idempotent (a restore
    re-applies it). Returns how many document objects were deleted."""
    dossier_id = uuid.UUID(entry.dossier_id)
    count = 0
    if conn.execute(select(dossier.c.id).where(dossier.c.id == dossier_id)).first():
        count = shred_documents(conn, dossier_id)
        volumes = select(paper_volume.c.id).where(paper_volume.c.dossier_id == dossier_id)
        conn.execute(delete(loan_volume).where(loan_volume.c.volume_id.in_(volumes)))
        conn.execute(delete(form).where(form.c.dossier_id == dossier_id))
        conn.execute(delete(dossier).where(dossier.c.id == dossier_id))  # cascades (Art. 10)
    conn.execute(delete(form).where(form.c.dossier_id == dossier_id))
    keyring.destroy(conn, dossier_id)
    conn.execute(pg_insert(dossier_tombstone).values(
        dossier_no=entry.dossier_no, dossier_id=dossier_id,
        client_name_zh=entry.client_name_zh, client_name_en=entry.client_name_en,
        filed_at=datetime.fromisoformat(entry.filed_at) if entry.filed_at else None,
        condition=entry.condition, reason=entry.reason, request_id=uuid.UUID(entry.request_id),
        destroyed_at=datetime.fromisoformat(entry.destroyed_at),
        unrecoverable_after=date.fromisoformat(entry.unrecoverable_after)
        if entry.unrecoverable_after else None).on_conflict_do_nothing())
    return count


@dataclass(frozen=True)
class PaperRecorded(Result):
    request_id: uuid.UUID
    dossier_no: str
    volumes: list[int]
    method: str
    destroyed_on: date
    personnel: list[str]


def record_paper(conn: Connection, actor: Actor, request_id: uuid.UUID, dossier_no: str, *,
                 method: str, destroyed_on: date, personnel: list[str],
                 at: datetime | None = None) -> PaperRecorded:
    """The paper volumes' destruction (Art. 17(2)(3), (4)): method, date, personnel; every
    volume the dossier had at execution."""
    at = at or clock.now()
    row = requests.load(conn, request_id, lock=True)
    record = f"destruction request {request_id}"
    authorize(conn, actor, Action.DESTRUCTION_EXECUTE, subject=record)
    if row.status != DestructionStatus.EXECUTED:
        raise Refused(f"is {row.status}: paper is destroyed after the electronic dossier",
                      record=record)
    item = next((i for i in requests.items(conn, request_id) if i.dossier_no == dossier_no), None)
    if item is None:
        raise Refused("is not on this request", record=f"dossier {dossier_no}")
    if method not in set(PaperMethod):
        raise Refused(f"must be one of {', '.join(PaperMethod)}", record=record, field="method")
    people = [p.strip() for p in personnel if p.strip()]
    if not people:
        raise Refused("name the personnel present", record=record, field="personnel")
    if destroyed_on > clock.today() or destroyed_on < row.executed_at.astimezone(SHANGHAI).date():
        raise Refused("must be between the execution and today", record=record,
                      field="destroyed_on")
    if not item.paper_volumes:
        raise Refused("had no paper volume", record=f"dossier {dossier_no}")
    if conn.execute(select(paper_destruction.c.volume_no).where(
            paper_destruction.c.request_id == request_id,
            paper_destruction.c.dossier_no == dossier_no)).first():
        raise Refused("its paper destruction is already recorded", record=f"dossier {dossier_no}")
    conn.execute(insert(paper_destruction), [
        {"request_id": request_id, "dossier_no": dossier_no, "volume_no": v, "method": method,
         "destroyed_on": destroyed_on, "personnel": people, "recorded_by": actor.staff_id,
         "recorded_at": at} for v in item.paper_volumes])
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.DESTRUCTION_PAPER,
        subject_type="destruction_request", subject_id=str(request_id), dossier_no=dossier_no,
        details={"method": method, "destroyed_on": destroyed_on.isoformat(),
                 "personnel": people, "volumes": list(item.paper_volumes)}))
    return PaperRecorded(request_id, dossier_no, list(item.paper_volumes), method, destroyed_on,
                         people)


def confirm(conn: Connection, actor: Actor, request_id: uuid.UUID, *,
            at: datetime | None = None) -> requests.GateDecided:
    """The archivist's or the QA supervisor's signature on the executed form, once every
    paper volume's destruction is recorded (Art. 17(2)(4))."""
    gate = (requests.SIGNED_QA if actor.may(Action.DESTRUCTION_SUPERVISE)
            else requests.SIGNED_ARCHIVIST)
    missing = [i.dossier_no for i in requests.items(conn, request_id) if i.paper_volumes
               and not conn.execute(select(paper_destruction.c.volume_no).where(
                   paper_destruction.c.request_id == request_id,
                   paper_destruction.c.dossier_no == i.dossier_no)).first()]
    if missing:
        raise Refused(f"the paper destruction of {', '.join(missing)} is not recorded yet "
                      "(`dossier destruction paper`)", record=f"destruction request {request_id}")
    return requests.decide(conn, actor, request_id, gate, approve=True, at=at)
