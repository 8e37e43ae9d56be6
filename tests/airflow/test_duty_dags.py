"""The duties through Airflow (``airflow dags test``) on a seeded company, e-mail caught by a
real SMTP server on loopback: a deliberately broken dossier reaches its liaison with the
article it breaks, and a second run of the same period sends nothing and adds nothing."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from dossiers.core import db
from dossiers.core.config import SHANGHAI
from dossiers.local import demo, local_airflow

pytestmark = pytest.mark.airflow


def _body(message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/html":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no html part")


def _validation_results() -> list[Path]:
    """The GX validation results kept in the dossier home's completeness context."""
    from dossiers.quality.completeness import default_context_dir

    return sorted((default_context_dir() / "gx").rglob("validations/**/*.json"))


def test_owner_check_through_airflow_routes_a_broken_dossier_to_its_liaison(
        cli, database_url: str, inbox, tmp_path: Path) -> None:
    assert cli("seed", "--clients", "40", "--seed", "9").status == 0
    with db.get_engine(database_url, app_role=False).begin() as owner:  # the break, as a DBA
        number, liaison = owner.execute(text(
            "SELECT d.dossier_no, s.username FROM dossier d JOIN staff s ON s.id = d.liaison_id "
            "WHERE d.stage = 'active' AND d.status = 'open' AND s.active "
            "ORDER BY d.dossier_no LIMIT 1")).one()
        owner.execute(text("UPDATE basic_info SET registered_address = NULL WHERE dossier_id = "
                           "(SELECT id FROM dossier WHERE dossier_no = :n)"), {"n": number})
    log = tmp_path / "airflow.log"
    # a manual run on 2026-11-02 covers October (the first working day's interval)
    status = local_airflow.run_dag_test("dossier_owner_check", database_url,
                                        "2026-11-02T09:00:00+08:00", output=log)
    assert status == 0, log.read_text()[-4000:]
    mails = inbox.to(f"{liaison}@staff.example.com")
    assert len(mails) == 1
    body = _body(mails[0])
    assert number in body and "Art. 10" in body and "registered_address" in body
    with db.transaction() as conn:
        (period, found), = conn.execute(text(
            "SELECT period, count(*) FROM finding WHERE duty = 'owner_check' "
            "AND dossier_id = (SELECT id FROM dossier WHERE dossier_no = :n) GROUP BY period"),
            {"n": number}).all()
        findings_before = conn.execute(text("SELECT count(*) FROM finding")).scalar_one()
    assert period == "2026-10" and found >= 1

    sent = len(inbox.messages)
    validations = _validation_results()
    assert validations  # the first run validated
    assert local_airflow.run_dag_test("dossier_owner_check", database_url,
                                      "2026-11-02T09:00:00+08:00", output=log) == 0
    assert len(inbox.messages) == sent  # the same period again: nothing new
    # ...and it returns before validating every dossier again
    assert _validation_results() == validations
    with db.transaction() as conn:
        assert conn.execute(text("SELECT count(*) FROM finding")).scalar_one() == findings_before


def test_a_backfill_over_2026_runs_each_month_once(cli, database_url: str, inbox,
                                                   tmp_path: Path) -> None:
    """Each month of 2026 to October through Airflow (the runs a backfill makes), twice:
    the second pass adds no duty run, no finding, no report and no ledger entry."""
    assert cli("seed", "--clients", "40", "--seed", "4").status == 0
    months = [f"2026-{m:02d}-01T12:00:00+08:00" for m in range(2, 12)]  # covers Jan..Oct
    runs = [(dag_id, when) for when in months
            for dag_id in ("dossier_inactive_sweep", "dossier_kpi_monthly")]

    def counts() -> dict[str, int]:
        with db.transaction() as conn:
            return {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                    for table in ("duty_run", "finding", "report", "ledger_entry", "clock")}

    first = local_airflow.run_dags_test(runs, database_url, output=tmp_path / "airflow.log")
    assert [r["state"] for r in first] == ["success"] * len(runs), first
    with db.transaction() as conn:
        periods = conn.execute(text(
            "SELECT duty, array_agg(period ORDER BY period) FROM duty_run GROUP BY duty")).all()
    expected = [f"2026-{m:02d}" for m in range(1, 11)]
    assert dict(periods) == {"inactive_sweep": expected, "kpi_month": expected}
    after_first, mails = counts(), len(inbox.messages)
    assert mails > 0  # the KPI reports went to compliance and management

    again = local_airflow.run_dags_test(runs, database_url, output=tmp_path / "airflow.log")
    assert [r["state"] for r in again] == ["success"] * len(runs)
    assert counts() == after_first and len(inbox.messages) == mails


def _chart_points(page: str, name: str) -> list[tuple[str, str]]:
    """The (x, value) pairs of chart ``name`` in a published HTML report (its data table),
    after checking the chart itself is drawn there."""
    section = re.search(rf'<section class="chart" id="chart-{name}">(.*?)</section>', page, re.S)
    assert section is not None, f"no chart {name}"
    assert "<svg " in section.group(1)
    body = section.group(1).split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>\s*<td[^>]*>([^<]*)</td>\s*<td[^>]*>([^<]*)</td>", body)


def test_the_demo_schedule_gives_the_audit_summary_trends_of_several_quarters(
        cli, database_url: str, inbox, tmp_path: Path) -> None:
    """``make demo``'s duty runs (every period of the seeded year so far, as on 6 December
    2026) on a small company: every run succeeds, in order, and the managers' audit summary
    of the last quarter draws completeness, timeliness and overdue items over the quarters
    of the year, not a single point."""
    assert cli("seed", "--clients", "30", "--seed", "5").status == 0
    schedule = demo.duty_runs(datetime(2026, 12, 6, 12, tzinfo=SHANGHAI))
    runs = [(dag_id, when) for dag_id, when, _ in schedule]
    assert runs.count(("dossier_sampling_audit", "2026-10-08T09:30:00+08:00")) == 1
    assert sum(dag_id == "dossier_owner_check" for dag_id, _ in runs) == 11  # Jan..Nov
    seen: list[str] = []
    results = local_airflow.run_dags_test(runs, database_url, output=tmp_path / "airflow.log",
                                          on_result=lambda r: seen.append(r["dag_id"]))
    assert [r["state"] for r in results] == ["success"] * len(runs), (
        [r for r in results if r["state"] != "success"],
        (tmp_path / "airflow.log").read_text()[-4000:])
    assert seen == [dag_id for dag_id, _ in runs]  # reported run by run, in order

    with db.transaction() as conn:
        uri = conn.execute(text(
            "SELECT uri FROM report WHERE kind = 'audit_summary' AND format = 'html' "
            "ORDER BY period DESC LIMIT 1")).scalar_one()
    page = Path(uri.removeprefix("file://")).read_text(encoding="utf-8")
    quarters = ["2026-Q1", "2026-Q2", "2026-Q3"]
    for chart in ("completeness", "timeliness", "overdue"):
        points = _chart_points(page, chart)
        assert [x for x, _ in points] == quarters, (chart, points)
        assert all(v.strip() not in ("", "—") for _, v in points), (chart, points)
