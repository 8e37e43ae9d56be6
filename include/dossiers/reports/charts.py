"""Charts drawn by matplotlib: inline SVG for the HTML, PNG for the PDF.

Text is drawn as glyph outlines from the embedded CJK font (``svg.fonttype = "path"``), so
the SVG shows the same Chinese in any browser or mail client with no font installed, and
carries no text a label could smuggle markup in with: matplotlib's ``<!-- label -->``
comments are removed and every ``id`` is prefixed per chart, so several charts inline in
one page never share an id. Output is deterministic (fixed hash salt, no date).

matplotlib is imported inside the functions that render: the report pages and the duties import
this package's modules for every request, and most of those draw no chart.
"""

from __future__ import annotations

import html
import io
import re
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from dossiers.reports.fonts import cjk_font
from dossiers.reports.model import Chart

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PALETTE = ("#1f5fa8", "#d9822b", "#3a9a5b", "#b3413b", "#7a5195", "#6b6b6b")
_ID = re.compile(r'\bid="([^"]+)"')
_COMMENT = re.compile(r"<!--.*?-->", re.S)


@cache
def _family(path: str) -> str:
    from matplotlib import font_manager

    font_manager.fontManager.addfont(path)
    return str(font_manager.FontProperties(fname=path).get_name())


def _rc() -> Any:  # matplotlib types the keys as literals
    family = _family(str(cjk_font().path))
    return {"font.family": [family, "DejaVu Sans"], "svg.fonttype": "path",
            "svg.hashsalt": "dossier-reports", "axes.unicode_minus": False, "font.size": 9}


def _figure(chart: Chart) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    fig = Figure(figsize=(7.2, 3.0), dpi=100, layout="constrained")
    ax = fig.subplots()
    xs = list(range(len(chart.x)))
    n = max(1, len(chart.series))
    width = 0.8 / n
    for i, s in enumerate(chart.series):
        values = [float("nan") if v is None else float(v) for v in s.values]
        color = PALETTE[i % len(PALETTE)]
        if chart.kind == "line":
            ax.plot(xs, values, marker="o", color=color, label=s.label.both(" "))
        else:
            offset = (i - (n - 1) / 2) * width
            ax.bar([x + offset for x in xs], values, width=width * 0.95, color=color,
                   label=s.label.both(" "))
    ax.set_xticks(xs, list(chart.x))
    ax.set_xlim(-0.5, len(xs) - 0.5)  # the caption above the chart carries its title
    ax.set_xlabel(chart.x_label.both(" "))
    ax.set_ylabel(chart.y_label.both(" "))
    if chart.percent:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylim(0, 1.05)
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    if len(chart.series) > 1 or chart.kind == "line":
        ax.legend(loc="best", frameon=False)
    return fig


#: A drawn chart depends only on the (frozen) chart: a report's department editions carry its
#: trend charts unchanged, and ``make demo`` publishes a year of reports in one process, so
#: each distinct chart is drawn once rather than once per edition (≈ 0.3 s a chart).
_DRAWN = 256


def _hashable(chart: Chart) -> bool:
    try:
        hash(chart)
    except TypeError:  # a chart built with lists: drawn each time
        return False
    return True


def chart_svg(chart: Chart) -> str:
    """The chart as an ``<svg>`` element to inline in HTML (no XML prolog)."""
    return _svg(chart) if _hashable(chart) else _svg.__wrapped__(chart)


def chart_png(chart: Chart, dpi: int = 200) -> bytes:
    """The chart as a PNG (for the PDF)."""
    return _png(chart, dpi) if _hashable(chart) else _png.__wrapped__(chart, dpi)


@lru_cache(maxsize=_DRAWN)
def _svg(chart: Chart) -> str:
    import matplotlib

    with matplotlib.rc_context(_rc()):
        fig = _figure(chart)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = _COMMENT.sub("", buf.getvalue())
    svg = svg[svg.index("<svg"):]
    prefix = f"{chart.name}-"
    ids = set(_ID.findall(svg))
    svg = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r'(href="#|url\(#)([^")]+)', lambda m: m.group(1) + (
        prefix + m.group(2) if m.group(2) in ids else m.group(2)), svg)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(chart.title.both())}" ', 1)


@lru_cache(maxsize=_DRAWN)
def _png(chart: Chart, dpi: int) -> bytes:
    import matplotlib

    with matplotlib.rc_context(_rc()):
        fig = _figure(chart)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def _attr(text: str) -> str:
    return html.escape(text, quote=True)
