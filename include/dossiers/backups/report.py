"""The backup report (Arts. 14, 18): every backup, every drill's result, RTO and RPO over time.

Published like the duties' reports (HTML, PDF, CSV to the report store, a ``report`` row, a
ledger entry), so it shows in the Airflow UI's reports page. Each row cites the ledger
entry that recorded the backup or the drill.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, text

from dossiers.core import clock, policy
from dossiers.core.config import SHANGHAI
from dossiers.core.schema import backup, backup_drill
from dossiers.reports.model import (
    KINDS,
    Chart,
    Column,
    Heading,
    Label,
    Report,
    Row,
    Series,
    Source,
    Table,
    Text,
)
from dossiers.reports.publish import publish

KIND = "backups"


def _seqs(conn: Connection, action: str) -> dict[str, int]:
    """subject_id -> the last ledger seq of ``action`` on it."""
    rows = conn.execute(text("SELECT subject_id, max(seq) FROM ledger_entry WHERE action = :a "
                             "GROUP BY subject_id"), {"a": action}).all()
    return {str(s): int(q) for s, q in rows}


def _when(moment: datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else "—"


def build(conn: Connection, period: str) -> Report:
    head = int(conn.execute(text("SELECT coalesce(max(seq), 0) FROM ledger_entry")).scalar_one())
    runs, drilled = _seqs(conn, "backup.run"), _seqs(conn, "backup.drill")
    backups = [dict(r) for r in conn.execute(select(backup).order_by(backup.c.started_at)).mappings()]
    drills = [dict(r) for r in conn.execute(select(backup_drill).order_by(backup_drill.c.id)).mappings()]

    def source(backup_id: str, seqs: dict[str, int], what: str) -> Source:
        return Source(ledger_seq=seqs.get(backup_id, head), query=f"{what} {backup_id}")

    backup_rows = tuple(Row((
        b["id"], b["kind"], b["status"], _when(b["started_at"]), _when(b["snapshot_at"]),
        b["size_bytes"], b["ledger_seq"], b["offsite_uri"] or "—", _when(b["offsite_retain_until"]),
    ), source(b["id"], runs, "backup")) for b in backups)
    drill_rows = tuple(Row((
        d["backup_id"], d["source"], "✔" if d["ok"] else "✘", _when(d["finished_at"]),
        float(d["rto_seconds"]) if d["rto_seconds"] is not None else None,
        round(float(d["rpo_seconds"]) / 3600, 2) if d["rpo_seconds"] is not None else None,
        "; ".join(d["problems"][:2]) or "—",
    ), source(d["backup_id"], drilled, "backup_drill")) for d in drills)
    rules = policy.policy()
    sections: list[Any] = [
        Heading(Label("概要", "Summary")),
        Text(f"完整備份 {sum(b['kind'] == 'full' for b in backups)} 份，恢復演練 {len(drills)} 次，"
             f"其中未通過 {sum(not d['ok'] for d in drills)} 次。恢復時間目標 "
             f"{rules.backup_rto_target_minutes} 分鐘。",
             f"{sum(b['kind'] == 'full' for b in backups)} full backups, {len(drills)} restore "
             f"drills, {sum(not d['ok'] for d in drills)} of them failed. Recovery time target: "
             f"{rules.backup_rto_target_minutes} minutes (Arts. 4, 18)."),
        Table("backups", Label("備份", "Backups"), (
            Column(Label("備份", "Backup")), Column(Label("類別", "Kind")),
            Column(Label("狀態", "Status")), Column(Label("開始", "Started")),
            Column(Label("數據時點", "Data as of")), Column(Label("大小（字節）", "Size (bytes)"), "number"),
            Column(Label("臺賬序號", "Ledger seq"), "number"), Column(Label("異地副本", "Off-site copy")),
            Column(Label("鎖定至", "Locked until"))), backup_rows),
        Table("drills", Label("恢復演練", "Restore drills"), (
            Column(Label("備份", "Backup")), Column(Label("來源", "Source")),
            Column(Label("結果", "Result")), Column(Label("完成", "Finished")),
            Column(Label("RTO（秒）", "RTO (s)"), "number"),
            Column(Label("RPO（小時）", "RPO (h)"), "number"),
            Column(Label("問題", "Problems"))), drill_rows),
    ]
    if drills:
        sections.append(Chart(
            "rto_rpo", Label("RTO 及 RPO 走勢", "RTO and RPO over time"), "line",
            Label("演練", "Drill"), Label("秒 / 小時", "seconds / hours"),
            tuple(f"{_when(d['finished_at'])} #{d['id']}" for d in drills),
            (Series(Label("RTO（秒）", "RTO (s)"),
                    tuple(float(d["rto_seconds"]) if d["rto_seconds"] is not None else None
                          for d in drills)),
             Series(Label("RPO（小時）", "RPO (h)"),
                    tuple(round(float(d["rpo_seconds"]) / 3600, 2) if d["rpo_seconds"] is not None
                          else None for d in drills))),
            tuple(source(d["backup_id"], drilled, "backup_drill") for d in drills)))
    title, audience = KINDS[KIND]
    last = max([b["finished_at"] for b in backups if b["finished_at"]]
               + [d["finished_at"] for d in drills], default=None)
    return Report(kind=KIND, period=period, title=title, as_of=last or clock.now(),
                  articles="Arts. 14, 18", audience=audience, sections=tuple(sections))


def publish_report(conn: Connection, period: str | None = None) -> list[str]:
    """Publish the backup report for ``period`` (default: this month, Asia/Shanghai)."""
    period = period or clock.now().astimezone(SHANGHAI).strftime("%Y-%m")
    return [p.uri for p in publish(conn, build(conn, period))]
