"""The backup catalogue (``backup``, ``backup_drill``; Arts. 14, 18): where each backup
stands. Every change to it is written with its ledger entry, in one transaction."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select, update

from dossiers.core import clock, ledger
from dossiers.core.errors import NotFound
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import backup, backup_drill, ledger_entry
from dossiers.core.vocabulary import BackupKind, BackupStatus, DrillSource, LedgerAction

#: What a ``running`` row becomes when the next run finds its process gone.
ABANDONED = "abandoned: the run stopped before its manifest was sealed (killed or crashed)"


def start(conn: Connection, backup_id: str, kind: BackupKind, location: str) -> None:
    conn.execute(backup.insert().values(
        id=backup_id, kind=kind, status=BackupStatus.RUNNING, location=location,
        started_at=clock.now()))


def abandoned(conn: Connection) -> list[dict[str, Any]]:
    """Mark every ``running`` row failed (the caller holds the backup lock, so none is
    running); returns them, so their partial folders can be removed."""
    rows = conn.execute(
        update(backup).where(backup.c.status == BackupStatus.RUNNING)
        .values(status=BackupStatus.FAILED, error=ABANDONED, finished_at=clock.now())
        .returning(backup.c.id, backup.c.kind, backup.c.location)).mappings().all()
    return [dict(r) for r in rows]


def fail(conn: Connection, backup_id: str, error: str) -> None:
    conn.execute(update(backup).where(backup.c.id == backup_id).values(
        status=BackupStatus.FAILED, error=error[:2000], finished_at=clock.now()))


def complete(conn: Connection, actor: Actor, backup_id: str, *, kind: BackupKind,
             snapshot_at: datetime, size: int, manifest_sha256: str, ledger_seq: int | None,
             keyring_backup_id: str | None, details: dict[str, Any]) -> None:
    conn.execute(update(backup).where(backup.c.id == backup_id).values(
        status=BackupStatus.COMPLETE, finished_at=clock.now(), snapshot_at=snapshot_at,
        size_bytes=size, manifest_sha256=manifest_sha256, ledger_seq=ledger_seq,
        keyring_backup_id=keyring_backup_id))
    ledger.append(conn, ledger.Entry(
        actor.username, LedgerAction.BACKUP_RUN, "backup", backup_id,
        details={"kind": kind, "size_bytes": size, "manifest_sha256": manifest_sha256,
                 **details}))


def record_drill(conn: Connection, actor: Actor, backup_id: str, *, source: DrillSource,
                 started_at: datetime, ok: bool, rto_seconds: float | None,
                 rpo_seconds: float | None, problems: list[str],
                 details: dict[str, Any]) -> int:
    drill_id = conn.execute(backup_drill.insert().values(
        backup_id=backup_id, source=source, started_at=started_at, finished_at=clock.now(),
        ok=ok, rto_seconds=None if rto_seconds is None else Decimal(f"{rto_seconds:.3f}"),
        rpo_seconds=None if rpo_seconds is None else Decimal(f"{rpo_seconds:.3f}"),
        problems=problems, details=details).returning(backup_drill.c.id)).scalar_one()
    if ok:
        conn.execute(update(backup).where(backup.c.id == backup_id,
                                          backup.c.status == BackupStatus.COMPLETE)
                     .values(status=BackupStatus.VERIFIED))
    ledger.append(conn, ledger.Entry(
        actor.username, LedgerAction.BACKUP_DRILL, "backup", backup_id,
        details={"drill": drill_id, "source": source, "ok": ok, "rto_seconds": rto_seconds,
                 "rpo_seconds": rpo_seconds, "problems": problems[:20]}))
    return int(drill_id)


def record_restore(conn: Connection, actor: Actor, backup_id: str,
                   details: dict[str, Any]) -> None:
    """A backup restored by an operator, in the system of record's ledger (Art. 18): which
    backup, into which database (host, port and name only), by whom, and what matched."""
    ledger.append(conn, ledger.Entry(actor.username, LedgerAction.BACKUP_RESTORE, "backup",
                                     backup_id, details=details))


def listing(conn: Connection, kind: BackupKind | None = None) -> list[dict[str, Any]]:
    """Every backup, newest first, with its latest drill."""
    query = select(backup).order_by(backup.c.started_at.desc())
    if kind is not None:
        query = query.where(backup.c.kind == kind)
    rows = [dict(r) for r in conn.execute(query).mappings()]
    drills: dict[str, dict[str, Any]] = {}
    for d in conn.execute(select(backup_drill).order_by(backup_drill.c.id)).mappings():
        drills[d["backup_id"]] = dict(d)
    for row in rows:
        drill = drills.get(row["id"])
        row["last_drill"] = None if drill is None else {
            "ok": drill["ok"], "source": drill["source"], "finished_at": drill["finished_at"],
            "rto_seconds": drill["rto_seconds"], "rpo_seconds": drill["rpo_seconds"],
            "problems": drill["problems"]}
    return rows


def list_backups(conn: Connection, actor: Actor) -> list[dict[str, Any]]:
    """The catalogue for someone who runs backups (Arts. 6, 14, 18)."""
    authorize(conn, actor, Action.BACKUP_RUN, subject="backup")
    return listing(conn)


def newest(conn: Connection, *, verified: bool = False) -> str:
    """The newest full backup that completed (or was verified by a drill)."""
    statuses = [BackupStatus.VERIFIED] if verified else [BackupStatus.COMPLETE,
                                                         BackupStatus.VERIFIED]
    found = conn.execute(select(backup.c.id).where(
        backup.c.kind == BackupKind.FULL, backup.c.status.in_(statuses))
        .order_by(backup.c.started_at.desc()).limit(1)).scalar()
    if found is None:
        raise NotFound("no " + ("verified" if verified else "complete") + " full backup yet "
                       "(`dossier backup run`)", record="backup")
    return str(found)


def newest_offsite(conn: Connection) -> str:
    found = conn.execute(select(backup.c.id).where(backup.c.offsite_uri.is_not(None))
                         .order_by(backup.c.offsite_at.desc()).limit(1)).scalar()
    if found is None:
        raise NotFound("no backup has been shipped off-site yet", record="backup")
    return str(found)


def offsite_shipment(conn: Connection, backup_id: str) -> dict[str, Any] | None:
    """The details of the ledger entry that recorded ``backup_id``'s newest shipment off-site
    (what each object held), or None."""
    found = conn.execute(
        select(ledger_entry.c.details)
        .where(ledger_entry.c.action == LedgerAction.BACKUP_OFFSITE,
               ledger_entry.c.subject_type == "backup", ledger_entry.c.subject_id == backup_id)
        .order_by(ledger_entry.c.seq.desc()).limit(1)).scalar()
    return dict(found) if found is not None else None


def get(conn: Connection, backup_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(backup).where(backup.c.id == backup_id)).mappings().first()
    return dict(row) if row else None
