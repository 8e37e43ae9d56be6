"""The KPI scorecard (Art. 22), per department and per person, for a month or a quarter.

Indicators, each a share of the period's closed deadlines met on time (or a count):

- **creation timeliness**: new clients' creation-and-filing clocks (Art. 8: 5 wd); target
  for new clients 100% (``kpi_creation_timeliness_new``);
- **accuracy**: dossiers with no error-severity finding among those the period's sampling
  audit looked at (Art. 14);
- **update timeliness**: review, CS head and apply clocks of update forms and the 2-wd
  immediate-update clocks (Arts. 12, 13);
- **filing conformity**: filing clocks met (with any approved delay) (Arts. 11, 15);
- **confidentiality**: actions refused by the permission check, and reads outside a grant
  (Arts. 16, 19);
- **security incidents**: loans returned late or damaged (Art. 16);
- **confidentiality compliance** (Art. 22): leaks and wrong disclosures reported as
  incidents (Art. 20), complaints upheld by QA (Art. 21) and refused actions in the period;
  compliant when there was no such incident and no upheld complaint;
- **client information security** (Art. 22): incidents of every kind opened, closed and
  still open, complaints received and closed (Arts. 20, 21).

Every figure is computed from the clocks, findings and access log, whose changes are in the
ledger; the scorecard lists the ``duty_run`` key it was stored under.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, func, literal, select, union_all
from sqlalchemy.orm import aliased

from dossiers.core.config import SHANGHAI
from dossiers.core.policy import policy
from dossiers.core.schema import (
    access_log,
    clock,
    complaint,
    duty_run,
    finding,
    incident,
    loan,
    loan_volume,
    staff,
)
from dossiers.core.vocabulary import IncidentKind
from dossiers.destruction.figures import retention_and_disclosure
from dossiers.duties import runs

DUTY = "kpi"

INDICATORS = {  # indicator -> clock kinds (or None for those not from clocks)
    "creation_timeliness": ("new_client_creation",),
    "update_timeliness": ("update_review", "update_apply", "immediate_update"),
    "filing_conformity": ("filing",),
}


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (datetime.combine(start, time(), SHANGHAI), datetime.combine(end, time(), SHANGHAI))


def scorecard(conn: Connection, kind: str, period_start: date) -> dict[str, Any]:
    """Compute and store the scorecard of the month or quarter starting ``period_start``."""
    period = runs.period_key(kind, period_start)
    run = runs.claim(conn, f"{DUTY}_{kind}", period)
    if run is None:
        return {"period": period, "skipped": "already done for this period"}
    start, end = runs.period_bounds(kind, period_start)
    lo, hi = _bounds(start, end)
    owner = aliased(staff)
    # clocks closed in the period; on time when met by the end of the due day (Shanghai)
    on_time = clock.c.met_at < func.timezone("Asia/Shanghai", clock.c.due_on + 1)
    rows = []
    for indicator, kinds in INDICATORS.items():
        rows.append(select(
            literal(indicator).label("indicator"),
            func.coalesce(owner.c.department, "customer_service").label("department"),
            func.coalesce(owner.c.username, "(customer service)").label("person"),
            func.count().label("total"), func.count().filter(on_time).label("met"))
            .select_from(clock).outerjoin(owner, owner.c.id == clock.c.owner_id)
            .where(clock.c.kind.in_(kinds), clock.c.met_at >= lo, clock.c.met_at < hi)
            .group_by(owner.c.department, owner.c.username))
    figures = [dict(r._mapping) for r in conn.execute(union_all(*rows))]
    accuracy = conn.execute(
        select(func.count(func.distinct(finding.c.dossier_id)).filter(
            finding.c.severity == "error").label("with_errors"))
        .where(finding.c.duty == "sampling_audit",
               finding.c.period == runs.period_key("quarter", start))).scalar_one()
    audit = conn.execute(select(duty_run.c.summary).where(
        duty_run.c.duty == "sampling_audit",
        duty_run.c.period == runs.period_key("quarter", start))).scalar()
    sampled = (audit or {}).get("sample")
    refusals = conn.execute(
        select(func.coalesce(staff.c.department, "system").label("department"),
               access_log.c.actor.label("person"), func.count().label("refused"))
        .outerjoin(staff, staff.c.username == access_log.c.actor)
        .where(access_log.c.allowed.is_(False), access_log.c.at >= lo, access_log.c.at < hi)
        .group_by(staff.c.department, access_log.c.actor)).all()
    by_department: dict[str, dict[str, Any]] = {}
    for f in figures:
        d = by_department.setdefault(f["department"], {})
        tot, met = d.get(f["indicator"], (0, 0))
        d[f["indicator"]] = (tot + f["total"], met + f["met"])
    departments = {
        dept: {ind: _rate(*values) for ind, values in inds.items()}
        for dept, inds in sorted(by_department.items())}
    for r in refusals:
        departments.setdefault(r.department, {})["refused_actions"] = \
            departments.get(r.department, {}).get("refused_actions", 0) + r.refused
    total_creation = [f for f in figures if f["indicator"] == "creation_timeliness"]
    created, created_met = (sum(f["total"] for f in total_creation),
                            sum(f["met"] for f in total_creation))
    target = policy().kpi_creation_timeliness_new
    summary = {
        "period": period, "kind": kind,
        "creation_timeliness": _rate(created, created_met),
        "creation_timeliness_target": target,
        "creation_timeliness_met_target": created == 0 or created_met / created >= target,
        "accuracy": None if not sampled else round(1 - accuracy / sampled, 4),
        "departments": departments,
        "people": [{**f, "rate": _rate(f["total"], f["met"])["rate"]} for f in figures],
        "refused_actions": [dict(r._mapping) for r in refusals],
        "security_incidents": _loan_incidents(conn, start, end),
        "confidentiality_compliance": _confidentiality(conn, start, end, lo, hi,
                                                       sum(r.refused for r in refusals)),
        "client_information_security": _information_security(conn, start, end, lo, hi),
        # Arts. 16, 17: what left the company and what was destroyed in the period
        "destruction_and_disclosure": retention_and_disclosure(conn, lo, hi),
    }
    runs.finish(conn, run, {k: summary[k] for k in (
        "period", "kind", "creation_timeliness", "creation_timeliness_met_target", "accuracy")},
        kept={k: summary[k] for k in ("departments", "people", "refused_actions",
                                      "security_incidents", "confidentiality_compliance",
                                      "client_information_security",
                                      "destruction_and_disclosure")})
    return summary


def _rate(total: int, met: int) -> dict[str, Any]:
    return {"total": total, "met": met, "rate": round(met / total, 4) if total else None}


def _loan_incidents(conn: Connection, start: date, end: date) -> dict[str, int]:
    late = conn.execute(select(func.count()).select_from(loan).where(
        loan.c.returned_on >= start, loan.c.returned_on < end,
        loan.c.returned_on > loan.c.due_on)).scalar_one()
    damaged = conn.execute(select(func.count()).select_from(loan_volume).join(
        loan, loan.c.id == loan_volume.c.loan_id).where(
        loan.c.returned_on >= start, loan.c.returned_on < end,
        loan_volume.c.returned_condition.in_(("damaged", "faded")))).scalar_one()
    return {"loans_returned_late": late, "volumes_returned_damaged": damaged}



#: The incidents that breach confidentiality itself (Arts. 19, 20).
CONFIDENTIALITY_BREACHES = (IncidentKind.LEAK, IncidentKind.WRONG_DISCLOSURE)


def _count(conn: Connection, table: Any, *where: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _confidentiality(conn: Connection, start: date, end: date, lo: datetime, hi: datetime,
                     refused: int) -> dict[str, Any]:
    """Art. 22 confidentiality compliance: breaches reported (Art. 20), complaints upheld
    (Art. 21) and refused actions (Art. 16) in the period."""
    breaches = _count(conn, incident, incident.c.opened_at >= lo, incident.c.opened_at < hi,
                      incident.c.kind.in_(CONFIDENTIALITY_BREACHES))
    upheld = _count(conn, complaint, complaint.c.received_on >= start,
                    complaint.c.received_on < end, complaint.c.upheld.is_(True))
    return {"breaches": breaches, "complaints_upheld": upheld, "refused_actions": refused,
            "compliant": breaches == 0 and upheld == 0}


def _information_security(conn: Connection, start: date, end: date, lo: datetime,
                          hi: datetime) -> dict[str, int]:
    """Art. 22 client information security: incidents (Art. 20) and complaints (Art. 21)."""
    return {
        "incidents_opened": _count(conn, incident, incident.c.opened_at >= lo,
                                   incident.c.opened_at < hi),
        "incidents_closed": _count(conn, incident, incident.c.closed_at >= lo,
                                   incident.c.closed_at < hi),
        "incidents_open_at_end": _count(conn, incident, incident.c.opened_at < hi,
                                        (incident.c.closed_at.is_(None))
                                        | (incident.c.closed_at >= hi)),
        "complaints_received": _count(conn, complaint, complaint.c.received_on >= start,
                                      complaint.c.received_on < end),
        "complaints_closed": _count(conn, complaint, complaint.c.closed_at >= lo,
                                    complaint.c.closed_at < hi),
    }
