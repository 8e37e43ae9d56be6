"""A year of one client's life through the CLI, as its people would run it (issue 3).

Intake, review, creation, filing, a query by another department, a loan with an
extension, an important update, termination — and the ledger shows every step, in order,
by whom. The CLI takes today's date, so the deadlines are checked with the calendar.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from sqlalchemy import text

from dossiers.calendar.workdays import default_calendar
from dossiers.core import db
from dossiers.core.config import SHANGHAI

pytestmark = pytest.mark.integration

FORM = {
    "client_name_zh": "藍海跨境", "client_name_en": "Blue Ocean Commerce BV", "client_type": "ECOM",
    "stage": "potential", "target_markets": "NL;BE", "liaison": "wang.market",
    "department": "market", "authorisation_ref": "AUTH-2026-31", "collected_on": "2026-11-02",
    "contact_name": "Sanne de Vries", "contact_email": "sanne@blueocean.example.nl",
    "contact_phone": "+31 20 123 4567", "credit_rating": "BBB",
}


def _ok(result) -> dict:
    assert result.status == 0, result.stderr
    return result.json()


def test_a_year_of_one_client(cli, company, tmp_path) -> None:
    today = datetime.now(SHANGHAI).date()
    wd = default_calendar()
    path = tmp_path / "blue-ocean.json"
    path.write_text(json.dumps([FORM], ensure_ascii=False))

    # Arts. 8, 11: intake, department review (2 wd), creation and numbering, filing (2 wd)
    form_id = _ok(cli("import", str(path), "--as", "wang.market"))["accepted"][0]["form_id"]
    listed = _ok(cli("forms", "list", "--as", "zhao.market"))
    assert listed[0]["review_due"] == wd.add(today, 2).date.isoformat()
    _ok(cli("forms", "review", form_id, "--approve", "--as", "zhao.market"))
    made = _ok(cli("dossiers", "create", form_id, "--as", "li.archive"))
    number = made["dossier_no"]
    assert number == f"海外-{today.year}-電商-001"
    assert made["filing_due"] == wd.add(today, 2).date.isoformat()
    _ok(cli("dossiers", "file", number, "--cabinet", "電商", "--shelf", "1", "--as", "li.archive"))
    _ok(cli("dossiers", "stage", number, "active", "--as", "li.archive"))

    # Art. 16: Planning queries it through a grant the archivist approves; masked by default
    refused = cli("dossiers", "show", number, "--as", "sun.plan")
    assert refused.status == 1
    grant = _ok(cli("queries", "request", number, "--purpose", "campaign plan", "--scope",
                    "contacts", "--scope", "needs", "--until",
                    date(today.year + 1, 1, 31).isoformat(), "--as", "sun.plan"))
    _ok(cli("queries", "approve", grant["grant_id"], "--as", "li.archive"))
    seen = _ok(cli("dossiers", "show", number, "--as", "sun.plan"))
    assert seen["contacts"][0]["email"] == "s***@blueocean.example.nl" and "other" not in seen

    # Art. 16: Planning borrows the paper; both approvals, lent, extended once, returned
    loan = _ok(cli("loans", "request", number, "--purpose", "workshop", "--period", "5",
                   "--as", "sun.plan"))
    loan_id = loan["loan_id"]
    _ok(cli("loans", "approve", loan_id, "--as", "li.archive"))
    second = cli("loans", "approve", loan_id, "--as", "zhao.market")  # not Planning's head
    assert second.status == 1 and "planning" in second.stderr
    assert _ok(cli("staff", "add", "qian.plan", "--department", "planning", "--role",
                   "dept_head", "--as", "chen.cs", "--json"))["roles"] == ["dept_head"]
    _ok(cli("loans", "approve", loan_id, "--as", "qian.plan"))
    lent = _ok(cli("loans", "lend", loan_id, "--as", "li.archive"))
    assert lent["due_on"] == wd.add(today, 5).date.isoformat()
    _ok(cli("loans", "extend", loan_id, "--wd", "2", "--as", "sun.plan"))
    extended = _ok(cli("loans", "extension-approve", loan_id, "--as", "li.archive"))
    assert extended["due_on"] == wd.add(wd.add(today, 5).date, 2).date.isoformat()
    twice = cli("loans", "extend", loan_id, "--wd", "1", "--as", "sun.plan")
    assert twice.status == 1 and "extension" in twice.stderr
    _ok(cli("loans", "return", loan_id, "--condition", "good", "--as", "li.archive"))

    # Arts. 12, 13: the client renames itself: an important change, CS head approves
    change = _ok(cli("updates", "submit", number, "--set", "client_name_en=Blue Ocean Group BV",
                     "--reason", "rebranding", "--evidence", "KvK extract",
                     "--trigger", "basic_info", "--occurred-on", today.isoformat(),
                     "--as", "wang.market"))
    assert change["important"] and change["review_due"] == wd.add(today, 1).date.isoformat()
    _ok(cli("updates", "review", change["change_id"], "--approve", "--as", "zhao.market"))
    _ok(cli("updates", "approve-important", change["change_id"], "--as", "chen.cs"))
    _ok(cli("updates", "apply", change["change_id"], "--as", "li.archive"))

    # Art. 15: the cooperation ends, with no prospect: the six-month review will see it
    _ok(cli("dossiers", "stage", number, "terminated", "--terminated-on", today.isoformat(),
            "--further-cooperation", "no", "--as", "li.archive"))
    final = _ok(cli("dossiers", "show", number, "--as", "wang.market"))
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
    assert _ok(cli("ledger", "verify", "--no-anchor", "--as", "li.archive"))["first_broken"] is None
