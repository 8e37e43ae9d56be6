"""The dossier API in-process (FastAPI ``TestClient``), authenticated by real Airflow JWTs.

Tokens come from Airflow's own SimpleAuthManager login (``SimpleAuthManagerLogin.create_token``,
what ``POST /auth/token`` runs) with users and passwords configured as in a deployment, and
are validated by Airflow's ``get_user`` with the secret of ``AIRFLOW__API_AUTH__JWT_SECRET``.
Airflow is imported into this process only here, with its own temporary ``AIRFLOW_HOME`` and
SQLite metadata DB (which holds the ``revoked_token`` table every validation consults).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

#: Airflow users of the tests: every staff member of the ``company`` fixture, and one
#: Airflow user who is not staff (qian.plan is onboarded by the tests that need her).
AIRFLOW_USERS = ("chen.cs", "mgmt.wu", "li.archive", "zhao.market", "wang.market", "sun.plan",
                 "qa.he", "qian.plan", "ops.airflow")
NOT_STAFF = "ops.airflow"

FORM = {
    "client_name_zh": "北風電商", "client_name_en": "Northwind Retail GmbH", "client_type": "ECOM",
    "stage": "potential", "target_markets": "DE;AT", "liaison": "wang.market",
    "department": "market", "authorisation_ref": "AUTH-77", "collected_on": "2026-11-02",
    "contact_name": "Greta Vogel", "contact_email": "greta@northwind.example.de",
    "contact_phone": "+49 30 1234567", "credit_rating": "AA",
}


class Airflow:
    """Airflow's auth manager in this process, and tokens made the way Airflow makes them."""

    def __init__(self, passwords: dict[str, str]):
        from airflow.api_fastapi.app import create_auth_manager

        self.passwords = passwords
        self.auth_manager = create_auth_manager()

    def token(self, username: str) -> str:
        """A JWT as ``POST /auth/token`` issues it (username and password checked)."""
        from airflow.api_fastapi.auth.managers.simple.datamodels.login import LoginBody
        from airflow.api_fastapi.auth.managers.simple.services.login import SimpleAuthManagerLogin

        return SimpleAuthManagerLogin.create_token(
            LoginBody(username=username, password=self.passwords[username]))

    def token_expiring_in(self, username: str, seconds: int) -> str:
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

        return self.auth_manager.generate_jwt(SimpleAuthManagerUser(username=username, role="viewer"),
                                              expiration_time_in_seconds=seconds)

    def revoke(self, token: str) -> None:
        self.auth_manager.revoke_token(token)


@pytest.fixture
def form_row() -> dict[str, str]:
    """One valid collection-form row (a client of the market department's liaison)."""
    return dict(FORM)


@pytest.fixture
def not_staff() -> str:
    """An Airflow user with a valid token who is not a staff member."""
    return NOT_STAFF


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    home: Path = tmp_path_factory.mktemp("airflow-api-home")
    passwords = {u: secrets.token_urlsafe(12) for u in AIRFLOW_USERS}
    password_file = home / "passwords.json"
    password_file.write_text(json.dumps(passwords))
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:viewer" for u in AIRFLOW_USERS),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # before Airflow is first imported by this process
    from airflow import settings
    from airflow.models.revoked_token import RevokedToken

    assert settings.engine is not None
    RevokedToken.__table__.create(settings.engine, checkfirst=True)  # type: ignore[attr-defined]
    yield Airflow(passwords)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def api_app(airflow: Airflow) -> Any:
    from dossiers.api.app import create_app

    return create_app()


@pytest.fixture
def client(api_app: Any, database_url: str) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(api_app, raise_server_exceptions=True) as test_client:
        yield test_client


@pytest.fixture
def as_user(airflow: Airflow) -> Callable[[str], dict[str, str]]:
    """``headers=as_user("li.archive")``: the Authorization header of that Airflow user."""
    cache: dict[str, str] = {}

    def headers(username: str) -> dict[str, str]:
        if username not in cache:
            cache[username] = airflow.token(username)
        return {"Authorization": f"Bearer {cache[username]}"}

    return headers
