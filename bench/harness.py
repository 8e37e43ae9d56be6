"""The benchmarks' surroundings: environment, a scratch PostgreSQL, results, the machine.

Nothing here imports a ``dossiers`` module at import time: :func:`prepare_environment`
must set the ``DOSSIER_*`` variables first (the settings are read from the environment).
"""

from __future__ import annotations

import base64
import os
import platform
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

#: Variables that would point the benchmarks at real keys, users or policies.
_UNSET = ("DOSSIER_USER", "DOSSIER_POLICY_FILE", "DOSSIER_CALENDAR_FILE", "DOSSIER_KMS_KEY_ID",
          "DOSSIER_DATABASE_URL")


@dataclass(frozen=True)
class Sizes:
    """How much data each benchmark builds (``--quick`` divides every count by ten)."""

    import_rows: int = 100_000
    numbering_workers: int = 8
    numbering_per_worker: int = 1_000
    ledger_entries: int = 1_000_000
    ledger_batch: int = 50_000
    dag_repeats: int = 3
    creation_forms: int = 10_000
    api_dossiers: int = 50
    api_reads: int = 5_000
    api_clients: int = 8
    #: API server processes; 0: the deployment's (``dossiers.airflow.topology.API_WORKERS``).
    api_workers: int = 0
    duty_dossiers: int = 1_000_000
    document_mib: int = 1024
    small_documents: int = 10_000
    small_document_bytes: int = 50_000
    backup_dossiers: int = 1_000_000

    @classmethod
    def quick(cls) -> Sizes:
        full = cls()
        return cls(import_rows=full.import_rows // 10,
                   numbering_workers=full.numbering_workers,
                   numbering_per_worker=full.numbering_per_worker // 10,
                   ledger_entries=full.ledger_entries // 10,
                   ledger_batch=full.ledger_batch // 10,
                   dag_repeats=1,
                   creation_forms=full.creation_forms // 10,
                   api_dossiers=full.api_dossiers // 10,
                   api_reads=full.api_reads // 10,
                   api_clients=full.api_clients,
                   api_workers=full.api_workers,
                   duty_dossiers=full.duty_dossiers // 10,
                   document_mib=full.document_mib // 10,
                   small_documents=full.small_documents // 10,
                   small_document_bytes=full.small_document_bytes,
                   backup_dossiers=full.backup_dossiers // 10)


@dataclass
class Result:
    """One figure beside its baseline, measured in the same run.

    ``ratio`` is ``value / baseline`` (both in ``unit``). ``ok`` is ``None`` when the issue
    sets no target for the figure; ``checks`` are correctness checks that must all hold.
    """

    bench: str
    metric: str
    value: float
    unit: str
    baseline_label: str
    baseline: float
    target: str | None = None
    ok: bool | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")

    @property
    def passed(self) -> bool:
        """No failed check and no missed target."""
        return all(self.checks.values()) and self.ok is not False

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "passed": self.passed}


@dataclass
class Context:
    """What every benchmark gets: its sizes, a scratch server, a temp folder, options."""

    sizes: Sizes
    scratch: Scratch
    tmp: Path
    results_dir: Path
    profile: bool = False


def prepare_environment(tmp: Path) -> Path:
    """Point the ``dossiers`` settings at a temp home and a fresh master key; return the key.

    Must run before any ``dossiers`` module reads its settings.
    """
    for name in _UNSET:
        os.environ.pop(name, None)
    home = tmp / "dossier-home"
    home.mkdir(parents=True, exist_ok=True)
    key = tmp / "master.key"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(os.urandom(32)).decode() + "\n")
    os.environ["DOSSIER_HOME"] = str(home)
    os.environ["DOSSIER_MASTER_KEY_FILE"] = str(key)
    return key


def libpq_url(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as libpq (psycopg) wants it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class Scratch:
    """A PostgreSQL server on which the benchmarks create (and drop) their own databases.

    The machine's server on 127.0.0.1:5432 when it answers, else an embedded one in a temp
    folder. The schema is migrated once into a template; each benchmark gets a copy.
    """

    def __init__(self, tmp: Path) -> None:
        self.embedded_root: Path | None = None
        self.base = self._machine_server() or self._embedded_server(tmp / "embedded-pg")
        self.kind = "embedded (pgserver)" if self.embedded_root else "machine, 127.0.0.1:5432"
        self.template: str | None = None
        self._created: list[str] = []

    @staticmethod
    def _machine_server() -> str | None:
        from dossiers.core.embedded import machine_server

        return machine_server()

    def _embedded_server(self, root: Path) -> str:
        from dossiers.core import embedded

        self.embedded_root = root
        server = embedded.ensure_running(root)
        return f"postgresql+psycopg://postgres@127.0.0.1:{server.port}"

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def admin(self, database: str = "postgres") -> psycopg.Connection[Any]:
        """An autocommit connection as the server's owner role."""
        return psycopg.connect(libpq_url(self.url(database)), autocommit=True)

    def migrate_template(self) -> None:
        """Create the template database and migrate it to head (once per run)."""
        from dossiers.core import db

        name = f"dossier_bench_tpl_{uuid.uuid4().hex[:8]}"
        self._create(f'CREATE DATABASE "{name}"', name)
        db.upgrade(self.url(name))
        db.dispose(self.url(name))
        self.template = name

    def _create(self, sql: str, name: str) -> None:
        with self.admin() as conn:
            conn.execute(sql)
        self._created.append(name)

    def _drop(self, name: str) -> None:
        from dossiers.core import db

        db.dispose(self.url(name))
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self._created:
            self._created.remove(name)

    @contextmanager
    def database(self, label: str) -> Iterator[str]:
        """A fresh migrated database; ``DOSSIER_DATABASE_URL`` names it meanwhile."""
        if self.template is None:
            self.migrate_template()
        name = f"dossier_bench_{label}_{uuid.uuid4().hex[:8]}"
        self._create(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"', name)
        url = self.url(name)
        os.environ["DOSSIER_DATABASE_URL"] = url
        try:
            yield url
        finally:
            os.environ.pop("DOSSIER_DATABASE_URL", None)
            self._drop(name)

    def close(self) -> None:
        """Drop every database this run created, and stop the embedded server if started."""
        for name in reversed(list(self._created)):
            try:
                self._drop(name)
            except Exception as exc:  # report and go on: the others should still go
                print(f"bench: could not drop scratch database {name}: {exc}")
        if self.embedded_root is not None:
            from dossiers.core import embedded

            embedded.stop(self.embedded_root)

    def server_info(self) -> dict[str, str]:
        with self.admin() as conn:
            def show(setting: str) -> str:
                row = conn.execute(f"SHOW {setting}").fetchone()
                return str(row[0]) if row else "?"

            return {"server": self.kind, "version": show("server_version"),
                    "shared_buffers": show("shared_buffers"),
                    "synchronous_commit": show("synchronous_commit"), "fsync": show("fsync")}


def machine_info(scratch: Scratch) -> dict[str, Any]:
    """nproc, RAM, CPU model, Python and PostgreSQL versions: where the figures come from."""
    meminfo = Path("/proc/meminfo")
    ram_gib = None
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 2**20, 1)
    cpu = platform.processor() or "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": ram_gib, "cpu": cpu, "python": platform.python_version(),
        "platform": platform.platform(), "postgresql": scratch.server_info(),
    }


class Stopwatch:
    """``with Stopwatch() as sw: …`` then ``sw.seconds`` (wall clock, perf_counter)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._start


def peak_rss_mib() -> float:
    """This process's peak resident set size so far."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
