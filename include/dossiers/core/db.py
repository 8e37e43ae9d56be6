"""Connections to the dossier database, and its migrations.

``DOSSIER_DATABASE_URL`` names the database; unset, the embedded PostgreSQL under
``.dossier/`` is started and used (``cli.md``). Application sessions run as the
``dossier_app`` role, which the ledger refuses UPDATE and DELETE to (Arts. 11, 13);
migrations run as the connecting (owner) role.
"""

from __future__ import annotations

import functools
import os
import select
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
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
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
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


def _engine(url: str, app_role: bool) -> Engine:
    if (url, app_role) in _ENGINES:
        return _ENGINES[(url, app_role)]
    engine = create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8)
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

class DriverStatement:
    """A SQLAlchemy statement compiled once into the SQL and parameters psycopg takes.

    SQLAlchemy's ``execute`` reads each statement's result before the next is sent, so it
    cannot pipeline. The few hot paths that send several statements in one round trip run
    them through :class:`Autocommit` on the driver connection itself, with the statements
    still built by SQLAlchemy (the same tables, columns and types).
    """

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: tuple[str, dict[str, Any]] | None = None

    def bind(self, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The SQL and its parameters: the statement's own constants, then ``params``."""
        if self._compiled is None:
            compiled = self.statement.compile(dialect=DRIVER_DIALECT)
            self._compiled = (str(compiled), dict(compiled.params))
        sql, constants = self._compiled
        return sql, {**constants, **params}


class Autocommit:
    """A pooled connection whose statements commit on their own, each when its round trip
    ends (see :func:`autocommit`). ``conn`` is the SQLAlchemy connection it came from (a
    refusal is logged through its engine, in a transaction of its own, as everywhere)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.driver: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]

    def first_rows(self, *calls: tuple[DriverStatement, Mapping[str, Any]]) -> list[Any]:
        """Each statement's first row (attributes by column name) or ``None``, the statements
        sent together and answered in one round trip (psycopg's pipeline mode)."""
        with self._as_sqlalchemy_errors():
            with self.driver.pipeline():
                cursors = [self.driver.cursor(row_factory=namedtuple_row).execute(*s.bind(p))
                           for s, p in calls]
            return [c.fetchone() for c in cursors]

    def execute(self, statement: DriverStatement, params: Mapping[str, Any]) -> None:
        """One statement, committed (and flushed to the WAL) when this returns."""
        with self._as_sqlalchemy_errors():
            self.driver.execute(*statement.bind(params))

    @contextmanager
    def _as_sqlalchemy_errors(self) -> Iterator[None]:
        """Driver errors as SQLAlchemy's (the API answers those: 503, 409, 422); a broken
        connection is dropped from the pool."""
        try:
            yield
        except psycopg.Error as exc:
            lost = self.driver.closed or self.driver.broken
            if lost:
                self.conn.invalidate()
            raise DBAPIError.instance(None, None, exc, psycopg.Error, connection_invalidated=lost,
                                      dialect=self.conn.dialect) from exc


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


#: The driver's dialect, to compile hot statements to SQL text once (:func:`sql_text`).
DRIVER_DIALECT = psycopg_dialect.dialect()


def sql_text(statement: ClauseElement) -> str:
    """A statement compiled once to the driver's SQL text (``%(name)s`` placeholders, with
    the columns' casts), for :func:`run_together`: a hot path builds no statement objects
    and computes no cache keys per call (issue 16)."""
    return str(statement.compile(dialect=DRIVER_DIALECT))


def insert_sql(table: Table, columns: Sequence[str]) -> str:
    """One row's INSERT into ``table`` as SQL text, each column bound as ``%(column)s``."""
    from sqlalchemy import bindparam, insert

    return sql_text(insert(table).inline().values(
        {c: bindparam(c, type_=table.c[c].type) for c in columns}))


#: A pre-built statement and its parameters.
Statement = tuple[str, Mapping[str, Any] | Sequence[Any]]


def run_together(conn: Connection, statements: Sequence[Statement]) -> list[list[Any] | None]:
    """Run pre-built statements in order in the caller's transaction, in ONE round trip
    (the driver's pipeline mode; each statement prepared on the server once per
    connection); each one's rows (named tuples), or None for a statement returning none.

    Each statement still runs on its own, with its own snapshot (READ COMMITTED), in order:
    a later statement sees what an earlier one did and what others committed meanwhile
    (the ledger reads its head after its lock is held). The first failing statement
    aborts the rest and raises the same SQLAlchemy error as :meth:`Connection.execute`.
    """
    import psycopg
    from psycopg.rows import namedtuple_row

    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    cursors = []
    try:
        with raw.pipeline():
            for sql, params in statements:
                cursor = raw.cursor(row_factory=namedtuple_row)
                cursor.execute(sql, params, prepare=True)
                cursors.append(cursor)
        return [cursor.fetchall() if cursor.description is not None else None
                for cursor in cursors]
    except psycopg.Error as exc:
        raise DBAPIError.instance("; ".join(sql for sql, _ in statements), None, exc,
                                  psycopg.Error) from exc
    finally:
        for cursor in cursors:
            cursor.close()


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
