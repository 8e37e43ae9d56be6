"""Quarterly full check and sampling audit (Art. 12). Thin: schedule, documentation, one task
calling :mod:`dossiers.duties.tasks`; nothing touches the database at parse time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from airflow.sdk import dag, task

from dossiers.airflow.dagkit import START, deadline, default_args
from dossiers.airflow.timetables import FirstWorkingDayTimetable

DOC_MD = """
# Quarterly full check and sampling audit

**What it does.** On the first working day of each quarter it re-checks the previous audits' rectification
items (resolved or persisting), draws a reproducible random sample stratified by department
and client type (5%, at least 10; the seed is recorded in `duty_run` and the ledger), and
checks the sample for completeness, truthfulness signals and electronic-vs-paper
consistency. Each problem becomes a rectification item with its liaison as owner and a
10-wd deadline (the SLA watch follows it). The audit report (PDF, CSV) goes to compliance.

**Why.** Art. 14: CS samples dossiers quarterly and re-checks after rectification; Arts. 12, 21.

**If it fails.** A re-run of the quarter reuses the recorded seed and adds nothing. Findings are in the
`finding` table (`duty = 'sampling_audit'`).
"""


@dag(
    dag_id="dossier_sampling_audit",
    schedule=FirstWorkingDayTimetable("quarter", at=time(9, 30)),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["dossier", "audit", "Art. 12", "Art. 14", "Art. 21"],
    default_args=default_args("customer_service"),
    deadline=deadline(timedelta(hours=4)),
)
def dossier_sampling_audit() -> None:
    @task
    def sampling_audit(data_interval_start: datetime | None = None,
                       data_interval_end: datetime | None = None) -> dict[str, Any]:
        from dossiers.duties import tasks

        assert data_interval_start is not None
        assert data_interval_end is not None
        return tasks.sampling_audit(data_interval_start, data_interval_end)

    sampling_audit()


dossier_sampling_audit()
