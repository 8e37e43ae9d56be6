"""Shared fixtures: a real PostgreSQL for every integration test.

The machine's server on 127.0.0.1:5432 is used when it answers; otherwise an embedded
PostgreSQL (pgserver's binaries) is started in a temporary folder, so a fresh laptop
passes too. The schema is migrated once into a template database; each test that needs a
clean company gets its own copy (``CREATE DATABASE … TEMPLATE``), which takes a moment.
"""

from __future__ import annotations

import base64
import email
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller

from dossiers.core import db, embedded
from dossiers.local import local_airflow
from dossiers.workflows import staff

from helpers import AIRFLOW_USERS, airflow_auth_env, free_port, s3_connection

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Base URL (no database) of a PostgreSQL server the tests may create databases on.

    ``DOSSIER_TEST_EMBEDDED=1`` forces the embedded server, as on a machine without one.
    """
    base = None if os.environ.get("DOSSIER_TEST_EMBEDDED") == "1" else embedded.machine_server()
    if base:
        yield base
        return
    # Not under pytest's basetemp: every pytest session started on the machine (as the same
    # user) resets /tmp/pytest-of-USER to 0700, and the server, run as its own system user
    # when the tests run as root, would lose its data folder mid-run (PANIC on pg_control).
    root = Path(tempfile.mkdtemp(prefix="dossier-test-pg-"))
    try:
        server = embedded.ensure_running(root)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{server.port}"
    finally:
        embedded.stop(root)
        shutil.rmtree(root, ignore_errors=True)


def _admin(base: str) -> psycopg.Connection:
    return psycopg.connect(base.replace("postgresql+psycopg", "postgresql") + "/postgres",
                           autocommit=True)


@pytest.fixture(scope="session")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "master.key"
    path.write_text(base64.b64encode(os.urandom(32)).decode())
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session", autouse=True)
def _environment(tmp_path_factory: pytest.TempPathFactory,
                 key_file: Path) -> Iterator[dict[str, str]]:
    """Tests never touch the developer's .dossier/ folder or real credentials. Its value: the
    session's environment as set here, for servers started once per session (whatever a
    test that happens to start one has set with ``monkeypatch`` stays out of them)."""
    saved = dict(os.environ)
    os.environ["DOSSIER_HOME"] = str(tmp_path_factory.mktemp("dossier-home"))
    os.environ["DOSSIER_MASTER_KEY_FILE"] = str(key_file)
    os.environ.pop("DOSSIER_USER", None)
    os.environ.pop("DOSSIER_CALENDAR_FILE", None)
    os.environ.pop("DOSSIER_POLICY_FILE", None)
    yield dict(os.environ)
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def template_db(pg_server: str) -> Iterator[str]:
    """A database migrated to head, used as the template of every test database."""
    name = f"dossier_tpl_{uuid.uuid4().hex[:8]}"
    with _admin(pg_server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    db.upgrade(f"{pg_server}/{name}")
    db.dispose(f"{pg_server}/{name}")
    yield name
    with _admin(pg_server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(pg_server: str, template_db: str, monkeypatch: pytest.MonkeyPatch,
                 request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated, empty dossier database; DOSSIER_DATABASE_URL points at it.

    A test that uses the running ``api_server`` gets that server's database (it was started
    over one database for the whole session), made afresh from the template under the same
    name: as empty as any other test's. The server's pooled connections to the old one are
    cut by the drop and replaced on their next use (``pool_pre_ping``).
    """
    if "api_server" in request.fixturenames:
        name = request.getfixturevalue("airflow_api_server").database
    else:
        name = f"dossier_t_{uuid.uuid4().hex[:10]}"
    url = f"{pg_server}/{name}"
    _fresh_database(pg_server, name, template_db)
    monkeypatch.setenv("DOSSIER_DATABASE_URL", url)
    yield url
    db.dispose(url)
    with _admin(pg_server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _fresh_database(pg_server: str, name: str, template_db: str) -> None:
    """Database ``name`` as a new copy of the migrated template (dropped first if it is there)."""
    db.dispose(f"{pg_server}/{name}")
    with _admin(pg_server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')


class CliResult:
    def __init__(self, proc: subprocess.CompletedProcess[str]):
        self.status = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def cli(database_url: str) -> Callable[..., CliResult]:
    """Run ``dossier …`` as an operator would, in a subprocess, against the test database."""
    def run(*args: str, input: str | None = None) -> CliResult:
        proc = subprocess.run([sys.executable, "-m", "dossiers.cli", *args], capture_output=True,
                              text=True, check=False, input=input, timeout=300)
        return CliResult(proc)

    return run


#: When the ``company`` fixture's people signed their confidentiality agreements (Art. 19).
AGREEMENT_SIGNED_ON = date(2025, 1, 2)


@pytest.fixture
def company(database_url: str) -> dict[str, str]:
    """A minimal company: one person per role (onboarded in-process; the CLI has its own tests)."""
    people = {
        "chen.cs": ("customer_service", ["cs_head"]),
        "mgmt.wu": ("management", ["management"]),
        "li.archive": ("customer_service", ["archivist"]),
        "zhao.market": ("market", ["dept_head"]),
        "wang.market": ("market", ["liaison"]),
        "sun.plan": ("planning", ["liaison"]),
        "qa.he": ("quality", ["qa_supervisor"]),
    }
    with db.transaction() as conn:
        for username, (department, roles) in people.items():
            staff.add(conn, "chen.cs", username, department, roles, AGREEMENT_SIGNED_ON,
                      agreement_ref=f"NDA-{username}")  # Art. 19: before any read
    return {u: roles[0] for u, (_, roles) in people.items()}


# --- mail and S3 servers on loopback (shared by the duties' and the reports' tests) ---------


class Inbox:
    """Messages an aiosmtpd server on loopback received. Addresses in ``refuse_rcpt`` are
    refused at RCPT TO, a message to an address in ``refuse_data`` at DATA (550/554, as a
    mail server refuses a mailbox that does not exist or a message it will not take)."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.refuse_rcpt: set[str] = set()
        self.refuse_data: set[str] = set()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse_rcpt:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_data & set(envelope.rcpt_tos):
            return "554 5.7.1 Message refused by policy for <" + envelope.rcpt_tos[0] + ">"
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages if address in m["To"]]


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """An SMTP server on loopback, and the Airflow connection ``dossier_smtp`` pointing at it."""
    port = free_port()
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    extra = json.dumps({"from_email": "dossiers@staff.example.com", "disable_tls": True,
                        "disable_ssl": True, "timeout": 10, "retry_limit": 1})
    monkeypatch.setenv("AIRFLOW_CONN_DOSSIER_SMTP", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": port, "extra": extra}))
    yield handler
    controller.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Real AWS APIs (S3, KMS, … every service moto serves, on one endpoint): moto's server on a
    free loopback port, once per session; its endpoint URL. Tests name their own buckets and
    keys, so they share it."""
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait for the port to answer, not for a fixed time
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(10)


@pytest.fixture
def s3_bucket(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """A fresh bucket on moto's server and the Airflow connection ``dossier_s3`` pointing at it
    (through the environment, as in production); a plain boto3 client to look behind the
    stores' backs, and the bucket's name."""
    import boto3

    monkeypatch.setenv("AIRFLOW_CONN_DOSSIER_S3", s3_connection(moto_server))
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    bucket = f"dossier-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    yield s3, bucket


# --- a real Airflow API server with the repository's plugins ----------------------------------
#
# One ``airflow api-server`` for the whole session (subprocess, free loopback port, temporary
# AIRFLOW_HOME, SQLite metadata DB migrated by ``airflow db migrate``, SimpleAuthManager users
# with a passwords file), as :func:`dossiers.local.local_airflow.airflow_env` configures Airflow
# for ``make airflow``; both plugins (the dossier API and the report pages) are loaded from
# ``plugins/``. Readiness is polled on the plugins' ``/health`` with a deadline. ≈ 30-40 s,
# mostly Airflow's start-up, paid once: each test that asks for ``api_server`` gets the server
# over its own fresh database (see ``database_url``) and an empty report store. Used by
# tests/airflow/test_api_plugin.py, tests/airflow/test_report_pages.py and
# tests/integration/test_reports.py.

API_SERVER_START_DEADLINE_S = 75


class AirflowServer:
    """A running ``airflow api-server``: its base URL, users' passwords, log and report store."""

    def __init__(self, base: str, passwords: dict[str, str], log: Path, report_store: Path,
                 database: str):
        self.base = base
        self.passwords = passwords
        self.log = log
        #: ``DOSSIER_REPORT_STORE`` of the server: publish here what its report pages serve.
        self.report_store = report_store
        #: The name of the dossier database the server runs over (made afresh for each test).
        self.database = database

    def token(self, username: str) -> str:
        """A JWT from ``POST /auth/token``, as an API client (or the UI's login page) gets it."""

        response = httpx.post(f"{self.base}/auth/token", timeout=30,
                              json={"username": username, "password": self.passwords[username]})
        assert response.status_code == 201, response.text
        return str(response.json()["access_token"])

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        """``GET`` a path of the server (an ``httpx.Response``), with a bearer token if given."""

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{self.base}{path}", headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="session")
def airflow_api_server(pg_server: str, template_db: str, _environment: dict[str, str],
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    """The session's ``airflow api-server`` process; tests ask for ``api_server``."""


    root = tmp_path_factory.mktemp("api-server")
    name = f"dossier_api_{uuid.uuid4().hex[:10]}"
    _fresh_database(pg_server, name, template_db)
    home = root / "airflow"
    env = local_airflow.airflow_env(f"{pg_server}/{name}", base=_environment)
    auth, passwords = airflow_auth_env(home, AIRFLOW_USERS)
    env.update(auth)
    store = root / "report-store"
    env.update({"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                "DOSSIER_REPORT_STORE": str(store)})
    assert local_airflow.ensure_metadata_db(env) == 0
    port = free_port()
    log = root / "api-server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [local_airflow.airflow_bin(), "api-server", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],
            env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    server = AirflowServer(f"http://127.0.0.1:{port}", passwords, log, store, name)
    try:
        deadline = time.monotonic() + API_SERVER_START_DEADLINE_S
        waiting = ["/dossier-api/health", "/dossier-reports/health"]
        while waiting:  # poll until both plugins answer, not for a fixed time
            assert proc.poll() is None, \
                f"api-server exited {proc.returncode}:\n{log.read_text()[-3000:]}"
            try:
                if server.get(waiting[0]).status_code == 200:
                    waiting.pop(0)
                    continue
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"api-server not ready:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield server
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        db.dispose(f"{pg_server}/{name}")
        with _admin(pg_server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def api_server(airflow_api_server: AirflowServer, database_url: str) -> AirflowServer:
    """The real ``airflow api-server`` with this repository's plugins, over this test's fresh
    database (staff come from the ``company`` fixture or a seed, as the test needs) and with
    an empty report store."""
    assert database_url.endswith(f"/{airflow_api_server.database}")
    shutil.rmtree(airflow_api_server.report_store, ignore_errors=True)
    return airflow_api_server
