"""Starting the approval DAG run of a destruction (Art. 17) or disclosure (Art. 16) request
through Airflow's REST API: what ``dossier destruction submit`` and ``dossier disclosure
submit`` do.

Who may submit is decided by the one permission check (the caller's), never by Airflow: the
run is started with the operator's service login, and the request's own conf names who asked
(the gates never let that person answer). Where Airflow is and how to log in:

- ``DOSSIER_AIRFLOW_URL``: the API server (default ``http://127.0.0.1:8080``, ``make airflow``);
- ``DOSSIER_AIRFLOW_TOKEN``: a bearer token, or ``DOSSIER_AIRFLOW_USER`` and
  ``DOSSIER_AIRFLOW_PASSWORD``, exchanged at ``POST /auth/token``.

Cheap to import (only ``httpx``): the command line uses it without loading Airflow.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from dossiers.core.errors import Refused
from dossiers.workflows.results import Result

#: The DAG that carries each kind of request (``dags/destruction.py``, ``dags/disclosure.py``).
DAG_OF = {"destruction": "dossier_destruction", "disclosure": "dossier_disclosure"}
DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Submitted(Result):
    """The run that now carries the request: where to watch it and answer its gates."""

    request_id: str
    dag_id: str
    dag_run_id: str
    state: str
    url: str


def _token(client: httpx.Client, env: Mapping[str, str], record: str) -> str:
    if env.get("DOSSIER_AIRFLOW_TOKEN"):
        return env["DOSSIER_AIRFLOW_TOKEN"]
    user, password = env.get("DOSSIER_AIRFLOW_USER"), env.get("DOSSIER_AIRFLOW_PASSWORD")
    if not (user and password):
        raise Refused("cannot reach Airflow: set DOSSIER_AIRFLOW_TOKEN, or DOSSIER_AIRFLOW_USER "
                      "and DOSSIER_AIRFLOW_PASSWORD (the operator's service login)",
                      record=record, field="airflow")
    answer = client.post("/auth/token", json={"username": user, "password": password})
    if answer.status_code not in (200, 201):
        raise Refused(f"Airflow refused the login of {user} ({answer.status_code})",
                      record=record, field="airflow")
    return str(answer.json()["access_token"])


def run_id_of(request_id: str) -> str:
    """One run per request: the run id is the request's (``destruction:<uuid>`` →
    ``destruction-<uuid>``), so submitting twice never starts a second chain."""
    return request_id.replace(":", "-")


def submit(kind: str, conf: Mapping[str, Any], *,
           env: Mapping[str, str] | None = None) -> Submitted:
    """Start the run of ``kind``'s DAG for the request ``conf`` describes; a request already
    submitted answers with its existing run. Refused, starting nothing, when Airflow cannot
    be reached or logged in to, or the DAG is missing or paused (a paused DAG's run would
    wait unseen)."""
    env = os.environ if env is None else env
    dag_id, request_id = DAG_OF[kind], str(conf["request_id"])
    record = f"{kind} request {request_id.split(':', 1)[-1]}"
    base = env.get("DOSSIER_AIRFLOW_URL") or DEFAULT_URL
    run_id = run_id_of(request_id)
    try:
        with httpx.Client(base_url=base, timeout=TIMEOUT_S) as client:
            client.headers["Authorization"] = f"Bearer {_token(client, env, record)}"
            dag = client.get(f"/api/v2/dags/{dag_id}")
            if dag.status_code == 404:
                raise Refused(f"Airflow at {base} has no DAG {dag_id}: deploy dags/",
                              record=record, field="airflow")
            dag.raise_for_status()
            if dag.json().get("is_paused"):
                raise Refused(f"the DAG {dag_id} is paused: ops unpause it first (nothing "
                              "was started)", record=record, field="airflow")
            started = client.post(f"/api/v2/dags/{dag_id}/dagRuns", json={
                "dag_run_id": run_id, "logical_date": None, "conf": dict(conf)})
            if started.status_code == 409:  # submitted before: the same run
                started = client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            started.raise_for_status()
    except httpx.HTTPError as exc:
        raise Refused(f"Airflow at {base} did not start the run: {exc}", record=record,
                      field="airflow") from None
    return Submitted(request_id, dag_id, run_id, str(started.json().get("state")),
                     f"{base}/dags/{dag_id}/runs/{run_id}")
