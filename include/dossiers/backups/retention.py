"""Which backups are kept (Art. 18; ``backup_weekly_keep``, ``backup_monthly_keep``,
``keyring_backup_keep_days``), and expiring the rest.

Full backups: the newest ``backup_weekly_keep`` complete or verified ones, and the newest of
each of the last ``backup_monthly_keep`` months; the newest *verified* one is always kept
(expiry never deletes the only verified copy). Key-ring backups: strictly by age, kept
``keyring_backup_keep_days`` — shorter than ``destruction_complete_days``, so a destroyed
data key leaves every backup within the destruction's time (Art. 17(3)).
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, update

from dossiers.core import clock, ledger, policy
from dossiers.core.config import SHANGHAI
from dossiers.core.permissions import Actor
from dossiers.core.schema import backup
from dossiers.core.vocabulary import BackupKind, BackupStatus, LedgerAction

LIVE = (BackupStatus.COMPLETE, BackupStatus.VERIFIED)


def to_keep(rows: list[dict[str, Any]], weekly: int, monthly: int) -> set[str]:
    """The ids of the full backups kept, from rows newest first."""
    kept = {r["id"] for r in rows[:weekly]}
    months: list[str] = []
    for r in rows:
        month = r["started_at"].astimezone(SHANGHAI).strftime("%Y-%m")
        if month not in months:
            months.append(month)
            if len(months) <= monthly:
                kept.add(r["id"])
    verified = [r for r in rows if r["status"] == BackupStatus.VERIFIED]
    if verified:
        kept.add(verified[0]["id"])  # never the only verified copy
    return kept


def expire(conn: Connection, actor: Actor) -> dict[str, Any]:
    rules = policy.policy()
    fulls = [dict(r) for r in conn.execute(
        select(backup).where(backup.c.kind == BackupKind.FULL, backup.c.status.in_(LIVE))
        .order_by(backup.c.started_at.desc())).mappings()]
    keep = to_keep(fulls, int(rules.backup_weekly_keep), int(rules.backup_monthly_keep))
    expired = [r for r in fulls if r["id"] not in keep]
    horizon = clock.now() - timedelta(days=int(rules.keyring_backup_keep_days))
    expired += [dict(r) for r in conn.execute(
        select(backup).where(backup.c.kind == BackupKind.KEYRING, backup.c.status.in_(LIVE),
                             backup.c.started_at < horizon)).mappings()]
    for row in expired:
        shutil.rmtree(Path(row["location"]), ignore_errors=True)
        conn.execute(update(backup).where(backup.c.id == row["id"]).values(
            status=BackupStatus.EXPIRED, expired_at=clock.now()))
        ledger.append(conn, ledger.Entry(
            actor.username, LedgerAction.BACKUP_EXPIRE, "backup", row["id"],
            details={"kind": row["kind"], "started_at": row["started_at"].isoformat(),
                     "offsite_uri": row["offsite_uri"],
                     "rule": "keyring_backup_keep_days" if row["kind"] == BackupKind.KEYRING
                     else "backup_weekly_keep, backup_monthly_keep"}))
    return {"expired": [r["id"] for r in expired], "kept_full": sorted(keep)}
