"""A year of one client's life (issue 3), written once as data: who does what, in order, and
what each step must answer; driven through the CLI (tests/integration/test_client_year.py)
and through the REST API with real Airflow JWTs (tests/api/test_client_year_api.py).

Intake, review, creation, filing, a query by another department, a loan with an extension,
an important update, termination, with the refusals on the way; the ledger shows every step,
in order, by whom. Both interfaces take today's date, so the deadlines are checked with the
calendar.

A driver has one method per verb a step ``does`` (``driver.<verb>(year, who, **args)``)
returning what its interface answered, and two ways to read an answer: :meth:`Driver.ok`
(the step succeeded: its JSON) and :meth:`Driver.refused` (refused for that reason: the
one-line error). The records a step makes are kept in :class:`Year` for the steps after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol

from sqlalchemy import text

from dossiers.calendar.workdays import WorkingDayCalendar, default_calendar
from dossiers.core import db
from dossiers.core.config import SHANGHAI

from helpers import form_row

#: The client: a Dutch online retailer, filed by the market department's liaison.
FORM = form_row(
    client_name_zh="藍海跨境", client_name_en="Blue Ocean Commerce BV", target_markets="NL;BE",
    authorisation_ref="AUTH-2026-31", collection_channel="email", contact_name="Sanne de Vries",
    contact_email="sanne@blueocean.example.nl", contact_phone="+31 20 123 4567",
    credit_rating="BBB")

#: Why a step is refused: by the permission check (``PermissionDenied``: HTTP 403) or by a
#: rule of the policy (HTTP 422). The CLI exits 1 for both.
Reason = Literal["forbidden", "invalid"]


@dataclass
class Year:
    """Today, the calendar, and the records the year's steps made (by the key the
    interfaces answer them with)."""

    today: date = field(default_factory=lambda: datetime.now(SHANGHAI).date())
    wd: WorkingDayCalendar = field(default_factory=default_calendar)
    ids: dict[str, str] = field(default_factory=dict)

    def due(self, working_days: int, after: date | str | None = None) -> str:
        """The day ``working_days`` after ``after`` (default: today), as the answers give it."""
        start = date.fromisoformat(after) if isinstance(after, str) else after or self.today
        return self.wd.add(start, working_days).date.isoformat()

    def keep(self, answer: Any) -> None:
        """Remember the records an answer names (an import report names its forms)."""
        if isinstance(answer, dict):
            for record in answer.get("accepted", [])[:1]:
                self.ids["form_id"] = record["form_id"]
            for key in ("dossier_no", "grant_id", "loan_id", "change_id"):
                if key in answer:
                    self.ids[key] = answer[key]


Check = Callable[[Any, Year], None]


@dataclass(frozen=True)
class Step:
    who: str
    does: str
    #: the step's arguments; a callable is given the :class:`Year` (for today's dates)
    args: Mapping[str, Any] = field(default_factory=dict)
    #: why the step must be refused (and what its one-line error says), or None: it succeeds
    refused: tuple[Reason, str | None] | None = None
    #: what its answer must show, when it succeeds
    check: Check | None = None


class Driver(Protocol):
    def ok(self, answer: Any) -> Any: ...

    def refused(self, answer: Any, reason: Reason) -> str: ...


# --- what each answer must show ----------------------------------------------------------------


def _review_due_in_2_wd(forms: Any, year: Year) -> None:  # Art. 11(2)
    assert forms[0]["review_due"] == year.due(2)


def _numbered_and_due_for_filing(made: Any, year: Year) -> None:  # Arts. 8, 11(5)
    assert made["dossier_no"] == f"海外-{year.today.year}-電商-001"
    assert made["filing_due"] == year.due(2)


def _masked_and_only_the_grant(seen: Any, year: Year) -> None:  # Art. 16
    assert seen["contacts"][0]["email"] == "s***@blueocean.example.nl" and "other" not in seen


def _a_department_head(added: Any, year: Year) -> None:
    assert added["roles"] == ["dept_head"]


def _due_in_5_wd(lent: Any, year: Year) -> None:
    assert lent["due_on"] == year.due(5)


def _extended_by_2_wd(extended: Any, year: Year) -> None:
    assert extended["due_on"] == year.due(2, after=year.due(5))


def _important_due_in_1_wd(change: Any, year: Year) -> None:  # Art. 13(2), (3)
    assert change["important"] is True and change["review_due"] == year.due(1)


def _renamed_and_terminated(final: Any, year: Year) -> None:
    assert final["client_name_en"] == "Blue Ocean Group BV" and final["stage"] == "terminated"


# --- the year ----------------------------------------------------------------------------------

STEPS: tuple[Step, ...] = (
    # Arts. 8, 11: intake, department review (2 wd), creation and numbering, filing (2 wd)
    Step("wang.market", "submit_form", {"form": FORM}),
    Step("zhao.market", "list_forms", check=_review_due_in_2_wd),
    Step("zhao.market", "review_form"),
    Step("li.archive", "create_dossier", check=_numbered_and_due_for_filing),
    Step("li.archive", "file_dossier", {"cabinet": "電商", "shelf": 1}),
    Step("li.archive", "change_stage", {"stage": "active"}),
    # Art. 16: Planning reads it only through a grant the archivist approves; masked
    Step("sun.plan", "read_dossier", refused=("forbidden", None)),
    Step("sun.plan", "request_query", {
        "purpose": "campaign plan", "scope": ["contacts", "needs"],
        "until": lambda year: date(year.today.year + 1, 1, 31).isoformat()}),
    Step("li.archive", "approve_query"),
    Step("sun.plan", "read_dossier", check=_masked_and_only_the_grant),
    # Art. 16: Planning borrows the paper; both approvals, lent, extended once, returned
    Step("sun.plan", "request_loan", {"purpose": "workshop", "period_wd": 5}),
    Step("li.archive", "approve_loan"),
    Step("zhao.market", "approve_loan", refused=("forbidden", "planning")),  # not Planning's head
    Step("chen.cs", "add_staff", {"username": "qian.plan", "department": "planning",
                                  "role": "dept_head"}, check=_a_department_head),
    Step("qian.plan", "approve_loan"),
    Step("li.archive", "lend_loan", check=_due_in_5_wd),
    Step("sun.plan", "extend_loan", {"wd": 2}),
    Step("sun.plan", "extend_loan", {"wd": 1}, refused=("invalid", "extension")),  # one asked
    Step("li.archive", "approve_extension", check=_extended_by_2_wd),
    Step("sun.plan", "extend_loan", {"wd": 1}, refused=("invalid", "extension")),  # one given
    Step("li.archive", "return_loan", {"condition": "good"}),
    # Arts. 12, 13: the client renames itself: an important change, the CS head approves it
    # before the archivist may apply it
    Step("wang.market", "submit_update", {
        "changes": {"client_name_en": "Blue Ocean Group BV"}, "reason": "rebranding",
        "evidence": "KvK extract", "trigger": "basic_info",
        "occurred_on": lambda year: year.today.isoformat()}, check=_important_due_in_1_wd),
    Step("zhao.market", "review_update"),
    Step("li.archive", "apply_update", refused=("invalid", "CS head")),
    Step("chen.cs", "approve_important"),
    Step("li.archive", "apply_update"),
    # Art. 15: the cooperation ends, with no prospect: the six-month review will see it
    Step("li.archive", "change_stage", {
        "stage": "terminated", "terminated_on": lambda year: year.today.isoformat(),
        "further_cooperation": False}),
    Step("wang.market", "read_dossier", check=_renamed_and_terminated),
)

#: What the ledger holds afterwards, beyond onboarding (``staff.*``): every step that
#: succeeded, in order, by whom; no refusal.
LEDGER = [
    ("wang.market", "form.submit"), ("zhao.market", "form.approve"),
    ("li.archive", "dossier.create"), ("li.archive", "dossier.file"),
    ("li.archive", "dossier.stage"),
    ("sun.plan", "query.request"), ("li.archive", "query.approve"),
    ("sun.plan", "loan.request"), ("li.archive", "loan.approve_archive"),
    ("qian.plan", "loan.approve_department"), ("li.archive", "loan.lend"),
    ("sun.plan", "loan.extension_request"), ("li.archive", "loan.extension_approve"),
    ("li.archive", "loan.return"),
    ("wang.market", "update.submit"), ("zhao.market", "update.approve"),
    ("chen.cs", "important_change.approve"), ("li.archive", "update.apply"),
    ("li.archive", "dossier.stage"),
]


def live_the_year(driver: Driver) -> Year:
    """Take every step through ``driver``, checking each answer, then the ledger."""
    year = Year()
    for n, step in enumerate(STEPS):
        args = {k: v(year) if callable(v) else v for k, v in step.args.items()}
        answer = getattr(driver, step.does)(year, step.who, **args)
        if step.refused is not None:
            reason, says = step.refused
            message = driver.refused(answer, reason)
            assert says is None or says in message, (n, step, message)
        else:
            body = driver.ok(answer)
            year.keep(body)
            if step.check is not None:
                step.check(body, year)
    with db.transaction() as conn:
        steps = [tuple(r) for r in conn.execute(text(
            "SELECT actor, action FROM ledger_entry WHERE action NOT LIKE 'staff.%' ORDER BY seq"))]
    assert steps == LEDGER
    return year
