"""Plain functions and data the tests share (fixtures live in ``conftest.py``).

Rows of the test database, acting as a staff member in-process, valid collection-form rows
to start from, Airflow's users of the tests, and what a fresh Python process imports. Test
modules import them as ``from helpers import …`` (pytest puts ``tests/`` on ``sys.path`` for
its root ``conftest.py``). The steps of a client's year, shared by the CLI's and the API's
tests, are in ``client_year.py``.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Connection, text

from dossiers.airflow import topology
from dossiers.core import db, directory, ledger
from dossiers.core.permissions import Actor
from dossiers.intake.service import import_file

T = TypeVar("T")

# --- the test database -------------------------------------------------------------------------


def rows(sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Every row of a query on the test database (``DOSSIER_DATABASE_URL``), as tuples."""
    with db.transaction() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def scalar(sql: str, **params: Any) -> Any:
    """The one value of a query that returns exactly one row of one column."""
    with db.transaction() as conn:
        return conn.execute(text(sql), params).scalar_one()


def act(username: str, work: Callable[[Connection, Actor], T]) -> T:
    """Run ``work(conn, actor)`` in one transaction as the staff member ``username``, as the
    CLI and the API do for one action (in-process, so a test may pass ``at=``/``today=``)."""
    with db.transaction() as conn:
        return work(conn, directory.load_actor(conn, username))


def database_dump(url: str, *options: str) -> str:
    """What ``pg_dump`` writes of the test database: where the tests look for personal data
    in plaintext. The embedded PostgreSQL's ``pg_dump`` (16) dumps the machine's server (15)
    and the embedded one alike; the one on PATH refuses a server newer than itself."""
    from dossiers.core.embedded import postgres_tool

    return subprocess.run([postgres_tool("pg_dump"), *options, url.replace("+psycopg", "")],
                          capture_output=True, check=True).stdout.decode()


def as_owner(url: str, sql: str) -> None:
    """Run ``sql`` as the database owner (a superuser here), bypassing the application role:
    how the tests tamper with what the application may not touch."""
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        c.execute(sql)


def append_entries(n: int) -> None:
    """``n`` ledger entries (an archivist creating dossiers 001 … n), appended as the
    application appends them."""
    with db.transaction() as conn:
        ledger.append(conn, *[
            ledger.Entry("archivist1", "dossier.create", "dossier", f"d{i}", f"海外-2026-電商-{i:03d}",
                         {"i": i}) for i in range(1, n + 1)
        ])


def rechain_from(url: str, start: int) -> None:
    """As the owner with the append-only trigger off: rewrite every entry from ``start`` on
    (archivist1 becomes a forger) and re-chain them consistently, so that the chain alone
    looks sound: what only an anchor kept outside the database can show."""
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as c:
        prev = bytes(c.execute("SELECT entry_hash FROM ledger_entry WHERE seq = %s",
                               (start - 1,)).fetchone()[0])
        forged = []
        for seq, body in c.execute("SELECT seq, body FROM ledger_entry WHERE seq >= %s "
                                   "ORDER BY seq", (start,)).fetchall():
            body = body.replace('"archivist1"', '"forger"')
            digest = ledger.chain(prev, body)
            forged.append((body, prev, digest, seq))
            prev = digest
        c.execute("ALTER TABLE ledger_entry DISABLE TRIGGER ledger_entry_append_only")
        c.cursor().executemany("UPDATE ledger_entry SET body = %s, prev_hash = %s, "
                               "entry_hash = %s WHERE seq = %s", forged)


# --- collection forms --------------------------------------------------------------------------

#: One valid collection-form row (``collection-form.md``): a potential e-commerce client of the
#: market department's liaison, with a contact reachable by e-mail and phone.
FORM: Mapping[str, str] = {
    "client_name_zh": "北風電商", "client_name_en": "Northwind Retail GmbH", "client_type": "ECOM",
    "stage": "potential", "target_markets": "DE;AT", "liaison": "wang.market",
    "department": "market", "authorisation_ref": "AUTH-77", "collection_channel": "email",
    "collected_on": "2026-11-02",
    "contact_name": "Greta Vogel", "contact_email": "greta@northwind.example.de",
    "contact_phone": "+49 30 1234567", "credit_rating": "AA",
}


def form_row(**changes: str) -> dict[str, str]:
    """A fresh copy of :data:`FORM`, with ``changes`` applied."""
    return {**FORM, **changes}


def numbered_forms(count: int, *, start: int = 0, liaison: str = "wang.market",
                   department: str = "market") -> list[dict[str, str]]:
    """``count`` valid rows like :data:`FORM` for clients numbered ``start`` on (北風{i}號電商,
    Northwind {i} GmbH, each with its own contact e-mail and phone), of ``liaison``."""
    return [form_row(client_name_zh=f"北風{i}號電商", client_name_en=f"Northwind {i} GmbH",
                     contact_email=f"greta{i}@northwind{i}.example.de",
                     contact_phone=f"+49 30 {1000000 + i}", liaison=liaison,
                     department=department) for i in range(start, start + count)]


def client_form(name: str, **changes: str) -> dict[str, str]:
    """A valid row for a potential manufacturing client of its own (the 外貿 cabinet), named
    after ``name``: its names and contact e-mail follow the name, so the forms of several
    such clients are not duplicates of each other."""
    return {"client_name_zh": f"{name}公司", "client_name_en": f"{name} Ltd", "client_type": "MFG",
            "stage": "potential", "target_markets": "FR", "liaison": "wang.market",
            "department": "market", "authorisation_ref": "AUTH-1", "collection_channel": "email",
            "collected_on": "2026-11-02",
            "contact_name": "Jean Roy", "contact_email": f"jean@{name.lower()}.example.fr",
            **changes}


def write_forms(path: Path, forms: Iterable[Mapping[str, Any]]) -> Path:
    """``forms`` as the JSON file ``dossier import`` reads (UTF-8, names as written)."""
    path.write_text(json.dumps(list(forms), ensure_ascii=False))
    return path


def import_forms(folder: Path, forms: Iterable[Mapping[str, Any]], *,
                 as_user: str | None = "wang.market", file_name: str | None = None,
                 **options: Any) -> dict[str, Any]:
    """Import ``forms`` in-process as ``as_user`` (``dossiers.intake.service.import_file``,
    what ``dossier import`` runs) from a JSON file written into ``folder`` (``file_name``, or
    a new name); the import report."""
    path = write_forms(folder / (file_name or f"forms-{uuid.uuid4().hex[:8]}.json"), forms)
    report: dict[str, Any] = import_file(path, acting_user=as_user, **options)
    return report


def submitted(folder: Path, form: Mapping[str, Any], *, as_user: str | None = "wang.market",
              file_name: str | None = None, **options: Any) -> uuid.UUID | None:
    """The id of ``form`` imported in-process as ``as_user``, or ``None`` when it was refused."""
    report = import_forms(folder, [form], as_user=as_user, file_name=file_name, **options)
    return uuid.UUID(report["accepted"][0]["form_id"]) if report["accepted"] else None


# --- Airflow's users ---------------------------------------------------------------------------

#: Airflow users of the tests, with their SimpleAuthManager roles: every staff member of the
#: ``company`` fixture, Planning's head (onboarded by the tests that need her), and an ops
#: engineer who is Airflow's admin but no staff member of the dossier system.
AIRFLOW_USERS: Mapping[str, str] = {
    "chen.cs": "viewer", "mgmt.wu": "viewer", "li.archive": "viewer", "zhao.market": "viewer",
    "wang.market": "viewer", "sun.plan": "viewer", "qa.he": "viewer", "qian.plan": "viewer",
    "ops.airflow": "admin"}
NOT_STAFF = "ops.airflow"


def airflow_auth_env(home: Path, users: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Airflow's settings for ``AIRFLOW_HOME=home`` with a SQLite metadata DB there, no example
    DAGs, and SimpleAuthManager logins for ``users`` (name: role) with a random password each
    (the passwords file in ``home``) and a fresh JWT secret; and the passwords by user."""
    home.mkdir(parents=True, exist_ok=True)
    passwords = {u: secrets.token_urlsafe(12) for u in users}
    password_file = home / "passwords.json"
    password_file.write_text(json.dumps(passwords))
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__AUTH_MANAGER": topology.AUTH_MANAGER,  # as deployed
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in users.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
    }
    return env, passwords


# --- a fresh Python process --------------------------------------------------------------------

_IMPORTED_BY = """
import importlib, importlib.util, json, sys
importlib.import_module(sys.argv[2])

before = set(sys.modules)
spec = importlib.util.spec_from_file_location("file_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print("RESULT " + json.dumps(sorted(set(sys.modules) - before)))
"""


def python_result(script: str, *args: str, env: Mapping[str, str], timeout: float = 300) -> Any:
    """Run ``script`` with ``args`` in a fresh Python of this environment; the JSON it printed
    on its last ``RESULT …`` line (it must exit 0 and print one)."""
    proc = subprocess.run([sys.executable, "-c", script, *args], env=dict(env), text=True,
                          capture_output=True, timeout=timeout, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, \
        f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return json.loads(lines[-1].removeprefix("RESULT "))


def imported_by(path: Path, *, after: str, env: Mapping[str, str],
                timeout: float = 300) -> list[str]:
    """The modules a fresh process imports to load the Python file ``path`` once it has
    imported ``after`` (what every such file imports anyway: its imports are not the file's).
    Airflow loads DAG files and plugins in every process, so what they import counts."""
    imported: list[str] = python_result(_IMPORTED_BY, str(path), after, env=env, timeout=timeout)
    return imported


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def s3_connection(endpoint: str) -> str:
    """``AIRFLOW_CONN_DOSSIER_S3``'s value for an S3 endpoint (moto's keys are any)."""
    return json.dumps({"conn_type": "aws", "login": "test", "password": "test",
                       "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}})
