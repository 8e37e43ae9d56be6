"""Staff and roles (Arts. 5-7), the one permission check, and offboarding (Art. 19)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dossiers.core import clock, db, ledger

pytestmark = pytest.mark.integration


def test_first_member_bootstraps_then_the_matrix_applies(cli, company) -> None:
    with db.transaction() as conn:
        first = conn.execute(text("SELECT actor, action, details->>'bootstrap' FROM ledger_entry "
                                  "ORDER BY seq LIMIT 1")).one()
        assert tuple(first) == ("bootstrap", "staff.add", "true")
        assert ledger.verify(conn).entries_checked == len(company)


def test_first_member_must_be_able_to_onboard_others(cli, database_url) -> None:
    result = cli("staff", "add", "wang", "--department", "market", "--role", "liaison")
    assert result.status == 1
    assert "first staff member must be cs_head or management" in result.stderr


def test_liaison_may_not_onboard_and_the_refusal_is_logged(cli, company) -> None:
    result = cli("staff", "add", "intruder", "--department", "market", "--role", "cs_head",
                 "--as", "wang.market")
    assert result.status == 1
    assert result.stderr.count("\n") == 1 and "may not staff.add" in result.stderr
    with db.transaction() as conn:
        assert conn.execute(text("SELECT count(*) FROM staff WHERE username = 'intruder'")).scalar() == 0
        logged = conn.execute(text("SELECT actor, action, allowed FROM access_log")).all()
    assert [tuple(r) for r in logged] == [("wang.market", "staff.add", False)]


def test_unknown_actor_and_bad_arguments(cli, company) -> None:
    assert cli("staff", "add", "x", "--department", "market", "--role", "liaison",
               "--as", "nobody").status == 1
    bad = cli("staff", "add", "x", "--department", "sales", "--role", "liaison", "--as", "chen.cs")
    assert bad.status == 2 and "invalid choice" in bad.stderr


def test_leaver_hands_over_and_loses_access(cli, company) -> None:
    with db.transaction() as conn:
        conn.execute(text(
            "INSERT INTO clock (kind, subject_type, subject_id, article, owner_id, started_on, due_on) "
            "SELECT 'form_review', 'form', 'f1', 'Art. 11(2)', id, '2026-11-02', '2026-11-04' "
            "FROM staff WHERE username = 'wang.market'"))
    result = cli("staff", "leave", "wang.market", "--handover-to", "sun.plan", "--as", "chen.cs")
    assert result.status == 0, result.stderr
    summary = result.json()
    assert summary["open_clocks"] == 1 and summary["roles_revoked"] == ["liaison"]
    # The leaver can no longer act (no roles, inactive): a request is refused.
    again = cli("staff", "leave", "sun.plan", "--handover-to", "zhao.market", "--as", "wang.market")
    assert again.status == 1 and "inactive" in again.stderr
    with db.transaction() as conn:
        owner = conn.execute(text(
            "SELECT s.username FROM clock c JOIN staff s ON s.id = c.owner_id")).scalar()
    assert owner == "sun.plan"
    # `make airflow` gives Airflow logins to active staff only: the leaver has none
    from dossiers.local.local_airflow import staff_usernames

    assert staff_usernames(db.database_url()) == sorted(set(company) - {"wang.market"})


def test_missing_database_is_one_line_and_exit_2(cli, monkeypatch) -> None:
    monkeypatch.setenv("DOSSIER_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    result = cli("ledger", "verify")
    assert result.status == 2
    assert result.stderr.startswith("dossier: cannot connect to the dossier database at 127.0.0.1:1/none")
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


# Issue 10, item 5: a username becomes an Airflow login, a mail address and a report cell.
BAD_USERNAMES = {
    "mail header": "eve\r\nBcc: all@company.example",
    "markup": "<script>alert(1)</script>",
    "spreadsheet formula": '=HYPERLINK("http://evil.example","x")',
    "bidirectional override": "li\u202egnaw",
    "leading dot": ".hidden",
    "too long": "a" * 65,
}


@pytest.mark.parametrize("username", BAD_USERNAMES.values(), ids=BAD_USERNAMES.keys())
def test_staff_add_refuses_a_username_outside_the_pattern(cli, company, username) -> None:
    result = cli("staff", "add", username, "--department", "market", "--role", "liaison",
                 "--as", "chen.cs")
    assert result.status == 1, result.stderr
    # One line naming the record, the field and the reason; the bad characters escaped.
    assert result.stderr.count("\n") == 1 and "\r" not in result.stderr
    assert "\u202e" not in result.stderr and "<script>" not in result.stderr
    assert result.stderr.startswith("dossier: user ") and ": username: " in result.stderr
    assert "ASCII letters, digits" in result.stderr
    with db.transaction() as conn:
        assert conn.execute(text("SELECT count(*) FROM staff")).scalar() == len(company)


def test_staff_add_accepts_the_pattern_up_to_64_characters(cli, company) -> None:
    for username in ("Wang_Li-2", "9lives", "x" * 64):
        result = cli("staff", "add", username, "--department", "market", "--role", "liaison",
                     "--as", "chen.cs")
        assert result.status == 0, result.stderr


def test_the_database_refuses_a_username_written_past_the_workflow(company) -> None:
    import sqlalchemy.exc

    with pytest.raises(sqlalchemy.exc.IntegrityError, match="ck_staff_username"):
        with db.transaction() as conn:
            conn.execute(text("INSERT INTO staff (username, department, joined_at) "
                              "VALUES (:u, 'market', :at)"), {"u": "eve\nBcc: x@y", "at": clock.now()})


def test_an_agreement_signed_today_in_shanghai_is_not_in_the_future_after_16_utc(company) -> None:
    """Days are Shanghai's: at 20:00 UTC it is already tomorrow there (Art. 19's agreement
    signed that day is accepted; the day after is still refused)."""
    from datetime import UTC, date, datetime

    from dossiers.core.errors import Refused
    from dossiers.workflows import staff

    evening = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)  # 2026-12-07 04:00 in Shanghai
    with db.transaction() as conn:
        staff.add(conn, "chen.cs", "zhou.market", "market", ["liaison"], date(2026, 12, 7),
                  agreement_ref="NDA-zhou", at=evening)
    with pytest.raises(Refused, match="is in the future"), db.transaction() as conn:
        staff.add(conn, "chen.cs", "qian.market", "market", ["liaison"], date(2026, 12, 8),
                  agreement_ref="NDA-qian", at=evening)
    assert clock.local_date(evening) == date(2026, 12, 7)
