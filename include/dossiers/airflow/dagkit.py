"""What every duty DAG shares: start date, owner, retries, failure notice, deadline alert.

Cheap to import (DAG files import it at parse time): ``airflow.sdk`` only, inside functions.

Deadline alerts: Airflow 3.3.0's ``dag.test()`` / ``airflow dags test`` crash after a
successful run of a DAG that has one (the unserialized DAG hands the alert definitions to
``DeadlineAlertModel.get_by_id``: ``'dict' object has no attribute 'hex'``); the scheduler,
which runs serialized DAGs, is not affected. ``local_airflow.run_dag_test`` therefore sets
``DOSSIER_DEADLINE_ALERTS=0`` and :func:`deadline` leaves the alert out in that case only.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum

from dossiers.airflow.notify import on_failure

#: Every duty is scheduled from the start of 2026 (backfills cover the whole year).
START = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")


def default_args(owner: str = "customer_service") -> dict[str, Any]:
    """Two retries, 5 minutes apart (``DOSSIER_RETRY_DELAY_S`` shortens it: the stack test
    sees a killed worker's task retried without waiting minutes)."""
    delay = timedelta(seconds=int(os.environ.get("DOSSIER_RETRY_DELAY_S") or 300))
    return {"owner": owner, "retries": 2, "retry_delay": delay, "on_failure_callback": on_failure}


def deadline(within: timedelta) -> Any:
    """A deadline alert: a run not finished ``within`` its queueing is reported late."""
    if os.environ.get("DOSSIER_DEADLINE_ALERTS") == "0":
        return None
    # the public airflow.sdk names, from where they are defined (the lazy re-exports are
    # invisible to mypy)
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    return DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=within,
                         callback=AsyncCallback("dossiers.airflow.notify.deadline_missed"))
