"""Helpers shared by every CSV/XLSX export.

A collection-form value that begins with ``=``, ``+``, ``-`` or ``@`` is kept at intake
exactly as written (``collection-form.md``, *Text*); it is neutralised only on the way
out, so a spreadsheet that opens an export never runs it as a formula (Art. 18, Art. 19:
dossier contents must not become an attack on whoever reads them).
"""

from __future__ import annotations

#: Leading characters a spreadsheet may treat as the start of a formula (or, for tab and
#: carriage return, that hide one): the OWASP "CSV injection" list.
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def neutralise_for_spreadsheet(value: str) -> str:
    """Return *value* safe to write into a CSV or XLSX cell.

    A value starting with one of :data:`FORMULA_TRIGGERS` gets a leading apostrophe so
    the spreadsheet shows it as text; anything else is returned unchanged. The apostrophe
    is added once per export: exporting an exported value again adds another, which is
    the point (the stored value never changes).
    """
    if value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value
