"""A local Airflow for the duties.

``make airflow`` (:func:`main`) runs Airflow as it is deployed: api-server, scheduler,
dag-processor and triggerer as separate processes (and two Celery workers with
``EXECUTOR=celery``) on a PostgreSQL metadata database, as ``dossiers.airflow.topology``
defines them (``dossiers.local.airflow_stack`` starts and stops them).

Airflow's home is ``.dossier/airflow`` (under ``DOSSIER_HOME`` when set), its DAGs and
plugins are the repository's ``dags/`` and ``plugins/``, and the dossier database is handed
to it as the connection ``dossier_db`` (env ``AIRFLOW_CONN_DOSSIER_DB``). When
``DOSSIER_DATABASE_URL`` is unset the embedded PostgreSQL is started, as for the CLI.

:func:`airflow_env` and :func:`run_dag_test` let the demo and the tests run a duty once,
for real, with ``airflow dags test`` (no scheduler, no web server).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from dossiers.core.config import PROJECT_ROOT, home, ledger_anchor
from dossiers.local import airflow_stack

PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
#: Where the api-server of ``make airflow`` listens unless ``DOSSIER_AIRFLOW_HOST`` says
#: otherwise: loopback only, since it comes up with generated admin credentials (Airflow's
#: own default, ``[api] host = 0.0.0.0``, would offer them to the whole network).
DEFAULT_HOST = "127.0.0.1"


def api_host(env: Mapping[str, str]) -> str:
    """The address the api-server binds: ``DOSSIER_AIRFLOW_HOST``, else loopback."""
    return (env.get("DOSSIER_AIRFLOW_HOST") or "").strip() or DEFAULT_HOST


def ui_url(env: Mapping[str, str]) -> str:
    """The UI's address as a browser on this machine reaches it."""
    host = env.get("AIRFLOW__API__HOST") or DEFAULT_HOST
    shown = "localhost" if host in ("0.0.0.0", "::", "127.0.0.1") else host
    port = env.get("AIRFLOW__API__PORT") or "8080"  # Airflow's default [api] port
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"


def airflow_home() -> Path:
    """Where the local Airflow keeps its config, SQLite metadata DB and logs."""
    return home() / "airflow"


def metadata_db(airflow_home_dir: Path | None = None) -> Path:
    """The local Airflow's SQLite metadata database file."""
    return (airflow_home_dir or airflow_home()) / "airflow.db"


def airflow_bin() -> str:
    """The ``airflow`` command of this virtual environment (falls back to PATH)."""
    beside = Path(sys.executable).with_name("airflow")
    return str(beside) if beside.exists() else (shutil.which("airflow") or "airflow")


def libpq_url(dossier_url: str) -> str:
    """A plain ``postgresql://`` URI (no SQLAlchemy driver) for an Airflow connection."""
    from sqlalchemy import make_url

    return make_url(dossier_url).set(drivername="postgresql").render_as_string(hide_password=False)


def airflow_env(dossier_url: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The full environment for an ``airflow`` subprocess running this project's duties.

    ``base`` (default: this process's environment) plus Airflow's home, the repository's
    dags/plugins folders, no examples, a SQLite metadata DB in that home, and the dossier
    database both as the Airflow connection ``dossier_db`` and as ``DOSSIER_DATABASE_URL``.
    The api-server binds :func:`api_host` (``[api] host``, read by ``airflow api-server``
    and so by ``airflow standalone``): 127.0.0.1 unless ``DOSSIER_AIRFLOW_HOST`` is set.
    The ledger anchor is the one setting ``config.ledger_anchor`` (``DOSSIER_LEDGER_ANCHOR``,
    else ``ledger.anchor`` in the dossier home), passed on explicitly so the CLI and the
    ledger DAG compare with and move the same anchor (Arts. 11, 13).
    """
    env = dict(os.environ if base is None else base)
    af_home = airflow_home()
    # `airflow standalone` starts its components as `airflow …` from PATH: put this venv first.
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, *[p for p in env.get("PATH", "").split(os.pathsep)
                                               if p and p != venv_bin]])
    env.update({
        "AIRFLOW_HOME": str(af_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{metadata_db(af_home)}",
        "AIRFLOW_CONN_DOSSIER_DB": libpq_url(dossier_url),
        "DOSSIER_DATABASE_URL": dossier_url,
        "DOSSIER_HOME": str(home()),
        "AIRFLOW__API__HOST": api_host(env),
    })
    env["DOSSIER_LEDGER_ANCHOR"] = str(ledger_anchor(env))
    # LocalExecutor starts one worker process per parallelism slot (default 32): a laptop
    # running a handful of duties needs a few.
    env.setdefault("AIRFLOW__CORE__PARALLELISM", "4")
    return env


def ensure_metadata_db(env: Mapping[str, str], *, output: IO[bytes] | None = None) -> int:
    """``airflow db migrate`` when the SQLite metadata DB of ``env`` does not exist yet (≈ 7 s)."""
    af_home = Path(env["AIRFLOW_HOME"])
    af_home.mkdir(parents=True, exist_ok=True)
    if metadata_db(af_home).exists():
        return 0
    return subprocess.run([airflow_bin(), "db", "migrate"], env=dict(env), check=False, stdout=output,
                          stderr=subprocess.STDOUT if output is not None else None).returncode


def run_dag_test(dag_id: str, dossier_url: str, logical_date: str | None = None, *,
                 output: Path | None = None) -> int:
    """Run one DAG once with ``airflow dags test``; return its exit status (0: the run succeeded).

    Migrates the local metadata DB first when it does not exist yet. A one-task run takes
    ≈ 15-25 s here, mostly Airflow's own start-up. Airflow's log goes to ``output`` when
    given, else to this process's stdout/stderr.
    """
    env = {**airflow_env(dossier_url), "DOSSIER_DEADLINE_ALERTS": "0"}  # see duties.dagkit
    cmd = [airflow_bin(), "dags", "test", dag_id, *([logical_date] if logical_date else [])]
    with ExitStack() as stack:
        sink = stack.enter_context(output.open("ab")) if output is not None else None
        migrated = ensure_metadata_db(env, output=sink)
        if migrated != 0:
            return migrated
        return subprocess.run(cmd, env=env, check=False, stdout=sink,
                              stderr=subprocess.STDOUT if sink is not None else None).returncode


_RUN_MANY = """
import json, sys
import pendulum
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
if bag.import_errors:
    print("RESULT " + json.dumps({"import_errors": {str(k): v for k, v in bag.import_errors.items()}}))
    sys.exit(1)
for dag_id, when in json.loads(sys.argv[2]):
    logical = pendulum.parse(when) if when else None
    try:
        run = bag.dags[dag_id].test(logical_date=logical)
        state, run_id = str(run.state), run.run_id
    except Exception as exc:  # report it and go on with the next duty
        state, run_id = f"error: {type(exc).__name__}: {exc}", None
    print("RESULT " + json.dumps({"dag_id": dag_id, "logical_date": when, "state": state,
                                  "run_id": run_id}), flush=True)
"""


def run_dags_test(runs: list[tuple[str, str | None]], dossier_url: str, *,
                  env_extra: Mapping[str, str] | None = None,
                  output: Path | None = None,
                  on_result: Callable[[dict[str, str]], None] | None = None) -> list[dict[str, str]]:
    """Run several DAGs once each with ``dag.test()`` in one Airflow process (Airflow's
    start-up paid once): ``[(dag_id, logical date or None)]``; returns each run's state.

    ``on_result`` is called with each run's result as soon as that run ends (the demo's
    progress lines), not after the whole batch: the process's output is read as it comes.
    """
    import json

    env = {**airflow_env(dossier_url), "DOSSIER_DEADLINE_ALERTS": "0", **(env_extra or {})}
    results: list[dict[str, str]] = []
    with ExitStack() as stack:
        sink = stack.enter_context(output.open("ab")) if output is not None else None
        if ensure_metadata_db(env, output=sink) != 0:
            raise RuntimeError("airflow db migrate failed")
        if sink is not None:
            sink.flush()  # before the child appends its stderr to the same file
        proc = stack.enter_context(subprocess.Popen(
            [sys.executable, "-c", _RUN_MANY, str(PROJECT_ROOT / "dags"), json.dumps(runs)],
            env=env, stdout=subprocess.PIPE,
            stderr=sink if sink is not None else subprocess.DEVNULL))
        assert proc.stdout is not None
        for line in proc.stdout:
            if sink is not None:
                sink.write(line)
            if line.startswith(b"RESULT "):
                result = json.loads(line.removeprefix(b"RESULT "))
                results.append(result)
                if on_result is not None and "dag_id" in result:
                    on_result(result)
        returncode = proc.wait()
    if returncode != 0 and not results:
        raise RuntimeError(f"the DAG runs could not start (exit {returncode})")
    return results


def staff_usernames(dossier_url: str) -> list[str]:
    """The active staff members' usernames (empty before the company is onboarded)."""
    from sqlalchemy import select

    from dossiers.core import db
    from dossiers.core.schema import staff

    with db.transaction(db.get_engine(dossier_url)) as conn:
        return list(conn.execute(select(staff.c.username).where(staff.c.active)
                                 .order_by(staff.c.username)).scalars())


def sign_in_as(dossier_url: str) -> dict[str, str]:
    """One active staff member to sign in as per role (the first by username), in the
    order of ``permissions.Role``; roles nobody holds yet are left out."""
    from sqlalchemy import select

    from dossiers.core import db
    from dossiers.core.permissions import Role
    from dossiers.core.schema import staff, staff_role

    with db.transaction(db.get_engine(dossier_url)) as conn:
        rows = conn.execute(select(staff_role.c.role, staff.c.username)
                            .join(staff, staff.c.id == staff_role.c.staff_id)
                            .where(staff.c.active).order_by(staff.c.username)).all()
    first: dict[str, str] = {}
    for role, username in rows:
        first.setdefault(role, username)
    return {r.value: first[r.value] for r in Role if r.value in first}


def welcome(env: Mapping[str, str], people: list[str], by_role: Mapping[str, str]) -> str:
    """What ``make airflow`` prints before Airflow's own output: where, and as whom."""
    af_home = Path(env["AIRFLOW_HOME"])
    ui = ui_url(env)
    roles = "\n".join(f"  {role:<14} {username}" for role, username in by_role.items())
    return (
        f"AIRFLOW_HOME={af_home}\n"
        f"Airflow UI: {ui} (listening on {env['AIRFLOW__API__HOST']}; user admin, and one "
        f"login per staff member: {', '.join(people) or 'none yet'}; passwords in "
        f"{af_home / PASSWORDS_FILE}, written on first start; whoever may answer an approval "
        "finds it under Required Actions). Reports and the dossier API "
        "answer staff only: sign in as a department head, the archivist, the CS head, QA or "
        "management to read reports.\n"
        + (f"Sign in as, per role:\n{roles}\n" if roles else
           "Sign in as: no staff yet (make demo seeds a company).\n")
        + f"Reports: {ui}/dossier-reports/ (in the UI: Browse > Dossier reports)\n"
        "Stop it with Ctrl-C, or make stop from another terminal (which also stops the "
        "embedded PostgreSQL)."
    )


def main(argv: list[str] | None = None) -> None:
    """``make airflow [EXECUTOR=celery]``: migrate the dossier schema, then run Airflow's
    components as separate processes on a PostgreSQL metadata database until Ctrl-C (or
    ``make stop``), which stops every process it started (``dossiers.local.airflow_stack``)."""
    import argparse
    import signal

    from dossiers.airflow import topology, users
    from dossiers.core import db
    from dossiers.core.errors import DossierError

    parser = argparse.ArgumentParser(prog="make airflow", description=main.__doc__)
    parser.add_argument("--executor", choices=sorted(topology.EXECUTORS),
                        default=os.environ.get("DOSSIER_AIRFLOW_EXECUTOR") or "local")
    args = parser.parse_args(argv)
    executor = topology.EXECUTORS[args.executor]
    try:
        url = db.database_url()
        revision = db.upgrade(url)
        with db.transaction(db.get_engine(url)) as conn:
            logins = users.staff_logins(conn)
    except DossierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_status) from None
    base = airflow_env(url)
    af_home = Path(base["AIRFLOW_HOME"])
    af_home.mkdir(parents=True, exist_ok=True)
    metadata = airflow_stack.metadata_url(url)
    created = airflow_stack.ensure_database(metadata)
    broker_url, redis_port, broker_said = (airflow_stack.broker() if executor == topology.CELERY
                                           else (None, None, ""))
    env = airflow_stack.stack_env(base, executor=executor, metadata=metadata, logins=logins,
                                  broker_url=broker_url, port=int(base.get("AIRFLOW__API__PORT") or 8080))
    stack = airflow_stack.Stack(env, executor, redis_port=redis_port)
    print(f"dossier database {db.describe(url)} at schema revision {revision}")
    print(f"Airflow metadata database {db.describe(metadata)} ({'created' if created else 'found'}); "
          f"{executor}" + (f", broker: {broker_said}, {stack.workers} Celery workers"
                           if executor == topology.CELERY else ""))
    sys.stdout.flush()

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    with ExitStack() as resources:
        if "AIRFLOW_CONN_DOSSIER_SMTP" not in env:  # no mail server named: catch the duties' mail
            from dossiers.local.mailcatcher import MailCatcher

            catcher = resources.enter_context(MailCatcher(af_home / "mail"))
            env.update(catcher.airflow_connection())
            print(f"mail: no AIRFLOW_CONN_DOSSIER_SMTP, so the duties' mail is caught in {catcher.folder}")
        _run(stack, env, logins, url)


def _run(stack: airflow_stack.Stack, env: dict[str, str], logins: Mapping[str, str], url: str) -> None:
    """Migrate, start, report, and wait for Ctrl-C; always stop what was started."""
    try:
        with (stack.log_dir() / "db-migrate.log").open("ab") as migrate_log:
            stack.migrate(migrate_log)
        stack.start()
        names = ", ".join(p.name for p in stack.processes)
        print(f"started {names} (logs in {stack.log_dir()})")
        stack.wait_until_ready()
        print(welcome(env, sorted(logins), sign_in_as(url)))
        sys.stdout.flush()
        while True:  # until Ctrl-C / make stop, or a component ends on its own
            for process in stack.processes:
                if process.popen.poll() is not None:
                    print(f"{process.name} exited ({process.popen.returncode}); see {process.log}",
                          file=sys.stderr)
                    raise KeyboardInterrupt
            try:
                stack.processes[0].popen.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        pass
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    finally:
        count = len(stack.processes) + (1 if stack.redis else 0)
        stack.stop()
        print(f"stopped {count} process(es) of make airflow")


if __name__ == "__main__":
    main()
