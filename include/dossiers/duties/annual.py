"""The annual refresh (Art. 12): every December every open dossier enters the update
campaign, and CS produces the annual dossier update report.

The campaign is a clock per dossier (``annual_update:<year>``, owner its liaison, due the
last working day of December) that an update applied to the dossier from the campaign's
start stops; the SLA watch reminds and escalates like any other deadline.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, Text, and_, func, select

from dossiers.calendar import clocks
from dossiers.calendar.workdays import default_calendar
from dossiers.core.config import SHANGHAI
from dossiers.core.schema import clock, dossier, dossier_change
from dossiers.core.vocabulary import DossierStatus, UpdateStatus
from dossiers.duties import runs

DUTY = "annual_refresh"


def campaign_kind(year: int) -> str:
    return f"annual_update:{year}"


def last_working_day(year: int, month: int) -> date:
    cal = default_calendar()
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return cal.add(first_next, -1).date


def open_campaign(conn: Connection, today: date) -> dict[str, Any]:
    """Start the December campaign of ``today``'s year (idempotent per year)."""
    year = today.year
    run = runs.claim(conn, DUTY, str(year))
    if run is None:
        return {"year": year, "skipped": "already done for this year"}
    due = last_working_day(year, 12)
    kind = campaign_kind(year)
    already = select(clock.c.subject_id).where(clock.c.kind == kind)
    rows = conn.execute(select(dossier.c.id, dossier.c.liaison_id).where(
        dossier.c.status == DossierStatus.OPEN, dossier.c.id.cast(Text).not_in(already))).all()
    clocks.open_each(conn, kind, "dossier", [(str(r.id), r.liaison_id) for r in rows],
                     article="Art. 12", start=today, due=due)
    report = annual_figures(conn, year)
    summary = {"year": year, "campaign_dossiers": len(rows), "due": due.isoformat(), **report}
    runs.finish(conn, run, summary)
    return summary


def annual_figures(conn: Connection, year: int) -> dict[str, Any]:
    """The annual update report's figures: per department, dossiers and how many had an
    update applied during the year (and in the campaign)."""
    start = datetime.combine(date(year, 1, 1), time(), SHANGHAI)
    end = datetime.combine(date(year + 1, 1, 1), time(), SHANGHAI)
    applied = (select(dossier_change.c.dossier_id).where(
        dossier_change.c.status == UpdateStatus.APPLIED, dossier_change.c.applied_at >= start,
        dossier_change.c.applied_at < end).distinct().subquery())
    rows = conn.execute(
        select(dossier.c.department, func.count().label("dossiers"),
               func.count(applied.c.dossier_id).label("updated"))
        .outerjoin(applied, applied.c.dossier_id == dossier.c.id)
        .where(dossier.c.status == DossierStatus.OPEN).group_by(dossier.c.department)
        .order_by(dossier.c.department)).all()
    campaign = conn.execute(select(
        func.count().label("total"),
        func.count().filter(and_(clock.c.met_at.is_not(None))).label("done"),
    ).where(clock.c.kind == campaign_kind(year))).one()
    return {"by_department": [{"department": r.department, "dossiers": r.dossiers,
                               "updated_in_year": r.updated} for r in rows],
            "campaign_total": campaign.total, "campaign_done": campaign.done}
