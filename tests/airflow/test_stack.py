"""Airflow as it is deployed (issue 13), one stack shared by the module: api-server,
scheduler, dag-processor, triggerer and two Celery workers (``make airflow EXECUTOR=celery``'s
``airflow_stack``), CeleryExecutor on this machine's Redis (a queue of its own), a
PostgreSQL metadata database, over a seeded dossier database, with mail caught by a real
SMTP server. Everything is driven through Airflow's REST API with the official client
(``apache-airflow-client``) and each person's own token; nothing sleeps for a fixed time.

- a duty is unpaused and triggered, and what it wrote is in the dossier database; another
  runs on its schedule, nobody triggering it;
- the worker that holds a running duty is killed: the task is retried to success on the
  other worker, with no duplicate finding, report or e-mail;
- approvals: the assigned people answer ``PATCH …/hitlDetails``, an unassigned user gets
  403, a rejection stops the chain at once and is in the ledger, a timeout is recorded as
  a rejection;
- a destruction (Art. 17) from the archivist's form, submitted with ``dossier destruction
  submit``, through every gate of ``dags/destruction.py`` to the destroyed dossier and its
  signed certificate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller

from dossiers.airflow import topology
from dossiers.core import db, ledger
from dossiers.core.config import SHANGHAI
from dossiers.local import airflow_stack, local_airflow

from conftest import Inbox, _admin, _fresh_database, free_port

pytestmark = [pytest.mark.stack, pytest.mark.airflow]

REPO = Path(__file__).resolve().parents[2]
START_DEADLINE_S = 240
#: A second manager added before the stack starts (so they have an Airflow login).
DEPUTY = "deputy.mgmt"
#: A manager appointed while a gate waits (the reassignment test): their Airflow login exists
#: from the start, as an SSO account would, their staff record only from the appointment.
NEWCOMER = "new.mgmt"
RUN_DEADLINE_S = 240


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check()`` until it returns something truthy (and return it), within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.5)


class Running:
    """The running stack: its dossier database, caught mail, people and REST clients."""

    def __init__(self, stack: airflow_stack.Stack, url: str, inbox: Inbox):
        self.stack = stack
        self.url = url
        self.inbox = inbox
        self._tokens: dict[str, str] = {}

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        from sqlalchemy import text

        with db.transaction(db.get_engine(self.url)) as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]

    def token(self, username: str) -> str:
        if username not in self._tokens:
            passwords = json.loads((self.stack.home / airflow_stack.PASSWORDS_FILE).read_text())
            response = httpx.post(f"{self.stack.base_url}/auth/token", timeout=30,
                                  json={"username": username, "password": passwords[username]})
            assert response.status_code == 201, response.text
            self._tokens[username] = response.json()["access_token"]
        return self._tokens[username]

    def client(self, username: str = "admin") -> Any:
        import airflow_client.client as ac

        return ac.ApiClient(ac.Configuration(host=self.stack.base_url, access_token=self.token(username)))

    def parsed(self, dag_id: str) -> None:
        """Wait until the dag-processor has parsed ``dag_id`` (it stays as it was: paused)."""
        from airflow_client.client.api import dag_api
        from airflow_client.client.exceptions import NotFoundException

        with self.client() as api:
            dags = dag_api.DAGApi(api)

            def found() -> bool:
                try:
                    return dags.get_dag(dag_id) is not None
                except NotFoundException:
                    return False

            until(found, START_DEADLINE_S, f"{dag_id} parsed by the dag-processor")

    def unpause(self, dag_id: str) -> None:
        import airflow_client.client as ac
        from airflow_client.client.api import dag_api

        self.parsed(dag_id)
        with self.client() as api:
            dag_api.DAGApi(api).patch_dag(dag_id, ac.DAGPatchBody(is_paused=False))

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Unpause ``dag_id`` once the dag-processor has parsed it, and trigger a run."""
        import airflow_client.client as ac
        from airflow_client.client.api import dag_run_api

        self.unpause(dag_id)
        with self.client() as api:
            # a logical date, as the duties read their period from the data interval
            run = dag_run_api.DagRunApi(api).trigger_dag_run(
                dag_id, ac.TriggerDAGRunPostBody(logical_date=datetime.now(UTC), conf=conf or {}))
        return str(run.dag_run_id)

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """``dossier ARGS`` on the stack's dossier database (and home, as the workers)."""
        return subprocess.run([sys.executable, "-m", "dossiers.cli", *args], capture_output=True,
                              text=True, timeout=300, check=False,
                              env={**os.environ, "DOSSIER_DATABASE_URL": self.url,
                                   "DOSSIER_HOME": self.stack.env["DOSSIER_HOME"], **env})

    def run_state(self, dag_id: str, run_id: str) -> str:
        from airflow_client.client.api import dag_run_api

        with self.client() as api:
            return str(dag_run_api.DagRunApi(api).get_dag_run(dag_id, run_id).state.value)

    def wait_for_run(self, dag_id: str, run_id: str) -> str:
        return str(until(lambda: (s := self.run_state(dag_id, run_id)) not in ("queued", "running") and s,
                         RUN_DEADLINE_S, f"{dag_id} {run_id} finished"))

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, Any]:
        from airflow_client.client.api import task_instance_api

        with self.client() as api:
            found = task_instance_api.TaskInstanceApi(api).get_task_instances(dag_id, run_id)
        return {ti.task_id: ti for ti in found.task_instances}

    def waiting_gate(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """The gate's request once it waits for an answer (its assigned users)."""
        from airflow_client.client.api import task_instance_api

        def waiting() -> Any:
            with self.client() as api:
                found = task_instance_api.TaskInstanceApi(api).get_hitl_details(
                    dag_id, run_id, task_id=task_id)
            return next((d for d in found.hitl_details if d.task_instance.state is not None
                         and str(d.task_instance.state.value) == "awaiting_input"), None)

        return until(waiting, RUN_DEADLINE_S, f"{task_id} waiting for an answer")

    def answer(self, username: str, dag_id: str, run_id: str, task_id: str, option: str,
               reason: str) -> int:
        """``PATCH …/hitlDetails`` with ``username``'s own token; the HTTP status."""
        import airflow_client.client as ac
        from airflow_client.client.api import task_instance_api
        from airflow_client.client.exceptions import ApiException

        with self.client(username) as api:
            try:
                task_instance_api.TaskInstanceApi(api).update_hitl_detail(
                    dag_id, run_id, task_id, -1,
                    ac.UpdateHITLDetailPayload(chosen_options=[option], params_input={"reason": reason}))
            except ApiException as refused:
                return int(refused.status)
        return 200


def _people(url: str) -> dict[str, Any]:
    from sqlalchemy import text

    with db.transaction(db.get_engine(url)) as conn:
        found = conn.execute(text(
            "SELECT r.role, s.username, s.department FROM staff s JOIN staff_role r ON r.staff_id = s.id "
            "WHERE s.active ORDER BY s.username")).all()
    by_role: dict[str, list[tuple[str, str]]] = {}
    for role, username, department in found:
        by_role.setdefault(role, []).append((username, department))
    return by_role


def _named(gate: Any) -> list[str]:
    """The staff a gate names (its ``assigned_users`` but the marker of the gate itself)."""
    from dossiers.airflow.users import GATE_MARKER

    return [u.id for u in gate.assigned_users if not u.id.startswith(GATE_MARKER)]


@pytest.fixture(scope="module")
def running(pg_server: str, template_db: str, _environment: dict[str, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("stack")
    name = f"dossier_stack_{uuid.uuid4().hex[:10]}"
    _fresh_database(pg_server, name, template_db)
    url = f"{pg_server}/{name}"
    seed = subprocess.run([sys.executable, "-m", "dossiers.cli", "seed", "--clients", "30", "--seed", "9"],
                          env={**_environment, "DOSSIER_DATABASE_URL": url}, capture_output=True,
                          text=True, timeout=300, check=False)
    assert seed.returncode == 0, seed.stderr
    with db.transaction(db.get_engine(url)) as conn:  # a second manager (the reassignment test)
        from sqlalchemy import text

        from dossiers.workflows import staff

        cs_head = conn.execute(text(
            "SELECT s.username FROM staff s JOIN staff_role r ON r.staff_id = s.id "
            "WHERE r.role = 'cs_head' AND s.active ORDER BY 1 LIMIT 1")).scalar_one()
        staff.add(conn, cs_head, DEPUTY, "management", ["management"])
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    dags = root / "dags"  # the duties and the tests' approval DAGs
    dags.mkdir()
    approval_dags = REPO / "tests/airflow/approval_dags/approval_check.py"
    for source in [*sorted((REPO / "dags").glob("*.py")), approval_dags]:
        (dags / source.name).symlink_to(source)
    base = local_airflow.airflow_env(url, base=_environment)
    extra = json.dumps({"from_email": "dossiers@staff.example.com", "disable_tls": True,
                        "disable_ssl": True, "timeout": 10, "retry_limit": 1})
    base.update({
        "AIRFLOW_HOME": str(root / "airflow"), "DOSSIER_HOME": str(root / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW_CONN_DOSSIER_SMTP": json.dumps({"conn_type": "smtp", "host": "127.0.0.1",
                                                  "port": smtp_port, "extra": extra}),
        "DOSSIER_REPORT_STORE": str(root / "reports"),
        "DOSSIER_LEDGER_ANCHOR": str(root / "home" / "ledger.anchor"),
        # a queue of its own on the shared Redis; ports of its own (other stacks may run)
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"stack_{uuid.uuid4().hex[:8]}",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
        # a killed worker's task is found within seconds and retried at once
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
        "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "3",
        "DOSSIER_RETRY_DELAY_S": "2",
        "DOSSIER_TEST_SHORT_TIMEOUT_S": "8",
    })
    (root / "home").mkdir()
    metadata = airflow_stack.metadata_url(url)
    airflow_stack.ensure_database(metadata)
    with db.transaction(db.get_engine(url)) as conn:
        from dossiers.airflow import users

        logins = {**users.staff_logins(conn), NEWCOMER: "user"}
    broker_url, redis_port, _ = airflow_stack.broker()
    env = airflow_stack.stack_env(base, executor=topology.CELERY, metadata=metadata, logins=logins,
                                  broker_url=broker_url, port=free_port())
    stack = airflow_stack.Stack(env, topology.CELERY, redis_port=redis_port,
                                worker_prefix=f"{env['AIRFLOW__OPERATORS__DEFAULT_QUEUE']}-w")
    try:
        with (root / "migrate.log").open("wb") as sink:
            stack.migrate(sink)
        stack.start()
        stack.wait_until_ready(START_DEADLINE_S)
        yield Running(stack, url, inbox)
    finally:
        stack.stop()
        controller.stop()
        leftovers = [p.name for p in stack.processes]
        assert leftovers == []
        db.dispose(url)
        with _admin(pg_server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'DROP DATABASE IF EXISTS "{name}_airflow" WITH (FORCE)')


def test_a_duty_runs_through_the_scheduler_and_a_celery_worker(running: Running) -> None:
    run_id = running.trigger("dossier_sla_watch")
    assert running.wait_for_run("dossier_sla_watch", run_id) == "success"
    tis = running.task_instances("dossier_sla_watch", run_id)
    assert tis["sla_watch"].queue == running.stack.env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"]
    # what the duty wrote: its run, finished, in the dossier database, and in the ledger
    (finished,) = running.rows("SELECT count(*) FROM duty_run WHERE duty = 'sla_watch' "
                               "AND finished_at IS NOT NULL")[0]
    assert finished >= 1
    assert running.rows("SELECT count(*) FROM ledger_entry WHERE action = 'duty.sla_watch'")[0][0] >= 1


def test_a_duty_runs_on_its_schedule_through_the_scheduler(running: Running) -> None:
    """Nobody triggers it: once unpaused, the scheduler itself runs the inactive sweep's
    latest slot (the first working day of this month, 10:30 Shanghai; no catch-up before it).
    Not the owner check: the killed-worker test counts that duty's runs."""
    from airflow_client.client.api import dag_run_api

    dag_id = "dossier_inactive_sweep"
    running.unpause(dag_id)

    def finished_scheduled_runs() -> list[Any]:
        with running.client() as api:
            found = dag_run_api.DagRunApi(api).get_dag_runs(dag_id)
        return [r for r in found.dag_runs if str(r.run_type.value) == "scheduled"
                and str(r.state.value) not in ("queued", "running")]

    runs = until(finished_scheduled_runs, RUN_DEADLINE_S, f"a scheduled run of {dag_id}")
    assert [str(r.state.value) for r in runs] == ["success"]
    first_of_month = datetime.now(UTC).astimezone(SHANGHAI).date().replace(day=1)
    assert runs[0].run_after.astimezone(SHANGHAI).date() >= first_of_month
    assert running.rows("SELECT count(*) FROM duty_run WHERE duty = 'inactive_sweep' "
                        "AND finished_at IS NOT NULL")[0][0] == 1


def _group(pid: int) -> int:
    stat = (Path("/proc") / str(pid) / "stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[2])


def test_a_killed_worker_s_task_is_retried_on_the_other_without_duplicates(running: Running) -> None:
    """owner_check writes its findings and ledger entry in one transaction, then mails: the test
    holds the ledger's append lock so the task is caught mid-run, kills the worker that holds
    it (its whole process group, SIGKILL), then lets go."""
    dag_id = "dossier_owner_check"
    mails_before = len(running.inbox.messages)
    url = running.url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ledger.LOCK_KEY,))
        run_id = running.trigger(dag_id)

        def running_ti() -> Any:  # unpausing also starts the latest scheduled run: either
            from airflow_client.client.api import task_instance_api

            with running.client() as api:
                found = task_instance_api.TaskInstanceApi(api).get_task_instances(dag_id, "~")
            return next((ti for ti in found.task_instances
                         if ti.state is not None and str(ti.state.value) == "running" and ti.pid), None)

        ti = until(running_ti, RUN_DEADLINE_S, "owner_check running")
        # the duty waits for the lock, inside its transaction
        until(lambda: holder.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                     "AND NOT granted").fetchone()[0] > 0,
              RUN_DEADLINE_S, "owner_check waiting on the ledger")
        worker = next(p for p in running.stack.processes
                      if p.name.startswith("worker") and _group(ti.pid) == p.popen.pid)
        running.stack.kill(worker.name)
        holder.execute("SELECT pg_advisory_unlock(%s)", (ledger.LOCK_KEY,))
    assert running.wait_for_run(dag_id, ti.dag_run_id) == "success"
    retried = running.task_instances(dag_id, ti.dag_run_id)["owner_check"]
    assert retried.try_number >= 2 and str(retried.state.value) == "success"
    assert running.wait_for_run(dag_id, run_id) == "success"
    # the run's writes, once: findings, the duty run, the report of its Data Docs, the mail
    assert running.rows("SELECT count(*) FROM (SELECT 1 FROM finding WHERE duty = 'owner_check' "
                        "GROUP BY period, dossier_id, check_id HAVING count(*) > 1) d")[0][0] == 0
    assert running.rows("SELECT count(*) FROM finding WHERE duty = 'owner_check'")[0][0] > 0
    assert running.rows("SELECT count(*) FROM ledger_entry WHERE action = 'duty.owner_check'")[0][0] == 1
    assert running.rows("SELECT count(*) FROM (SELECT 1 FROM report GROUP BY kind, period, format "
                        "HAVING count(*) > 1) d")[0][0] == 0
    outbox = running.rows("SELECT recipient, kind, count(*), bool_and(sent_at IS NOT NULL) FROM mail_outbox "
                          "WHERE duty = 'owner_check' GROUP BY recipient, kind")
    assert outbox and all(n == 1 and sent for _, _, n, sent in outbox)
    received = [m["To"] for m in running.inbox.messages[mails_before:]]
    assert len(received) == len(outbox)  # each message reached its inbox once
    running.stack.start_worker(int(worker.name.removeprefix("worker")))  # back to two


def test_approvals_answered_by_their_people_on_the_running_stack(running: Running) -> None:
    people = _people(running.url)
    requester = people["archivist"][0][0]
    cs_head = people["cs_head"][0][0]
    head, department = next((u, d) for u, d in people["dept_head"] if u != requester)
    managers = sorted(u for u, _ in people["management"])
    liaison = people["liaison"][0][0]
    # the timeout first (it runs while the other chain is answered)
    timeout_run = running.trigger("approval_timeout", {
        "request_id": "disclosure:stack", "requested_by": requester, "departments": [],
        "summary": "nobody answers"})
    run_id = running.trigger("approval_check", {
        "request_id": "destruction:stack", "requested_by": requester, "departments": [department],
        "summary": "two dossiers terminated in 2022"})
    dag_id = "approval_check"
    gate = running.waiting_gate(dag_id, run_id, "approval.cs_head_review")
    assert _named(gate) == [cs_head]
    assert running.answer(liaison, dag_id, run_id, "approval.cs_head_review", "Approve", "me") == 403
    assert running.answer(cs_head, dag_id, run_id, "approval.cs_head_review", "Approve", "eligible") == 200
    assert running.answer(cs_head, dag_id, run_id, "approval.cs_head_review", "Approve", "again") == 409
    gate = running.waiting_gate(dag_id, run_id, f"approval.recheck_{department}")
    assert _named(gate) == [head]
    assert running.answer(head, dag_id, run_id, f"approval.recheck_{department}", "Approve",
                          "none needed") == 200
    gate = running.waiting_gate(dag_id, run_id, "approval.management_approval")
    assert sorted(_named(gate)) == managers
    assert running.answer(managers[0], dag_id, run_id, "approval.management_approval", "Reject",
                          "keep them for the audit") == 200
    assert running.wait_for_run(dag_id, run_id) == "success"  # Airflow's way: the rest skipped
    states = {k: str(v.state.value) for k, v in running.task_instances(dag_id, run_id).items()}
    assert states["approval.approved"] == states["guarded"] == "skipped"
    assert running.rows(
        "SELECT actor, action, details->>'step', details->>'decision', details->>'reason' FROM ledger_entry "
        "WHERE subject_id = 'destruction:stack' AND action <> 'approval.ask' ORDER BY seq") == [
        (cs_head, "approval.approve", "cs_head_review", "approved", "eligible"),
        (head, "approval.approve", f"recheck_{department}", "approved", "none needed"),
        (managers[0], "approval.reject", "management_approval", "rejected", "keep them for the audit")]

    assert running.wait_for_run("approval_timeout", timeout_run) == "success"
    states = {k: str(v.state.value)
              for k, v in running.task_instances("approval_timeout", timeout_run).items()}
    assert states["guarded"] == "skipped"
    assert running.rows(
        "SELECT actor, action, details->>'decision' FROM ledger_entry "
        "WHERE subject_id = 'disclosure:stack' AND action <> 'approval.ask'") == [
        ("system", "approval.reject", "timed_out")]


def test_a_leaver_s_waiting_gate_is_reassigned_to_whoever_holds_the_role_now(running: Running) -> None:
    """A gate asks every holder of the step's role; a manager is appointed while it waits (not
    asked: 403), then one of those asked leaves (Art. 19): the gate is asked anew in the
    ledger, the leaver's still valid login gets 403, the new manager approves, the guarded
    work runs."""
    from dossiers.core import directory
    from dossiers.workflows import staff

    people = _people(running.url)
    requester, cs_head = people["archivist"][0][0], people["cs_head"][0][0]
    head, department = next((u, d) for u, d in people["dept_head"] if u != requester)
    leaver = next(u for u, _ in people["management"] if u != DEPUTY)
    dag_id, gate_id = "approval_check", "approval.management_approval"
    run_id = running.trigger(dag_id, {"request_id": "destruction:leaver", "requested_by": requester,
                                      "departments": [department], "summary": "one dossier"})
    running.waiting_gate(dag_id, run_id, "approval.cs_head_review")
    assert running.answer(cs_head, dag_id, run_id, "approval.cs_head_review", "Approve", "ok") == 200
    running.waiting_gate(dag_id, run_id, f"approval.recheck_{department}")
    assert running.answer(head, dag_id, run_id, f"approval.recheck_{department}", "Approve", "ok") == 200
    gate = running.waiting_gate(dag_id, run_id, gate_id)
    assert {leaver, DEPUTY} <= set(_named(gate))
    with db.transaction(db.get_engine(running.url)) as conn:  # appointed after the gate opened
        staff.add(conn, cs_head, NEWCOMER, "management", ["management"])
    assert running.answer(NEWCOMER, dag_id, run_id, gate_id, "Approve", "not asked yet") == 403
    with db.transaction(db.get_engine(running.url)) as conn:  # the manager leaves (Art. 19)
        left = staff.leave(conn, directory.load_actor(conn, DEPUTY), leaver, handover_to=DEPUTY)
    assert left.approvals_reassigned == 1
    assert running.answer(leaver, dag_id, run_id, gate_id, "Approve", "on my way out") == 403
    assert running.answer(NEWCOMER, dag_id, run_id, gate_id, "Approve", "approved") == 200
    assert running.wait_for_run(dag_id, run_id) == "success"
    states = {k: str(v.state.value) for k, v in running.task_instances(dag_id, run_id).items()}
    assert states["approval.approved"] == states["guarded"] == "success"  # the guarded work ran
    assert running.rows("SELECT actor FROM ledger_entry WHERE subject_id = 'destruction:leaver' "
                        "AND action = 'approval.approve' ORDER BY seq") == [(cs_head,), (head,), (NEWCOMER,)]
    assert running.rows("SELECT details->'asked', details->>'reassigned_from' FROM ledger_entry "
                        "WHERE subject_id = 'destruction:leaver' AND action = 'approval.ask' "
                        "AND details->>'step' = 'management_approval' ORDER BY seq") == [
        (sorted([leaver, DEPUTY]), None), (sorted([DEPUTY, NEWCOMER]), leaver)]


def test_stack_processes_are_the_topology(running: Running) -> None:
    names = sorted(p.name for p in running.stack.processes)
    assert names == sorted(["apiserver", "scheduler", "dag-processor", "triggerer", "worker1", "worker2"])
    assert all(p.popen.poll() is None for p in running.stack.processes)
    assert not os.environ.get("AIRFLOW__CORE__EXECUTOR")  # the stack's settings stay in its env


def test_a_destruction_from_the_form_to_its_signed_certificate(running: Running) -> None:
    """``dags/destruction.py`` as deployed: the archivist's form is submitted from the
    command line (refused while the DAG is paused, nothing recorded), each gate answered by
    its person, the dossier destroyed on a Celery worker, the form signed and certified."""
    from dossiers.core import clock
    from dossiers.destruction import approvals

    people = _people(running.url)
    archivist, cs_head = people["archivist"][0][0], people["cs_head"][0][0]
    qa = people["qa_supervisor"][0][0]
    number = running.rows(
        "SELECT d.dossier_no FROM dossier d WHERE d.status = 'open' AND d.filed_at IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM dossier_file f WHERE f.dossier_id = d.id) "
        "ORDER BY d.dossier_no LIMIT 1")[0][0]
    asked = running.cli("destruction", "request", f"{number}=invalid:a duplicate of another "
                        "dossier, no reference value", "--as", archivist)
    assert asked.returncode == 0, asked.stderr
    request_id = json.loads(asked.stdout)["request_id"]
    passwords = json.loads((running.stack.home / airflow_stack.PASSWORDS_FILE).read_text())
    airflow = {"DOSSIER_AIRFLOW_URL": running.stack.base_url, "DOSSIER_AIRFLOW_USER": "admin",
               "DOSSIER_AIRFLOW_PASSWORD": passwords["admin"]}
    dag_id = "dossier_destruction"
    running.parsed(dag_id)
    paused = running.cli("destruction", "submit", request_id, "--as", archivist, **airflow)
    assert paused.returncode != 0 and "is paused" in paused.stderr, paused.stderr
    submitted_sql = "SELECT count(*) FROM ledger_entry WHERE action = 'approval.submit'"
    assert running.rows(submitted_sql) == [(0,)]
    running.unpause(dag_id)
    first = running.cli("destruction", "submit", request_id, "--as", archivist, **airflow)
    assert first.returncode == 0, first.stderr
    run_id = json.loads(first.stdout)["dag_run_id"]
    again = running.cli("destruction", "submit", request_id, "--as", archivist, **airflow)
    assert again.returncode == 0 and json.loads(again.stdout)["dag_run_id"] == run_id

    with db.transaction(db.get_engine(running.url)) as conn:
        departments = approvals.destruction_conf(conn, uuid.UUID(request_id))["departments"]
    heads = {d: u for u, d in people["dept_head"] if u != archivist}
    managers = sorted(u for u, _ in people["management"])
    answers = [("cs_head_review", cs_head), *((f"recheck_{d}", heads[d]) for d in departments),
               ("management_approval", managers[0]), ("qa_supervision", qa)]
    for step, person in answers:
        running.waiting_gate(dag_id, run_id, f"approval.{step}")
        assert running.answer(person, dag_id, run_id, f"approval.{step}", "Approve", "ok") == 200
    assert running.wait_for_run(dag_id, run_id) == "success"
    # its rows gone, a tombstone in their place (number, name, filing time, reason)
    assert running.rows("SELECT count(*) FROM dossier WHERE dossier_no = :n", n=number) == [(0,)]
    assert running.rows("SELECT condition, request_id::text FROM dossier_tombstone "
                        "WHERE dossier_no = :n", n=number) == [("invalid", request_id)]

    paper = running.rows("SELECT paper_volumes FROM destruction_item WHERE dossier_no = :n",
                         n=number)[0][0]
    if paper:
        recorded = running.cli("destruction", "paper", request_id, number, "--method",
                               "shredding", "--on", clock.today().isoformat(),
                               "--personnel", archivist, "--personnel", qa, "--as", archivist)
        assert recorded.returncode == 0, recorded.stderr
    for person in (archivist, qa):
        signed = running.cli("destruction", "confirm", request_id, "--as", person)
        assert signed.returncode == 0, signed.stderr
    made = running.cli("destruction", "certificate", request_id, "--as", archivist)
    assert made.returncode == 0, made.stderr
    checked = subprocess.run(["pdfsig", json.loads(made.stdout)["uri"]], capture_output=True,
                             text=True, check=False)
    assert "Signature is Valid." in checked.stdout, checked.stdout + checked.stderr
    assert running.rows(
        "SELECT actor, details->>'step' FROM ledger_entry WHERE subject_id = :s "
        "AND action = 'approval.approve' ORDER BY seq", s=f"destruction:{request_id}") == [
        (person, step) for step, person in answers]
