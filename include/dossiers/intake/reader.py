"""Read a collection-form file (CSV, XLSX or JSON) into numbered rows.

Everything here follows ``collection-form.md``: the columns of its table, the three file
formats, row numbering (the header is row 1; in JSON the array index + 2), unknown columns
ignored and reported once, and the file-level refusals (exit status 2, nothing written):
unreadable, not UTF-8, not an array of objects, a required column missing, over 50 MB or
over 100,000 rows. Values are passed on as found; :mod:`dossiers.intake.rules` normalises
and validates them.
"""

from __future__ import annotations

import csv
import io
import json
import math
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from operator import itemgetter
from pathlib import Path
from typing import cast

from dossiers.core.errors import CannotRun

#: Every column of the contract's table, in the contract's order, with its "required" mark:
#: a file without a required column is refused whole. (Columns required only for a stage,
#: and "one of email/phone", are checked per row.)
_CONTRACT_COLUMNS: tuple[tuple[str, bool], ...] = (
    ("client_name_zh", True),
    ("client_name_en", True),
    ("client_type", True),
    ("stage", True),
    ("target_markets", True),
    ("liaison", True),
    ("department", True),
    ("authorisation_ref", True),
    # Art. 9: required in every row, but checked per row (``invalid_channel``), not per file.
    ("collection_channel", False),
    ("collected_on", True),
    ("registered_address", False),
    ("domestic_contact_address", False),
    ("founded_on", False),
    ("legal_form", False),
    ("registered_capital", False),
    ("business_scope", False),
    ("core_business", False),
    ("org_structure", False),
    ("contact_name", True),
    ("contact_title", False),
    ("contact_email", False),
    ("contact_phone", False),
    ("contact_preference", False),
    ("market_positioning", False),
    ("target_customers", False),
    ("competition", False),
    ("market_share", False),
    ("policy_fit", False),
    ("industry_trends", False),
    ("contract_no", False),
    ("contract_signed_on", False),
    ("service_scope", False),
    ("period_start", False),
    ("period_end", False),
    ("fee_range", False),
    ("marketing_goals", False),
    ("brand_positioning", False),
    ("creative_preferences", False),
    ("selling_points", False),
    ("consumer_traits", False),
    ("service_expectations", False),
    ("latent_needs", False),
    ("credit_rating", False),
    ("other_partners", False),
    ("honours", False),
    ("dependence", False),
    ("terminated_on", False),
)
KNOWN_COLUMNS: tuple[str, ...] = tuple(name for name, _ in _CONTRACT_COLUMNS)
REQUIRED_COLUMNS: tuple[str, ...] = tuple(name for name, required in _CONTRACT_COLUMNS if required)

#: Keys of a JSON ``contacts`` object and the column each one is for the first contact.
CONTACT_KEYS: Mapping[str, str] = {
    "name": "contact_name",
    "title": "contact_title",
    "email": "contact_email",
    "phone": "contact_phone",
    "preference": "contact_preference",
}

#: The JSON key holding the array of contacts.
CONTACTS_KEY = "contacts"
#: Row key under which the reader puts the JSON contacts after the first (list of dicts
#: keyed like :data:`CONTACT_KEYS`). A ``contacts`` key left in a row means the array was
#: malformed or clashed with ``contact_*`` keys; the rules refuse that row.
EXTRA_CONTACTS_KEY = "extra_contacts"

#: Limits of the contract ("over 50 MB or 100,000 rows" refuses the file).
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_DATA_ROWS = 100_000

#: Zero-width characters removed from every value (contract, *Columns*).
ZERO_WIDTH_CHARS = "\u200b\u200c\u200d\u2060\ufeff"
ZERO_WIDTH_TABLE: Mapping[int, None] = dict.fromkeys(map(ord, ZERO_WIDTH_CHARS))

_KNOWN = frozenset(KNOWN_COLUMNS)
_UNNAMED = "(no heading)"

Row = tuple[int, dict[str, object]]


class FileRefused(CannotRun):
    """The whole file is refused before anything is written (contract: exit status 2).

    ``str()`` is one line naming the file and what to do about it.
    """

    def __init__(self, file: str, reason: str) -> None:
        self.file = file
        self.reason = " ".join(reason.split())
        super().__init__(f"{file}: refused: {self.reason}")


@dataclass
class FormFile:
    """The rows of one form file.

    ``rows`` holds ``(row number, {column: raw value})`` for every non-blank row, numbered
    as the contract says; only known columns appear in the dicts (plus
    :data:`EXTRA_CONTACTS_KEY` / :data:`CONTACTS_KEY` for JSON). ``columns`` lists the
    known columns the file has, in the file's order. ``warnings`` has one
    ``{"column", "message"}`` entry per ignored column.
    """

    rows: list[Row] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)


class _Warnings:
    """Collects each ignored column once, in the order first met."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []
        self._seen: set[str] = set()

    def ignore(self, column: str, message: str = "unknown column ignored") -> None:
        if column not in self._seen:
            self._seen.add(column)
            self.items.append({"column": column, "message": message})


def read_form_file(path: Path) -> FormFile:
    """Read *path* as a collection form, choosing the format by its extension.

    Raises :class:`FileRefused` for every file-level refusal of the contract.
    """
    name = str(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise FileRefused(name, f"unknown file type {path.suffix or '(none)'!r}: use .csv, .xlsx or .json")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FileRefused(name, f"cannot be read ({exc.strerror})") from exc
    if size > MAX_FILE_BYTES:
        raise FileRefused(name, f"is {size / 2**20:.1f} MB, over the 50 MB limit; split it")
    return reader(path, name)


# --- CSV -------------------------------------------------------------------------------


def _read_csv(path: Path, name: str) -> FormFile:
    """CSV: UTF-8 with or without a byte-order mark, header row first (contract)."""
    text = _decode_utf8(_read_bytes(path, name), name)
    records = csv.reader(io.StringIO(text, newline=""))
    try:
        return _read_table(name, records)
    except csv.Error as exc:
        raise FileRefused(name, f"is not a readable CSV file ({exc})") from exc


# --- XLSX ------------------------------------------------------------------------------


def _read_xlsx(path: Path, name: str) -> FormFile:
    """XLSX: the first sheet, header row first; date cells become :class:`date`."""
    import openpyxl  # imported here: only XLSX imports need it

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # any failure to open the package means "unreadable"
        raise FileRefused(name, "is not a readable XLSX workbook") from exc
    try:
        if not workbook.worksheets:
            raise FileRefused(name, "has no sheet")
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # stale <dimension> tags must not cut rows or columns
        records = (tuple(_xlsx_value(v) for v in values) for values in sheet.iter_rows(values_only=True))
        return _read_table(name, records)
    except FileRefused:
        raise
    except Exception as exc:  # corrupt XML inside the package
        raise FileRefused(name, "is not a readable XLSX workbook") from exc
    finally:
        workbook.close()


def _xlsx_value(value: object) -> object:
    """Turn an openpyxl cell value into what the rules expect.

    Date cells come back as ``datetime``: keep the ``date``. Whole floats (Excel stores all
    numbers as floats) become ``int`` so ``1500000.0`` reads as ``1500000``. Formula cells
    are kept as their text (``=...``), exactly as written.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, str | int | float | date):
        return value
    if isinstance(value, time | timedelta):
        return str(value)
    text = getattr(value, "text", None)  # array formulas
    return text if isinstance(text, str) else str(value)


# --- CSV and XLSX: a header row and records --------------------------------------------


def _read_table(name: str, records: Iterable[Sequence[object]]) -> FormFile:
    """Build a :class:`FormFile` from a header record followed by data records."""
    numbered = enumerate(records, start=1)
    _, header = _first_non_blank(numbered, name)
    warnings = _Warnings()
    positions = _map_header(name, header, warnings)
    _check_required(name, [column for _, column in positions])
    width = len(header)
    unnamed = [i for i, cell in enumerate(header) if not _header_name(cell)]
    pick = _picker(positions, width)
    columns = [column for _, column in positions]
    rows: list[Row] = []
    for row_no, record in numbered:
        if _is_blank_record(record):
            continue
        if len(rows) == MAX_DATA_ROWS:
            raise _too_many_rows(name)
        if _has_unnamed_data(record, width, unnamed):
            warnings.ignore(_UNNAMED, "cells without a column heading ignored")
        if len(record) < width:  # short rows: missing trailing cells are empty
            record = (*record, *(None,) * (width - len(record)))
        rows.append((row_no, dict(zip(columns, pick(record), strict=True))))
    return FormFile(rows=rows, columns=columns, warnings=warnings.items)


def _picker(positions: list[tuple[int, str]], width: int) -> Callable[[Sequence[object]], Sequence[object]]:
    """The cells of the known columns, in ``positions`` order (C speed: 100,000 rows)."""
    if not positions:
        return lambda record: ()
    if [i for i, _ in positions] == list(range(width)):
        return lambda record: record[:width]
    getter = itemgetter(*(i for i, _ in positions))
    if len(positions) == 1:
        return lambda record: (getter(record),)
    return cast(Callable[[Sequence[object]], Sequence[object]], getter)


def _first_non_blank(
    numbered: Iterator[tuple[int, Sequence[object]]], name: str
) -> tuple[int, Sequence[object]]:
    for row_no, record in numbered:
        if not _is_blank_record(record):
            return row_no, record
    raise FileRefused(name, "is empty: it has no header row")


def _map_header(name: str, header: Sequence[object], warnings: _Warnings) -> list[tuple[int, str]]:
    """Return ``(position, column)`` for each known column; warn about the others."""
    positions: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for position, cell in enumerate(header):
        column = _header_name(cell)
        if not column:
            continue
        if column not in _KNOWN:
            warnings.ignore(str(cell).strip())
            continue
        if column in seen:
            raise FileRefused(
                name,
                f"column {column!r} appears twice (columns {seen[column] + 1} and {position + 1}); keep one",
            )
        seen[column] = position
        positions.append((position, column))
    return positions


def _header_name(cell: object) -> str:
    """A heading as a column name: NFKC, zero-width removed, trimmed, case-folded."""
    if cell is None:
        return ""
    text = unicodedata.normalize("NFKC", str(cell)).translate(ZERO_WIDTH_TABLE)
    return text.strip().casefold()


def _has_unnamed_data(record: Sequence[object], width: int, unnamed: list[int]) -> bool:
    if len(record) > width and not _is_blank_record(record[width:]):
        return True
    return any(i < len(record) and not _is_blank(record[i]) for i in unnamed)


def _is_blank_record(record: Sequence[object]) -> bool:
    return all(_is_blank(value) for value in record)


def _is_blank(value: object) -> bool:
    if value is None:
        return True
    return isinstance(value, str) and not value.translate(ZERO_WIDTH_TABLE).strip()


# --- JSON ------------------------------------------------------------------------------


def _read_json(path: Path, name: str) -> FormFile:
    """JSON: an array of objects with the column names as keys (contract)."""
    text = _decode_utf8(_read_bytes(path, name), name)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileRefused(
            name, f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise FileRefused(name, f"is not usable JSON ({exc})") from exc
    return read_json_document(document, name)


def read_json_document(document: object, name: str) -> FormFile:
    """A parsed JSON document as a form file (what the API submits: no file is written).

    Values are taken as parsed: text that is no text (a lone surrogate, ``"\\ud800"``) is
    left to the rules, which refuse it as ``invalid_text``, as in a file."""
    objects = _json_objects(document, name)
    warnings = _Warnings()
    columns: dict[str, None] = {}
    rows: list[Row] = []
    for index, obj in enumerate(objects):
        row = _json_row(obj, warnings)
        columns.update(dict.fromkeys(c for c in row if c in _KNOWN))
        rows.append((index + 2, row))
    if rows:
        _check_required(name, list(columns))
    ordered = [c for c in KNOWN_COLUMNS if c in columns]
    return FormFile(rows=rows, columns=ordered, warnings=warnings.items)


def _json_objects(document: object, name: str) -> list[dict[str, object]]:
    if not isinstance(document, list):
        raise FileRefused(name, "must be a JSON array of objects, one per form")
    if len(document) > MAX_DATA_ROWS:
        raise _too_many_rows(name)
    objects: list[dict[str, object]] = []
    for index, item in enumerate(document):
        if not isinstance(item, dict):
            raise FileRefused(name, f"item {index} of the array (row {index + 2}) is not an object")
        objects.append(item)
    return objects


def _json_row(obj: Mapping[str, object], warnings: _Warnings) -> dict[str, object]:
    row: dict[str, object] = {}
    for key, value in obj.items():
        if key in _KNOWN:
            row[key] = value
        elif key != CONTACTS_KEY:
            warnings.ignore(key)
    contacts = obj.get(CONTACTS_KEY)
    if contacts is not None:
        _spread_contacts(row, contacts, warnings)
    return row


def _spread_contacts(row: dict[str, object], contacts: object, warnings: _Warnings) -> None:
    """Map ``contacts[0]`` to the ``contact_*`` columns and keep the rest as extras.

    A malformed array, or one given together with ``contact_*`` values (two "first"
    contacts), is left under ``contacts`` for the rules to refuse the row: never guessed.
    """
    has_flat = any(not _is_blank(row.get(column)) for column in CONTACT_KEYS.values())
    if (
        not isinstance(contacts, list)
        or not all(isinstance(c, dict) for c in contacts)
        or (has_flat and contacts)
    ):
        row[CONTACTS_KEY] = contacts
        return
    cleaned = [_contact_fields(contact, warnings) for contact in contacts]
    if not cleaned:
        return
    for key, value in cleaned[0].items():
        row[CONTACT_KEYS[key]] = value
    if len(cleaned) > 1:
        row[EXTRA_CONTACTS_KEY] = cleaned[1:]


def _contact_fields(contact: Mapping[str, object], warnings: _Warnings) -> dict[str, object]:
    kept: dict[str, object] = {}
    for key, value in contact.items():
        if key in CONTACT_KEYS:
            kept[key] = value
        else:
            warnings.ignore(f"{CONTACTS_KEY}.{key}")
    return kept


# --- shared ----------------------------------------------------------------------------


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FileRefused(name, f"cannot be read ({exc.strerror})") from exc


def _decode_utf8(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRefused(name, f"is not UTF-8 (bad byte at offset {exc.start}); save it as UTF-8") from exc


def _check_required(name: str, columns: Iterable[str]) -> None:
    present = set(columns)
    missing = [column for column in REQUIRED_COLUMNS if column not in present]
    if missing:
        label = "column" if len(missing) == 1 else "columns"
        raise FileRefused(name, f"required {label} missing: {', '.join(missing)}")


def _too_many_rows(name: str) -> FileRefused:
    return FileRefused(name, f"has more than {MAX_DATA_ROWS:,} data rows; split it")


_READERS: Mapping[str, Callable[[Path, str], FormFile]] = {
    ".csv": _read_csv,
    ".xlsx": _read_xlsx,
    ".json": _read_json,
}
