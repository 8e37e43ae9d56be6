"""Monthly off-site backup (Art. 18). Thin: schedule, documentation, two tasks calling
:mod:`dossiers.backups.duty`; nothing touches the database at parse time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from airflow.sdk import dag, task

from dossiers.airflow.dagkit import START, deadline, default_args
from dossiers.airflow.timetables import FirstWorkingDayTimetable

DOC_MD = """
# Monthly off-site backup

**What it does.** On the first working day of each month at 03:00 (Asia/Shanghai) it ships
the newest *verified* full backup (one a drill restored and matched) to the off-site store
`DOSSIER_BACKUP_OFFSITE` (S3 through the connection `dossier_s3`): multipart uploads,
server-side encryption, Object Lock retention in compliance mode for
`backup_offsite_lock_days` (the key ring's backup for `keyring_backup_keep_days` only),
applied and **read back for every object**, and every object downloaded again and
hash-checked. Every `backup_offsite_drill_months` months it then restores from the off-site
copy itself (a drill like the weekly one).

**Why.** Art. 18: a monthly off-site backup, able to restore quickly after loss of the site.

**If it fails.** "cannot reach S3" or "S3 answered …": the month is not marked done; the
task retries, and clearing it later ships the newest verified backup. A retention read back
short of the policy means the bucket lacks Object Lock: fix the bucket, clear the task.
"""


@dag(
    dag_id="dossier_monthly_offsite_backup",
    schedule=FirstWorkingDayTimetable("month", at=time(3, 0)),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["dossier", "backup", "offsite", "Art. 18"],
    default_args=default_args("customer_service"),
    deadline=deadline(timedelta(hours=6)),
)
def dossier_monthly_offsite_backup() -> None:
    @task
    def ship_offsite(data_interval_end: datetime | None = None) -> dict[str, Any]:
        """A manual run (no data interval) ships for the current month."""
        from dossiers.backups import duty
        from dossiers.duties.ledger_check import dossier_db_url

        return duty.monthly_offsite(dossier_db_url(), data_interval_end)

    @task
    def offsite_drill(shipped: dict[str, Any],
                      data_interval_end: datetime | None = None) -> dict[str, Any]:
        from dossiers.backups import duty
        from dossiers.duties.ledger_check import dossier_db_url

        return duty.quarterly_offsite_drill(dossier_db_url(), data_interval_end)

    offsite_drill(ship_offsite())


dossier_monthly_offsite_backup()
