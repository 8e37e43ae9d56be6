"""Compliance incidents (Art. 20) and complaints about dossier handling (Art. 21), the same
actions as ``dossier incidents`` and ``dossier complaints``.

Opening an incident reports it to management at once: the mail is sent as soon as the
incident is on record, within the request. Free text holding an e-mail address or a phone
number is refused (422): no personal data in what the ledger keeps.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from dossiers.api.deps import ERRORS, StaffUser, engine, run
from dossiers.api.fields import After, Limit, Page, one_line
from dossiers.core import paging
from dossiers.workflows import complaints, incidents

router = APIRouter(tags=["compliance"], responses=ERRORS)

IncidentKind = Literal["leak", "lost_volume", "wrong_disclosure", "client_dispute", "other"]
IncidentStatus = Literal["open", "handling", "closed"]
Complainant = Literal["client", "staff", "third_party"]
ComplaintStatus = Literal["received", "investigating", "rectifying", "closed"]
Text = Annotated[str, one_line(2000)]
Username = Annotated[str, one_line(64)]
DossierNo = Annotated[str, one_line(64)]


class OpenIncident(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: IncidentKind
    summary: Text = Field(description="what happened; no personal data (refer to the dossier)")
    dossier_no: DossierNo | None = None
    owner: Username | None = Field(default=None, description="who handles it")


class IncidentStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: Text
    owner: Username | None = None
    due_on: date | None = None


class CloseIncident(BaseModel):
    model_config = ConfigDict(extra="forbid")
    closure: Text


class ReceiveComplaint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    complainant: Complainant = Field(description="who complained, by kind (never a name)")
    about: Text
    dossier_no: DossierNo | None = None
    received_on: date | None = None


class Investigation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    findings: Text
    upheld: bool
    rectification: Text | None = None
    rectification_owner: Username | None = None
    accountable: Username | None = None
    accountability: Text | None = None


class CloseComplaint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Text


class HandlingStep(BaseModel):
    step: str
    owner: str | None
    due_on: date | None
    recorded_at: datetime


class IncidentEntry(BaseModel):
    """An incident on the register (Art. 20): what happened, who handles it, each step."""

    incident_id: uuid.UUID
    kind: IncidentKind
    status: IncidentStatus
    dossier_no: str | None
    summary: str
    opened_by: str
    owner: str | None
    opened_at: datetime
    steps: list[HandlingStep]
    closure: str | None
    closed_at: datetime | None


class ComplaintEntry(BaseModel):
    """A complaint on the register (Art. 21): QA's findings, rectification, accountability."""

    complaint_id: uuid.UUID
    complainant: Complainant
    dossier_no: str | None
    about: str
    status: ComplaintStatus
    received_on: date
    upheld: bool | None
    findings: str | None
    rectification: str | None
    rectification_owner: str | None
    rectification_due_on: date | None
    accountable: str | None
    accountability: str | None
    closed_at: datetime | None


@router.get("/incidents", summary="The incident register (CS head, QA supervisor, "
                                  "management; a page)")
def list_incidents(user: StaffUser,
                   status: Annotated[Literal["open", "all"], Query()] = "all",
                   limit: Limit = paging.DEFAULT_LIMIT,
                   after: After = None) -> Page[IncidentEntry]:
    """In the order they were opened; ``open``: those not closed yet."""
    page = run(user, lambda conn, actor: incidents.list_incidents(
        conn, actor, open_only=status == "open", limit=limit, after=after))
    return Page[IncidentEntry].model_validate({"items": page.items, "next": page.next})


@router.get("/complaints", summary="The complaint register (CS head, QA supervisor, "
                                   "management; a page)")
def list_complaints(user: StaffUser, status: Annotated[
        Literal["received", "investigating", "rectifying", "closed", "open", "all"],
        Query()] = "all", limit: Limit = paging.DEFAULT_LIMIT,
        after: After = None) -> Page[ComplaintEntry]:
    """In the order they were received; ``open``: those not closed yet."""
    page = run(user, lambda conn, actor: complaints.list_complaints(
        conn, actor, status=status, limit=limit, after=after))
    return Page[ComplaintEntry].model_validate({"items": page.items, "next": page.next})


@router.post("/incidents", status_code=201,
             summary="Report a compliance incident or dispute; management is mailed at once")
def open_incident(body: OpenIncident, user: StaffUser) -> incidents.Opened:
    opened = run(user, lambda conn, actor: incidents.open_incident(
        conn, actor, body.kind, body.summary, dossier_no=body.dossier_no, owner=body.owner))
    # Art. 20: at once, once on record; an undelivered report says so (mail_error)
    return incidents.report_to_management(engine(), opened)


@router.post("/incidents/{incident_id}/steps", status_code=201,
             summary="Record a handling step, its owner and deadline (CS head, management)")
def add_step(incident_id: uuid.UUID, body: IncidentStep, user: StaffUser) -> incidents.Step:
    return run(user, lambda conn, actor: incidents.add_step(
        conn, actor, incident_id, body.step, owner=body.owner, due_on=body.due_on))


@router.post("/incidents/{incident_id}/close", summary="Close an incident (management)")
def close_incident(incident_id: uuid.UUID, body: CloseIncident,
                   user: StaffUser) -> incidents.Closed:
    return run(user, lambda conn, actor: incidents.close(conn, actor, incident_id,
                                                         body.closure))


@router.post("/complaints", status_code=201,
             summary="Record a complaint about dossier handling for QA (Art. 21)")
def receive_complaint(body: ReceiveComplaint, user: StaffUser) -> complaints.ComplaintState:
    return run(user, lambda conn, actor: complaints.receive(
        conn, actor, body.complainant, body.about, dossier_no=body.dossier_no,
        received_on=body.received_on))


@router.post("/complaints/{complaint_id}/investigation",
             summary="QA's findings; an upheld complaint's rectification and accountability")
def investigate(complaint_id: uuid.UUID, body: Investigation,
                user: StaffUser) -> complaints.ComplaintState:
    return run(user, lambda conn, actor: complaints.investigate(
        conn, actor, complaint_id, findings=body.findings, upheld=body.upheld,
        rectification=body.rectification, rectification_owner=body.rectification_owner,
        accountable=body.accountable, accountability=body.accountability))


@router.post("/complaints/{complaint_id}/close",
             summary="QA closes an upheld complaint once rectified")
def close_complaint(complaint_id: uuid.UUID, body: CloseComplaint,
                    user: StaffUser) -> complaints.ComplaintState:
    return run(user, lambda conn, actor: complaints.close(conn, actor, complaint_id,
                                                          note=body.note))
