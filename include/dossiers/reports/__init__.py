"""Compliance and management reports: one typed model, three renderers, one publisher.

- :mod:`~dossiers.reports.model`: :class:`Report` with :class:`Table`, :class:`Chart`,
  :class:`Text` sections; every figure carries its :class:`Source` (duty run, ledger seq).
- :func:`~dossiers.reports.pdf.render_pdf` (fpdf2, CJK font embedded),
  :func:`~dossiers.reports.csv.render_csv` (UTF-8 with BOM, formulas neutralised),
  :func:`~dossiers.reports.html.render_html` (Jinja2, inline SVG charts).
- :func:`~dossiers.reports.publish.publish`: store (local folder or S3), record in
  ``report``, ledger; :func:`~dossiers.reports.publish.send` e-mails what changed.
- :mod:`~dossiers.reports.builders`: reports built from the duties' records.

Importing this package imports no renderer (matplotlib, fpdf2 and Jinja2 load on use).
"""

from __future__ import annotations

from dossiers.reports.model import (
    KINDS,
    Chart,
    Column,
    Heading,
    Label,
    Report,
    Row,
    Series,
    Source,
    Table,
    Text,
)

__all__ = ["KINDS", "Chart", "Column", "Heading", "Label", "Report", "Row", "Series", "Source",
           "Table", "Text"]
