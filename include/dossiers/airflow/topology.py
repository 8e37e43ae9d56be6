"""The Airflow deployment, defined once: which components run, with which command and
which settings. ``make airflow`` (``dossiers.local.airflow_stack``) starts these processes
on one machine, ``docker-compose.yaml`` runs them as services, and
``tests/test_compose.py`` checks that the compose file says what this module says, so the
two cannot drift apart.

Four components always run as their own processes (Airflow 3): the api-server (UI, REST
API, and the execution API the task runners report to), the scheduler, the dag-processor
(parses ``dags/``) and the triggerer. With the CeleryExecutor, :data:`CELERY_WORKERS`
Celery workers take the tasks from a Redis broker; with the LocalExecutor (the default of
``make airflow``) the scheduler runs them itself.
"""

from __future__ import annotations

from dataclasses import dataclass

#: SimpleAuthManager whose approval gates follow the ledger's reassignments (a leaver's
#: waiting gates are asked anew, Art. 19): ``dossiers.airflow.auth``.
AUTH_MANAGER = "dossiers.airflow.auth.StaffAuthManager"
LOCAL = "LocalExecutor"
CELERY = "CeleryExecutor"
EXECUTORS = {"local": LOCAL, "celery": CELERY}
#: Celery workers of the Celery topology (compose: the worker service's replicas).
CELERY_WORKERS = 2
#: Processes of the api-server (Airflow's ``[api] workers``, compose: the api-server's
#: ``AIRFLOW__API__WORKERS``), which also serve the dossier API mounted in it: one per core
#: of its host, as Airflow advises, so reads run on every core (issue 16; ``make bench``
#: runs the dossier API with as many). Each process has its own connection pool to the
#: dossier database, at most 12 connections (``dossiers.api.deps``): 2 processes hold at
#: most 24 of PostgreSQL's default 100. ``make airflow`` keeps Airflow's default of one on a
#: development machine.
API_WORKERS = 2
#: The Celery application of Airflow's celery provider (the workers' health check pings it).
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"


@dataclass(frozen=True)
class Component:
    """One Airflow process kind: its compose service and its ``airflow`` sub-command."""

    service: str
    command: tuple[str, ...]
    celery_only: bool = False

    @property
    def name(self) -> str:
        return self.service.removeprefix("airflow-")


COMPONENTS = (
    Component("airflow-apiserver", ("api-server",)),
    Component("airflow-scheduler", ("scheduler",)),
    Component("airflow-dag-processor", ("dag-processor",)),
    Component("airflow-triggerer", ("triggerer",)),
    Component("airflow-worker", ("celery", "worker"), celery_only=True),
)


def components(executor: str) -> tuple[Component, ...]:
    """The processes the ``executor``'s topology runs (a worker per Celery worker)."""
    return tuple(c for c in COMPONENTS if executor == CELERY or not c.celery_only)


#: Settings of every component, on this machine and in compose (values as compose writes
#: them). Approvals rely on the first and the last: SimpleAuthManager's user id is the staff
#: username (``dossiers.airflow.users``), gates follow the ledger (``dossiers.airflow.auth``),
#: and all-admins would let anyone answer any approval.
SHARED_ENV: dict[str, str] = {
    "AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGER,
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "true",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
    "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "true",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "false",
}

#: The settings that name an executor's services (their values differ per machine).
EXECUTOR_KEYS: dict[str, tuple[str, ...]] = {
    LOCAL: ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"),
    CELERY: ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
             "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND"),
}


def executor_env(executor: str, *, metadata_url: str, broker_url: str | None = None,
                 result_backend: str | None = None) -> dict[str, str]:
    """The executor's settings: the metadata database (PostgreSQL, never SQLite) and, for
    Celery, the Redis broker and the result backend (the metadata database)."""
    env = {"AIRFLOW__CORE__EXECUTOR": executor, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url}
    if executor == CELERY:
        if not broker_url:
            raise ValueError("the Celery topology needs a broker URL (Redis)")
        env["AIRFLOW__CELERY__BROKER_URL"] = broker_url
        env["AIRFLOW__CELERY__RESULT_BACKEND"] = result_backend or f"db+{metadata_url.split('+', 1)[0]}" \
            f"://{metadata_url.split('://', 1)[1]}"
    return env
