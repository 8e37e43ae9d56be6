"""What each duty DAG's task does: read the period from the run, do the duty in one
transaction (its e-mail goes into the outbox in it), deliver the e-mail, publish its
reports. DAG files call these and nothing else.

Mail is delivered from the outbox after the duty's commit, also when the period is already
done: a retry sends what an earlier try could not, and nothing twice. A task whose mail
still has a refused recipient fails after everyone else has theirs (Airflow retries it).

Every function takes the run's data interval (Airflow passes it to the task) and returns a
small JSON summary (what the Airflow UI shows as the task's return value); the state is in
PostgreSQL, keyed by duty and period, so a retry or a backfill repeats nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from dossiers.core.config import SHANGHAI

# The DAG files import this module when Airflow parses them (every 30 s, in the
# dag-processor): the database, GX, mail and report modules are imported inside the task
# functions, so parsing pays for none of them (tests/airflow/test_dag_integrity.py).


def _local(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def _period(kind: str, start: datetime) -> str:
    from dossiers.duties.runs import period_key

    return period_key(kind, _local(start))


def _database_url() -> str:
    from dossiers.duties.ledger_check import dossier_db_url

    return dossier_db_url()


def _done(url: str, duty: str, period: str) -> dict[str, Any] | None:
    """The summary of a period already done (before running the completeness checks)."""
    from dossiers.core import db
    from dossiers.duties import runs

    with db.transaction(db.get_engine(url)) as conn:
        finished = runs.done(conn, duty, period)
    return {"period": period, "skipped": "already done for this period"} if finished else None


def _gaps(url: str, period: str) -> tuple[list[Any], dict[str, Any]]:
    """Every dossier's completeness gaps (GX, inside Postgres), as duty findings; the Data
    Docs of the run are published with the reports of ``period``."""
    from dossiers.duties.findings import Gap
    from dossiers.quality.checks import CHECKS
    from dossiers.quality.completeness import run_completeness

    result = run_completeness(url)
    described = {c.id: c.description for c in CHECKS}
    gaps = [Gap(f.dossier_id, f.check_id, f.article, f.dimension, f.severity,
                described.get(f.check_id, f.check_id)) for f in result.failures]
    docs = None
    if result.data_docs is not None:
        from dossiers.core import db
        from dossiers.reports.data_docs import publish_data_docs

        with db.transaction(db.get_engine(url)) as conn:
            docs = publish_data_docs(conn, result.data_docs, period)
    return gaps, {"completeness_success": result.success, "failing_checks": len(result.failures),
                  "completeness_seconds": {k: round(v, 1) for k, v in result.seconds.items()},
                  "data_docs": docs}


def _deliver(url: str, duty: str, period: str) -> dict[str, Any]:
    """Send the period's mail still in the outbox; fail when a recipient was refused."""
    from dossiers.core import db
    from dossiers.duties import mail

    delivery = mail.deliver(db.get_engine(url), duty, period)
    delivery.raise_if_failed()
    return {"sent": delivery.sent}


def _publish(kind: str, period: str, figures: dict[str, Any]) -> list[str]:
    """Render and store the duty's report and e-mail it (see :mod:`dossiers.reports`)."""
    from dossiers.reports.duty_reports import publish_duty_report

    return publish_duty_report(kind, period, figures)


def sla_watch(data_interval_end: datetime) -> dict[str, Any]:
    from dossiers.core import db
    from dossiers.duties import sla_watch as duty

    url = _database_url()
    today = _local(data_interval_end)
    with db.transaction(db.get_engine(url)) as conn:
        summary, _ = duty.watch(conn, today)
    return {**summary, **_deliver(url, duty.DUTY, _period("day", data_interval_end))}


def owner_check(data_interval_start: datetime, data_interval_end: datetime) -> dict[str, Any]:
    from dossiers.core import db
    from dossiers.duties import owner_check as duty

    url = _database_url()
    period = _period("month", data_interval_start)
    if (skipped := _done(url, duty.DUTY, period)) is not None:
        return {**skipped, **_deliver(url, duty.DUTY, period)}
    gaps, completeness = _gaps(url, period)
    with db.transaction(db.get_engine(url)) as conn:
        summary, _ = duty.owner_check(conn, _local(data_interval_start), gaps,
                                      _local(data_interval_end))
    return {**summary, **completeness, **_deliver(url, duty.DUTY, period)}


def sampling_audit(data_interval_start: datetime, data_interval_end: datetime) -> dict[str, Any]:
    from dossiers.core import db
    from dossiers.duties import sampling_audit as duty

    url = _database_url()
    period = _period("quarter", data_interval_start)
    if (skipped := _done(url, duty.DUTY, period)) is not None:
        return skipped
    gaps, completeness = _gaps(url, period)
    with db.transaction(db.get_engine(url)) as conn:
        summary = duty.sampling_audit(conn, _local(data_interval_start), gaps,
                                      _local(data_interval_end))
    if "skipped" not in summary:
        summary["reports"] = _publish("sampling_audit", summary["period"], summary)
    return {**summary, **completeness}


def annual_refresh(data_interval_end: datetime) -> dict[str, Any]:
    from dossiers.core import db
    from dossiers.duties import annual

    with db.transaction(db.get_engine(_database_url())) as conn:
        summary = annual.open_campaign(conn, _local(data_interval_end))
    if "skipped" not in summary:
        summary["reports"] = _publish("annual_update", str(summary["year"]), summary)
    return summary


def inactive_sweep(data_interval_start: datetime, data_interval_end: datetime) -> dict[str, Any]:
    from dossiers.core import db
    from dossiers.duties import inactive

    with db.transaction(db.get_engine(_database_url())) as conn:
        return inactive.sweep(conn, _local(data_interval_start), _local(data_interval_end))


def kpi_scorecard(kind: str, data_interval_start: datetime) -> dict[str, Any]:
    from dossiers.core import db
    from dossiers.duties import kpi

    with db.transaction(db.get_engine(_database_url())) as conn:
        summary = kpi.scorecard(conn, kind, _local(data_interval_start))
    if "skipped" not in summary:
        report = {"month": "kpi_monthly", "quarter": "kpi_quarterly"}[kind]
        summary["reports"] = _publish(report, summary["period"], summary)
    return {k: v for k, v in summary.items() if k not in ("people", "departments")}


def qa_inspection(data_interval_start: datetime) -> dict[str, Any]:
    from dossiers.core import db, ledger
    from dossiers.duties import analysis

    url = _database_url()
    period = _period("half", data_interval_start)
    if (skipped := _done(url, analysis.QA_DUTY, period)) is not None:
        return skipped
    gaps, completeness = _gaps(url, period)
    with db.transaction(db.get_engine(url)) as conn:
        intact = ledger.verify(conn).ok
        figures = analysis.qa_inspection(conn, _local(data_interval_start), gaps, intact)
    if "skipped" not in figures:
        figures["reports"] = _publish("qa_inspection", figures["period"],
                                      {**figures, **completeness})
    return {"period": figures["period"], **completeness,
            **({"reports": figures["reports"]} if "reports" in figures else {})}


def client_analysis(data_interval_start: datetime) -> dict[str, Any]:
    from dossiers.core import db
    from dossiers.duties import analysis

    with db.transaction(db.get_engine(_database_url())) as conn:
        figures = analysis.client_analysis(conn, _local(data_interval_start))
    if "skipped" not in figures:
        figures["reports"] = _publish("client_analysis", figures["period"], figures)
    return {"period": figures["period"], **({"reports": figures["reports"]}
                                            if "reports" in figures else {})}



def compliance_check(data_interval_start: datetime,
                     data_interval_end: datetime) -> dict[str, Any]:
    """Art. 20: the quarter's compliance check; its report goes to compliance and management."""
    from dossiers.core import db
    from dossiers.duties import compliance_check as duty

    url = _database_url()
    with db.transaction(db.get_engine(url)) as conn:
        figures = duty.compliance_check(conn, _local(data_interval_start),
                                        _local(data_interval_end))
    if "skipped" not in figures:
        figures["reports"] = _publish("compliance_check", figures["period"], figures)
    return {k: v for k, v in figures.items() if k != "rectification_items"}
