"""Dossiers (Arts. 11, 15, 16): create from a reviewed form, file, move between stages, read.

A read shows the dimensions the reader may see (its liaison and the archivist: all; anyone
else: the scope of their approved query grants, personal data masked unless the scope has
``personal``) and is logged in ``access_log``. Dimensions outside the scope are absent.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Response
from fastapi import Path as FastPath
from pydantic import BaseModel, ConfigDict, Field

from dossiers.api.deps import ERRORS, StaffUser, keyring, run, run_fetched
from dossiers.api.fields import DossierNo, Reason, Scope, Stage, one_line
from dossiers.core import clock
from dossiers.workflows import access, creation, dossier_view, filing_delays, lifecycle

router = APIRouter(prefix="/dossiers", tags=["dossiers"], responses=ERRORS)


# --- requests ----------------------------------------------------------------------------------

class Create(BaseModel):
    model_config = ConfigDict(extra="forbid")
    form_id: uuid.UUID = Field(description="a form its department head has reviewed")


class File(BaseModel):
    """Where the paper volume stands in the vault (Art. 15)."""

    model_config = ConfigDict(extra="forbid")
    cabinet: Annotated[str, one_line(64)] = Field(examples=["電商"])
    shelf: int = Field(ge=1, le=32767)


class StageChange(BaseModel):
    """Art. 15; a termination needs its date and whether cooperation may resume (Art. 14)."""

    model_config = ConfigDict(extra="forbid")
    stage: Stage
    terminated_on: date | None = None
    further_cooperation: bool | None = None


# --- responses ---------------------------------------------------------------------------------

class Created(BaseModel):
    dossier_id: uuid.UUID
    dossier_no: str
    filing_due: date
    filing_due_provisional: bool


class Filed(BaseModel):
    dossier_no: str
    cabinet: str
    shelf: int
    position: int


class StageChanged(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    dossier_no: str
    from_stage: Stage = Field(alias="from")
    stage: Stage
    terminated_on: date | None
    further_cooperation: bool | None


class BasicInfo(BaseModel):
    registered_address: str | None = None
    domestic_contact_address: str | None = None
    founded_on: date | None = None
    legal_form: str | None = None
    registered_capital_amount: Decimal | None = None
    registered_capital_currency: str | None = None
    business_scope: str | None = None
    core_business: str | None = None
    org_structure: str | None = None


class ContactView(BaseModel):
    """Personal values are masked (``g***@example.com``) unless the reader may see them."""

    title: str | None
    preference: str | None
    name: str | None
    email: str | None
    phone: str | None


class MarketInfo(BaseModel):
    market_positioning: str | None = None
    target_customers: str | None = None
    competition: str | None = None
    market_share: str | None = None
    policy_fit: str | None = None
    industry_trends: str | None = None


class ContractView(BaseModel):
    contract_no: str
    signed_on: date
    service_scope: str | None
    period_start: date | None
    period_end: date | None
    fee_range: str | None


class Needs(BaseModel):
    marketing_goals: list[str] = []
    brand_positioning: str | None = None
    creative_preferences: str | None = None
    selling_points: str | None = None
    consumer_traits: str | None = None
    service_expectations: str | None = None
    latent_needs: str | None = None


class OtherInfo(BaseModel):
    other_partners: str | None = None
    honours: str | None = None
    dependence: Literal["low", "medium", "high"] | None = None
    credit_rating: str | None = None


class PaperVolume(BaseModel):
    volume_no: int
    cabinet: str
    shelf: int
    position: int
    condition: str


class Source(BaseModel):
    """Where a dimension's information came from (Art. 9)."""

    channel: str
    authorisation_ref: str | None
    recorded_at: str


class DossierView(BaseModel):
    """A dossier with the dimensions in ``scope``; the others are left out."""

    dossier_no: str
    client_name_zh: str
    client_name_en: str
    client_type: str
    stage: Stage
    status: str
    liaison: str | None
    department: str
    created_at: datetime
    filed_at: datetime | None
    terminated_on: date | None
    further_cooperation: bool | None
    target_markets: list[str]
    scope: list[Scope]
    basic: BasicInfo | None = None
    contacts: list[ContactView] | None = None
    market: MarketInfo | None = None
    cooperation: list[ContractView] | None = None
    needs: Needs | None = None
    other: OtherInfo | None = None
    vault: list[PaperVolume] | None = None
    sources: dict[str, Source] | None = None


# --- routes ------------------------------------------------------------------------------------

@router.post("", status_code=201, summary="Create the dossier from a reviewed form, numbered")
def create_dossier(body: Create, user: StaffUser) -> Created:
    """The archivist (Art. 11(3)-(4)); filing is then due within 2 working days."""
    return Created.model_validate(run(user, lambda conn, actor: creation.create_dossier(
        conn, keyring(), actor, body.form_id)), from_attributes=True)


@router.get("/{dossier_no}", response_model=DossierView, response_model_exclude_unset=True,
            summary="Read a dossier (logged; masked outside the reader's grant)")
def read_dossier(dossier_no: DossierNo, user: StaffUser) -> Response:
    """Two round trips to the database (issue 16): the reader's staff row and the dossier
    with the reader's grants together, then the read's ``access_log`` row, committed before
    anything is answered. The answer is the ``DossierView`` validated once and serialised
    here (FastAPI would validate it a second time)."""
    view = run_fetched(
        user,
        lambda unit: dossier_view.fetch_with_reader(unit, user, dossier_no, clock.today()),
        lambda unit, actor, row, config: lifecycle.read_fetched(
            unit, keyring(config), actor, dossier_no, row))
    return Response(DossierView.model_validate(view).model_dump_json(exclude_unset=True),
                    media_type="application/json")


@router.post("/{dossier_no}/file", summary="File the dossier and shelve its paper volume")
def file_dossier(dossier_no: DossierNo, body: File, user: StaffUser) -> Filed:
    """The archivist, within 2 wd of creation (Arts. 11(5), 15)."""
    return Filed.model_validate(run(user, lambda conn, actor: creation.file_dossier(
        conn, actor, access.find(conn, dossier_no).id, cabinet=body.cabinet,
        shelf=body.shelf)), from_attributes=True)


@router.post("/{dossier_no}/stage", summary="Move the dossier to another stage")
def change_stage(dossier_no: DossierNo, body: Annotated[StageChange, Body()],
                 user: StaffUser) -> StageChanged:
    """The archivist (Art. 15): potential → active → terminated; terminated → active."""
    return StageChanged.model_validate(run(user, lambda conn, actor: lifecycle.change_stage(
        conn, actor, dossier_no, body.stage, terminated_on=body.terminated_on,
        further_cooperation=body.further_cooperation)), from_attributes=True)


class Keep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason


class Kept(BaseModel):
    dossier_no: str
    status: Literal["terminated_kept"]


@router.post("/{dossier_no}/keep", summary="Keep a terminated dossier after its six-month review")
def keep_terminated(dossier_no: DossierNo, body: Keep, user: StaffUser) -> Kept:
    """The archivist (Art. 14): filed separately as a terminated-cooperation client dossier."""
    return Kept.model_validate(run(user, lambda conn, actor: lifecycle.keep_terminated(
        conn, actor, dossier_no, reason=body.reason)), from_attributes=True)


class DelayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: date = Field(description="the new filing deadline (at most 5 wd in all, Art. 15)")
    reason: Reason


class DelayRequested(BaseModel):
    delay_id: int
    dossier_no: str
    status: Literal["requested"]
    original_due: date
    until: date


class DelayDecided(BaseModel):
    delay_id: int
    status: Literal["approved", "rejected"]
    filing_due: date


class DelayRejection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason


@router.post("/{dossier_no}/filing-delays", status_code=201,
             summary="Ask the CS head to let the dossier be filed later (archivist)")
def request_filing_delay(dossier_no: DossierNo, body: DelayRequest,
                         user: StaffUser) -> DelayRequested:
    """Before the deadline passes; the filing may never take more than 5 wd (Art. 15)."""
    return DelayRequested.model_validate(run(user, lambda conn, actor: filing_delays.request(
        conn, actor, dossier_no, until=body.until, reason=body.reason)), from_attributes=True)


@router.post("/filing-delays/{delay_id}/approve", summary="Approve a filing delay (CS head)")
def approve_filing_delay(delay_id: Annotated[int, FastPath(ge=1, le=2**62)],
                         user: StaffUser) -> DelayDecided:
    return DelayDecided.model_validate(run(user, lambda conn, actor: filing_delays.decide(
        conn, actor, delay_id, approve=True)), from_attributes=True)


@router.post("/filing-delays/{delay_id}/reject", summary="Refuse a filing delay (CS head)")
def reject_filing_delay(delay_id: Annotated[int, FastPath(ge=1, le=2**62)],
                        body: DelayRejection, user: StaffUser) -> DelayDecided:
    return DelayDecided.model_validate(run(user, lambda conn, actor: filing_delays.decide(
        conn, actor, delay_id, approve=False, reason=body.reason)), from_attributes=True)
