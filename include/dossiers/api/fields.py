"""Constrained request types shared by the routers: checked before the domain sees them.

Text is one line with no control characters (PostgreSQL refuses NUL; the ledger and the
access log are read by people), bounded in length; numbers fit their columns.
"""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel, Field, StringConstraints

from dossiers.core import paging

T = TypeVar("T")

#: No control characters (C0, DEL): one printable line.
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"


def one_line(max_length: int, min_length: int = 1) -> object:
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=ONE_LINE)


#: A free-text reason or purpose (Art. 16; a rejection's reason for the liaison).
Reason = Annotated[str, one_line(1000)]

#: What a query grant may cover (``dossiers.core.schema.QUERY_SCOPES``).
Scope = Literal["basic", "contacts", "market", "cooperation", "needs", "other", "vault",
                "personal", "documents"]
Stage = Literal["potential", "active", "terminated"]

#: ``海外-<year>-<type code>-<serial>`` (Art. 11); URL-encode it in a path.
DossierNo = Annotated[str, Path(
    min_length=1, max_length=64, pattern=ONE_LINE,
    description="the dossier number, e.g. 海外-2026-電商-001 (URL-encoded in the path)",
    examples=["海外-2026-電商-001"],
)]


# --- pages of a list (dossiers.core.paging) ---------------------------------------------------

#: Rows in a page of a list: 1 to ``paging.MAX_LIMIT`` (more is a 422, not quietly fewer).
Limit = Annotated[int, Query(
    ge=1, le=paging.MAX_LIMIT,
    description=f"rows in the page (default {paging.DEFAULT_LIMIT}, at most {paging.MAX_LIMIT})",
)]

#: Where a page starts: the ``next`` of the page before, as it came (opaque).
After = Annotated[str | None, Query(
    min_length=1, max_length=paging.CURSOR_MAX, pattern=paging.CURSOR_PATTERN,
    description="the `next` of the previous page, unchanged; absent for the first page",
)]


class Page(BaseModel, Generic[T]):
    """A page of a list, in the list's order: ``next`` is where the following page starts
    (send it as ``after``), ``null`` on the last page."""

    items: list[T]
    next: str | None = Field(description="pass as `after` for the next page; null when "
                                         "this page is the last")
