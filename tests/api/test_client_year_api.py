"""A year of one client's life through the REST API (issue 3's "done when"), with real
Airflow JWTs against the real test database: intake, review, creation, filing, a query by
another department, a loan with an extension, an important update, termination; the
ledger shows every step, by whom."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import text

from dossiers.calendar.workdays import default_calendar
from dossiers.core import db
from dossiers.core.config import SHANGHAI
from dossiers.workflows import staff

pytestmark = [pytest.mark.integration, pytest.mark.api]

FORM = {
    "client_name_zh": "藍海跨境", "client_name_en": "Blue Ocean Commerce BV", "client_type": "ECOM",
    "stage": "potential", "target_markets": "NL;BE", "liaison": "wang.market",
    "department": "market", "authorisation_ref": "AUTH-2026-31", "collected_on": "2026-11-02",
    "contact_name": "Sanne de Vries", "contact_email": "sanne@blueocean.example.nl",
    "credit_rating": "BBB",
}


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_a_year_of_one_client_through_the_api(client, company, as_user) -> None:
    today = datetime.now(SHANGHAI).date()
    wd = default_calendar()
    with db.transaction() as conn:  # Planning's head, who approves Planning's loans
        staff.add(conn, "chen.cs", "qian.plan", "planning", ["dept_head"])

    report = _ok(client.post("/forms", json=[FORM], headers=as_user("wang.market")))
    form_id = report["accepted"][0]["form_id"]
    _ok(client.post(f"/forms/{form_id}/review", json={"decision": "approve"},
                    headers=as_user("zhao.market")))
    made = _ok(client.post("/dossiers", json={"form_id": form_id},
                           headers=as_user("li.archive")), 201)
    number, path = made["dossier_no"], f"/dossiers/{quote(made['dossier_no'], safe='')}"
    _ok(client.post(f"{path}/file", json={"cabinet": "電商", "shelf": 1},
                    headers=as_user("li.archive")))
    _ok(client.post(f"{path}/stage", json={"stage": "active"}, headers=as_user("li.archive")))

    # Art. 16: another department reads it only through a grant, masked
    assert client.get(path, headers=as_user("sun.plan")).status_code == 403
    grant = _ok(client.post("/queries", json={
        "dossier_no": number, "purpose": "campaign plan", "scope": ["contacts"],
        "until": date(today.year + 1, 1, 31).isoformat()}, headers=as_user("sun.plan")), 201)
    _ok(client.post(f"/queries/{grant['grant_id']}/approve", headers=as_user("li.archive")))
    seen = _ok(client.get(path, headers=as_user("sun.plan")))
    assert seen["contacts"][0]["email"] == "s***@blueocean.example.nl"

    # Art. 16: a loan, both approvals, lent, extended once, returned
    loan = _ok(client.post("/loans", json={"dossier_nos": [number], "purpose": "workshop",
                                           "period_wd": 5}, headers=as_user("sun.plan")), 201)
    loan_path = f"/loans/{loan['loan_id']}"
    _ok(client.post(f"{loan_path}/approve", json={}, headers=as_user("li.archive")))
    _ok(client.post(f"{loan_path}/approve", json={}, headers=as_user("qian.plan")))
    lent = _ok(client.post(f"{loan_path}/lend", headers=as_user("li.archive")))
    assert lent["due_on"] == wd.add(today, 5).date.isoformat()
    _ok(client.post(f"{loan_path}/extension", json={"wd": 2}, headers=as_user("sun.plan")))
    again = client.post(f"{loan_path}/extension", json={"wd": 1}, headers=as_user("sun.plan"))
    assert again.status_code == 422 and "extension" in again.json()["detail"]
    _ok(client.post(f"{loan_path}/extension/decision", json={"decision": "approve"},
                    headers=as_user("li.archive")))
    _ok(client.post(f"{loan_path}/return", json={"default": "good"},
                    headers=as_user("li.archive")))

    # Arts. 12, 13: an important change needs the CS head before the archivist applies it
    change = _ok(client.post("/updates", json={
        "dossier_no": number, "changes": {"client_name_en": "Blue Ocean Group BV"},
        "reason": "rebranding", "evidence": "registry extract"},
        headers=as_user("wang.market")), 201)
    change_path = f"/updates/{change['change_id']}"
    assert change["important"] is True
    _ok(client.post(f"{change_path}/review", json={"decision": "approve"},
                    headers=as_user("zhao.market")))
    early = client.post(f"{change_path}/apply", headers=as_user("li.archive"))
    assert early.status_code == 422 and "CS head" in early.json()["detail"]
    _ok(client.post(f"{change_path}/important", json={"decision": "approve"},
                    headers=as_user("chen.cs")))
    _ok(client.post(f"{change_path}/apply", headers=as_user("li.archive")))

    # Art. 15: termination with no prospect
    _ok(client.post(f"{path}/stage", json={"stage": "terminated",
                                           "terminated_on": today.isoformat(),
                                           "further_cooperation": False},
                    headers=as_user("li.archive")))
    final = _ok(client.get(path, headers=as_user("wang.market")))
    assert final["client_name_en"] == "Blue Ocean Group BV" and final["stage"] == "terminated"

    with db.transaction() as conn:
        steps = [tuple(r) for r in conn.execute(text(
            "SELECT actor, action FROM ledger_entry WHERE action NOT LIKE 'staff.%' ORDER BY seq"))]
    assert steps == [
        ("wang.market", "form.submit"), ("zhao.market", "form.approve"),
        ("li.archive", "dossier.create"), ("li.archive", "dossier.file"),
        ("li.archive", "dossier.stage"),
        ("sun.plan", "query.request"), ("li.archive", "query.approve"),
        ("sun.plan", "loan.request"), ("li.archive", "loan.approve_archive"),
        ("qian.plan", "loan.approve_department"), ("li.archive", "loan.lend"),
        ("sun.plan", "loan.extension_request"), ("li.archive", "loan.extension_approve"),
        ("li.archive", "loan.return"),
        ("wang.market", "update.submit"), ("zhao.market", "update.approve"),
        ("chen.cs", "important_change.approve"), ("li.archive", "update.apply"),
        ("li.archive", "dossier.stage"),
    ]
