"""The deployment's Airflow auth manager: SimpleAuthManager, with approval gates answered by
whoever the ledger asks now (Arts. 17, 19).

Airflow decides who may answer a human-in-the-loop task from the ``assigned_users`` frozen
into it when it opened. An approval gate (``dossiers.airflow.approvals``) adds a marker of
itself to that list (``users.gate_marker``); for such a gate this manager asks the dossier
database instead: the user must be named by the gate's latest ``approval.ask`` in the ledger
(reassigned there when someone asked leaves, ``approval_chains.reassign``). Everything else is
SimpleAuthManager's, and :func:`~dossiers.workflows.approval_chains.check_answer` still
re-checks every answer that Airflow lets through.

Configured by ``topology.SHARED_ENV`` (``[core] auth_manager``) for ``make airflow``, the
compose stack and the tests' stacks.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

from dossiers.airflow import users


def may_answer(assigned_users: set[str], username: str) -> bool | None:
    """Whether ``username`` may answer the approval gate ``assigned_users`` belong to, by the
    ledger; ``None`` when they are not an approval gate's (Airflow decides alone)."""
    gate = users.marked_gate(assigned_users)
    if gate is None:
        return None
    from dossiers.core import db
    from dossiers.workflows import approval_chains

    run, step_key = gate
    with db.transaction() as conn:
        return username in approval_chains.asked_in_run(conn, run, step_key)


class StaffAuthManager(SimpleAuthManager):
    """SimpleAuthManager whose approval gates follow the ledger's reassignments."""

    def is_authorized_hitl_task(self, *, assigned_users: set[str], user: Any) -> bool:
        by_ledger = may_answer(assigned_users, str(user.get_id()))
        if by_ledger is None:
            return super().is_authorized_hitl_task(assigned_users=assigned_users, user=user)
        return by_ledger
