"""Updates (Arts. 12, 13), filing delays (Art. 15) and the creation clocks of Art. 8.

A dossier is taken through the real intake and creation path; every refusal is checked to
change nothing (no ledger entry, no changed value).
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from dossiers.calendar.workdays import default_calendar
from dossiers.core.crypto import KeyRing
from dossiers.core.errors import PermissionDenied, Refused
from dossiers.workflows import access, creation, filing_delays, lifecycle, updates

from helpers import act as _act
from helpers import rows as _rows
from helpers import write_forms

pytestmark = pytest.mark.integration

ACTIVE = {
    "client_name_zh": "南岸貿易", "client_name_en": "Southbank Trading Ltd", "client_type": "MFG",
    "stage": "active", "target_markets": "GB", "liaison": "wang.market", "department": "market",
    "authorisation_ref": "AUTH-9", "collection_channel": "email",
    "collected_on": "2026-11-02", "registered_address": "1 Quay, London",
    "contract_no": "C-2026-0042", "contract_signed_on": "2026-10-28", "service_scope": "SEO",
    "fee_range": "50k-80k USD", "contact_name": "Ada Stone", "contact_email": "ada@southbank.example.co.uk",
    "credit_rating": "A",
}


def _ledger_count() -> int:
    return _rows("SELECT count(*) FROM ledger_entry")[0][0]


def _filed_dossier(cli, tmp_path, form: dict = ACTIVE) -> str:
    path = write_forms(tmp_path / "form.json", [form])
    report = cli("import", str(path), "--as", "wang.market")
    assert report.status == 0, report.stdout + report.stderr
    form_id = uuid.UUID(report.json()["accepted"][0]["form_id"])
    _act("zhao.market", lambda c, a: creation.review_form(c, a, form_id, approve=True))
    made = _act("li.archive", lambda c, a: creation.create_dossier(c, KeyRing(), a, form_id))
    return made["dossier_no"]


def _file(number: str) -> None:
    _act("li.archive", lambda c, a: creation.file_dossier(
        c, a, access.find(c, number).id, cabinet="外貿", shelf=1))


def test_important_update_through_the_cli_keeps_before_and_after(cli, company, tmp_path) -> None:
    number = _filed_dossier(cli, tmp_path)
    _file(number)
    submitted = cli("updates", "submit", number, "--set", "client_name_en=Southbank Trading Group",
                    "--set", "contact_email=ada.stone@southbank.example.co.uk",
                    "--reason", "renamed after merger", "--evidence", "registry extract 2026-11-20",
                    "--trigger", "basic_info", "--occurred-on", "2026-11-20",
                    "--channel", "qualification_document", "--as", "wang.market")
    assert submitted.status == 0, submitted.stderr
    change = submitted.json()
    assert change["important"] is True and change["fields"] == ["client_name_en", "contact_email"]
    change_id = change["change_id"]

    # Nothing changes before the whole flow has run; the steps out of order are refused.
    early = cli("updates", "apply", change_id, "--as", "li.archive")
    assert early.status == 1 and "only a reviewed update form" in early.stderr
    assert cli("updates", "review", change_id, "--approve", "--as", "zhao.market").status == 0
    unapproved = cli("updates", "apply", change_id, "--as", "li.archive")
    assert unapproved.status == 1 and "not yet approved by the CS head" in unapproved.stderr
    by_head = cli("updates", "approve-important", change_id, "--as", "zhao.market")
    assert by_head.status == 1 and "may not important_change.approve" in by_head.stderr
    assert cli("updates", "approve-important", change_id, "--as", "chen.cs").status == 0
    applied = cli("updates", "apply", change_id, "--as", "li.archive")
    assert applied.status == 0, applied.stderr

    shown = cli("dossiers", "show", number, "--as", "wang.market").json()
    assert shown["client_name_en"] == "Southbank Trading Group"
    assert shown["contacts"][0]["email"] == "ada.stone@southbank.example.co.uk"
    listed = cli("updates", "list", "--status", "applied", "--as", "li.archive").json()
    values = {c["field"]: (c["before"], c["after"]) for c in listed[0]["changes"]}
    assert values["client_name_en"] == ("Southbank Trading Ltd", "Southbank Trading Group")
    assert values["contact_email"] == ("a***@southbank.example.co.uk",
                                       "a***@southbank.example.co.uk")  # personal: masked
    # personal values are stored only as ciphertext; the clear ones name the company
    stored = _rows("SELECT field, before_value, after_value, before_enc IS NOT NULL "
                   "FROM dossier_change_item ORDER BY field")
    assert stored == [("client_name_en", "Southbank Trading Ltd", "Southbank Trading Group", False),
                      ("contact_email", None, None, True)]
    # the duplicate check's key follows the new name
    assert _rows("SELECT name_en_key FROM dossier")[0][0] == "southbanktradinggroup"
    actions = [a for (a,) in _rows("SELECT action FROM ledger_entry WHERE subject_type = "
                                   "'dossier_change' ORDER BY seq")]
    assert actions == ["update.submit", "update.approve", "important_change.approve",
                       "update.apply"]
    assert cli("ledger", "verify", "--no-anchor").status == 0
    # Art. 12: the submission was due 2 wd after the event (Fri 2026-11-20 -> Tue 11-24)
    assert _rows("SELECT due_on::text, met_at IS NOT NULL FROM clock "
                 "WHERE kind = 'immediate_update'") == [("2026-11-24", True)]


def test_routine_update_needs_no_cs_head_and_applies_to_every_place(cli, company, tmp_path) -> None:
    number = _filed_dossier(cli, tmp_path)
    changes = {"target_markets": "gb;ie", "registered_capital": "250000 GBP",
               "marketing_goals": "sales_growth", "credit_rating": "A+",
               "contact_phone": "+44 20 7946 0958", "dependence": "high"}
    keys = KeyRing()
    sub = _act("wang.market", lambda c, a: updates.submit(
        c, keys, a, number, changes, reason="annual refresh", evidence="call 2026-11-25",
        collection_channel="phone"))
    change_id = uuid.UUID(sub["change_id"])
    assert sub["important"] is False
    _act("zhao.market", lambda c, a: updates.review(c, a, change_id, approve=True))
    with pytest.raises(Refused, match="not an important change"):
        _act("chen.cs", lambda c, a: updates.approve_important(c, a, change_id, approve=True))
    _act("li.archive", lambda c, a: updates.apply(c, keys, a, change_id))
    shown = _act("li.archive", lambda c, a: lifecycle.read(c, keys, a, number))
    assert shown["target_markets"] == ["GB", "IE"]
    assert shown["basic"]["registered_capital_amount"] == 250000
    assert shown["basic"]["registered_capital_currency"] == "GBP"
    assert shown["needs"]["marketing_goals"] == ["sales_growth"]
    assert shown["other"] == {**shown["other"], "credit_rating": "A+", "dependence": "high"}
    assert shown["contacts"][0]["phone"] == "+442079460958"
    # the contract's fee range still opens after an unrelated change
    assert shown["cooperation"][0]["fee_range"] == "50k-80k USD"


def test_contract_number_change_keeps_the_fee_range_readable(cli, company, tmp_path) -> None:
    number = _filed_dossier(cli, tmp_path)
    keys = KeyRing()
    sub = _act("wang.market", lambda c, a: updates.submit(
        c, keys, a, number, {"contract_no": "C-2026-0042-A1", "period_end": "2027-12-31"},
        reason="amendment", evidence="amendment A1", collection_channel="contract"))
    change_id = uuid.UUID(sub["change_id"])
    _act("zhao.market", lambda c, a: updates.review(c, a, change_id, approve=True))
    _act("chen.cs", lambda c, a: updates.approve_important(c, a, change_id, approve=True))
    _act("li.archive", lambda c, a: updates.apply(c, keys, a, change_id))
    contract = _act("li.archive", lambda c, a: lifecycle.read(c, keys, a, number))["cooperation"][0]
    assert contract["contract_no"] == "C-2026-0042-A1"
    assert contract["period_end"] == date(2027, 12, 31)
    assert contract["fee_range"] == "50k-80k USD"


@pytest.mark.parametrize(("who", "changes", "extra", "message"), [
    ("sun.plan", {"honours": "x"}, {}, "only the client's own liaison"),
    ("wang.market", {"client_type": "ECOM"}, {}, "client_type cannot be changed"),
    ("wang.market", {"contact_email": "not-an-address"}, {}, "not a valid e-mail"),
    ("wang.market", {"client_name_en": ""}, {}, "cannot be emptied"),
    ("wang.market", {"founded_on": "2099-01-01"}, {}, "in the future"),
    ("wang.market", {"honours": "x"}, {"evidence": " "}, "evidence"),
    ("wang.market", {"honours": "x"}, {"trigger": "feedback"}, "occurred_on"),
    ("wang.market", {"honours": "x"}, {"trigger": "gossip", "occurred_on": date(2026, 11, 2)},
     "unknown trigger"),
    ("qa.he", {"honours": "x"}, {}, "may not update.submit"),
])
def test_bad_update_forms_are_refused_and_write_nothing(cli, company, tmp_path, who, changes,
                                                        extra, message) -> None:
    number = _filed_dossier(cli, tmp_path)
    before = _ledger_count()
    args = {"reason": "r", "evidence": "e", "collection_channel": "email", **extra}
    with pytest.raises(Refused, match=message):
        _act(who, lambda c, a: updates.submit(c, KeyRing(), a, number, changes, **args))
    assert _ledger_count() == before
    assert _rows("SELECT count(*) FROM dossier_change")[0][0] == 0


def test_review_and_approval_separation_of_duties(cli, company, tmp_path) -> None:
    number = _filed_dossier(cli, tmp_path)
    keys = KeyRing()
    # the department head submits for their department: they cannot review it themselves
    sub = _act("zhao.market", lambda c, a: updates.submit(
        c, keys, a, number, {"client_name_zh": "南岸集團"}, reason="r", evidence="e",
        collection_channel="email"))
    change_id = uuid.UUID(sub["change_id"])
    with pytest.raises(PermissionDenied, match="own update form"):
        _act("zhao.market", lambda c, a: updates.review(c, a, change_id, approve=True))
    with pytest.raises(Refused, match="needs a reason"):
        _act("chen.cs", lambda c, a: updates.review(c, a, change_id, approve=False))
    # the CS head may review (head of CS), but then may not also approve the same change
    _act("chen.cs", lambda c, a: updates.review(c, a, change_id, approve=True))
    with pytest.raises(PermissionDenied, match="asked for or reviewed"):
        _act("chen.cs", lambda c, a: updates.approve_important(c, a, change_id, approve=True))
    refusals = _rows("SELECT actor, action FROM access_log WHERE NOT allowed ORDER BY id")
    assert refusals == [("zhao.market", "update.review"), ("chen.cs", "important_change.approve")]


def test_rejected_update_goes_back_with_its_reason(cli, company, tmp_path) -> None:
    number = _filed_dossier(cli, tmp_path)
    keys = KeyRing()
    sub = _act("wang.market", lambda c, a: updates.submit(
        c, keys, a, number, {"honours": "Best agency 2026"}, reason="r", evidence="e",
        collection_channel="email"))
    change_id = uuid.UUID(sub["change_id"])
    _act("zhao.market", lambda c, a: updates.review(c, a, change_id, approve=False,
                                                    reason="no evidence attached"))
    mine = _act("wang.market", lambda c, a: updates.list_changes(c, keys, a, "rejected").items)
    assert mine[0]["rejection_reason"] == "no evidence attached"
    with pytest.raises(Refused, match="only a reviewed update form"):
        _act("li.archive", lambda c, a: updates.apply(c, keys, a, change_id))


def test_filing_delay_needs_the_cs_head_and_never_exceeds_five_working_days(
        cli, company, tmp_path) -> None:
    number = _filed_dossier(cli, tmp_path)
    (started, due), = _rows("SELECT started_on, due_on FROM clock WHERE kind = 'filing'")
    latest = default_calendar().add(started, 5).date
    too_late = default_calendar().add(started, 6).date
    with pytest.raises(Refused, match="never takes more than 5 wd"):
        _act("li.archive", lambda c, a: filing_delays.request(
            c, a, number, until=too_late, reason="binding machine broken", today=started))
    with pytest.raises(Refused, match="reason"):
        _act("li.archive", lambda c, a: filing_delays.request(
            c, a, number, until=latest, reason=" ", today=started))
    with pytest.raises(PermissionDenied):
        _act("wang.market", lambda c, a: filing_delays.request(
            c, a, number, until=latest, reason="x", today=started))
    with pytest.raises(Refused, match="before the deadline passes"):
        _act("li.archive", lambda c, a: filing_delays.request(
            c, a, number, until=latest, reason="x", today=default_calendar().add(due, 1).date))
    asked = _act("li.archive", lambda c, a: filing_delays.request(
        c, a, number, until=latest, reason="binding machine broken", today=started))
    with pytest.raises(Refused, match="already requested"):
        _act("li.archive", lambda c, a: filing_delays.request(
            c, a, number, until=latest, reason="again", today=started))
    with pytest.raises(PermissionDenied):
        _act("li.archive", lambda c, a: filing_delays.decide(c, a, asked["delay_id"], approve=True))
    _act("chen.cs", lambda c, a: filing_delays.decide(c, a, asked["delay_id"], approve=True))
    assert _rows("SELECT due_on FROM clock WHERE kind = 'filing'") == [(latest,)]
    assert _rows("SELECT original_due_on FROM filing_delay") == [(due,)]


def test_creation_clocks_of_new_and_legacy_clients(cli, company, tmp_path) -> None:
    """Art. 8: a new client's information is due 3 wd after the contract and its dossier is
    created and filed within 5 wd; a legacy client is back-filled within a month."""
    new = _filed_dossier(cli, tmp_path)
    legacy_form = {**ACTIVE, "client_name_zh": "舊客戶", "client_name_en": "Oldhand Ltd",
                   "contract_no": "C-2025-0001", "contract_signed_on": "2025-06-01"}
    legacy = _filed_dossier(cli, tmp_path, legacy_form)
    clocks = {(number, kind): (str(due), met)
              for number, kind, due, met in _rows(
                  "SELECT d.dossier_no, c.kind, c.due_on, c.met_at IS NOT NULL FROM clock c "
                  "JOIN dossier d ON d.id::text = c.subject_id "
                  "WHERE c.kind IN ('new_client_collection', 'new_client_creation', "
                  "'legacy_backfill')")}
    # contract Wed 2026-10-28 + 3 wd = Mon 11-02; submitted today, so met (late, as it is)
    assert clocks[(new, "new_client_collection")] == ("2026-11-02", True)
    assert clocks[(new, "new_client_creation")][1] is False
    assert clocks[(legacy, "legacy_backfill")] == ("2026-02-01", False)
    for number in (new, legacy):
        _file(number)
    assert all(met for (met,) in _rows(
        "SELECT met_at IS NOT NULL FROM clock WHERE kind IN ('new_client_creation', "
        "'legacy_backfill')"))
