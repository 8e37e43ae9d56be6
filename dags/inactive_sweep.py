"""Six-month inactive sweep (Art. 14). Thin: schedule, documentation, one task
calling :mod:`dossiers.duties.tasks`; nothing touches the database at parse time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from airflow.sdk import dag, task

from dossiers.airflow.dagkit import START, deadline, default_args
from dossiers.airflow.timetables import FirstWorkingDayTimetable

DOC_MD = """
# Six-month inactive sweep

**What it does.** Monthly, it opens the six-month review of every terminated dossier with no prospect of
further cooperation (owner: the archivist, who keeps it with `dossier dossiers keep` or
sends it to destruction) and flags dossiers terminated 3 or more years ago as eligible for
destruction (a `finding` of the year).

**Why.** Art. 14: reviewed within 6 months of termination; Art. 17: 3-year destruction condition.

**If it fails.** Overdue reviews appear in the SLA watch; a re-run of the month changes nothing.
"""


@dag(
    dag_id="dossier_inactive_sweep",
    schedule=FirstWorkingDayTimetable("month", at=time(10, 30)),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["dossier", "retention", "Art. 14", "Art. 17"],
    default_args=default_args("customer_service"),
    deadline=deadline(timedelta(hours=2)),
)
def dossier_inactive_sweep() -> None:
    @task
    def inactive_sweep(data_interval_start: datetime | None = None,
                       data_interval_end: datetime | None = None) -> dict[str, Any]:
        from dossiers.duties import tasks

        assert data_interval_start is not None
        assert data_interval_end is not None
        return tasks.inactive_sweep(data_interval_start, data_interval_end)

    inactive_sweep()


dossier_inactive_sweep()
