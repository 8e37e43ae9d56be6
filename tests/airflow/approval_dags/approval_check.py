"""A small approval DAG of the tests: the destruction chain (Art. 17) guarding one task."""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from dossiers.airflow.approvals import approval_chain, request_params

#: How long each gate waits; the stack test sets a short one to see a timeout.
TIMEOUT = timedelta(seconds=int(os.environ.get("DOSSIER_TEST_APPROVAL_TIMEOUT_S", "3600")))


@dag(dag_id="approval_check", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
     catchup=False, params=request_params(), tags=["test"])
def approval_check() -> None:
    @task
    def guarded() -> str:
        return "done"

    approval_chain("destruction", response_timeout=TIMEOUT) >> guarded()


approval_check()


@dag(dag_id="approval_timeout", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
     catchup=False, params=request_params(), tags=["test"])
def approval_timeout() -> None:
    """The same chain with gates nobody answers in time (the stack test's timeout)."""

    @task
    def guarded() -> str:
        return "done"

    approval_chain("disclosure", response_timeout=timedelta(
        seconds=int(os.environ.get("DOSSIER_TEST_SHORT_TIMEOUT_S", "10")))) >> guarded()


approval_timeout()
