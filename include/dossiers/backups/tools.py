"""The PostgreSQL programs a backup runs (pg_dump, pg_restore, pg_amcheck), and how they
are pointed at a database without a password on their command line."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sqlalchemy import make_url

from dossiers.core import embedded
from dossiers.core.errors import CannotRun

#: The major version of the PostgreSQL programs the pgserver wheel ships.
EMBEDDED_MAJOR = 16


def pg_tool(name: str, server_major: int) -> str:
    """The program ``name`` of the server's major version when installed, else the
    embedded one (PostgreSQL 16, which reads and writes older servers), else ``$PATH``'s."""
    exact = Path(f"/usr/lib/postgresql/{server_major}/bin/{name}")
    if exact.is_file():
        return str(exact)
    if server_major <= EMBEDDED_MAJOR:
        try:
            shipped = Path(embedded.postgres_tool(name))
        except CannotRun:
            shipped = None
        if shipped is not None and shipped.is_file():
            return str(shipped)
    found = shutil.which(name)
    if found:
        return found
    raise CannotRun(f"{name} for PostgreSQL {server_major} is not installed (nor on PATH)")


def libpq_env(url: str) -> dict[str, str]:
    """The environment that points libpq programs at ``url`` (the password in PGPASSWORD,
    never on a command line another user could read)."""
    u = make_url(url)
    env = dict(os.environ)
    env.update({"PGHOST": u.host or "localhost", "PGPORT": str(u.port or 5432),
                "PGDATABASE": u.database or "postgres", "PGAPPNAME": "dossier-backup"})
    if u.username:
        env["PGUSER"] = u.username
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    env.pop("PGSERVICE", None)
    return env


def libpq_url(url: str) -> str:
    """``url`` as psycopg's own ``connect`` reads it (no SQLAlchemy driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
