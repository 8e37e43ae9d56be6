"""Destruction through real approvals (Art. 17): the destruction DAG run with dag.test(), its
gates answered through Airflow's REST API by each person with their own token
(``approval_driver.py``): approved all the way, the dossier is destroyed; a rejection stops it
and the form is rejected with the reason; a condition that changed before execution stops it.
(The running Celery stack of ``test_stack.py`` is not used here.)"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from integration.test_destruction import make_dossiers

from dossiers.core import clock, db
from dossiers.core.crypto import KeyRing
from dossiers.destruction import approvals, holds, requests
from dossiers.disclosure import requests as disclosures
from dossiers.local import local_airflow

from helpers import act, airflow_auth_env, rows, scalar

pytestmark = pytest.mark.airflow

HERE = Path(__file__).parent
USERS = {"chen.cs": "user", "zhao.market": "user", "mgmt.wu": "user", "qa.he": "user",
         "li.archive": "user", "wang.market": "viewer", "ops.airflow": "admin"}
GATE = "approval.{}"


def _drive(database_url: str, tmp_path: Path, conf: dict[str, Any],
           answers: list[list[str]], dag_id: str = "dossier_destruction") -> list[dict[str, Any]]:
    env = local_airflow.airflow_env(database_url)
    auth, passwords = airflow_auth_env(tmp_path / "airflow", USERS)
    env.update(auth)
    env.update({"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(HERE / "approval_dags"),
                "DOSSIER_DEADLINE_ALERTS": "0",
                "DOSSIER_DESTRUCTION_REGISTER": str(tmp_path / "register"),
                "DOSSIER_DOCUMENT_STORE": str(tmp_path / "documents")})
    (tmp_path / "passwords.json").write_text(json.dumps(passwords))
    log = tmp_path / "airflow.log"
    with log.open("wb") as sink:
        assert local_airflow.ensure_metadata_db(env, output=sink) == 0
        proc = subprocess.run(
            [sys.executable, str(HERE / "approval_driver.py"), str(HERE / "approval_dags"),
             dag_id, json.dumps(conf), json.dumps(answers),
             str(tmp_path / "passwords.json")],
            env=env, stdout=subprocess.PIPE, stderr=sink, timeout=400, check=False)
    with log.open("ab") as sink:
        sink.write(proc.stdout)
    results = [json.loads(line.removeprefix(b"RESULT ")) for line in proc.stdout.splitlines()
               if line.startswith(b"RESULT ")]
    assert proc.returncode == 0 and results, log.read_text()[-5000:]
    return results


def _form(tmp_path: Path, count: int = 1) -> tuple[list[str], uuid.UUID, dict[str, Any]]:
    numbers = make_dossiers(tmp_path, count)
    made = act("li.archive", lambda c, a: requests.request(
        c, a, [requests.Item(n) for n in numbers]))
    request_id = uuid.UUID(str(made.request_id))
    with db.transaction() as conn:
        conf = approvals.destruction_conf(conn, request_id)
    return numbers, request_id, conf


ALL = [[GATE.format("cs_head_review"), "chen.cs", "Approve", "past 3 years"],
       [GATE.format("recheck_market"), "zhao.market", "Approve", "market needs none"],
       [GATE.format("management_approval"), "mgmt.wu", "Approve", "approved"],
       [GATE.format("qa_supervision"), "qa.he", "Approve", "supervising"]]


def test_from_the_form_to_destroyed_through_real_approvals(company: Any, database_url: str,
                                                           tmp_path: Path) -> None:
    numbers, _, conf = _form(tmp_path)
    results = _drive(database_url, tmp_path, conf,
                     [[GATE.format("cs_head_review"), "wang.market", "Approve", "not mine"], *ALL])
    *answers, run = results
    assert [(a["user"], a["status"]) for a in answers] == [
        ("wang.market", 403), ("chen.cs", 200), ("zhao.market", 200), ("mgmt.wu", 200),
        ("qa.he", 200)]
    assert answers[4]["assigned"] == ["qa.he"]
    assert "success" in run["run"]["state"], run
    assert scalar("SELECT status FROM destruction_request") == "executed"
    assert rows("SELECT gate, via FROM destruction_approval ORDER BY decided_at") == [
        ("cs_head", "airflow"), ("department:market", "airflow"), ("management", "airflow"),
        ("qa_supervisor", "airflow")]
    assert scalar("SELECT count(*) FROM dossier") == 0
    assert rows("SELECT dossier_no FROM dossier_tombstone") == [(numbers[0],)]


def test_a_rejection_in_airflow_rejects_the_form_with_its_reason(company: Any, database_url: str,
                                                                 tmp_path: Path) -> None:
    _, _, conf = _form(tmp_path)
    results = _drive(database_url, tmp_path, conf, [
        ALL[0], [GATE.format("recheck_market"), "zhao.market", "Reject", "renewal talks"],
        ALL[2]])
    *answers, run = results
    assert [(a["user"], a["status"]) for a in answers] == [
        ("chen.cs", 200), ("zhao.market", 200), ("mgmt.wu", None)]  # never asked
    assert "success" in run["run"]["state"], run  # Airflow's way: the rest skipped
    assert rows("SELECT status, rejection_reason FROM destruction_request") == [
        ("rejected", "renewal talks")]
    assert scalar("SELECT count(*) FROM dossier") == 1


def test_a_condition_changed_before_execution_stops_it_in_airflow(
        company: Any, database_url: str, tmp_path: Path) -> None:
    numbers, _, conf = _form(tmp_path)
    act("chen.cs", lambda c, a: holds.place(c, a, numbers[0], kind="regulator",
                                            reference="CAC-2026-9"))
    *_, run = _drive(database_url, tmp_path, conf, ALL)
    assert "failed" in run["run"]["state"], run  # the execution task fails, naming it
    assert scalar("SELECT status FROM destruction_request") == "stopped"
    assert "a legal hold (regulator CAC-2026-9)" in scalar(
        "SELECT stop_reason FROM destruction_request")
    assert scalar("SELECT count(*) FROM dossier") == 1


def test_a_disclosure_approved_by_management_in_airflow_may_be_packaged(
        company: Any, database_url: str, tmp_path: Path) -> None:
    """Art. 16: the disclosure DAG asks management only; the requester cannot answer."""
    number = make_dossiers(tmp_path, 1)[0]
    made = act("li.archive", lambda c, a: disclosures.request(
        c, KeyRing(), a, number, recipient="Landgericht Berlin", recipient_country="DE",
        legal_basis="litigation", purpose="evidence in case 12 O 345/26", scope=["market"],
        documents=[], expires_on=clock.today() + timedelta(days=30),
        confidentiality_ref="NDA-2026-041"))
    with db.transaction() as conn:
        conf = approvals.disclosure_conf(conn, uuid.UUID(str(made.request_id)))
    gate = GATE.format("management_approval")
    *answers, run = _drive(database_url, tmp_path, conf,
                           [[gate, "li.archive", "Approve", "mine"],
                            [gate, "mgmt.wu", "Approve", "court order"]], "dossier_disclosure")
    assert [(a["user"], a["status"]) for a in answers] == [("li.archive", 403), ("mgmt.wu", 200)]
    assert "success" in run["run"]["state"], run
    assert scalar("SELECT status FROM disclosure_request") == "approved"
