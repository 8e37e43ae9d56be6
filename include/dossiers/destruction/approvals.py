"""Destruction and disclosure requests through Airflow's approval chains (Arts. 16, 17).

A request's DAG run carries it (:func:`destruction_conf`, :func:`disclosure_conf`: the
params of ``dossiers.airflow.approvals.request_params``). The chain's gates record every
answer in the ledger (``dossiers.workflows.approval_chains``); these functions, called by the
DAGs' tasks, copy those decisions onto the request itself, gate by gate, re-checked by the
request's own rules (:func:`dossiers.destruction.requests.decide`), and then act:

* destruction: CS head → every involved department's head → management → the QA
  supervisor's confirmation, then the execution (as the requesting archivist, under that
  supervision), which re-checks every dossier in the destroying transaction;
* disclosure: management's approval (the package is then made by Customer Service).

Anything but an approval — a rejection, a timeout, an answer refused, a gate nobody may
answer — rejects the request with the chain's reason (a timeout never approves).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, select, update

from dossiers.core import clock, ledger
from dossiers.core.crypto import KeyRing
from dossiers.core.directory import load_actor
from dossiers.core.errors import Refused
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import destruction_request, disclosure_request, staff
from dossiers.core.vocabulary import DestructionStatus, DisclosureStatus, LedgerAction
from dossiers.destruction import requests
from dossiers.destruction.execution import Executed, Stopped, execute
from dossiers.workflows import approval_chains
from dossiers.workflows.approval_chains import DESTRUCTION_STEPS, DISCLOSURE, Request, Step

PREFIX = {"destruction": "destruction:", "disclosure": "disclosure:"}


def gate_of(step: Step) -> str:
    """The request's gate that a chain step decides."""
    if step.department:
        return requests.department_gate(step.department)
    return {"cs_head_review": requests.CS_HEAD, "management_approval": requests.MANAGEMENT,
            "qa_supervision": requests.QA_SUPERVISOR}[step.key]


def request_uuid(chain_request: Request) -> uuid.UUID:
    return uuid.UUID(chain_request.request_id.removeprefix(PREFIX[chain_request.chain]))


def destruction_conf(conn: Connection, request_id: uuid.UUID) -> dict[str, Any]:
    """The DAG run's params for a Destruction Request Form (no personal data)."""
    row = requests.load(conn, request_id)
    items = requests.items(conn, request_id)
    who = conn.execute(select(staff.c.username).where(staff.c.id == row.requested_by)).scalar_one()
    return {"request_id": f"destruction:{request_id}", "requested_by": who,
            "departments": sorted({d for i in items for d in i.departments}),
            "summary": f"{len(items)} dossier(s): "
                       + ", ".join(f"{i.dossier_no} ({i.condition})" for i in items)}


def disclosure_conf(conn: Connection, request_id: uuid.UUID) -> dict[str, Any]:
    from dossiers.disclosure.requests import load

    row = load(conn, request_id)
    who = conn.execute(select(staff.c.username).where(staff.c.id == row.requested_by)).scalar_one()
    return {"request_id": f"disclosure:{request_id}", "requested_by": who, "departments": [],
            "summary": f"{row.dossier_no} to {row.recipient} ({row.recipient_country}), "
                       f"{row.legal_basis}, until {row.expires_on}"}


def submission(conn: Connection, actor: Actor, chain: str, request_id: uuid.UUID) -> dict[str, Any]:
    """The conf of the approval run of a request still waiting for its approvals, for the
    person who may prepare such requests (Arts. 16, 17); the hand-over is ledgered."""
    from dossiers.disclosure import requests as disclosures

    record = f"{chain} request {request_id}"
    waiting: str
    if chain == "destruction":
        authorize(conn, actor, Action.DESTRUCTION_PROPOSE, subject=record)
        status, waiting = requests.load(conn, request_id).status, DestructionStatus.REQUESTED
        conf = destruction_conf(conn, request_id)
    else:
        authorize(conn, actor, Action.DISCLOSURE_REQUEST, subject=record)
        status, waiting = disclosures.load(conn, request_id).status, DisclosureStatus.REQUESTED
        conf = disclosure_conf(conn, request_id)
    if status != waiting:
        raise Refused(f"is {status}: only a request waiting for its approvals is submitted",
                      record=record)
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.APPROVAL_SUBMIT,
        subject_type=approval_chains.SUBJECT_TYPE, subject_id=conf["request_id"],
        details={"chain": chain, "departments": conf["departments"]}))
    return conf


def _reject_for_chain(conn: Connection, chain: Request, step: Step, found: Any) -> None:
    """A chain that did not approve (rejection, timeout, refused answer): the request is
    rejected with the chain's reason; nobody's approval is invented."""
    reason = f"{step.key}: {found.decision}: {found.reason}"
    system = Actor.system("airflow")
    if chain.chain == "destruction":
        target = request_uuid(chain)
        if found.answered_by and found.decision == approval_chains.Decision.REJECTED:
            requests.decide(conn, load_actor(conn, found.answered_by), target, gate_of(step),
                            approve=False, reason=found.reason or reason, via="airflow")
            return
        conn.execute(update(destruction_request).where(destruction_request.c.id == target)
                     .values(status=DestructionStatus.REJECTED, rejection_reason=reason))
        ledger.append(conn, ledger.Entry(
            system.username, LedgerAction.DESTRUCTION_REJECT, "destruction_request", str(target),
            details={"gate": gate_of(step), "reason": reason, "via": "airflow"}))
        return
    from dossiers.disclosure import requests as disclosure_requests

    target = request_uuid(chain)
    if found.answered_by and found.decision == approval_chains.Decision.REJECTED:
        disclosure_requests.decide(conn, load_actor(conn, found.answered_by), target,
                                   approve=False, reason=found.reason or reason, via="airflow")
        return
    conn.execute(update(disclosure_request).where(disclosure_request.c.id == target).values(
        status=DisclosureStatus.REJECTED, decided_at=clock.now(), reason=reason))
    ledger.append(conn, ledger.Entry(
        system.username, LedgerAction.DISCLOSURE_REJECT, "disclosure_request", str(target),
        details={"reason": reason, "via": "airflow"}))


def apply_chain(conn: Connection, chain: Request) -> str:
    """Copy the chain run's decisions onto the request; its status afterwards."""
    steps = DESTRUCTION_STEPS if chain.chain == "destruction" else DISCLOSURE
    target = request_uuid(chain)
    if chain.chain == "destruction":
        expected = destruction_conf(conn, target)
        if sorted(chain.departments) != expected["departments"]:
            raise Refused(f"the run re-checks departments {sorted(chain.departments)}, the form "
                          f"needs {expected['departments']}", record=f"destruction request {target}")
    for step in steps:
        if step.department and step.department not in chain.departments:
            continue
        found = approval_chains.decision_of(conn, chain, step)
        if found is None:
            break
        if not found.approved:
            _reject_for_chain(conn, chain, step, found)
            break
        actor = load_actor(conn, found.answered_by)
        if chain.chain == "destruction":
            if gate_of(step) not in requests.decisions(conn, target):
                requests.decide(conn, actor, target, gate_of(step), approve=True,
                                reason=found.reason, via="airflow")
        else:
            from dossiers.disclosure import requests as disclosure_requests

            if disclosure_requests.load(conn, target).status == DisclosureStatus.REQUESTED:
                disclosure_requests.decide(conn, actor, target, approve=True, reason=found.reason,
                                           via="airflow")
    table = destruction_request if chain.chain == "destruction" else disclosure_request
    return str(conn.execute(select(table.c.status).where(table.c.id == target)).scalar_one())


def execute_approved(chain: Request, **seams: Any) -> Executed | Stopped:
    """After the chain: the approvals onto the form (committed), then the execution as the
    requesting archivist, re-checked in its own transaction."""
    from dossiers.core import db

    with db.transaction() as conn:
        status = apply_chain(conn, chain)
    if status != DestructionStatus.APPROVED:
        raise Refused(f"is {status}, not approved", record=chain.request_id)
    with db.transaction() as conn:
        return execute(conn, KeyRing(), load_actor(conn, chain.requested_by), request_uuid(chain),
                       **seams)
