"""The whole role × action matrix (Arts. 6, 7, 16), walked through the real operations.

For every action there is the operation that carries it (the one the CLI and the API
call), and every role tries it once. A role the matrix does not allow must be refused by
the matrix itself, with the refusal in ``access_log``; a role it allows must get past the
permission check (it may still be refused for another reason: the wrong department, its
own request, the state of the record). A new action fails this test until it is walked.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from dossiers import cli
from dossiers.backups import catalogue as backup_catalogue
from dossiers.core import clock, db, directory
from dossiers.core.crypto import KeyRing
from dossiers.core.errors import DossierError
from dossiers.core.permissions import MATRIX, Action, Actor, Role
from dossiers.destruction import execution as destruction_execution
from dossiers.destruction import holds
from dossiers.destruction import requests as destruction_requests
from dossiers.disclosure import package as disclosure_package
from dossiers.disclosure import requests as disclosure_requests
from dossiers.documents import adding, integrity, sweep
from dossiers.duties import compliance_check
from dossiers.intake.submitter import SubmitterCheck
from dossiers.local import samples
from dossiers.reports import catalogue
from dossiers.workflows import (
    authorisations,
    complaints,
    creation,
    filing_delays,
    incidents,
    lifecycle,
    loans,
    queries,
    staff,
    updates,
    vault,
)

from helpers import act as _act
from helpers import client_form, submitted

pytestmark = pytest.mark.integration

#: Actions whose operations belong to later work (destruction, external disclosure, the
#: audit duties); the matrix already says who will hold them.
NOT_BUILT = {Action.AUDIT_RUN}

#: One person per role (the ``company`` fixture), and the system that runs the duties.
PEOPLE = {Role.LIAISON: "wang.market", Role.DEPT_HEAD: "zhao.market",
          Role.ARCHIVIST: "li.archive", Role.CS_HEAD: "chen.cs", Role.QA_SUPERVISOR: "qa.he",
          Role.MANAGEMENT: "mgmt.wu", Role.SYSTEM: None}


def _submit(tmp_path, name: str, as_user: str | None = "wang.market") -> uuid.UUID | None:
    return submitted(tmp_path, client_form(name), as_user=as_user, file_name=f"{name}.json")


@pytest.fixture
def scenario(company, tmp_path) -> dict[str, Any]:
    """Records in every state an action needs: forms, dossiers (filed and not), a query
    request, an update form, a loan request, a filing delay request."""
    keys = KeyRing()
    pending = _submit(tmp_path, "Alpha")
    reviewed, unfiled = _submit(tmp_path, "Beta"), _submit(tmp_path, "Gamma")
    for form_id in (reviewed, unfiled):
        _act("zhao.market", lambda c, a, f=form_id: creation.review_form(c, a, f, approve=True))
    filed = _act("li.archive", lambda c, a: creation.create_dossier(c, keys, a, reviewed))
    loose = _act("li.archive", lambda c, a: creation.create_dossier(c, keys, a, unfiled))
    _act("li.archive", lambda c, a: creation.file_dossier(
        c, a, uuid.UUID(filed["dossier_id"]), cabinet="外貿", shelf=1))
    number = filed["dossier_no"]
    grant = _act("sun.plan", lambda c, a: queries.request(
        c, a, number, purpose="campaign planning", scope=["market"],
        expires_on=clock.today() + timedelta(days=30)))
    change = _act("wang.market", lambda c, a: updates.submit(
        c, keys, a, number, {"honours": "Award 2026"}, reason="new award", evidence="press",
        collection_channel="website"))
    loan = _act("sun.plan", lambda c, a: loans.request(c, a, [number], purpose="audit prep",
                                                       period_wd=3))
    delay = _act("li.archive", lambda c, a: filing_delays.request(
        c, a, loose["dossier_no"], until=_late(loose["filing_due"]), reason="binder jammed"))
    with db.transaction() as conn:  # a leaver whose handover awaits CS's sign-off (Art. 19)
        staff.add(conn, "chen.cs", "gone.leaver", "market", ["liaison"])
        staff.leave(conn, directory.load_actor(conn, "mgmt.wu"), "gone.leaver", "wang.market",
                    storage_devices=["USB key 1"])
    # a Destruction Request Form listing the unfiled dossier, terminated long ago (Art. 17)
    _act("li.archive", lambda c, a: lifecycle.change_stage(
        c, a, loose["dossier_no"], "terminated", terminated_on=date(2023, 1, 2),
        further_cooperation=False))
    destroying = _act("li.archive", lambda c, a: destruction_requests.request(
        c, a, [destruction_requests.Item(loose["dossier_no"])]))
    disclosing = _act("li.archive", lambda c, a: disclosure_requests.request(  # Art. 16
        c, keys, a, number, recipient="Court", recipient_country="DE", legal_basis="litigation",
        purpose="evidence", scope=["market"], expires_on=clock.today() + timedelta(days=9),
        confidentiality_ref="NDA-1"))
    incident = _act("wang.market", lambda c, a: incidents.open_incident(
        c, a, "leak", "proposal sent to the wrong client", dossier_no=number))
    _act("chen.cs", lambda c, a: incidents.add_step(c, a, uuid.UUID(incident["incident_id"]),
                                                    "recall the mail"))
    complaint = _act("wang.market", lambda c, a: complaints.receive(
        c, a, "client", "update took three weeks", dossier_no=number))
    with db.transaction() as conn:  # a published report with rows about each department
        report_id = conn.execute(text(
            "INSERT INTO report (kind, period, format, uri, sha256, created_at) VALUES "
            "('kpi_monthly', '2026-11', 'pdf', 'file:///nowhere.pdf', repeat('0', 64), :at) "
            "RETURNING id"), {"at": clock.now()}).scalar_one()
    return {"keys": keys, "tmp": tmp_path, "pending": pending, "number": number,
            "report": report_id,
            "loose": uuid.UUID(loose["dossier_id"]), "grant": uuid.UUID(grant["grant_id"]),
            "change": uuid.UUID(change["change_id"]), "loan": uuid.UUID(loan["loan_id"]),
            "delay": delay["delay_id"], "destruction": destroying.request_id,
            "disclosure": disclosing.request_id,
            "incident": uuid.UUID(incident["incident_id"]),
            "complaint": uuid.UUID(complaint["complaint_id"])}


def _late(due: str) -> date:
    from dossiers.calendar.workdays import default_calendar

    return default_calendar().add(date.fromisoformat(due), 1).date


def _operations(s: dict[str, Any]) -> dict[Action, Callable[[Any, Actor], Any]]:
    """The operation that carries each action, with arguments valid for the scenario."""
    keys, number = s["keys"], s["number"]
    return {
        Action.STAFF_ADD: lambda c, a: staff.add(c, a.username if a.staff_id else None,
                                                 "new.joiner", "market", ["liaison"]),
        Action.STAFF_LEAVE: lambda c, a: staff.leave(c, a, "sun.plan", "wang.market"),
        # A row naming another liaison: for the actor's own department, and for another one.
        Action.FORM_SUBMIT_FOR_DEPARTMENT: lambda c, a: SubmitterCheck(c, a, "walk").allows(
            a.department, "sun.plan"),
        Action.FORM_SUBMIT_FOR_ANY_DEPARTMENT: lambda c, a: SubmitterCheck(c, a, "walk").allows(
            "planning", "sun.plan"),
        Action.FORM_REVIEW: lambda c, a: creation.review_form(c, a, s["pending"], approve=True),
        Action.FORM_LIST: lambda c, a: creation.list_forms(c, a),
        Action.DOSSIER_CREATE: lambda c, a: creation.create_dossier(c, keys, a, s["pending"]),
        Action.DOSSIER_FILE: lambda c, a: creation.file_dossier(c, a, s["loose"], cabinet="外貿",
                                                                shelf=2),
        Action.DOSSIER_STAGE: lambda c, a: lifecycle.change_stage(c, a, number, "active"),
        Action.DOSSIER_READ: lambda c, a: lifecycle.read(c, keys, a, number),
        Action.UPDATE_SUBMIT: lambda c, a: updates.submit(c, keys, a, number, {"honours": "x"},
                                                          reason="r", evidence="e",
                                                          collection_channel="email"),
        Action.UPDATE_REVIEW: lambda c, a: updates.review(c, a, s["change"], approve=True),
        Action.UPDATE_APPLY: lambda c, a: updates.apply(c, keys, a, s["change"]),
        Action.IMPORTANT_CHANGE_APPROVE: lambda c, a: updates.approve_important(
            c, a, s["change"], approve=True),
        Action.FILING_DELAY_APPROVE: lambda c, a: filing_delays.decide(c, a, s["delay"],
                                                                       approve=True),
        Action.QUERY_REQUEST: lambda c, a: queries.request(
            c, a, number, purpose="p", scope=["basic"], expires_on=clock.today()),
        Action.QUERY_APPROVE: lambda c, a: queries.decide(c, a, s["grant"], approve=True),
        Action.LOAN_REQUEST: lambda c, a: loans.request(c, a, [number], purpose="p", period_wd=2),
        Action.LOAN_APPROVE_DEPARTMENT: lambda c, a: loans.approve(c, a, s["loan"],
                                                                   capacity="department"),
        Action.LOAN_APPROVE_ARCHIVE: lambda c, a: loans.approve(c, a, s["loan"],
                                                                capacity="archive"),
        Action.VAULT_MANAGE: lambda c, a: vault.check_condition(c, a, f"{number}/1",
                                                                condition="good"),
        Action.VAULT_READ: lambda c, a: vault.list_volumes(c, a),
        Action.DOCUMENT_ADD: lambda c, a: adding.add(
            c, keys, a, number, name="walk.png", chunks=[samples.png(7)], document_type="other"),
        Action.DOCUMENT_VERIFY: lambda c, a: integrity.verify(c, keys, a, number),
        Action.DOCUMENT_SWEEP: lambda c, a: sweep.sweep(c, a),
        Action.DESTRUCTION_PROPOSE: lambda c, a: destruction_requests.request(
            c, a, [destruction_requests.Item(number)]),
        Action.DESTRUCTION_REVIEW: lambda c, a: destruction_requests.decide(
            c, a, s["destruction"], "cs_head", approve=True),
        Action.DESTRUCTION_RECHECK: lambda c, a: destruction_requests.decide(
            c, a, s["destruction"], "department:market", approve=True),
        Action.DESTRUCTION_APPROVE: lambda c, a: destruction_requests.decide(
            c, a, s["destruction"], "management", approve=True),
        Action.DESTRUCTION_SUPERVISE: lambda c, a: destruction_requests.decide(
            c, a, s["destruction"], "qa_supervisor", approve=True),
        Action.DESTRUCTION_EXECUTE: lambda c, a: destruction_execution.execute(
            c, keys, a, s["destruction"]),
        Action.LEGAL_HOLD_MANAGE: lambda c, a: holds.place(c, a, number, kind="litigation",
                                                           reference="walk"),
        Action.DISCLOSURE_REQUEST: lambda c, a: disclosure_requests.request(
            c, keys, a, number, recipient="Regulator", recipient_country="CN",
            legal_basis="regulator_inspection", purpose="inspection", scope=["basic"],
            expires_on=clock.today() + timedelta(days=9), confidentiality_ref="NDA-2"),
        Action.DISCLOSURE_APPROVE: lambda c, a: disclosure_requests.decide(
            c, a, s["disclosure"], approve=True),
        Action.DISCLOSURE_PACKAGE: lambda c, a: disclosure_package.package(
            c, keys, a, s["disclosure"], s["tmp"] / "packages"),
        Action.DISCLOSURE_REGISTER: lambda c, a: disclosure_requests.register(c, a),
        Action.REPORT_READ: lambda c, a: catalogue.listing(c, a),
        Action.BACKUP_RUN: lambda c, a: backup_catalogue.list_backups(c, a),
        Action.REPORT_READ_ALL: lambda c, a: catalogue.whole(c, a, s["report"]),
        Action.AUTHORISATION_RECORD: lambda c, a: authorisations.record(
            c, a, "AUTH-WALK", ["direct"], granted_on=date(2026, 1, 5),
            expires_on=date(2027, 1, 5)),
        Action.STAFF_AGREEMENT: lambda c, a: staff.record_agreement(
            c, a, "sun.plan", signed_on=date(2026, 1, 5), reference="NDA-WALK"),
        Action.STAFF_HANDOVER_SIGN_OFF: lambda c, a: staff.sign_off_handover(c, a, "gone.leaver"),
        Action.COMPLIANCE_CHECK: lambda c, a: compliance_check.compliance_check(
            c, date(2026, 7, 1), date(2026, 10, 9), actor=a),
        Action.INCIDENT_OPEN: lambda c, a: incidents.open_incident(
            c, a, "lost_volume", "volume 2 not back on its shelf", dossier_no=number),
        Action.INCIDENT_HANDLE: lambda c, a: incidents.add_step(c, a, s["incident"],
                                                                "search the reading room"),
        Action.INCIDENT_CLOSE: lambda c, a: incidents.close(c, a, s["incident"], "found"),
        Action.COMPLAINT_RECEIVE: lambda c, a: complaints.receive(
            c, a, "client", "asked twice for the same documents", dossier_no=number),
        Action.COMPLAINT_INVESTIGATE: lambda c, a: complaints.investigate(
            c, a, s["complaint"], findings="no fault found", upheld=False),
        Action.COMPLIANCE_READ: lambda c, a: incidents.list_incidents(c, a),
    }


def _outside_a_transaction(s: dict[str, Any]) -> dict[Action, Callable[[str | None], Any]]:
    """Operations that run their own transactions, as the CLI does."""
    return {
        Action.FORM_SUBMIT: lambda user: _submit(s["tmp"], f"Walk{uuid.uuid4().hex[:6]}", user),
        Action.LEDGER_VERIFY: lambda user: cli.main(["ledger", "verify"] + (
            ["--as", user] if user else [])),
    }


def _matrix_refusals(actor: str, action: Action) -> int:
    with db.transaction() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM access_log WHERE NOT allowed AND actor = :actor AND "
            "action = :action AND reason LIKE '%do not allow%'"),
            {"actor": actor, "action": action.value}).scalar_one()


def test_every_role_tries_every_action(scenario, monkeypatch, capsys) -> None:
    inside, outside = _operations(scenario), _outside_a_transaction(scenario)
    assert set(inside) | set(outside) | NOT_BUILT == set(Action), "an action is not walked"
    monkeypatch.delenv("DOSSIER_USER", raising=False)
    engine = db.get_engine()
    walked, wrong = 0, []
    for role, username in PEOPLE.items():
        for action in sorted(set(inside) | set(outside)):
            actor_name = username or "system"
            before = _matrix_refusals(actor_name, action)
            try:
                if action in outside:
                    outside[action](username)
                else:
                    with engine.connect() as conn, conn.begin() as txn:
                        actor = directory.load_actor(conn, username)
                        try:
                            inside[action](conn, actor)
                        finally:
                            txn.rollback()  # every attempt leaves the scenario as it was
            except DossierError:
                pass  # refused: by the matrix (counted below) or for another reason
            refused = _matrix_refusals(actor_name, action) - before
            allowed = action in MATRIX[role]
            walked += 1
            if refused != (0 if allowed else 1):
                wrong.append(f"{role.value} {action.value}: matrix says "
                             f"{'allow' if allowed else 'refuse'}, refusals logged {refused}")
    capsys.readouterr()
    assert wrong == []
    assert walked == len(PEOPLE) * (len(Action) - len(NOT_BUILT))
