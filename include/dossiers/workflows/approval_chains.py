"""Approval chains: who must approve, in which order, derived from the permission matrix
(Arts. 6, 16, 17), and the record of every answer in the ledger.

A chain is a sequence of :class:`Step`: each names the action the approver exercises
(``permissions.Action``) and, for a department's re-check, the department. Who may answer a
step is never listed by hand: it is every active staff member whose roles grant the step's
action in ``permissions.MATRIX`` (and who belongs to the step's department, when it has one),
except the person who asked and anyone who already answered another step of the same chain
run (separation of duties: nobody answers their own request, nobody answers twice).

Airflow carries the chain (``dossiers.airflow.approvals``: one human-in-the-loop task per
step); this module is what those tasks call, so the rules hold whatever Airflow's settings
(an empty ``assigned_users`` or ``simple_auth_manager_all_admins`` lets anyone answer in
Airflow; :func:`check_answer` refuses them here). Postgres keeps the state: each gate's
opening (who was asked), and every answer, refusal and timeout is a ledger entry with who,
when and the reason; a timeout is recorded as a rejection, never as an approval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from dossiers.core import clock
from dossiers.core.errors import PermissionDenied, Refused
from dossiers.core.permissions import MATRIX, Action, Actor, Role, authorize, log_refusal
from dossiers.core.usernames import shown
from dossiers.core.vocabulary import Department, LedgerAction
from dossiers.workflows.results import Result

if TYPE_CHECKING:  # the chains are read at DAG parse time: the database layer only when used
    from sqlalchemy import Connection

#: The ledger's subject type of every approval entry (``subject_id`` is the request).
SUBJECT_TYPE = "approval"


class Decision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    #: Nobody answered within the gate's response timeout: a rejection (never an approval).
    TIMED_OUT = "timed_out"
    #: Somebody answered who may not (not asked, the requester, a second answer, no longer
    #: staff, the matrix does not allow it): the chain stops, unapproved.
    REFUSED = "refused"
    #: Nobody may answer the step (no active holder of the role): the chain stops, unapproved.
    NO_APPROVER = "no_approver"
    #: The step concerns a department the request does not involve: nothing to ask.
    NOT_NEEDED = "not_needed"

    @property
    def lets_chain_go_on(self) -> bool:
        return self in (Decision.APPROVED, Decision.NOT_NEEDED)


@dataclass(frozen=True)
class Step:
    """One gate of a chain: the action its approver exercises, for one department or any.

    ``key`` names the gate (its Airflow task id ends in it); ``article`` is what the policy
    says about the step.
    """

    key: str
    action: Action
    article: str
    department: str | None = None
    title: str = ""

    def roles(self) -> frozenset[Role]:
        """The roles the permission matrix lets answer this step."""
        return roles_allowed(self.action)


def roles_allowed(action: Action) -> frozenset[Role]:
    """Every staff role whose line of the matrix holds ``action`` (never the system)."""
    return frozenset(r for r, actions in MATRIX.items() if action in actions and r is not Role.SYSTEM)


def approval_actions() -> frozenset[Action]:
    """The actions some chain's step exercises: whoever holds one answers approvals."""
    return frozenset(step.action for chain in (*CHAINS.values(), DESTRUCTION_STEPS)
                     for step in chain)


def _department_rechecks(action: Action, article: str) -> tuple[Step, ...]:
    return tuple(Step(f"recheck_{d.value}", action, article, department=d.value,
                      title=f"{d.value} department head re-checks")
                 for d in Department if d is not Department.MANAGEMENT)


#: Art. 17(1)-(2): the CS head reviews the Destruction Request Form, every relevant
#: department's head re-checks (a step per department; the ones a request does not involve
#: pass as not needed), then management approves.
DESTRUCTION = (
    Step("cs_head_review", Action.DESTRUCTION_REVIEW, "Art. 17(1)", title="CS head reviews"),
    *_department_rechecks(Action.DESTRUCTION_RECHECK, "Art. 17(2)"),
    Step("management_approval", Action.DESTRUCTION_APPROVE, "Art. 17(2)",
         title="Management approves"),
)

#: Art. 17(2)(3): the QA supervisor confirms the execution may start under their supervision.
QA_SUPERVISION = Step("qa_supervision", Action.DESTRUCTION_SUPERVISE, "Art. 17(2)(3)",
                      title="QA supervisor confirms the execution")
#: The destruction DAG's gates: the approval chain of Art. 17(2), then the QA supervisor.
DESTRUCTION_STEPS = (*DESTRUCTION, QA_SUPERVISION)

#: Art. 16: external use never without management's approval.
DISCLOSURE = (
    Step("management_approval", Action.DISCLOSURE_APPROVE, "Art. 16", title="Management approves"),
)

#: The chains by name (the name is part of what the ledger records).
CHAINS: dict[str, tuple[Step, ...]] = {"destruction": DESTRUCTION, "disclosure": DISCLOSURE}


@dataclass(frozen=True)
class Request:
    """What a chain run is asked to approve: the request's id (``subject_id`` of its ledger
    entries, e.g. ``destruction:12``), who asked, the departments it involves, and the chain
    run (Airflow's dag and run ids) that carries it."""

    request_id: str
    requested_by: str
    run: str
    chain: str
    departments: tuple[str, ...] = ()
    summary: str = ""


@dataclass(frozen=True)
class Asked(Result):
    """A gate opened: who may answer it (Airflow's ``assigned_users``), or why nobody is asked."""

    step: str
    decision: str | None
    approvers: list[str]


@dataclass(frozen=True)
class Recorded(Result):
    """An answer (or its absence) as the ledger keeps it."""

    step: str
    decision: str
    answered_by: str | None
    reason: str
    seq: int

    @property
    def approved(self) -> bool:
        return Decision(self.decision) is Decision.APPROVED


def _entries(conn: Connection, request: Request, actions: Sequence[LedgerAction]) -> list[Any]:
    from sqlalchemy import select

    from dossiers.core.schema import ledger_entry

    return list(conn.execute(
        select(ledger_entry.c.seq, ledger_entry.c.actor, ledger_entry.c.action, ledger_entry.c.details)
        .where(ledger_entry.c.subject_type == SUBJECT_TYPE,
               ledger_entry.c.subject_id == request.request_id,
               ledger_entry.c.action.in_([a.value for a in actions]),
               ledger_entry.c.details["run"].astext == request.run)
        .order_by(ledger_entry.c.seq)))


DECISIONS = (LedgerAction.APPROVAL_APPROVE, LedgerAction.APPROVAL_REJECT,
             LedgerAction.APPROVAL_ANSWER_REFUSED)


def answered_by(conn: Connection, request: Request) -> dict[str, str]:
    """Who already answered a step of this chain run: ``{username: step}``."""
    return {row.actor: row.details["step"] for row in _entries(conn, request, DECISIONS)
            if row.details.get("answered_by")}


def decision_of(conn: Connection, request: Request, step: Step) -> Recorded | None:
    """The decision already recorded for ``step`` of this run (a retried task finds it)."""
    for row in _entries(conn, request, DECISIONS):
        if row.details.get("step") == step.key:
            return Recorded(step.key, row.details["decision"], row.details.get("answered_by"),
                            row.details.get("reason", ""), row.seq)
    return None


def eligible_approvers(conn: Connection, request: Request, step: Step) -> list[str]:
    """Who may answer ``step`` now: active staff holding a role the matrix gives the step's
    action (in the step's department, if any), minus the requester and earlier answerers."""
    from sqlalchemy import select

    from dossiers.core.schema import staff, staff_role

    query = (select(staff.c.username).distinct()
             .join(staff_role, staff_role.c.staff_id == staff.c.id)
             .where(staff.c.active, staff_role.c.role.in_([r.value for r in step.roles()]))
             .order_by(staff.c.username))
    if step.department:
        query = query.where(staff.c.department == step.department)
    done = answered_by(conn, request)
    return [u for u in conn.execute(query).scalars() if u != request.requested_by and u not in done]


def _details(request: Request, step: Step, **more: Any) -> dict[str, Any]:
    return {"chain": request.chain, "run": request.run, "step": step.key, "action": step.action.value,
            "article": step.article, **({"department": step.department} if step.department else {}),
            **more}


def open_gate(conn: Connection, request: Request, step: Step, *, at: datetime | None = None) -> Asked:
    """Decide who is asked to answer ``step``, and record it (``approval.ask``).

    A step for a department the request does not involve is not needed (nothing recorded).
    When nobody may answer, the step is recorded as rejected for want of an approver: a chain
    never waits on a gate nobody can open, and never passes one unanswered.
    """
    from dossiers.core import ledger

    if step.department and step.department not in request.departments:
        return Asked(step.key, Decision.NOT_NEEDED.value, [])
    approvers = eligible_approvers(conn, request, step)
    if not approvers:
        recorded = record(conn, request, step, Decision.NO_APPROVER, None,
                          f"no active staff member may answer ({step.action.value}) but the requester "
                          "or someone who already answered", at=at)
        return Asked(step.key, recorded.decision, [])
    ledger.append(conn, ledger.Entry(
        request.requested_by, LedgerAction.APPROVAL_ASK, SUBJECT_TYPE, request.request_id,
        details=_details(request, step, asked=approvers, summary=request.summary)))
    return Asked(step.key, None, approvers)


def asked(conn: Connection, request: Request, step: Step) -> list[str]:
    """Who the latest opening of ``step`` in this run asked (the ledger's ``approval.ask``;
    after a reassignment, the people asked in place of a leaver)."""
    return asked_in_run(conn, request.run, step.key)


def asked_in_run(conn: Connection, run: str, step_key: str) -> list[str]:
    """:func:`asked` by the chain run and step alone (what Airflow's auth manager knows of a
    gate, ``dossiers.airflow.auth``)."""
    from sqlalchemy import select

    from dossiers.core.schema import ledger_entry

    latest = conn.execute(
        select(ledger_entry.c.details["asked"])
        .where(ledger_entry.c.subject_type == SUBJECT_TYPE,
               ledger_entry.c.action == LedgerAction.APPROVAL_ASK.value,
               ledger_entry.c.details["run"].astext == run,
               ledger_entry.c.details["step"].astext == step_key)
        .order_by(ledger_entry.c.seq.desc()).limit(1)).scalar()
    return list(latest or [])


@dataclass(frozen=True)
class Reassigned(Result):
    """A waiting gate asked anew because someone it asked left (Art. 19)."""

    request_id: str
    run: str
    step: str
    asked: list[str]


def reassign(conn: Connection, leaver: str) -> list[Reassigned]:
    """Ask every waiting gate that asked ``leaver`` anew, of whoever may answer it now.

    Called when a staff member leaves (``workflows.staff.leave``), after their account is
    made inactive: each gate still waiting for an answer whose latest opening named them is
    opened again in the ledger (``approval.ask`` with ``reassigned_from``) with the step's
    eligible approvers now (:func:`eligible_approvers`: newly appointed role holders in,
    the leaver out). Airflow's gate is not re-created: its ``assigned_users`` carries a
    marker that sends Airflow's own check to this ledger entry (``dossiers.airflow.auth``),
    and :func:`check_answer` reads the same entry. When nobody may answer any more, the gate
    is asked of nobody and its timeout rejects it.
    """
    from sqlalchemy import select

    from dossiers.core import ledger
    from dossiers.core.schema import ledger_entry

    rows = conn.execute(
        select(ledger_entry.c.actor, ledger_entry.c.subject_id, ledger_entry.c.details)
        .where(ledger_entry.c.subject_type == SUBJECT_TYPE,
               ledger_entry.c.action == LedgerAction.APPROVAL_ASK.value,
               ledger_entry.c.details["asked"].contains([leaver]))
        .order_by(ledger_entry.c.seq)).all()
    done = []
    for row in rows:
        details = row.details
        request = Request(request_id=row.subject_id, requested_by=row.actor, run=details["run"],
                          chain=details["chain"], summary=details.get("summary", ""))
        step = Step(details["step"], Action(details["action"]), details["article"],
                    department=details.get("department"))
        if leaver not in asked(conn, request, step) or decision_of(conn, request, step):
            continue  # asked anew since, or answered: nothing waits on the leaver
        approvers = eligible_approvers(conn, request, step)
        ledger.append(conn, ledger.Entry(
            request.requested_by, LedgerAction.APPROVAL_ASK, SUBJECT_TYPE, request.request_id,
            details=_details(request, step, asked=approvers, summary=request.summary,
                             reassigned_from=leaver)))
        done.append(Reassigned(request.request_id, request.run, step.key, approvers))
    return done


def check_answer(conn: Connection, request: Request, step: Step, username: str) -> Actor:
    """The staff member who answered, if they may answer ``step``; otherwise the refusal is
    logged (``access_log``) and :class:`PermissionDenied` names the reason.

    Airflow's own check (``assigned_users``) is not trusted alone: the answerer must be staff,
    active, allowed the step's action by the matrix, of the step's department, one of those
    asked, not the requester, and not someone who already answered this chain run.
    """
    from dossiers.core.directory import load_actor

    subject = f"{SUBJECT_TYPE} {request.request_id} step {step.key}"
    try:
        actor = load_actor(conn, username)
    except Refused:
        log_refusal(conn, username, step.action.value, subject, "not a staff member")
        raise PermissionDenied(f"{shown(username)} may not {step.action.value} on {subject}: "
                               "not a staff member") from None
    reason = None
    if username == request.requested_by:
        reason = "nobody answers their own request (separation of duties)"
    elif username in answered_by(conn, request):
        reason = "already answered another step of this approval"
    elif step.department and actor.department != step.department:
        reason = f"not of the {step.department} department"
    elif actor.may(step.action) and username not in asked(conn, request, step):
        reason = "was not asked to answer this step"
    authorize(conn, actor, step.action, subject=subject, reason=reason)
    return actor


def record(conn: Connection, request: Request, step: Step, decision: Decision, username: str | None,
           reason: str, *, answered_at: datetime | None = None, at: datetime | None = None) -> Recorded:
    """Copy a step's outcome into the ledger (once: a retried task finds it recorded).

    Approvals are ``approval.approve``; rejections, timeouts and steps nobody could answer are
    ``approval.reject`` (the chain is not approved); an answer from someone who may not give
    it is ``approval.answer_refused``. The entry's actor is who answered (the system when
    nobody did), its details say when they answered and why.
    """
    from dossiers.core import ledger

    already = decision_of(conn, request, step)
    if already is not None:
        return already
    action = {Decision.APPROVED: LedgerAction.APPROVAL_APPROVE,
              Decision.REFUSED: LedgerAction.APPROVAL_ANSWER_REFUSED}.get(decision,
                                                                         LedgerAction.APPROVAL_REJECT)
    when = (answered_at or at or clock.now()).isoformat()
    seq = ledger.append(conn, ledger.Entry(
        username or Actor.system().username, action, SUBJECT_TYPE, request.request_id,
        details=_details(request, step, decision=decision.value, reason=reason,
                         answered_by=username, answered_at=when)))
    return Recorded(step.key, decision.value, username, reason, seq)


def outcome(conn: Connection, request: Request, steps: Sequence[Step]) -> Decision:
    """The chain run's outcome so far: approved only when every needed step was approved."""
    for step in steps:
        if step.department and step.department not in request.departments:
            continue
        found = decision_of(conn, request, step)
        if found is None or not found.approved:
            return Decision(found.decision) if found else Decision.REJECTED
    return Decision.APPROVED
