"""Paper borrowing (Art. 16) and the vault register (Arts. 14, 15).

Dossiers are taken through the real intake, review, creation and filing path (in-process,
dated), so each has a paper volume in the vault. The end-to-end loan runs through the CLI;
the dated rules (working days over the 2026 National Day holiday, the extension boundary)
run in-process with ``today=``. Every refusal is checked to change nothing, and every
refusal by permission to be logged in ``access_log``.

2026 around National Day (chinese_calendar): Sep 30 Wed works; Oct 1-7 off; Oct 8 Thu,
Oct 9 Fri and Oct 10 Sat (make-up day) work; Oct 11 Sun off.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dossiers.core import db, directory
from dossiers.core.config import SHANGHAI
from dossiers.core.crypto import KeyRing
from dossiers.core.errors import NotFound, PermissionDenied, Refused
from dossiers.core.schema import form
from dossiers.workflows import creation, loans, staff, vault

from helpers import act as _act
from helpers import form_row, import_forms
from helpers import rows as _rows

pytestmark = pytest.mark.integration

FORM = form_row(collected_on="2026-09-01")
CLIENTS = [("北風電商", "Northwind Retail GmbH"), ("南山電商", "Southhill Commerce Ltd"),
           ("東海電商", "Eastsea Online SARL"), ("西嶺電商", "Westridge Goods BV"),
           ("中原電商", "Midland Wares AB")]
LENT_ON = date(2026, 9, 30)  # the day before National Day


def _at(day: date) -> datetime:
    return datetime.combine(day, time(10), SHANGHAI)


def _dossiers(tmp_path: Path, count: int = 1, *, start: int = 0,
              file: bool = True) -> list[str]:
    """``count`` dossiers of the market liaison (clients ``start``… of CLIENTS), created
    and (by default) filed in September 2026 on shelf 1 of the 電商 cabinet, in order."""
    forms = [{**FORM, "client_name_zh": zh, "client_name_en": en,
              "contact_email": f"contact{i}@client{i}.example.de",
              "contact_phone": f"+49 30 123456{i}"}
             for i, (zh, en) in enumerate(CLIENTS[start:start + count], start)]
    report = import_forms(tmp_path, forms, today=date(2026, 9, 10))
    assert not report["rejected"], report
    with db.transaction() as conn:
        ids = conn.execute(select(form.c.id).where(form.c.status == "submitted")
                           .order_by(form.c.source_row)).scalars().all()
    numbers = []
    for form_id in ids:
        with db.transaction() as conn:
            head = directory.load_actor(conn, "zhao.market")
            archivist = directory.load_actor(conn, "li.archive")
            creation.review_form(conn, head, form_id, approve=True, at=_at(date(2026, 9, 11)))
            made = creation.create_dossier(conn, KeyRing(), archivist, form_id,
                                           at=_at(date(2026, 9, 14)))
            if file:
                creation.file_dossier(conn, archivist, uuid.UUID(made["dossier_id"]),
                                      cabinet="電商", shelf=1, at=_at(date(2026, 9, 15)))
        numbers.append(made["dossier_no"])
    return numbers


def _state() -> tuple:
    """Everything a loan or vault step may change."""
    return tuple(_rows(sql) for sql in (
        "SELECT * FROM loan ORDER BY id", "SELECT * FROM loan_volume ORDER BY loan_id, volume_id",
        "SELECT * FROM paper_volume ORDER BY id", "SELECT * FROM paper_condition_check ORDER BY id",
        "SELECT id, kind, due_on, met_at FROM clock ORDER BY id",
        "SELECT count(*) FROM ledger_entry"))


def _refusals() -> list[tuple]:
    return _rows("SELECT actor, action, reason FROM access_log WHERE NOT allowed ORDER BY id")


def _refused(username: str, work: Callable[[Any, Any], Any], match: str, *,
             logged: bool) -> None:
    """``work`` is refused with ``match``, changes nothing, and is logged iff by permission."""
    before, refusals = _state(), _refusals()
    with pytest.raises(Refused, match=match) as caught:
        _act(username, work)
    assert _state() == before
    assert isinstance(caught.value, PermissionDenied) == logged
    new = _refusals()[len(refusals):]
    assert len(new) == (1 if logged else 0), new
    if logged:
        assert new[0][0] == username


def _lent(number: str, *, period: int = 7, borrower: str = "wang.market",
          day: date = LENT_ON) -> uuid.UUID:
    loan_id = uuid.UUID(_act(borrower, lambda c, a: loans.request(
        c, a, [number], purpose="client visit", period_wd=period, today=day))["loan_id"])
    _act("zhao.market", lambda c, a: loans.approve(c, a, loan_id))
    _act("li.archive", lambda c, a: loans.approve(c, a, loan_id))
    _act("li.archive", lambda c, a: loans.lend(c, a, loan_id, day))
    return loan_id


# --- the whole path through the CLI --------------------------------------------------------------

def test_loan_through_the_cli(cli, company, tmp_path) -> None:
    number, other = _dossiers(tmp_path, 2)
    asked = cli("loans", "request", number, "--purpose", "contract negotiation",
                "--period", "5", "--as", "wang.market")
    assert asked.status == 0, asked.stderr
    loan_id = asked.json()["loan_id"]
    assert [v["ref"] for v in asked.json()["volumes"]] == [f"{number}/1"]

    # Either order: the archivist first, then the department head.
    early = cli("loans", "lend", loan_id, "--as", "li.archive")
    assert early.status == 1 and "waiting for: department head, archivist" in early.stderr
    first = cli("loans", "approve", loan_id, "--as", "li.archive").json()
    assert first["status"] == "requested" and first["waiting_for"] == ["department head"]
    assert cli("loans", "approve", loan_id, "--as", "zhao.market").json()["status"] == "approved"

    lent = cli("loans", "lend", loan_id, "--as", "li.archive")
    assert lent.status == 0, lent.stderr
    due = lent.json()["due_on"]
    today = date.fromisoformat(lent.json()["lent_on"])
    assert cli("workdays", "add", today.isoformat(), "5").stdout.strip() == due

    # Visibility: the borrower and their head see it, another liaison does not.
    assert [x["loan_id"] for x in cli("loans", "list", "--as", "wang.market").json()] == [loan_id]
    assert [x["loan_id"] for x in cli("loans", "list", "--as", "zhao.market").json()] == [loan_id]
    assert cli("loans", "list", "--as", "sun.plan").json() == []
    shelf = cli("vault", "list", "--as", "li.archive").json()
    assert [(v["ref"], v["on_loan"]) for v in shelf] == [(f"{number}/1", True),
                                                         (f"{other}/1", False)]
    assert shelf[0]["loan"]["borrower"] == "wang.market" and shelf[0]["loan"]["due_on"] == due

    ext = cli("loans", "extend", loan_id, "--wd", "2", "--as", "wang.market")
    assert ext.status == 0, ext.stderr
    moved = cli("loans", "extension-approve", loan_id, "--as", "li.archive").json()
    assert moved["due_on"] == cli("workdays", "add", due, "2").stdout.strip()
    again = cli("loans", "extend", loan_id, "--wd", "1", "--as", "wang.market")
    assert again.status == 1 and "allows 1 extension per loan" in again.stderr

    not_archivist = cli("loans", "return", loan_id, "--condition", "good", "--as", "zhao.market")
    assert not_archivist.status == 1 and "may not vault.manage" in not_archivist.stderr
    back = cli("loans", "return", loan_id, "--condition", f"{number}/1=damaged",
               "--notes", "cover torn", "--as", "li.archive")
    assert back.status == 0, back.stderr
    assert back.json()["late"] is False and back.json()["worse_than_lent"] == [f"{number}/1"]
    assert back.json()["volumes"][0]["action"] == "repair"

    shelf = cli("vault", "list", "--as", "qa.he").json()
    assert (shelf[0]["condition"], shelf[0]["last_action"], shelf[0]["loan"]) == \
        ("damaged", "repair", None)
    listed = cli("loans", "list", "--status", "returned", "--as", "li.archive").json()
    assert listed[0]["volumes"][0]["returned_condition"] == "damaged"
    assert listed[0]["extension"]["status"] == "approved" and listed[0]["overdue"] is False
    assert _rows("SELECT kind, subject_id, due_on::text, met_at IS NOT NULL FROM clock "
                 "WHERE subject_type = 'loan'") == [("loan_return", loan_id, moved["due_on"], True)]
    actions = [a for (a,) in _rows("SELECT action FROM ledger_entry WHERE subject_type = 'loan' "
                                   "ORDER BY seq")]
    assert actions == ["loan.request", "loan.approve_archive", "loan.approve_department",
                       "loan.lend", "loan.extension_request", "loan.extension_approve",
                       "loan.return"]
    assert cli("ledger", "verify", "--no-anchor", "--as", "li.archive").status == 0


# --- dates: National Day, extensions, lateness ----------------------------------------------------

def test_due_date_extension_and_late_return_over_national_day(company, tmp_path) -> None:
    (number,) = _dossiers(tmp_path)
    loan_id = _lent(number, period=7)
    row = _act("wang.market", lambda c, a: loans.list_loans(c, a, today=date(2026, 10, 9)).items)[0]
    # Sep 30 + 7 wd: Oct 8, 9, 10 (make-up Saturday), 12, 13, 14, 15.
    assert (row["due_on"], row["extension_request_by"]) == (date(2026, 10, 15), date(2026, 10, 14))
    assert row["overdue"] is False
    assert _rows("SELECT due_on::text, owner_id = (SELECT id FROM staff WHERE username = "
                 "'wang.market'), article FROM clock WHERE kind = 'loan_return'") == \
        [("2026-10-15", True, "Art. 16")]

    def extend(wd: int, day: date) -> Callable[[Any, Any], Any]:
        return lambda c, a: loans.request_extension(c, a, loan_id, wd, day)

    # The boundary: on the due date itself no working day is left before it.
    _refused("wang.market", extend(2, date(2026, 10, 15)), "last day to ask was 2026-10-14",
             logged=False)
    _refused("wang.market", extend(4, date(2026, 10, 13)), "1 to 3 working days", logged=False)
    _refused("wang.market", extend(0, date(2026, 10, 13)), "1 to 3 working days", logged=False)
    _refused("sun.plan", extend(1, date(2026, 10, 13)), "only the borrower", logged=True)
    _refused("li.archive", lambda c, a: loans.decide_extension(c, a, loan_id, approve=True),
             "lent with no extension", logged=False)
    asked = _act("wang.market", extend(3, date(2026, 10, 14)))
    assert asked["would_be_due_on"] == date(2026, 10, 20)  # Oct 16, 19, 20
    _refused("zhao.market", lambda c, a: loans.decide_extension(c, a, loan_id, approve=True),
             "may not loan.approve_archive", logged=True)
    decided = _act("li.archive", lambda c, a: loans.decide_extension(c, a, loan_id, approve=True))
    assert decided["due_on"] == date(2026, 10, 20)
    assert _rows("SELECT due_on::text FROM clock WHERE kind = 'loan_return'") == [("2026-10-20",)]
    _refused("wang.market", extend(1, date(2026, 10, 15)), "allows 1 extension", logged=False)

    late = _act("wang.market", lambda c, a: loans.list_loans(c, a, today=date(2026, 10, 21)).items)[0]
    assert (late["overdue"], late["overdue_wd"]) == (True, 1)
    _refused("li.archive", lambda c, a: loans.return_loan(
        c, a, loan_id, conditions={"2": "good"}, today=date(2026, 10, 22)),
        "'2' is not a volume of this loan", logged=False)
    back = _act("li.archive", lambda c, a: loans.return_loan(
        c, a, loan_id, conditions={"1": "good"}, today=date(2026, 10, 22)))
    assert (back["late"], back["overdue_wd"]) == (True, 2)
    (details,) = _rows("SELECT details FROM ledger_entry WHERE action = 'loan.return'")[0]
    assert details["late"] is True and details["overdue_wd"] == 2
    assert details["conditions"] == {"1": "good"} and details["due_on"] == "2026-10-20"
    assert _rows("SELECT met_at::date > due_on FROM clock WHERE kind = 'loan_return'") == [(True,)]


def test_extension_deadline_on_a_make_up_saturday(company, tmp_path) -> None:
    """Due Monday Oct 12: the last working day before it is the make-up Saturday Oct 10; on
    Sunday Oct 11 (a day off) no working day is left, so it is too late."""
    (number,) = _dossiers(tmp_path)
    loan_id = _lent(number, period=4)
    row = _act("li.archive", lambda c, a: loans.list_loans(c, a).items)[0]
    assert (row["due_on"], row["extension_request_by"]) == (date(2026, 10, 12), date(2026, 10, 10))
    _refused("wang.market", lambda c, a: loans.request_extension(
        c, a, loan_id, 1, date(2026, 10, 11)), "last day to ask was 2026-10-10", logged=False)
    _act("wang.market", lambda c, a: loans.request_extension(c, a, loan_id, 1, date(2026, 10, 10)))
    _refused("li.archive", lambda c, a: loans.decide_extension(
        c, a, loan_id, approve=False, reason=" "), "needs a reason", logged=False)
    _act("li.archive", lambda c, a: loans.decide_extension(
        c, a, loan_id, approve=False, reason="another department has booked it"))
    # One extension per loan, even after a rejection; the due date did not move.
    _refused("wang.market", lambda c, a: loans.request_extension(
        c, a, loan_id, 1, date(2026, 10, 9)), "its extension was rejected", logged=False)
    row = _act("wang.market", lambda c, a: loans.list_loans(c, a).items)[0]
    assert row["due_on"] == date(2026, 10, 12)
    assert row["extension"]["status"] == "rejected"
    assert row["extension"]["reason"] == "another department has booked it"


# --- requests and approvals -----------------------------------------------------------------------

def test_request_and_approval_refusals(company, tmp_path) -> None:
    number, second, third, fourth = _dossiers(tmp_path, 4)
    (unfiled,) = _dossiers(tmp_path, 1, start=4, file=False)
    with db.transaction() as conn:
        staff.add(conn, "chen.cs", "ma.cs", "customer_service", ["liaison"])
        staff.add(conn, "chen.cs", "xu.cs", "customer_service", ["archivist", "dept_head"])

    def ask(numbers: list[str], period: int = 5, purpose: str = "audit") -> Callable:
        return lambda c, a: loans.request(c, a, numbers, purpose=purpose, period_wd=period,
                                          today=LENT_ON)

    _refused("wang.market", ask([number], period=8), "must be 1 to 7 working days", logged=False)
    _refused("wang.market", ask([number], period=0), "must be 1 to 7 working days", logged=False)
    _refused("wang.market", ask([number], purpose="  "), "states its purpose", logged=False)
    _refused("wang.market", ask([]), "at least one dossier", logged=False)
    with pytest.raises(NotFound):
        _act("wang.market", ask(["海外-2026-電商-999"]))
    _refused("wang.market", ask([unfiled]), "has no paper volume", logged=False)
    _refused("chen.cs", ask([number]), "may not loan.request", logged=True)

    loan_id = uuid.UUID(_act("wang.market", ask([number, second]))["loan_id"])
    _refused("sun.plan", ask([second]), "already on loan", logged=False)

    def approve(capacity: str | None = None) -> Callable:
        return lambda c, a: loans.approve(c, a, loan_id, capacity=capacity)

    _refused("wang.market", approve(), "may not loan.approve_department", logged=True)
    _refused("chen.cs", approve(), "belongs to the market department", logged=True)
    _refused("li.archive", lambda c, a: loans.lend(c, a, loan_id, LENT_ON),
             "waiting for: department head, archivist", logged=False)
    _act("zhao.market", approve())
    _refused("zhao.market", approve(), "already has the department head's approval",
             logged=False)
    _refused("li.archive", lambda c, a: loans.lend(c, a, loan_id, LENT_ON),
             "waiting for: archivist", logged=False)
    _refused("wang.market", lambda c, a: loans.lend(c, a, loan_id, LENT_ON),
             "may not vault.manage", logged=True)
    assert _act("li.archive", approve())["status"] == "approved"
    _refused("li.archive", lambda c, a: loans.reject(c, a, loan_id, reason="late"),
             "only a requested loan can be rejected", logged=False)

    # A head borrowing cannot approve their own request (separation of duties).
    head_loan = uuid.UUID(_act("zhao.market", lambda c, a: loans.request(
        c, a, [third], purpose="review", period_wd=3, today=LENT_ON))["loan_id"])
    _refused("zhao.market", lambda c, a: loans.approve(c, a, head_loan),
             "nobody approves or rejects their own loan", logged=True)

    # Customer Service staff: their department head is the CS head. Someone holding both
    # approving roles says in which capacity, and cannot give both approvals.
    cs_loan = uuid.UUID(_act("ma.cs", lambda c, a: loans.request(
        c, a, [fourth], purpose="full check", period_wd=2, today=LENT_ON))["loan_id"])
    _refused("xu.cs", lambda c, a: loans.approve(c, a, cs_loan), "say which", logged=False)
    _act("xu.cs", lambda c, a: loans.approve(c, a, cs_loan, capacity="department"))
    _refused("xu.cs", lambda c, a: loans.approve(c, a, cs_loan, capacity="archive"),
             "two different people", logged=True)
    _refused("zhao.market", lambda c, a: loans.reject(c, a, cs_loan, reason="no"),
             "belongs to the customer_service department", logged=True)
    _refused("li.archive", lambda c, a: loans.reject(c, a, cs_loan, reason=" "),
             "needs a reason", logged=False)
    rejected = _act("li.archive", lambda c, a: loans.reject(c, a, cs_loan,
                                                            reason="paper under repair"))
    assert rejected["status"] == "rejected"
    # The volume is free again once the loan is rejected; the CS head approves CS staff.
    again = uuid.UUID(_act("ma.cs", lambda c, a: loans.request(
        c, a, [fourth], purpose="full check", period_wd=2,
        today=LENT_ON))["loan_id"])
    assert _act("chen.cs", lambda c, a: loans.approve(c, a, again))["approved_as"] == "department"

    seen = {u: {x["loan_id"] for x in _act(u, lambda c, a: loans.list_loans(c, a, "all").items)}
            for u in ("wang.market", "zhao.market", "ma.cs", "li.archive", "qa.he")}
    assert seen["wang.market"] == {str(loan_id)}
    assert seen["zhao.market"] == {str(loan_id), str(head_loan)}
    assert seen["ma.cs"] == {str(cs_loan), str(again)}
    assert seen["li.archive"] == seen["qa.he"] == {str(loan_id), str(head_loan), str(cs_loan),
                                                   str(again)}


# --- lending and returning ------------------------------------------------------------------------

def test_lending_and_return_refusals(company, tmp_path) -> None:
    number, second = _dossiers(tmp_path, 2)
    loan_id = uuid.UUID(_act("wang.market", lambda c, a: loans.request(
        c, a, [number, second], purpose="exhibition prep", period_wd=3, today=LENT_ON))["loan_id"])
    _act("li.archive", lambda c, a: loans.approve(c, a, loan_id))
    _act("zhao.market", lambda c, a: loans.approve(c, a, loan_id))

    def give_back(username: str = "li.archive", day: date = date(2026, 10, 9),
                  **kw: Any) -> Callable:
        return lambda c, a: loans.return_loan(c, a, loan_id, today=day, **kw)

    _refused("li.archive", give_back(default="good"), "only a lent loan can be returned",
             logged=False)
    _refused("wang.market", lambda c, a: loans.request_extension(c, a, loan_id, 1, LENT_ON),
             "only a lent loan can be extended", logged=False)
    lent = _act("li.archive", lambda c, a: loans.lend(c, a, loan_id, LENT_ON))
    assert lent["due_on"] == date(2026, 10, 10)  # the make-up Saturday is a working day
    _refused("li.archive", lambda c, a: loans.lend(c, a, loan_id, LENT_ON),
             "is lent: paper is lent only after", logged=False)

    _refused("wang.market", give_back(default="good"), "may not vault.manage", logged=True)
    _refused("zhao.market", give_back(default="good"), "may not vault.manage", logged=True)
    _refused("li.archive", give_back(conditions={f"{number}/1": "good"}),
             f"missing: {second}/1", logged=False)
    _refused("li.archive", give_back(default="torn"), "unknown condition 'torn'", logged=False)
    _refused("li.archive", give_back(day=date(2026, 9, 29), default="good"),
             "before the loan was lent", logged=False)
    _refused("li.archive", lambda c, a: vault.check_condition(
        c, a, f"{number}/1", condition="good", today=date(2026, 10, 9)), "is out on loan",
        logged=False)

    back = _act("li.archive", give_back(day=date(2026, 10, 10), conditions={
        f"{number}/1": "faded"}, default="good", notes="ink faded on p. 3"))
    assert (back["late"], back["overdue_wd"]) == (False, 0)  # returned on the due date
    assert [(v["ref"], v["after"], v["action"]) for v in back["volumes"]] == [
        (f"{number}/1", "faded", "copy"), (f"{second}/1", "good", "none")]
    assert _rows("SELECT pv.label_dossier_no, c.condition, c.action, c.checked_on::text, "
                 "pv.condition FROM paper_condition_check c JOIN paper_volume pv "
                 "ON pv.id = c.volume_id ORDER BY pv.position") == [
        (number, "faded", "copy", "2026-10-10", "faded"),
        (second, "good", "none", "2026-10-10", "good")]
    assert _rows("SELECT dossier_no, details->>'late' FROM ledger_entry "
                 "WHERE action = 'loan.return' ORDER BY dossier_no") == \
        sorted([(number, "false"), (second, "false")])
    _refused("li.archive", give_back(default="good"), "is returned, only a lent loan",
             logged=False)
    assert "ink faded" not in json.dumps(_rows("SELECT details FROM ledger_entry"))


# --- the vault register ---------------------------------------------------------------------------

def test_vault_register_order_and_condition_checks(company, tmp_path) -> None:
    first, second, third = _dossiers(tmp_path, 3)
    (unfiled,) = _dossiers(tmp_path, 1, start=3, file=False)
    _refused("wang.market", lambda c, a: vault.list_volumes(c, a), "may not vault.read",
             logged=True)
    _refused("zhao.market", lambda c, a: vault.list_volumes(c, a), "may not vault.read",
             logged=True)
    _refused("li.archive", lambda c, a: vault.register_volume(c, a, unfiled),
             "is not filed yet", logged=False)
    _refused("li.archive", lambda c, a: vault.register_volume(c, a, first, cabinet="電商"),
             "both the cabinet and the shelf", logged=False)
    _refused("wang.market", lambda c, a: vault.register_volume(c, a, first),
             "may not vault.manage", logged=True)

    # Another volume of the first dossier stands right after it; the others move up one.
    added = _act("li.archive", lambda c, a: vault.register_volume(c, a, first,
                                                                  today=date(2026, 10, 9)))
    assert (added["ref"], added["position"], added["moved_up"]) == (f"{first}/2", 2, 2)
    elsewhere = _act("li.archive", lambda c, a: vault.register_volume(
        c, a, second, cabinet="電商", shelf=2))
    assert (elsewhere["ref"], elsewhere["position"], elsewhere["moved_up"]) == \
        (f"{second}/2", 1, 0)
    listed = _act("qa.he", lambda c, a: vault.list_volumes(c, a).items)
    assert [(v["ref"], v["shelf"], v["position"]) for v in listed] == [
        (f"{first}/1", 1, 1), (f"{first}/2", 1, 2), (f"{second}/1", 1, 3),
        (f"{third}/1", 1, 4), (f"{second}/2", 2, 1)]
    assert listed[1]["label"] == {"dossier_no": first, "client_name": "北風電商",
                                  "filed_on": date(2026, 10, 9)}
    assert listed[0]["label"]["filed_on"] == date(2026, 9, 15)
    assert _act("chen.cs", lambda c, a: vault.list_volumes(c, a, "外貿").items) == []

    def check(ref: str, condition: str, action: str = "none") -> Callable:
        return lambda c, a: vault.check_condition(c, a, ref, condition=condition, action=action,
                                                  notes="spine split", today=date(2026, 10, 12))

    _refused("li.archive", check(f"{first}/2", "damaged"), "repaired or copied", logged=False)
    _refused("li.archive", check(f"{first}/2", "faded"), "repaired or copied", logged=False)
    _refused("li.archive", check(first, "good"), "name one", logged=False)
    _refused("wang.market", check(f"{first}/2", "damaged", "repair"), "may not vault.manage",
             logged=True)
    with pytest.raises(NotFound):
        _act("li.archive", check(f"{first}/9", "good"))
    done = _act("li.archive", check(f"{first}/2", "damaged", "repair"))
    assert (done["before"], done["condition"], done["action"]) == ("good", "damaged", "repair")
    assert _act("li.archive", check(third, "worn"))["ref"] == f"{third}/1"
    listed = {v["ref"]: v for v in _act("li.archive", lambda c, a: vault.list_volumes(c, a).items)}
    assert (listed[f"{first}/2"]["condition"], listed[f"{first}/2"]["last_action"],
            listed[f"{first}/2"]["last_checked_on"]) == ("damaged", "repair", date(2026, 10, 12))
    assert listed[f"{third}/1"]["condition"] == "worn"
    assert _rows("SELECT action, dossier_no FROM ledger_entry WHERE action LIKE 'vault.%' "
                 "ORDER BY seq") == [("vault.register", first), ("vault.register", second),
                                     ("vault.check", first), ("vault.check", third)]
