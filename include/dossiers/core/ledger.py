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
concurrent writers queue and the chain never forks (lock and head read in one round trip);
a few entries go in with one INSERT, a batch with one COPY, and a hot step's one entry is
chained by the server in the same round trip as the step's writes (:func:`append_with`).
A superuser could re-chain the whole table, so the head can be anchored outside the
database (:func:`anchor`) and :func:`verify` checks the anchor too. Never put personal data in ``details``.
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

from sqlalchemy import Connection, func, select, text

from dossiers.core import clock
from dossiers.core.db import DriverStatement, Statement, copy_rows, copy_text, copy_value, run_together
from dossiers.core.errors import CannotRun
from dossiers.core.progress import Progress, no_progress
from dossiers.core.schema import LEDGER_DERIVED, LEDGER_TIMESTAMP_SQL, ledger_entry
from dossiers.core.vocabulary import DutyAction, LedgerAction

GENESIS = bytes(32)
#: pg_advisory_xact_lock key serialising appends ("ledger" in ASCII).
LOCK_KEY = 0x6C6564676572


@dataclass(frozen=True)
class Entry:
    """What happened: who did what to which subject, with non-personal details. ``action``
    is a named :class:`~dossiers.core.vocabulary.LedgerAction` (or a duty's run,
    :func:`~dossiers.core.vocabulary.duty_action`), never a string spelled at the call."""

    actor: str
    action: LedgerAction | DutyAction
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


#: The lock, then the head read under it, in one round trip: two statements of one simple
#: query, each with its own snapshot, so the head is read only once the lock is held (a
#: writer that committed while this one queued is seen, and the chain never forks).
LOCKED_HEAD_SQL = (f"SELECT pg_advisory_xact_lock({LOCK_KEY}); "
                   "SELECT seq, entry_hash FROM ledger_entry ORDER BY seq DESC LIMIT 1")
#: Up to this many entries go in with one multi-row INSERT (one round trip); more with COPY
#: (two round trips, but far cheaper per row).
INSERT_AT_MOST = 64


def _locked_head(conn: Connection) -> tuple[int, bytes]:
    """Take the append lock and read the head (seq, hash) under it; (0, genesis) when empty."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor:
        cursor.execute(LOCKED_HEAD_SQL, prepare=False)
        cursor.nextset()
        head = cursor.fetchone()
    return (head[0], bytes(head[1])) if head else (0, GENESIS)


def _insert(conn: Connection, rows: Sequence[tuple[str, bytes, bytes]]) -> None:
    if len(rows) > INSERT_AT_MOST:
        copy_rows(conn, ledger_entry, ("body", "prev_hash", "entry_hash"), rows)
        return
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor:
        cursor.execute("INSERT INTO ledger_entry (body, prev_hash, entry_hash) VALUES "
                       + ", ".join(["(%s, %s, %s)"] * len(rows)),
                       [value for row in rows for value in row])


#: :func:`append_with`'s lock, a statement of its own at the end of the step's pipeline.
LOCK_SQL = DriverStatement(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")


#: :func:`append_with`'s INSERT: the entry chained by the server, after the head it reads
#: (its own statement, so its own snapshot: read once the lock is held). The body is the
#: one :func:`canonical` makes, its seq spliced in (``%(before)s`` ends with ``"seq":``),
#: and ``entry_hash = sha256(prev_hash || body)`` over the body's UTF-8, as :func:`chain`.
CHAINED_INSERT_SQL = DriverStatement(
    "INSERT INTO ledger_entry (body, prev_hash, entry_hash) "
    "SELECT e.body, e.prev, sha256(e.prev || convert_to(e.body, 'UTF8')) FROM ("
    "SELECT %(before)s::text || (coalesce(h.seq, 0) + 1)::text || %(after)s::text AS body, "
    "coalesce(h.entry_hash, %(genesis)s::bytea) AS prev "
    "FROM (VALUES (1)) AS one (x) LEFT JOIN LATERAL ("
    "SELECT seq, entry_hash FROM ledger_entry ORDER BY seq DESC LIMIT 1) AS h ON true) AS e "
    "RETURNING seq")


def append_with(conn: Connection, statements: Sequence[Statement],
                entry: Entry) -> tuple[list[Any], int]:
    """A step's own statements, then the append lock, then ``entry`` chained and inserted
    by the server: all in one round trip (:func:`dossiers.core.db.run_together`), for a
    step whose entry does not depend on its statements' results (issue 16). Returns those
    results and the entry's seq.

    The same chain as :func:`append`: the body is :func:`canonical`'s, with the seq the
    head's plus one, and the hashes are ``sha256(prev_hash || body)`` (:func:`verify`
    re-hashes them in Python). The lock is taken after the step's writes, and the INSERT,
    a later statement than the lock's, reads the head under it (the chain never forks).
    """
    before, after = _around_seq(entry, _recorded_at())
    *results, _, inserted = run_together(conn, [
        *statements, (LOCK_SQL, ()),
        (CHAINED_INSERT_SQL, {"before": before, "after": after, "genesis": GENESIS})])
    assert inserted is not None
    return results, int(inserted[0].seq)


def _recorded_at() -> str:
    """When an entry is recorded (:mod:`dossiers.core.clock`), even for an act back-dated
    to another day: UTC, to the microsecond."""
    return clock.now().astimezone(UTC).isoformat(timespec="microseconds")


def _body(seq: int, at: str, e: Entry) -> str:
    return canonical({
        "seq": seq, "recorded_at": at, "actor": e.actor, "action": e.action,
        "subject_type": e.subject_type, "subject_id": e.subject_id,
        "dossier_no": e.dossier_no, "details": dict(e.details or {}),
    })


#: Where the seq stands in a canonical body: after ``recorded_at``, before ``subject_id``
#: (keys sorted); the last such text, as only string values, escaped, follow it.
_SEQ_OF_ZERO = ',"seq":0,'


def _around_seq(e: Entry, at: str) -> tuple[str, str]:
    """The canonical body of ``e`` before and after its seq's digits: the body of seq N is
    ``before + str(N) + after``."""
    body = _body(0, at, e)
    cut = body.rindex(_SEQ_OF_ZERO) + len(_SEQ_OF_ZERO) - 2
    return body[:cut], body[cut + 1:]


def append_many(conn: Connection, entries: Iterable[Entry]) -> int:
    seq, prev = _locked_head(conn)
    return _append_rows(conn, seq, prev, entries)


def append_details(conn: Connection, actor: str, action: LedgerAction, subject_type: str,
                   subjects: Sequence[tuple[str, str]]) -> int:
    """Entries of one actor, action and subject type, each given as its subject id and its
    details already in canonical JSON (:func:`canonical`, made where the details were: an
    import's worker processes). The same bodies and chain as :func:`append_many` makes of
    the same entries, without a dict and a JSON encoding per entry here; they go in with
    one COPY of preformatted text (issue 16). Returns the last seq."""
    if not subjects:
        return append_many(conn, ())
    seq, prev = _locked_head(conn)
    rows = bodies(seq, _recorded_at(), actor, action, subject_type, subjects)
    sha256, lines = hashlib.sha256, []
    for body in rows:
        digest = sha256(prev + body.encode()).digest()
        lines.append(f"{copy_value(body)}\t\\\\x{prev.hex()}\t\\\\x{digest.hex()}\n")
        prev = digest
    copy_text(conn, ledger_entry, ("body", "prev_hash", "entry_hash"), "".join(lines))
    return seq + len(rows)


def bodies(seq: int, at: str, actor: str, action: LedgerAction, subject_type: str,
           subjects: Sequence[tuple[str, str]]) -> list[str]:
    """The bodies of :func:`append_details`' entries after ``seq``: :func:`canonical` of
    each entry's fields (sorted keys), spelled from one template since only the seq, the
    subject id and the details differ."""
    template = canonical({"seq": 0, "recorded_at": at, "actor": actor, "action": action,
                          "subject_type": subject_type, "subject_id": "", "dossier_no": None,
                          "details": {}})
    # Sorted keys: action, actor, details, dossier_no, recorded_at, seq, subject_id, subject_type.
    before_details, after_details = template.split('"details":{}', 1)
    before_seq, after_seq = after_details.split('"seq":0,"subject_id":""', 1)
    head, middle = before_details + '"details":', before_seq + '"seq":'
    return [f'{head}{details}{middle}{seq + n},"subject_id":{_json_text(subject_id)}{after_seq}'
            for n, (subject_id, details) in enumerate(subjects, 1)]


def _json_text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # as canonical() spells a string


def _append_rows(conn: Connection, seq: int, prev: bytes, entries: Iterable[Entry]) -> int:
    """Chain and insert ``entries`` after the head ``(seq, prev)``, read under the lock."""
    at = _recorded_at()
    rows = []
    for e in entries:
        seq += 1
        body = _body(seq, at, e)
        digest = chain(prev, body)
        rows.append((body, prev, digest))
        prev = digest
    if rows:  # seq and the other columns are generated from the body
        _insert(conn, rows)
    return seq


#: How :func:`verify` knew the columns say what the body says.
GENERATED = "generated from the body"
COMPARED = "compared with the body, entry by entry"
#: What the report says when no anchor was compared (``dossier ledger verify --no-anchor``).
NOT_COMPARED = ("not compared: only the chain was checked, which a ledger re-chained by the "
                "database owner would pass")
#: The anchor keeps ``(seq, entry_hash)`` of every this-many-th entry besides the head, so a
#: re-chained ledger is named to within this many entries instead of "somewhere before the
#: head". 1M entries make a 1,000-line anchor of about 90 kB.
CHECKPOINT_EVERY = 1_000
#: The progress step :func:`verify` reports.
VERIFY_STEP = "re-hashing the ledger"


@dataclass(frozen=True)
class Verification:
    entries_checked: int
    first_broken: dict[str, Any] | None
    head: str | None
    #: :data:`GENERATED`, or :data:`COMPARED` because they no longer are (see ``warnings``).
    columns: str = GENERATED
    warnings: tuple[str, ...] = ()
    #: The anchor compared (its file, anchored seq and checkpoints), else why none was.
    anchor: dict[str, Any] | str = NOT_COMPARED

    @property
    def ok(self) -> bool:
        return self.first_broken is None

    def as_dict(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "entries_checked": self.entries_checked, "first_broken": self.first_broken,
            "head": self.head, "columns": self.columns, "anchor": self.anchor}
        if self.warnings:
            report["warnings"] = list(self.warnings)
        return report


class AnchorMissing(CannotRun):
    """The anchor to compare with is not there: the check could not run (exit 2), rather
    than pass having compared nothing (Arts. 11, 13)."""

    def __init__(self, anchor_file: Path):
        self.anchor_file = anchor_file
        super().__init__(f"ledger anchor {anchor_file}: no such file, so nothing outside the "
                         "database can be compared with the ledger")


def verify(conn: Connection, anchor_file: Path | None = None, batch: int = 50_000, *,
           progress: Progress = no_progress) -> Verification:
    """Re-hash the whole ledger in order; name the first entry that does not chain, or whose
    columns differ from its body; then compare the head and checkpoints with ``anchor_file``.

    ``anchor_file=None`` compares no anchor, and the report says so (:data:`NOT_COMPARED`);
    a file that does not exist raises :class:`AnchorMissing` before anything is read.

    Reads through a server-side cursor straight from the driver: this is the hot loop of
    ``make bench`` (1M entries), so progress is reported once per fetched batch. While the
    catalog shows every column generated from the body by the schema's expression, the
    columns cannot differ from it and no row is parsed; if one is not (its expression
    dropped or replaced, which only the owner can do), every entry's columns are compared
    with its body too (slower, but names the first that differ).
    """
    recorded = read_anchor(anchor_file) if anchor_file is not None else None
    problems, present = derivation_problems(conn)
    compare = bool(problems)
    # A column dropped altogether reads as NULL: the first entry then differs from its body.
    columns = "".join(f", {c if c in present else 'NULL'}" for c in DERIVED_COLUMNS) \
        if compare else ""
    total = conn.execute(select(func.max(ledger_entry.c.seq))).scalar() or 0
    progress(VERIFY_STEP, 0, total)
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    broken: dict[str, Any] | None = None
    sha256 = hashlib.sha256
    raw = conn.connection.driver_connection
    with raw.cursor(name="ledger_verify") as cur:  # type: ignore[union-attr]
        cur.execute(f"SELECT seq, body, prev_hash, entry_hash{columns} "
                    "FROM ledger_entry ORDER BY seq")
        while broken is None and (rows := cur.fetchmany(batch)):
            for row in rows:
                seq, body, prev_hash, entry_hash = row[:4]
                if seq != expected_seq:
                    broken = {"seq": seq, "reason": f"sequence gap: expected entry {expected_seq}"}
                elif prev_hash != expected_prev:
                    broken = {"seq": seq,
                              "reason": "prev_hash does not match the previous entry's hash"}
                elif sha256(expected_prev + body.encode()).digest() != entry_hash:
                    broken = {"seq": seq,
                              "reason": "entry_hash does not match its content (content altered)"}
                elif compare and (differing := columns_differing(body, row[4:])):
                    broken = {"seq": seq, "reason": differing}
                if broken:
                    break
                checked += 1
                expected_prev, expected_seq = entry_hash, seq + 1
            progress(VERIFY_STEP, checked, total)
    how, warnings = (COMPARED, tuple(problems)) if compare else (GENERATED, ())
    if broken:
        return Verification(checked, broken, expected_prev.hex(), how, warnings,
                            "not compared: the chain itself is broken")
    head = expected_prev.hex() if checked else None
    if recorded is None or anchor_file is None:
        return Verification(checked, None, head, how, warnings)
    compared = {"anchor_file": str(anchor_file), "seq": recorded.seq,
                "checkpoints": len(recorded.checkpoints)}
    return Verification(checked, _check_anchor(conn, anchor_file, recorded), head, how, warnings,
                        compared)


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


@dataclass(frozen=True)
class Anchor:
    """What an anchor file records: the head, and ``(seq, entry_hash)`` of every
    :data:`CHECKPOINT_EVERY`-th entry up to it (none in an anchor written before
    checkpoints existed, which is still read: it names only the head)."""

    seq: int
    entry_hash: str
    checkpoints: tuple[tuple[int, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "entry_hash": self.entry_hash,
                "checkpoints": [list(c) for c in self.checkpoints]}


def anchor(conn: Connection, anchor_file: Path) -> dict[str, Any]:
    """Write the current head (seq and hash) and the checkpoints up to it outside the
    database; returns the head and how many checkpoints were kept.

    The file is replaced whole (written beside it, then renamed), so a crash never leaves a
    half-written anchor that the next verification would refuse.
    """
    head = conn.execute(
        select(ledger_entry.c.seq, ledger_entry.c.entry_hash)
        .order_by(ledger_entry.c.seq.desc()).limit(1)
    ).first()
    if head is None:
        record = Anchor(0, GENESIS.hex())
    else:
        # Index look-ups of every CHECKPOINT_EVERY-th seq, not a scan of the whole table.
        points = conn.execute(text(
            "SELECT e.seq, e.entry_hash FROM ledger_entry e JOIN generate_series("
            "CAST(:every AS bigint), CAST(:head AS bigint), CAST(:every AS bigint)) AS s(seq) "
            "ON e.seq = s.seq ORDER BY e.seq"), {"every": CHECKPOINT_EVERY, "head": head.seq}).all()
        record = Anchor(head.seq, bytes(head.entry_hash).hex(),
                        tuple((p.seq, bytes(p.entry_hash).hex()) for p in points))
    anchor_file.parent.mkdir(parents=True, exist_ok=True)
    partial = anchor_file.with_name(f".{anchor_file.name}.partial")
    partial.write_text(json.dumps(record.as_dict()) + "\n")
    partial.replace(anchor_file)
    return {"seq": record.seq, "entry_hash": record.entry_hash,
            "checkpoints": len(record.checkpoints)}


def read_anchor(anchor_file: Path) -> Anchor:
    """The anchor in ``anchor_file``; :class:`AnchorMissing` when there is none, and
    :class:`CannotRun` naming the file when it is not an anchor."""
    try:
        raw = anchor_file.read_text()
    except FileNotFoundError:
        raise AnchorMissing(anchor_file) from None
    try:
        record = json.loads(raw)
        checkpoints = tuple((int(seq), str(digest))
                            for seq, digest in record.get("checkpoints", []))
        return Anchor(int(record["seq"]), str(record["entry_hash"]), checkpoints)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise CannotRun(f"ledger anchor {anchor_file}: not a ledger anchor (JSON with seq, "
                        "entry_hash and checkpoints)") from None


def _check_anchor(conn: Connection, anchor_file: Path, recorded: Anchor) -> dict[str, Any] | None:
    """Where the ledger stops agreeing with the anchor, or None when it agrees.

    A re-chain rewrites every hash from the first entry changed onwards, so the checkpoints
    before it still match and the ones from it on do not: the divergence lies after the last
    checkpoint that matches and at or before the first that differs. Genesis (seq 0) always
    matches; an old anchor without checkpoints can only say "at or before the head".
    """
    if recorded.seq == 0:
        return None
    points = sorted({*recorded.checkpoints, (recorded.seq, recorded.entry_hash)})
    stored = dict(conn.execute(
        select(ledger_entry.c.seq, ledger_entry.c.entry_hash)
        .where(ledger_entry.c.seq.in_([seq for seq, _ in points]))
    ).tuples().all())
    last_matching = 0
    for seq, digest in points:
        found = stored.get(seq)
        if found is not None and bytes(found).hex() == digest:
            last_matching = seq
            continue
        where = (f"between seq {last_matching} and seq {seq}" if seq > last_matching + 1
                 else f"at seq {seq}")
        missing = "" if found is not None else f" (the ledger has no entry {seq} any more)"
        return {"seq": seq, "last_matching_seq": last_matching,
                "reason": f"the ledger diverges from the anchor in {anchor_file} {where}"
                          f"{missing}: re-chained or rewritten there"}
    return None
