"""Weekly full backup and its restore drill (Arts. 14, 18). Thin: schedule, documentation,
three tasks calling :mod:`dossiers.backups.duty`; nothing touches the database at parse time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import (
    CronTriggerTimetable,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
    dag,
    task,
)

from dossiers.airflow.dagkit import START, deadline, default_args

DOC_MD = """
# Weekly full backup, proved by a restore drill

**What it does.** Every day at 01:30 (Asia/Shanghai), holidays included, it checks whether
a full backup was taken in the last `backup_full_every_days` days (7: Art. 14 "at least
weekly"); when none was (or the newest one's drill did not match) it takes one:
the dossier database dumped inside an exported snapshot (manifest counts and hashes from
that same snapshot), the document store copied, compressed (zstd) and sealed (AES-GCM)
into the backup vault (`DOSSIER_BACKUP_VAULT`), the key ring in its own small backup apart
(`DOSSIER_KEYRING_BACKUP_VAULT`). Then it **restores the backup** into a scratch database
and document store, runs `pg_amcheck`, compares every table with the manifest, checks the
ledger against its outside anchor and decrypts a sample; RTO and RPO go in the catalogue,
the ledger and the backup report (published even when the drill failed, in the reports
page). Last, backups past their retention are expired.

**Why.** Art. 14: back up at least weekly; Art. 18: weekly full backup, kept safe and able
to restore quickly. A backup nobody restored is a hope. Every day, not every working day:
the PRC calendar has weeks without a working day (16-22 February 2026) and holiday breaks of
up to ten days, and a backup needs nobody at work.

**If it fails.** `DrillFailed` names what did not match: the backup is not trustworthy —
never retried; tell the CS head and QA, run `dossier backup verify <folder>` and take a new
backup (`dossier backup run`). Any other failure (disk full, database unreachable) leaves
nothing that claims success: fix it and clear the task (the next day's run retries anyway).
"""

#: A drill that does not match will not match on a retry.
DRILL_FAILED = ExceptionRetryPolicy(rules=[RetryRule(
    exception="dossiers.backups.errors.DrillFailed", action=RetryAction.FAIL,
    reason="the restored copy does not match its backup: retrying cannot mend it (Art. 18)",
)])


@dag(
    dag_id="dossier_weekly_full_backup",
    # Arts. 14, 18: every calendar day; the duty takes a backup every backup_full_every_days
    schedule=CronTriggerTimetable("30 1 * * *", timezone="Asia/Shanghai"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["dossier", "backup", "Art. 14", "Art. 18"],
    default_args=default_args("customer_service"),
    deadline=deadline(timedelta(hours=4)),
)
def dossier_weekly_full_backup() -> None:
    @task
    def full_backup() -> str:
        """Judged at now (a manual run has no data interval): see duty.weekly_backup."""
        from dossiers.backups import duty
        from dossiers.duties.ledger_check import dossier_db_url

        return str(duty.weekly_backup(dossier_db_url())["backup_id"])

    @task(retry_policy=DRILL_FAILED)
    def restore_drill(backup_id: str) -> dict[str, Any]:
        from dossiers.backups import duty
        from dossiers.duties.ledger_check import dossier_db_url

        return duty.restore_drill(dossier_db_url(), backup_id)

    @task
    def expire_backups(drilled: dict[str, Any]) -> dict[str, Any]:
        from dossiers.backups import duty
        from dossiers.duties.ledger_check import dossier_db_url

        return duty.expire_backups(dossier_db_url())

    @task(trigger_rule="all_done")
    def backup_report() -> list[str]:
        """Every backup and drill, RTO and RPO over time: failed drills included."""
        from dossiers.backups import duty
        from dossiers.duties.ledger_check import dossier_db_url

        return duty.backup_report(dossier_db_url())

    drilled = restore_drill(full_backup())
    expire_backups(drilled)
    drilled >> backup_report()


dossier_weekly_full_backup()
