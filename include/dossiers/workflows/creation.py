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

from sqlalchemy import Connection, Text, bindparam, select, update

from dossiers.calendar import clocks
from dossiers.calendar.clocks import close_clock_sql, open_clock_sql
from dossiers.core import clock, ledger, numbering, paging
from dossiers.core.crypto import Field, KeyRing
from dossiers.core.db import DriverStatement, Statement, insert_sql, run_together
from dossiers.core.errors import NotFound, Refused
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import (
    basic_info,
    contract,
    cooperation,
    data_key,
    document,
    dossier,
    form,
    market_info,
    needs,
    other_info,
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


# The hot statements of the three steps, compiled once (issue 16): each step
# runs them through dossiers.core.db.run_together: its locked read (with the write that
# reserves what the step's entry names: the number, the shelf position), then its writes,
# the ledger's lock and its entry, in one round trip each (ledger.append_with). The checks
# are the same functions.
_FORM_LOCKED = decisions.locked_sql(form)
#: The form with its data key, for the form's personal fields (the form is locked, not the key).
_FORM_WITH_KEY = decisions.locked_sql(
    form, data_key.c.wrapped_key,
    of_join=form.outerjoin(data_key, data_key.c.dossier_id == form.c.dossier_id))
_FORM_CREATED = DriverStatement(update(form).where(form.c.id == bindparam("_key", type_=form.c.id.type))
                         .values(status=bindparam("status", type_=form.c.status.type)))
_DOSSIER_LOCKED = decisions.locked_sql(dossier)
_DOSSIER_FILED = DriverStatement(
    update(dossier).where(dossier.c.id == bindparam("_key", type_=dossier.c.id.type))
    .values(filed_at=bindparam("at", type_=dossier.c.filed_at.type),
            updated_at=bindparam("at", type_=dossier.c.updated_at.type)))
_DOSSIER_ROW = insert_sql(dossier, (
    "id", "dossier_no", "client_name_zh", "client_name_en", "name_en_key", "name_zh_key",
    "client_type", "stage", "origin", "liaison_id", "department", "form_id",
    "authorisation_ref", "collected_on", "created_at", "created_by", "updated_at",
    "terminated_on"))
#: The target markets and the key contacts, each table's rows in one statement (the values
#: bound as arrays, the ordinal their place in the form).
_MARKET_ROWS = DriverStatement(
    "INSERT INTO dossier_market (dossier_id, country, ordinal) "
    "SELECT %(dossier_id)s::UUID, c, (n - 1)::SMALLINT "
    "FROM unnest(%(countries)s::VARCHAR[]) WITH ORDINALITY AS t(c, n) ORDER BY n")
_CONTACT_COLUMNS = ("title", "preference", "name_enc", "email_enc", "phone_enc", "email_bidx",
                    "phone_bidx")
_CONTACT_ROWS = DriverStatement(
    f"INSERT INTO contact (dossier_id, ordinal, {', '.join(_CONTACT_COLUMNS)}) "
    f"SELECT %(dossier_id)s::UUID, (n - 1)::SMALLINT, {', '.join(_CONTACT_COLUMNS)} "
    "FROM unnest(%(title)s::TEXT[], %(preference)s::VARCHAR[], %(name_enc)s::BYTEA[], "
    "%(email_enc)s::BYTEA[], %(phone_enc)s::BYTEA[], %(email_bidx)s::BYTEA[], "
    f"%(phone_bidx)s::BYTEA[]) WITH ORDINALITY AS t({', '.join(_CONTACT_COLUMNS)}, n) "
    "ORDER BY n")
_BASIC_ROW = insert_sql(basic_info, ("dossier_id", *BASIC))
_MARKET_INFO_ROW = insert_sql(market_info, ("dossier_id", *MARKET))
_COOPERATION_ROW = insert_sql(cooperation, ("dossier_id", "started_on"))
_CONTRACT_ROW = insert_sql(contract, ("dossier_id", "contract_no", "signed_on", "service_scope",
                                      "period_start", "period_end", "fee_range_enc"))
_NEEDS_ROW = insert_sql(needs, ("dossier_id", "marketing_goals", *NEEDS))
_OTHER_ROW = insert_sql(other_info, ("dossier_id", "other_partners", "honours", "dependence",
                                     "credit_rating_enc"))
_DOCUMENT_ROW = insert_sql(document, ("dossier_id", "document_type", "year", "file_name",
                                      "category", "confirmed_on", "filed_at", "filed_by"))
#: Paper volumes stand in the same order as the electronic dossiers (Art. 15): the next
#: position on the shelf, counted by the insert itself. Sent with the dossier's locked read
#: (issue 16), so it registers the volume only of a dossier not yet filed, labelled from
#: its row; a refusal after it (file_dossier's checks) rolls the step back whole.
_VOLUME_OF_UNFILED = DriverStatement(
    "INSERT INTO paper_volume (dossier_id, volume_no, label_dossier_no, label_client_name, "
    "label_filed_on, cabinet, shelf, position) "
    "SELECT d.id, 1, d.dossier_no, d.client_name_zh, %(filed_on)s::DATE, %(cabinet)s::TEXT, "
    "%(shelf)s::SMALLINT, (SELECT coalesce(max(v.position), 0) + 1 FROM paper_volume AS v "
    "WHERE v.cabinet = %(cabinet)s::TEXT AND v.shelf = %(shelf)s::SMALLINT) "
    "FROM dossier AS d WHERE d.id = %(_key)s::UUID AND d.filed_at IS NULL "
    "RETURNING position")


def review_form(conn: Connection, actor: Actor, form_id: uuid.UUID, *, approve: bool,
                reason: str | None = None, at: datetime | None = None) -> Reviewed:
    """Art. 11(2): the department head of the form's department approves or rejects it."""
    at = at or _now()
    decision = decisions.Decision(approve, reason)
    request = decisions.pending_sql(conn, REVIEW, form_id, _FORM_LOCKED)
    decisions.check(conn, actor, REVIEW, decision, request)
    outcome, recorded = decisions.record_sql(actor, REVIEW, decision, form_id, at=at)
    ledger.append_with(conn, [recorded, close_clock_sql("form_review", "form", [str(form_id)], at)],
                       ledger.Entry(actor=actor.username, action=outcome.entry_action,
                                    subject_type="form", subject_id=str(form_id),
                                    details={"reason": reason} if reason else {}))
    return Reviewed(str(form_id), FormStatus(outcome.status))


def create_dossier(conn: Connection, keyring: KeyRing, actor: Actor, form_id: uuid.UUID, *,
                   at: datetime | None = None) -> Created:
    """Art. 11(3)-(4): the archivist creates the electronic dossier and numbers it."""
    at = at or _now()
    # The form, locked, with the next serial of its client type (Art. 11(4)): one round trip.
    # The counter moves on only for a reviewed form of a known type, and a refusal below
    # rolls the step back whole, its increment with it (numbering.reserve_for_form).
    row, [counter] = decisions.pending_with(
        conn, REVIEW, form_id, _FORM_WITH_KEY,
        [numbering.reserve_for_form(at.year, form_id, str(FormStatus.REVIEWED))])
    authorize(conn, actor, Action.DOSSIER_CREATE, subject=f"form {form_id}")
    if row.status != FormStatus.REVIEWED:
        raise Refused(f"is {row.status}: a dossier is created only from a form its "
                      "department head has reviewed (Art. 11)", record=f"form {form_id}")
    p: dict[str, Any] = row.payload
    dossier_id = row.dossier_id
    if row.wrapped_key is not None:  # read with the form; a missing one is refused on use
        keyring.key_from(dossier_id, row.wrapped_key)
    personal = json.loads(keyring.open(conn, dossier_id, personal_field(form_id),
                                       row.personal_enc) or "{}")
    numbering.check_type(row.client_type)
    assert counter, "a reviewed form of a known type moves its counter on"
    number, number_row = numbering.reserved(at.year, row.client_type, counter[0].last_serial,
                                            dossier_id, at=at)
    origin = Origin.POTENTIAL if row.stage == Stage.POTENTIAL else Origin.NEW
    # The number's row, the dossier, its Art. 10 dimensions, their sources (Art. 9), the
    # form's new status and the filing clock (Art. 11(5)), then the ledger's lock and entry:
    # one round trip (each a statement of its own, the dossier's row first).
    steps: list[Statement] = [number_row, (_DOSSIER_ROW, {
        "id": dossier_id, "dossier_no": number, "client_name_zh": row.client_name_zh,
        "client_name_en": row.client_name_en, "name_en_key": row.name_en_key,
        "name_zh_key": row.name_zh_key, "client_type": row.client_type, "stage": row.stage,
        "origin": str(origin), "liaison_id": row.liaison_id, "department": row.department,
        "form_id": form_id, "authorisation_ref": p["authorisation_ref"],
        "collected_on": p["collected_on"], "created_at": at, "created_by": actor.staff_id,
        "updated_at": at, "terminated_on": p.get("terminated_on")})]
    steps += _dimension_rows(conn, keyring, dossier_id, p, personal)
    if p.get("collection_channel"):  # Art. 9 (forms submitted before it was asked have none)
        steps.append(sources.recording_sql(dossier_id, sources.form_dimensions(p, personal),
                                           p["collection_channel"], p["authorisation_ref"], at,
                                           form_id=form_id))
    steps.append((_FORM_CREATED, {"_key": form_id, "status": str(FormStatus.CREATED)}))
    opening, filing = open_clock_sql(
        "filing", "dossier", str(dossier_id), "creation_filing_wd", owner_id=actor.staff_id,
        start=clock.local_date(at))  # Art. 11(5)
    steps.append(opening)
    ledger.append_with(conn, steps, ledger.Entry(
        actor=actor.username, action=LedgerAction.DOSSIER_CREATE, subject_type="dossier",
        subject_id=str(dossier_id), dossier_no=number,
        details={"form_id": str(form_id), "client_type": row.client_type, "stage": row.stage,
                 "filing_due": filing.due.isoformat()},
    ))
    return Created(str(dossier_id), number, filing.due.isoformat(), filing.provisional)


def _dimension_rows(conn: Connection, keyring: KeyRing, dossier_id: uuid.UUID,
                    p: dict[str, Any], personal: dict[str, str]) -> list[Statement]:
    """The Art. 10 dimensions from the form, as INSERTs run with the dossier's (one per table);
    personal fields re-sealed in their new place."""
    def seal(table: str, column: str, record: str, value: str | None) -> bytes | None:
        return keyring.seal(conn, dossier_id, Field(table, column, record), value)

    steps: list[Statement] = []
    if p["target_markets"]:
        steps.append((_MARKET_ROWS, {"dossier_id": dossier_id,
                                     "countries": list(p["target_markets"])}))
    steps.append((_BASIC_ROW, {"dossier_id": dossier_id, **{k: p.get(k) for k in BASIC}}))
    contacts: dict[str, list[Any]] = {c: [] for c in _CONTACT_COLUMNS}
    for i, c in enumerate(p.get("contacts", [])):
        prefix = "contact_" if i == 0 else f"contacts[{i}]."
        email, phone = personal.get(prefix + "email"), personal.get(prefix + "phone")
        for column, value in (
                ("title", c.get("title")), ("preference", c.get("preference")),
                ("name_enc", seal("contact", "name", str(i), personal.get(prefix + "name"))),
                ("email_enc", seal("contact", "email", str(i), email)),
                ("phone_enc", seal("contact", "phone", str(i), phone)),
                ("email_bidx",
                 keyring.blind_index(conn, "email", email.casefold()) if email else None),
                ("phone_bidx", keyring.blind_index(conn, "phone", phone) if phone else None)):
            contacts[column].append(value)
    if contacts["title"]:
        steps.append((_CONTACT_ROWS, {"dossier_id": dossier_id, **contacts}))
    steps.append((_MARKET_INFO_ROW, {"dossier_id": dossier_id, **{k: p.get(k) for k in MARKET}}))
    steps.append((_COOPERATION_ROW, {"dossier_id": dossier_id,
                                     "started_on": p.get("contract_signed_on")}))
    if p.get("contract_no"):
        steps.append((_CONTRACT_ROW, {
            "dossier_id": dossier_id, "contract_no": p["contract_no"],
            "signed_on": p["contract_signed_on"], "service_scope": p.get("service_scope"),
            "period_start": p.get("period_start"), "period_end": p.get("period_end"),
            "fee_range_enc": seal("contract", "fee_range", p["contract_no"],
                                  personal.get("fee_range")),
        }))
    steps.append((_NEEDS_ROW, {"dossier_id": dossier_id,
                               "marketing_goals": p.get("marketing_goals") or [],
                               **{k: p.get(k) for k in NEEDS}}))
    steps.append((_OTHER_ROW, {
        "dossier_id": dossier_id, "other_partners": p.get("other_partners"),
        "honours": p.get("honours"), "dependence": p.get("dependence"),
        "credit_rating_enc": seal("other_info", "credit_rating", str(dossier_id),
                                  personal.get("credit_rating")),
    }))
    return steps


def document_file_name(client_name: str, document_type: str, year: int) -> str:
    """Art. 15: electronic files are named ``<client name>-<document type>-<year>``."""
    return f"{client_name}-{document_type}-{year}"


def file_dossier(conn: Connection, actor: Actor, dossier_id: uuid.UUID, *, cabinet: str,
                 shelf: int, at: datetime | None = None) -> Filed:
    """Art. 11(5), 15: file the electronic dossier and register its paper volume."""
    at = at or _now()
    # The dossier, locked, with its paper volume registered if it is not filed yet: one
    # round trip; the checks below refuse as before, and a refusal rolls the volume back.
    rows, volume = run_together(conn, [
        (_DOSSIER_LOCKED, {"_key": dossier_id}),
        (_VOLUME_OF_UNFILED, {"_key": dossier_id, "filed_on": clock.local_date(at),
                              "cabinet": cabinet, "shelf": shelf})])
    if not rows:
        raise NotFound("no such dossier", record=f"dossier {dossier_id}")
    row = rows[0]
    authorize(conn, actor, Action.DOSSIER_FILE, subject=f"dossier {row.dossier_no}")
    if row.filed_at is not None:
        raise Refused("is already filed", record=f"dossier {row.dossier_no}")
    assert volume, "an unfiled dossier's volume is registered"
    position: int = volume[0].position
    name = document_file_name(row.client_name_zh, "採集表", at.year)
    # The electronic document, the dossier's filing time and its clocks stopped (Art. 8:
    # filing completes a new client's creation and a legacy client's back-fill), then the
    # ledger's lock and entry: one round trip.
    steps: list[Statement] = [
        (_DOCUMENT_ROW, {
            "dossier_id": dossier_id, "document_type": "採集表", "year": at.year,
            "file_name": name, "category": f"{row.client_type}/{row.stage}",
            "confirmed_on": clock.local_date(row.created_at), "filed_at": at,
            "filed_by": actor.staff_id}),
        (_DOSSIER_FILED, {"_key": dossier_id, "at": at}),
        close_clock_sql(("filing", "new_client_creation", "legacy_backfill"), "dossier",
                        [str(dossier_id)], at),
    ]
    ledger.append_with(conn, steps, ledger.Entry(
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
