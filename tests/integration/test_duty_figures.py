"""The duties that produce figures, on a seeded company with a year of history: the KPI
scorecard, the client analysis, the QA inspection, the inactive sweep, the annual refresh.

Each figure is checked against the database by a plain query, and each duty run twice for
one period to show that the second changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import text

from dossiers.core import db, directory
from dossiers.core.crypto import KeyRing
from dossiers.core.errors import Refused
from dossiers.duties import analysis, annual, inactive, kpi
from dossiers.workflows import lifecycle, updates

pytestmark = pytest.mark.integration


def _one(sql: str, **params):
    with db.transaction() as conn:
        return conn.execute(text(sql), params).scalar()


@pytest.fixture
def seeded(cli, database_url) -> None:
    assert cli("seed", "--clients", "150", "--seed", "5").status == 0


def test_kpi_scorecard_matches_the_clocks(seeded) -> None:
    with db.transaction() as conn:
        card = kpi.scorecard(conn, "quarter", date(2026, 7, 1))
    filing = card["departments"]
    total = sum(d.get("filing_conformity", {}).get("total", 0) for d in filing.values())
    met = sum(d.get("filing_conformity", {}).get("met", 0) for d in filing.values())
    assert total == _one(
        "SELECT count(*) FROM clock WHERE kind = 'filing' AND met_at >= "
        "'2026-07-01 00:00+08' AND met_at < '2026-10-01 00:00+08'")
    assert met == _one(
        "SELECT count(*) FROM clock WHERE kind = 'filing' AND met_at >= "
        "'2026-07-01 00:00+08' AND met_at < '2026-10-01 00:00+08' "
        "AND met_at < timezone('Asia/Shanghai', due_on + 1)")
    assert total > met > 0  # the seed has late filings: the scorecard must show them
    with db.transaction() as conn:
        assert "skipped" in kpi.scorecard(conn, "quarter", date(2026, 7, 1))
    assert _one("SELECT count(*) FROM ledger_entry WHERE action = 'duty.kpi_quarter'") == 1


def test_client_analysis_counts_every_client(seeded) -> None:
    with db.transaction() as conn:
        figures = analysis.client_analysis(conn, date(2026, 10, 1))
    assert sum(figures["by_type"].values()) == _one(
        "SELECT count(*) FROM dossier WHERE status <> 'destroyed'")
    assert sum(figures["by_stage"].values()) == sum(figures["by_type"].values())
    assert len(figures["by_market"]) >= 10
    assert figures["satisfaction_by_type"] and figures["new_dossiers_by_month"]


def test_qa_inspection_reports_completeness_by_department(seeded) -> None:
    from dossiers.duties.findings import Gap

    with db.transaction() as conn:
        some = conn.execute(text("SELECT id, department FROM dossier WHERE status = 'open' "
                                 "ORDER BY dossier_no LIMIT 3")).all()
        figures = analysis.qa_inspection(conn, date(2026, 7, 1), [
            Gap(r.id, "basic.x", "Art. 10", "basic", "error", "missing") for r in some],
            ledger_ok=True)
    per_department = figures["completeness_by_department"]
    assert sum(d["with_errors"] for d in per_department.values()) == 3
    assert figures["ledger_intact"] is True


def test_inactive_sweep_opens_six_month_reviews_and_keep_closes_them(seeded) -> None:
    with db.transaction() as conn:
        summary = inactive.sweep(conn, date(2026, 11, 1), date(2026, 11, 27))
    expected = _one("SELECT count(*) FROM dossier WHERE stage = 'terminated' AND "
                    "further_cooperation IS FALSE AND status = 'open'")
    assert summary["reviews_opened"] == expected > 0
    with db.transaction() as conn:
        assert "skipped" in inactive.sweep(conn, date(2026, 11, 1), date(2026, 11, 27))
        number = conn.execute(text(
            "SELECT d.dossier_no FROM dossier d JOIN clock c ON c.subject_id = d.id::text "
            "AND c.kind = 'inactive_review' ORDER BY 1 LIMIT 1")).scalar_one()
        archivist = conn.execute(text(
            "SELECT s.username FROM staff s JOIN staff_role r ON r.staff_id = s.id "
            "WHERE r.role = 'archivist' LIMIT 1")).scalar_one()
    with db.transaction() as conn:
        actor = directory.load_actor(conn, archivist)
        with pytest.raises(Refused, match="why"):
            lifecycle.keep_terminated(conn, actor, number, reason=" ")
        lifecycle.keep_terminated(conn, actor, number, reason="reference for renewals")
    assert _one("SELECT status FROM dossier WHERE dossier_no = :n", n=number) == "terminated_kept"
    assert _one("SELECT met_at IS NOT NULL FROM clock c JOIN dossier d ON c.subject_id = "
                "d.id::text WHERE c.kind = 'inactive_review' AND d.dossier_no = :n", n=number)


def test_annual_campaign_reaches_every_open_dossier_and_an_update_completes_it(seeded) -> None:
    with db.transaction() as conn:
        summary = annual.open_campaign(conn, date(2026, 12, 1))
    open_dossiers = _one("SELECT count(*) FROM dossier WHERE status = 'open'")
    assert summary["campaign_dossiers"] == open_dossiers
    assert summary["due"] == "2026-12-31"
    with db.transaction() as conn:
        assert "skipped" in annual.open_campaign(conn, date(2026, 12, 2))
        row = conn.execute(text(
            "SELECT d.dossier_no, s.username, d.department FROM dossier d "
            "JOIN staff s ON s.id = d.liaison_id WHERE d.status = 'open' AND s.active "
            "ORDER BY d.dossier_no LIMIT 1")).one()
        head = conn.execute(text(
            "SELECT s.username FROM staff s JOIN staff_role r ON r.staff_id = s.id "
            "WHERE r.role = 'dept_head' AND s.department = :d AND s.username <> :u LIMIT 1"),
            {"d": row.department, "u": row.username}).scalar_one()
        archivist = conn.execute(text(
            "SELECT s.username FROM staff s JOIN staff_role r ON r.staff_id = s.id "
            "WHERE r.role = 'archivist' LIMIT 1")).scalar_one()
    keys = KeyRing()
    with db.transaction() as conn:
        change = updates.submit(conn, keys, directory.load_actor(conn, row.username), row.dossier_no,
                                {"honours": "2026 campaign check"}, reason="annual update",
                                evidence="client call", collection_channel="phone")
    change_id = uuid.UUID(change["change_id"])
    with db.transaction() as conn:
        updates.review(conn, directory.load_actor(conn, head), change_id, approve=True)
    with db.transaction() as conn:
        updates.apply(conn, keys, directory.load_actor(conn, archivist), change_id)
    assert _one("SELECT count(*) FROM clock c JOIN dossier d ON c.subject_id = d.id::text "
                "WHERE c.kind = :k AND c.met_at IS NOT NULL AND d.dossier_no = :n",
                k=annual.campaign_kind(2026), n=row.dossier_no) == 1
