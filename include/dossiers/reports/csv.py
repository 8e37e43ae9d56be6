"""The figures as CSV: one file per table (a chart's data included) plus ``sources.csv``.

UTF-8 with a byte-order mark so Excel shows the Chinese; bilingual headers
(``部門 / Department``); every text cell and header passes through
:func:`dossiers.core.exports.neutralise_for_spreadsheet` (a value beginning with ``=`` ``+``
``-`` ``@`` never runs as a formula); numbers stay numbers (a percentage as ``98.5%``,
which spreadsheets read as a number). Each row ends with its source: the duty run, the
ledger seq and what was counted, so a figure in a spreadsheet can be traced too.

:func:`bundle` packs the files into one ZIP — the single object stored and recorded for
the ``csv`` format (``report`` has one row per kind, period and format) — with fixed
timestamps, so the same report gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from decimal import Decimal

from dossiers.core.config import SHANGHAI
from dossiers.core.exports import neutralise_for_spreadsheet
from dossiers.reports.model import (
    ColumnKind,
    Label,
    Report,
    Source,
    Table,
    Value,
    department_label,
)

BOM = "\ufeff"
SOURCE_COLUMNS = (Label("來源", "Source"), Label("職責運行", "Duty run"),
                  Label("臺賬序號", "Ledger seq"))


def _text(value: str) -> str:
    return neutralise_for_spreadsheet(value)


def cell(value: Value, kind: ColumnKind = "text") -> str | int | float:
    """A cell for a spreadsheet: numbers as numbers, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if kind == "percent" and isinstance(value, int | float | Decimal):
        return f"{float(value) * 100:.1f}%"
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return str(value)
    return _text(str(value))


def _write(rows: list[list[str | int | float]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return (BOM + buf.getvalue()).encode("utf-8")


#: The column a department's code is followed by in CSV: its bilingual name.
DEPARTMENT_NAME = Label("部門名稱", "Department name")


def table_csv(table: Table, notes: dict[Source, int]) -> bytes:
    """One table; a department column keeps the code (what spreadsheets and scripts key on)
    and is followed by the department's name in both languages."""
    header: list[str | int | float] = []
    for c in table.columns:
        header.append(_text(c.label.both()))
        if c.kind == "department":
            header.append(_text(DEPARTMENT_NAME.both()))
    header += [_text(label.both()) for label in SOURCE_COLUMNS]
    rows = [header]
    for row in table.rows:
        values: list[str | int | float] = []
        for v, c in zip(row.cells, table.columns, strict=True):
            values.append(cell(v, c.kind))
            if c.kind == "department":
                values.append(_text(department_label(str(v)).both(" ")) if v is not None else "")
        values += [f"[{notes[row.source]}]", _text(row.source.duty_run or ""),
                   row.source.ledger_seq if row.source.ledger_seq is not None else ""]
        rows.append(values)
    return _write(rows)


def sources_csv(report: Report) -> bytes:
    rows: list[list[str | int | float]] = [[_text(label.both()) for label in (
        Label("編號", "Note"), Label("職責運行", "Duty run"), Label("臺賬序號", "Ledger seq"),
        Label("統計內容", "What was counted"))]]
    for n, s in enumerate(report.sources(), start=1):
        rows.append([f"[{n}]", _text(s.duty_run or ""),
                     s.ledger_seq if s.ledger_seq is not None else "", _text(s.query or "")])
    return _write(rows)


def render_csv(report: Report) -> dict[str, bytes]:
    """``{file name: bytes}``: ``<stem>-<table>.csv`` for each table, then the sources."""
    notes = report.note_numbers()
    files = {f"{report.stem}-{t.name}.csv": table_csv(t, notes) for t in report.tables()}
    files[f"{report.stem}-sources.csv"] = sources_csv(report)
    return files


def bundle(report: Report, files: dict[str, bytes]) -> bytes:
    """The CSV files in one ZIP with the report's ``as_of`` as every file's time."""
    stamp = report.as_of.astimezone(SHANGHAI).timetuple()[:6]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buf.getvalue()
