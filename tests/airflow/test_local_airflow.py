"""``make airflow`` (``dossiers.local.local_airflow``): where its api-server listens.

Airflow's own default is ``[api] host = 0.0.0.0``; ``make airflow`` comes up with generated
admin credentials, so it binds loopback unless ``DOSSIER_AIRFLOW_HOST`` says otherwise. The
host is read the way ``airflow standalone`` reads it: it starts ``airflow api-server``
without ``--host``, whose default is the ``[api] host`` of its configuration. No server is
started: the argument the api-server would get is checked in an Airflow process with the
environment ``make airflow`` hands it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dossiers.core import config
from dossiers.local import local_airflow

pytestmark = pytest.mark.airflow

#: What ``airflow api-server`` (as ``airflow standalone`` starts it) would bind.
_API_SERVER_HOST = ("from airflow.cli.cli_parser import get_parser; "
                    "print(get_parser().parse_args(['api-server']).host)")


def _api_server_host(env: dict[str, str]) -> str:
    proc = subprocess.run([sys.executable, "-c", _API_SERVER_HOST], env=env, capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def test_make_airflow_listens_on_loopback_unless_told_otherwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://dossier@127.0.0.1:5432/dossier"
    monkeypatch.delenv("DOSSIER_AIRFLOW_HOST", raising=False)
    monkeypatch.setenv("AIRFLOW__API__HOST", "0.0.0.0")  # a stray setting does not widen it
    env = local_airflow.airflow_env(url)
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert _api_server_host(env) == "127.0.0.1"
    assert local_airflow.ui_url(env) == "http://localhost:8080"

    monkeypatch.setenv("DOSSIER_AIRFLOW_HOST", "0.0.0.0")  # told otherwise: every interface
    env = local_airflow.airflow_env(url)
    assert _api_server_host(env) == "0.0.0.0"


def test_make_airflow_hands_the_dags_the_clis_ledger_anchor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One setting (``config.ledger_anchor``): what the CLI compares with is what the ledger
    DAG moves. Before, an empty DOSSIER_LEDGER_ANCHOR reached the DAG as "no anchor" while
    the CLI used .dossier/ledger.anchor."""
    url = "postgresql+psycopg://dossier@127.0.0.1:5432/dossier"
    home = tmp_path / "home"
    monkeypatch.setenv("DOSSIER_HOME", str(home))  # airflow_env passes this process's home on
    for given, expected in (({}, home / "ledger.anchor"),
                            ({"DOSSIER_LEDGER_ANCHOR": ""}, home / "ledger.anchor"),
                            ({"DOSSIER_LEDGER_ANCHOR": "/srv/anchor"}, Path("/srv/anchor"))):
        base = {"PATH": "/usr/bin", **given}
        env = local_airflow.airflow_env(url, base)
        assert env["DOSSIER_LEDGER_ANCHOR"] == str(expected)
        assert config.ledger_anchor(env) == expected


def test_make_airflow_says_whom_to_sign_in_as_per_role_and_where_the_reports_are(
        company: dict[str, str], database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before, the output listed every login without its role: which one reads reports?"""
    monkeypatch.delenv("DOSSIER_AIRFLOW_HOST", raising=False)
    monkeypatch.delenv("AIRFLOW__API__PORT", raising=False)
    env = local_airflow.airflow_env(database_url)
    people = local_airflow.staff_usernames(database_url)
    text = local_airflow.welcome(env, people, local_airflow.sign_in_as(database_url))
    lines = text.splitlines()
    start = lines.index("Sign in as, per role:")
    # One login per role (the first by name: sun.plan and wang.market are both liaisons).
    assert [line.split() for line in lines[start + 1:start + 7]] == [
        ["liaison", "sun.plan"], ["dept_head", "zhao.market"], ["archivist", "li.archive"],
        ["cs_head", "chen.cs"], ["qa_supervisor", "qa.he"], ["management", "mgmt.wu"]]
    assert "Reports: http://localhost:8080/dossier-reports/ (in the UI: Browse > Dossier reports)" \
        in lines
    assert any("make stop" in line for line in lines)
