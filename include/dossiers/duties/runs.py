"""One run of a duty per period: the key that makes retries and re-runs change nothing.

A duty reads a fixed period (from the Airflow data interval), names it with
:func:`period_key`, and :func:`claim`s it. A finished period is not done again (a retry,
a second manual run, a backfill over a period already done); an unfinished one (a run that
crashed) is done again, and every write it makes is keyed by ``(duty, period, …)`` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert

from dossiers.core import clock, ledger
from dossiers.core.schema import duty_run
from dossiers.core.vocabulary import duty_action

PERIODS = ("day", "month", "quarter", "half", "year")


def period_key(kind: str, start: date) -> str:
    """``2026-11-27``, ``2026-10``, ``2026-Q4``, ``2026-H2`` or ``2026`` for a period start."""
    if kind == "day":
        return start.isoformat()
    if kind == "month":
        return f"{start.year}-{start.month:02d}"
    if kind == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if kind == "half":
        return f"{start.year}-H{(start.month - 1) // 6 + 1}"
    if kind == "year":
        return str(start.year)
    raise ValueError(f"unknown period kind {kind!r}; one of {', '.join(PERIODS)}")


def period_start(key: str) -> date:
    """The first day of the period a :func:`period_key` names (``2026-Q3`` -> 2026-07-01)."""
    year, _, rest = key.partition("-")
    if not rest:
        return date(int(year), 1, 1)
    if rest[0] in "QH":
        months = 3 if rest[0] == "Q" else 6
        return date(int(year), (int(rest[1:]) - 1) * months + 1, 1)
    return date.fromisoformat(key) if rest.count("-") else date(int(year), int(rest), 1)


def period_bounds(kind: str, start: date) -> tuple[date, date]:
    """The first day of the period containing ``start`` and the first day after it."""
    months = {"month": 1, "quarter": 3, "half": 6, "year": 12}
    if kind == "day":
        return start, start + timedelta(days=1)
    step = months[kind]
    first_month = (start.month - 1) // step * step + 1
    begin = date(start.year, first_month, 1)
    end_month = first_month + step
    end = date(start.year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
    return begin, end


@dataclass(frozen=True)
class Run:
    duty: str
    period: str
    seed: int | None  # the seed of the period's first attempt, kept for every later one


def claim(conn: Connection, duty: str, period: str, *, seed: int | None = None) -> Run | None:
    """Take the period for this duty; ``None`` when it is already done."""
    conn.execute(insert(duty_run).values(duty=duty, period=period, seed=seed,
                                        started_at=clock.now())
                 .on_conflict_do_nothing())
    row = conn.execute(select(duty_run).where(duty_run.c.duty == duty,
                                              duty_run.c.period == period)
                       .with_for_update()).one()
    if row.finished_at is not None:
        return None
    return Run(duty, period, row.seed)


def done(conn: Connection, duty: str, period: str) -> bool:
    """Whether the period is already done for this duty: a task checks it before the costly
    part (a completeness run over every dossier), so a retry or a backfill of a finished
    period returns at once. :func:`claim` still decides, under a row lock."""
    return conn.execute(select(duty_run.c.finished_at.is_not(None)).where(
        duty_run.c.duty == duty, duty_run.c.period == period)).scalar() is True


def finish(conn: Connection, run: Run, summary: dict[str, Any], *,
           dossier_no: str | None = None, kept: dict[str, Any] | None = None) -> None:
    """Mark the period done, with its summary, and ledger it (figures traceable, Art. 22).
    ``kept`` is stored with the run but not copied into the ledger (long lists)."""
    conn.execute(update(duty_run).where(duty_run.c.duty == run.duty,
                                        duty_run.c.period == run.period)
                 .values(finished_at=clock.now(), summary={**summary, **(kept or {})}))
    ledger.append(conn, ledger.Entry(
        actor="system", action=duty_action(run.duty), subject_type="duty_run",
        subject_id=f"{run.duty}/{run.period}", dossier_no=dossier_no,
        details={**summary, **({"seed": run.seed} if run.seed is not None else {})}))
