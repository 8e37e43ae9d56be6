"""Monthly owner check (Art. 12). Thin: schedule, documentation, one task
calling :mod:`dossiers.duties.tasks`; nothing touches the database at parse time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from airflow.sdk import dag, task

from dossiers.airflow.dagkit import START, deadline, default_args
from dossiers.airflow.timetables import FirstWorkingDayTimetable

DOC_MD = """
# Monthly owner check

**What it does.** On the first working day of each month it validates every dossier's completeness with
Great Expectations (inside PostgreSQL, by stage) and e-mails every liaison the list of
their dossiers with gaps (each with the check and the article it enforces), stale parts
(no communication record for 3 months) and open items (deadlines, update forms, loans).
The run covers the previous month; its gaps are kept as `finding` rows of that month.

**Why.** Art. 12: liaisons check their clients' dossiers monthly and fill gaps or changes.

**If it fails.** A second run of the same month sends nothing (`duty_run` is finished). If GX fails to
connect, check `dossier_db`; if a check cannot be evaluated the error names it.
"""


@dag(
    dag_id="dossier_owner_check",
    schedule=FirstWorkingDayTimetable("month", at=time(9, 0)),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["dossier", "completeness", "Art. 12"],
    default_args=default_args("customer_service"),
    deadline=deadline(timedelta(hours=4)),
)
def dossier_owner_check() -> None:
    @task
    def owner_check(data_interval_start: datetime | None = None,
                    data_interval_end: datetime | None = None) -> dict[str, Any]:
        from dossiers.duties import tasks

        assert data_interval_start is not None
        assert data_interval_end is not None
        return tasks.owner_check(data_interval_start, data_interval_end)

    owner_check()


dossier_owner_check()
