"""An embedded PostgreSQL for machines without a server (``cli.md``: kept under ``.dossier/``).

Uses the PostgreSQL binaries shipped in the ``pgserver`` wheel, but starts the server
itself so that it listens on 127.0.0.1 (GX and Airflow connections want a host, not only a
unix socket). The server keeps running after the command that started it, so the CLI,
``make demo`` and a local Airflow share it; ``dossier db stop`` stops it.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg

from dossiers.core.config import home
from dossiers.core.errors import CannotRun

DATABASE = "dossiers"
SYSTEM_USER = "pgserver"


@dataclass(frozen=True)
class EmbeddedServer:
    pgdata: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE}"


def postgres_tool(name: str) -> str:
    """Path of a PostgreSQL 16 program shipped in the pgserver wheel (pg_dump, initdb, …)."""
    # Found without importing pgserver (its import warns and starts nothing we need).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise CannotRun("the embedded PostgreSQL (package pgserver) is not installed: run make install")
    return str(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name)


def _run_as() -> dict[str, object]:
    """PostgreSQL refuses to run as root: use an unprivileged system user then."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", SYSTEM_USER], check=True, capture_output=True)
    return {"user": SYSTEM_USER}


def _open_path_for(pgdata: Path) -> None:
    """Let the unprivileged server user traverse to its data folder and to its programs
    (the pgserver wheel in the project's ``.venv``): either may lie under a folder only
    root may enter (``mktemp -d``, pytest's /tmp/pytest-of-root). Traversal only: no
    folder becomes readable."""
    for target in (pgdata, Path(postgres_tool("pg_ctl"))):
        for parent in target.parents:
            mode = parent.stat().st_mode
            if mode & 0o001 == 0:
                parent.chmod(mode | 0o011)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _is_listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def ensure_running(root: Path | None = None) -> EmbeddedServer:
    """Initialise (once) and start (if stopped) the embedded server; return where it is."""
    pgdata = (root or home()) / "pg"
    port_file = pgdata.parent / "pg.port"
    run_as = _run_as()
    try:
        if not (pgdata / "PG_VERSION").exists():
            pgdata.mkdir(parents=True, exist_ok=True)
            if run_as:
                _open_path_for(pgdata)
                subprocess.run(["chown", "-R", SYSTEM_USER, str(pgdata)], check=True)
                pgdata.chmod(0o700)
            subprocess.run(
                [postgres_tool("initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--locale=C.UTF-8"],
                check=True, capture_output=True, **run_as,  # type: ignore[call-overload]
            )
        port = int(port_file.read_text()) if port_file.exists() else _free_port()
        if not _is_listening(port):
            if run_as:
                _open_path_for(pgdata)  # as in stop(): a parent may have been closed since
            if not port_file.exists() or _port_taken(port):
                port = _free_port()
            port_file.write_text(str(port))
            subprocess.run(
                [postgres_tool("pg_ctl"), "-D", str(pgdata), "-w", "-t", "60",
                 "-l", str(pgdata / "server.log"),
                 "-o", f"-h 127.0.0.1 -p {port} -k {pgdata}", "start"],
                check=True, capture_output=True, **run_as,  # type: ignore[call-overload]
            )
        server = EmbeddedServer(pgdata, port)
        _ensure_database(server)
        return server
    except (OSError, subprocess.CalledProcessError) as exc:
        lines = (getattr(exc, "stderr", b"") or b"").decode(errors="replace").strip().splitlines()
        raise CannotRun(f"cannot start the embedded PostgreSQL under {pgdata}: "
                        f"{lines[-1] if lines else exc}") from exc


def machine_server(host: str = "127.0.0.1", port: int = 5432) -> str | None:
    """Base URL (no database) of a PostgreSQL already serving on this machine, or None.

    Tests and ``make bench`` make scratch databases there, else on an embedded server.
    """
    try:
        with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres",
                             connect_timeout=3):
            return f"postgresql+psycopg://postgres@{host}:{port}"
    except (OSError, psycopg.Error):
        return None


def _port_taken(port: int) -> bool:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True


def _ensure_database(server: EmbeddedServer) -> None:
    with psycopg.connect(
        host="127.0.0.1", port=server.port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def stop(root: Path | None = None) -> bool:
    """Stop the embedded server if it runs; True when it was running.

    ``pg_ctl stop`` fails when ``postmaster.pid`` is left from a crash (no such process):
    nothing was running then.
    """
    pgdata = (root or home()) / "pg"
    if not (pgdata / "postmaster.pid").exists():
        return False
    run_as = _run_as()
    if run_as:
        # A parent may have been closed since the server started (pytest resets its
        # /tmp/pytest-of-USER to 0700 at each session): pg_ctl could not reach the folder.
        _open_path_for(pgdata)
    done = subprocess.run(
        [postgres_tool("pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop"],
        check=False, capture_output=True, **run_as,  # type: ignore[call-overload]
    )
    return done.returncode == 0
