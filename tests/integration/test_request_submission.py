"""Handing a destruction request to its approval run in Airflow (Arts. 16, 17): who may, when,
and what is left when Airflow is not there. The run itself, on a running Airflow, is in
``tests/airflow/test_stack.py``; here Airflow is a closed port on loopback."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from integration.test_destruction import make_dossiers

from dossiers.airflow import runs
from dossiers.core.errors import PermissionDenied, Refused
from dossiers.destruction import approvals, requests

from helpers import act, free_port, scalar

pytestmark = pytest.mark.integration

SUBMITTED = "SELECT count(*) FROM ledger_entry WHERE action = 'approval.submit'"


def _submit(user: str, request_id: uuid.UUID, env: dict[str, str]) -> runs.Submitted:
    return act(user, lambda conn, actor: runs.submit(
        "destruction", approvals.submission(conn, actor, "destruction", request_id), env=env))


def test_a_request_is_submitted_by_who_may_prepare_it_and_only_once_airflow_answers(
        company: Any, tmp_path: Path) -> None:
    numbers = make_dossiers(tmp_path, 1)
    made = act("li.archive", lambda c, a: requests.request(c, a, [requests.Item(numbers[0])]))
    request_id = uuid.UUID(str(made.request_id))
    closed = {"DOSSIER_AIRFLOW_URL": f"http://127.0.0.1:{free_port()}",
              "DOSSIER_AIRFLOW_TOKEN": "a-token"}

    with pytest.raises(PermissionDenied):  # a liaison prepares no destruction
        _submit("wang.market", request_id, closed)
    with pytest.raises(Refused, match="set DOSSIER_AIRFLOW_TOKEN"):
        _submit("li.archive", request_id, {"DOSSIER_AIRFLOW_URL": closed["DOSSIER_AIRFLOW_URL"]})
    with pytest.raises(Refused, match="did not start the run") as refused:
        _submit("li.archive", request_id, closed)
    assert refused.value.record == f"destruction request {request_id}"
    assert "a-token" not in str(refused.value)
    assert scalar(SUBMITTED) == 0  # refused work writes nothing

    act("chen.cs", lambda c, a: requests.decide(c, a, request_id, requests.CS_HEAD,
                                                approve=False, reason="keep it"))
    with pytest.raises(Refused, match="is rejected: only a request waiting"):
        _submit("li.archive", request_id, closed)
    assert scalar(SUBMITTED) == 0
