"""Approvals by named people through a real Airflow (``dag.test()``, one process), answered
through Airflow's REST API with each person's own token (``approval_driver.py``): the chain
derived from the matrix asks the right people one after the other, an unassigned user gets
403, a rejection stops the chain at once, and every decision is in the ledger."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dossiers.core.vocabulary import LedgerAction
from dossiers.local import local_airflow

from helpers import airflow_auth_env, rows

pytestmark = pytest.mark.airflow

HERE = Path(__file__).parent
#: Airflow logins of the test: the approvers answer (SimpleAuthManager "user"), ops watches.
USERS = {"chen.cs": "user", "zhao.market": "user", "mgmt.wu": "user", "li.archive": "user",
         "wang.market": "viewer", "ops.airflow": "admin"}
REQUEST = {"request_id": "destruction:7", "requested_by": "li.archive", "departments": ["market"],
           "summary": "3 dossiers terminated in 2022"}
GATE = "approval.{}"


def _drive(database_url: str, tmp_path: Path, answers: list[list[str]]) -> list[dict]:
    env = local_airflow.airflow_env(database_url)
    auth, passwords = airflow_auth_env(tmp_path / "airflow", USERS)
    env.update(auth)
    env.update({"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(HERE / "approval_dags"),
                "DOSSIER_DEADLINE_ALERTS": "0"})
    (tmp_path / "passwords.json").write_text(json.dumps(passwords))
    log = tmp_path / "airflow.log"
    with log.open("wb") as sink:
        assert local_airflow.ensure_metadata_db(env, output=sink) == 0
        proc = subprocess.run(
            [sys.executable, str(HERE / "approval_driver.py"), str(HERE / "approval_dags"),
             "approval_check", json.dumps(REQUEST), json.dumps(answers), str(tmp_path / "passwords.json")],
            env=env, stdout=subprocess.PIPE, stderr=sink, timeout=300, check=False)
    with log.open("ab") as sink:
        sink.write(proc.stdout)
    results = [json.loads(line.removeprefix(b"RESULT ")) for line in proc.stdout.splitlines()
               if line.startswith(b"RESULT ")]
    assert proc.returncode == 0 and results, log.read_text()[-5000:]
    return results


def _approvals() -> list[tuple]:
    return rows("SELECT actor, action, details->>'step', details->>'decision', details->>'reason' "
                "FROM ledger_entry WHERE subject_type = 'approval' AND subject_id = 'destruction:7' "
                "AND action <> :ask ORDER BY seq", ask=LedgerAction.APPROVAL_ASK.value)


def test_each_named_approver_answers_in_turn_and_the_guarded_task_runs(company, database_url: str,
                                                                       tmp_path: Path) -> None:
    results = _drive(database_url, tmp_path, [
        [GATE.format("cs_head_review"), "wang.market", "Approve", "not mine to give"],  # 403
        [GATE.format("cs_head_review"), "chen.cs", "Approve", "all three past 3 years"],
        [GATE.format("recheck_market"), "zhao.market", "Approve", "market needs none"],
        [GATE.format("management_approval"), "chen.cs", "Approve", "twice"],  # 403: answered already
        [GATE.format("management_approval"), "mgmt.wu", "Approve", "approved"],
    ])
    *answers, run = results
    assert [(a["user"], a["status"]) for a in answers] == [
        ("wang.market", 403), ("chen.cs", 200), ("zhao.market", 200), ("chen.cs", 403), ("mgmt.wu", 200)]
    # each gate named exactly the people the matrix allows, never the requester
    assert answers[1]["assigned"] == ["chen.cs"]
    assert answers[2]["assigned"] == ["zhao.market"]
    assert answers[4]["assigned"] == ["mgmt.wu"]
    # ...and the gate itself, so that Airflow asks the ledger who may answer it now
    gate = f"asked-in-ledger:management_approval@approval_check/{run['run']['run_id']}"
    assert answers[4]["gate"] == [gate]
    assert run["run"]["state"] == "success"
    assert _approvals() == [
        ("chen.cs", "approval.approve", "cs_head_review", "approved", "all three past 3 years"),
        ("zhao.market", "approval.approve", "recheck_market", "approved", "market needs none"),
        ("mgmt.wu", "approval.approve", "management_approval", "approved", "approved"),
    ]
    # departments the request does not involve were not asked
    asked = rows("SELECT details->>'step' FROM ledger_entry WHERE action = 'approval.ask' ORDER BY seq")
    assert [a for (a,) in asked] == ["cs_head_review", "recheck_market", "management_approval"]


def test_a_rejection_stops_the_chain_at_once_and_is_in_the_ledger(company, database_url: str,
                                                                  tmp_path: Path) -> None:
    results = _drive(database_url, tmp_path, [
        [GATE.format("cs_head_review"), "chen.cs", "Approve", "eligible"],
        [GATE.format("recheck_market"), "zhao.market", "Reject", "a renewal is being negotiated"],
        [GATE.format("management_approval"), "mgmt.wu", "Approve", "too late"],
    ])
    *answers, run = results
    assert [(a["user"], a["status"]) for a in answers] == [
        ("chen.cs", 200), ("zhao.market", 200), ("mgmt.wu", None)]  # management was never asked
    assert run["run"]["state"] == "success"  # Airflow's way: the rest is skipped
    assert _approvals() == [
        ("chen.cs", "approval.approve", "cs_head_review", "approved", "eligible"),
        ("zhao.market", "approval.reject", "recheck_market", "rejected", "a renewal is being negotiated"),
    ]
