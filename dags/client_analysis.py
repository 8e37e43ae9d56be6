"""Client dossier analysis (Art. 6). Thin: schedule, documentation, one task
calling :mod:`dossiers.duties.tasks`; nothing touches the database at parse time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from airflow.sdk import dag, task

from dossiers.airflow.dagkit import START, deadline, default_args
from dossiers.airflow.timetables import FirstWorkingDayTimetable

DOC_MD = """
# Client dossier analysis

**What it does.** Quarterly, the client dossier analysis report: clients by market, type and stage,
marketing goals, satisfaction and complaints by client type, new dossiers by month.

**Why.** Art. 6(5): CS analyses the dossiers to support business decisions.

**If it fails.** A re-run of the quarter changes nothing.
"""


@dag(
    dag_id="dossier_client_analysis",
    schedule=FirstWorkingDayTimetable("quarter", at=time(14, 0)),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["dossier", "analysis", "Art. 6"],
    default_args=default_args("customer_service"),
    deadline=deadline(timedelta(hours=2)),
)
def dossier_client_analysis() -> None:
    @task
    def client_analysis(data_interval_start: datetime | None = None) -> dict[str, Any]:
        from dossiers.duties import tasks

        assert data_interval_start is not None
        return tasks.client_analysis(data_interval_start)

    client_analysis()


dossier_client_analysis()
