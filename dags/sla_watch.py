"""SLA watch: every running deadline (Art. 8). Thin: schedule, documentation, one task
calling :mod:`dossiers.duties.tasks`; nothing touches the database at parse time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from airflow.sdk import dag, task

from dossiers.airflow.dagkit import START, deadline, default_args
from dossiers.airflow.timetables import WorkingDayTimetable

DOC_MD = """
# SLA watch: every running deadline

**What it does.** Every working day at 08:30 (Asia/Shanghai) it reads every running deadline (clock): form
reviews (2 wd), creation and filing (2/3/5 wd), update reviews and applications (1 wd),
immediate updates (2 wd), loans and extensions (7 + 3 wd), rectification items and the
legacy back-fill (1 month). Owners of deadlines due within 1 wd get a reminder; overdue
ones get a reminder and are escalated to the owner's department head (the CS head for
Customer Service). Each reminder is recorded once per deadline and day (`reminder`).

**Why.** Arts. 8, 11, 13, 15 and 16 set the deadlines; Art. 21 makes CS supervise them.

**If it fails.** A failed run sends nothing twice when cleared: reminders already recorded for the day are
not sent again. Check the SMTP connection `dossier_smtp` and the database connection
`dossier_db`, then clear the task.
"""


@dag(
    dag_id="dossier_sla_watch",
    schedule=WorkingDayTimetable(at=time(8, 30)),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["dossier", "sla", "Art. 8", "Art. 11", "Art. 13", "Art. 15", "Art. 16"],
    default_args=default_args("customer_service"),
    deadline=deadline(timedelta(hours=2)),
)
def dossier_sla_watch() -> None:
    @task
    def sla_watch(data_interval_end: datetime | None = None) -> dict[str, Any]:
        from dossiers.duties import tasks

        assert data_interval_end is not None
        return tasks.sla_watch(data_interval_end)

    sla_watch()


dossier_sla_watch()
