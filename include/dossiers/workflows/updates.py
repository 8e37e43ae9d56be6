"""Updating a dossier (Arts. 12, 13): the Dossier Information Update Form and its flow.

1. the client's liaison (or their department head) submits what changes, why and on what
   evidence - :func:`submit`; an immediate-update trigger of Art. 12 names the event and
   the day it happened, and the submission is due 2 wd after it;
2. the department head reviews within 1 wd - :func:`review`;
3. an **important change** (Art. 13(3): client name, core cooperation terms; the list is
   ``important_change_fields`` in :mod:`dossiers.core.policy`) needs the CS head's approval -
   :func:`approve_important`;
4. the archivist applies it within 1 wd - :func:`apply`. The value before and after each
   field is kept on the form (personal ones only as ciphertext), with who asked, reviewed,
   approved and applied: the whole update is traceable (Art. 13(4)).

The new values are checked with the collection form's own rules when the form is submitted
and again when it is applied; they are kept as text in the form's own words.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, TypedDict

from sqlalchemy import Connection, Select, Table, delete, insert, select, update

from dossiers.calendar.clocks import close_clock, open_clock
from dossiers.core import clock as domain_clock
from dossiers.core import ledger, paging
from dossiers.core.crypto import Field, KeyRing
from dossiers.core.errors import Refused
from dossiers.core.free_text import refuse_personal_data
from dossiers.core.permissions import Action, Actor, Role, authorize
from dossiers.core.policy import policy
from dossiers.core.schema import (
    UPDATE_TRIGGERS,
    basic_info,
    contact,
    contract,
    dossier,
    dossier_change,
    dossier_change_item,
    dossier_market,
    market_info,
    needs,
    other_info,
    staff,
)
from dossiers.core.vocabulary import CollectionChannel, LedgerAction, UpdateStatus
from dossiers.documents.renaming import client_renamed
from dossiers.intake import authorisation
from dossiers.intake.rules import PERSONAL_FIELDS, UPDATABLE_FIELDS, name_key, validate_update
from dossiers.intake.service import zh_key
from dossiers.workflows import decisions, sources
from dossiers.workflows.access import find, mask, worked_on
from dossiers.workflows.results import Result


@dataclass(frozen=True)
class Place:
    """Where an updatable field is stored: a one-row-per-dossier table, the key contact
    (ordinal 0) or the latest contract."""

    table: Table
    column: str


_ONE_ROW = {basic_info: ("registered_address", "domestic_contact_address", "founded_on",
                         "legal_form", "business_scope", "core_business", "org_structure"),
            market_info: ("market_positioning", "target_customers", "competition",
                          "market_share", "policy_fit", "industry_trends"),
            needs: ("marketing_goals", "brand_positioning", "creative_preferences",
                    "selling_points", "consumer_traits", "service_expectations", "latent_needs"),
            other_info: ("other_partners", "honours", "dependence")}
PLACES: dict[str, Place] = {
    **{name: Place(table, name) for table, names in _ONE_ROW.items() for name in names},
    "client_name_zh": Place(dossier, "client_name_zh"),
    "client_name_en": Place(dossier, "client_name_en"),
    "target_markets": Place(dossier_market, "country"),
    "registered_capital": Place(basic_info, "registered_capital_amount"),
    "credit_rating": Place(other_info, "credit_rating_enc"),
    "contact_name": Place(contact, "name_enc"), "contact_title": Place(contact, "title"),
    "contact_email": Place(contact, "email_enc"), "contact_phone": Place(contact, "phone_enc"),
    "contact_preference": Place(contact, "preference"),
    "contract_no": Place(contract, "contract_no"),
    "contract_signed_on": Place(contract, "signed_on"),
    "service_scope": Place(contract, "service_scope"),
    "period_start": Place(contract, "period_start"), "period_end": Place(contract, "period_end"),
    "fee_range": Place(contract, "fee_range_enc"),
    "authorisation_ref": Place(dossier, "authorisation_ref"),
}
#: Fields that are about the dossier's records, not a dimension of the client's information:
#: an update changing only these records no source (Art. 9).
_NOT_A_DIMENSION = frozenset({"authorisation_ref"})
assert set(PLACES) == set(UPDATABLE_FIELDS), "every updatable field has a place"


def _now() -> datetime:
    return domain_clock.local_now()


def _as_text(value: Any) -> str | None:
    """A stored value in the form's own words (what the update form would say)."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value) or None
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _item_field(change_id: uuid.UUID, name: str, when: str) -> Field:
    return Field("dossier_change_item", f"{name}.{when}", str(change_id))


#: Left out of a result when ``None`` (a key only some outcomes have).
_OPTIONAL: Any = {"omit_none": True}


@dataclass(frozen=True)
class Submitted(Result):
    """An update form submitted (Art. 13(1)); an immediate update (Art. 12) also says its
    trigger, when it happened, when it was due and whether it is late."""

    change_id: str
    dossier_no: str
    status: UpdateStatus
    fields: list[str]
    important: bool
    trigger: str | None = field(default=None, metadata=_OPTIONAL)
    occurred_on: str | None = field(default=None, metadata=_OPTIONAL)  # ISO date
    submission_due: str | None = field(default=None, metadata=_OPTIONAL)  # ISO date
    late: bool | None = field(default=None, metadata=_OPTIONAL)
    collection_channel: str | None = field(default=None, metadata=_OPTIONAL)  # Art. 9
    review_due: str = field(kw_only=True)  # ISO date


@dataclass(frozen=True)
class Decided(Result):
    """A review (Art. 13(2)) or an important change's approval (Art. 13(3)): a rejection's
    reason, or when the archivist applies it."""

    change_id: str
    status: UpdateStatus
    important: bool | None = field(default=None, metadata=_OPTIONAL)
    reason: str | None = field(default=None, metadata=_OPTIONAL)
    apply_due: str | None = field(default=None, metadata=_OPTIONAL)  # ISO date


@dataclass(frozen=True)
class Applied(Result):
    change_id: str
    dossier_no: str
    status: UpdateStatus
    fields: list[str]


class FieldChange(TypedDict):
    """One field of an update form, before and after (personal values masked)."""

    field: str
    personal: bool
    before: str | None
    after: str | None


@dataclass(frozen=True)
class UpdateForm(Result):
    """An update form in a list (Art. 13), with each field before and after."""

    change_id: str
    dossier_no: str
    status: str
    important: bool
    trigger: str | None
    occurred_on: date | None
    reason: str
    evidence: str
    requested_by: str
    requested_at: datetime
    reviewed_at: datetime | None
    approved_at: datetime | None
    applied_at: datetime | None
    rejection_reason: str | None
    #: How the new information was obtained (Art. 9); None on forms from before it was asked.
    collection_channel: str | None
    changes: list[FieldChange]


def is_important(fields: set[str]) -> bool:
    """Art. 13(3): does the change touch a field that needs the CS head's approval?"""
    return bool(fields & set(policy().important_change_fields))


def submit(conn: Connection, keyring: KeyRing, actor: Actor, dossier_no: str,
           changes: Mapping[str, object], *, reason: str, evidence: str,
           trigger: str | None = None, occurred_on: date | None = None,
           collection_channel: str | None = None, at: datetime | None = None) -> Submitted:
    """Art. 13(1): the liaison submits an update form; nothing is changed yet. The channel
    the new information came through (Art. 9; required, as on the collection form) is
    checked against the client's authorisation (Art. 19) and recorded for each dimension it
    changes when the update is applied. A new ``authorisation_ref`` renews the client's
    authorisation: it must be on record and in force, and the channel within its scope."""
    at = at or _now()
    row = find(conn, dossier_no)
    record = f"dossier {dossier_no}"
    authorize(conn, actor, Action.UPDATE_SUBMIT, subject=record)
    own = actor.staff_id == row.liaison_id
    heads_it = Role.DEPT_HEAD in actor.roles and actor.department == row.department
    if not (own or heads_it):
        authorize(conn, actor, Action.UPDATE_SUBMIT, subject=record,
                  reason="only the client's own liaison or their department head submits its "
                         "updates (Art. 7)")
    for name, text in (("reason", reason), ("evidence", evidence)):
        if not (text or "").strip():
            raise Refused("an update form says what changes, why and on what evidence "
                          "(Art. 13(1))", record=record, field=name)
        refuse_personal_data(text, record=record, field=name)  # ledgered: Art. 19
    if trigger is not None and trigger not in UPDATE_TRIGGERS:
        raise Refused(f"unknown trigger {trigger!r}; one of {', '.join(UPDATE_TRIGGERS)} "
                      "(Art. 12)", record=record, field="trigger")
    if (trigger is None) != (occurred_on is None):
        raise Refused("an immediate update names both its trigger and the day it happened",
                      record=record, field="occurred_on" if trigger else "trigger")
    if occurred_on is not None and occurred_on > domain_clock.local_date(at):
        raise Refused("is in the future", record=record, field="occurred_on")
    values, errors = validate_update(changes, today=domain_clock.local_date(at))
    if errors:
        raise Refused("; ".join(e.message for e in errors), record=record, field=errors[0].field)
    _check_channel(conn, row, record, collection_channel, values.get("authorisation_ref"),
                   domain_clock.local_date(at))
    change_id = uuid.uuid4()
    important = is_important(set(changes))
    conn.execute(insert(dossier_change).values(
        id=change_id, dossier_id=row.id, important=important, trigger=trigger,
        occurred_on=occurred_on, reason=reason.strip(), evidence=evidence.strip(),
        requested_by=actor.staff_id, requested_at=at, collection_channel=collection_channel))
    conn.execute(insert(dossier_change_item), [
        _item(conn, keyring, row.id, change_id, name, "after", _new_text(name, values))
        for name in changes])
    details: dict[str, Any] = {"fields": sorted(changes), "important": important}
    if collection_channel is not None:
        details["collection_channel"] = collection_channel
    if trigger and occurred_on:  # Art. 12: immediate updates are submitted within 2 wd
        clock = open_clock(conn, "immediate_update", "dossier_change", str(change_id),
                           "immediate_update_wd", owner_id=row.liaison_id, start=occurred_on,
                           met_at=at)
        details.update(trigger=trigger, occurred_on=occurred_on.isoformat(),
                       submission_due=clock.due.isoformat(), late=domain_clock.local_date(at) > clock.due)
    review = open_clock(conn, "update_review", "dossier_change", str(change_id),
                        "update_review_wd", owner_id=_head_of(conn, row.department),
                        start=domain_clock.local_date(at))
    details["review_due"] = review.due.isoformat()
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.UPDATE_SUBMIT, subject_type="dossier_change",
        subject_id=str(change_id), dossier_no=dossier_no, details=details))
    return Submitted(str(change_id), dossier_no, UpdateStatus.SUBMITTED, **details)


def _check_channel(conn: Connection, row: Any, record: str, channel: str | None,
                   new_reference: str | None, today: date) -> None:
    """Art. 9: every update form names a known channel (``invalid_channel`` when missing or
    unknown, as the collection form); Art. 19: within the client's authorisation (its
    scope, its term; compliant research only with one on record). An update that renews the
    authorisation (a new ``authorisation_ref``) is checked against the new one, which must
    be on record and current."""
    if channel not in {c.value for c in CollectionChannel}:
        found = "is missing" if not channel else f"{channel!r} is unknown"
        raise Refused(f"invalid_channel: {found}: one of "
                      f"{', '.join(c.value for c in CollectionChannel)} (Art. 9)",
                      record=record, field="collection_channel")
    reference = new_reference or row.authorisation_ref
    terms = authorisation.on_record(conn, [reference]).get(reference)
    if new_reference is not None:
        _check_renewal(new_reference, terms, record, today)
    why = authorisation.refusal(reference, terms, channel, today, today)
    if why:
        raise Refused(f"{authorisation.NO_AUTHORISATION}: {why}", record=record,
                      field="authorisation_ref" if new_reference else "collection_channel")


def _check_renewal(reference: str, terms: authorisation.Terms | None, record: str,
                   today: date) -> None:
    """Art. 19: a dossier is moved only onto an authorisation on record and in force."""
    if terms is None:
        raise Refused(f"{authorisation.NO_AUTHORISATION}: authorisation {reference!r} is not "
                      "recorded: record it first (`dossier authorisations record`) (Art. 19)",
                      record=record, field="authorisation_ref")
    if terms.expires_on < today:
        raise Refused(f"{authorisation.NO_AUTHORISATION}: authorisation {reference!r} expired "
                      f"on {terms.expires_on} (Art. 19)", record=record,
                      field="authorisation_ref")


def _new_text(name: str, values: Mapping[str, Any]) -> str | None:
    if name == "registered_capital":
        amount = values.get("registered_capital_amount")
        return None if amount is None else f"{amount} {values['registered_capital_currency']}"
    return _as_text(values.get(name))


def _item(conn: Connection, keyring: KeyRing, dossier_id: uuid.UUID, change_id: uuid.UUID,
          name: str, when: str, text: str | None) -> dict[str, Any]:
    personal = name in PERSONAL_FIELDS
    sealed = (keyring.seal(conn, dossier_id, _item_field(change_id, name, when), text)
              if personal else None)
    return {"change_id": change_id, "field": name, "personal": personal,
            f"{when}_enc": sealed, f"{when}_value": None if personal else text}


def _head_of(conn: Connection, department: str) -> int | None:
    from dossiers.core.directory import department_heads

    return department_heads(conn).get(department)


def _with_dossier(change_id: uuid.UUID) -> Select[Any]:
    """An update form with its dossier's number and department."""
    return (select(dossier_change, dossier.c.dossier_no, dossier.c.department)
            .join(dossier, dossier.c.id == dossier_change.c.dossier_id)
            .where(dossier_change.c.id == change_id))


def _change(conn: Connection, change_id: uuid.UUID) -> Any:
    return decisions.pending(conn, REVIEW, change_id)


_REJECTED = decisions.Outcome(UpdateStatus.REJECTED, LedgerAction.UPDATE_REJECT, "rejected_by",
                              reason="rejection_reason")

#: Art. 13(2): the department head reviews an update form, never the one who submitted it.
REVIEW = decisions.review(
    "update form", table=dossier_change, noun="update", missing="no such update form",
    action=Action.UPDATE_REVIEW, parties=("requested_by",), department="the dossier",
    rejected=_REJECTED,
    approved=decisions.Outcome(UpdateStatus.REVIEWED, LedgerAction.UPDATE_APPROVE, "reviewed_by",
                               "reviewed_at"))

#: Art. 13(3): the CS head approves an important change after its review, and is neither
#: the one who asked for it nor the one who reviewed it.
IMPORTANT = replace(
    REVIEW, action=Action.IMPORTANT_CHANGE_APPROVE, parties=("requested_by", "reviewed_by"),
    department=None,
    own="nobody approves a change they asked for or reviewed (separation of duties)",
    pending=("reviewed",), needs_reason="a refusal needs a reason",
    not_pending="is {status}: the CS head approves an important change after the department "
                "head has reviewed it",
    approved=decisions.Outcome(UpdateStatus.APPROVED, LedgerAction.IMPORTANT_CHANGE_APPROVE,
                               "approved_by",
                               "approved_at"),
    rejected=replace(_REJECTED, entry_action=LedgerAction.IMPORTANT_CHANGE_REJECT))


def review(conn: Connection, actor: Actor, change_id: uuid.UUID, *, approve: bool,
           reason: str | None = None, at: datetime | None = None) -> Decided:
    """Art. 13(2): the department head reviews within 1 wd and forwards it to CS."""
    at = at or _now()
    decision = decisions.Decision(approve, reason)
    change = decisions.take(conn, actor, REVIEW, change_id, decision,
                            query=_with_dossier(change_id))
    close_clock(conn, "update_review", "dossier_change", str(change_id), at)
    details: dict[str, Any] = {"important": change.important}
    if not approve:
        details["reason"] = reason
    elif not change.important:  # Art. 13(3): the archivist applies within 1 wd
        details["apply_due"] = _open_apply_clock(conn, change_id, at).isoformat()
    return _decided(conn, actor, REVIEW, decision, change, at, details)


def _decided(conn: Connection, actor: Actor, rules: decisions.Rules,
             decision: decisions.Decision, change: Any, at: datetime,
             details: dict[str, Any]) -> Decided:
    """Record a decision on an update form and its ledger entry."""
    outcome = decisions.record(conn, actor, rules, decision, change.id, at=at)
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=outcome.entry_action, subject_type="dossier_change",
        subject_id=str(change.id), dossier_no=change.dossier_no, details=details))
    return Decided(str(change.id), UpdateStatus(outcome.status), **details)


def _open_apply_clock(conn: Connection, change_id: uuid.UUID, at: datetime) -> date:
    return open_clock(conn, "update_apply", "dossier_change", str(change_id), "update_apply_wd",
                      owner_id=None, start=domain_clock.local_date(at)).due


def approve_important(conn: Connection, actor: Actor, change_id: uuid.UUID, *, approve: bool,
                      reason: str | None = None, at: datetime | None = None) -> Decided:
    """Art. 13(3): the CS head approves (or refuses) an important change before it applies."""
    at = at or _now()
    decision = decisions.Decision(approve, reason)
    change = decisions.take(conn, actor, IMPORTANT, change_id, decision,
                            query=_with_dossier(change_id), conditions=lambda c: [(
                                not c.important, "is not an important change: it needs no CS "
                                                 "head approval (Art. 13(3))")])
    details: dict[str, Any] = (
        {"apply_due": _open_apply_clock(conn, change_id, at).isoformat()} if approve
        else {"reason": reason})
    return _decided(conn, actor, IMPORTANT, decision, change, at, details)


def apply(conn: Connection, keyring: KeyRing, actor: Actor, change_id: uuid.UUID, *,
          at: datetime | None = None) -> Applied:
    """Art. 13(3)-(4): the archivist applies a reviewed (and, if important, approved) change,
    keeping every field's value before and after."""
    at = at or _now()
    change = _change(conn, change_id)
    record = f"update {change_id}"
    authorize(conn, actor, Action.UPDATE_APPLY, subject=record)
    if change.important and change.status == UpdateStatus.REVIEWED:
        raise Refused("is an important change not yet approved by the CS head (Art. 13(3)): "
                      "`dossier updates approve-important` first", record=record)
    if change.status not in (UpdateStatus.REVIEWED, UpdateStatus.APPROVED):
        raise Refused(f"is {change.status}: only a reviewed update form can be applied",
                      record=record)
    target = conn.execute(select(dossier).where(dossier.c.id == change.dossier_id)
                          .with_for_update()).one()
    items = conn.execute(select(dossier_change_item)
                         .where(dossier_change_item.c.change_id == change_id)).all()
    new_texts = {i.field: (keyring.open(conn, target.id, _item_field(change_id, i.field, "after"),
                                        i.after_enc) if i.personal else i.after_value)
                 for i in items}
    values, errors = validate_update(new_texts, today=domain_clock.local_date(at))
    if errors:  # the rules changed since submission (a policy override): refuse, change nothing
        raise Refused("; ".join(e.message for e in errors), record=record, field=errors[0].field)
    renewal = values.get("authorisation_ref")
    if renewal is not None:  # Art. 19: still on record and in force when it is applied
        _check_renewal(renewal, authorisation.on_record(conn, [renewal]).get(renewal), record,
                       domain_clock.local_date(at))
    store = _Store(conn, keyring, target)
    for name in new_texts:
        before = store.current_text(name)
        store.write(name, values)
        conn.execute(update(dossier_change_item).where(
            dossier_change_item.c.change_id == change_id, dossier_change_item.c.field == name,
        ).values(**{k: v for k, v in _item(conn, keyring, target.id, change_id, name, "before",
                                           before).items()
                    if k.startswith("before")}))
    conn.execute(update(dossier).where(dossier.c.id == target.id).values(updated_at=at))
    dimensions = sorted({sources.DIMENSION_OF_TABLE[PLACES[name].table.name].value
                         for name in new_texts if name not in _NOT_A_DIMENSION})
    if change.collection_channel and dimensions:  # Art. 9: where the changed facts came from
        sources.record(conn, target.id, dimensions, change.collection_channel,
                       renewal or target.authorisation_ref, at, change_id=change_id)
    conn.execute(update(dossier_change).where(dossier_change.c.id == change_id).values(
        status=UpdateStatus.APPLIED, applied_by=actor.staff_id, applied_at=at))
    close_clock(conn, "update_apply", "dossier_change", str(change_id), at)
    # Art. 12: an update applied in the annual campaign's year completes it for the dossier
    close_clock(conn, f"annual_update:{at.year}", "dossier", str(target.id), at)
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.UPDATE_APPLY, subject_type="dossier_change",
        subject_id=str(change_id), dossier_no=target.dossier_no,
        details={"fields": sorted(new_texts), "important": change.important}))
    if "client_name_zh" in new_texts:  # Art. 15: the documents follow the new name
        client_renamed(conn, actor, target.id, target.dossier_no, change_id)
    return Applied(str(change_id), target.dossier_no, UpdateStatus.APPLIED, sorted(new_texts))


class _Store:
    """Reads and writes the updatable fields of one dossier where they live."""

    def __init__(self, conn: Connection, keyring: KeyRing, target: Any):
        self.conn, self.keyring, self.target = conn, keyring, target
        self.id: uuid.UUID = target.id

    def _contract(self) -> Any:
        return self.conn.execute(select(contract).where(contract.c.dossier_id == self.id)
                                 .order_by(contract.c.signed_on.desc(), contract.c.id.desc())
                                 .limit(1)).first()

    def _contact(self) -> Any:
        return self.conn.execute(select(contact).where(contact.c.dossier_id == self.id,
                                                       contact.c.ordinal == 0)).first()

    def _sealed_field(self, table: Table, column: str, row: Any) -> Field:
        record = {"contact": "0", "contract": getattr(row, "contract_no", ""),
                  "other_info": str(self.id)}[table.name]
        return Field(table.name, column.removesuffix("_enc"), record)

    def current_text(self, name: str) -> str | None:
        place = PLACES[name]
        if place.table is dossier_market:
            return _as_text(self.conn.execute(
                select(dossier_market.c.country).where(dossier_market.c.dossier_id == self.id)
                .order_by(dossier_market.c.ordinal)).scalars().all())
        if place.table is dossier:
            return _as_text(getattr(self.target, place.column))
        row = (self._contract() if place.table is contract else self._contact()
               if place.table is contact else self.conn.execute(
                   select(place.table).where(place.table.c.dossier_id == self.id)).first())
        if row is None:
            return None
        if name == "registered_capital":
            amount = row.registered_capital_amount
            return None if amount is None else f"{amount} {row.registered_capital_currency}"
        value = getattr(row, place.column)
        if place.column.endswith("_enc"):
            return self.keyring.open(self.conn, self.id,
                                     self._sealed_field(place.table, place.column, row), value)
        return _as_text(value)

    def write(self, name: str, values: Mapping[str, Any]) -> None:
        place, conn = PLACES[name], self.conn
        new: Any = values.get(name)  # never None for a name or the markets (_NOT_EMPTIED)
        if place.table is dossier:
            keys = ({"name_en_key": name_key(new)} if name == "client_name_en" else
                    {"name_zh_key": zh_key(new)} if name == "client_name_zh" else
                    {})  # the duplicate check's keys follow the name
            conn.execute(update(dossier).where(dossier.c.id == self.id).values(
                {name: new, **keys}))
        elif place.table is dossier_market:  # Art. 15: the market classification stays current
            conn.execute(delete(dossier_market).where(dossier_market.c.dossier_id == self.id))
            conn.execute(insert(dossier_market), [
                {"dossier_id": self.id, "country": c, "ordinal": i} for i, c in enumerate(new)])
        elif place.table is contact:
            self._write_contact(name, new)
        elif place.table is contract:
            self._write_contract(name, values)
        else:
            self._write_one_row(place, name, values)

    def _write_one_row(self, place: Place, name: str, values: Mapping[str, Any]) -> None:
        table = place.table
        if name == "registered_capital":
            new: dict[str, Any] = {c: values.get(c) for c in ("registered_capital_amount",
                                                              "registered_capital_currency")}
        elif place.column.endswith("_enc"):
            new = {place.column: self.keyring.seal(
                self.conn, self.id, self._sealed_field(table, place.column, None), values[name])}
        else:
            new = {place.column: list(values[name]) if name == "marketing_goals" and values[name]
                   is not None else values[name]}
        if name == "marketing_goals" and new[place.column] is None:
            new[place.column] = []
        done = self.conn.execute(update(table).where(table.c.dossier_id == self.id).values(new))
        if not done.rowcount:
            self.conn.execute(insert(table).values(dossier_id=self.id, **new))

    def _write_contact(self, name: str, new: str | None) -> None:
        row = self._contact()
        if row is None:
            raise Refused("the dossier has no key contact to change; name one with "
                          "contact_name and contact_email or contact_phone in a new form",
                          record=f"dossier {self.target.dossier_no}", field=name)
        column = PLACES[name].column
        values: dict[str, Any] = {column: new}
        if column.endswith("_enc"):
            values[column] = self.keyring.seal(self.conn, self.id,
                                               self._sealed_field(contact, column, row), new)
            kind = column.removesuffix("_enc")
            if kind in ("email", "phone"):
                values[f"{kind}_bidx"] = None if new is None else self.keyring.blind_index(
                    self.conn, kind, new.casefold() if kind == "email" else new)
        self.conn.execute(update(contact).where(contact.c.id == row.id).values(values))

    def _write_contract(self, name: str, values: Mapping[str, Any]) -> None:
        row = self._contract()
        record = f"dossier {self.target.dossier_no}"
        if row is None:
            if name != "contract_no":
                return  # written with the new contract below, when its number arrives
            signed = values.get("contract_signed_on")
            if signed is None:
                raise Refused("a first contract needs contract_signed_on too", record=record,
                              field="contract_signed_on")
            self.conn.execute(insert(contract).values(
                dossier_id=self.id, contract_no=values["contract_no"], signed_on=signed,
                **{k: values.get(k) for k in ("service_scope", "period_start", "period_end")},
                fee_range_enc=self.keyring.seal(
                    self.conn, self.id, Field("contract", "fee_range", str(values["contract_no"])),
                    values.get("fee_range"))))
            return
        column = PLACES[name].column
        new = values.get(name)
        if name == "fee_range":
            new = self.keyring.seal(self.conn, self.id,
                                    self._sealed_field(contract, column, row), new)
        if name == "contract_no" and row.fee_range_enc is not None:
            # the fee range is bound to its contract number: re-seal it under the new one
            fee = self.keyring.open(self.conn, self.id, self._sealed_field(contract, "fee_range",
                                                                           row), row.fee_range_enc)
            self.conn.execute(update(contract).where(contract.c.id == row.id).values(
                fee_range_enc=self.keyring.seal(self.conn, self.id,
                                                Field("contract", "fee_range", str(new)), fee)))
        if name == "contract_signed_on" and new is None:
            raise Refused("a contract keeps its signing date", record=record, field=name)
        self.conn.execute(update(contract).where(contract.c.id == row.id).values({column: new}))


def list_changes(conn: Connection, keyring: KeyRing, actor: Actor,
                 status: str = "open", *, limit: int = paging.DEFAULT_LIMIT,
                 after: str | None = None) -> paging.Page[UpdateForm]:
    """Update forms the actor works on, with each field's values before and after.

    A liaison sees their own clients', a department head their department's, Customer
    Service all. Personal values are masked: the form proves what changed; the dossier
    (``dossier dossiers show``) is where they are read, and logged. A page of ``limit``
    in the order they were submitted, after the cursor ``after`` (:mod:`dossiers.core.paging`).
    """
    authorize(conn, actor, Action.FORM_LIST, subject="update forms")
    query = (select(dossier_change, dossier.c.dossier_no, dossier.c.department,
                    staff.c.username.label("requested_by_user"))
             .join(dossier, dossier.c.id == dossier_change.c.dossier_id)
             .join(staff, staff.c.id == dossier_change.c.requested_by))
    if status == "open":
        query = query.where(dossier_change.c.status.in_(
            (UpdateStatus.SUBMITTED, UpdateStatus.REVIEWED, UpdateStatus.APPROVED)))
    elif status != "all":
        query = query.where(dossier_change.c.status == status)
    query = query.where(worked_on(actor, dossier.c.department, dossier.c.liaison_id))
    page = paging.fetch(conn, "updates", query,
                        (dossier_change.c.requested_at, dossier_change.c.id), limit=limit,
                        after=after)
    result: list[UpdateForm] = []
    for c in page.items:
        items = conn.execute(select(dossier_change_item)
                             .where(dossier_change_item.c.change_id == c.id)
                             .order_by(dossier_change_item.c.field)).all()

        def shown(item: Any, when: str, c: Any = c) -> str | None:
            if not item.personal:
                return getattr(item, f"{when}_value")
            return mask(keyring.open(conn, c.dossier_id, _item_field(c.id, item.field, when),
                                     getattr(item, f"{when}_enc")))

        result.append(UpdateForm(
            change_id=str(c.id), dossier_no=c.dossier_no, status=c.status,
            important=c.important, trigger=c.trigger, occurred_on=c.occurred_on,
            reason=c.reason, evidence=c.evidence, requested_by=c.requested_by_user,
            requested_at=c.requested_at, reviewed_at=c.reviewed_at,
            approved_at=c.approved_at, applied_at=c.applied_at,
            rejection_reason=c.rejection_reason, collection_channel=c.collection_channel,
            changes=[FieldChange(field=i.field, personal=i.personal,
                                 before=shown(i, "before"), after=shown(i, "after"))
                     for i in items],
        ))
    return paging.Page(result, page.next)
