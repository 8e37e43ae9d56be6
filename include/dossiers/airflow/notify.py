"""Failure notification for the duties: one error line an ops engineer can act on.

The line names the DAG, the task, the run and the error, so a log search or an alerting
rule on ``DUTY FAILED`` finds every failed duty. When ``DOSSIER_OPS_TO`` names recipients
the same line is e-mailed to them through the SMTP connection (``dossier_smtp``); a mail
that cannot be sent is logged, never raised (the task has failed already).
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
    """``on_failure_callback`` of every duty: log one error line, and mail it to ops."""
    line = failure_line(context)
    log.error(line)
    _mail_ops(line)


def _mail_ops(line: str) -> None:
    import os

    recipients = tuple(a.strip() for a in os.environ.get("DOSSIER_OPS_TO", "").split(",")
                       if a.strip())
    if not recipients:
        return
    from dossiers.duties.mail import Message, send

    try:
        send([Message(to=recipients, subject=f"[dossiers] {line[:120]}", text=line)])
    except Exception as exc:  # the notice must not mask the failure it reports
        log.error("could not e-mail the failure to %s: %s", ", ".join(recipients), exc)




async def deadline_missed(**kwargs: Any) -> None:
    """Deadline alert callback (runs in the triggerer): one line, like a failure."""
    context = kwargs.get("context") or {}
    dag_run = context.get("dag_run") if isinstance(context, dict) else None
    line = (f"DUTY LATE dag={_name(dag_run, 'dag_id') or kwargs.get('dag_id', '?')} "
            f"run={_name(dag_run, 'run_id') or kwargs.get('run_id', '?')}: the run has not "
            "finished within its deadline")
    log.error(line)
    _mail_ops(line)
