"""Runs in its own process (``tests/airflow/test_approval_dag.py``): one ``dag.test()`` of an
approval DAG in a thread, while people answer its gates through Airflow's own REST API
(the core API app in-process, ``PATCH …/hitlDetails`` with each person's JWT as
``POST /auth/token`` issues it; the deployment's auth manager,
``dossiers.airflow.auth``). Prints one ``RESULT {json}`` line per answer and one for
the run. argv: dag folder, dag id, run conf (JSON), answers (JSON list of
``[task_id, username, option, reason]``)."""

from __future__ import annotations

import json
import sys
import threading
import time

from airflow.api_fastapi.app import create_app
from airflow.api_fastapi.auth.managers.simple.datamodels.login import LoginBody
from airflow.api_fastapi.auth.managers.simple.services.login import SimpleAuthManagerLogin
from airflow.dag_processing.dagbag import DagBag
from fastapi.testclient import TestClient

from dossiers.airflow.users import GATE_MARKER

DEADLINE_S = 120


def main() -> None:
    folder, dag_id, conf, answers = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
    passwords = json.loads(open(sys.argv[5]).read())
    bag = DagBag(dag_folder=folder)
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags[dag_id]
    finished = threading.Event()
    client = TestClient(create_app("core"))

    def token(user: str) -> str:
        return SimpleAuthManagerLogin.create_token(LoginBody(username=user, password=passwords[user]))

    def answer_all() -> None:
        for task_id, user, option, reason in answers:
            deadline = time.monotonic() + DEADLINE_S
            while True:  # until the gate waits for an answer (poll with a deadline)
                found = client.get(f"/api/v2/dags/{dag_id}/dagRuns/~/hitlDetails",
                                   params={"task_id": task_id, "response_received": False},
                                   headers={"Authorization": f"Bearer {token('ops.airflow')}"}).json()
                waiting = [d for d in found.get("hitl_details", [])
                           if d["task_instance"]["state"] == "awaiting_input"]
                if waiting or finished.is_set() or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            if not waiting:
                print("RESULT " + json.dumps({"task_id": task_id, "user": user, "status": None}), flush=True)
                continue
            ti = waiting[0]["task_instance"]
            response = client.patch(
                f"/api/v2/dags/{dag_id}/dagRuns/{ti['dag_run_id']}/taskInstances/{task_id}/-1/hitlDetails",
                json={"chosen_options": [option], "params_input": {"reason": reason}},
                headers={"Authorization": f"Bearer {token(user)}"})
            ids = [u["id"] for u in waiting[0]["assigned_users"]]
            print("RESULT " + json.dumps({"task_id": task_id, "user": user, "status": response.status_code,
                                          "assigned": [i for i in ids if not i.startswith(GATE_MARKER)],
                                          "gate": [i for i in ids if i.startswith(GATE_MARKER)]}),
                  flush=True)

    answering = threading.Thread(target=answer_all, daemon=True)
    answering.start()
    try:  # dag.test() in the main thread (Airflow sets signal handlers)
        dr = dag.test(run_conf=conf)
        outcome = {"state": str(dr.state), "run_id": dr.run_id}
    except Exception as exc:  # reported, not swallowed
        outcome = {"state": f"error: {type(exc).__name__}: {exc}"}
    finished.set()
    answering.join(DEADLINE_S)
    print("RESULT " + json.dumps({"run": outcome}), flush=True)


if __name__ == "__main__":
    main()
