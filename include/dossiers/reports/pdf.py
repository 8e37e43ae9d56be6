"""The PDF of record, by fpdf2 with the CJK TrueType font embedded (subset).

fpdf2 is pure Python (on fontTools and Pillow, both already installed for matplotlib),
embeds and subsets TrueType fonts as CID fonts with a ToUnicode map, so Chinese shows in
any viewer and ``pdftotext`` extracts it. No browser or system library is needed to render.
The same :class:`~dossiers.reports.model.Report` gives the same bytes (creation date is the
report's ``as_of``), so re-publishing an unchanged period changes nothing.

fpdf2 is imported inside the functions that render: the report pages and the duties import
this package's modules for every request, and most of those draw no PDF.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any

from dossiers.core.config import SHANGHAI
from dossiers.reports.charts import chart_png
from dossiers.reports.fonts import cjk_font
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
    from fpdf import FPDF

FONT = "cjk"
GREY = (90, 90, 90)
HEAD_FILL = (226, 234, 244)
SOURCE = ("來源", "Source")


def render_pdf(report: Report) -> bytes:
    """The report as a PDF (A4), with its sources as numbered notes in an appendix."""
    from fpdf import FPDF

    notes = report.note_numbers()

    class _Pdf(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(FONT, size=8)
            self.set_text_color(*GREY)
            self.cell(0, 5, f"{report.title.zh} {report.period} · 第 {self.page_no()} 頁 / "
                            f"Page {self.page_no()} of {{nb}}", align="C")

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # subsetting logs every glyph
    widest = max((len(t.columns) for t in report.tables()), default=0)
    # A table of more than seven columns (the source column included) needs landscape.
    pdf = _Pdf(orientation="L" if widest + 1 > 7 else "P", format="A4", unit="mm")
    font = cjk_font()
    pdf.add_font(FONT, fname=str(font.path), collection_font_number=font.index)
    pdf.set_creation_date(report.as_of)
    pdf.set_title(report.title.both())
    pdf.set_subject(f"{report.kind} {report.period}")
    pdf.set_creator("dossiers.reports")
    pdf.set_lang("zh")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()

    pdf.set_font(FONT, size=18)
    pdf.multi_cell(0, 9, report.title.zh, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=13)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(0, 7, report.title.en, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(FONT, size=9.5)
    meta = [(("期間", "Period"), report.period),
            (("數據截至", "Data as of"),
             report.as_of.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M (Asia/Shanghai)")),
            (("依據條款", "Articles"), report.articles),
            *(((label.zh, label.en), value) for label, value in report.meta)]
    for (zh, en), value in meta:
        pdf.multi_cell(0, 5, f"{zh} {en}: {value}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    if report.summary is not None:
        pdf.ln(2)
        _paragraph(pdf, Text(report.summary.zh, report.summary.en), notes)

    for section in report.sections:
        if isinstance(section, Heading):
            if pdf.get_y() > pdf.page_break_trigger - 40:
                pdf.add_page()  # no heading alone at the foot of a page
            pdf.ln(3)
            pdf.set_font(FONT, size=13)
            pdf.multi_cell(0, 7, section.label.both("  "), new_x="LMARGIN", new_y="NEXT")
        elif isinstance(section, Text):
            _paragraph(pdf, section, notes)
        elif isinstance(section, Table):
            _table(pdf, section, notes)
        elif isinstance(section, Chart):
            _chart(pdf, section, notes, report.stem)

    _appendix(pdf, report.sources())
    return bytes(pdf.output())


def _caption(pdf: FPDF, text: str) -> None:
    pdf.ln(2)
    pdf.set_font(FONT, size=10.5)
    pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")


def _paragraph(pdf: FPDF, text: Text, notes: dict[Source, int]) -> None:
    mark = f" [{notes[text.source]}]" if text.source is not None else ""
    pdf.set_font(FONT, size=10)
    pdf.multi_cell(0, 5.5, text.zh + mark, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*GREY)
    pdf.multi_cell(0, 5.5, text.en + mark, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(1.5)


def _table(pdf: FPDF, table: Table, notes: dict[Source, int]) -> None:
    from fpdf.fonts import FontFace

    if pdf.get_y() > pdf.page_break_trigger - 25:
        pdf.add_page()  # a caption stays with at least the head of its table
    _caption(pdf, table.title.both("  "))
    if not table.rows:
        pdf.set_font(FONT, size=9)
        pdf.multi_cell(0, 5, NONE_THIS_PERIOD.both(), new_x="LMARGIN", new_y="NEXT")
        return
    headers = [f"{c.label.zh}\n{c.label.en}" for c in table.columns] + ["\n".join(SOURCE)]
    body = [[format_value(v, c.kind) for v, c in zip(row.cells, table.columns, strict=True)]
            + [f"[{notes[row.source]}]"] for row in table.rows]
    weights = [min(40, max(5, *(len(line) for line in h.split("\n")),
                           *(len(r[i]) for r in body))) for i, h in enumerate(headers)]
    align: list[Any] = ["RIGHT" if c.kind in ("int", "number", "percent") else "LEFT"
                        for c in table.columns] + ["CENTER"]
    pdf.set_font(FONT, size=8.5)
    with pdf.table(col_widths=tuple(weights), text_align=tuple(align), line_height=4.6,
                   headings_style=FontFace(emphasis=None, fill_color=HEAD_FILL),
                   padding=1, first_row_as_headings=True) as out:
        for cells in [headers, *body]:
            row = out.row()
            for cell in cells:
                row.cell(cell)
    if table.note is not None:
        pdf.set_font(FONT, size=8.5)
        pdf.set_text_color(*GREY)
        pdf.multi_cell(0, 4.5, table.note.both("  "), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)


def _chart(pdf: FPDF, chart: Chart, notes: dict[Source, int], stem: str) -> None:

    width = pdf.epw
    if pdf.get_y() + 12 + width * 3.0 / 7.2 > pdf.page_break_trigger:
        pdf.add_page()  # keep the caption with its chart
    _caption(pdf, chart.title.both("  "))
    pdf.image(io.BytesIO(chart_png(chart)), w=width)
    marks = ", ".join(f"{x} [{notes[s]}]" for x, s in zip(chart.x, chart.sources, strict=True))
    pdf.set_font(FONT, size=8.5)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(0, 4.5, f"數據來源 Data sources: {marks}; 數據見 CSV / figures in CSV "
                           f"{stem}-{chart.name}.csv", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


def _appendix(pdf: FPDF, sources: list[Source]) -> None:
    _caption(pdf, "附錄：數據來源  Appendix: sources of the figures")
    pdf.set_font(FONT, size=8.5)
    pdf.multi_cell(0, 4.5, "每個數字均可追溯至其職責運行（duty_run）及檔案管理臺賬條目（ledger seq）。"
                           "\nEach figure traces to the duty run (duty_run) and the ledger entry "
                           "(ledger seq) it came from.", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    for n, source in enumerate(sources, start=1):
        pdf.multi_cell(0, 4.5, f"[{n}] {source.ref()}", new_x="LMARGIN", new_y="NEXT")
