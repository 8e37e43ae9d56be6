"""Constrained request types shared by the routers: checked before the domain sees them.

Text is one line with no control characters (PostgreSQL refuses NUL; the ledger and the
access log are read by people), bounded in length; numbers fit their columns.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path
from pydantic import StringConstraints

#: No control characters (C0, DEL): one printable line.
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"


def one_line(max_length: int, min_length: int = 1) -> object:
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=ONE_LINE)


#: A free-text reason or purpose (Art. 16; a rejection's reason for the liaison).
Reason = Annotated[str, one_line(1000)]

#: What a query grant may cover (``dossiers.core.schema.QUERY_SCOPES``).
Scope = Literal["basic", "contacts", "market", "cooperation", "needs", "other", "vault",
                "personal"]
Stage = Literal["potential", "active", "terminated"]

#: ``海外-<year>-<type code>-<serial>`` (Art. 11); URL-encode it in a path.
DossierNo = Annotated[str, Path(
    min_length=1, max_length=64, pattern=ONE_LINE,
    description="the dossier number, e.g. 海外-2026-電商-001 (URL-encoded in the path)",
    examples=["海外-2026-電商-001"],
)]
