"""Delayed filing (Art. 15): everything is filed within its deadline; a delay needs the CS
head's approval and the filing may never take more than 5 wd (``filing_delay_max_wd``).

The archivist asks before the deadline passes, naming the new date and the reason; the CS
head (never the one who asked) approves, and the filing clock's due date moves; the
original date stays on the request, so timeliness can still be judged against both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from dossiers.calendar import clocks
from dossiers.calendar.workdays import default_calendar
from dossiers.core import clock, ledger
from dossiers.core.errors import Refused
from dossiers.core.free_text import refuse_personal_data
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.policy import policy
from dossiers.core.schema import filing_delay
from dossiers.core.vocabulary import DelayStatus, LedgerAction
from dossiers.workflows import decisions
from dossiers.workflows.access import find
from dossiers.workflows.results import Result


@dataclass(frozen=True)
class DelayRequested(Result):
    """A delayed filing asked for, waiting for the CS head (Art. 15)."""

    delay_id: int
    dossier_no: str
    status: DelayStatus
    original_due: date
    until: date


@dataclass(frozen=True)
class DelayDecided(Result):
    delay_id: int
    status: DelayStatus
    #: the filing deadline now: the new date when approved, the original when refused
    filing_due: date


def request(conn: Connection, actor: Actor, dossier_no: str, *, until: date, reason: str,
            today: date | None = None) -> DelayRequested:
    """The archivist asks to file a dossier later than its deadline, up to 5 wd in all."""
    target = find(conn, dossier_no)
    record = f"dossier {dossier_no}"
    authorize(conn, actor, Action.DOSSIER_FILE, subject=record)
    running = clocks.running(conn, "filing", "dossier", str(target.id), lock=True)
    return request_on(conn, actor, running, record=record, dossier_no=dossier_no, until=until,
                      reason=reason, today=today)


def request_on(conn: Connection, actor: Actor, running: Any, *, record: str, dossier_no: str,
               until: date, reason: str, today: date | None = None) -> DelayRequested:
    """A delay of the filing whose clock is ``running`` (a dossier's, a document's: Art. 15),
    asked by someone already authorised to file it."""
    today = today or clock.today()
    if running is None:
        raise Refused("has no filing deadline running (already filed?)", record=record)
    if not reason.strip():
        raise Refused("a delay states its reason (Art. 15)", record=record, field="reason")
    refuse_personal_data(reason, record=record, field="reason")  # ledgered: Art. 19
    if today > running.due_on:
        raise Refused(f"the filing was due {running.due_on.isoformat()}: a delay is asked for "
                      "before the deadline passes (Art. 15)", record=record)
    if until <= running.due_on:
        raise Refused(f"{until.isoformat()} is not after the deadline "
                      f"{running.due_on.isoformat()}", record=record, field="until")
    limit = policy().filing_delay_max_wd
    latest = default_calendar().add(running.started_on, limit).date
    if until > latest:
        raise Refused(f"{until.isoformat()} is past {latest.isoformat()}: a delayed filing "
                      f"never takes more than {limit} wd ({policy().article('filing_delay_max_wd')})",
                      record=record, field="until")
    pending = conn.execute(select(filing_delay.c.status).where(
        filing_delay.c.clock_id == running.id, filing_delay.c.status != DelayStatus.REJECTED)).scalar()
    if pending is not None:
        raise Refused(f"a delay of this filing is already {pending}; one delay per filing",
                      record=record)
    delay_id = conn.execute(insert(filing_delay).values(
        clock_id=running.id, requested_by=actor.staff_id, reason=reason.strip(),
        original_due_on=running.due_on, new_due_on=until, requested_at=clock.on(today),
    ).returning(filing_delay.c.id)).scalar_one()
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.FILING_DELAY_REQUEST, subject_type="filing_delay",
        subject_id=str(delay_id), dossier_no=dossier_no,
        details={"original_due": running.due_on.isoformat(), "until": until.isoformat(),
                 "reason": reason.strip(), "clock": running.kind}))
    return DelayRequested(delay_id, dossier_no, DelayStatus.REQUESTED, running.due_on, until)


#: Art. 15: the CS head decides a delay, never the one who asked for it.
DECISION = decisions.Rules(
    filing_delay, "filing delay", "no such filing delay request", Action.FILING_DELAY_APPROVE,
    ("requested_by",), needs_reason="a refusal needs a reason",
    approved=decisions.Outcome(DelayStatus.APPROVED, LedgerAction.FILING_DELAY_APPROVE,
                               "decided_by", "decided_at", "decision_reason"),
    rejected=decisions.Outcome(DelayStatus.REJECTED, LedgerAction.FILING_DELAY_REJECT,
                               "decided_by", "decided_at", "decision_reason"))


def decide(conn: Connection, actor: Actor, delay_id: int, *, approve: bool,
           reason: str | None = None, at: datetime | None = None) -> DelayDecided:
    """The CS head approves or refuses a delay; an approval moves the filing deadline."""
    decision = decisions.Decision(approve, reason)
    delay = decisions.take(conn, actor, DECISION, delay_id, decision)
    running = clocks.get(conn, delay.clock_id)
    if approve and running.met_at is not None:
        raise Refused("it has been filed meanwhile: nothing to delay",
                      record=DECISION.record_of(delay_id))
    outcome = decisions.record(conn, actor, DECISION, decision, delay_id,
                               at=at or clock.local_now())
    if approve:
        clocks.move_due(conn, running.id, delay.new_due_on)
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=outcome.entry_action, subject_type="filing_delay",
        subject_id=str(delay_id),
        details={"until": delay.new_due_on.isoformat(), **({"reason": reason} if reason else {})}))
    return DelayDecided(delay_id, DelayStatus(outcome.status),
                        delay.new_due_on if approve else delay.original_due_on)
