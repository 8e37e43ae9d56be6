"""The backup duties' task bodies (Arts. 14, 18): what ``dags/weekly_full_backup.py`` and
``dags/monthly_offsite_backup.py`` call, as the ``airflow`` system actor.

Postgres is the only state. The weekly duty runs every day (a machine duty: the PRC
calendar has holiday weeks without a working day, e.g. 16-22 February 2026) and takes a
full backup when none was taken in the last ``backup_full_every_days`` days (Shanghai
dates; Art. 14 "back up at least weekly"), so a backup whose run failed, or whose drill did
not match, is taken again the next day. The monthly duty ships the newest verified backup
unless one was already shipped in the run's month; it also drills from the off-site copy
itself in every ``backup_offsite_drill_months``-th month (January, April, July and October
for 3), and in any later month until such a drill succeeded (a missed or failed one is
caught up, Art. 18).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select

from dossiers.backups import catalogue, drill, full, offsite, retention
from dossiers.backups.documents import source_store
from dossiers.core import clock, db, policy
from dossiers.core.config import SHANGHAI
from dossiers.core.permissions import Actor
from dossiers.core.schema import backup, backup_drill
from dossiers.core.vocabulary import BackupKind, BackupStatus, DrillSource

SYSTEM = Actor.system("airflow")


def backup_due(newest: datetime | None, now: datetime, every_days: int) -> bool:
    """Whether a full backup is due at ``now``: none yet, or the newest one was started
    ``every_days`` or more calendar days ago (Asia/Shanghai dates; Arts. 14, 18)."""
    if newest is None:
        return True
    return (now.astimezone(SHANGHAI).date() - newest.astimezone(SHANGHAI).date()).days \
        >= every_days


def offsite_drill_due(month_end: datetime, every_months: int,
                      last_ok: datetime | None) -> bool:
    """Whether the monthly run whose month starts at ``month_end`` (its data interval's
    end, midnight of the first, Shanghai) drills from the off-site copy (Art. 18).

    Drill months are counted from January of year 0 (every 3 months: January, April, July,
    October; a policy value that does not divide 12 keeps its cadence across years). The
    drill is due when no off-site drill succeeded since the start of the latest drill
    month at or before the run's month: in the drill month itself, and in the following
    months too when that drill was missed or failed."""
    local = month_end.astimezone(SHANGHAI)
    index = local.year * 12 + local.month - 1
    latest = index - index % every_months
    since = datetime(latest // 12, latest % 12 + 1, 1, tzinfo=SHANGHAI)
    return last_ok is None or last_ok < since


def weekly_backup(url: str) -> dict[str, Any]:
    """Take a full backup if one is due (:func:`backup_due`); returns its id, or the id of
    the newest backup still good (complete or verified, its last drill not failed).

    Due is judged at now, not at the run's data interval (a manual run has none): a backup
    is always of the data as it is now, so a late or backfilled run cannot back up its past."""
    every = int(policy.policy().backup_full_every_days)
    failed_drill = select(backup_drill.c.id).where(
        backup_drill.c.backup_id == backup.c.id, ~backup_drill.c.ok,
        ~exists().where(backup_drill.c.backup_id == backup.c.id, backup_drill.c.ok))
    with db.transaction(db.get_engine(url)) as conn:
        newest = conn.execute(select(backup.c.id, backup.c.started_at).where(
            backup.c.kind == BackupKind.FULL,
            backup.c.status.in_((BackupStatus.COMPLETE, BackupStatus.VERIFIED)),
            ~exists(failed_drill))
            .order_by(backup.c.started_at.desc()).limit(1)).first()
    if newest is not None and not backup_due(newest.started_at, clock.now(), every):
        return {"backup_id": newest.id, "taken": False,
                "newest_started_at": newest.started_at.isoformat(), "every_days": every}
    summary = full.run_backup(url, SYSTEM, source_store())
    return {**summary, "taken": True, "every_days": every}


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


def month_start(data_interval_end: datetime | None) -> datetime:
    """The start of the run's month (Shanghai): its data interval's end, midnight of the
    first; for a manual run, which has no data interval, the start of the current month."""
    if data_interval_end is not None:
        return data_interval_end
    today = clock.now().astimezone(SHANGHAI).date()
    return datetime(today.year, today.month, 1, tzinfo=SHANGHAI)


def monthly_offsite(url: str, month_end: datetime | None) -> dict[str, Any]:
    """Ship the newest verified backup for the month that ended at ``month_end`` (once;
    None: a manual run, for the month before the current one)."""
    month_end = month_start(month_end)
    with db.transaction(db.get_engine(url)) as conn:
        done = conn.execute(select(func.count()).select_from(backup).where(
            backup.c.offsite_at >= month_end)).scalar_one()
    if done:
        return {"shipped": False, "reason": "already shipped for this month"}
    return {**offsite.ship(url, SYSTEM), "shipped": True}


def quarterly_offsite_drill(url: str, month_end: datetime | None) -> dict[str, Any]:
    """Drill from the off-site copy when :func:`offsite_drill_due` (raises DrillFailed)."""
    month_end = month_start(month_end)
    every = int(policy.policy().backup_offsite_drill_months)
    with db.transaction(db.get_engine(url)) as conn:
        last_ok = conn.execute(select(func.max(backup_drill.c.finished_at)).where(
            backup_drill.c.source == DrillSource.OFFSITE, backup_drill.c.ok)).scalar()
    if not offsite_drill_due(month_end, every, last_ok):
        return {"drilled": False, "reason": f"the off-site drill runs every {every} months; "
                f"the last one succeeded at {last_ok.isoformat() if last_ok else None}"}
    return {**drill.drill_offsite(url, SYSTEM), "drilled": True}


def backup_report(url: str) -> list[str]:
    """Publish this month's backup report (HTML, PDF, CSV; Arts. 14, 18)."""
    from dossiers.backups import report

    with db.transaction(db.get_engine(url)) as conn:
        return report.publish_report(conn)
