"""A client's dossier through the CLI: intake, review, creation, filing, reading, stages.

Every step is a permission check and a ledger entry; every refusal changes nothing.
"""

from __future__ import annotations

import json

import pytest

from helpers import FORM, form_row, rows, write_forms

pytestmark = pytest.mark.integration


def test_full_path_through_the_cli(cli, company, tmp_path) -> None:
    path = write_forms(tmp_path / "forms.json", [FORM])
    assert cli("import", str(path), "--as", "wang.market").status == 0

    listed = cli("forms", "list", "--as", "zhao.market").json()
    assert [f["client_name_en"] for f in listed] == ["Northwind Retail GmbH"]
    assert cli("forms", "list", "--as", "sun.plan").json() == []  # another liaison's form
    form_id = listed[0]["form_id"]

    # Creation before review is refused, and so is a review by the submitting liaison.
    early = cli("dossiers", "create", form_id, "--as", "li.archive")
    assert early.status == 1 and "reviewed" in early.stderr
    own = cli("forms", "review", form_id, "--approve", "--as", "wang.market")
    assert own.status == 1 and "may not form.review" in own.stderr

    assert cli("forms", "review", form_id, "--approve", "--as", "zhao.market").status == 0
    made = cli("dossiers", "create", form_id, "--as", "li.archive").json()
    number = made["dossier_no"]
    assert number.endswith("-電商-001")
    filed = cli("dossiers", "file", number, "--cabinet", "電商", "--shelf", "2", "--as", "li.archive")
    assert filed.status == 0 and filed.json()["position"] == 1

    shown = cli("dossiers", "show", number, "--as", "wang.market").json()
    assert shown["contacts"][0]["email"] == "greta@northwind.example.de"
    assert shown["other"]["credit_rating"] == "AA" and shown["target_markets"] == ["DE", "AT"]
    outsider = cli("dossiers", "show", number, "--as", "sun.plan")
    assert outsider.status == 1 and "approved query grant" in outsider.stderr
    assert "greta" not in outsider.stdout + outsider.stderr

    # Stages (Art. 15): an illegal move and an incomplete termination change nothing.
    assert cli("dossiers", "stage", number, "potential", "--as", "li.archive").status == 1
    assert cli("dossiers", "stage", number, "active", "--as", "li.archive").status == 0
    incomplete = cli("dossiers", "stage", number, "terminated", "--terminated-on", "2026-11-20",
                     "--as", "li.archive")
    assert incomplete.status == 1 and "further cooperation" in incomplete.stderr
    assert cli("dossiers", "stage", number, "terminated", "--terminated-on", "2026-11-20",
               "--further-cooperation", "no", "--as", "li.archive").status == 0
    assert rows(f"SELECT stage, terminated_on::text, further_cooperation FROM dossier "
                f"WHERE dossier_no = '{number}'") == [("terminated", "2026-11-20", False)]

    actions = [a for (a,) in rows("SELECT action FROM ledger_entry WHERE action NOT LIKE "
                                  "'staff.%' ORDER BY seq")]
    assert actions == ["form.submit", "form.approve", "dossier.create", "dossier.file",
                       "dossier.stage", "dossier.stage"]
    reads = rows("SELECT actor, allowed FROM access_log WHERE action = 'dossier.read' ORDER BY id")
    assert reads == [("wang.market", True), ("sun.plan", False)]
    assert cli("ledger", "verify", "--no-anchor").status == 0


def test_rejected_form_goes_back_with_the_reason(cli, company, tmp_path) -> None:
    path = write_forms(tmp_path / "forms.json", [FORM])
    cli("import", str(path), "--as", "wang.market")
    form_id = cli("forms", "list", "--as", "wang.market").json()[0]["form_id"]
    assert cli("forms", "review", form_id, "--reject", "no registered address",
               "--as", "zhao.market").status == 0
    mine = cli("forms", "list", "--status", "rejected", "--as", "wang.market").json()
    assert mine[0]["rejection_reason"] == "no registered address"
    again = cli("forms", "review", form_id, "--approve", "--as", "zhao.market")
    assert again.status == 1 and "only a submitted form can be reviewed" in again.stderr


def test_nobody_reviews_their_own_form(cli, company, tmp_path) -> None:
    """Separation of duties: a department head who is the form's liaison cannot approve it."""
    path = write_forms(tmp_path / "forms.json", [form_row(liaison="zhao.market")])
    assert cli("import", str(path), "--as", "zhao.market").status == 0
    form_id = cli("forms", "list", "--as", "zhao.market").json()[0]["form_id"]
    refused = cli("forms", "review", form_id, "--approve", "--as", "zhao.market")
    assert refused.status == 1 and "nobody reviews their own form" in refused.stderr
    assert rows("SELECT status FROM form") == [("submitted",)]
    # The CS head, who reviews for Customer Service, may.
    assert cli("forms", "review", form_id, "--approve", "--as", "chen.cs").status == 0


def test_query_by_another_department_through_a_grant(cli, company, tmp_path) -> None:
    """Art. 16: purpose, scope and expiry; approved by the archivist, not by the asker;
    only the granted dimensions are shown, personal data masked unless granted."""
    path = write_forms(tmp_path / "forms.json", [FORM])
    cli("import", str(path), "--as", "wang.market")
    form_id = cli("forms", "list", "--as", "wang.market").json()[0]["form_id"]
    cli("forms", "review", form_id, "--approve", "--as", "zhao.market")
    number = cli("dossiers", "create", form_id, "--as", "li.archive").json()["dossier_no"]

    assert cli("dossiers", "show", number, "--as", "sun.plan").status == 1
    asked = cli("queries", "request", number, "--purpose", "campaign proposal",
                "--scope", "contacts", "--scope", "needs", "--until", "2099-01-01",
                "--as", "sun.plan")
    assert asked.status == 0, asked.stderr
    grant = asked.json()["grant_id"]
    still = cli("dossiers", "show", number, "--as", "sun.plan")  # requested, not approved
    assert still.status == 1
    assert cli("queries", "approve", grant, "--as", "zhao.market").status == 1  # not archivist
    assert cli("queries", "approve", grant, "--as", "li.archive").status == 0

    shown = cli("dossiers", "show", number, "--as", "sun.plan").json()
    assert shown["scope"] == ["contacts", "needs"]
    assert "other" not in shown and "basic" not in shown  # outside the grant
    assert shown["contacts"][0]["email"] == "g***@northwind.example.de"  # masked
    assert "Greta" not in json.dumps(shown)
    reads = rows("SELECT actor, allowed FROM access_log WHERE action = 'dossier.read' ORDER BY id")
    assert reads == [("sun.plan", False), ("sun.plan", False), ("sun.plan", True)]
    actions = [a for (a,) in rows("SELECT action FROM ledger_entry WHERE action LIKE 'query.%'")]
    assert actions == ["query.request", "query.approve"]
