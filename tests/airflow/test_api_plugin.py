"""The dossier API mounted in a real ``airflow api-server`` by ``plugins/dossier_api.py``.

The server is the shared ``api_server`` fixture of ``tests/conftest.py`` (subprocess, free
loopback port, temporary ``AIRFLOW_HOME``, SQLite metadata DB, SimpleAuthManager users with a
passwords file) over the test's dossier database, as :func:`dossiers.local.local_airflow.airflow_env`
configures Airflow for ``make airflow``. ≈ 30-40 s here, mostly Airflow's start-up.

It shows that Airflow itself does **not** protect a plugin's routes (the mounted app's
``/openapi.json``, which has no dependency, answers without a token while Airflow's own
``/api/v2`` refuses), and that the dossier routes do: 401 without a token, 200 with a token
from ``POST /auth/token``, 403 for an Airflow user who is not staff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

if TYPE_CHECKING:
    from conftest import AirflowServer

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugins" / "dossier_api.py"

pytestmark = [pytest.mark.airflow, pytest.mark.api]

PREFIX = "/dossier-api"


_IMPORT = """
import importlib.util, json, sys
import airflow.plugins_manager  # loaded by every process that loads plugins anyway

before = set(sys.modules)
spec = importlib.util.spec_from_file_location("dossier_api_plugin", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print("RESULT " + json.dumps(sorted(set(sys.modules) - before)))
"""


def test_the_plugin_file_is_cheap_to_import(tmp_path: Path) -> None:
    """Airflow imports plugins in every task process too: the app is built on first use."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}"}
    proc = subprocess.run([sys.executable, "-c", _IMPORT, str(PLUGIN)], env=env, text=True,
                          capture_output=True, timeout=120, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-2000:]
    assert json.loads(lines[-1].removeprefix("RESULT ")) == [
        "dossiers", "dossiers.api", "dossiers.api.mount"]


@pytest.mark.integration
def test_plugin_routes_are_protected_by_the_api_not_by_airflow(api_server: AirflowServer,
                                                                company: Any) -> None:
    # Airflow mounts the plugin app as it is: a route without an auth dependency is open...
    spec = api_server.get(f"{PREFIX}/openapi.json")
    assert spec.status_code == 200
    # ...while Airflow's own API refuses a request without a token.
    assert api_server.get("/api/v2/dags").status_code == 401

    # The route is in the plugin's OpenAPI document, secured by the Airflow JWT scheme.
    paths = spec.json()["paths"]
    assert {"/me", "/forms", "/dossiers/{dossier_no}", "/queries"} <= set(paths)
    assert paths["/me"]["get"]["security"] == [{"AirflowJWT": []}]

    # No token, a bad token: 401 from the dossier API, as one line.
    for token in (None, "not-a-jwt"):
        refused = api_server.get(f"{PREFIX}/me", token)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
        assert set(refused.json()) == {"detail"} and "authentication" in refused.json()["detail"]

    token = api_server.token("li.archive")
    me = api_server.get(f"{PREFIX}/me", token)
    assert me.status_code == 200, me.text
    assert me.json() == {"username": "li.archive", "department": "customer_service",
                         "roles": ["archivist"], "active": True}
    assert api_server.get(f"{PREFIX}/forms", token).json() == []
    missing = api_server.get(f"{PREFIX}/dossiers/{quote('海外-2026-電商-001', safe='')}", token)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "dossier 海外-2026-電商-001: no such dossier"}

    # An Airflow admin who is not a staff member gets nothing from the dossier API.
    ops = api_server.token("ops.airflow")
    assert api_server.get("/api/v2/dags", ops).status_code == 200
    outsider = api_server.get(f"{PREFIX}/me", ops)
    assert outsider.status_code == 403 and "not a staff member" in outsider.json()["detail"]

    # Airflow lists the plugin and its mounted app.
    plugins = api_server.get("/api/v2/plugins", ops).json()["plugins"]
    mine = [p for p in plugins if p["name"] == "dossier_api"]
    assert mine and mine[0]["fastapi_apps"][0]["url_prefix"] == PREFIX
