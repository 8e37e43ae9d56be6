"""KPI scorecard, quarterly (Art. 22). Thin: schedule, documentation, one task
calling :mod:`dossiers.duties.tasks`; nothing touches the database at parse time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from airflow.sdk import dag, task

from dossiers.airflow.dagkit import START, deadline, default_args
from dossiers.airflow.timetables import FirstWorkingDayTimetable

DOC_MD = """
# KPI scorecard, quarterly

**What it does.** Quarterly, the same scorecard over the previous quarter, with accuracy from that
quarter's sampling audit; PDF and CSV to compliance and management.

**Why.** Art. 22: dossier work is part of performance assessment.

**If it fails.** A re-run of the quarter changes nothing; figures are in `duty_run` (`kpi_quarter`).
"""


@dag(
    dag_id="dossier_kpi_quarterly",
    schedule=FirstWorkingDayTimetable("quarter", at=time(11, 30)),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["dossier", "kpi", "Art. 22"],
    default_args=default_args("quality"),
    deadline=deadline(timedelta(hours=2)),
)
def dossier_kpi_quarterly() -> None:
    @task
    def kpi_quarterly(data_interval_start: datetime | None = None) -> dict[str, Any]:
        from dossiers.duties import tasks

        assert data_interval_start is not None
        return tasks.kpi_scorecard("quarter", data_interval_start)

    kpi_quarterly()


dossier_kpi_quarterly()
