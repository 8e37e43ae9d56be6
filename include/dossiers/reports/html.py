"""The report as one self-contained HTML page: Jinja2 (autoescape on), charts as inline SVG.

Nothing is fetched when the page opens (no CDN, no script, no web font): styles are inline,
charts are SVG drawn by matplotlib with the text as outlines. A Content-Security-Policy
meta tag forbids scripts and remote loads, so even a page saved to disk and opened from
there cannot run anything a value smuggled in. The same page is served by the Airflow
plugin (``plugins/dossier_reports.py``) and attached to the managers' e-mail.

Jinja2 is imported inside the functions that render: the report pages and the duties import
this package's modules for every request, and most of those draw no page.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from dossiers.core.config import SHANGHAI
from dossiers.reports.charts import chart_svg
from dossiers.reports.model import (
    NONE_THIS_PERIOD,
    Chart,
    Heading,
    Report,
    Source,
    Table,
    Text,
    format_value,
)

if TYPE_CHECKING:
    from jinja2 import Environment

#: No scripts, no remote anything: inline styles and data: images only.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'")


@cache
def environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("dossiers.reports", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["shanghai"] = lambda moment: moment.astimezone(SHANGHAI).strftime(
        "%Y-%m-%d %H:%M")
    return env


def _table_view(table: Table, notes: dict[Source, int]) -> dict[str, Any]:
    return {
        "title": table.title, "note": table.note, "columns": table.columns,
        "numeric": [c.kind in ("int", "number", "percent") for c in table.columns],
        "rows": [([format_value(v, c.kind) for v, c in zip(r.cells, table.columns, strict=True)],
                  notes[r.source]) for r in table.rows],
    }


def render_html(report: Report) -> str:
    """The whole page as a string (UTF-8 when written)."""
    notes = report.note_numbers()
    sections: list[dict[str, Any]] = []
    for s in report.sections:
        if isinstance(s, Heading):
            sections.append({"type": "heading", "label": s.label})
        elif isinstance(s, Text):
            sections.append({"type": "text", "text": s,
                             "note": notes[s.source] if s.source is not None else None})
        elif isinstance(s, Table):
            sections.append({"type": "table", **_table_view(s, notes)})
        elif isinstance(s, Chart):
            # The SVG is ours (matplotlib's output, text as outlines, comments removed).
            sections.append({"type": "chart", "name": s.name, "title": s.title,
                             "svg": Markup(chart_svg(s)),
                             "data": _table_view(s.as_table(), notes)})
    return environment().get_template("report.html.j2").render(
        report=report, sections=sections, sources=report.sources(), csp=CSP,
        none_this_period=NONE_THIS_PERIOD)
