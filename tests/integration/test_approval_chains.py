"""Approval chains on a real PostgreSQL (Arts. 6, 16, 17): approvers come from the permission
matrix, nobody answers their own request or twice, a leaver is no longer asked, a timeout
is a rejection, and every decision is a ledger entry; the gate's answer handling without
Airflow running (its timeout event, as the scheduler sends it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from dossiers.airflow import users
from dossiers.core import db, directory
from dossiers.core.errors import PermissionDenied
from dossiers.workflows import approval_chains, staff
from dossiers.workflows.approval_chains import DESTRUCTION, Decision, Request

from helpers import rows

pytestmark = pytest.mark.integration

REQUEST = Request(request_id="destruction:1", requested_by="li.archive", run="dossier_destruction/r1",
                  chain="destruction", departments=("market",))
STEPS = {s.key: s for s in DESTRUCTION}


def _open(step: str) -> approval_chains.Asked:
    with db.transaction() as conn:
        return approval_chains.open_gate(conn, REQUEST, STEPS[step])


def _answer(step: str, username: str, decision: Decision = Decision.APPROVED) -> None:
    with db.transaction() as conn:
        approval_chains.check_answer(conn, REQUEST, STEPS[step], username)
        approval_chains.record(conn, REQUEST, STEPS[step], decision, username, "ok")


def test_approvers_come_from_the_matrix_and_departments(company) -> None:
    assert _open("cs_head_review").approvers == ["chen.cs"]
    assert _open("recheck_market").approvers == ["zhao.market"]
    assert _open("recheck_planning").decision == "not_needed"  # not involved: nobody asked
    assert _open("management_approval").approvers == ["mgmt.wu"]
    assert approval_chains.roles_allowed(DESTRUCTION[0].action) == {approval_chains.Role.CS_HEAD}


def test_nobody_answers_their_own_request_twice_or_unasked(company) -> None:
    _open("cs_head_review")
    with pytest.raises(PermissionDenied, match="their own request"):
        _answer("cs_head_review", "li.archive")
    with pytest.raises(PermissionDenied, match=r"do not allow destruction\.review"):
        _answer("cs_head_review", "wang.market")
    with pytest.raises(PermissionDenied, match="not a staff member"):
        _answer("cs_head_review", "ops.airflow")
    _answer("cs_head_review", "chen.cs")
    _open("management_approval")
    with pytest.raises(PermissionDenied, match="already answered"):
        _answer("management_approval", "chen.cs")
    refused = rows("SELECT actor, reason FROM access_log WHERE NOT allowed ORDER BY id")
    assert [a for a, _ in refused] == ["li.archive", "wang.market", "ops.airflow", "chen.cs"]
    # the chain is not approved until management answers
    with db.transaction() as conn:
        assert approval_chains.outcome(conn, REQUEST, DESTRUCTION) is Decision.REJECTED


def test_a_leaver_is_no_longer_asked_and_a_step_nobody_may_answer_is_a_rejection(company) -> None:
    with db.transaction() as conn:
        staff.leave(conn, directory.load_actor(conn, "chen.cs"), "mgmt.wu", handover_to="chen.cs")
    asked = _open("management_approval")
    assert asked.decision == "no_approver" and asked.approvers == []
    assert rows("SELECT action, details->>'decision' FROM ledger_entry WHERE subject_type = 'approval' "
                "ORDER BY seq") == [("approval.reject", "no_approver")]


def test_a_leaver_s_waiting_gates_are_asked_anew_of_whoever_holds_the_role_now(company) -> None:
    """Art. 19: a gate that asked the leaver is asked again (ledger, then Airflow's check)."""
    from dossiers.airflow import auth

    waiting = _open("management_approval")
    answered = _open("cs_head_review")
    _answer("cs_head_review", "chen.cs")
    assert waiting.approvers == ["mgmt.wu"] and answered.approvers == ["chen.cs"]
    gate = {users.gate_marker(REQUEST.run, "management_approval")["id"]}
    assert auth.may_answer(gate, "mgmt.wu") is True
    with db.transaction() as conn:  # appointed while the gate waits: not asked yet
        staff.add(conn, "chen.cs", "sun.mgmt", "management", ["management"])
    assert auth.may_answer(gate, "sun.mgmt") is False
    with pytest.raises(PermissionDenied, match="not asked"):
        _answer("management_approval", "sun.mgmt")
    with db.transaction() as conn:
        left = staff.leave(conn, directory.load_actor(conn, "chen.cs"), "mgmt.wu", handover_to="sun.mgmt")
    assert left.approvals_reassigned == 1  # the answered cs_head gate is not touched
    assert rows("SELECT details->'asked', details->>'reassigned_from' FROM ledger_entry "
                "WHERE action = 'approval.ask' AND details->>'step' = 'management_approval' "
                "ORDER BY seq") == [(["mgmt.wu"], None), (["sun.mgmt"], "mgmt.wu")]
    assert auth.may_answer(gate, "mgmt.wu") is False and auth.may_answer(gate, "sun.mgmt") is True
    assert auth.may_answer({"chen.cs"}, "chen.cs") is None  # not a gate's: Airflow decides
    _answer("management_approval", "sun.mgmt")
    with db.transaction() as conn:
        assert approval_chains.outcome(conn, REQUEST, [STEPS["cs_head_review"],
                                                       STEPS["management_approval"]]) is Decision.APPROVED
        # the only holder leaving a waiting gate: asked of nobody, its timeout rejects it
        again = Request(**{**REQUEST.__dict__, "run": "dossier_destruction/r2"})
        assert approval_chains.open_gate(conn, again, STEPS["management_approval"]).approvers == ["sun.mgmt"]
    with db.transaction() as conn:
        staff.leave(conn, directory.load_actor(conn, "chen.cs"), "sun.mgmt", handover_to="chen.cs")
        assert approval_chains.asked_in_run(conn, again.run, "management_approval") == []


def test_approvers_are_airflow_users_who_may_answer(company) -> None:
    with db.transaction() as conn:
        logins = users.staff_logins(conn)
    assert logins["chen.cs"] == logins["zhao.market"] == logins["mgmt.wu"] == "user"
    assert logins["qa.he"] == "user"  # confirms a destruction's execution (Art. 17(2)(3))
    assert logins["wang.market"] == logins["li.archive"] == "viewer"
    assert users.simple_auth_manager_users(logins).startswith("admin:admin,")
    assert users.staff_username(users.hitl_user("mgmt.wu")) == "mgmt.wu"


def test_a_gate_timing_out_records_a_rejection_and_skips_the_rest(company) -> None:
    """The scheduler's timeout sweep resumes a gate with no defaults with this error event."""
    from airflow.sdk import DAG
    from airflow.sdk.exceptions import DownstreamTasksSkipped

    from dossiers.airflow.approvals import approval_chain

    with DAG("approval_unit", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)) as dag:
        approval_chain("destruction", response_timeout=timedelta(hours=1))
    gate = dag.task_dict["approval.cs_head_review"]
    pushed: list = []
    context = {"params": {"request_id": REQUEST.request_id, "requested_by": REQUEST.requested_by,
                          "departments": ["market"]},
               "dag_run": SimpleNamespace(dag_id="dossier_destruction", run_id="r1"), "task": gate,
               "ti": SimpleNamespace(map_index=-1, xcom_push=lambda **kw: pushed.append(kw))}
    _open("cs_head_review")
    with pytest.raises(DownstreamTasksSkipped) as skipped:
        gate.execute_complete(context, {"error": "The Human-in-the-loop response timeout has passed",
                                        "error_type": "timeout"})
    assert "approval.management_approval" in skipped.value.tasks
    assert "approval.approved" in skipped.value.tasks
    assert rows("SELECT actor, action, details->>'decision' FROM ledger_entry "
                "WHERE action <> 'approval.ask' AND subject_type = 'approval'") == [
        ("system", "approval.reject", "timed_out")]
    # an approval sent after the timeout was recorded changes nothing
    gate_event = {"chosen_options": ["Approve"], "params_input": {"reason": "late"},
                  "responded_at": datetime.now(UTC), "responded_by_user": users.hitl_user("chen.cs")}
    with pytest.raises(DownstreamTasksSkipped):
        gate.execute_complete(context, gate_event)
    with db.transaction() as conn:
        assert approval_chains.outcome(conn, REQUEST, DESTRUCTION) is Decision.TIMED_OUT
