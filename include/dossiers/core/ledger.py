"""The dossier ledger (檔案管理臺賬, Arts. 11, 13): one writer, append-only, hash-chained.

Every change to a dossier, a form, a staff member or a key is recorded here in the same
transaction as the change itself: both commit, or neither does. :func:`append` is the
only code that inserts into ``ledger_entry``; the database refuses UPDATE, DELETE and
TRUNCATE on it to everyone (a trigger) and the application role lacks those privileges.

Each entry's ``body`` is canonical JSON (sorted keys, no spaces) and
``entry_hash = sha256(prev_hash || body)``; the queryable columns (seq, actor, action, …) are
generated from the body by the database (``schema.LEDGER_DERIVED``), so they say what was
hashed: :func:`verify` checks in the catalog that they still are, and compares every entry's
columns with its body when they are not. Appends take a transaction-scoped advisory lock, so
concurrent writers queue and the chain never forks; a batch goes in with one COPY. A
superuser could re-chain the whole table, so the head can be anchored outside the database
(:func:`anchor`) and :func:`verify` checks the anchor too. Never put personal data in
``details``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, text

from dossiers.core.db import copy_rows
from dossiers.core.schema import LEDGER_DERIVED, LEDGER_TIMESTAMP_SQL, ledger_entry

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
        rows.append((body, prev, digest))
        prev = digest
    if rows:  # seq and the other columns are generated from the body
        copy_rows(conn, ledger_entry, ("body", "prev_hash", "entry_hash"), rows)
    return seq


#: How :func:`verify` knew the columns say what the body says.
GENERATED = "generated from the body"
COMPARED = "compared with the body, entry by entry"


@dataclass(frozen=True)
class Verification:
    entries_checked: int
    first_broken: dict[str, Any] | None
    head: str | None
    #: :data:`GENERATED`, or :data:`COMPARED` because they no longer are (see ``warnings``).
    columns: str = GENERATED
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.first_broken is None

    def as_dict(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "entries_checked": self.entries_checked, "first_broken": self.first_broken,
            "head": self.head, "columns": self.columns}
        if self.warnings:
            report["warnings"] = list(self.warnings)
        return report


def verify(conn: Connection, anchor_file: Path | None = None, batch: int = 50_000) -> Verification:
    """Re-hash the whole ledger in order; name the first entry that does not chain, or whose
    columns differ from its body.

    Reads through a server-side cursor straight from the driver: this is the hot loop of
    ``make bench`` (1M entries). While the catalog shows every column generated from the body
    by the schema's expression, the columns cannot differ from it and no row is parsed; if
    one is not (its expression dropped or replaced, which only the owner can do), every
    entry's columns are compared with its body too (slower, but names the first that differ).
    """
    problems, present = derivation_problems(conn)
    compare = bool(problems)
    # A column dropped altogether reads as NULL: the first entry then differs from its body.
    columns = "".join(f", {c if c in present else 'NULL'}" for c in DERIVED_COLUMNS) \
        if compare else ""
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    broken: dict[str, Any] | None = None
    sha256 = hashlib.sha256
    raw = conn.connection.driver_connection
    with raw.cursor(name="ledger_verify") as cur:  # type: ignore[union-attr]
        cur.itersize = batch
        cur.execute(f"SELECT seq, body, prev_hash, entry_hash{columns} "
                    "FROM ledger_entry ORDER BY seq")
        for row in cur:
            seq, body, prev_hash, entry_hash = row[:4]
            if seq != expected_seq:
                broken = {"seq": seq, "reason": f"sequence gap: expected entry {expected_seq}"}
            elif prev_hash != expected_prev:
                broken = {"seq": seq, "reason": "prev_hash does not match the previous entry's hash"}
            elif sha256(expected_prev + body.encode()).digest() != entry_hash:
                broken = {"seq": seq, "reason": "entry_hash does not match its content (content altered)"}
            elif compare and (differing := columns_differing(body, row[4:])):
                broken = {"seq": seq, "reason": differing}
            if broken:
                break
            checked += 1
            expected_prev, expected_seq = entry_hash, seq + 1
    how, warnings = (COMPARED, tuple(problems)) if compare else (GENERATED, ())
    if broken:
        return Verification(checked, broken, expected_prev.hex(), how, warnings)
    head = expected_prev.hex() if checked else None
    if anchor_file is not None and anchor_file.exists():
        problem = _check_anchor(conn, anchor_file)
        if problem:
            return Verification(checked, problem, head, how, warnings)
    return Verification(checked, None, head, how, warnings)


#: The columns generated from the body, in the order :func:`columns_differing` takes them.
DERIVED_COLUMNS = tuple(LEDGER_DERIVED)


def derivation_problems(conn: Connection) -> tuple[list[str], set[str]]:
    """What in the catalog no longer derives the ledger's columns from the body ([] = all do),
    and the columns the table has.

    PostgreSQL prints a stored expression with its own parentheses and the literals' types
    (``((body)::json ->> 'actor'::text)``), so both sides are compared without those.
    """
    rows = conn.execute(text(
        "SELECT a.attname, a.attgenerated, pg_get_expr(d.adbin, d.adrelid) "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d "
        "  ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = 'ledger_entry'::regclass AND a.attnum > 0 AND NOT a.attisdropped"
    )).all()
    found = {name: (generated, expression) for name, generated, expression in rows}
    problems = []
    for name, expected in LEDGER_DERIVED.items():
        generated, expression = found.get(name, ("", None))
        if generated != "s":
            problems.append(f"column {name} is no longer generated from the body")
        elif _bare(expression or "") != _bare(expected):
            problems.append(f"column {name} is generated by {expression}, not {expected}")
    for name in found.keys() - LEDGER_DERIVED.keys() - {"body", "prev_hash", "entry_hash"}:
        problems.append(f"column {name} is not one of the ledger's columns")
    source = conn.execute(text(
        "SELECT p.prosrc FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
        "WHERE p.oid = to_regprocedure('ledger_timestamp(text)') AND l.lanname = 'sql' "
        "AND p.provolatile = 'i'")).scalar()
    if source is None or source.strip() != LEDGER_TIMESTAMP_SQL:
        problems.append("function ledger_timestamp(text), which recorded_at is generated by, "
                        "is not the schema's")
    return problems, set(found)


def _bare(expression: str) -> str:
    return re.sub(r"[\s()]|(?<=')::text", "", expression)


def columns_differing(body: str, values: Sequence[Any]) -> str | None:
    """Why an entry's column values (in :data:`DERIVED_COLUMNS` order) are not what its
    body says, or None when they are."""
    try:
        said = json.loads(body)
    except ValueError:
        return "the body is not JSON (content altered)"
    if not isinstance(said, dict):
        return "the body is not a JSON object (content altered)"
    differing = [name for name, value in zip(DERIVED_COLUMNS, values, strict=True)
                 if not _says(said.get(name), value, name)]
    if not differing:
        return None
    if len(differing) == 1:
        return f"column {differing[0]} differs from the hashed body (changed outside the application)"
    return (f"columns {', '.join(differing)} differ from the hashed body (changed outside the "
            "application)")


def _says(said: Any, value: Any, name: str) -> bool:
    if name == "recorded_at":
        try:
            return isinstance(said, str) and datetime.fromisoformat(said) == value
        except ValueError:
            return False
    return type(said) is type(value) and said == value


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
