"""Quarterly compliance check (Art. 20). Thin: schedule, documentation, one task calling
:mod:`dossiers.duties.tasks`; nothing touches the database at parse time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from airflow.sdk import dag, task

from dossiers.airflow.dagkit import START, deadline, default_args
from dossiers.airflow.timetables import FirstWorkingDayTimetable

DOC_MD = """
# Quarterly compliance check

**What it does.** On the first working day of each quarter (Asia/Shanghai) it checks what the
law and the policy require of the data: every open client's authorisation on record and
valid; no personal data past its purpose (destroyed dossiers' keys destroyed, terminated
dossiers past their review decided); every external disclosure and cross-border transfer on
the register and approved by management before its package; every active staff member's
confidentiality agreement on record and every leaver's handover signed off; every open
dossier's data key live; the ledger verified in the quarter; a full backup, an off-site copy
and a successful restore drill current. Each problem becomes a rectification item with an owner and
a 10-wd deadline (the SLA watch follows it); the next quarter re-checks it. The compliance
report (PDF, CSV, HTML) goes to compliance and management.

**Why.** Art. 20: CS runs periodic compliance checks; Arts. 9, 14, 16, 17, 18, 19.

**If it fails.** A re-run of the quarter adds nothing. Findings are in the `finding` table
(`duty = 'compliance_check'`); anything the check cannot see yet is named in the report
(`NOT_CHECKED` in `dossiers.duties.compliance_check`).
"""


@dag(
    dag_id="dossier_compliance_check",
    schedule=FirstWorkingDayTimetable("quarter", at=time(10, 0)),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["dossier", "compliance", "Art. 19", "Art. 20"],
    default_args=default_args("customer_service"),
    deadline=deadline(timedelta(hours=4)),
)
def dossier_compliance_check() -> None:
    @task
    def compliance_check(data_interval_start: datetime | None = None,
                         data_interval_end: datetime | None = None) -> dict[str, Any]:
        from dossiers.duties import tasks

        assert data_interval_start is not None
        assert data_interval_end is not None
        return tasks.compliance_check(data_interval_start, data_interval_end)

    compliance_check()


dossier_compliance_check()
