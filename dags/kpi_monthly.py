"""KPI scorecard, monthly (Art. 22). Thin: schedule, documentation, one task
calling :mod:`dossiers.duties.tasks`; nothing touches the database at parse time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from airflow.sdk import dag, task

from dossiers.airflow.dagkit import START, deadline, default_args
from dossiers.airflow.timetables import FirstWorkingDayTimetable

DOC_MD = """
# KPI scorecard, monthly

**What it does.** Monthly, the KPI scorecard per department and person for the previous month: creation
timeliness (target 100% for new clients), accuracy, update timeliness, filing conformity,
confidentiality (refused actions) and security incidents; PDF and CSV to compliance.

**Why.** Art. 22: dossier work is part of performance assessment.

**If it fails.** A re-run of the month changes nothing; figures are in `duty_run` (`kpi_month`).
"""


@dag(
    dag_id="dossier_kpi_monthly",
    schedule=FirstWorkingDayTimetable("month", at=time(11, 0)),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["dossier", "kpi", "Art. 22"],
    default_args=default_args("quality"),
    deadline=deadline(timedelta(hours=2)),
)
def dossier_kpi_monthly() -> None:
    @task
    def kpi_monthly(data_interval_start: datetime | None = None) -> dict[str, Any]:
        from dossiers.duties import tasks

        assert data_interval_start is not None
        return tasks.kpi_scorecard("month", data_interval_start)

    kpi_monthly()


dossier_kpi_monthly()
