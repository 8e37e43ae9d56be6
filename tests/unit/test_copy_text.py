"""COPY's text format, as an import's workers spell its rows (issue 16)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from dossiers.core.db import copy_line, copy_value


def test_values_are_spelled_as_copy_reads_them() -> None:
    at = datetime(2026, 12, 7, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    form_id = uuid.UUID(int=1)
    assert copy_line([form_id, None, True, False, 7, date(2026, 12, 7), at, b"\x00\xff",
                      "plain"]) == (f"{form_id}\t\\N\tt\tf\t7\t2026-12-07\t"
                                    "2026-12-07T09:30:00+08:00\t\\\\x00ff\tplain\n")


def test_text_delimiters_and_backslashes_are_escaped() -> None:
    assert copy_value('a\\b\tc\nd\re "é"') == 'a\\\\b\\tc\\nd\\re "é"'
    assert copy_value("\\N") == "\\\\N"  # a backslash-N string is not NULL
