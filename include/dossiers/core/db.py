"""Connections to the dossier database, and its migrations.

``DOSSIER_DATABASE_URL`` names the database; unset, the embedded PostgreSQL under
``.dossier/`` is started and used (``cli.md``). Application sessions run as the
``dossier_app`` role, which the ledger refuses UPDATE and DELETE to (Arts. 11, 13);
migrations run as the connecting (owner) role.
"""

from __future__ import annotations

import functools
import os
import re
import select
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import namedtuple_row
from sqlalchemy import (
    ARRAY,
    UUID,
    Connection,
    Engine,
    Table,
    Text,
    any_,
    create_engine,
    event,
    literal,
    make_url,
)
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, StatementError
from sqlalchemy.sql import ClauseElement

from dossiers.core import embedded
from dossiers.core.config import PROJECT_ROOT, database_url_setting
from dossiers.core.errors import CannotRun, Unreachable

APP_ROLE = "dossier_app"
MIGRATIONS = Path(os.environ.get("DOSSIER_MIGRATIONS_DIR") or PROJECT_ROOT / "sql" / "migrations")


def database_url() -> str:
    """The configured database URL, or the embedded server's (started if needed)."""
    url = database_url_setting()
    if url is None:
        return normalise_url(embedded.ensure_running().url)
    return checked_url(url, "DOSSIER_DATABASE_URL")


def normalise_url(url: str) -> str:
    """Accept libpq-style ``postgres://`` / ``postgresql://`` URLs; use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@functools.lru_cache(maxsize=64)  # every unit of work checks the configured URL (issue 16)
def checked_url(url: str, source: str = "the dossier database URL") -> str:
    """``url`` normalised, or :class:`CannotRun` naming ``source`` and what is wrong with it.

    A URL SQLAlchemy cannot parse, with a port that is not a number, or for another database
    would otherwise end in a traceback, and for ``ledger verify`` in exit 1, which means "the
    ledger is broken" (``cli.md``). The URL itself is not repeated: it may hold a password.
    """
    normal = normalise_url(url)
    try:
        parsed = make_url(normal)
    except ArgumentError:
        reason = "not a database URL (expected postgresql://USER@HOST:PORT/DATABASE)"
    except ValueError:
        reason = "the port is not a number (expected postgresql://USER@HOST:PORT/DATABASE)"
    else:
        if parsed.get_backend_name() != "postgresql":
            reason = (f"a {parsed.get_backend_name()} URL; the dossier database is PostgreSQL "
                      "(postgresql://USER@HOST:PORT/DATABASE)")
        elif parsed.drivername != "postgresql+psycopg":
            reason = (f"driver {parsed.get_driver_name()}; the dossier database is reached "
                      "through psycopg 3 (postgresql:// or postgresql+psycopg://)")
        elif parsed.port is not None and not 0 < parsed.port < 65536:
            reason = f"port {parsed.port} is not between 1 and 65535"
        else:
            return normal
    raise CannotRun(f"{source}: {reason}")


def describe(url: str) -> str:
    """Where a URL points, without its password (for messages and logs)."""
    u = make_url(url)
    return f"{u.host or 'localhost'}:{u.port or 5432}/{u.database}"


_ENGINES: dict[tuple[str, bool], Engine] = {}

#: Connections a process's pool keeps once it has opened them, and how many more it may
#: open for a moment (closed again when handed back). An API process runs up to
#: ``dossiers.api.deps.UNITS_AT_ONCE`` units of work at once, each holding at most two
#: connections: all of them stay open between requests, so a busy moment does not open and
#: close a connection per request (issue 16: 267 connections opened in one read benchmark
#: with 4 kept, 18 with 12). A pool opens connections only when asked, so a CLI command or a
#: task holds as many as it used at once.
POOL_SIZE, POOL_OVERFLOW = 12, 4


def _engine(url: str, app_role: bool) -> Engine:
    if (url, app_role) in _ENGINES:
        return _ENGINES[(url, app_role)]
    engine = create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE,
                           max_overflow=POOL_OVERFLOW)
    # The pool still tests every connection it hands out, but without a round trip while
    # the connection's socket is quiet (issue 16): see :func:`_quiet_or_ping`.
    engine.dialect.do_ping = _quiet_or_ping(engine.dialect.do_ping)  # type: ignore[method-assign,assignment]
    _ENGINES[(url, app_role)] = engine
    if app_role:
        @event.listens_for(engine, "connect")
        def _set_role(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET ROLE {APP_ROLE}")
            dbapi_conn.commit()
    return engine


def _quiet_or_ping(ping: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """The pool's liveness test of a connection it is about to hand out: no round trip when
    the connection is idle, open, and nothing has arrived on its socket since it was last
    used; the full ping (``ping``, a query) otherwise.

    A backend that goes away (a server restarted or stopped, ``pg_terminate_backend``, a
    crash) sends its FATAL message and closes the socket, which makes the socket readable:
    the full ping then fails, and the pool replaces the connection before the unit of work
    sees it, as before. Anything else on an idle connection's socket (a notice) also costs
    the full ping, never a wrong answer. What a quiet socket cannot tell is a peer that
    vanished without closing (a network cut): the unit of work then fails with the usual
    "cannot connect"/operational error and the pool replaces the connection for the next.
    """
    from psycopg.pq import ConnStatus, TransactionStatus

    def quiet_or_ping(dbapi_connection: Any) -> bool:
        pgconn = dbapi_connection.pgconn
        if (pgconn.status == ConnStatus.OK
                and pgconn.transaction_status == TransactionStatus.IDLE
                and not select.select([pgconn.socket], [], [], 0)[0]):
            return True
        return ping(dbapi_connection)

    return quiet_or_ping


def dispose(url: str | None = None) -> None:
    """Close pooled connections (of one database, or all), e.g. before dropping it."""
    for (engine_url, app_role), engine in list(_ENGINES.items()):
        if url is None or engine_url == normalise_url(url):
            engine.dispose()
            del _ENGINES[(engine_url, app_role)]
            _REACHED.discard((engine_url, app_role))


#: Engines that have connected once. Later units of work skip the test connection (two
#: more round trips per transaction, issue 16): a server gone since is reported by
#: :func:`transaction` in the same words when it cannot connect.
_REACHED: set[tuple[str, bool]] = set()


def _unreachable(url: str, exc: OperationalError) -> Unreachable:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
    return Unreachable(f"cannot connect to the dossier database at {describe(url)}: {reason}")


def get_engine(url: str | None = None, *, app_role: bool = True) -> Engine:
    """An engine for the dossier database; fails with one clear line when it is unreachable."""
    url = checked_url(url) if url else database_url()
    engine = _engine(url, app_role)
    if (url, app_role) in _REACHED:
        return engine
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        raise _unreachable(url, exc) from None
    _REACHED.add((url, app_role))
    return engine


@contextmanager
def transaction(engine: Engine | None = None) -> Iterator[Connection]:
    """One unit of work: committed whole, or rolled back whole."""
    engine = engine or get_engine()
    try:
        connection = engine.connect()
    except OperationalError as exc:
        raise _unreachable(engine.url.render_as_string(hide_password=False), exc) from None
    with connection, connection.begin():
        yield connection


# --- the hot path's own round trips (issue 16) -------------------------------------------------

#: The driver's dialect, to compile hot statements to the driver's SQL once (:class:`DriverStatement`).
DRIVER_DIALECT = psycopg_dialect.dialect()


#: A statement's parameters: by name (``%(name)s``), or by position (``%s``).
Parameters = Mapping[str, Any] | Sequence[Any]


class DriverStatement:
    """A statement compiled once into the SQL text and constant parameters psycopg takes:
    the one compile-once form of every statement :func:`run_together` sends (issue 16).

    ``statement`` is a SQLAlchemy statement (the same tables, columns and types as
    everywhere; its ``%(name)s`` placeholders with the columns' casts, and the constants it
    was built with, e.g. ``allowed=True``, kept), or SQL text written for the driver (no
    constants). It is compiled on first use, so importing a module that defines one costs
    nothing; a hot path then builds no statement objects and computes no cache keys per call.
    """

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: ClauseElement | str) -> None:
        self.statement = statement
        self._compiled: tuple[str, dict[str, Any]] | None = (
            (statement, {}) if isinstance(statement, str) else None)

    @property
    def sql(self) -> str:
        """The statement's SQL text (as sent, and as named by an error)."""
        return self._compile()[0]

    def bind(self, params: Parameters | None) -> tuple[str, Parameters | None]:
        """The SQL and its parameters: the statement's own constants, then ``params``."""
        sql, constants = self._compile()
        if not constants:
            return sql, params
        assert isinstance(params, Mapping), "a statement with constants takes named parameters"
        return sql, {**constants, **params}

    def _compile(self) -> tuple[str, dict[str, Any]]:
        if self._compiled is None:
            assert not isinstance(self.statement, str)
            compiled = self.statement.compile(dialect=DRIVER_DIALECT)
            self._compiled = (str(compiled), dict(compiled.params))
        return self._compiled

    def __repr__(self) -> str:
        return f"DriverStatement({self.sql!r})"


def insert_sql(table: Table, columns: Sequence[str]) -> DriverStatement:
    """One row's INSERT into ``table``, each column bound as ``%(column)s``."""
    from sqlalchemy import bindparam, insert

    return DriverStatement(insert(table).inline().values(
        {c: bindparam(c, type_=table.c[c].type) for c in columns}))


#: A statement and its parameters, as :func:`run_together` takes them.
Statement = tuple[DriverStatement, Parameters]

_BEGIN = DriverStatement("BEGIN")


def run_together(conn: Connection, statements: Sequence[Statement]) -> list[list[Any] | None]:
    """Run statements in order on ``conn``, in ONE round trip (the driver's pipeline mode;
    each statement prepared on the server once per connection); each one's rows (named
    tuples, attributes by column name), or None for a statement returning none. The one
    runner of every hot path that sends statements together (issue 16): a step's writes
    with the ledger's lock and head in the caller's transaction, and the API's dossier read
    on a connection in autocommit (:func:`autocommit`), where they commit together when
    the round trip ends.

    Each statement still runs on its own, with its own snapshot (READ COMMITTED), in order:
    a later statement sees what an earlier one did and what others committed meanwhile
    (the ledger reads its head after its lock is held). The first failing statement
    aborts the rest and raises the SQLAlchemy error :meth:`Connection.execute` raises
    (IntegrityError, OperationalError, ...), naming that statement alone; a connection
    the failure broke (a server gone, ``pg_terminate_backend``) is invalidated, so the pool
    never hands it out again.
    """
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    # The first statement of a transaction: psycopg would send its BEGIN and wait for the
    # answer (a round trip of its own, even in pipeline mode); it goes as the pipeline's
    # first statement instead, the connection in autocommit only while the pipeline is
    # sent, so psycopg adds none. The server is then in the transaction BEGIN opened, which
    # psycopg sees and ends (COMMIT, ROLLBACK) as its own.
    begin = not raw.autocommit and raw.pgconn.transaction_status == TransactionStatus.IDLE
    sent = [(_BEGIN, None), *statements] if begin else list(statements)
    cursors: list[psycopg.Cursor[Any]] = []
    try:
        if begin:
            raw.autocommit = True
        with raw.pipeline():
            for statement, params in sent:
                cursor = raw.cursor(row_factory=namedtuple_row)
                cursors.append(cursor)
                cursor.execute(*statement.bind(params), prepare=statement is not _BEGIN)
        return [cursor.fetchall() if cursor.description is not None else None
                for cursor in cursors[1 if begin else 0:]]
    except psycopg.Error as exc:
        raise _pipeline_error(conn, raw, exc, sent, cursors) from exc
    finally:
        if begin:
            # psycopg's own setter refuses inside a transaction; this restores what it was.
            raw._autocommit = False
        for cursor in cursors:
            cursor.close()


def _pipeline_error(conn: Connection, raw: psycopg.Connection[Any], exc: psycopg.Error,
                    statements: Sequence[tuple[DriverStatement, Parameters | None]],
                    cursors: Sequence[psycopg.Cursor[Any]]) -> StatementError:
    """``exc`` as SQLAlchemy's error (the API answers those: 503, 409, 422), naming the
    statement that failed: the first whose cursor got no result back (the ones before it
    did; the ones after it were aborted). A broken connection is dropped from the pool."""
    failed = next((i for i, c in enumerate(cursors) if c.pgresult is None), len(cursors) - 1)
    sql = statements[failed][0].sql if 0 <= failed < len(statements) else None
    lost = raw.closed or raw.broken
    if lost:
        conn.invalidate()
    return DBAPIError.instance(sql, None, exc, psycopg.Error, connection_invalidated=lost,
                               dialect=conn.dialect)


class Autocommit:
    """A pooled connection whose statements commit on their own, each round trip of
    :func:`run_together` when it ends (see :func:`autocommit`). ``conn`` is the SQLAlchemy
    connection it came from (a refusal is logged through its engine, in a transaction of
    its own, as everywhere)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.driver: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]


@contextmanager
def autocommit(engine: Engine | None = None) -> Iterator[Autocommit]:
    """A pooled connection in autocommit mode: no ``BEGIN``/``COMMIT`` round trips; each
    statement, or each pipeline of statements, is its own transaction, committed durably
    (``synchronous_commit`` as configured) before the call that sent it returns."""
    engine = engine or get_engine()
    try:
        connection = engine.connect()
    except OperationalError as exc:
        raise _unreachable(engine.url.render_as_string(hide_password=False), exc) from None
    with connection:
        unit = Autocommit(connection)
        unit.driver.autocommit = True
        try:
            yield unit
        finally:
            if not (unit.driver.closed or unit.driver.broken):
                try:
                    unit.driver.autocommit = False  # as the pool hands it to everyone else
                except psycopg.Error:
                    connection.invalidate()


def copy_rows(conn: Connection, table: Table, columns: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> None:
    """Bulk-insert rows with one COPY, inside the caller's transaction (hot intake paths)."""
    name = f"{table.schema}.{table.name}" if table.schema else table.name
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor, cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def copy_text(conn: Connection, table: Table, columns: Sequence[str], data: str) -> None:
    """Bulk-insert rows already in COPY's text format (lines of :func:`copy_line`, made
    where the values were, such as an import's worker processes) with one COPY and one
    write, inside the caller's transaction: no per-row call in this process (issue 16)."""
    if not data:
        return
    name = f"{table.schema}.{table.name}" if table.schema else table.name
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor, cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(data)


#: What COPY's text format escapes in a value (a backslash, and the delimiters).
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


#: NULL in COPY's text format.
NULL = "\\N"


def copy_text_value(value: str) -> str:
    """Text in COPY's text format: backslashes and delimiters escaped."""
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


def copy_value(value: Any) -> str:
    """One value in COPY's text format: ``\\N`` for NULL, text escaped, bytea as hex,
    dates and times in ISO 8601 (with their offset), booleans as ``t``/``f``."""
    if value is None:
        return NULL
    if isinstance(value, str):
        return copy_text_value(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\\\x" + bytes(value).hex()
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    return str(value)  # int, Decimal, UUID: no character to escape


def copy_line(values: Iterable[Any]) -> str:
    """One row in COPY's text format, ending with its newline (:func:`copy_text`)."""
    return "\t".join(map(copy_value, values)) + "\n"


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    # Alembic is imported by the migration commands only; every other command and the API
    # workers never load it.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> str:
    """Create or migrate the schema to ``revision``; returns the revision now current."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    url = checked_url(url) if url else database_url()
    engine = get_engine(url, app_role=False)
    try:
        command.upgrade(alembic_config(url), revision)
    except Exception as exc:  # a failed migration is rolled back whole (transactional DDL)
        raise CannotRun(f"migration to {revision} failed, nothing changed: {exc}") from exc
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() or "base"


def among(values: Iterable[uuid.UUID] | Iterable[str], *, text: bool = False) -> Any:
    """``= ANY(:values)`` with the values bound as one array parameter (UUIDs, or strings
    with ``text``): ``IN`` binds one parameter per value, and PostgreSQL's protocol stops
    at 65,535 (a sample of 1.3 M open dossiers)."""
    return any_(literal(list(values), ARRAY(Text() if text else UUID(as_uuid=True))))
