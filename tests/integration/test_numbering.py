"""Dossier numbers (Art. 11): unique, gapless per year and type, never reused."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import text

from dossiers.core import db, numbering
from dossiers.core.errors import Refused

pytestmark = pytest.mark.integration


def _allocate(year: int, type_code: str) -> str:
    with db.transaction() as conn:
        return numbering.allocate(conn, year, type_code, uuid.uuid4())


def test_format_and_sequence(database_url: str) -> None:
    assert [_allocate(2026, "電商") for _ in range(3)] == [
        "海外-2026-電商-001", "海外-2026-電商-002", "海外-2026-電商-003"]
    assert _allocate(2026, "協會") == "海外-2026-協會-001"
    assert _allocate(2027, "電商") == "海外-2027-電商-001"


def test_more_than_three_digits_when_needed() -> None:
    assert numbering.format_number(2026, "外貿", 1000) == "海外-2026-外貿-1000"
    assert numbering.NUMBER_PATTERN.match("海外-2026-外貿-1000")


def test_rolled_back_creation_leaves_no_gap(database_url: str) -> None:
    _allocate(2026, "本土")
    with pytest.raises(RuntimeError), db.transaction() as conn:
        numbering.allocate(conn, 2026, "本土", uuid.uuid4())
        raise RuntimeError("creation failed after numbering")
    assert _allocate(2026, "本土") == "海外-2026-本土-002"


def test_numbers_are_never_deleted_so_never_reused(database_url: str) -> None:
    _allocate(2026, "電商")
    with pytest.raises(psycopg.errors.InsufficientPrivilege), \
            psycopg.connect(database_url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute("DELETE FROM dossier_number")
    assert _allocate(2026, "電商") == "海外-2026-電商-002"


def test_unknown_type_refused(database_url: str) -> None:
    with pytest.raises(Refused, match="client_type"), db.transaction() as conn:
        numbering.allocate(conn, 2026, "XX", uuid.uuid4())


def test_concurrent_creators_get_distinct_gapless_numbers(database_url: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(lambda _: _allocate(2026, "電商"), range(200)))
    assert len(set(numbers)) == 200
    with db.transaction() as conn:
        serials = conn.execute(text(
            "SELECT serial FROM dossier_number WHERE year = 2026 AND type_code = '電商' ORDER BY 1"
        )).scalars().all()
    assert serials == list(range(1, 201))
