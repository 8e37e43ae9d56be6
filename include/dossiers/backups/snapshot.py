"""One consistent view of the database for a backup and its manifest (Arts. 14, 18).

:func:`exported_snapshot` opens a REPEATABLE READ, read-only transaction and exports its
snapshot (``pg_export_snapshot()``); while it stays open, ``pg_dump --snapshot`` dumps
exactly what this transaction sees, and :func:`table_digests` hashes every table in the
same view. So the manifest's row counts and hashes describe the dump itself, however busy
the database is meanwhile.

A table's digest is the SHA-256 of ``COPY (SELECT * … ORDER BY <primary key>) TO STDOUT``:
the same rows give the same bytes in the source and in a restored copy (text columns of the
key are ordered ``COLLATE "C"``, so another cluster's collation does not reorder them), and
it is computed streaming, never the whole table in memory. Its row count is its line count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from dossiers.backups.tools import libpq_url
from dossiers.core.errors import Refused

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


@dataclass(frozen=True)
class TableDigest:
    rows: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "sha256": self.sha256}


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


def tables(conn: psycopg.Connection[Any], *, schemas: tuple[str, ...] | None = None,
           exclude: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Every ordinary table as ``(schema, name)``, in name order."""
    rows = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' "
        "ORDER BY 1, 2").fetchall()
    return [(s, t) for s, t in rows
            if (schemas is None or s in schemas) and s not in exclude]


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


def table_digest(conn: psycopg.Connection[Any], schema: str, table: str) -> TableDigest:
    query = sql.SQL("COPY (SELECT * FROM {}.{} AS t {}) TO STDOUT").format(
        sql.Identifier(schema), sql.Identifier(table), _order_by(conn, schema, table))
    digest, rows = hashlib.sha256(), 0
    with conn.cursor() as cur, cur.copy(query) as copy:
        for data in copy:
            digest.update(data)
            rows += bytes(data).count(b"\n")
    return TableDigest(rows, digest.hexdigest())


def table_digests(conn: psycopg.Connection[Any], *, schemas: tuple[str, ...] | None = None,
                  exclude: tuple[str, ...] = ()) -> dict[str, TableDigest]:
    """``schema.table`` -> its digest, for every table (as this connection sees them)."""
    return {f"{s}.{t}": table_digest(conn, s, t)
            for s, t in tables(conn, schemas=schemas, exclude=exclude)}


def ledger_head(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    row = conn.execute("SELECT seq, entry_hash FROM ledger_entry ORDER BY seq DESC LIMIT 1"
                       ).fetchone()
    return {"seq": int(row[0]), "entry_hash": bytes(row[1]).hex()} if row else \
        {"seq": 0, "entry_hash": None}
