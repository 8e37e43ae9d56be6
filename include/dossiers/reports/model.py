"""What a report is, before it is a PDF, a CSV or a web page: a small typed tree.

A duty (or a builder in :mod:`dossiers.reports.builders`) fills a :class:`Report` with
sections — :class:`Table`, :class:`Chart`, :class:`Text` — and every figure carries the
:class:`Source` it came from: the duty run (``duty/period``, the key of ``duty_run``) and
the ledger entry (``ledger_entry.seq``) that recorded it, or the query it was counted by
and the ledger head it was counted at. The renderers print the sources as numbered notes
(PDF and HTML) or as columns (CSV), so any figure can be traced back (Arts. 11, 13, 22).

Every label is bilingual (:class:`Label`: Chinese first, the Chinese text stands where the
two differ, as for the policy). Nothing here renders or imports anything heavy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from dossiers.core.config import SHANGHAI
from dossiers.core.permissions import ROLE_NAMES, Role
from dossiers.core.vocabulary import Department, names

#: ``report.kind`` and ``report.period`` are ``varchar(32)`` and ``varchar(16)``.
KIND_MAX, PERIOD_MAX = 32, 16
#: What a kind (and a table's or chart's name) looks like: lower-case letters, digits, ``_-``.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
_SLUG = re.compile(SLUG_PATTERN)

#: A cell: text, a number, a date; ``None`` shows as a dash.
Value = str | int | float | Decimal | date | datetime | None
#: ``department``: the cell holds a department's code (what editions and CSV consumers key
#: on); people read its bilingual name (:func:`department_label`).
ColumnKind = Literal["text", "int", "number", "percent", "date", "department"]
#: Who receives a report: the compliance recipients, management, or both (Art. 20: the
#: compliance check goes to compliance and management).
Audience = Literal["compliance", "management", "compliance_and_management"]
Format = Literal["pdf", "csv", "html"]
FORMATS: tuple[Format, ...] = ("pdf", "csv", "html")


@dataclass(frozen=True)
class Label:
    """A bilingual label: Chinese and English."""

    zh: str
    en: str

    def both(self, sep: str = " / ") -> str:
        return f"{self.zh}{sep}{self.en}" if self.zh != self.en else self.zh


#: What an empty table says instead of a row (a sentence, not a lone "none").
NONE_THIS_PERIOD = Label("本期無", "none this period")


def department_label(code: str) -> Label:
    """A department's bilingual name from the one vocabulary (Arts. 2, 5); a code outside it
    (but the ``system`` actor's, 系統 / System) shows as itself."""
    # The system actor (Airflow's duties) stands where a department would in refusal counts.
    pair = names(Department, code) or (ROLE_NAMES[Role.SYSTEM] if code == Role.SYSTEM else None)
    return Label(*pair) if pair else Label(code, code)


@dataclass(frozen=True)
class Source:
    """Where a figure came from.

    ``duty_run`` is the ``duty/period`` key of the run that produced it; ``ledger_seq`` the
    ledger entry that recorded it (a run's ``duty.<name>`` entry), or, for a figure counted
    live from the tables, the ledger head at the time of counting (the figure reflects every
    change up to that entry); ``query`` says what was counted (``finding 17``,
    ``clock due in 2026-Q4``). A source without a run or a ledger entry is refused.
    """

    duty_run: str | None = None
    ledger_seq: int | None = None
    query: str | None = None

    def __post_init__(self) -> None:
        if self.duty_run is None and self.ledger_seq is None:
            raise ValueError("a source needs a duty run key or a ledger seq")

    def ref(self) -> str:
        """One line, e.g. ``duty_run sampling_audit/2026-Q4 · ledger #42 · finding 17``."""
        parts = []
        if self.duty_run is not None:
            parts.append(f"duty_run {self.duty_run}")
        if self.ledger_seq is not None:
            parts.append(f"ledger #{self.ledger_seq}")
        if self.query:
            parts.append(self.query)
        return " · ".join(parts)


@dataclass(frozen=True)
class Column:
    label: Label
    kind: ColumnKind = "text"


@dataclass(frozen=True)
class Row:
    """One row; ``department`` is the department it is about (its people's or its own
    figures), ``None`` for a company-wide row: a department edition keeps only its own."""

    cells: tuple[Value, ...]
    source: Source
    department: str | None = None


@dataclass(frozen=True)
class Table:
    """Rows of figures; ``name`` is the CSV file's stem (lowercase ASCII)."""

    name: str
    title: Label
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    note: Label | None = None

    def __post_init__(self) -> None:
        _check_slug("table name", self.name)
        for i, row in enumerate(self.rows):
            if len(row.cells) != len(self.columns):
                raise ValueError(f"table {self.name}: row {i + 1} has {len(row.cells)} cells "
                                 f"for {len(self.columns)} columns")


@dataclass(frozen=True)
class Series:
    label: Label
    values: tuple[float | int | None, ...]


@dataclass(frozen=True)
class Chart:
    """A line (trend) or bar chart; ``sources[i]`` is where the figures at ``x[i]`` came
    from. Its data is exported to CSV like a table (``name``)."""

    name: str
    title: Label
    kind: Literal["line", "bar"]
    x_label: Label
    y_label: Label
    x: tuple[str, ...]
    series: tuple[Series, ...]
    sources: tuple[Source, ...]
    percent: bool = False
    #: The department each x value is about (a chart by department), as :attr:`Row.department`.
    departments: tuple[str | None, ...] | None = None

    def __post_init__(self) -> None:
        _check_slug("chart name", self.name)
        if len(self.sources) != len(self.x):
            raise ValueError(f"chart {self.name}: {len(self.sources)} sources for {len(self.x)} "
                             "points; give one source per x value")
        if self.departments is not None and len(self.departments) != len(self.x):
            raise ValueError(f"chart {self.name}: {len(self.departments)} departments for "
                             f"{len(self.x)} points")
        for s in self.series:
            if len(s.values) != len(self.x):
                raise ValueError(f"chart {self.name}: series {s.label.en!r} has {len(s.values)} "
                                 f"values for {len(self.x)} points")

    def as_table(self) -> Table:
        """The chart's figures as a table (CSV export, and the HTML's accessible data)."""
        kind: ColumnKind = "percent" if self.percent else "number"
        return Table(
            name=self.name, title=self.title,
            columns=(Column(self.x_label), *(Column(s.label, kind) for s in self.series)),
            rows=tuple(Row((x, *(s.values[i] for s in self.series)), self.sources[i],
                           self.departments[i] if self.departments else None)
                       for i, x in enumerate(self.x)))


@dataclass(frozen=True)
class Text:
    """A paragraph in both languages."""

    zh: str
    en: str
    source: Source | None = None


@dataclass(frozen=True)
class Heading:
    """A section heading (bilingual)."""

    label: Label


Section = Table | Chart | Text | Heading


@dataclass(frozen=True)
class Report:
    """One report of one kind for one period.

    ``as_of`` is when the data was final (the duty run's end), not when the file was
    made: rendering the same report twice gives the same bytes, so re-publishing an
    unchanged period changes nothing.
    """

    kind: str
    period: str
    title: Label
    as_of: datetime
    articles: str
    sections: tuple[Section, ...]
    audience: Audience = "compliance"
    summary: Label | None = None
    meta: tuple[tuple[Label, str], ...] = field(default=())
    #: A department edition's department (:func:`edition`); ``None`` for the whole report.
    department: str | None = None

    def __post_init__(self) -> None:
        _check_slug("report kind", self.kind)
        if len(self.kind) > KIND_MAX or not 0 < len(self.period) <= PERIOD_MAX:
            raise ValueError(f"report {self.kind}/{self.period}: kind at most {KIND_MAX} and "
                             f"period 1 to {PERIOD_MAX} characters")
        if as_naive(self.as_of):
            raise ValueError(f"report {self.kind}/{self.period}: as_of must carry a time zone")

    @property
    def stem(self) -> str:
        """The files' common name: ``sampling_audit-2026-Q4`` (``…-planning``, an edition)."""
        return f"{self.kind}-{self.period}" + (f"-{self.department}" if self.department else "")

    def tables(self) -> Iterator[Table]:
        """Every table, a chart's data included, in order (what the CSV export writes)."""
        for s in self.sections:
            if isinstance(s, Table):
                yield s
            elif isinstance(s, Chart):
                yield s.as_table()

    def sources(self) -> list[Source]:
        """Every distinct source in order of first use: note ``[n]`` is ``sources()[n-1]``."""
        seen: dict[Source, None] = {}
        for s in self.sections:
            if isinstance(s, Table):
                seen.update((r.source, None) for r in s.rows)
            elif isinstance(s, Chart):
                seen.update((src, None) for src in s.sources)
            elif isinstance(s, Text) and s.source is not None:
                seen[s.source] = None
        return list(seen)

    def note_numbers(self) -> dict[Source, int]:
        return {s: i for i, s in enumerate(self.sources(), start=1)}


def edition(report: Report, department: str, name: Label) -> Report:
    """The report as a head of ``department`` reads it (Art. 22: their department's and
    their people's scores): every row and chart point about another department dropped,
    the company-wide ones kept. A chart left without points becomes a line saying so."""
    sections: list[Section] = []
    for s in report.sections:
        if isinstance(s, Table):
            s = replace(s, rows=tuple(r for r in s.rows if r.department in (None, department)))
        elif isinstance(s, Chart) and s.departments is not None:
            keep = [i for i, d in enumerate(s.departments) if d in (None, department)]
            if not keep:
                sections.append(Text(f"{s.title.zh}：本部門無數據。",
                                     f"{s.title.en}: no figures for this department."))
                continue
            s = replace(s, x=tuple(s.x[i] for i in keep),
                        sources=tuple(s.sources[i] for i in keep),
                        departments=tuple(s.departments[i] for i in keep),
                        series=tuple(replace(v, values=tuple(v.values[i] for i in keep))
                                     for v in s.series))
        sections.append(s)
    return replace(report, department=department, sections=tuple(sections), meta=(
        *report.meta, (Label("部門版", "Department edition"),
                       f"{name.both()}：只含本部門的人員及部門數字，其餘為全公司數字 / only this "
                       "department's people and figures; the rest are the company's")))


def as_naive(moment: datetime) -> bool:
    return moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None


def _check_slug(what: str, name: str) -> None:
    if not _SLUG.match(name):
        raise ValueError(f"{what} {name!r}: lowercase letters, digits, '_' and '-' only")


def format_value(value: Value, kind: ColumnKind = "text") -> str:
    """A cell as people read it (PDF, HTML): percentages as ``98.5%``, None as ``—``."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    if kind == "percent" and isinstance(value, int | float | Decimal):
        return f"{float(value) * 100:.1f}%"
    if kind == "department" and isinstance(value, str):
        return department_label(value).both(" ")
    if isinstance(value, float):
        return f"{value:,.2f}" if kind == "number" else f"{value:g}"
    return str(value)


#: The reports of the policy, by ``report.kind``: their titles and who receives them.
KINDS: dict[str, tuple[Label, Audience]] = {
    "sampling_audit": (Label("季度全面檢查及抽查報告", "Quarterly full check and sampling audit"),
                       "compliance"),  # Arts. 12, 14
    "annual_update": (Label("年度檔案更新報告", "Annual dossier update report"),
                      "compliance"),  # Art. 12
    "qa_inspection": (Label("質量部專項檢查報告", "QA special inspection report"),
                      "management"),  # Art. 21
    "kpi_monthly": (Label("檔案工作考核指標（月度）", "Dossier work KPI scorecard, monthly"),
                    "management"),  # Art. 22
    "kpi_quarterly": (Label("檔案工作考核指標（季度）", "Dossier work KPI scorecard, quarterly"),
                      "management"),  # Art. 22
    "client_analysis": (Label("客戶檔案分析報告", "Client dossier analysis report"),
                        "management"),  # Art. 6(5)
    "audit_summary": (Label("檔案審計摘要", "Dossier audit summary"), "management"),  # Arts. 21, 22
    "compliance_check": (Label("季度合規檢查報告", "Quarterly compliance check report"),
                         "compliance_and_management"),  # Art. 20
    "backups": (Label("備份及恢復演練報告", "Backups and restore drills"),
                "compliance_and_management"),  # Arts. 14, 18
}

#: The kinds with rows about each department or person. A department head reads only their
#: department's edition of these (Art. 22: heads assess their departments and people); the
#: whole is for ``report.read_all`` (CS head, archivist, QA supervisor, management).
DEPARTMENT_EDITIONS: frozenset[str] = frozenset({
    "sampling_audit", "annual_update", "qa_inspection", "kpi_monthly", "kpi_quarterly",
    "audit_summary"})
#: An edition's formats: what a head reads in the UI's view (HTML) and in a spreadsheet (CSV).
#: No PDF: it takes 1.6 s to render one (the CJK font), six editions per report, and the
#: PDF is the mailed company-wide document of its recipients.
EDITION_FORMATS: tuple[Format, ...] = ("csv", "html")
