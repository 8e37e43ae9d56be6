"""QA special inspection (Art. 21). Thin: schedule, documentation, one task
calling :mod:`dossiers.duties.tasks`; nothing touches the database at parse time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from airflow.sdk import dag, task

from dossiers.airflow.dagkit import START, deadline, default_args
from dossiers.airflow.timetables import FirstWorkingDayTimetable

DOC_MD = """
# QA special inspection

**What it does.** Every six months, the QA special inspection report to management: completeness by
department, rectification items, deadlines missed by kind, refused actions, overdue loans
and whether the ledger is intact.

**Why.** Art. 21: QA runs a special inspection every six months and reports to management.

**If it fails.** A re-run of the half-year changes nothing.
"""


@dag(
    dag_id="dossier_qa_inspection",
    schedule=FirstWorkingDayTimetable("half_year", at=time(9, 0)),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["dossier", "qa", "Art. 21"],
    default_args=default_args("quality"),
    deadline=deadline(timedelta(hours=4)),
)
def dossier_qa_inspection() -> None:
    @task
    def qa_inspection(data_interval_start: datetime | None = None) -> dict[str, Any]:
        from dossiers.duties import tasks

        assert data_interval_start is not None
        return tasks.qa_inspection(data_interval_start)

    qa_inspection()


dossier_qa_inspection()
