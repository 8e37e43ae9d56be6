"""From a submitted collection form to a filed dossier (Arts. 8, 11, 15).

1. the department head reviews the form within 2 wd (approve, or reject with a reason
   that goes back to the liaison) - :func:`review_form`;
2. the archivist verifies it and creates the electronic dossier, which gets its number -
   :func:`create_dossier`;
3. the archivist files the electronic and paper dossier within 2 wd of creation and the
   paper volume is registered in the vault - :func:`file_dossier`.

Each step checks permission, refuses illegal transitions with the reason and changes
nothing then, and writes its ledger entry in the same transaction.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Text, func, insert, literal, select, update

from dossiers.calendar import clocks
from dossiers.calendar.clocks import close_clock, close_clock_statement, open_clock_statement
from dossiers.core import clock, ledger, numbering, paging
from dossiers.core.crypto import Field, KeyRing
from dossiers.core.errors import NotFound, Refused
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import (
    basic_info,
    contact,
    contract,
    cooperation,
    document,
    dossier,
    dossier_market,
    form,
    market_info,
    needs,
    other_info,
    paper_volume,
    staff,
)
from dossiers.core.vocabulary import FormStatus, LedgerAction, Origin, Stage
from dossiers.intake.service import personal_field
from dossiers.workflows import decisions, sources
from dossiers.workflows.access import worked_on
from dossiers.workflows.results import Result

BASIC = ("registered_address", "domestic_contact_address", "founded_on", "legal_form",
         "registered_capital_amount", "registered_capital_currency", "business_scope",
         "core_business", "org_structure")
MARKET = ("market_positioning", "target_customers", "competition", "market_share",
          "policy_fit", "industry_trends")
NEEDS = ("brand_positioning", "creative_preferences", "selling_points", "consumer_traits",
         "service_expectations", "latent_needs")


@dataclass(frozen=True)
class Reviewed(Result):
    form_id: str
    status: FormStatus


@dataclass(frozen=True)
class Created(Result):
    """A dossier created and numbered (Art. 11(4)); filing is due by ``filing_due``."""

    dossier_id: str
    dossier_no: str
    filing_due: str  # ISO date
    filing_due_provisional: bool


@dataclass(frozen=True)
class Filed(Result):
    """Where the dossier's first paper volume stands (Art. 15)."""

    dossier_no: str
    cabinet: str
    shelf: int
    position: int


@dataclass(frozen=True)
class FormSummary(Result):
    """A collection form in a list, with its review deadline (Art. 11(2))."""

    form_id: str
    status: FormStatus
    client_name_zh: str
    client_name_en: str
    client_type: str
    stage: str
    department: str
    liaison: str
    submitted_at: datetime
    review_due: date | None
    review_due_provisional: bool | None
    rejection_reason: str | None


def _now() -> datetime:
    return clock.local_now()


def _form(conn: Connection, form_id: uuid.UUID) -> Any:
    return decisions.pending(conn, REVIEW, form_id)


#: Art. 11(2): the department head of the form's department (or the CS head) reviews a form,
#: never one they submitted or whose liaison they are.
REVIEW = decisions.review(
    "form", table=form, noun="form", missing="no such form", action=Action.FORM_REVIEW,
    parties=("submitted_by", "liaison_id"), department="the form",
    approved=decisions.Outcome(FormStatus.REVIEWED, LedgerAction.FORM_APPROVE, "reviewed_by",
                               "reviewed_at"),
    rejected=decisions.Outcome(FormStatus.REJECTED, LedgerAction.FORM_REJECT, "reviewed_by",
                               "reviewed_at", "rejection_reason"))


def review_form(conn: Connection, actor: Actor, form_id: uuid.UUID, *, approve: bool,
                reason: str | None = None, at: datetime | None = None) -> Reviewed:
    """Art. 11(2): the department head of the form's department approves or rejects it."""
    at = at or _now()
    decision = decisions.Decision(approve, reason)
    decisions.take(conn, actor, REVIEW, form_id, decision)
    outcome = decisions.record(conn, actor, REVIEW, decision, form_id, at=at)
    close_clock(conn, "form_review", "form", str(form_id), at)
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=outcome.entry_action, subject_type="form",
        subject_id=str(form_id), details={"reason": reason} if reason else {},
    ))
    return Reviewed(str(form_id), FormStatus(outcome.status))


def create_dossier(conn: Connection, keyring: KeyRing, actor: Actor, form_id: uuid.UUID, *,
                   at: datetime | None = None) -> Created:
    """Art. 11(3)-(4): the archivist creates the electronic dossier and numbers it."""
    at = at or _now()
    row = _form(conn, form_id)
    authorize(conn, actor, Action.DOSSIER_CREATE, subject=f"form {form_id}")
    if row.status != FormStatus.REVIEWED:
        raise Refused(f"is {row.status}: a dossier is created only from a form its "
                      "department head has reviewed (Art. 11)", record=f"form {form_id}")
    p: dict[str, Any] = row.payload
    personal = json.loads(keyring.open(conn, row.dossier_id, personal_field(form_id),
                                       row.personal_enc) or "{}")
    dossier_id = row.dossier_id
    number = numbering.allocate(conn, at.year, row.client_type, dossier_id, at=at)
    origin = Origin.POTENTIAL if row.stage == Stage.POTENTIAL else Origin.NEW
    # The dossier, its Art. 10 dimensions, their sources (Art. 9), the form's new status and
    # the filing clock (Art. 11(5)) go in as ONE statement (the others as data-modifying
    # CTEs; foreign keys are checked at its end): one round trip instead of a dozen.
    steps = _dimension_inserts(conn, keyring, dossier_id, p, personal)
    if p.get("collection_channel"):  # Art. 9 (forms submitted before it was asked have none)
        steps += sources.recording(dossier_id, sources.form_dimensions(p, personal),
                                   p["collection_channel"], p["authorisation_ref"], at,
                                   form_id=form_id)
    steps.append(update(form).where(form.c.id == form_id).values(status=FormStatus.CREATED))
    opening, filing = open_clock_statement(
        "filing", "dossier", str(dossier_id), "creation_filing_wd", owner_id=actor.staff_id,
        start=clock.local_date(at))  # Art. 11(5)
    steps.append(opening)
    conn.execute(insert(dossier).values(
        id=dossier_id, dossier_no=number, client_name_zh=row.client_name_zh,
        client_name_en=row.client_name_en, name_en_key=row.name_en_key,
        name_zh_key=row.name_zh_key, client_type=row.client_type, stage=row.stage,
        origin=origin, liaison_id=row.liaison_id, department=row.department, form_id=form_id,
        authorisation_ref=p["authorisation_ref"], collected_on=p["collected_on"],
        created_at=at, created_by=actor.staff_id, updated_at=at,
        terminated_on=p.get("terminated_on"),
    ).add_cte(*(step.cte(f"step_{i}") for i, step in enumerate(steps))))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.DOSSIER_CREATE, subject_type="dossier",
        subject_id=str(dossier_id), dossier_no=number,
        details={"form_id": str(form_id), "client_type": row.client_type, "stage": row.stage,
                 "filing_due": filing.due.isoformat()},
    ))
    return Created(str(dossier_id), number, filing.due.isoformat(), filing.provisional)


def _dimension_inserts(conn: Connection, keyring: KeyRing, dossier_id: uuid.UUID,
                       p: dict[str, Any], personal: dict[str, str]) -> list[Any]:
    """The Art. 10 dimensions from the form, as INSERT statements run with the dossier's;
    personal fields re-sealed in their new place."""
    def seal(table: str, column: str, record: str, value: str | None) -> bytes | None:
        return keyring.seal(conn, dossier_id, Field(table, column, record), value)

    # One single-row INSERT per row: a multi-row VALUES is not in SQLAlchemy's statement
    # cache (its key holds the values), and compiling it each time costs more than the rows.
    steps: list[Any] = [insert(dossier_market).values(dossier_id=dossier_id, country=c, ordinal=i)
                        for i, c in enumerate(p["target_markets"])]
    steps.append(insert(basic_info).values(dossier_id=dossier_id,
                                           **{k: p.get(k) for k in BASIC}))
    contacts = []
    for i, c in enumerate(p.get("contacts", [])):
        prefix = "contact_" if i == 0 else f"contacts[{i}]."
        email, phone = personal.get(prefix + "email"), personal.get(prefix + "phone")
        contacts.append({
            "dossier_id": dossier_id, "ordinal": i, "title": c.get("title"),
            "preference": c.get("preference"),
            "name_enc": seal("contact", "name", str(i), personal.get(prefix + "name")),
            "email_enc": seal("contact", "email", str(i), email),
            "phone_enc": seal("contact", "phone", str(i), phone),
            "email_bidx": keyring.blind_index(conn, "email", email.casefold()) if email else None,
            "phone_bidx": keyring.blind_index(conn, "phone", phone) if phone else None,
        })
    steps += [insert(contact).values(row) for row in contacts]
    steps.append(insert(market_info).values(dossier_id=dossier_id,
                                            **{k: p.get(k) for k in MARKET}))
    steps.append(insert(cooperation).values(dossier_id=dossier_id,
                                            started_on=p.get("contract_signed_on")))
    if p.get("contract_no"):
        steps.append(insert(contract).values(
            dossier_id=dossier_id, contract_no=p["contract_no"],
            signed_on=p["contract_signed_on"], service_scope=p.get("service_scope"),
            period_start=p.get("period_start"), period_end=p.get("period_end"),
            fee_range_enc=seal("contract", "fee_range", p["contract_no"],
                               personal.get("fee_range")),
        ))
    steps.append(insert(needs).values(dossier_id=dossier_id,
                                      marketing_goals=p.get("marketing_goals") or [],
                                      **{k: p.get(k) for k in NEEDS}))
    steps.append(insert(other_info).values(
        dossier_id=dossier_id, other_partners=p.get("other_partners"),
        honours=p.get("honours"), dependence=p.get("dependence"),
        credit_rating_enc=seal("other_info", "credit_rating", str(dossier_id),
                               personal.get("credit_rating")),
    ))
    return steps


def document_file_name(client_name: str, document_type: str, year: int) -> str:
    """Art. 15: electronic files are named ``<client name>-<document type>-<year>``."""
    return f"{client_name}-{document_type}-{year}"


def file_dossier(conn: Connection, actor: Actor, dossier_id: uuid.UUID, *, cabinet: str,
                 shelf: int, at: datetime | None = None) -> Filed:
    """Art. 11(5), 15: file the electronic dossier and register its paper volume."""
    at = at or _now()
    row = conn.execute(select(dossier).where(dossier.c.id == dossier_id).with_for_update()).first()
    if row is None:
        raise NotFound("no such dossier", record=f"dossier {dossier_id}")
    authorize(conn, actor, Action.DOSSIER_FILE, subject=f"dossier {row.dossier_no}")
    if row.filed_at is not None:
        raise Refused("is already filed", record=f"dossier {row.dossier_no}")
    name = document_file_name(row.client_name_zh, "採集表", at.year)
    # The electronic document, the dossier's filing time and its clocks stopped (Art. 8:
    # filing completes a new client's creation and a legacy client's back-fill) go in as
    # data-modifying CTEs of the paper volume's INSERT: one round trip, not four.
    steps = [
        insert(document).values(
            dossier_id=dossier_id, document_type="採集表", year=at.year, file_name=name,
            category=f"{row.client_type}/{row.stage}", confirmed_on=clock.local_date(row.created_at),
            filed_at=at, filed_by=actor.staff_id),
        update(dossier).where(dossier.c.id == dossier_id).values(filed_at=at, updated_at=at),
        close_clock_statement(("filing", "new_client_creation", "legacy_backfill"), "dossier",
                              [str(dossier_id)], at),
    ]
    # Paper volumes stand in the same order as the electronic dossiers (Art. 15): the next
    # position on the shelf, counted by the insert itself.
    volume = {"dossier_id": dossier_id, "volume_no": 1, "label_dossier_no": row.dossier_no,
              "label_client_name": row.client_name_zh, "label_filed_on": clock.local_date(at),
              "cabinet": cabinet, "shelf": shelf}
    position = conn.execute(insert(paper_volume).from_select(
        [*volume, "position"],
        select(*(literal(v, paper_volume.c[k].type) for k, v in volume.items()),
               func.coalesce(func.max(paper_volume.c.position), 0) + 1)
        .where(paper_volume.c.cabinet == cabinet, paper_volume.c.shelf == shelf),
    ).returning(paper_volume.c.position)
        .add_cte(*(step.cte(f"step_{i}") for i, step in enumerate(steps)))).scalar_one()
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.DOSSIER_FILE, subject_type="dossier",
        subject_id=str(dossier_id), dossier_no=row.dossier_no,
        details={"cabinet": cabinet, "shelf": shelf, "position": position, "document": name},
    ))
    return Filed(row.dossier_no, cabinet, shelf, position)


def list_forms(conn: Connection, actor: Actor, status: str = FormStatus.SUBMITTED, *,
               limit: int = paging.DEFAULT_LIMIT,
               after: str | None = None) -> paging.Page[FormSummary]:
    """Forms the actor works on: a liaison their own, a department head their department's,
    Customer Service (archivist, CS head) all of them; with the review deadline. A page of
    ``limit`` in submission order, after the cursor ``after`` (:mod:`dossiers.core.paging`)."""
    authorize(conn, actor, Action.FORM_LIST, subject="forms")
    query = (select(form.c.id, form.c.status, form.c.client_name_zh, form.c.client_name_en,
                    form.c.client_type, form.c.stage, form.c.department, staff.c.username,
                    form.c.submitted_at, form.c.rejection_reason,
                    *(clocks.column_of("form_review", "form", form.c.id.cast(Text), c).label(c)
                      for c in ("due_on", "provisional")))
             .join(staff, staff.c.id == form.c.liaison_id))
    if status != "all":
        query = query.where(form.c.status == status)
    query = query.where(worked_on(actor, form.c.department, form.c.liaison_id))
    page = paging.fetch(conn, "forms", query, (form.c.submitted_at, form.c.id), limit=limit,
                        after=after)
    return paging.Page([FormSummary(str(r.id), FormStatus(r.status), r.client_name_zh, r.client_name_en,
                                    r.client_type, r.stage, r.department, r.username,
                                    r.submitted_at, r.due_on, r.provisional, r.rejection_reason)
                        for r in page.items], page.next)
