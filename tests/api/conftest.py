"""The dossier API in-process (FastAPI ``TestClient``), authenticated by real Airflow JWTs.

Tokens come from Airflow's own SimpleAuthManager login (``SimpleAuthManagerLogin.create_token``,
what ``POST /auth/token`` runs) with users and passwords configured as in a deployment, and
are validated by Airflow's ``get_user`` with the secret of ``AIRFLOW__API_AUTH__JWT_SECRET``.
Airflow is imported into this process only here, with its own temporary ``AIRFLOW_HOME`` and
SQLite metadata DB (which holds the ``revoked_token`` table every validation consults).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import helpers
from helpers import AIRFLOW_USERS, NOT_STAFF, airflow_auth_env


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
    return helpers.form_row()


@pytest.fixture
def not_staff() -> str:
    """An Airflow user with a valid token who is not a staff member."""
    return NOT_STAFF


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    home: Path = tmp_path_factory.mktemp("airflow-api-home")
    # every user a viewer in-process (the server of tests/conftest.py makes ops.airflow admin)
    env, passwords = airflow_auth_env(home, dict.fromkeys(AIRFLOW_USERS, "viewer"))
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
