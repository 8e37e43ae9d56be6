"""Airflow as it is deployed, on this machine: each component of ``dossiers.airflow.topology``
as its own process, on a PostgreSQL metadata database (``make airflow``, the stack tests).

- Metadata database: ``<dossier database>_airflow`` on the dossier database's server (the
  embedded one, or ``DOSSIER_DATABASE_URL``'s), created when missing; never SQLite.
- Secrets the components share (the JWT secret of the execution API and the REST API, the
  api-server's session key, the Fernet key) are generated once into ``stack-secrets.json``
  (mode 600) in ``AIRFLOW_HOME``, so a second start finds its state (and its tokens) again.
- Celery: the broker is this machine's Redis on 127.0.0.1:6379 when it answers, else a
  ``redis-server`` started for the run in ``AIRFLOW_HOME`` (stopped with the stack);
  :data:`~dossiers.airflow.topology.CELERY_WORKERS` workers, each with its own name.
- Every port a component opens (api-server, log servers, the scheduler's health check) can
  be chosen, so several stacks (tests) run side by side; each process has its own session
  and log file in ``AIRFLOW_HOME/logs/``, and :meth:`Stack.stop` ends every one of them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dossiers.airflow import topology

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
SECRETS_FILE = "stack-secrets.json"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_answers(host: str = REDIS_HOST, port: int = REDIS_PORT, timeout: float = 1.0) -> bool:
    """Whether a Redis answers PING at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def metadata_url(dossier_url: str) -> str:
    """Airflow's metadata database beside the dossier database: ``<name>_airflow`` (psycopg2,
    Airflow's tested driver)."""
    from sqlalchemy import make_url

    u = make_url(dossier_url)
    return u.set(drivername="postgresql+psycopg2", database=f"{u.database}_airflow") \
        .render_as_string(hide_password=False)


def ensure_database(url: str) -> bool:
    """Create the database of ``url`` on its server when missing; True when it was created."""
    import psycopg
    from sqlalchemy import make_url

    u = make_url(url)
    admin = u.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (u.database,)).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{u.database}"')
    return True


def shared_secrets(home: Path) -> dict[str, str]:
    """The secrets every component shares, generated once per ``AIRFLOW_HOME`` (mode 600)."""
    path = home / SECRETS_FILE
    if path.exists():
        return dict(json.loads(path.read_text()))
    from cryptography.fernet import Fernet

    values = {"AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
              "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
              "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode()}
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(values, out)
    return values


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class Stack:
    """The components of one executor's topology over one dossier database.

    ``env`` is the environment every ``airflow`` process gets (see :func:`stack_env`).
    """

    env: dict[str, str]
    executor: str
    workers: int = topology.CELERY_WORKERS
    #: The port of a Redis to start for the run (None: the broker answers already).
    redis_port: int | None = None
    #: Celery node names are ``<prefix><n>@<host>`` (unique per stack sharing a broker).
    worker_prefix: str = "worker"
    processes: list[Process] = field(default_factory=list)
    redis: subprocess.Popen[bytes] | None = None

    @property
    def home(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"])

    @property
    def base_url(self) -> str:
        return f"http://{self.env['AIRFLOW__API__HOST']}:{self.env['AIRFLOW__API__PORT']}"

    def log_dir(self) -> Path:
        path = self.home / "logs" / "components"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _spawn(self, name: str, args: list[str], env: Mapping[str, str]) -> Process:
        log = self.log_dir() / f"{name}.log"
        with log.open("ab") as sink:
            popen = subprocess.Popen(args, env=dict(env), stdout=sink, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def migrate(self, output: IO[bytes] | None = None) -> None:
        """``airflow db migrate`` on the metadata database (idempotent)."""
        done = subprocess.run([airflow_bin(), "db", "migrate"], env=self.env, stdout=output,
                              stderr=subprocess.STDOUT if output is not None else None, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed (exit {done.returncode})")

    def start(self) -> None:
        """Start every component (and a Redis when none answers); returns at once."""
        if self.executor == topology.CELERY and self.redis_port is not None:
            port = self.redis_port
            self.redis = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.home)],
                stdout=(self.log_dir() / "redis.log").open("ab"), stderr=subprocess.STDOUT,
                start_new_session=True)
            wait_for(lambda: redis_answers(port=port), 20, "the Redis started for the run")
        for component in topology.components(self.executor):
            if component.celery_only:
                for n in range(1, self.workers + 1):
                    self.start_worker(n)
                continue
            self._spawn(component.name, [airflow_bin(), *component.command], self.env)

    def start_worker(self, n: int) -> Process:
        """Celery worker ``n`` (its own name and log; no log server: two share a machine)."""
        name = f"worker{n}"
        args = [airflow_bin(), "celery", "worker", "--celery-hostname", f"{self.worker_prefix}{n}@%h",
                "--skip-serve-logs", "--concurrency", self.env.get("DOSSIER_WORKER_CONCURRENCY", "2")]
        if self.env.get("AIRFLOW__OPERATORS__DEFAULT_QUEUE"):
            args += ["--queues", self.env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"]]
        return self._spawn(name, args, self.env)

    def process(self, name: str) -> Process:
        return next(p for p in self.processes if p.name == name)

    def wait_until_ready(self, timeout: float = 180) -> None:
        """Until the api-server answers and every process is still up (polled, with a deadline)."""
        import httpx

        def ready() -> bool:
            for p in self.processes:
                if p.popen.poll() is not None and not p.name.startswith("worker"):
                    raise RuntimeError(f"{p.name} exited {p.popen.returncode}: see {p.log}\n"
                                       + p.log.read_text(errors="replace")[-3000:])
            try:
                return httpx.get(f"{self.base_url}/api/v2/version", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, timeout, "the api-server")

    def kill(self, name: str) -> None:
        """SIGKILL a component and everything it started (a worker dying with its tasks)."""
        process = self.process(name)
        _signal_group(process.popen.pid, signal.SIGKILL)
        process.popen.wait()
        self.processes.remove(process)

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM every process group, SIGKILL what is left after ``grace`` seconds."""
        popens = [p.popen for p in self.processes] + ([self.redis] if self.redis else [])
        for popen in popens:
            _signal_group(popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for popen in popens:
            try:
                popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(popen.pid, signal.SIGKILL)
                popen.wait()
            _signal_group(popen.pid, signal.SIGKILL)  # what the leader left behind in its group
        self.processes.clear()
        self.redis = None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_for(check: object, timeout: float, what: str) -> None:
    """Poll ``check()`` until true, for at most ``timeout`` seconds (no fixed sleeps)."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready within {timeout:.0f} s")
        time.sleep(0.3)


def airflow_bin() -> str:
    beside = Path(sys.executable).with_name("airflow")
    return str(beside) if beside.exists() else (shutil.which("airflow") or "airflow")


def broker() -> tuple[str, int | None, str]:
    """The Celery broker URL, the port of a Redis to start (None: it answers already) and
    what it is: this machine's Redis when it answers, else one started for the run."""
    if redis_answers():
        return (f"redis://{REDIS_HOST}:{REDIS_PORT}/0", None,
                f"this machine's Redis on {REDIS_HOST}:{REDIS_PORT}")
    port = free_port()
    return (f"redis://{REDIS_HOST}:{port}/0", port,
            f"a Redis started for this run on {REDIS_HOST}:{port} (stopped with it)")


def stack_env(base: Mapping[str, str], *, executor: str, metadata: str, logins: Mapping[str, str],
              broker_url: str | None = None, port: int = 8080) -> dict[str, str]:
    """The environment of every component: ``base`` (``local_airflow.airflow_env``: home,
    folders, the dossier database) with the topology's settings, the executor's, the shared
    secrets and the staff's logins (``dossiers.airflow.users``)."""
    from dossiers.airflow import users

    env = dict(base)
    home = Path(env["AIRFLOW_HOME"])
    env.update(topology.SHARED_ENV)
    env.update(topology.executor_env(executor, metadata_url=metadata, broker_url=broker_url))
    env.update(shared_secrets(home))
    host = env.get("AIRFLOW__API__HOST") or "127.0.0.1"
    env.update({
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL":
            f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": users.simple_auth_manager_users(logins),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / PASSWORDS_FILE),
    })
    env.pop("DOSSIER_DEADLINE_ALERTS", None)  # the scheduler runs them (see dagkit)
    return env
