"""The quarterly client dossier analysis (Art. 6(5)) and the six-monthly QA special
inspection (Art. 21): figures computed in SQL, stored with their duty run.

Analysis: clients by target market, type and stage; marketing goals (needs); satisfaction
from service feedback; new dossiers per month (trend).
QA inspection: completeness (the completeness gaps), truthfulness and consistency (the
sampling audits' findings and their rectification), security (refused actions, overdue or
damaged loans, the ledger), duties (deadlines missed by kind) and policy execution.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, func, select

from dossiers.core import clock as domain_clock
from dossiers.core.config import SHANGHAI
from dossiers.core.schema import (
    access_log,
    clock,
    dossier,
    dossier_market,
    feedback,
    finding,
    loan,
    needs,
)
from dossiers.core.vocabulary import DossierStatus, LoanStatus
from dossiers.destruction.figures import retention_and_disclosure
from dossiers.duties import runs
from dossiers.duties.findings import Gap


def _counts(conn: Connection, column: Any, *where: Any, join: Any = None) -> dict[str, int]:
    query = select(column, func.count()).select_from(dossier)
    if join is not None:
        query = query.join(*join)
    rows = conn.execute(query.where(dossier.c.status != DossierStatus.DESTROYED, *where)
                        .group_by(column).order_by(func.count().desc(), column)).all()
    return {str(k): int(v) for k, v in rows}


def client_analysis(conn: Connection, period_start: date) -> dict[str, Any]:
    period = runs.period_key("quarter", period_start)
    run = runs.claim(conn, "client_analysis", period)
    if run is None:
        return {"period": period, "skipped": "already done for this period"}
    end = runs.period_bounds("quarter", period_start)[1]
    goal = func.unnest(needs.c.marketing_goals).label("goal")
    goals = conn.execute(select(goal, func.count()).select_from(needs)
                         .group_by("goal").order_by(func.count().desc())).all()
    satisfaction = conn.execute(
        select(dossier.c.client_type, func.round(func.avg(feedback.c.rating), 2),
               func.count().filter(feedback.c.kind == "complaint"))
        .join(dossier, dossier.c.id == feedback.c.dossier_id)
        .where(feedback.c.received_on < end).group_by(dossier.c.client_type)
        .order_by(dossier.c.client_type)).all()
    month = func.to_char(func.timezone("Asia/Shanghai", dossier.c.created_at), "YYYY-MM")
    trend = conn.execute(select(month.label("month"), func.count())
                         .where(dossier.c.created_at < datetime.combine(end, time(), SHANGHAI))
                         .group_by("month").order_by("month")).all()
    by_type = _counts(conn, dossier.c.client_type)
    figures: dict[str, Any] = {
        "period": period,
        "by_market": _counts(conn, dossier_market.c.country,
                             join=(dossier_market, dossier_market.c.dossier_id == dossier.c.id)),
        "by_type": by_type,
        "by_stage": _counts(conn, dossier.c.stage),
        "marketing_goals": {g: int(n) for g, n in goals},
        "satisfaction_by_type": [{"client_type": t, "average_rating": float(a) if a else None,
                                  "complaints": int(c)} for t, a, c in satisfaction],
        "new_dossiers_by_month": {m: int(n) for m, n in trend},
    }
    runs.finish(conn, run, {"period": period, "clients": sum(by_type.values())},
                kept=figures)
    return figures


QA_DUTY = "qa_inspection"


def qa_inspection(conn: Connection, period_start: date, gaps: Iterable[Gap],
                  ledger_ok: bool) -> dict[str, Any]:
    """The six-monthly special inspection's figures for management (Art. 21)."""
    period = runs.period_key("half", period_start)
    run = runs.claim(conn, QA_DUTY, period)
    if run is None:
        return {"period": period, "skipped": "already done for this period"}
    start, end = runs.period_bounds("half", period_start)
    lo, hi = (datetime.combine(d, time(), SHANGHAI) for d in (start, end))
    gaps = list(gaps)
    departments = dict(conn.execute(select(dossier.c.id, dossier.c.department)
                                    .where(dossier.c.status == DossierStatus.OPEN)).tuples().all())
    completeness: dict[str, dict[str, int]] = {}
    for dept in sorted(set(departments.values())):
        ids = {i for i, d in departments.items() if d == dept}
        failing = {g.dossier_id for g in gaps if g.dossier_id in ids and g.severity == "error"}
        completeness[dept] = {"dossiers": len(ids), "with_errors": len(failing)}
    rectification: dict[str, int] = dict(conn.execute(
        select(finding.c.status, func.count()).where(finding.c.duty == "sampling_audit")
        .group_by(finding.c.status)).tuples().all())
    missed: dict[str, int] = dict(conn.execute(
        select(clock.c.kind, func.count()).where(
            clock.c.due_on >= start, clock.c.due_on < end,
            (clock.c.met_at.is_(None) & (clock.c.due_on < domain_clock.today()))
            | (clock.c.met_at >= func.timezone("Asia/Shanghai", clock.c.due_on + 1)))
        .group_by(clock.c.kind)).tuples().all())
    figures = {
        "period": period,
        "completeness_by_department": completeness,
        "rectification_items": {k: int(v) for k, v in rectification.items()},
        "deadlines_missed_by_kind": {k: int(v) for k, v in missed.items()},
        "refused_actions": conn.execute(select(func.count()).select_from(access_log).where(
            access_log.c.allowed.is_(False), access_log.c.at >= lo,
            access_log.c.at < hi)).scalar_one(),
        "loans_overdue_now": conn.execute(select(func.count()).select_from(loan).where(
            loan.c.status == LoanStatus.LENT, loan.c.due_on < domain_clock.today())).scalar_one(),
        "ledger_intact": ledger_ok,
        # Arts. 16, 17, 21: destructions and external disclosures supervised in the half-year
        "destruction_and_disclosure": retention_and_disclosure(conn, lo, hi),
    }
    runs.finish(conn, run, {"period": period, "ledger_intact": ledger_ok,
                            "refused_actions": figures["refused_actions"]}, kept=figures)
    return figures
