"""Where each fact came from (Art. 9), the client's authorisation (Art. 19) and the
confidentiality agreement before any read (Art. 19), as a user of the CLI meets them."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from dossiers.core import db, directory
from dossiers.core.crypto import KeyRing
from dossiers.core.errors import PermissionDenied, Refused
from dossiers.workflows import authorisations, creation, lifecycle, staff, updates

from helpers import act, form_row, import_forms, rows, scalar, write_forms

pytestmark = pytest.mark.integration


def _codes(report: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(r["row"], r["field"], r["code"]) for r in report["rejected"]]


def test_a_form_without_its_channel_or_with_an_unknown_one_is_refused(cli, company,
                                                                      tmp_path: Path) -> None:
    missing = {k: v for k, v in form_row().items() if k != "collection_channel"}
    unknown = form_row(client_name_zh="南風電商", client_name_en="Southwind GmbH",
                       collection_channel="rumour")
    path = write_forms(tmp_path / "forms.json", [missing, unknown])
    result = cli("import", str(path), "--as", "wang.market")
    assert result.status == 1
    report = result.json()
    assert report["accepted"] == []
    assert _codes(report) == [(2, "collection_channel", "invalid_channel"),
                              (3, "collection_channel", "invalid_channel")]
    assert "rumour" in report["rejected"][1]["message"]
    assert scalar("SELECT count(*) FROM form") == 0


def test_compliant_research_needs_a_recorded_authorisation(cli, company,
                                                           tmp_path: Path) -> None:
    research = form_row(collection_channel="industry_report", authorisation_ref="AUTH-R1")
    report = import_forms(tmp_path, [research])
    assert _codes(report) == [(2, "authorisation_ref", "no_authorisation")]
    assert "not recorded" in report["rejected"][0]["message"]
    assert scalar("SELECT count(*) FROM form") == 0
    # Research names the law it relies on; then the same form is accepted.
    refused = cli("authorisations", "record", "AUTH-R1", "--scope", "research",
                  "--granted-on", "2026-10-01", "--expires-on", "2027-09-30", "--as", "wang.market")
    assert refused.status == 1 and "legal_basis" in refused.stderr
    recorded = cli("authorisations", "record", "AUTH-R1", "--scope", "research", "--scope", "direct",
                   "--granted-on", "2026-10-01", "--expires-on", "2027-09-30",
                   "--legal-basis", "GDPR Art. 6(1)(a)", "--as", "wang.market")
    assert recorded.status == 0, recorded.stderr
    assert recorded.json()["scope"] == ["direct", "research"]
    assert import_forms(tmp_path, [research])["accepted"]
    assert rows("SELECT actor, details->>'expires_on' FROM ledger_entry "
                "WHERE action = 'authorisation.record'") == [("wang.market", "2027-09-30")]


def test_an_expired_authorisation_or_one_outside_its_scope_refuses_a_new_collection(
        company, tmp_path: Path) -> None:
    act("wang.market", lambda conn, actor: authorisations.record(
        conn, actor, "AUTH-OLD", ["direct"], granted_on=date(2025, 1, 1),
        expires_on=date(2025, 12, 31)))
    act("wang.market", lambda conn, actor: authorisations.record(
        conn, actor, "AUTH-DIRECT", ["direct"], granted_on=date(2026, 1, 1),
        expires_on=date(2027, 12, 31)))
    expired = form_row(authorisation_ref="AUTH-OLD", collected_on="2026-11-02")
    outside = form_row(client_name_zh="南風電商", client_name_en="Southwind GmbH",
                       authorisation_ref="AUTH-DIRECT", collection_channel="website")
    report = import_forms(tmp_path, [expired, outside])
    assert _codes(report) == [(2, "authorisation_ref", "no_authorisation"),
                              (3, "authorisation_ref", "no_authorisation")]
    assert "expired on 2025-12-31" in report["rejected"][0]["message"]
    assert "outside the scope" in report["rejected"][1]["message"]
    assert scalar("SELECT count(*) FROM form") == 0
    # Within its scope and term, collection goes ahead.
    assert import_forms(tmp_path, [form_row(authorisation_ref="AUTH-DIRECT")])["accepted"]


def _dossier(tmp_path: Path, form: dict[str, str]) -> str:
    (accepted,) = import_forms(tmp_path, [form])["accepted"]
    form_id = uuid.UUID(accepted["form_id"])
    act("zhao.market", lambda conn, actor: creation.review_form(conn, actor, form_id,
                                                                approve=True))
    made = act("li.archive", lambda conn, actor: creation.create_dossier(
        conn, KeyRing(), actor, form_id))
    return str(made["dossier_no"])


def test_the_dossier_shows_where_each_dimension_came_from(company, tmp_path: Path) -> None:
    number = _dossier(tmp_path, form_row(collection_channel="video_meeting",
                                         marketing_goals="brand_promotion"))
    view = act("wang.market", lambda conn, actor: lifecycle.read(conn, KeyRing(), actor, number))
    assert set(view["sources"]) == {"basic", "contacts", "market", "needs", "other"}
    assert {s["channel"] for s in view["sources"].values()} == {"video_meeting"}
    assert view["sources"]["basic"]["authorisation_ref"] == "AUTH-77"


def test_no_read_without_a_confidentiality_agreement_and_the_refusal_is_logged(
        cli, company, tmp_path: Path) -> None:
    number = _dossier(tmp_path, form_row())
    with db.transaction() as conn:
        staff.add(conn, "chen.cs", "new.liaison", "market", ["liaison"])
    # The new liaison takes the client over, but has signed nothing yet (Art. 19).
    assert cli("staff", "leave", "wang.market", "--handover-to", "new.liaison",
               "--paper-volume", "vol 1", "--storage-device", "USB key 7",
               "--as", "chen.cs").status == 0
    with pytest.raises(PermissionDenied, match="no signed confidentiality agreement"):
        act("new.liaison", lambda conn, actor: lifecycle.read(conn, KeyRing(), actor, number))
    assert rows("SELECT actor, action, subject, allowed FROM access_log WHERE NOT allowed") == [
        ("new.liaison", "dossier.read", f"dossier {number}", False)]
    read = cli("dossiers", "show", number, "--as", "new.liaison")
    assert read.status == 1 and "confidentiality agreement" in read.stderr
    # A bad agreement is refused whole; a good one opens the read.
    bad = cli("staff", "agreement", "new.liaison", "--signed-on", "2026-11-01",
              "--ref", "call +86 138 0013 8000", "--as", "chen.cs")
    assert bad.status == 1 and "phone number" in bad.stderr and "138" not in bad.stderr
    done = cli("staff", "agreement", "new.liaison", "--signed-on", "2026-11-01",
               "--ref", "NDA-2026-17", "--as", "chen.cs")
    assert done.status == 0, done.stderr
    view = act("new.liaison", lambda conn, actor: lifecycle.read(conn, KeyRing(), actor, number))
    assert view["dossier_no"] == number
    assert rows("SELECT details->>'reference' FROM ledger_entry WHERE action = 'staff.agreement'"
                ) == [("NDA-2026-17",)]


def test_no_disclosure_package_without_a_confidentiality_agreement(company) -> None:
    """A package is made from the dossier and its documents: a read (Art. 19)."""
    from dossiers.core.permissions import READ_ACTIONS, Action, authorize

    assert {Action.DOSSIER_READ, Action.DISCLOSURE_PACKAGE} <= READ_ACTIONS
    with db.transaction() as conn:
        staff.add(conn, "chen.cs", "xu.archive", "customer_service", ["archivist"])
    for action in (Action.DISCLOSURE_PACKAGE, Action.DOSSIER_READ):
        with pytest.raises(PermissionDenied, match="no signed confidentiality agreement"):
            act("xu.archive", lambda conn, actor, a=action: authorize(
                conn, actor, a, subject="dossier 海外-2026-電商-001"))
    assert rows("SELECT actor, action FROM access_log WHERE NOT allowed ORDER BY id") == [
        ("xu.archive", "disclosure.package"), ("xu.archive", "dossier.read")]
    act("li.archive", lambda conn, actor: authorize(conn, actor, Action.DISCLOSURE_PACKAGE))


def test_a_leavers_handover_is_signed_off_by_customer_service(cli, company) -> None:
    left = cli("staff", "leave", "sun.plan", "--handover-to", "wang.market",
               "--paper-volume", "海外-2026-電商-001 vol 1", "--document", "proposal draft",
               "--storage-device", "USB key 3", "--as", "chen.cs")
    assert left.status == 0, left.stderr
    # Who recorded it does not sign it off too; a liaison may not at all.
    with pytest.raises(PermissionDenied, match="does not sign it off"):
        act("chen.cs", lambda conn, actor: staff.sign_off_handover(conn, actor, "sun.plan"))
    with pytest.raises(PermissionDenied):
        act("wang.market", lambda conn, actor: staff.sign_off_handover(conn, actor, "sun.plan"))
    with db.transaction() as conn:
        staff.add(conn, "chen.cs", "xu.cs", "customer_service", ["cs_head"])
    signed = cli("staff", "handover-sign-off", "sun.plan", "--as", "xu.cs")
    assert signed.status == 0, signed.stderr
    assert signed.json()["storage_devices"] == ["USB key 3"]
    with pytest.raises(Refused, match="already signed off"), db.transaction() as conn:
        staff.sign_off_handover(conn, directory.load_actor(conn, "xu.cs"), "sun.plan")
    assert [a for (a,) in rows("SELECT action FROM ledger_entry WHERE subject_id = 'sun.plan' "
                               "ORDER BY seq")] == ["staff.add", "staff.leave",
                                                    "staff.handover_sign_off"]


def test_an_update_form_carries_its_channel_within_the_authorisation(company,
                                                                     tmp_path: Path) -> None:
    number = _dossier(tmp_path, form_row())

    def submit(channel: str) -> Any:
        return act("wang.market", lambda conn, actor: updates.submit(
            conn, KeyRing(), actor, number, {"market_positioning": "premium"},
            reason="new positioning", evidence="call notes", collection_channel=channel))

    for channel, code in (("gossip", "invalid_channel"), ("data_platform", "no_authorisation")):
        with pytest.raises(Refused, match=code):
            submit(channel)
    assert scalar("SELECT count(*) FROM dossier_change") == 0
    change = uuid.UUID(submit("website")["change_id"])
    act("zhao.market", lambda conn, actor: updates.review(conn, actor, change, approve=True))
    act("li.archive", lambda conn, actor: updates.apply(conn, KeyRing(), actor, change))
    view = act("wang.market", lambda conn, actor: lifecycle.read(conn, KeyRing(), actor, number))
    assert view["sources"]["market"]["channel"] == "website"
    assert view["sources"]["basic"]["channel"] == "email"


def test_an_update_form_without_its_channel_is_refused(company, tmp_path: Path) -> None:
    number = _dossier(tmp_path, form_row())
    for channel, found in ((None, "is missing"), ("", "is missing"), ("rumour", "is unknown")):
        with pytest.raises(Refused, match=rf"collection_channel: invalid_channel: .*{found}"):
            act("wang.market", lambda conn, actor, c=channel: updates.submit(
                conn, KeyRing(), actor, number, {"honours": "award"}, reason="new award",
                evidence="certificate", collection_channel=c))
    assert scalar("SELECT count(*) FROM dossier_change") == 0


def test_an_expired_authorisation_is_renewed_by_an_update_form(company, tmp_path: Path) -> None:
    """Art. 19: once AUTH-77 has expired nothing more is collected under it; an update naming
    a renewed authorisation on record moves the dossier onto it, and collection resumes."""
    number = _dossier(tmp_path, form_row())
    act("wang.market", lambda conn, actor: authorisations.record(
        conn, actor, "AUTH-77", ["direct"], granted_on=date(2025, 1, 1),
        expires_on=date(2025, 12, 31)))

    def submit(changes: dict[str, str], channel: str = "email") -> Any:
        return act("wang.market", lambda conn, actor: updates.submit(
            conn, KeyRing(), actor, number, changes, reason="client renewed its consent",
            evidence="signed authorisation", collection_channel=channel))

    with pytest.raises(Refused, match=r"collection_channel: no_authorisation: .*expired on "
                                      r"2025-12-31"):
        submit({"honours": "award"})
    with pytest.raises(Refused, match=r"authorisation_ref: no_authorisation: .*AUTH-78.* is not "
                                      r"recorded"):
        submit({"authorisation_ref": "AUTH-78"})
    with pytest.raises(Refused, match=r"authorisation_ref: .*cannot be emptied"):
        submit({"authorisation_ref": ""})
    act("wang.market", lambda conn, actor: authorisations.record(
        conn, actor, "AUTH-78", ["direct"], granted_on=date(2026, 1, 5),
        expires_on=date(2028, 1, 4)))
    with pytest.raises(Refused, match=r"authorisation_ref: no_authorisation: .*outside the scope"):
        submit({"authorisation_ref": "AUTH-78"}, channel="website")
    assert scalar("SELECT count(*) FROM dossier_change") == 0

    change = uuid.UUID(submit({"authorisation_ref": "AUTH-78"})["change_id"])
    act("zhao.market", lambda conn, actor: updates.review(conn, actor, change, approve=True))
    act("li.archive", lambda conn, actor: updates.apply(conn, KeyRing(), actor, change))
    assert scalar("SELECT authorisation_ref FROM dossier WHERE dossier_no = :n", n=number) == \
        "AUTH-78"
    assert rows("SELECT before_value, after_value FROM dossier_change_item WHERE field = "
                "'authorisation_ref'") == [("AUTH-77", "AUTH-78")]
    # The renewal is no fact of a dimension: the sources stay as collected.
    assert scalar("SELECT count(*) FROM dossier_source WHERE change_id IS NOT NULL") == 0
    # Collection resumes under the new authorisation, and the dossier says so.
    later = uuid.UUID(submit({"honours": "award"}, channel="phone")["change_id"])
    act("zhao.market", lambda conn, actor: updates.review(conn, actor, later, approve=True))
    act("li.archive", lambda conn, actor: updates.apply(conn, KeyRing(), actor, later))
    view = act("wang.market", lambda conn, actor: lifecycle.read(conn, KeyRing(), actor, number))
    assert view["sources"]["other"] == {**view["sources"]["other"], "channel": "phone",
                                        "authorisation_ref": "AUTH-78"}
    assert view["sources"]["basic"]["authorisation_ref"] == "AUTH-77"


def test_staff_add_records_the_agreement_or_says_reads_will_be_refused(cli, company) -> None:
    signed = cli("staff", "add", "he.plan", "--department", "planning", "--role", "liaison",
                 "--agreement-signed-on", "2026-11-02", "--agreement-ref", "NDA-2026-40",
                 "--as", "chen.cs")
    assert signed.status == 0 and signed.stderr == ""
    unsigned = cli("staff", "add", "lu.plan", "--department", "planning", "--role", "liaison",
                   "--as", "chen.cs")
    assert unsigned.status == 0 and "no confidentiality agreement on record" in unsigned.stderr
    half = cli("staff", "add", "ma.plan", "--department", "planning", "--role", "liaison",
               "--agreement-signed-on", "2026-11-02", "--as", "chen.cs")
    assert half.status == 1 and "agreement-ref" in half.stderr
    assert rows("SELECT username, confidentiality_ref FROM staff WHERE department = 'planning' "
                "AND username <> 'sun.plan' ORDER BY username") == [("he.plan", "NDA-2026-40"),
                                                                    ("lu.plan", None)]
