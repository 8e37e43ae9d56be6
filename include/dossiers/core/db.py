"""Connections to the dossier database, and its migrations.

``DOSSIER_DATABASE_URL`` names the database; unset, the embedded PostgreSQL under
``.dossier/`` is started and used (``cli.md``). Application sessions run as the
``dossier_app`` role, which the ledger refuses UPDATE and DELETE to (Arts. 11, 13);
migrations run as the connecting (owner) role.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
from sqlalchemy.exc import ArgumentError, OperationalError

from dossiers.core import embedded
from dossiers.core.config import PROJECT_ROOT, settings
from dossiers.core.errors import CannotRun, Unreachable

APP_ROLE = "dossier_app"
MIGRATIONS = Path(os.environ.get("DOSSIER_MIGRATIONS_DIR") or PROJECT_ROOT / "sql" / "migrations")


def database_url() -> str:
    """The configured database URL, or the embedded server's (started if needed)."""
    url = settings().database_url
    if url is None:
        return normalise_url(embedded.ensure_running().url)
    return checked_url(url, "DOSSIER_DATABASE_URL")


def normalise_url(url: str) -> str:
    """Accept libpq-style ``postgres://`` / ``postgresql://`` URLs; use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


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
    _ENGINES[(url, app_role)] = engine
    if app_role:
        @event.listens_for(engine, "connect")
        def _set_role(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET ROLE {APP_ROLE}")
            dbapi_conn.commit()
    return engine


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


def copy_rows(conn: Connection, table: Table, columns: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> None:
    """Bulk-insert rows with one COPY, inside the caller's transaction (hot intake paths)."""
    name = f"{table.schema}.{table.name}" if table.schema else table.name
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor, cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


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
