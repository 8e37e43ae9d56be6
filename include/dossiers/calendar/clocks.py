"""Running deadlines in working days (Arts. 8, 11, 13, 15, 16): what the SLA watch reads.

A clock is opened when a duty starts (a form is submitted, a dossier created, a loan lent),
with its due date from the policy rule that sets it, and closed (``met_at``) when the duty
is done. A clock closed after its due date was missed; the KPI scorecard counts both.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, insert, update

from dossiers.calendar.workdays import default_calendar
from dossiers.core.db import among
from dossiers.core.policy import policy
from dossiers.core.schema import clock


@dataclass(frozen=True)
class Opened:
    due: date
    provisional: bool


def add_months(start: date, n: int) -> date:
    """The same day ``n`` calendar months later (or earlier), clamped to the month's end."""
    month = start.month - 1 + n
    year, month = start.year + month // 12, month % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def due_after(start: date, rule: str) -> Opened:
    """The due date of the duty a policy rule sets, counted from ``start``: working days
    for ``*_wd`` rules, calendar months for ``*_months`` rules (clamped to the month's end)."""
    n = getattr(policy(), rule)
    if rule.endswith("_months"):
        return Opened(add_months(start, n), False)
    deadline = default_calendar().add(start, n)
    return Opened(deadline.date, deadline.provisional)


def open_clock(conn: Connection, kind: str, subject_type: str, subject_id: str, rule: str, *,
               owner_id: int | None, start: date, met_at: datetime | None = None) -> Opened:
    """Start the clock of ``kind`` on a subject, due as the policy ``rule`` says.

    ``met_at`` records a duty done at the moment its clock is known (an immediate update
    submitted after its trigger): the clock is kept so timeliness can be measured.
    """
    opened = due_after(start, rule)
    conn.execute(insert(clock).values(
        kind=kind, subject_type=subject_type, subject_id=subject_id,
        article=policy().article(rule), owner_id=owner_id, started_on=start, due_on=opened.due,
        provisional=opened.provisional, met_at=met_at))
    return opened


def open_clocks(conn: Connection, kind: str, subject_type: str,
                subjects: Sequence[tuple[str, int | None]], rule: str, *, start: date) -> Opened:
    """Start one clock of ``kind`` per ``(subject_id, owner_id)``, all from ``start`` and so
    all due the same day (one statement however many: a sampling audit of a million
    dossiers opens tens of thousands)."""
    opened = due_after(start, rule)
    if subjects:
        conn.execute(insert(clock), [
            {"kind": kind, "subject_type": subject_type, "subject_id": subject_id,
             "article": policy().article(rule), "owner_id": owner_id, "started_on": start,
             "due_on": opened.due, "provisional": opened.provisional}
            for subject_id, owner_id in subjects])
    return opened


def close_clock(conn: Connection, kind: str | tuple[str, ...], subject_type: str,
                subject_id: str | Sequence[str], at: datetime) -> None:
    """The duty is done: stop its clock (a clock already stopped is left as it was).
    ``kind`` may name several clocks one act stops together; ``subject_id`` several
    subjects done at once."""
    kinds = (kind,) if isinstance(kind, str) else kind
    subjects = [subject_id] if isinstance(subject_id, str) else list(subject_id)
    if not subjects:
        return
    conn.execute(update(clock).where(
        clock.c.kind.in_(kinds), clock.c.subject_type == subject_type,
        clock.c.subject_id == among(subjects, text=True), clock.c.met_at.is_(None),
    ).values(met_at=at))
