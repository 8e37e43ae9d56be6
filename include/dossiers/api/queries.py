"""Query grants (Art. 16): ask to read a dossier that is not your own client's; the archivist
approves or rejects (never the person who asked). A grant states its purpose, its scope
and the day after which it expires."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from dossiers.api.deps import ERRORS, StaffUser, run
from dossiers.api.fields import Reason, Scope, one_line
from dossiers.workflows import queries

router = APIRouter(prefix="/queries", tags=["queries"], responses=ERRORS)


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dossier_no: Annotated[str, one_line(64)] = Field(examples=["海外-2026-電商-001"])
    purpose: Reason
    scope: list[Scope] = Field(min_length=1, max_length=8,
                               description="dimensions to read; `personal` shows personal data")
    until: date = Field(description="the grant expires after this day")


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason


class Requested(BaseModel):
    grant_id: uuid.UUID
    dossier_no: str
    status: Literal["requested"]


class Decided(BaseModel):
    grant_id: uuid.UUID
    status: Literal["approved", "rejected"]


@router.post("", status_code=201, summary="Request a query grant on a dossier")
def request_grant(body: QueryRequest, user: StaffUser) -> Requested:
    return Requested.model_validate(run(user, lambda conn, actor: queries.request(
        conn, actor, body.dossier_no, purpose=body.purpose, scope=list(body.scope),
        expires_on=body.until)), from_attributes=True)


@router.post("/{grant_id}/approve", summary="Approve a query request (archivist)")
def approve_grant(grant_id: uuid.UUID, user: StaffUser) -> Decided:
    return Decided.model_validate(run(user, lambda conn, actor: queries.decide(
        conn, actor, grant_id, approve=True)), from_attributes=True)


@router.post("/{grant_id}/reject", summary="Reject a query request with a reason (archivist)")
def reject_grant(grant_id: uuid.UUID, body: Rejection, user: StaffUser) -> Decided:
    return Decided.model_validate(run(user, lambda conn, actor: queries.decide(
        conn, actor, grant_id, approve=False, reason=body.reason)), from_attributes=True)
