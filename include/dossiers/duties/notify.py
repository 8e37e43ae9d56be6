"""Failure notification for the duties: one error line an ops engineer can act on.

Logged, not sent: no network here. The line names the DAG, the task, the run and the
error, so a log search or an alerting rule on ``DUTY FAILED`` finds every failed duty.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("dossiers.duties")


def _name(obj: Any, attr: str) -> str | None:
    value = getattr(obj, attr, None)
    return str(value) if value is not None else None


def failure_line(context: Mapping[str, Any]) -> str:
    """The one line logged for a failed task, from an Airflow task context."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = _name(context.get("dag"), "dag_id") or _name(ti, "dag_id") or "?"
    task_id = _name(context.get("task"), "task_id") or _name(ti, "task_id") or "?"
    run_id = context.get("run_id") or _name(context.get("dag_run"), "run_id") or _name(ti, "run_id") or "?"
    error = context.get("exception")
    reason = f": {type(error).__name__}: {error}" if error is not None else ""
    return f"DUTY FAILED dag={dag_id} task={task_id} run={run_id}{reason}"


def on_failure(context: Mapping[str, Any]) -> None:
    """``on_failure_callback`` of every duty: log one error line (no network)."""
    log.error(failure_line(context))




async def deadline_missed(**kwargs: Any) -> None:
    """Deadline alert callback (runs in the triggerer): one line, like a failure."""
    context = kwargs.get("context") or {}
    dag_run = context.get("dag_run") if isinstance(context, dict) else None
    log.error("DUTY LATE dag=%s run=%s: the run has not finished within its deadline",
              _name(dag_run, "dag_id") or kwargs.get("dag_id", "?"),
              _name(dag_run, "run_id") or kwargs.get("run_id", "?"))
