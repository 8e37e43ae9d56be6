"""Reading collection-form files (``collection-form.md``: formats, numbering, refusals)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from dossiers.core.errors import CannotRun
from dossiers.intake import reader
from dossiers.intake.reader import (
    KNOWN_COLUMNS,
    MAX_DATA_ROWS,
    MAX_FILE_BYTES,
    REQUIRED_COLUMNS,
    FileRefused,
    read_form_file,
)
from dossiers.intake.rules import validate_row

HEADER = [*REQUIRED_COLUMNS, "collection_channel", "contact_email"]


def a_row(n: int = 1, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "client_name_zh": f"客戶{n}",
        "client_name_en": f"Client {n}",
        "client_type": "ECOM",
        "stage": "potential",
        "target_markets": "DE",
        "liaison": "wang.market",
        "department": "market",
        "authorisation_ref": f"AUTH-{n}", "collection_channel": "email",
        "collected_on": "2026-03-01",
        "contact_name": f"Person {n}",
        "contact_email": f"p{n}@example.com",
    }
    row.update(overrides)
    return row


def write_csv(path: Path, header: list[str], rows: list[list[object]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def refusal(path: Path) -> FileRefused:
    with pytest.raises(FileRefused) as caught:
        read_form_file(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    return caught.value


# --- constants from the contract -------------------------------------------------------


def test_column_constants_follow_the_contract_table() -> None:
    assert len(KNOWN_COLUMNS) == len(set(KNOWN_COLUMNS)) == 47
    assert set(REQUIRED_COLUMNS) <= set(KNOWN_COLUMNS)
    assert "authorisation_ref" in REQUIRED_COLUMNS and "contact_name" in REQUIRED_COLUMNS
    # Stage-dependent and "one of" columns are checked per row, not per file.
    # So is the collection channel (Art. 9): a row without it is refused `invalid_channel`.
    for column in ("registered_address", "contract_no", "terminated_on", "contact_email",
                   "collection_channel"):
        assert column not in REQUIRED_COLUMNS


def test_a_refusal_is_a_cannot_run_error() -> None:
    error = FileRefused("forms.csv", "is not UTF-8\n(offset 3)")
    assert isinstance(error, CannotRun) and error.exit_status == 2
    assert str(error) == "forms.csv: refused: is not UTF-8 (offset 3)"
    assert (error.file, error.reason) == ("forms.csv", "is not UTF-8 (offset 3)")


# --- CSV -------------------------------------------------------------------------------


def test_csv_rows_are_numbered_like_a_spreadsheet(tmp_path: Path) -> None:
    blank: list[object] = ["", " ", "\u200b", *[""] * (len(HEADER) - 3)]
    rows = [[a_row(1)[c] for c in HEADER], blank, [], [a_row(2)[c] for c in HEADER]]
    path = write_csv(tmp_path / "forms.csv", HEADER, rows)  # blank rows: skipped, counted
    form_file = read_form_file(path)
    assert [n for n, _ in form_file.rows] == [2, 5]
    assert form_file.rows[1][1]["client_name_en"] == "Client 2"
    assert form_file.columns == HEADER
    assert form_file.warnings == []


def test_csv_with_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bom.csv", HEADER, [[a_row()[c] for c in HEADER]], encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    form_file = read_form_file(path)
    assert form_file.columns[0] == "client_name_zh"
    assert form_file.rows[0][1]["client_name_zh"] == "客戶1"


def test_csv_not_in_utf8_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "gbk.csv", HEADER, [[a_row()[c] for c in HEADER]], "gbk")
    assert "UTF-8" in refusal(path).reason


def test_missing_required_column_is_refused_naming_it(tmp_path: Path) -> None:
    header = [c for c in HEADER if c not in ("liaison", "authorisation_ref")]
    path = write_csv(tmp_path / "forms.csv", header, [[a_row()[c] for c in header]])
    reason = refusal(path).reason
    assert reason == "required columns missing: liaison, authorisation_ref"


def test_unknown_column_is_ignored_and_reported_once(tmp_path: Path) -> None:
    header = [*HEADER, "fax", "Notes "]
    rows = [[*(a_row(n)[c] for c in HEADER), "+49 30 999", "x"] for n in range(3)]
    form_file = read_form_file(write_csv(tmp_path / "forms.csv", header, rows))
    assert form_file.warnings == [
        {"column": "fax", "message": "unknown column ignored"},
        {"column": "Notes", "message": "unknown column ignored"},
    ]
    assert all("fax" not in values for _, values in form_file.rows)
    assert len(form_file.rows) == 3


def test_headings_are_matched_whatever_their_case_and_spacing(tmp_path: Path) -> None:
    header = [f"  {c.upper()} " for c in HEADER]
    form_file = read_form_file(write_csv(tmp_path / "forms.csv", header, [["v"] * len(HEADER)]))
    assert form_file.columns == HEADER


def test_a_column_given_twice_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "forms.csv", [*HEADER, "stage"], [])
    assert "'stage' appears twice" in refusal(path).reason


def test_cells_without_a_heading_are_reported(tmp_path: Path) -> None:
    rows = [[*(a_row()[c] for c in HEADER), "stray"], [a_row(2)[c] for c in HEADER][:-1]]
    form_file = read_form_file(write_csv(tmp_path / "forms.csv", HEADER, rows))
    assert form_file.warnings == [
        {"column": "(no heading)", "message": "cells without a column heading ignored"}
    ]
    assert form_file.rows[1][1]["contact_email"] is None  # short row: missing cell is empty


def test_nul_in_a_cell_reaches_the_rules_not_a_file_refusal(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "forms.csv", HEADER, [[a_row(client_name_en="A\x00B")[c] for c in HEADER]])
    ((row_no, values),) = read_form_file(path).rows
    _, errors = validate_row(row_no, values, known_liaisons={"wang.market"}, today=date(2026, 3, 9))
    assert [(e.row, e.field, e.code) for e in errors] == [(2, "client_name_en", "invalid_text")]


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    form_file = read_form_file(write_csv(tmp_path / "forms.csv", HEADER, []))
    assert form_file.rows == [] and form_file.columns == HEADER


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"\xef\xbb\xbf\r\n")
    assert "no header row" in refusal(path).reason


def test_more_than_100000_rows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    line = ",".join(str(a_row()[c]) for c in HEADER)
    path.write_text(",".join(HEADER) + "\n" + (line + "\n") * (MAX_DATA_ROWS + 1), "utf-8")
    assert "more than 100,000 data rows" in refusal(path).reason


def test_the_row_limit_counts_data_rows_not_blank_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "MAX_DATA_ROWS", 3)
    line = ",".join(str(a_row()[c]) for c in HEADER)
    path = tmp_path / "three.csv"
    path.write_text(",".join(HEADER) + "\n" + (line + "\n") * 3 + ",,\n\n", "utf-8")
    assert len(read_form_file(path).rows) == 3
    path.write_text(",".join(HEADER) + "\n" + (line + "\n") * 4, "utf-8")
    assert "more than 3 data rows" in refusal(path).reason


def test_over_50_mb_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    assert "over the 50 MB limit" in refusal(path).reason


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "forms.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    assert "unknown file type '.xls'" in refusal(path).reason


def test_missing_file_is_refused(tmp_path: Path) -> None:
    assert "cannot be read" in refusal(tmp_path / "nowhere.csv").reason


# --- XLSX ------------------------------------------------------------------------------


def write_xlsx(path: Path, rows: Sequence[Sequence[object]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    workbook.create_sheet("ignored").append(["not", "read"])
    workbook.save(path)
    return path


def test_xlsx_keeps_date_cells_as_dates(tmp_path: Path) -> None:
    header = [*HEADER, "founded_on", "registered_capital", "contract_no"]
    values = [a_row()[c] for c in HEADER]
    values[HEADER.index("collected_on")] = datetime(2026, 3, 1)
    path = write_xlsx(
        tmp_path / "forms.xlsx",
        [
            header,
            [*values, date(1999, 12, 31), "1500000 USD", 12345.0],
            [None] * 3,
            [*values, None, None, "=A1&B1"],
        ],
    )
    form_file = read_form_file(path)
    assert [n for n, _ in form_file.rows] == [2, 4]
    first = form_file.rows[0][1]
    assert first["collected_on"] == date(2026, 3, 1)
    assert type(first["collected_on"]) is date
    assert first["founded_on"] == date(1999, 12, 31)
    assert first["contract_no"] == 12345
    assert form_file.rows[1][1]["contract_no"] == "=A1&B1"  # kept exactly as written
    form, errors = validate_row(2, first, known_liaisons={"wang.market"}, today=date(2026, 3, 9))
    assert errors == [] and form is not None
    assert form.collected_on == date(2026, 3, 1) and form.contract_no == "12345"


def test_xlsx_missing_required_column_is_refused(tmp_path: Path) -> None:
    header = [c for c in HEADER if c != "collected_on"]
    path = write_xlsx(tmp_path / "forms.xlsx", [header, [a_row()[c] for c in header]])
    assert refusal(path).reason == "required column missing: collected_on"


def test_xlsx_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "forms.xlsx"
    path.write_text("client_name_zh,client_name_en\n", "utf-8")
    assert "not a readable XLSX workbook" in refusal(path).reason


# --- JSON ------------------------------------------------------------------------------


def write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), "utf-8")
    return path


def test_json_rows_are_array_index_plus_two_and_contacts_spread(tmp_path: Path) -> None:
    first = {k: v for k, v in a_row(1).items() if not k.startswith("contact_")}
    first["contacts"] = [
        {"name": "Anna", "email": "anna@example.com", "preference": "email"},
        {"name": "Bob", "phone": "+1 212 555 0123", "fax": "x"},
    ]
    second = a_row(2)
    del second["liaison"]  # a missing key in one object: a missing value, not a refusal
    form_file = read_form_file(write_json(tmp_path / "forms.json", [first, second]))
    assert [n for n, _ in form_file.rows] == [2, 3]
    values = form_file.rows[0][1]
    assert values["contact_name"] == "Anna"
    assert values["contact_preference"] == "email"
    assert values["extra_contacts"] == [{"name": "Bob", "phone": "+1 212 555 0123"}]
    assert "contacts" not in values
    assert form_file.warnings == [{"column": "contacts.fax", "message": "unknown column ignored"}]
    assert "liaison" not in form_file.rows[1][1]
    _, errors = validate_row(3, form_file.rows[1][1], known_liaisons=set(), today=date(2026, 3, 9))
    assert [(e.row, e.field, e.code) for e in errors] == [(3, "liaison", "required")]


def test_json_required_column_missing_from_every_object_is_refused(tmp_path: Path) -> None:
    rows = [{k: v for k, v in a_row(n).items() if k != "department"} for n in range(2)]
    assert refusal(write_json(tmp_path / "f.json", rows)).reason == ("required column missing: department")


def test_json_unknown_key_warned_once(tmp_path: Path) -> None:
    rows = [a_row(1, fax="1"), a_row(2, fax="2")]
    form_file = read_form_file(write_json(tmp_path / "f.json", rows))
    assert form_file.warnings == [{"column": "fax", "message": "unknown column ignored"}]


def test_json_contacts_with_contact_keys_are_left_for_the_rules(tmp_path: Path) -> None:
    rows = [a_row(1, contacts=[{"name": "Other"}])]
    values = read_form_file(write_json(tmp_path / "f.json", rows)).rows[0][1]
    assert values["contacts"] == [{"name": "Other"}]
    assert values["contact_name"] == "Person 1"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"client_name_zh": "x"}', "must be a JSON array of objects"),
        ('[{"client_name_zh": "x"}, 3]', "item 1 of the array (row 3) is not an object"),
        ('[{"client_name_zh": "x",]', "is not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "JSON"),
    ],
)
def test_json_that_is_not_an_array_of_objects_is_refused(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "f.json"
    path.write_text(text, "utf-8")
    assert says in refusal(path).reason


def test_json_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(json.dumps([a_row()], ensure_ascii=False).encode("utf-16"))
    assert "UTF-8" in refusal(path).reason


def test_empty_json_array_has_no_rows(tmp_path: Path) -> None:
    form_file = read_form_file(write_json(tmp_path / "f.json", []))
    assert form_file.rows == [] and form_file.warnings == []
