"""The dossier ledger (檔案管理臺賬, Arts. 11, 13): one writer, append-only, hash-chained.

Every change to a dossier, a form, a staff member or a key is recorded here in the same
transaction as the change itself: both commit, or neither does. :func:`append` is the
only code that inserts into ``ledger_entry``; the database refuses UPDATE, DELETE and
TRUNCATE on it to everyone (a trigger) and the application role lacks those privileges.

Each entry's ``body`` is canonical JSON (sorted keys, no spaces) and
``entry_hash = sha256(prev_hash || body)``; the queryable columns (actor, action, …) are
filled from the body by the database. Appends take a transaction-scoped advisory lock, so
concurrent writers queue and the chain never forks; a batch goes in with one COPY. A superuser could re-chain
the whole table, so the head can be anchored outside the database (:func:`anchor`) and
:func:`verify` checks the anchor too. Never put personal data in ``details``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, text

from dossiers.core.db import copy_rows
from dossiers.core.schema import ledger_entry

GENESIS = bytes(32)
#: pg_advisory_xact_lock key serialising appends ("ledger" in ASCII).
LOCK_KEY = 0x6C6564676572


@dataclass(frozen=True)
class Entry:
    """What happened: who did what to which subject, with non-personal details."""

    actor: str
    action: str
    subject_type: str
    subject_id: str
    dossier_no: str | None = None
    details: Mapping[str, Any] | None = None


def canonical(body: Mapping[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


def chain(prev_hash: bytes, body: str) -> bytes:
    return hashlib.sha256(prev_hash + body.encode()).digest()


def append(conn: Connection, *entries: Entry) -> int:
    """Append entries in order within the caller's transaction; returns the last seq."""
    return append_many(conn, entries)


def append_many(conn: Connection, entries: Iterable[Entry]) -> int:
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    head = conn.execute(
        select(ledger_entry.c.seq, ledger_entry.c.entry_hash)
        .order_by(ledger_entry.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (head.seq, bytes(head.entry_hash)) if head else (0, GENESIS)
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    rows = []
    for e in entries:
        seq += 1
        body = canonical({
            "seq": seq, "recorded_at": at, "actor": e.actor, "action": e.action,
            "subject_type": e.subject_type, "subject_id": e.subject_id,
            "dossier_no": e.dossier_no, "details": dict(e.details or {}),
        })
        digest = chain(prev, body)
        rows.append((seq, body, prev, digest))
        prev = digest
    if rows:
        copy_rows(conn, ledger_entry, ("seq", "body", "prev_hash", "entry_hash"), rows)
    return seq


@dataclass(frozen=True)
class Verification:
    entries_checked: int
    first_broken: dict[str, Any] | None
    head: str | None

    @property
    def ok(self) -> bool:
        return self.first_broken is None

    def as_dict(self) -> dict[str, Any]:
        return {"entries_checked": self.entries_checked, "first_broken": self.first_broken,
                "head": self.head}


def verify(conn: Connection, anchor_file: Path | None = None, batch: int = 50_000) -> Verification:
    """Re-hash the whole ledger in order; name the first entry that does not chain.

    Reads through a server-side cursor straight from the driver: this is the hot loop of
    ``make bench`` (1M entries), and the body's own seq is the row's seq (the insert
    trigger sets the column from the body), so the chain alone proves the order.
    """
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    broken: dict[str, Any] | None = None
    sha256 = hashlib.sha256
    raw = conn.connection.driver_connection
    with raw.cursor(name="ledger_verify") as cur:  # type: ignore[union-attr]
        cur.itersize = batch
        cur.execute("SELECT seq, body, prev_hash, entry_hash FROM ledger_entry ORDER BY seq")
        for seq, body, prev_hash, entry_hash in cur:
            if seq != expected_seq:
                broken = {"seq": seq, "reason": f"sequence gap: expected entry {expected_seq}"}
            elif prev_hash != expected_prev:
                broken = {"seq": seq, "reason": "prev_hash does not match the previous entry's hash"}
            elif sha256(expected_prev + body.encode()).digest() != entry_hash:
                broken = {"seq": seq, "reason": "entry_hash does not match its content (content altered)"}
            if broken:
                break
            checked += 1
            expected_prev, expected_seq = entry_hash, seq + 1
    if broken:
        return Verification(checked, broken, expected_prev.hex())
    head = expected_prev.hex() if checked else None
    if anchor_file is not None and anchor_file.exists():
        problem = _check_anchor(conn, anchor_file)
        if problem:
            return Verification(checked, problem, head)
    return Verification(checked, None, head)


def anchor(conn: Connection, anchor_file: Path) -> dict[str, Any]:
    """Write the current head (seq and hash) outside the database."""
    head = conn.execute(
        select(ledger_entry.c.seq, ledger_entry.c.entry_hash)
        .order_by(ledger_entry.c.seq.desc()).limit(1)
    ).first()
    record = {"seq": head.seq, "entry_hash": bytes(head.entry_hash).hex()} if head else \
        {"seq": 0, "entry_hash": GENESIS.hex()}
    anchor_file.parent.mkdir(parents=True, exist_ok=True)
    anchor_file.write_text(json.dumps(record) + "\n")
    return record


def _check_anchor(conn: Connection, anchor_file: Path) -> dict[str, Any] | None:
    record = json.loads(anchor_file.read_text())
    if record["seq"] == 0:
        return None
    stored = conn.execute(
        select(ledger_entry.c.entry_hash).where(ledger_entry.c.seq == record["seq"])
    ).scalar_one_or_none()
    if stored is None or bytes(stored).hex() != record["entry_hash"]:
        return {"seq": record["seq"],
                "reason": f"differs from the anchor in {anchor_file} (ledger re-chained?)"}
    return None
