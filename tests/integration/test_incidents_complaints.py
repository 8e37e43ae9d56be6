"""Incidents (Art. 20) and complaints (Art. 21) as people meet them, and what they feed:
the KPI scorecard's confidentiality compliance and client information security (Art. 22)
and the quarterly compliance check's rectification items (Art. 20)."""

from __future__ import annotations

import uuid
from datetime import date
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from sqlalchemy import text

from dossiers.core import clock, db
from dossiers.core.crypto import KeyRing
from dossiers.core.errors import PermissionDenied, Refused
from dossiers.duties import compliance_check, kpi
from dossiers.workflows import complaints, creation, incidents, updates

from helpers import act, form_row, rows, scalar, submitted

pytestmark = pytest.mark.integration


@pytest.fixture
def dossier_no(company, tmp_path: Path) -> str:
    form_id = submitted(tmp_path, form_row())
    assert form_id is not None
    act("zhao.market", lambda c, a: creation.review_form(c, a, form_id, approve=True))
    return str(act("li.archive", lambda c, a: creation.create_dossier(
        c, KeyRing(), a, form_id))["dossier_no"])


def test_an_incident_is_mailed_to_management_at_once_handled_and_closed(
        cli, dossier_no: str, inbox) -> None:
    # No personal data in what the ledger keeps: refused whole, the number not echoed.
    leaky = cli("incidents", "open", "--kind", "leak", "--summary",
                "sent to greta@northwind.example.de by mistake", "--dossier", dossier_no,
                "--as", "wang.market")
    assert leaky.status == 1 and "e-mail address" in leaky.stderr
    assert "greta@" not in leaky.stderr and scalar("SELECT count(*) FROM incident") == 0
    assert inbox.messages == []

    opened = cli("incidents", "open", "--kind", "leak", "--summary",
                 "proposal sent to the wrong client", "--dossier", dossier_no,
                 "--owner", "chen.cs", "--as", "wang.market")
    assert opened.status == 0, opened.stderr
    incident_id = opened.json()["incident_id"]
    (mail,) = inbox.to("management@staff.example.com")
    subject = str(make_header(decode_header(mail["Subject"])))
    assert incident_id in subject and dossier_no in subject
    assert inbox.to("mgmt.wu@staff.example.com")  # every member of management too
    body = "".join(p.get_payload(decode=True).decode() for p in mail.walk()
                   if p.get_content_maintype() == "text")
    assert "Art. 20" in body and "proposal sent to the wrong client" in body

    # A liaison reports, but does not run the handling or close it (matrix, logged).
    step = ["incidents", "update", incident_id, "--step", "recall the mail and ask for "
            "deletion", "--owner", "chen.cs", "--due-on", clock.today().isoformat()]
    assert cli(*step, "--as", "wang.market").status == 1
    assert cli(*step, "--as", "chen.cs").status == 0
    assert cli("incidents", "close", incident_id, "--closure", "deleted, confirmed in writing",
               "--as", "chen.cs").status == 1
    closed = cli("incidents", "close", incident_id, "--closure", "deleted, confirmed in writing",
                 "--as", "mgmt.wu")
    assert closed.status == 0 and closed.json()["status"] == "closed"
    assert [a for (a,) in rows("SELECT action FROM ledger_entry WHERE subject_type = 'incident' "
                               "ORDER BY seq")] == ["incident.open", "incident.update",
                                                    "incident.close"]
    assert rows("SELECT actor, action FROM access_log WHERE NOT allowed ORDER BY id") == [
        ("wang.market", "incident.handle"), ("chen.cs", "incident.close")]
    listed = cli("incidents", "list", "--as", "qa.he").json()
    assert [(i["incident_id"], i["status"]) for i in listed] == [(incident_id, "closed")]


def test_a_complaint_is_investigated_to_rectification_and_closed(dossier_no: str) -> None:
    received = act("wang.market", lambda c, a: complaints.receive(
        c, a, "client", "the update of our address took three weeks", dossier_no=dossier_no))
    complaint_id = uuid.UUID(received["complaint_id"])
    # Only QA investigates (Art. 21); an upheld complaint names its rectification's owner.
    with pytest.raises(PermissionDenied):
        act("chen.cs", lambda c, a: complaints.investigate(c, a, complaint_id,
                                                           findings="x", upheld=False))
    with pytest.raises(Refused, match="has an owner"):
        act("qa.he", lambda c, a: complaints.investigate(
            c, a, complaint_id, findings="update applied late", upheld=True,
            rectification="apply updates within 1 wd"))
    with pytest.raises(Refused, match="phone number"):
        act("qa.he", lambda c, a: complaints.investigate(
            c, a, complaint_id, findings="client called from +49 30 1234567", upheld=False))
    investigated = act("qa.he", lambda c, a: complaints.investigate(
        c, a, complaint_id, findings="the update waited 12 wd for its review", upheld=True,
        rectification="review updates within 1 wd; backlog cleared",
        rectification_owner="zhao.market", accountable="zhao.market",
        accountability="reviews left waiting"))
    assert investigated["status"] == "rectifying" and investigated["rectification_due"]
    assert rows("SELECT kind, o.username FROM clock JOIN staff o ON o.id = clock.owner_id "
                "WHERE subject_type = 'complaint'") == [("complaint_rectification",
                                                         "zhao.market")]
    done = act("qa.he", lambda c, a: complaints.close(c, a, complaint_id,
                                                      note="backlog checked empty"))
    assert done["status"] == "closed"
    assert scalar("SELECT met_at IS NOT NULL FROM clock WHERE subject_type = 'complaint'")
    assert [a for (a,) in rows("SELECT action FROM ledger_entry WHERE subject_type = 'complaint' "
                               "ORDER BY seq")] == ["complaint.receive", "complaint.investigate",
                                                    "complaint.close"]


def test_the_kpi_indicators_count_incidents_and_complaints(dossier_no: str) -> None:
    act("wang.market", lambda c, a: incidents.open_incident(
        c, a, "wrong_disclosure", "market notes shared with another client",
        dossier_no=dossier_no))
    act("sun.plan", lambda c, a: incidents.open_incident(c, a, "lost_volume",
                                                         "volume missing from shelf 2"))
    received = act("wang.market", lambda c, a: complaints.receive(
        c, a, "client", "contact details asked for twice", dossier_no=dossier_no))
    act("qa.he", lambda c, a: complaints.investigate(
        c, a, uuid.UUID(received["complaint_id"]), findings="duplicate request confirmed",
        upheld=True, rectification="one request per collection", rectification_owner="wang.market"))
    today = clock.today()
    with db.transaction() as conn:
        card = kpi.scorecard(conn, "month", today.replace(day=1))
    assert card["confidentiality_compliance"]["breaches"] == 1
    assert card["confidentiality_compliance"]["complaints_upheld"] == 1
    assert card["confidentiality_compliance"]["compliant"] is False
    security = card["client_information_security"]
    assert (security["incidents_opened"], security["incidents_open_at_end"],
            security["complaints_received"]) == (2, 2, 1)


def test_the_compliance_check_makes_rectification_items_with_owners(dossier_no: str) -> None:
    """The client's AUTH-77 is not on record, Sun has no agreement on record once it is
    removed, and there is no backup: each an item with an owner and a deadline."""
    with db.transaction() as conn:
        conn.exec_driver_sql("UPDATE staff SET confidentiality_signed_on = NULL, "
                             "confidentiality_ref = NULL WHERE username = 'sun.plan'")
        # a cross-border package made with no approval on record (as a rogue script would)
        conn.execute(text(
            "INSERT INTO disclosure_request (id, dossier_id, dossier_no, recipient, "
            "recipient_country, legal_basis, purpose, scope, expires_on, confidentiality_ref, "
            "status, requested_by, requested_at, secret_enc, package_sha256, packaged_at) "
            "SELECT gen_random_uuid(), d.id, d.dossier_no, 'Agency', 'US', 'other', 'pitch', "
            "'{market}', '2027-01-01', 'NDA-X', 'packaged', d.liaison_id, now(), '\\x00', "
            "repeat('0', 64), now() FROM dossier d"))
        summary = compliance_check.compliance_check(conn, date(2026, 7, 1), clock.today())
    assert summary["by_check"]["authorisation.missing"] == 1
    assert summary["by_check"]["agreement.missing"] == 1
    assert "backups.full_stale" in summary["by_check"]
    assert summary["by_check"]["disclosure.unapproved"] == 1
    items = {(i["check"], i["subject"]): i for i in summary["rectification_items"]}
    assert items[("authorisation.missing", dossier_no)]["owner"] == "wang.market"
    assert items[("agreement.missing", "staff sun.plan")]["owner"] == "chen.cs"
    assert all(i["due"] for i in items.values())
    # The next quarter re-checks: what was fixed is resolved, the rest persists.
    with db.transaction() as conn:
        conn.exec_driver_sql("UPDATE staff SET confidentiality_signed_on = '2026-01-05', "
                             "confidentiality_ref = 'NDA-9' WHERE username = 'sun.plan'")
        again = compliance_check.compliance_check(conn, date(2026, 10, 1), clock.today())
    assert again["recheck"]["resolved"] >= 1 and again["recheck"]["persisting"] >= 1
    assert rows("SELECT status FROM finding WHERE subject = 'staff sun.plan'") == [("resolved",)]


def test_reasons_that_hold_an_e_mail_or_a_phone_number_are_refused(company, tmp_path: Path,
                                                                    dossier_no: str) -> None:
    """The ledger keeps reasons for good: no personal data in them (Art. 19)."""
    with pytest.raises(Refused, match="phone number") as refused:
        act("wang.market", lambda c, a: updates.submit(
            c, KeyRing(), a, dossier_no, {"honours": "Award"}, reason="new award",
            evidence="confirmed by phone on +49 30 7654321"))
    assert "7654321" not in str(refused.value)
    other = submitted(tmp_path, form_row(client_name_zh="南風電商",
                                         client_name_en="Southwind GmbH"))
    assert other is not None
    with pytest.raises(Refused, match="e-mail address"):
        act("zhao.market", lambda c, a: creation.review_form(
            c, a, other, approve=False, reason="ask jan@southwind.example.de for the licence"))
    assert scalar("SELECT count(*) FROM dossier_change") == 0
    assert scalar("SELECT status FROM form WHERE id = :f", f=other) == "submitted"


def test_purposes_and_reasons_the_ledger_keeps_hold_no_e_mail_or_phone_number(
        dossier_no: str) -> None:
    """Art. 19, every free text the ledger keeps: a query's or a loan's purpose, a filing
    delay's reason, a legal hold's reference, a disclosure's recipient and purpose. Each is
    refused whole (the value not echoed) and nothing is written."""
    from dossiers.destruction import holds
    from dossiers.disclosure import requests as disclosure
    from dossiers.workflows import filing_delays, loans, queries

    due = scalar("SELECT due_on FROM clock WHERE kind = 'filing' AND met_at IS NULL")
    refused = {
        ("sun.plan", "purpose"): lambda c, a: queries.request(
            c, a, dossier_no, purpose="call Greta on +49 30 7654321 first", scope=["market"],
            expires_on=date(2099, 1, 1)),
        ("wang.market", "purpose"): lambda c, a: loans.request(
            c, a, [dossier_no], purpose="bring to greta@northwind.example.de", period_wd=3),
        ("li.archive", "reason"): lambda c, a: filing_delays.request(
            c, a, dossier_no, until=due, reason="waiting for +86 138 0013 8000 to sign"),
        ("chen.cs", "reference"): lambda c, a: holds.place(
            c, a, dossier_no, kind="litigation", reference="claim by jan@southwind.example.de"),
        ("li.archive", "recipient"): lambda c, a: disclosure.request(
            c, KeyRing(), a, dossier_no, recipient="greta@northwind.example.de",
            recipient_country="DE", legal_basis="other", purpose="audit", scope=["market"],
            expires_on=date(2099, 1, 1), confidentiality_ref="NDA-1"),
        ("chen.cs", "purpose"): lambda c, a: disclosure.request(
            c, KeyRing(), a, dossier_no, recipient="Audit GmbH", recipient_country="DE",
            legal_basis="other", purpose="ring +49 30 7654321 for the audit", scope=["market"],
            expires_on=date(2099, 1, 1), confidentiality_ref="NDA-1"),
    }
    before = scalar("SELECT count(*) FROM ledger_entry")
    for (who, field), work in refused.items():
        with pytest.raises(Refused, match=f"{field}: looks like it holds an? (e-mail address|"
                                          "phone number)") as caught:
            act(who, work)
        assert not any(s in str(caught.value) for s in ("7654321", "greta@", "jan@", "138"))
    assert scalar("SELECT count(*) FROM ledger_entry") == before
    assert [scalar(f"SELECT count(*) FROM {table}") for table in (
        "query_grant", "loan", "filing_delay", "legal_hold", "disclosure_request")] == [0] * 5
