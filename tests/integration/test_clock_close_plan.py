"""Closing a clock stays an index lookup however stale the table's statistics (issue 16).

Every step of creation closes a clock of one subject (the form reviewed, the dossier
created or filed). Written as ``subject_id = ANY(array)``, PostgreSQL 15 planned that close
with the array left out of the index scan whenever the statistics were older than the
rows: it then filtered every open clock of the kinds named, and each close cost more with
every dossier (2-5 ms after 4,000; creation's throughput halved between 2,000 and 10,000
forms). The test reproduces that state (statistics taken while the table holds only the
forms' review clocks, then thousands of the creation's and filing's) and reads the plan
PostgreSQL makes for the statement the hot paths send.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from dossiers.calendar import clocks
from dossiers.core import db

pytestmark = pytest.mark.integration

KINDS = ("filing", "new_client_creation", "legacy_backfill")


def _scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan] if "Index Cond" in plan or plan.get("Node Type") == "Seq Scan" else []
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


def _plan(conn: Any, statement: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The plan PostgreSQL makes for the driver-level statement, as the hot path sends it."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        cur.execute(f"EXPLAIN (FORMAT JSON) {statement}", params)
        (plan,) = cur.fetchone()
        return dict(plan[0]["Plan"])


def test_the_close_of_one_clock_names_its_subject_in_the_index_scan(database_url: str) -> None:
    with db.transaction() as conn:
        # Statistics taken while the table holds only other clocks (the forms' review
        # clocks, written by an import)...
        conn.execute(text(
            "INSERT INTO clock (kind, subject_type, subject_id, article, started_on, due_on) "
            "SELECT 'form_review', 'form', gen_random_uuid()::text, 'Art. 11', "
            "DATE '2026-03-02', DATE '2026-03-04' FROM generate_series(1, 2000)"))
    with db.transaction(db.get_engine(app_role=False)) as conn:  # the table's owner
        conn.execute(text("ANALYZE clock"))
    with db.transaction() as conn:
        # ... then thousands of the creation's and filing's, faster than autovacuum
        # analyses them.
        conn.execute(text(
            "INSERT INTO clock (kind, subject_type, subject_id, article, started_on, due_on) "
            "SELECT k, 'dossier', gen_random_uuid()::text, 'Art. 15', DATE '2026-03-02', "
            "DATE '2026-03-05' FROM unnest(CAST(:kinds AS text[])) k, generate_series(1, 5000)"),
            {"kinds": list(KINDS)})
        subject = conn.execute(text(
            "SELECT subject_id FROM clock WHERE kind = 'filing' LIMIT 1")).scalar_one()
        statement, params = clocks.close_clock_sql(KINDS, "dossier", [subject],
                                                   datetime(2026, 3, 3, tzinfo=UTC))
        sql, bound = statement.bind(params)
        scans = _scans(_plan(conn, sql, bound))

        assert scans, "no scan of the clock table in the plan"
        for scan in scans:
            assert scan.get("Node Type") != "Seq Scan", scan
            assert "subject_id" in scan.get("Index Cond", ""), (
                f"the subject is filtered, not looked up: {scan}")
            assert "subject_id" not in scan.get("Filter", ""), scan

        # And the close does what it says: that clock is met, no other.
        clocks.close_clock(conn, KINDS, "dossier", subject, datetime(2026, 3, 3, tzinfo=UTC))
        met = conn.execute(text("SELECT subject_id FROM clock WHERE met_at IS NOT NULL")
                           ).scalars().all()
        assert met == [subject]
