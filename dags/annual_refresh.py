"""December annual refresh (Art. 12). Thin: schedule, documentation, one task
calling :mod:`dossiers.duties.tasks`; nothing touches the database at parse time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from airflow.sdk import dag, task

from dossiers.airflow.dagkit import START, deadline, default_args
from dossiers.airflow.timetables import FirstWorkingDayTimetable

DOC_MD = """
# December annual refresh

**What it does.** On the first working day of December every open dossier enters the annual update campaign:
a deadline per dossier (owner its liaison, due the last working day of December) that any
update applied to the dossier completes. It writes the annual dossier update report
(dossiers and updates by department; PDF and CSV) for compliance.

**Why.** Art. 12: every December CS leads a full annual update and produces the report.

**If it fails.** A re-run in the same year changes nothing. Progress: `clock` rows `annual_update:<year>`.
"""


@dag(
    dag_id="dossier_annual_refresh",
    schedule=FirstWorkingDayTimetable("month", at=time(10, 0), months=(12,)),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["dossier", "annual", "Art. 12"],
    default_args=default_args("customer_service"),
    deadline=deadline(timedelta(hours=4)),
)
def dossier_annual_refresh() -> None:
    @task
    def annual_refresh(data_interval_end: datetime | None = None) -> dict[str, Any]:
        from dossiers.duties import tasks

        assert data_interval_end is not None
        return tasks.annual_refresh(data_interval_end)

    annual_refresh()


dossier_annual_refresh()
