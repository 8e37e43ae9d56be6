"""Pages of a list: every list the API and the CLI give comes in pages (keyset pagination).

A list is ordered by a key that is unique per row (e.g. ``(submitted_at, id)``); a page is
at most ``limit`` rows after a position, chosen in SQL (``WHERE key > position ORDER BY
key LIMIT limit + 1``), never by slicing a whole list in Python. The position is a
*cursor*: the key of the last row of the previous page, encoded so that it is opaque to
clients (base64url of a small JSON array naming the list), so the next page starts right
after that row however rows before it change. A page says where the next one starts
(``next``), or ``None`` when it is the last.

The limits are here and nowhere else: :data:`DEFAULT_LIMIT` rows unless asked otherwise,
never more than :data:`MAX_LIMIT`.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Select, literal, tuple_
from sqlalchemy.sql.elements import ColumnElement

from dossiers.core.errors import Refused

#: Rows of a page when the caller does not say.
DEFAULT_LIMIT = 100
#: The most rows one page may hold (a larger ``limit`` is refused, not quietly cut).
MAX_LIMIT = 1000
#: The longest cursor accepted (a vault cursor holds a cabinet's name: 64 characters of
#: CJK, the API's bound, encode to about 400).
CURSOR_MAX = 4096
#: The characters of a cursor (base64url without padding).
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"

T = TypeVar("T")


class BadPage(Refused):
    """A limit out of range or a cursor no list gave: bad arguments, so the CLI exits 2
    (``cli.md``); the API answers 422 like any other refused request."""

    exit_status = 2


@dataclass(frozen=True)
class Page(Generic[T]):
    """Up to ``limit`` rows of a list, in its order; ``next`` is the cursor of the rows
    after them (pass it as ``after``), ``None`` on the last page."""

    items: list[T]
    next: str | None


def check_limit(limit: int, name: str) -> int:
    """``limit`` when it is 1 to :data:`MAX_LIMIT`; otherwise refused, naming the field."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise BadPage(f"must be a whole number from 1 to {MAX_LIMIT}", record=name,
                        field="limit")
    return limit


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def encode(name: str, key: Sequence[Any]) -> str:
    """The cursor of the position right after a row whose key is ``key``, in list ``name``."""
    raw = json.dumps([name, *map(_plain, key)], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _typed(value: Any, column: ColumnElement[Any]) -> Any:
    """A cursor's value as the column's Python type (ValueError/TypeError when it is not)."""
    kind = column.type.python_type
    if kind is datetime:
        if not isinstance(value, str):
            raise TypeError
        found = datetime.fromisoformat(value)
        if found.tzinfo is None:  # every stored time is aware (UTC); a cursor's is too
            raise ValueError
        return found
    if kind is date:
        return date.fromisoformat(value)
    if kind is uuid.UUID:
        return uuid.UUID(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
            raise TypeError
        return value
    if kind is str:
        if not isinstance(value, str) or "\x00" in value:
            raise TypeError
        return value
    raise TypeError  # a key of another type needs its case here


def decode(name: str, cursor: str, key: Sequence[ColumnElement[Any]]) -> list[Any]:
    """The key a cursor of list ``name`` holds, typed as ``key``'s columns; refused (naming
    the field ``after``) when the cursor is not one this list gave."""
    try:
        if len(cursor) > CURSOR_MAX:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw.decode())
        if not isinstance(values, list) or len(values) != len(key) + 1 or values[0] != name:
            raise ValueError
        return [_typed(v, c) for v, c in zip(values[1:], key, strict=True)]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise BadPage("is not a cursor of this list (pass the `next` of the page before, "
                        "unchanged)", record=name, field="after") from None


def fetch(conn: Connection, name: str, query: Select[Any], key: Sequence[ColumnElement[Any]],
          *, limit: int = DEFAULT_LIMIT, after: str | None = None) -> Page[Any]:
    """One page of ``query``'s rows in ``key`` order (ascending; ``key`` unique per row),
    after the cursor ``after``: the keyset condition, the order and ``LIMIT`` are SQL.

    ``query`` carries its filters (who may see what) and no ORDER BY or LIMIT of its own.
    """
    check_limit(limit, name)
    labels = [f"_page_key_{i}" for i in range(len(key))]
    query = query.add_columns(*(c.label(k) for c, k in zip(key, labels, strict=True)))
    if after is not None:
        position = decode(name, after, key)
        query = query.where(tuple_(*key) > tuple_(*(literal(v, c.type) for v, c in
                                                    zip(position, key, strict=True))))
    rows = conn.execute(query.order_by(*key).limit(limit + 1)).all()
    if len(rows) <= limit:
        return Page(list(rows), None)
    last = rows[limit - 1]._mapping
    return Page(list(rows[:limit]), encode(name, [last[k] for k in labels]))
