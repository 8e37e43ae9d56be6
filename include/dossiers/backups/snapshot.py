"""One consistent view of the database for a backup and its manifest (Arts. 14, 18).

:func:`exported_snapshot` opens a REPEATABLE READ, read-only transaction and exports its
snapshot (``pg_export_snapshot()``); while it stays open, ``pg_dump --snapshot`` dumps
exactly what this transaction sees (the key ring's own backup is read in the same
transaction), however busy the database is meanwhile.

A table's digest is the SHA-256 of its rows as ``COPY … TO STDOUT`` text, and its row
count that text's line count, computed streaming (never the whole table in memory), in one
of two orders (the manifest says which: ``database.digest``):

* :data:`DUMP_ORDER` (backups since the directory format): the rows in the order
  ``pg_dump`` wrote them — the table's own ``.dat`` file in the dump, hashed as it is packed
  (:mod:`dossiers.backups.dumpdir`), so the manifest hashes exactly the data the backup
  stores and the server serialises every row once. A restored table is loaded by one
  ``COPY`` into a new heap, so a plain ``COPY schema.table TO STDOUT`` of it (sequential
  scan from block 0: ``synchronize_seqscans`` off) gives the same bytes.
* ordered (older backups): ``COPY (SELECT * … ORDER BY <primary key>) TO STDOUT``; text
  columns of the key ordered ``COLLATE "C"``, so another cluster's collation does not
  reorder them. Still used for the key ring's own backup.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from dossiers.backups.tools import libpq_env, libpq_url, pg_tool
from dossiers.core.errors import CannotRun, Refused

#: The schema of the data keys (``dossiers.core.schema.KEYRING_SCHEMA``): never in a data
#: backup (Art. 18; crypto-shredding, Art. 17).
KEYRING_SCHEMA = "keyring"
#: Session advisory lock held for a whole backup run: one backup at a time, and a
#: ``running`` row whose lock is free belongs to a run that died.
BACKUP_LOCK = 0x6261636B7570  # "backup"


@dataclass(frozen=True)
class Snapshot:
    conn: psycopg.Connection[Any]
    snapshot_id: str
    taken_at: datetime
    server_major: int
    role: str


#: ``database.digest`` of a manifest whose table digests hash the dump's own COPY text.
DUMP_ORDER = "dump-order COPY text sha256"
#: The session settings ``pg_dump`` writes its COPY text under, and a restored copy is
#: hashed under (``TimeZone`` pinned: ``pg_dump`` runs with ``PGTZ=UTC``).
DUMP_SETTINGS = ("SET synchronize_seqscans = off", "SET TimeZone = 'UTC'",
                 "SET DateStyle = 'ISO'", "SET IntervalStyle = 'postgres'",
                 "SET extra_float_digits = 3", "SET search_path = ''")


@dataclass(frozen=True)
class TableDigest:
    rows: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "sha256": self.sha256}


class Digesting:
    """A table's digest, fed chunk by chunk: the one place COPY text is hashed and counted."""

    def __init__(self) -> None:
        self._sha, self._rows = hashlib.sha256(), 0

    def update(self, chunk: bytes | bytearray | memoryview, end: int | None = None) -> None:
        """Hash ``chunk`` (its first ``end`` bytes when given)."""
        if not isinstance(chunk, bytes):
            chunk = bytes(chunk)
        if end is None:
            self._sha.update(chunk)
            self._rows += chunk.count(b"\n")
        else:
            self._sha.update(memoryview(chunk)[:end])
            self._rows += chunk.count(b"\n", 0, end)

    def result(self) -> TableDigest:
        return TableDigest(self._rows, self._sha.hexdigest())


def digest_of(chunks: Iterable[bytes | bytearray | memoryview]) -> TableDigest:
    digesting = Digesting()
    for chunk in chunks:
        digesting.update(chunk)
    return digesting.result()


#: The digest of a table with no rows.
EMPTY = digest_of(())


def check_backup_role(conn: psycopg.Connection[Any]) -> str:
    """Refuse a role that could dump fewer rows than there are (Arts. 14, 18).

    Under row-level security a role without BYPASSRLS sees only the rows its policies let it
    (``pg_dump --enable-row-security`` then dumps those, possibly none, without an error):
    the backup role must be a superuser or hold BYPASSRLS, and read every table.
    """
    role, superuser, bypass = conn.execute(
        "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
    ).fetchone() or ("?", False, False)
    if not (superuser or bypass):
        raise Refused(f"role {role} lacks BYPASSRLS: under row-level security it would back up "
                      "only the rows its policies show it; back up as the database owner or a "
                      "role WITH BYPASSRLS (Arts. 14, 18)", record="backup role")
    unreadable = conn.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg_toast%' AND NOT has_table_privilege(c.oid, 'SELECT') "
        "ORDER BY 1 LIMIT 5").fetchall()
    if unreadable:
        names = ", ".join(r[0] for r in unreadable)
        raise Refused(f"role {role} cannot read {names}: the backup role must read every row "
                      "(Arts. 14, 18)", record="backup role")
    return str(role)


@contextmanager
def exported_snapshot(url: str) -> Iterator[Snapshot]:
    """A read-only REPEATABLE READ transaction and its exported snapshot, open until exit.

    The session also holds :data:`BACKUP_LOCK`; a second backup is refused meanwhile.
    """
    conn = psycopg.connect(libpq_url(url), application_name="dossier-backup")
    try:
        role = check_backup_role(conn)
        conn.rollback()
        locked = conn.execute("SELECT pg_try_advisory_lock(%s)", (BACKUP_LOCK,)).fetchone()
        conn.commit()
        if not (locked and locked[0]):
            raise Refused("another backup is running on this database; wait for it to finish",
                          record="backup")
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        row = conn.execute("SELECT pg_export_snapshot(), now(), "
                           "current_setting('server_version_num')::int / 10000").fetchone()
        assert row is not None
        yield Snapshot(conn, str(row[0]), row[1], int(row[2]), role)
    finally:
        conn.close()  # ends the transaction and releases the lock


def relations(conn: psycopg.Connection[Any], *, schemas: tuple[str, ...] | None = None,
              exclude: tuple[str, ...] = ()) -> list[tuple[int, str, str, str]]:
    """Every ordinary and partitioned table as ``(oid, schema, name, relkind)``, in name
    order."""
    rows = conn.execute(
        "SELECT c.oid::bigint, n.nspname, c.relname, c.relkind::text FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' "
        "ORDER BY 2, 3").fetchall()
    return [(int(o), s, t, k) for o, s, t, k in rows
            if (schemas is None or s in schemas) and s not in exclude]


def tables(conn: psycopg.Connection[Any], *, schemas: tuple[str, ...] | None = None,
           exclude: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Every ordinary table as ``(schema, name)``, in name order."""
    return [(s, t) for _, s, t, _ in relations(conn, schemas=schemas, exclude=exclude)]


def _order_by(conn: psycopg.Connection[Any], schema: str, table: str) -> sql.Composable:
    key = conn.execute(
        "SELECT a.attname, t.typcollation <> 0 FROM pg_index i "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary "
        "ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (f'"{schema}"."{table}"',)).fetchall()
    if not key:  # no primary key: the whole row, as text, byte order
        return sql.SQL('ORDER BY t::text COLLATE "C"')
    return sql.SQL("ORDER BY ") + sql.SQL(", ").join(
        sql.SQL('{} COLLATE "C"').format(sql.Identifier(name)) if collatable
        else sql.Identifier(name) for name, collatable in key)


def _copy_query(conn: psycopg.Connection[Any], schema: str, table: str) -> sql.Composed:
    """``COPY (SELECT * … ORDER BY <primary key>) TO STDOUT``: what a table's digest hashes."""
    return sql.SQL("COPY (SELECT * FROM {}.{} AS t {}) TO STDOUT").format(
        sql.Identifier(schema), sql.Identifier(table), _order_by(conn, schema, table))


def table_digest(conn: psycopg.Connection[Any], schema: str, table: str) -> TableDigest:
    """The ordered digest, read on ``conn`` (row by row: for small tables)."""
    with conn.cursor() as cur, cur.copy(_copy_query(conn, schema, table)) as copy:
        return digest_of(copy)


def table_digests(conn: psycopg.Connection[Any], *, schemas: tuple[str, ...] | None = None,
                  exclude: tuple[str, ...] = ()) -> dict[str, TableDigest]:
    """``schema.table`` -> its digest, for every table (as this connection sees them)."""
    return {f"{s}.{t}": table_digest(conn, s, t)
            for s, t in tables(conn, schemas=schemas, exclude=exclude)}


class TableHasher:
    """Every table's digest, read on sessions of their own while the caller waits or does
    something else: a restored copy compared with its manifest.

    ``dump_order``: the :data:`DUMP_ORDER` digest (``COPY schema.table TO STDOUT`` under
    :data:`DUMP_SETTINGS`; a partitioned table has no rows of its own: :data:`EMPTY`);
    otherwise the ordered one, as :func:`table_digest`. Each table is read by ``psql`` and
    hashed in 1 MiB chunks, not row by row in Python (psycopg hands a ``COPY`` over one row
    at a time, which cost more than the server's own work). ``workers`` tables are read at
    once. Memory stays bounded (one chunk per table being read).
    """

    def __init__(self, conn: psycopg.Connection[Any], url: str, server_major: int, *,
                 exclude: tuple[str, ...] = (), workers: int = 1,
                 dump_order: bool = False) -> None:
        self._names = [f"{s}.{t}" for _, s, t, _ in relations(conn, exclude=exclude)]
        self._queries: list[tuple[str, str]] = []
        for _, s, t, kind in relations(conn, exclude=exclude):
            if not dump_order:
                self._queries.append((f"{s}.{t}", _copy_query(conn, s, t).as_string(conn)))
            elif kind != "p":
                self._queries.append((f"{s}.{t}", sql.SQL("COPY {}.{} TO STDOUT").format(
                    sql.Identifier(s), sql.Identifier(t)).as_string(conn)))
        self._opening = [arg for setting in (DUMP_SETTINGS if dump_order else ())
                         for arg in ("-c", setting)]
        self._opening += ["-c", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"]
        self._psql = pg_tool("psql", server_major)
        self._env = libpq_env(url)
        self._workers = max(1, workers)
        self._stopping = threading.Event()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._digests: dict[str, TableDigest] = {}
        self._error: BaseException | None = None
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="table-digests", daemon=True)

    def __enter__(self) -> TableHasher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        with self._lock:
            for proc in self._running:
                if proc.poll() is None:
                    proc.kill()
        self._thread.join()

    def result(self) -> dict[str, TableDigest]:
        """Wait for every table's digest (in table order); raises what stopped the hashing."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return {name: self._digests.get(name, EMPTY) for name in self._names}

    def _run(self) -> None:
        started = time.monotonic()
        try:
            with ThreadPoolExecutor(self._workers, thread_name_prefix="table-digest") as pool:
                for name, digest in zip([n for n, _ in self._queries],
                                        pool.map(self._digest, self._queries), strict=True):
                    self._digests[name] = digest
        except BaseException as exc:  # handed to result()
            self._stopping.set()
            self._error = exc
        finally:
            self.seconds = time.monotonic() - started

    def _digest(self, item: tuple[str, str]) -> TableDigest:
        name, query = item
        if self._stopping.is_set():
            raise CannotRun("table digests stopped before every table was hashed")
        args = [self._psql, "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1",
                *self._opening, "-c", query, "-c", "COMMIT"]
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors, env=self._env)
            with self._lock:
                self._running.add(proc)
                if self._stopping.is_set():
                    proc.kill()
            assert proc.stdout is not None
            try:
                with proc.stdout:
                    digest = digest_of(iter(lambda: proc.stdout.read(1 << 20), b""))  # type: ignore[union-attr]
                returncode = proc.wait()
            finally:
                with self._lock:
                    self._running.discard(proc)
            if returncode != 0:
                errors.seek(0)
                said = errors.read().decode(errors="replace").strip().splitlines()
                raise CannotRun(f"hashing {name} failed ({returncode}): "
                                f"{said[-1] if said else 'no message'}")
        return digest


def ledger_head(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    row = conn.execute("SELECT seq, entry_hash FROM ledger_entry ORDER BY seq DESC LIMIT 1"
                       ).fetchone()
    return {"seq": int(row[0]), "entry_hash": bytes(row[1]).hex()} if row else \
        {"seq": 0, "entry_hash": None}
