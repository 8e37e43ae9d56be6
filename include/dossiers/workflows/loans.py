"""Borrowing paper dossiers (Art. 16): the Borrowing Request Form and its life.

1. a staff member asks (:func:`request`): purpose, period (≤ 7 wd), dossier numbers; the
   form covers every paper volume of each dossier, and a volume already on an open loan
   (requested, approved or lent) cannot be asked for again;
2. the requester's **department head** and the **archivist** both approve, in either
   order (:func:`approve`); either may reject with a reason (:func:`reject`). Nobody
   approves their own request, and the two approvals come from two different people;
3. the archivist hands the volumes out (:func:`lend`): the loan is due ``period_wd``
   working days after the day it is lent, and a ``loan_return`` clock starts for the
   borrower;
4. the borrower may ask once (``loan_extensions_allowed``) for at most 3 wd more, at least
   1 wd before the due date (:func:`request_extension`); the archivist decides
   (:func:`decide_extension`), and an approved extension moves the due date and the clock;
5. the archivist takes the volumes back (:func:`return_loan`), recording each volume's
   condition (Art. 16: returned intact); the condition is also a condition check of the
   vault (Art. 14), and a damaged or faded volume is marked for repair or copying.

Who is whose department head: the head of the department the requester belongs to (a
``dept_head`` of that department). Customer Service has no ``dept_head``: its head is the
CS head, who therefore approves CS staff's loans, and only theirs.

Every step checks permission through :func:`authorize` (refusals beyond the role matrix go
through it with a reason, so they are logged the same), refuses an illegal transition with
the reason and changes nothing then, and writes one ledger entry per dossier the loan
covers, in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, TypedDict

from sqlalchemy import Connection, Text, insert, select, update

from dossiers.calendar import clocks
from dossiers.calendar.clocks import close_clock
from dossiers.calendar.workdays import default_calendar
from dossiers.core import clock, ledger, paging
from dossiers.core.errors import Refused
from dossiers.core.free_text import refuse_personal_data
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.policy import policy
from dossiers.core.schema import (
    ledger_entry,
    loan,
    loan_volume,
    paper_condition_check,
    paper_volume,
    staff,
)
from dossiers.core.vocabulary import (
    LOAN_APPROVAL_ACTION,
    Capacity,
    Condition,
    ExtensionStatus,
    LedgerAction,
    LoanStatus,
    Remedy,
)
from dossiers.workflows import decisions
from dossiers.workflows.access import find
from dossiers.workflows.results import Result

ARTICLE = "Art. 16"
OPEN = (LoanStatus.REQUESTED, LoanStatus.APPROVED, LoanStatus.LENT)
STATUSES = tuple(LoanStatus)
CONDITIONS = tuple(Condition)
#: Art. 14: damaged or faded paper is repaired or copied; what a return marks it for.
REMEDY: dict[str, Remedy] = {Condition.DAMAGED: Remedy.REPAIR, Condition.FADED: Remedy.COPY}
CAPACITY_ACTION = {Capacity.DEPARTMENT: Action.LOAN_APPROVE_DEPARTMENT,
                   Capacity.ARCHIVE: Action.LOAN_APPROVE_ARCHIVE}
CLOCK_KIND = "loan_return"


class LoanVolume(TypedDict):
    """A paper volume of a loan, and where it stands in the vault."""

    ref: str
    dossier_no: str
    volume_no: int
    cabinet: str
    shelf: int
    position: int


class ListedVolume(LoanVolume):
    returned_condition: str | None


class ReturnedVolume(TypedDict):
    """A volume's condition when it went out and when it came back (Art. 16: intact)."""

    ref: str
    dossier_no: str
    volume_no: int
    before: str
    after: str
    action: str


class Extension(TypedDict):
    wd: int
    status: str
    requested_on: date
    decided_by: str | None
    reason: str | None


@dataclass(frozen=True)
class Requested(Result):
    """A Borrowing Request Form (Art. 16), waiting for its two approvals."""

    loan_id: str
    status: LoanStatus
    period_wd: int
    volumes: list[LoanVolume]
    waiting_for: list[str]


@dataclass(frozen=True)
class Approved(Result):
    loan_id: str
    status: LoanStatus
    approved_as: Capacity
    waiting_for: list[str]


@dataclass(frozen=True)
class Rejected(Result):
    loan_id: str
    status: LoanStatus
    reason: str | None


@dataclass(frozen=True)
class Lent(Result):
    loan_id: str
    status: LoanStatus
    borrower: str
    lent_on: date
    due_on: date
    due_provisional: bool
    #: the last day to ask for an extension (Art. 16)
    extension_request_by: date
    volumes: list[LoanVolume]


@dataclass(frozen=True)
class Returned(Result):
    loan_id: str
    status: LoanStatus
    returned_on: date
    due_on: date
    late: bool
    overdue_wd: int
    volumes: list[ReturnedVolume]
    worse_than_lent: list[str]


@dataclass(frozen=True)
class ExtensionRequested(Result):
    loan_id: str
    extension_status: ExtensionStatus
    extension_wd: int
    due_on: date
    would_be_due_on: date


@dataclass(frozen=True)
class ExtensionDecided(Result):
    loan_id: str
    extension_status: ExtensionStatus
    due_on: date
    #: a rejection's reason; an approval has none (and no such key)
    reason: str | None = field(default=None, metadata={"omit_none": True})


@dataclass(frozen=True)
class Loan(Result):
    """A loan in a list: its approvals, dates, extension and volumes (Art. 16)."""

    loan_id: str
    status: str
    borrower: str
    department: str
    purpose: str
    period_wd: int
    requested_at: datetime
    department_approved_by: str | None
    archive_approved_by: str | None
    waiting_for: list[str]
    rejected_by: str | None
    rejection_reason: str | None
    lent_on: date | None
    due_on: date | None
    due_provisional: bool
    extension_request_by: date | None
    extension: Extension | None
    returned_on: date | None
    returned_to: str | None
    overdue: bool
    overdue_wd: int
    volumes: list[ListedVolume]


def _record(loan_id: uuid.UUID) -> str:
    return f"loan {loan_id}"


def _loan(conn: Connection, loan_id: uuid.UUID) -> Any:
    """The loan, locked, with its requester's username and department."""
    return decisions.pending(conn, APPROVAL, loan_id, select(
        loan, staff.c.username.label("requester"),
        staff.c.department.label("requester_department"),
    ).join(staff, staff.c.id == loan.c.requester_id).where(loan.c.id == loan_id))


def _volumes(conn: Connection, loan_ids: Iterable[uuid.UUID]) -> list[Any]:
    """The volumes of the loans, in vault order (cabinet, shelf, position)."""
    return list(conn.execute(
        select(loan_volume.c.loan_id, paper_volume.c.id, paper_volume.c.dossier_id,
               paper_volume.c.label_dossier_no.label("dossier_no"), paper_volume.c.volume_no,
               paper_volume.c.cabinet, paper_volume.c.shelf, paper_volume.c.position,
               paper_volume.c.condition, loan_volume.c.returned_condition)
        .join(paper_volume, paper_volume.c.id == loan_volume.c.volume_id)
        .where(loan_volume.c.loan_id.in_(list(loan_ids)))
        .order_by(paper_volume.c.cabinet, paper_volume.c.shelf, paper_volume.c.position)))


def _by_dossier(volumes: Sequence[Any]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for v in volumes:
        grouped.setdefault(v.dossier_no, []).append(v.volume_no)
    return grouped


def _ledger(conn: Connection, actor: Actor, action: LedgerAction, loan_id: uuid.UUID,
            volumes: Sequence[Any], details: Mapping[str, Any]) -> None:
    """One entry per dossier the loan covers, so each dossier's history shows its paper."""
    ledger.append(conn, *(
        ledger.Entry(actor=actor.username, action=action, subject_type="loan",
                     subject_id=str(loan_id), dossier_no=dossier_no,
                     details={**details, "volumes": numbers})
        for dossier_no, numbers in _by_dossier(volumes).items()))


def _own(what: str) -> str:
    return f"nobody {what} their own loan (separation of duties, Art. 16)"


def _refuse_own(conn: Connection, actor: Actor, action: Action, row: Any, what: str) -> None:
    decisions.separate(conn, actor, action, record=_record(row.id), parties=[row.requester_id],
                       reason=_own(what))


# --- the request ---------------------------------------------------------------------------------

def request(conn: Connection, actor: Actor, dossier_nos: Sequence[str], *, purpose: str,
            period_wd: int, today: date | None = None) -> Requested:
    """Fill in a Borrowing Request Form (Art. 16) for every paper volume of the dossiers."""
    numbers = list(dict.fromkeys(n.strip() for n in dossier_nos if n.strip()))
    subject = f"dossier {', '.join(numbers)}" if numbers else "loan"
    authorize(conn, actor, Action.LOAN_REQUEST, subject=subject)
    if not numbers:
        raise Refused("name at least one dossier number (Art. 16)", record="loan",
                      field="dossier_no")
    if not purpose.strip():
        raise Refused("a Borrowing Request Form states its purpose (Art. 16)", record=subject,
                      field="purpose")
    refuse_personal_data(purpose, record=subject, field="purpose")  # ledgered: Art. 19
    longest = policy().loan_period_wd
    if not 1 <= period_wd <= longest:
        raise Refused(f"must be 1 to {longest} working days "
                      f"({policy().article('loan_period_wd')})", record=subject,
                      field="period")
    volume_ids: list[int] = []
    for number in numbers:
        d = find(conn, number)
        found = conn.execute(
            select(paper_volume.c.id, paper_volume.c.volume_no)
            .where(paper_volume.c.dossier_id == d.id).order_by(paper_volume.c.volume_no)
            .with_for_update()).all()  # two requests for one volume queue here
        if not found:
            raise Refused("has no paper volume in the vault (is it filed?)",
                          record=f"dossier {number}")
        busy = conn.execute(
            select(paper_volume.c.volume_no, loan.c.id, loan.c.status)
            .join(loan_volume, loan_volume.c.volume_id == paper_volume.c.id)
            .join(loan, loan.c.id == loan_volume.c.loan_id)
            .where(paper_volume.c.dossier_id == d.id, loan.c.status.in_(OPEN))
            .order_by(paper_volume.c.volume_no)).first()
        if busy is not None:
            raise Refused(f"volume {busy.volume_no} is already on loan {busy.id} "
                          f"({busy.status}); it can be asked for once that loan is returned",
                          record=f"dossier {number}")
        volume_ids.extend(v.id for v in found)
    loan_id = uuid.uuid4()
    conn.execute(insert(loan).values(
        id=loan_id, requester_id=actor.staff_id, purpose=purpose.strip(), period_wd=period_wd,
        status=LoanStatus.REQUESTED, requested_at=clock.on(today)))
    conn.execute(insert(loan_volume), [{"loan_id": loan_id, "volume_id": v} for v in volume_ids])
    volumes = _volumes(conn, [loan_id])
    _ledger(conn, actor, LedgerAction.LOAN_REQUEST, loan_id, volumes,
            {"purpose": purpose.strip(), "period_wd": period_wd})
    return Requested(str(loan_id), LoanStatus.REQUESTED, period_wd,
                     [_volume_ref(v) for v in volumes], ["department head", "archivist"])


def _volume_ref(v: Any) -> LoanVolume:
    return LoanVolume(ref=f"{v.dossier_no}/{v.volume_no}", dossier_no=v.dossier_no,
                      volume_no=v.volume_no, cabinet=v.cabinet, shelf=v.shelf,
                      position=v.position)


# --- approvals ----------------------------------------------------------------------------------

def _capacity(actor: Actor, capacity: str | None, loan_id: uuid.UUID) -> Capacity:
    """In which capacity the actor decides: as department head or as archivist."""
    if capacity is not None:
        if capacity not in CAPACITY_ACTION:
            raise Refused("is 'department' or 'archive'", record=_record(loan_id),
                          field="capacity")
        return Capacity(capacity)
    head = actor.may(Action.LOAN_APPROVE_DEPARTMENT)
    archivist = actor.may(Action.LOAN_APPROVE_ARCHIVE)
    if head and archivist:
        raise Refused("you may approve both as department head and as archivist: say which "
                      "(--capacity department|archive)", record=_record(loan_id),
                      field="capacity")
    return Capacity.ARCHIVE if archivist else Capacity.DEPARTMENT


#: Art. 16: the borrower's department head and the archivist approve, in either order, and
#: never their own loan; ``action`` is the capacity's (:data:`CAPACITY_ACTION`).
APPROVAL = decisions.Rules(
    loan, "loan", "no such loan (see `dossier loans list`)", Action.LOAN_APPROVE_DEPARTMENT,
    ("requester_id",), own=_own("approves or rejects"),
    not_pending="is {status}, only a requested loan can be approved",
    needs_reason="a rejection needs a reason for the borrower")
#: Either approver may reject a requested loan, with the reason the borrower reads.
REJECTION = replace(
    APPROVAL, not_pending="is {status}, only a requested loan can be rejected",
    rejected=decisions.Outcome(LoanStatus.REJECTED, LedgerAction.LOAN_REJECT, "rejected_by",
                               reason="rejection_reason"))


def _check_approver(conn: Connection, actor: Actor, row: Any, capacity: Capacity,
                    rules: decisions.Rules, decision: decisions.Decision,
                    refusals: Sequence[tuple[bool, str]] = ()) -> None:
    decisions.check(
        conn, actor, rules, decision, row, action=CAPACITY_ACTION[capacity], refusals=[
            (capacity == "department" and actor.department != row.requester_department,
             f"the borrower belongs to the {row.requester_department} department; its own "
             "head approves (Art. 16)"), *refusals])


def approve(conn: Connection, actor: Actor, loan_id: uuid.UUID, *,
            capacity: str | None = None, at: datetime | None = None) -> Approved:
    """The department head's or the archivist's approval (Art. 16), in either order; the
    loan is ``approved`` once it has both."""
    row = _loan(conn, loan_id)
    cap = _capacity(actor, capacity, loan_id)
    mine, other = (("department_approved_by", "archive_approved_by") if cap == "department"
                   else ("archive_approved_by", "department_approved_by"))
    _check_approver(conn, actor, row, cap, APPROVAL, decisions.Decision(True), refusals=[(
        getattr(row, other) == actor.staff_id,
        "you gave the other approval; Art. 16 asks for the department head and the "
        "archivist, two different people")])
    if getattr(row, mine) is not None:
        raise Refused(f"already has the {'department head' if cap == 'department' else 'archivist'}"
                      "'s approval", record=_record(loan_id))
    at = at or clock.local_now()
    both = getattr(row, other) is not None
    status = LoanStatus.APPROVED if both else LoanStatus.REQUESTED
    conn.execute(update(loan).where(loan.c.id == loan_id).values(
        {mine: actor.staff_id, mine.replace("_by", "_at"): at, "status": status}))
    _ledger(conn, actor, LOAN_APPROVAL_ACTION[cap], loan_id, _volumes(conn, [loan_id]),
            {"status": status})
    waiting = [] if both else ["archivist" if cap == "department" else "department head"]
    return Approved(str(loan_id), status, cap, waiting)


def reject(conn: Connection, actor: Actor, loan_id: uuid.UUID, *, reason: str,
           capacity: str | None = None) -> Rejected:
    """Either approver rejects a requested loan, with the reason the borrower reads."""
    row = _loan(conn, loan_id)
    cap = _capacity(actor, capacity, loan_id)
    decision = decisions.Decision(False, reason.strip())
    _check_approver(conn, actor, row, cap, REJECTION, decision)
    outcome = decisions.record(conn, actor, REJECTION, decision, loan_id)
    _ledger(conn, actor, outcome.entry_action, loan_id, _volumes(conn, [loan_id]),
            {"as": cap, "reason": decision.reason})
    return Rejected(str(loan_id), LoanStatus(outcome.status), decision.reason)


# --- lending and returning ---------------------------------------------------------------------

def lend(conn: Connection, actor: Actor, loan_id: uuid.UUID,
         today: date | None = None) -> Lent:
    """The archivist hands the volumes out; due ``period_wd`` working days later."""
    today = today or clock.today()
    row = _loan(conn, loan_id)
    authorize(conn, actor, Action.VAULT_MANAGE, subject=_record(loan_id))
    _refuse_own(conn, actor, Action.VAULT_MANAGE, row, "hands out")
    if row.status != LoanStatus.APPROVED:
        missing = [who for who, by in (("department head", row.department_approved_by),
                                       ("archivist", row.archive_approved_by)) if by is None]
        waiting = f"; waiting for: {', '.join(missing)}" if missing and row.status == LoanStatus.REQUESTED \
            else ""
        raise Refused(f"is {row.status}: paper is lent only after both the department head and "
                      f"the archivist have approved (Art. 16){waiting}", record=_record(loan_id))
    due = default_calendar().add(today, row.period_wd)
    conn.execute(update(loan).where(loan.c.id == loan_id).values(
        status=LoanStatus.LENT, lent_on=today, due_on=due.date))
    clocks.open_until(conn, CLOCK_KIND, "loan", str(loan_id),
                      article=policy().article("loan_period_wd"), owner_id=row.requester_id,
                      start=today, due=due)
    volumes = _volumes(conn, [loan_id])
    _ledger(conn, actor, LedgerAction.LOAN_LEND, loan_id, volumes,
            {"lent_on": today.isoformat(), "due_on": due.date.isoformat(),
             "period_wd": row.period_wd})
    return Lent(str(loan_id), LoanStatus.LENT, row.requester, today, due.date, due.provisional,
                _extension_deadline(due.date), [_volume_ref(v) for v in volumes])


def _resolve(volumes: Sequence[Any], ref: str | int, loan_id: uuid.UUID) -> Any:
    """A volume of the loan: an ``int`` is its id; a string is ``DOSSIER_NO/VOLUME_NO`` or,
    for a one-dossier loan, the volume number."""
    text_ref = str(ref).strip()
    for v in volumes:
        if (v.id == ref if isinstance(ref, int) else
                text_ref == f"{v.dossier_no}/{v.volume_no}"):
            return v
    if isinstance(ref, str) and text_ref.isdigit() and len({v.dossier_no for v in volumes}) == 1:
        for v in volumes:
            if v.volume_no == int(text_ref):
                return v
    raise Refused(f"{text_ref!r} is not a volume of this loan (its volumes: "
                  f"{', '.join(f'{v.dossier_no}/{v.volume_no}' for v in volumes)})",
                  record=_record(loan_id), field="condition")


def return_loan(conn: Connection, actor: Actor, loan_id: uuid.UUID, *,
                conditions: Mapping[str | int, str] | None = None, default: str | None = None,
                notes: str | None = None, today: date | None = None) -> Returned:
    """The archivist takes the volumes back and records each one's condition (Art. 16:
    returned on time and intact). ``conditions`` maps a volume (its id as an ``int``, or
    ``"DOSSIER_NO/VOLUME_NO"``, or for a one-dossier loan ``"VOLUME_NO"``) to its condition;
    ``default`` covers the volumes not named.

    Each volume's condition is also a condition check of the vault (Art. 14): the volume's
    condition is updated and a ``paper_condition_check`` row written, with ``repair`` for a
    damaged and ``copy`` for a faded volume (``dossier vault check`` records another action).
    """
    today = today or clock.today()
    row = _loan(conn, loan_id)
    record = _record(loan_id)
    authorize(conn, actor, Action.VAULT_MANAGE, subject=record)
    _refuse_own(conn, actor, Action.VAULT_MANAGE, row, "takes back")
    if row.status != LoanStatus.LENT:
        raise Refused(f"is {row.status}, only a lent loan can be returned", record=record)
    if today < row.lent_on:
        raise Refused(f"is before the loan was lent ({row.lent_on})", record=record,
                      field="today")
    volumes = _volumes(conn, [loan_id])
    found: dict[int, str] = {}
    for ref, condition in (conditions or {}).items():
        found[_resolve(volumes, ref, loan_id).id] = condition
    for v in volumes:
        if v.id not in found and default is not None:
            found[v.id] = default
    missing = [f"{v.dossier_no}/{v.volume_no}" for v in volumes if v.id not in found]
    if missing:
        raise Refused(f"record the condition of every volume (Art. 16: returned intact); "
                      f"missing: {', '.join(missing)}", record=record, field="condition")
    bad = sorted({c for c in found.values() if c not in CONDITIONS})
    if bad:
        raise Refused(f"unknown condition {bad[0]!r}; one of {', '.join(CONDITIONS)}",
                      record=record, field="condition")
    at = clock.on(today)
    check_note = f"returned from loan {loan_id}" + (f": {notes.strip()}" if notes and
                                                     notes.strip() else "")
    changes: list[ReturnedVolume] = []
    for v in volumes:
        after = found[v.id]
        conn.execute(update(loan_volume).where(
            loan_volume.c.loan_id == loan_id, loan_volume.c.volume_id == v.id).values(
            returned_condition=after, return_notes=(notes or "").strip() or None))
        conn.execute(update(paper_volume).where(paper_volume.c.id == v.id).values(
            condition=after))
        conn.execute(insert(paper_condition_check).values(
            volume_id=v.id, checked_on=today, checked_by=actor.staff_id, condition=after,
            action=REMEDY.get(after, Remedy.NONE), notes=check_note))
        changes.append(ReturnedVolume(ref=f"{v.dossier_no}/{v.volume_no}", dossier_no=v.dossier_no,
                                      volume_no=v.volume_no, before=v.condition, after=after,
                                      action=REMEDY.get(after, Remedy.NONE)))
    conn.execute(update(loan).where(loan.c.id == loan_id).values(
        status=LoanStatus.RETURNED, returned_on=today, returned_to=actor.staff_id))
    close_clock(conn, CLOCK_KIND, "loan", str(loan_id), at)
    late, overdue = _overdue(row.due_on, today)
    worse = [c["ref"] for c in changes
             if CONDITIONS.index(c["after"]) > CONDITIONS.index(c["before"])]
    ledger.append(conn, *(
        ledger.Entry(actor=actor.username, action=LedgerAction.LOAN_RETURN, subject_type="loan",
                     subject_id=str(loan_id), dossier_no=dossier_no,
                     details={"returned_on": today.isoformat(), "due_on": row.due_on.isoformat(),
                              "late": late, "overdue_wd": overdue,
                              "conditions": {str(c["volume_no"]): c["after"] for c in changes
                                             if c["dossier_no"] == dossier_no},
                              "worse": [r for r in worse if r.startswith(f"{dossier_no}/")]})
        for dossier_no in dict.fromkeys(c["dossier_no"] for c in changes)))
    return Returned(str(loan_id), LoanStatus.RETURNED, today, row.due_on, late, overdue, changes,
                    worse)


def _overdue(due_on: date | None, today: date) -> tuple[bool, int]:
    """Whether ``today`` is past the due date, and by how many working days."""
    if due_on is None or today <= due_on:
        return False, 0
    return True, default_calendar().between(due_on, today).value


# --- extensions ---------------------------------------------------------------------------------

def _extension_deadline(due_on: date) -> date:
    """The last day an extension may be asked for: ``loan_extension_notice_wd`` (1) working
    days before the due date (Art. 16). A request is in time when ``today`` is on or before
    it — the same as "at least 1 working day lies after today up to the due date" on a
    working day, and stricter on a day off just before the due date, when no working day
    is left for the archivist to decide."""
    return default_calendar().add(due_on, -policy().loan_extension_notice_wd).date


def request_extension(conn: Connection, actor: Actor, loan_id: uuid.UUID, wd: int,
                      today: date | None = None) -> ExtensionRequested:
    """The borrower asks for more time: once per loan, 1 to 3 wd, at least 1 wd before the
    due date (Art. 16)."""
    today = today or clock.today()
    row = _loan(conn, loan_id)
    record = _record(loan_id)
    authorize(conn, actor, Action.LOAN_REQUEST, subject=record)
    if row.requester_id != actor.staff_id:
        authorize(conn, actor, Action.LOAN_REQUEST, subject=record,
                  reason="only the borrower asks to extend their loan (Art. 16)")
    if row.status != LoanStatus.LENT:
        raise Refused(f"is {row.status}, only a lent loan can be extended", record=record)
    allowed = policy().loan_extensions_allowed
    if row.extension_status is not None or allowed < 1:
        done = f" (its extension was {row.extension_status})" if row.extension_status else ""
        raise Refused(f"{policy().article('loan_extensions_allowed')} allows {allowed} "
                      f"extension per loan{done}; return the volumes and borrow again",
                      record=record, field="wd")
    most = policy().loan_extension_max_wd
    if not 1 <= wd <= most:
        raise Refused(f"an extension is 1 to {most} working days "
                      f"({policy().article('loan_extension_max_wd')})", record=record,
                      field="wd")
    last_day = _extension_deadline(row.due_on)
    if today > last_day:
        raise Refused(f"an extension is requested at least {policy().loan_extension_notice_wd} "
                      f"working day before the due date {row.due_on} "
                      f"({policy().article('loan_extension_notice_wd')}); the last day to ask "
                      f"was {last_day}", record=record, field="wd")
    conn.execute(update(loan).where(loan.c.id == loan_id).values(
        extension_wd=wd, extension_requested_on=today, extension_status=ExtensionStatus.REQUESTED))
    _ledger(conn, actor, LedgerAction.LOAN_EXTENSION_REQUEST, loan_id, _volumes(conn, [loan_id]),
            {"wd": wd, "requested_on": today.isoformat(), "due_on": row.due_on.isoformat()})
    return ExtensionRequested(str(loan_id), ExtensionStatus.REQUESTED, wd, row.due_on,
                              default_calendar().add(row.due_on, wd).date)


#: Art. 16: the archivist decides the borrower's extension, never of their own loan.
EXTENSION = replace(
    APPROVAL, action=Action.LOAN_APPROVE_ARCHIVE, own=_own("decides the extension of"),
    not_pending="is {status}; only a requested extension of a lent loan can be decided",
    status_column="extension_status",
    approved=decisions.Outcome(ExtensionStatus.APPROVED, LedgerAction.LOAN_EXTENSION_APPROVE,
                               "extension_decided_by"),
    rejected=decisions.Outcome(ExtensionStatus.REJECTED, LedgerAction.LOAN_EXTENSION_REJECT,
                               "extension_decided_by"))


def decide_extension(conn: Connection, actor: Actor, loan_id: uuid.UUID, *, approve: bool,
                     reason: str | None = None) -> ExtensionDecided:
    """The archivist approves an extension (the due date moves ``extension_wd`` working days
    on from the old due date, and the return clock with it) or rejects it with a reason."""
    row = _loan(conn, loan_id)
    decision = decisions.Decision(approve, reason)
    state = row.status if row.status != LoanStatus.LENT else \
        f"lent with {'no' if row.extension_status is None else 'an ' + row.extension_status} " \
        "extension"
    decisions.check(conn, actor, EXTENSION, decision, row, status=state,
                    is_pending=row.status == LoanStatus.LENT
                    and row.extension_status == ExtensionStatus.REQUESTED)
    also: dict[str, Any] = {}
    details: dict[str, Any] = {"wd": row.extension_wd}
    due_on = row.due_on
    if approve:
        due = default_calendar().add(row.due_on, row.extension_wd)
        due_on = also["due_on"] = due.date
        running = clocks.running(conn, CLOCK_KIND, "loan", str(loan_id))
        if running is not None:
            clocks.move_due(conn, running.id, due.date, provisional=due.provisional)
        details.update(old_due_on=row.due_on.isoformat(), due_on=due.date.isoformat())
    else:
        details["reason"] = (reason or "").strip()
    outcome = decisions.record(conn, actor, EXTENSION, decision, loan_id, also=also)
    _ledger(conn, actor, outcome.entry_action, loan_id, _volumes(conn, [loan_id]), details)
    return ExtensionDecided(str(loan_id), ExtensionStatus(outcome.status), due_on,
                            None if approve else details["reason"])


# --- listing ------------------------------------------------------------------------------------

def list_loans(conn: Connection, actor: Actor, status: str | None = None,
               today: date | None = None, *, limit: int = paging.DEFAULT_LIMIT,
               after: str | None = None) -> paging.Page[Loan]:
    """Loans the actor may see: whoever reads the vault register (archivist, CS head, QA
    supervisor) all of them, a department head their department's, anyone else their own;
    with due dates, the last day to ask for an extension and overdue flags. A page of
    ``limit`` in the order they were requested, after the cursor ``after``
    (:mod:`dossiers.core.paging`).

    ``status``: one of :data:`STATUSES`, ``open`` (requested, approved, lent) or
    ``None``/``all``.
    """
    today = today or clock.today()
    if actor.may(Action.VAULT_READ):
        authorize(conn, actor, Action.VAULT_READ, subject="loans")
        scope = "all"
    elif actor.may(Action.LOAN_APPROVE_DEPARTMENT):
        authorize(conn, actor, Action.LOAN_APPROVE_DEPARTMENT, subject="loans")
        scope = "department"
    else:
        authorize(conn, actor, Action.LOAN_REQUEST, subject="loans")
        scope = "own"
    query = (select(loan, staff.c.username.label("requester"),
                    staff.c.department.label("requester_department"),
                    clocks.column_of(CLOCK_KIND, "loan", loan.c.id.cast(Text), "provisional")
                    .label("provisional"))
             .join(staff, staff.c.id == loan.c.requester_id))
    if status == "open":
        query = query.where(loan.c.status.in_(OPEN))
    elif status not in (None, "all"):
        if status not in STATUSES:
            raise Refused(f"unknown status; one of {', '.join(STATUSES)}, open, all",
                          record="loans", field="status")
        query = query.where(loan.c.status == status)
    if scope == "department":
        query = query.where((staff.c.department == actor.department)
                            | (loan.c.requester_id == actor.staff_id))
    elif scope == "own":
        query = query.where(loan.c.requester_id == actor.staff_id)
    page = paging.fetch(conn, "loans", query, (loan.c.requested_at, loan.c.id), limit=limit,
                        after=after)
    rows = page.items
    volumes: dict[uuid.UUID, list[Any]] = {}
    for v in _volumes(conn, [r.id for r in rows]):
        volumes.setdefault(v.loan_id, []).append(v)
    people = _usernames(conn, {getattr(r, c) for r in rows for c in (
        "department_approved_by", "archive_approved_by", "rejected_by", "returned_to",
        "extension_decided_by")})
    reasons = _extension_rejections(
        conn, [r.id for r in rows if r.extension_status == ExtensionStatus.REJECTED])
    listed = []
    for r in rows:
        late, overdue = _overdue(r.due_on, today) if r.status == LoanStatus.LENT else (False, 0)
        if r.status == LoanStatus.RETURNED:
            late, overdue = _overdue(r.due_on, r.returned_on)
        waiting = [who for who, by in (("department head", r.department_approved_by),
                                       ("archivist", r.archive_approved_by)) if by is None]
        listed.append(Loan(
            loan_id=str(r.id), status=r.status, borrower=r.requester,
            department=r.requester_department, purpose=r.purpose,
            period_wd=r.period_wd, requested_at=r.requested_at,
            department_approved_by=people.get(r.department_approved_by),
            archive_approved_by=people.get(r.archive_approved_by),
            waiting_for=waiting if r.status == LoanStatus.REQUESTED else [],
            rejected_by=people.get(r.rejected_by), rejection_reason=r.rejection_reason,
            lent_on=r.lent_on, due_on=r.due_on, due_provisional=bool(r.provisional),
            extension_request_by=_extension_deadline(r.due_on)
            if r.status == LoanStatus.LENT and r.extension_status is None else None,
            extension=None if r.extension_status is None else Extension(
                wd=r.extension_wd, status=r.extension_status,
                requested_on=r.extension_requested_on,
                decided_by=people.get(r.extension_decided_by),
                reason=reasons.get(r.id)),
            returned_on=r.returned_on, returned_to=people.get(r.returned_to),
            overdue=late, overdue_wd=overdue,
            volumes=[ListedVolume(**_volume_ref(v), returned_condition=v.returned_condition)
                     for v in volumes.get(r.id, [])],
        ))
    return paging.Page(listed, page.next)


def _usernames(conn: Connection, ids: set[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {r.id: r.username for r in conn.execute(
        select(staff.c.id, staff.c.username).where(staff.c.id.in_(wanted)))}


def _extension_rejections(conn: Connection, loan_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The reason of a rejected extension, kept in its ledger entry (the loan table has no
    column for it)."""
    if not loan_ids:
        return {}
    rows = conn.execute(select(ledger_entry.c.subject_id, ledger_entry.c.details).where(
        ledger_entry.c.subject_type == "loan",
        ledger_entry.c.action == LedgerAction.LOAN_EXTENSION_REJECT,
        ledger_entry.c.subject_id.in_([str(i) for i in loan_ids])))
    return {uuid.UUID(r.subject_id): r.details.get("reason") for r in rows}
