"""Small, realistic documents made on the spot (``dossier seed``, the tests): a PDF, a DOCX,
an XLSX and a PNG, each a few kilobytes, with the text given (English: the PDF's built-in
font has no CJK glyphs). Development only.
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence


def pdf(title: str, lines: Sequence[str]) -> bytes:
    """A one-page PDF; its text is stored uncompressed (a test can find it in the bytes)."""
    from fpdf import FPDF

    doc = FPDF()
    doc.set_compression(False)
    doc.add_page()
    doc.set_font("helvetica", "B", 16)
    doc.cell(text=title, new_x="LMARGIN", new_y="NEXT")
    doc.set_font("helvetica", size=11)
    for line in lines:
        doc.multi_cell(0, 6, text=line, new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


def docx(title: str, paragraphs: Sequence[str]) -> bytes:
    import docx as python_docx

    doc = python_docx.Document()
    doc.add_heading(title, level=1)
    for paragraph in paragraphs:
        doc.add_paragraph(paragraph)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def xlsx(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def png(seed: int, size: tuple[int, int] = (120, 80)) -> bytes:
    """A small chart-like image (bars of random heights)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    width = size[0] // 8
    for i in range(8):
        height = rng.randint(5, size[1] - 5)
        draw.rectangle((i * width + 2, size[1] - height, (i + 1) * width - 2, size[1]),
                       fill=(40 + 20 * i, 90, 160))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
