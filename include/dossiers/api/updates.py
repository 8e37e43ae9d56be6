"""Update forms (Arts. 12, 13): the liaison submits what changes, why and on what evidence;
the department head reviews within 1 wd; an important change (client name, core
cooperation terms) needs the CS head's approval; the archivist applies it within 1 wd,
keeping every field's value before and after."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from dossiers.api.deps import ERRORS, StaffUser, keyring, run
from dossiers.api.fields import After, Limit, Page, Reason, one_line
from dossiers.core import paging
from dossiers.workflows import updates

router = APIRouter(prefix="/updates", tags=["updates"], responses=ERRORS)

Trigger = Literal["basic_info", "cooperation", "needs", "feedback", "material"]
Status = Literal["submitted", "reviewed", "approved", "applied", "rejected"]
Channel = Literal["phone", "email", "video_meeting", "face_to_face", "website", "brochure",
                  "qualification_document", "contract", "proposal", "minutes",
                  "internal_aggregation", "industry_report", "data_platform", "client_feedback"]
#: A field of the collection form (``dossiers.intake.rules.UPDATABLE_FIELDS``).
FieldName = Annotated[str, one_line(48)]


class Submit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dossier_no: Annotated[str, one_line(64)] = Field(examples=["海外-2026-電商-001"])
    changes: dict[FieldName, Annotated[str, one_line(4000, min_length=0)] | None] = Field(
        min_length=1, max_length=40,
        description="collection-form field → new value (null or \"\" empties it; lists "
                    "separated by ';')", examples=[{"contact_email": "anna@example.de"}])
    reason: Reason
    evidence: Reason
    trigger: Trigger | None = Field(default=None, description="the Art. 12 immediate-update event")
    occurred_on: date | None = Field(default=None, description="the day the event happened")
    collection_channel: Annotated[str, one_line(48)] | None = Field(
        default=None, examples=["email"],
        description="how the new information was obtained (Art. 9), one of "
                    f"{', '.join(get_args(Channel))}; required: missing or unknown is "
                    "`invalid_channel`, outside the client's authorisation `no_authorisation` "
                    "(Art. 19), as on the collection form")


class Submitted(BaseModel):
    change_id: uuid.UUID
    dossier_no: str
    status: Literal["submitted"]
    fields: list[str]
    important: bool
    review_due: date
    trigger: Trigger | None = None
    occurred_on: date | None = None
    submission_due: date | None = None
    late: bool | None = None
    collection_channel: Channel | None = None


class Review(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    reason: Reason | None = Field(default=None, description="required to reject")


class Decided(BaseModel):
    change_id: uuid.UUID
    status: Status
    important: bool | None = None
    apply_due: date | None = None
    reason: str | None = None


class Applied(BaseModel):
    change_id: uuid.UUID
    dossier_no: str
    status: Literal["applied"]
    fields: list[str]


class FieldChange(BaseModel):
    field: str
    personal: bool
    before: str | None
    after: str | None


class UpdateForm(BaseModel):
    change_id: uuid.UUID
    dossier_no: str
    status: Status
    important: bool
    trigger: Trigger | None
    occurred_on: date | None
    reason: str
    evidence: str
    requested_by: str
    requested_at: datetime
    reviewed_at: datetime | None
    approved_at: datetime | None
    applied_at: datetime | None
    rejection_reason: str | None
    collection_channel: Channel | None = Field(
        default=None, description="how the new information was obtained (Art. 9); null on "
                                  "forms submitted before it was asked")
    changes: list[FieldChange]


@router.post("", status_code=201, summary="Submit an update form (the client's liaison)")
def submit(body: Submit, user: StaffUser) -> Submitted:
    return Submitted.model_validate(run(user, lambda conn, actor: updates.submit(
        conn, keyring(), actor, body.dossier_no, {k: v or None for k, v in body.changes.items()},
        reason=body.reason, evidence=body.evidence, trigger=body.trigger,
        occurred_on=body.occurred_on, collection_channel=body.collection_channel)),
        from_attributes=True)


@router.get("", summary="Update forms you work on, each field before and after (masked; a page)")
def list_updates(user: StaffUser, status: Annotated[
        Literal["open", "submitted", "reviewed", "approved", "applied", "rejected", "all"],
        Query()] = "open", limit: Limit = paging.DEFAULT_LIMIT,
        after: After = None) -> Page[UpdateForm]:
    """In the order they were submitted."""
    page = run(user, lambda conn, actor: updates.list_changes(conn, keyring(), actor, status,
                                                              limit=limit, after=after))
    return Page(items=[UpdateForm.model_validate(u, from_attributes=True) for u in page.items],
                next=page.next)


@router.post("/{change_id}/review", summary="Approve or reject an update form (department head)")
def review(change_id: uuid.UUID, body: Review, user: StaffUser) -> Decided:
    return Decided.model_validate(run(user, lambda conn, actor: updates.review(
        conn, actor, change_id, approve=body.decision == "approve", reason=body.reason)),
        from_attributes=True)


@router.post("/{change_id}/important", summary="Approve or refuse an important change (CS head)")
def decide_important(change_id: uuid.UUID, body: Review, user: StaffUser) -> Decided:
    return Decided.model_validate(run(user, lambda conn, actor: updates.approve_important(
        conn, actor, change_id, approve=body.decision == "approve", reason=body.reason)),
        from_attributes=True)


@router.post("/{change_id}/apply", summary="Apply a reviewed (and approved) update (archivist)")
def apply(change_id: uuid.UUID, user: StaffUser) -> Applied:
    return Applied.model_validate(run(user, lambda conn, actor: updates.apply(
        conn, keyring(), actor, change_id)), from_attributes=True)
