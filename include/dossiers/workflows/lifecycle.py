"""Stage transitions and reading a dossier (Arts. 15, 16).

Stages (Art. 15 classification): potential → active → terminated, with a termination date
and whether further cooperation is possible (which decides the six-month review of
Art. 14). Every transition is ledgered. Every read of a dossier is logged in
``access_log``; personal data is masked unless the reader may see it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NotRequired, TypedDict

from sqlalchemy import Connection, insert, select, update

from dossiers.core import clock, ledger
from dossiers.core.crypto import Field, KeyRing
from dossiers.core.errors import Refused
from dossiers.core.free_text import refuse_personal_data
from dossiers.core.permissions import Action, Actor, Role, authorize
from dossiers.core.schema import (
    QUERY_SCOPES,
    access_log,
    basic_info,
    contact,
    contract,
    dossier,
    dossier_market,
    market_info,
    needs,
    other_info,
    paper_volume,
    staff,
)
from dossiers.core.vocabulary import DossierStatus, LedgerAction, Stage
from dossiers.workflows import sources
from dossiers.workflows.access import active_scope, find, mask
from dossiers.workflows.results import Result

TRANSITIONS = {  # Art. 15; a terminated client may come back (renewed cooperation)
    Stage.POTENTIAL: {Stage.ACTIVE, Stage.TERMINATED},
    Stage.ACTIVE: {Stage.TERMINATED},
    Stage.TERMINATED: {Stage.ACTIVE},
}


@dataclass(frozen=True)
class StageChanged(Result):
    dossier_no: str
    from_stage: str = field(metadata={"key": "from"})
    stage: str
    terminated_on: date | None
    further_cooperation: bool | None


class ContactView(TypedDict):
    title: str | None
    preference: str | None
    name: str | None
    email: str | None
    phone: str | None


class ContractView(TypedDict):
    contract_no: str
    signed_on: date
    service_scope: str | None
    period_start: date | None
    period_end: date | None
    fee_range: str | None


class DossierView(TypedDict):
    """A dossier as its reader may see it (Arts. 7, 16): the dimensions of ``scope`` only —
    the others are not there at all (not even empty), so a dictionary, not a dataclass."""

    dossier_no: str
    client_name_zh: str
    client_name_en: str
    client_type: str
    stage: str
    status: str
    liaison: str | None
    department: str
    created_at: datetime
    filed_at: datetime | None
    terminated_on: date | None
    further_cooperation: bool | None
    target_markets: list[str]
    scope: list[str]
    basic: NotRequired[dict[str, Any]]
    contacts: NotRequired[list[ContactView]]
    market: NotRequired[dict[str, Any]]
    cooperation: NotRequired[list[ContractView]]
    needs: NotRequired[dict[str, Any]]
    other: NotRequired[dict[str, Any]]
    vault: NotRequired[list[dict[str, Any]]]
    #: Where each dimension in scope came from (Art. 9): channel, authorisation, when.
    sources: NotRequired[dict[str, dict[str, Any]]]


@dataclass(frozen=True)
class Kept(Result):
    """A terminated dossier kept after its six-month review (Art. 14)."""

    dossier_no: str
    status: DossierStatus


def change_stage(conn: Connection, actor: Actor, dossier_no: str, stage: str, *,
                 terminated_on: date | None = None, further_cooperation: bool | None = None,
                 today: date | None = None) -> StageChanged:
    """Move a dossier to another stage (archivist, Art. 15), refusing illegal moves."""
    today = today or clock.today()
    row = find(conn, dossier_no, lock=True)
    record = f"dossier {dossier_no}"
    authorize(conn, actor, Action.DOSSIER_STAGE, subject=record)
    if stage not in TRANSITIONS.get(row.stage, set()):
        raise Refused(f"cannot move from {row.stage} to {stage} (allowed: "
                      f"{', '.join(sorted(TRANSITIONS[row.stage]))})", record=record, field="stage")
    if stage == Stage.TERMINATED:
        if terminated_on is None:
            raise Refused("a termination needs its date", record=record, field="terminated_on")
        if terminated_on > today:
            raise Refused("is in the future", record=record, field="terminated_on")
        if further_cooperation is None:
            raise Refused("say whether further cooperation is possible (Art. 14)", record=record,
                          field="further_cooperation")
    elif terminated_on is not None or further_cooperation is not None:
        raise Refused("only a termination takes a date and a prospect", record=record,
                      field="terminated_on")
    values = {"stage": stage, "updated_at": clock.on(today),
              "terminated_on": terminated_on, "further_cooperation": further_cooperation}
    conn.execute(update(dossier).where(dossier.c.id == row.id).values(**values))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.DOSSIER_STAGE, subject_type="dossier",
        subject_id=str(row.id), dossier_no=dossier_no,
        details={"from": row.stage, "to": stage,
                 "terminated_on": terminated_on.isoformat() if terminated_on else None,
                 "further_cooperation": further_cooperation},
    ))
    return StageChanged(dossier_no, row.stage, stage, terminated_on, further_cooperation)


def read(conn: Connection, keyring: KeyRing, actor: Actor, dossier_no: str) -> DossierView:
    """A dossier with the dimensions the reader may see (Arts. 7, 16); every read is logged.

    The client's own liaison and the archivist (its custodian) see all of it. Anyone else
    sees only the scope of their approved, unexpired query grants, with personal data
    masked unless the scope includes ``personal``; without a grant the read is refused.
    """

    row = find(conn, dossier_no)
    record = f"dossier {dossier_no}"
    authorize(conn, actor, Action.DOSSIER_READ, subject=record)
    d_id: uuid.UUID = row.id
    if Role.ARCHIVIST in actor.roles or actor.staff_id == row.liaison_id:
        scope: set[str] | None = set(QUERY_SCOPES)
    else:
        scope = active_scope(conn, actor, d_id)
    if scope is None:
        authorize(conn, actor, Action.DOSSIER_READ, subject=record,
                  reason="only the client's own liaison reads without an approved query grant "
                         "(Art. 16): request one with `dossier queries request`")
    assert scope is not None
    shown = _dossier_view(conn, keyring, row, scope)
    with conn.engine.begin() as own:  # the read is logged even if the caller rolls back
        own.execute(insert(access_log).values(
            at=clock.now(), actor=actor.username, action=Action.DOSSIER_READ.value,
            subject=record, allowed=True, reason=json.dumps({"scope": sorted(scope)})))
    return shown


def _dossier_view(conn: Connection, keyring: KeyRing, row: Any, scope: set[str]) -> DossierView:
    d_id: uuid.UUID = row.id
    clear = "personal" in scope

    def one(table: Any) -> dict[str, Any]:
        found = conn.execute(select(table).where(table.c.dossier_id == d_id)).first()
        return {k: v for k, v in found._mapping.items() if k != "dossier_id"} if found else {}

    def opened(where: Field, blob: bytes | None) -> str | None:
        value = keyring.open(conn, d_id, where, blob)
        return value if clear else mask(value)

    contacts = [
        ContactView(title=c.title, preference=c.preference,
                    name=opened(Field("contact", "name", str(c.ordinal)), c.name_enc),
                    email=opened(Field("contact", "email", str(c.ordinal)), c.email_enc),
                    phone=opened(Field("contact", "phone", str(c.ordinal)), c.phone_enc))
        for c in conn.execute(select(contact).where(contact.c.dossier_id == d_id)
                              .order_by(contact.c.ordinal))]
    contracts = [
        ContractView(contract_no=c.contract_no, signed_on=c.signed_on,
                     service_scope=c.service_scope, period_start=c.period_start,
                     period_end=c.period_end,
                     fee_range=opened(Field("contract", "fee_range", c.contract_no),
                                      c.fee_range_enc))
        for c in conn.execute(select(contract).where(contract.c.dossier_id == d_id))]
    other = one(other_info)
    other["credit_rating"] = opened(Field("other_info", "credit_rating", str(d_id)),
                                    other.pop("credit_rating_enc", None))
    liaison = conn.execute(select(staff.c.username).where(staff.c.id == row.liaison_id)).scalar()
    view = DossierView(
        dossier_no=row.dossier_no, client_name_zh=row.client_name_zh,
        client_name_en=row.client_name_en, client_type=row.client_type,
        stage=row.stage, status=row.status, liaison=liaison,
        department=row.department, created_at=row.created_at, filed_at=row.filed_at,
        terminated_on=row.terminated_on, further_cooperation=row.further_cooperation,
        target_markets=list(conn.execute(
            select(dossier_market.c.country).where(dossier_market.c.dossier_id == d_id)
            .order_by(dossier_market.c.ordinal)).scalars()),
        scope=sorted(scope),
    )
    # The dimensions in scope only, in this order (Art. 10).
    if "basic" in scope:
        view["basic"] = one(basic_info)
    if "contacts" in scope:
        view["contacts"] = contacts
    if "market" in scope:
        view["market"] = one(market_info)
    if "cooperation" in scope:
        view["cooperation"] = contracts
    if "needs" in scope:
        view["needs"] = one(needs)
    if "other" in scope:
        view["other"] = other
    came_from = {d: v for d, v in sources.by_dimension(conn, d_id).items() if d in scope}
    if came_from:
        view["sources"] = came_from
    if "vault" in scope:
        view["vault"] = [dict(v._mapping) for v in conn.execute(
            select(paper_volume.c.volume_no, paper_volume.c.cabinet, paper_volume.c.shelf,
                   paper_volume.c.position, paper_volume.c.condition)
            .where(paper_volume.c.dossier_id == d_id))]
    return view


def keep_terminated(conn: Connection, actor: Actor, dossier_no: str, *, reason: str,
                    at: datetime | None = None) -> Kept:
    """Art. 14: after the six-month review the archivist keeps a terminated, no-prospect
    dossier, filed separately as a "terminated-cooperation client dossier" (終止合作客戶檔案).
    (The other outcome, destruction, follows Art. 17.)"""
    from dossiers.calendar.clocks import close_clock

    at = at or clock.local_now()
    row = find(conn, dossier_no, lock=True)
    record = f"dossier {dossier_no}"
    authorize(conn, actor, Action.DOSSIER_STAGE, subject=record)
    if row.stage != Stage.TERMINATED or row.further_cooperation is not False:
        raise Refused("only a terminated dossier with no prospect of further cooperation is "
                      "kept as a terminated-cooperation client dossier (Art. 14)", record=record)
    if row.status != DossierStatus.OPEN:
        raise Refused(f"is already {row.status}", record=record)
    if not reason.strip():
        raise Refused("say why it is kept (Art. 14)", record=record, field="reason")
    refuse_personal_data(reason, record=record, field="reason")  # ledgered: Art. 19
    conn.execute(update(dossier).where(dossier.c.id == row.id).values(
        status=DossierStatus.TERMINATED_KEPT, updated_at=at))
    close_clock(conn, "inactive_review", "dossier", str(row.id), at)
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.DOSSIER_KEEP_TERMINATED, subject_type="dossier",
        subject_id=str(row.id), dossier_no=dossier_no, details={"reason": reason.strip()}))
    return Kept(dossier_no, DossierStatus.TERMINATED_KEPT)
