"""`dossier import` end to end, as ``collection-form.md`` says: reports, exit statuses,
duplicates, idempotent re-import, nothing partial, and no plaintext personal data at rest."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from dossiers.core import db, directory, ledger

from helpers import database_dump

pytestmark = pytest.mark.integration

HEADER = ["client_name_zh", "client_name_en", "client_type", "stage", "target_markets",
          "liaison", "department", "authorisation_ref", "collection_channel", "collected_on", "contact_name",
          "contact_email", "contact_phone", "registered_address", "contract_no",
          "contract_signed_on", "fee_range", "credit_rating"]


def _row(n: int, **overrides: str) -> dict[str, str]:
    row = {
        "client_name_zh": f"客戶{n}", "client_name_en": f"Client {n} GmbH", "client_type": "電商",
        "stage": "active", "target_markets": "DE;us", "liaison": "wang.market",
        "department": "market", "authorisation_ref": f"AUTH-{n}", "collection_channel": "email",
        "collected_on": "2026-11-02",
        "contact_name": f"Zyxwvuts Person{n}", "contact_email": f"person{n}@client{n}.example.de",
        "contact_phone": "+49 30 1234567", "registered_address": f"Hauptstraße {n}, Berlin",
        "contract_no": f"C-{n}", "contract_signed_on": "2026-10-30",
        "fee_range": f"FEE-SECRET-{n}", "credit_rating": f"CREDIT-SECRET-{n}",
    }
    row.update(overrides)
    return row


def _write(path: Path, rows: list[dict[str, str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _count(sql: str) -> int:
    with db.transaction() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def test_clean_file_is_accepted_with_ledger_entries(cli, company, tmp_path) -> None:
    result = cli("import", str(_write(tmp_path / "forms.csv", [_row(1), _row(2)])),
                 "--as", "wang.market")
    assert result.status == 0, result.stderr
    report = result.json()
    assert [a["row"] for a in report["accepted"]] == [2, 3] and report["rejected"] == []
    assert _count("SELECT count(*) FROM form WHERE status = 'submitted'") == 2
    assert _count("SELECT count(*) FROM ledger_entry WHERE action = 'form.submit'") == 2
    # Each form starts the department head's 2-wd review clock (Art. 11(2)).
    with db.transaction() as conn:
        due = conn.execute(text("SELECT DISTINCT due_on FROM clock WHERE kind = 'form_review'")).all()
    assert len(due) == 1


def test_bad_rows_refused_good_rows_committed(cli, company, tmp_path) -> None:
    rows = [_row(1), _row(2, contact_email="not-an-email", contact_phone=""),
            _row(3, collected_on="03/05/2026", target_markets="XX")]
    result = cli("import", str(_write(tmp_path / "f.csv", rows)), "--as", "wang.market")
    assert result.status == 1
    report = result.json()
    assert [a["row"] for a in report["accepted"]] == [2]
    assert {(e["row"], e["field"], e["code"]) for e in report["rejected"]} == {
        (3, "contact_email", "invalid_email"),
        (4, "collected_on", "invalid_date"), (4, "target_markets", "invalid_country")}
    assert _count("SELECT count(*) FROM form") == 1
    assert _count("SELECT count(*) FROM ledger_entry WHERE action = 'form.submit'") == 1


def test_reimport_creates_nothing_and_names_the_duplicate(cli, company, tmp_path) -> None:
    path = _write(tmp_path / "f.csv", [_row(1), _row(2)])
    assert cli("import", str(path), "--as", "wang.market").status == 0
    again = cli("import", str(path), "--as", "wang.market")
    assert again.status == 1
    report = again.json()
    assert report["accepted"] == []
    assert all(e["code"] == "duplicate" and "pending form" in e["message"]
               for e in report["rejected"])
    assert _count("SELECT count(*) FROM form") == 2


def test_same_client_twice_in_one_file(cli, company, tmp_path) -> None:
    rows = [_row(1), _row(2, client_name_en="  CLIENT 1   gmbh ")]
    report = cli("import", str(_write(tmp_path / "f.csv", rows)), "--as", "wang.market").json()
    assert report["rejected"] == [{"row": 3, "field": "client_name_en", "code": "duplicate",
                                   "message": "client_name_en duplicates row 2 of this file"}]


@pytest.mark.parametrize("problem", ["missing_column", "not_utf8", "bad_json"])
def test_refused_file_writes_nothing(cli, company, tmp_path, problem) -> None:
    if problem == "missing_column":
        path = _write(tmp_path / "f.csv", [_row(1)], [h for h in HEADER if h != "liaison"])
    elif problem == "not_utf8":
        path = tmp_path / "f.csv"
        path.write_bytes(",".join(HEADER).encode() + "\n客戶".encode("big5") + b",x\n")
    else:
        path = tmp_path / "f.json"
        path.write_text('{"not": "an array"')
    before = _count("SELECT count(*) FROM ledger_entry")
    result = cli("import", str(path), "--as", "wang.market")
    assert result.status == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and path.name in result.stderr
    assert _count("SELECT count(*) FROM form") == 0
    assert _count("SELECT count(*) FROM ledger_entry") == before


def test_only_staff_with_the_right_may_submit(cli, company, tmp_path) -> None:
    result = cli("import", str(_write(tmp_path / "f.csv", [_row(1)])), "--as", "qa.he")
    assert result.status == 1 and "may not form.submit" in result.stderr
    assert _count("SELECT count(*) FROM form") == 0


def test_json_contacts_and_xlsx(cli, company, tmp_path) -> None:
    import openpyxl

    record = _row(5)
    record.pop("contact_name"), record.pop("contact_email"), record.pop("contact_phone")
    record["contacts"] = [{"name": "Ana Lima", "email": "ana@lima.example.com"},
                          {"name": "Rui Costa", "phone": "+55 11 96123-4567"}]
    jpath = tmp_path / "f.json"
    jpath.write_text(json.dumps([record], ensure_ascii=False))
    assert cli("import", str(jpath), "--as", "wang.market").status == 0

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    row = _row(6)
    import datetime as dt
    row_values: list[object] = [row[h] for h in HEADER]
    row_values[HEADER.index("collected_on")] = dt.date(2026, 11, 2)
    row_values[HEADER.index("contract_signed_on")] = dt.datetime(2026, 10, 30)
    sheet.append(row_values)
    book.save(tmp_path / "f.xlsx")
    assert cli("import", str(tmp_path / "f.xlsx"), "--as", "wang.market").status == 0
    assert _count("SELECT count(*) FROM form") == 2


def test_database_dump_holds_no_plaintext_personal_data(cli, company, tmp_path, database_url) -> None:
    """Forms, created dossiers and the ledger: a pg_dump never shows a personal value."""
    from dossiers.core.crypto import KeyRing
    from dossiers.workflows import creation

    rows = [_row(n) for n in range(1, 6)]
    assert cli("import", str(_write(tmp_path / "f.csv", rows)), "--as", "wang.market").status == 0
    keyring = KeyRing()
    with db.transaction() as conn:
        head = directory.load_actor(conn, "zhao.market")
        archivist = directory.load_actor(conn, "li.archive")
        for f in creation.list_forms(conn, archivist).items[:3]:
            form_id = uuid.UUID(f["form_id"])
            creation.review_form(conn, head, form_id, approve=True)
            made = creation.create_dossier(conn, keyring, archivist, form_id)
        assert ledger.verify(conn).ok
    dump = database_dump(database_url, "--no-owner")
    assert made["dossier_no"] in dump  # the dump is real and holds the dossiers
    for row in rows:
        for field in ("contact_name", "contact_email", "fee_range", "credit_rating"):
            assert row[field] not in dump, field
    assert "1234567" not in dump  # the phone number, in any format
    # And it really is there, for whoever holds the keys: decrypt one contact.
    with db.transaction() as conn:
        d_id, blob = conn.execute(text("SELECT dossier_id, email_enc FROM contact LIMIT 1")).one()
        from dossiers.core.crypto import Field
        assert keyring.open(conn, d_id, Field("contact", "email", "0"), blob).endswith(".example.de")


def test_a_file_beyond_the_bind_parameter_limit_imports(cli, company, tmp_path) -> None:
    """33,000 rows: more name keys than PostgreSQL's 65,535 bind parameters would hold."""
    rows = [_row(n, contact_email="", contact_name="X", fee_range="", credit_rating="")
            for n in range(33_000)]
    result = cli("import", str(_write(tmp_path / "big.csv", rows)), "--as", "wang.market")
    assert result.status == 0, result.stderr[-500:]
    assert len(result.json()["accepted"]) == 33_000
    assert _count("SELECT count(*) FROM form") == 33_000


def test_a_connection_killed_during_the_copy_is_one_line(cli, company, tmp_path, database_url) -> None:
    """The server ends the session while the forms stream in (here: a trigger, installed by
    the owner, terminates its own backend on the first form row): one line, exit 2, and
    nothing written; not psycopg's "error ignored terminating <psycopg.Copy …>" as well."""
    import psycopg

    owner = database_url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(owner, autocommit=True) as c:
        c.execute("""CREATE FUNCTION kill_own_backend() RETURNS trigger LANGUAGE plpgsql
                     SECURITY DEFINER AS $$
                     BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$""")
        c.execute("CREATE TRIGGER kill_own_backend BEFORE INSERT ON form "
                  "FOR EACH ROW EXECUTE FUNCTION kill_own_backend()")
    # Enough rows that the client is still sending when the server has gone.
    rows = [_row(n, contact_email="", contact_name="X") for n in range(6_000)]
    result = cli("import", str(_write(tmp_path / "f.csv", rows)), "--as", "wang.market")
    assert result.status == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("dossier: could not run: ")
    assert "psycopg.Copy" not in result.stderr
    assert _count("SELECT count(*) FROM form") == 0


# Issue 10, item 7: a form is filed by its liaison, a head of its department or the CS head.
def test_a_liaison_may_not_file_a_form_for_another_department(cli, company, tmp_path) -> None:
    rows = [_row(1), _row(2, liaison="sun.plan", department="planning"),
            _row(3, liaison="sun.plan", department="market")]
    result = cli("import", str(_write(tmp_path / "f.csv", rows)), "--as", "wang.market")
    assert result.status == 1, result.stderr
    report = result.json()
    assert [a["row"] for a in report["accepted"]] == [2]
    assert [(e["row"], e["field"], e["code"]) for e in report["rejected"]] == [
        (3, "department", "not_your_department"), (4, "department", "not_your_department")]
    assert "sun.plan" in report["rejected"][0]["message"]
    assert _count("SELECT count(*) FROM form") == 1
    with db.transaction() as conn:
        logged = conn.execute(text("SELECT actor, action, subject FROM access_log "
                                   "WHERE NOT allowed ORDER BY id")).all()
    # Once per file and action, through the one permission check.
    assert [tuple(r) for r in logged] == [
        ("wang.market", "form.submit_for_any_department", "file f.csv"),
        ("wang.market", "form.submit_for_department", "file f.csv")]


def test_heads_file_for_their_department_and_the_cs_head_for_any(cli, company, tmp_path) -> None:
    head = cli("import", str(_write(tmp_path / "h.csv", [
        _row(1), _row(2, liaison="sun.plan", department="planning")])), "--as", "zhao.market")
    assert head.status == 1
    assert [a["row"] for a in head.json()["accepted"]] == [2]
    assert [e["code"] for e in head.json()["rejected"]] == ["not_your_department"]
    cs = cli("import", str(_write(tmp_path / "c.csv", [
        _row(3, liaison="sun.plan", department="planning"), _row(4)])), "--as", "chen.cs")
    assert cs.status == 0, cs.stdout + cs.stderr
    assert len(cs.json()["accepted"]) == 2
    with db.transaction() as conn:
        assert conn.execute(text("SELECT count(*) FROM access_log WHERE actor = 'chen.cs'")
                            ).scalar() == 0


def test_same_client_in_two_chunks_names_the_earlier_row(cli, company, tmp_path) -> None:
    """A file stored chunk by chunk: a client repeated in a later chunk is named as the
    duplicate of the earlier row, not of the pending form that row has just become."""
    rows = [_row(n, contact_email="", contact_name="X") for n in range(1_200)]
    rows.append(_row(9_999, client_name_en="Client 5 GmbH"))
    report = cli("import", str(_write(tmp_path / "f.csv", rows)), "--as", "wang.market").json()
    assert len(report["accepted"]) == 1_200
    assert report["rejected"] == [{"row": 1_202, "field": "client_name_en", "code": "duplicate",
                                   "message": "client_name_en duplicates row 7 of this file"}]
