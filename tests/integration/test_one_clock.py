"""One clock (dossiers.core.clock): every time the system writes comes from the domain's clock.

The domain's clock is fixed to a moment months away from the database server's own clock:
had any column still taken PostgreSQL's ``now()``, its time would be the server's day, not
the act's (an access-log row of another day than the read it logs).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from dossiers.calendar.workdays import default_calendar
from dossiers.core import clock, db, directory
from dossiers.core.config import SHANGHAI
from dossiers.core.crypto import KeyRing
from dossiers.core.errors import PermissionDenied
from dossiers.intake.service import import_file
from dossiers.workflows import creation, lifecycle, loans, staff

pytestmark = pytest.mark.integration

#: The domain's time in these tests: far from whatever day the database server lives in.
FIXED = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)

FORM = {
    "client_name_zh": "北風電商", "client_name_en": "Northwind Retail GmbH", "client_type": "ECOM",
    "stage": "potential", "target_markets": "DE", "liaison": "wang.market",
    "department": "market", "authorisation_ref": "AUTH-77", "collection_channel": "email",
    "collected_on": "2026-02-26",
    "contact_name": "Greta Vogel", "contact_email": "greta@northwind.example.de",
    "contact_phone": "+49 30 1234567",
}


@pytest.fixture
def fixed_clock(company: dict[str, str]) -> Iterator[datetime]:
    """The company exists; from here on the domain's clock says :data:`FIXED`."""
    with clock.fixed(FIXED) as at:
        yield at


def _act(username: str, work: Callable[[Any, Any], Any]) -> Any:
    with db.transaction() as conn:
        return work(conn, directory.load_actor(conn, username))


def _one(sql: str, **params: Any) -> Any:
    with db.transaction() as conn:
        return conn.execute(text(sql), params).scalar_one()


def _server_today() -> date:
    return _one("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date")


def _created(tmp_path: Path) -> tuple[uuid.UUID, str]:
    """A form imported, reviewed and made a dossier, all at the domain's time."""
    path = tmp_path / "form.json"
    path.write_text(json.dumps([FORM], ensure_ascii=False))
    report = import_file(path, acting_user="wang.market")
    assert not report["rejected"], report
    form_id = uuid.UUID(report["accepted"][0]["form_id"])
    _act("zhao.market", lambda c, a: creation.review_form(c, a, form_id, approve=True))
    made = _act("li.archive", lambda c, a: creation.create_dossier(c, KeyRing(), a, form_id))
    return uuid.UUID(made["dossier_id"]), made["dossier_no"]


def test_every_time_written_is_the_domain_clocks(fixed_clock, tmp_path) -> None:
    assert _server_today() != FIXED.date()  # the two clocks really disagree here
    before = _one("SELECT max(seq) FROM ledger_entry")  # the company's onboarding
    with db.transaction() as conn:
        staff.add(conn, "chen.cs", "zhou.exec", "execution", ["liaison"])
    assert _one("SELECT joined_at FROM staff WHERE username = 'zhou.exec'") == FIXED

    dossier_id, number = _created(tmp_path)
    assert number.startswith("海外-2026-")
    assert _one("SELECT created_at FROM keyring.data_key WHERE dossier_id = :d",
                d=dossier_id) == FIXED
    assert _one("SELECT submitted_at FROM form WHERE dossier_id = :d", d=dossier_id) == FIXED
    assert _one("SELECT assigned_at FROM dossier_number WHERE dossier_no = :n", n=number) == FIXED
    assert _one("SELECT created_at FROM dossier WHERE id = :d", d=dossier_id) == FIXED

    _act("wang.market", lambda c, a: lifecycle.read(c, KeyRing(), a, number))
    with pytest.raises(PermissionDenied):  # no grant: refused, and the refusal is logged
        _act("sun.plan", lambda c, a: lifecycle.read(c, KeyRing(), a, number))
    logged = _one("SELECT array_agg(DISTINCT at) FROM access_log WHERE subject = :s",
                  s=f"dossier {number}")
    assert logged == [FIXED]
    assert _one("SELECT array_agg(DISTINCT recorded_at) FROM ledger_entry WHERE seq > :s",
                s=before) == [FIXED]


def test_a_stage_change_is_stamped_on_the_day_it_was_given(fixed_clock, tmp_path) -> None:
    _, number = _created(tmp_path)
    _act("li.archive", lambda c, a: lifecycle.change_stage(c, a, number, "active"))
    assert _one("SELECT updated_at FROM dossier WHERE dossier_no = :n", n=number) == FIXED
    day = date(2026, 2, 27)  # recorded afterwards, for the day it happened
    _act("li.archive", lambda c, a: lifecycle.change_stage(
        c, a, number, "terminated", terminated_on=date(2026, 2, 26), further_cooperation=False,
        today=day))
    assert _one("SELECT updated_at FROM dossier WHERE dossier_no = :n", n=number) == \
        datetime.combine(day, time(10), SHANGHAI)


def test_a_loan_extension_moves_the_return_clock(fixed_clock, tmp_path) -> None:
    dossier_id, number = _created(tmp_path)
    _act("li.archive", lambda c, a: creation.file_dossier(c, a, dossier_id, cabinet="電商",
                                                          shelf=1))
    loan_id = uuid.UUID(_act("wang.market", lambda c, a: loans.request(
        c, a, [number], purpose="client visit", period_wd=3))["loan_id"])
    _act("zhao.market", lambda c, a: loans.approve(c, a, loan_id))
    _act("li.archive", lambda c, a: loans.approve(c, a, loan_id))
    assert _one("SELECT requested_at FROM loan WHERE id = :l", l=loan_id) == FIXED
    assert _one("SELECT department_approved_at FROM loan WHERE id = :l", l=loan_id) == FIXED
    lent = _act("li.archive", lambda c, a: loans.lend(c, a, loan_id))
    assert lent["lent_on"] == FIXED.date()
    due = default_calendar().add(FIXED.date(), 3).date
    clock_due = "SELECT due_on FROM clock WHERE kind = 'loan_return' AND subject_id = :l"
    assert _one(clock_due, l=str(loan_id)) == due == lent["due_on"]
    _act("wang.market", lambda c, a: loans.request_extension(c, a, loan_id, 2))
    moved = _act("li.archive", lambda c, a: loans.decide_extension(c, a, loan_id, approve=True))
    assert moved["due_on"] == default_calendar().add(due, 2).date
    assert _one(clock_due, l=str(loan_id)) == moved["due_on"]
    listed = _act("wang.market", lambda c, a: loans.list_loans(c, a).items)
    assert [(r["due_on"], r["due_provisional"]) for r in listed] == [(moved["due_on"], False)]


def test_no_column_takes_the_database_clock(database_url: str) -> None:
    """Migrated to head, no column defaults to now() (migration 0009)."""
    with db.transaction() as conn:
        defaults = conn.execute(text(
            "SELECT table_schema || '.' || table_name || '.' || column_name FROM "
            "information_schema.columns WHERE table_schema IN ('public', 'keyring') "
            "AND column_default ~* '(now|current_timestamp|current_date|localtimestamp)'"
        )).scalars().all()
    assert defaults == []
