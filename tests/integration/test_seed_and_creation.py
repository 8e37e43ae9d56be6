"""The synthetic company, and the creation flow it runs through (Arts. 8, 11, 15)."""

from __future__ import annotations

import uuid

import pytest

from dossiers.core import db, directory, ledger, numbering
from dossiers.core.crypto import KeyRing
from dossiers.core.errors import PermissionDenied, Refused
from dossiers.workflows import creation

from helpers import rows as _rows
from helpers import write_forms

pytestmark = pytest.mark.integration


def test_seeded_company_is_realistic(cli, database_url) -> None:
    result = cli("seed", "--clients", "80", "--seed", "7")
    assert result.status == 0, result.stderr
    summary = result.json()
    assert summary["intake_refused"] == {}
    departments = {d for (d,) in _rows("SELECT DISTINCT department FROM staff")}
    assert departments == {"market", "planning", "execution", "customer_service", "quality",
                           "management"}
    roles = {r for (r,) in _rows("SELECT DISTINCT role FROM staff_role")}
    assert roles == {"liaison", "dept_head", "archivist", "cs_head", "qa_supervisor", "management"}
    assert {t for (t,) in _rows("SELECT DISTINCT client_type FROM dossier")} == {
        "電商", "外貿", "本土", "協會"}
    assert len(_rows("SELECT DISTINCT country FROM dossier_market")) >= 10
    assert {s for (s,) in _rows("SELECT DISTINCT stage FROM dossier")} == {
        "potential", "active", "terminated"}
    # a year of history, and realistic defects
    (span,) = _rows("SELECT max(occurred_at) - min(occurred_at) FROM communication")[0:1][0]
    assert span.days > 180
    assert _rows("SELECT count(*) FROM form WHERE status = 'submitted'")[0][0] > 0  # open items
    assert _rows("SELECT count(*) FROM dossier WHERE filed_at IS NULL")[0][0] > 0
    assert _rows("SELECT count(*) FROM clock WHERE met_at > (due_on + 1)::timestamptz")[0][0] > 0
    assert _rows("SELECT count(*) FROM feedback WHERE kind = 'complaint' AND closed_on IS NULL")[0][0] > 0
    # the vault is checked, and licences are kept desensitised (Arts. 10, 14)
    assert _rows("SELECT count(*) FROM paper_condition_check")[0][0] > 0
    assert _rows("SELECT count(*) FROM paper_condition_check "
                 "WHERE condition = 'damaged' AND action <> 'repair'")[0][0] == 0
    masked = _rows("SELECT number_masked FROM qualification_document")
    assert masked and all(m.startswith("******") for (m,) in masked)
    # every number well-formed, and the ledger intact
    for (number,) in _rows("SELECT dossier_no FROM dossier"):
        assert numbering.NUMBER_PATTERN.match(number)
    verify = cli("ledger", "verify", "--no-anchor")
    assert verify.status == 0 and verify.json()["entries_checked"] == summary["totals"]["ledger_entry"]


def _submit(cli, tmp_path, name: str = "Acme") -> uuid.UUID:
    path = tmp_path / f"{name}.json"
    record = {"client_name_zh": f"{name}中文", "client_name_en": name, "client_type": "MFG",
              "stage": "active", "target_markets": "DE", "liaison": "wang.market",
              "department": "market", "authorisation_ref": "A-1", "collection_channel": "email",
              "collected_on": "2026-11-02",
              "registered_address": "Berlin", "contract_no": f"C-{name}",
              "contract_signed_on": "2026-10-30", "contact_name": "Q",
              "contact_phone": "+49 30 1234567", "fee_range": "10k USD"}
    write_forms(path, [record])
    report = cli("import", str(path), "--as", "wang.market").json()
    return uuid.UUID(report["accepted"][0]["form_id"])


def test_form_to_filed_dossier_and_the_refusals_on_the_way(cli, company, tmp_path) -> None:
    form_id = _submit(cli, tmp_path)
    keyring = KeyRing()
    with db.transaction() as conn:
        actors = {u: directory.load_actor(conn, u) for u in company}
    # The archivist cannot create from an unreviewed form; nothing changes.
    with pytest.raises(Refused, match="only from a form its department head has reviewed"), \
            db.transaction() as conn:
        creation.create_dossier(conn, keyring, actors["li.archive"], form_id)
    # A liaison may not review; a head of another department may not either.
    with pytest.raises(PermissionDenied), db.transaction() as conn:
        creation.review_form(conn, actors["sun.plan"], form_id, approve=True)
    with db.transaction() as conn:
        creation.review_form(conn, actors["zhao.market"], form_id, approve=True)
        made = creation.create_dossier(conn, keyring, actors["li.archive"], form_id)
        filed = creation.file_dossier(conn, actors["li.archive"], uuid.UUID(made["dossier_id"]),
                                      cabinet="外貿", shelf=1)
    assert made["dossier_no"].startswith("海外-") and "-外貿-001" in made["dossier_no"]
    assert filed["position"] == 1
    with pytest.raises(Refused, match="already filed"), db.transaction() as conn:
        creation.file_dossier(conn, actors["li.archive"], uuid.UUID(made["dossier_id"]),
                              cabinet="外貿", shelf=1)
    actions = [a for (a,) in _rows("SELECT action FROM ledger_entry WHERE action NOT LIKE 'staff%' "
                                   "ORDER BY seq")]
    assert actions == ["form.submit", "form.approve", "dossier.create", "dossier.file"]
    assert _rows("SELECT file_name FROM document") == [(f"Acme中文-採集表-{made['dossier_no'][3:7]}",)]
    with db.transaction() as conn:
        assert ledger.verify(conn).ok


def test_rejection_needs_a_reason_and_goes_back(cli, company, tmp_path) -> None:
    form_id = _submit(cli, tmp_path, "Beta")
    with db.transaction() as conn:
        head = directory.load_actor(conn, "zhao.market")
    with pytest.raises(Refused, match="needs a reason"), db.transaction() as conn:
        creation.review_form(conn, head, form_id, approve=False, reason=" ")
    with db.transaction() as conn:
        creation.review_form(conn, head, form_id, approve=False, reason="no contract scan")
    assert _rows("SELECT status, rejection_reason FROM form") == [("rejected", "no contract scan")]
    # A rejected form no longer blocks a corrected resubmission.
    assert _submit(cli, tmp_path, "Beta") != form_id


def test_a_refused_creation_or_filing_reserves_nothing(cli, company, tmp_path) -> None:
    # The number's counter moves with the form's locked read (issue 16); a refusal after it
    # rolls the step back whole, so the next creation still gets serial 001 (Art. 11(4)).
    form_id = _submit(cli, tmp_path, "Gamma")
    keyring = KeyRing()
    with db.transaction() as conn:
        actors = {u: directory.load_actor(conn, u) for u in company}
        creation.review_form(conn, actors["zhao.market"], form_id, approve=True)
    with pytest.raises(PermissionDenied), db.transaction() as conn:
        creation.create_dossier(conn, keyring, actors["zhao.market"], form_id)
    assert _rows("SELECT count(*) FROM dossier_number_counter") == [(0,)]
    with db.transaction() as conn:
        made = creation.create_dossier(conn, keyring, actors["li.archive"], form_id)
    assert made["dossier_no"].endswith("-外貿-001")
    assert _rows("SELECT count(*) FROM dossier_number") == [(1,)]
    # So with filing: the paper volume goes in with the dossier's locked read, and a refused
    # filing registers none; the next one takes the shelf's first position (Art. 15).
    with pytest.raises(PermissionDenied), db.transaction() as conn:
        creation.file_dossier(conn, actors["zhao.market"], uuid.UUID(made["dossier_id"]),
                              cabinet="外貿", shelf=1)
    assert _rows("SELECT count(*) FROM paper_volume") == [(0,)]
    with db.transaction() as conn:
        filed = creation.file_dossier(conn, actors["li.archive"], uuid.UUID(made["dossier_id"]),
                                      cabinet="外貿", shelf=1)
    assert filed["position"] == 1
    assert _rows("SELECT label_dossier_no, label_client_name, position FROM paper_volume") == [
        (made["dossier_no"], "Gamma中文", 1)]
    with db.transaction() as conn:
        assert ledger.verify(conn).ok
