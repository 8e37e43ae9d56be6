"""Approval chains as Airflow human-in-the-loop tasks (Arts. 6, 16, 17).

:func:`approval_chain` puts one :class:`ApprovalGate` per step of a chain
(``dossiers.workflows.approval_chains``: e.g. CS head → each involved department's head →
management) in a row inside a task group, and ends it with :class:`ApprovalOutcome`::

    @dag(params=request_params(), ...)
    def dossier_destruction():
        approvals = approval_chain("destruction", response_timeout=timedelta(days=3))
        approvals >> destroy()        # runs only when every needed step was approved

A run carries one request, in its params (:func:`request_params`): ``request_id`` (the
ledger's subject, e.g. ``destruction:12``), ``requested_by`` (a staff username),
``departments`` (the departments whose heads re-check), ``summary``.

What each gate does, and why (facts of Airflow 3.3's HITL operators):

- it opens with ``assigned_users`` = the step's eligible approvers *now* (active staff the
  matrix allows, not the requester, nobody who already answered this run), recorded in the
  ledger as ``approval.ask``: one HITL task holds one answer, so each step is its own task.
  Airflow 3.3 cannot change an open gate's ``assigned_users`` (its ``hitl_detail`` row
  follows the task instance, even through a retry), so the gate also lists a marker of
  itself (``users.gate_marker``): the deployment's auth manager (``dossiers.airflow.auth``)
  then lets answer whoever the ledger's latest ``approval.ask`` names. When someone asked
  leaves, ``approval_chains.reassign`` asks the gate anew of the step's role holders now:
  the leaver gets 403, a newly appointed holder may answer;
- options Approve / Reject and **no defaults**: on ``response_timeout`` the scheduler would
  write the defaults in as the answer, so there are none; the timeout comes back as an error
  event, recorded as a rejection (``approval.reject``, ``decision: timed_out``);
- the answer is re-checked against the staff register and the matrix
  (``approval_chains.check_answer``: Airflow lets anyone answer when ``assigned_users`` is
  empty or ``simple_auth_manager_all_admins`` is on); a refused answer stops the chain;
- every decision is copied into the ledger with who, when and the reason before anything
  else happens; anything but an approval skips every task after the gate at once, so no
  later gate waits after a rejection and the guarded work never runs. The run then ends
  *successful* with those tasks skipped (Airflow's way): the outcome is in the ledger.

:class:`ApprovalOutcome` re-reads the ledger before the guarded work: a gate marked
successful by hand in Airflow without an approval in the ledger fails it.

Gates take the DAG's retries: a retried gate first reads the ledger and acts on a decision
already recorded there, so a retry never asks twice what was answered. Nothing touches the
database at import (DAG files import this; ``tests/airflow/test_dag_integrity.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import BaseOperator, Param, SkipMixin, TaskGroup
from airflow.sdk.exceptions import AirflowFailException

from dossiers.airflow import users
from dossiers.workflows.approval_chains import CHAINS, Decision, Request, Step

APPROVE = "Approve"
REJECT = "Reject"
#: The HITL form's one field: why (a rejection's reason is what the requester reads).
REASON = "reason"

#: The gate's text in the Required Actions page (Jinja: the run's params; then the step).
_BODY_REQUEST = """\
**Request** `{{ params.request_id }}` from **{{ params.requested_by }}**
{%- if params.departments %} (departments: {{ params.departments | join(', ') }}){% endif %}

{{ params.summary }}

"""


def _body(step: Step, timeout: timedelta) -> str:
    return (_BODY_REQUEST
            + f"Step: **{step.title or step.key}** ({step.article}, `{step.action.value}`). "
              "Approve or reject, with a reason.\n"
            + f"Nobody answering within {timeout} counts as a **rejection**; a rejection ends "
              "the approval.\n")


def request_params(*, request_id: str | None = None, requested_by: str | None = None) -> dict[str, Param]:
    """The DAG params a run of an approval chain carries (shown on Airflow's trigger form)."""
    from dossiers.core.vocabulary import Department

    return {
        "request_id": Param(request_id, type="string", minLength=1,
                            description="the request to approve, e.g. destruction:12 (the ledger's subject)"),
        "requested_by": Param(requested_by, type="string", minLength=1,
                              description="the staff username who asked (never one of the approvers)"),
        "departments": Param([], type="array",
                             items={"type": "string", "enum": [d.value for d in Department]},
                             description="the departments whose heads re-check (Art. 17(2))"),
        "summary": Param("", type="string", description="what is asked, without personal data"),
    }


def request_of(context: Mapping[str, Any], chain: str) -> Request:
    """The request this chain run carries, from the run's params (see :func:`request_params`)."""
    params = context["params"]
    dag_run = context["dag_run"]
    return Request(request_id=str(params["request_id"]), requested_by=str(params["requested_by"]),
                   run=f"{dag_run.dag_id}/{dag_run.run_id}", chain=chain,
                   departments=tuple(params.get("departments") or ()),
                   summary=str(params.get("summary") or ""))


class ApprovalGate(HITLOperator, SkipMixin):
    """One step of an approval chain, answered by one of the people it names (see module)."""

    inherits_from_skipmixin = True

    def __init__(self, *, chain: str, step: Step, response_timeout: timedelta, **kwargs: Any) -> None:
        self.chain = chain
        self.step = step
        # The DAG's params (the request) are the run's, read from the context; the gate's own
        # form has one field, the reason.
        kwargs.pop("params", None)
        body = _body(step, response_timeout)
        super().__init__(
            task_id=kwargs.pop("task_id", step.key),
            subject=f"{chain}: {step.title or step.key} ({step.article}), request "
                    "{{ params.request_id }}",
            body=body, options=[APPROVE, REJECT], defaults=None, multiple=False,
            params={REASON: Param("", type="string", title="Reason", source="task",
                                  description="why you approve or reject (kept in the ledger)")},
            response_timeout=response_timeout, **kwargs)

    # --- opening -------------------------------------------------------------------------------

    def execute(self, context: Any) -> Any:
        from dossiers.core import db
        from dossiers.workflows import approval_chains

        request = request_of(context, self.chain)
        with db.transaction() as conn:
            done = approval_chains.decision_of(conn, request, self.step)
            asked = None if done else approval_chains.open_gate(conn, request, self.step)
        if done is not None:  # answered before (a cleared gate): act on the recorded answer
            return self._go_on_or_stop(context, Decision(done.decision), done.as_dict())
        assert asked is not None
        if asked.decision is not None:  # not needed, or nobody may answer
            return self._go_on_or_stop(context, Decision(asked.decision), asked.as_dict())
        self.assigned_users = [*(users.hitl_user(u) for u in asked.approvers),
                               users.gate_marker(request.run, self.step.key)]
        self.log.info("Asking %s (%s) for request %s", ", ".join(asked.approvers),
                      self.step.action.value, request.request_id)
        return super().execute(context)

    # --- the answer, or the timeout ---------------------------------------------------------------

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from dossiers.core import db
        from dossiers.core.errors import PermissionDenied
        from dossiers.workflows import approval_chains

        request = request_of(context, self.chain)
        if "error" in event:
            if event.get("error_type") != "timeout":
                self.process_trigger_event_error(event)
            with db.transaction() as conn:
                recorded = approval_chains.record(
                    conn, request, self.step, Decision.TIMED_OUT, None,
                    f"nobody answered within {self.response_timeout}: recorded as a rejection")
            return self._go_on_or_stop(context, Decision(recorded.decision), recorded.as_dict())

        chosen = list(event.get("chosen_options") or [])
        self.validate_chosen_options(chosen)
        username = users.staff_username(event.get("responded_by_user"))
        reason = str((event.get("params_input") or {}).get(REASON) or "").strip()
        answered_at = event.get("responded_at")
        with db.transaction() as conn:
            try:
                approval_chains.check_answer(conn, request, self.step, username or "(nobody)")
                decision = Decision.APPROVED if chosen == [APPROVE] else Decision.REJECTED
            except PermissionDenied as refused:
                decision, reason = Decision.REFUSED, str(refused)
            recorded = approval_chains.record(conn, request, self.step, decision, username,
                                              reason or "(no reason given)", answered_at=answered_at)
        # what the ledger holds decides (an answer after a recorded timeout changes nothing)
        return self._go_on_or_stop(context, Decision(recorded.decision), recorded.as_dict())

    def _go_on_or_stop(self, context: Any, decision: Decision, result: dict[str, Any]) -> Any:
        if decision.lets_chain_go_on:
            return result
        self.log.warning("Approval %s at step %s: every later task is skipped", decision.value,
                         self.step.key)
        later = [t for t in context["task"].get_flat_relatives(upstream=False) if not t.is_teardown]
        self.skip(ti=context["ti"], tasks=later)  # raises: the skip is how the task ends
        return result


class ApprovalOutcome(BaseOperator):
    """The chain's last task: the ledger must hold an approval of every needed step."""

    def __init__(self, *, chain: str, steps: Sequence[Step], **kwargs: Any) -> None:
        super().__init__(task_id=kwargs.pop("task_id", "approved"), **kwargs)
        self.chain = chain
        self.steps = tuple(steps)

    def execute(self, context: Any) -> Any:
        from dossiers.core import db
        from dossiers.workflows import approval_chains

        request = request_of(context, self.chain)
        with db.transaction() as conn:
            outcome = approval_chains.outcome(conn, request, self.steps)
        if outcome is not Decision.APPROVED:
            raise AirflowFailException(
                f"request {request.request_id}: not approved in the ledger ({outcome.value}); a gate "
                "marked successful in Airflow is not an approval")
        return {"request_id": request.request_id, "decision": outcome.value}


def approval_chain(chain: str, *, response_timeout: timedelta, steps: Sequence[Step] | None = None,
                   group_id: str = "approval") -> TaskGroup:
    """A task group of one gate per step of ``chain`` (``approval_chains.CHAINS``, or ``steps``),
    in order, ended by :class:`ApprovalOutcome`. Put the guarded work downstream of it."""
    chosen = tuple(steps if steps is not None else CHAINS[chain])
    if not chosen:
        raise ValueError(f"approval chain {chain!r} has no step")
    with TaskGroup(group_id=group_id, tooltip=f"{chain} approvals") as group:
        previous: BaseOperator | None = None
        for step in chosen:
            gate = ApprovalGate(chain=chain, step=step, response_timeout=response_timeout)
            if previous is not None:
                previous >> gate
            previous = gate
        outcome = ApprovalOutcome(chain=chain, steps=chosen)
        if previous is not None:
            previous >> outcome
    return group

