"""Running deadlines in working days (Arts. 8, 11, 13, 15, 16): what the SLA watch reads.

A clock is opened when a duty starts (a form is submitted, a dossier created, a loan lent),
with its due date from the policy rule that sets it, and closed (``met_at``) when the duty
is done. A clock closed after its due date was missed; the KPI scorecard counts both.

Every write of the ``clock`` table is here: workflows and duties open, find, move, hand
over and close clocks through these functions, never with their own SQL.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Insert,
    ScalarSelect,
    Text,
    Update,
    any_,
    bindparam,
    insert,
    literal,
    or_,
    select,
    update,
)

from dossiers.calendar.workdays import Deadline, WorkingDayCalendar, default_calendar
from dossiers.core.db import DriverStatement, Statement, among, copy_rows, copy_text, insert_sql
from dossiers.core.policy import Policy, policy
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
    return _due(policy(), default_calendar(), start, rule)


def _due(rules: Policy, days: WorkingDayCalendar, start: date, rule: str) -> Opened:
    n = getattr(rules, rule)
    if rule.endswith("_months"):
        return Opened(add_months(start, n), False)
    deadline = days.add(start, n)
    return Opened(deadline.date, deadline.provisional)


def due_by(rules: Policy, days: WorkingDayCalendar) -> Callable[[date, str], Opened]:
    """:func:`due_after` under the policy and calendar given, memoised: an import reads
    them once and hands them to its worker processes, which count every form's due dates
    with them (the same dates as the importing process would count)."""
    return functools.cache(functools.partial(_due, rules, days))


def open_clock(conn: Connection, kind: str, subject_type: str, subject_id: str, rule: str, *,
               owner_id: int | None, start: date, met_at: datetime | None = None) -> Opened:
    """Start the clock of ``kind`` on a subject, due as the policy ``rule`` says.

    ``met_at`` records a duty done at the moment its clock is known (an immediate update
    submitted after its trigger): the clock is kept so timeliness can be measured.
    """
    statement, opened = open_clock_statement(kind, subject_type, subject_id, rule,
                                             owner_id=owner_id, start=start, met_at=met_at)
    conn.execute(statement)
    return opened


def open_clock_statement(kind: str, subject_type: str, subject_id: str, rule: str, *,
                         owner_id: int | None, start: date,
                         met_at: datetime | None = None) -> tuple[Insert, Opened]:
    """:func:`open_clock`'s INSERT and due date, for a caller that runs the INSERT with
    others in one statement."""
    opened = due_after(start, rule)
    return insert(clock).values(
        kind=kind, subject_type=subject_type, subject_id=subject_id,
        article=policy().article(rule), owner_id=owner_id, started_on=start, due_on=opened.due,
        provisional=opened.provisional, met_at=met_at), opened


#: :func:`open_clock_sql`'s INSERT, compiled once.
_OPEN_SQL = insert_sql(clock, ("kind", "subject_type", "subject_id", "article", "owner_id",
                               "started_on", "due_on", "provisional", "met_at"))


def open_clock_sql(kind: str, subject_type: str, subject_id: str, rule: str, *,
                   owner_id: int | None, start: date,
                   met_at: datetime | None = None) -> tuple[Statement, Opened]:
    """:func:`open_clock`'s INSERT as pre-built SQL text and its parameters, with the due
    date, for a hot path that runs it with others in one round trip
    (:func:`dossiers.core.db.run_together`)."""
    opened = due_after(start, rule)
    return (_OPEN_SQL, {
        "kind": kind, "subject_type": subject_type, "subject_id": subject_id,
        "article": policy().article(rule), "owner_id": owner_id, "started_on": start,
        "due_on": opened.due, "provisional": opened.provisional, "met_at": met_at}), opened


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
    subjects = [subject_id] if isinstance(subject_id, str) else list(subject_id)
    if subjects:
        conn.execute(close_clock_statement(kind, subject_type, subjects, at))


def close_clock_statement(kind: str | tuple[str, ...], subject_type: str,
                          subjects: Sequence[str], at: datetime) -> Update:
    """:func:`close_clock`'s UPDATE of one or more subjects, for a caller that runs it with
    others in one statement."""
    kinds = (kind,) if isinstance(kind, str) else kind
    return update(clock).where(
        clock.c.kind.in_(kinds), clock.c.subject_type == subject_type,
        _subject_is(subjects[0]) if len(subjects) == 1 else
        clock.c.subject_id == among(subjects, text=True),
        clock.c.met_at.is_(None),
    ).values(met_at=at)


def _subject_is(subject: object) -> Any:
    """One subject by equality, not ``= ANY(array)``: PostgreSQL (15) may leave an array
    condition on a lower column of ``uq_clock_kind_subject_type_subject_id`` out of the
    index scan and filter every clock of the kind instead, which it did whenever the
    table's statistics were older than its rows (issue 16: 2-5 ms a close after 4,000
    dossiers, growing with every dossier; creation's forms/s halved from 2,000 to 10,000
    forms). An equality on every column of the index is always in the scan."""
    return clock.c.subject_id == subject


#: :func:`close_clock_sql`'s UPDATE, compiled once: of one subject (the hot paths: one
#: form, one dossier) and of several (the subjects bound as an array).
_CLOSE_WHERE = (clock.c.kind == any_(bindparam("kinds", type_=ARRAY(Text()))),
                clock.c.subject_type == bindparam("subject_type", type_=clock.c.subject_type.type),
                clock.c.met_at.is_(None))
_CLOSE_AT = {"met_at": bindparam("at", type_=clock.c.met_at.type)}
_CLOSE_ONE_SQL = DriverStatement(update(clock).where(
    *_CLOSE_WHERE, _subject_is(bindparam("subject", type_=Text()))).values(_CLOSE_AT))
_CLOSE_SQL = DriverStatement(update(clock).where(
    *_CLOSE_WHERE, clock.c.subject_id == any_(bindparam("subjects", type_=ARRAY(Text())))
).values(_CLOSE_AT))


def close_clock_sql(kind: str | tuple[str, ...], subject_type: str, subjects: Sequence[str],
                    at: datetime) -> Statement:
    """:func:`close_clock`'s UPDATE as pre-built SQL text and its parameters, for a hot
    path that runs it with others in one round trip (:func:`dossiers.core.db.run_together`)."""
    kinds = [kind] if isinstance(kind, str) else list(kind)
    common = {"kinds": kinds, "subject_type": subject_type, "at": at}
    if len(subjects) == 1:
        return _CLOSE_ONE_SQL, {**common, "subject": subjects[0]}
    return _CLOSE_SQL, {**common, "subjects": list(subjects)}


def open_until(conn: Connection, kind: str, subject_type: str, subject_id: str, *, article: str,
               owner_id: int | None, start: date, due: Deadline) -> None:
    """Start a clock whose due date the caller counted (a loan's period, chosen by its
    borrower within the policy's limit)."""
    conn.execute(insert(clock).values(
        kind=kind, subject_type=subject_type, subject_id=subject_id, article=article,
        owner_id=owner_id, started_on=start, due_on=due.date, provisional=due.provisional))


def open_each(conn: Connection, kind: str, subject_type: str,
              subjects: Sequence[tuple[str, int | None]], *, article: str, start: date,
              due: date) -> None:
    """Start one clock of ``kind`` per ``(subject_id, owner_id)``, all due ``due`` (a
    campaign with a fixed closing day)."""
    if subjects:
        conn.execute(insert(clock), [
            {"kind": kind, "subject_type": subject_type, "subject_id": subject_id,
             "article": article, "owner_id": owner_id, "started_on": start, "due_on": due,
             "provisional": False} for subject_id, owner_id in subjects])


#: The columns of a clock row given to :func:`open_rows`, in order.
COLUMNS = ("kind", "subject_type", "subject_id", "article", "owner_id", "started_on",
           "due_on", "provisional", "met_at")


def open_rows(conn: Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Start many clocks at once (one COPY: an intake file opens several per form); each
    row holds the values of :data:`COLUMNS`."""
    copy_rows(conn, clock, COLUMNS, rows)


def open_text(conn: Connection, data: str) -> None:
    """Start many clocks at once from rows already in COPY's text format: each line the
    values of :data:`COLUMNS` (:func:`dossiers.core.db.copy_line`), made where they were
    counted (an import's worker processes)."""
    copy_text(conn, clock, COLUMNS, data)


def running(conn: Connection, kind: str, subject_type: str, subject_id: str, *,
            lock: bool = False) -> Any:
    """The clock of ``kind`` still running on a subject (``None`` if none is), locked for the
    caller's transaction when ``lock``."""
    query = select(clock).where(
        clock.c.kind == kind, clock.c.subject_type == subject_type,
        clock.c.subject_id == subject_id, clock.c.met_at.is_(None))
    return conn.execute(query.with_for_update() if lock else query).first()


def get(conn: Connection, clock_id: int) -> Any:
    """A clock by its id (one a request refers to, such as a filing delay's)."""
    return conn.execute(select(clock).where(clock.c.id == clock_id)).one()


def move_due(conn: Connection, clock_id: int, due: date, *, provisional: bool = False) -> None:
    """Move a clock's due date (an approved delay or extension); it stays provisional if it
    was, and becomes so when the new date is."""
    conn.execute(update(clock).where(clock.c.id == clock_id).values(
        due_on=due, provisional=or_(clock.c.provisional, literal(provisional))))


def hand_over(conn: Connection, from_owner: int, to_owner: int) -> list[int]:
    """Give every running clock of one owner to another (a leaver's, Art. 19); their ids."""
    return list(conn.execute(
        update(clock).where(clock.c.owner_id == from_owner, clock.c.met_at.is_(None))
        .values(owner_id=to_owner).returning(clock.c.id)).scalars())


def column_of(kind: str, subject_type: str, subject_id: ColumnElement[Any],
              column: str) -> ScalarSelect[Any]:
    """A column (``due_on``, ``provisional``, ...) of the clock of ``kind`` on the subject
    ``subject_id`` (a column of the caller's query, as text), to select beside it (NULL when
    the subject has no such clock): how a listing shows a deadline without joining here."""
    return (select(clock.c[column])
            .where(clock.c.kind == kind, clock.c.subject_type == subject_type,
                   clock.c.subject_id == subject_id)
            .scalar_subquery())
