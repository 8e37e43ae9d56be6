"""The one clock of the domain: every timestamp the system writes comes from :func:`now`.

**One source, Python's.** Business times and their deadlines have always been computed in
Python (a form's submission, the working day its review is due, the day a loan is lent),
while some columns took PostgreSQL's ``now()`` as a default. Two clocks can disagree: a
process with a skewed or faked clock (a test, a replay, a host whose NTP drifted) would
log a read in ``access_log`` on another day than the read itself, or number a dossier
after a year its ledger entry does not show. So the database's clock is never asked:
no column has a ``now()`` default any more (migration 0009), and a row without its
time is refused by ``NOT NULL`` instead of being stamped by another clock. Python's clock
is the one kept because deadlines need it anyway (working days are counted in Python),
and because a test or a replay can fix it (:func:`fixed`) for every writer at once.

**The rule for writers.** A workflow that writes a business time (a form submitted, a
request decided, a dossier created and numbered, a staff member joining or leaving) takes
it as the keyword ``at`` (a ``datetime``) or, where its callers think in days, ``today``
(a ``date``, stamped :func:`on` ``(today)``). Given neither, it reads :func:`now` once, at
the top, and hands that one moment to what it calls (``numbering.allocate``, the clocks, the
decision), so the rows of one act carry one time; a core writer called without ``at``
reads :func:`now` itself. What the system records about itself (a ledger entry, an
``access_log`` row, a data key made or destroyed, a duty's run, findings, reminders and mail, a
published report) is stamped :func:`now` when it is written, even for an act back-dated to
another day. Nothing else calls ``datetime.now()``, ``date.today()`` or SQL
``now()``/``current_date``.

Times are stored in UTC (``timestamptz``) and dates are counted in Asia/Shanghai:
:func:`today` is the Shanghai date of :func:`now`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from dossiers.core.config import SHANGHAI

#: Set by :func:`fixed`: the moment every :func:`now` answers while it is set.
_fixed: datetime | None = None


def now() -> datetime:
    """The current moment, timezone-aware, in UTC: the only clock the domain reads."""
    if _fixed is not None:
        return _fixed
    return datetime.now(UTC)


def local_now() -> datetime:
    """:func:`now` in Asia/Shanghai (the same moment; dates and years are counted there)."""
    return now().astimezone(SHANGHAI)


def local_date(moment: datetime) -> date:
    """The Asia/Shanghai date of ``moment``: the policy's days are counted there, so a UTC
    moment after 16:00 is already tomorrow (never ``moment.date()`` on a UTC moment)."""
    return moment.astimezone(SHANGHAI).date()


def today() -> date:
    """Today's date in Asia/Shanghai, by :func:`now`."""
    return local_now().date()


def on(day: date | None) -> datetime:
    """The moment to stamp an act done on ``day``: :func:`now` when ``day`` is today (or
    ``None``), otherwise the current Shanghai time of day on ``day`` (a back-dated act or a
    test date), so the stamp and the day the act counts for always agree."""
    moment = local_now()
    if day is None or day == moment.date():
        return moment
    return datetime.combine(day, moment.timetz())


@contextmanager
def fixed(at: datetime) -> Iterator[datetime]:
    """Every :func:`now` answers ``at`` (timezone-aware) inside the block, in every thread:
    a test or a replay runs at a chosen moment, whatever the machine's or the database's
    clock says."""
    global _fixed
    if at.tzinfo is None:
        raise ValueError("a fixed clock needs a timezone-aware moment")
    saved, _fixed = _fixed, at.astimezone(UTC)
    try:
        yield _fixed
    finally:
        _fixed = saved
