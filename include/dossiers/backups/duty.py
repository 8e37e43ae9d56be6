"""The backup duties' task bodies (Arts. 14, 18): what ``dags/weekly_full_backup.py`` and
``dags/monthly_offsite_backup.py`` call, as the ``airflow`` system actor.

Postgres is the only state: the weekly duty runs on every working day and takes a backup
only when none completed in the current week (Monday to Sunday, Asia/Shanghai), so the week's
backup is taken on its first working day, and a failed one is taken again the next working
day. The monthly duty ships the newest verified backup unless one was already shipped in the
run's month; in the months of ``backup_offsite_drill_months`` it also drills from the
off-site copy itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from dossiers.backups import catalogue, drill, full, offsite, retention
from dossiers.backups.documents import source_store
from dossiers.core import clock, db, policy
from dossiers.core.config import SHANGHAI
from dossiers.core.permissions import Actor
from dossiers.core.schema import backup
from dossiers.core.vocabulary import BackupKind, BackupStatus

SYSTEM = Actor.system("airflow")


def _week_start(moment: datetime) -> datetime:
    local = moment.astimezone(SHANGHAI)
    monday = local.date() - timedelta(days=local.weekday())
    return datetime.combine(monday, datetime.min.time(), tzinfo=SHANGHAI)


def weekly_backup(url: str, run_at: datetime) -> dict[str, Any]:
    """Take this week's full backup unless it exists; returns its id (or the existing one).

    "This week" is the week of now, not of ``run_at`` (the run's interval): a backup is
    always of the data as it is now, so a late or backfilled run cannot back up its past
    week; it sees whether the current week has one."""
    week = _week_start(clock.now())
    with db.transaction(db.get_engine(url)) as conn:
        existing = conn.execute(select(backup.c.id).where(
            backup.c.kind == BackupKind.FULL,
            backup.c.status.in_((BackupStatus.COMPLETE, BackupStatus.VERIFIED)),
            backup.c.started_at >= week, backup.c.started_at < week + timedelta(days=7))
            .order_by(backup.c.started_at.desc()).limit(1)).scalar()
    if existing is not None:
        return {"backup_id": existing, "taken": False, "week": week.date().isoformat()}
    summary = full.run_backup(url, SYSTEM, source_store())
    return {**summary, "taken": True, "week": week.date().isoformat()}


def restore_drill(url: str, backup_id: str) -> dict[str, Any]:
    """Drill the backup unless a drill already verified it (raises DrillFailed otherwise)."""
    with db.transaction(db.get_engine(url)) as conn:
        row = catalogue.get(conn, backup_id)
    if row is not None and row["status"] == BackupStatus.VERIFIED:
        return {"backup_id": backup_id, "ok": True, "drilled": False}
    return {**drill.drill(url, SYSTEM, backup_id), "drilled": True}


def expire_backups(url: str) -> dict[str, Any]:
    with db.transaction(db.get_engine(url)) as conn:
        return retention.expire(conn, SYSTEM)


def monthly_offsite(url: str, month_start: datetime, month_end: datetime) -> dict[str, Any]:
    """Ship the newest verified backup for the month that ended at ``month_end`` (once)."""
    with db.transaction(db.get_engine(url)) as conn:
        done = conn.execute(select(func.count()).select_from(backup).where(
            backup.c.offsite_at >= month_end)).scalar_one()
    if done:
        return {"shipped": False, "reason": "already shipped for this month"}
    return {**offsite.ship(url, SYSTEM), "shipped": True}


def quarterly_offsite_drill(url: str, month_end: datetime) -> dict[str, Any]:
    every = int(policy.policy().backup_offsite_drill_months)
    if (month_end.astimezone(SHANGHAI).month - 1) % every:
        return {"drilled": False, "reason": f"the off-site drill runs every {every} months"}
    return {**drill.drill_offsite(url, SYSTEM), "drilled": True}


def backup_report(url: str) -> list[str]:
    """Publish this month's backup report (HTML, PDF, CSV; Arts. 14, 18)."""
    from dossiers.backups import report

    with db.transaction(db.get_engine(url)) as conn:
        return report.publish_report(conn)
