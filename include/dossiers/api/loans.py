"""Paper borrowing (Art. 16): a Borrowing Request Form (purpose, period, dossier numbers)
approved by the borrower's department head and the archivist; lent for at most 7 wd; one
extension of at most 3 wd, asked at least 1 wd before the due date; returned with each
volume's condition."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from dossiers.api.deps import ERRORS, StaffUser, run
from dossiers.api.fields import After, Limit, Page, Reason, one_line
from dossiers.core import paging
from dossiers.workflows import loans
from dossiers.workflows.results import Result

router = APIRouter(prefix="/loans", tags=["loans"], responses=ERRORS)

Condition = Literal["good", "worn", "damaged", "faded"]
Capacity = Literal["department", "archive"]


class LoanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dossier_nos: list[Annotated[str, one_line(64)]] = Field(min_length=1, max_length=50)
    purpose: Reason
    period_wd: int = Field(ge=1, le=32767, description="working days from lending (≤ 7)")


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capacity: Capacity | None = Field(
        default=None, description="needed only by someone who is both department head and "
                                  "archivist")


class Rejection(Decision):
    reason: Reason


class Extension(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wd: int = Field(ge=1, le=32767, description="working days more (≤ 3)")


class ExtensionDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    reason: Reason | None = None


class Return(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conditions: dict[Annotated[str, one_line(80)], Condition] = Field(
        default_factory=dict, max_length=200,
        description="volume (DOSSIER_NO/VOLUME_NO) → its condition")
    default: Condition | None = Field(default=None, description="for every volume not named")
    notes: Annotated[str, one_line(1000, min_length=0)] | None = None


class LoanResult(BaseModel):
    """What the step did (the fields depend on the step)."""

    model_config = ConfigDict(extra="allow")
    loan_id: uuid.UUID


def _result(result: Result) -> LoanResult:
    """Each step's result has fields of its own (``extra="allow"``): all of them are answered."""
    return LoanResult.model_validate(result.as_dict())


@router.post("", status_code=201, summary="Request paper volumes (Borrowing Request Form)")
def request(body: LoanRequest, user: StaffUser) -> LoanResult:
    return _result(run(user, lambda conn, actor: loans.request(
        conn, actor, body.dossier_nos, purpose=body.purpose, period_wd=body.period_wd)))


@router.get("", summary="Loans you may see, with due dates and overdue flags (a page)")
def list_loans(user: StaffUser, status: Annotated[
        Literal["requested", "approved", "lent", "returned", "rejected", "open", "all"],
        Query()] = "open", limit: Limit = paging.DEFAULT_LIMIT,
        after: After = None) -> Page[dict[str, Any]]:
    """In the order they were requested."""
    page = run(user, lambda conn, actor: loans.list_loans(conn, actor, status, limit=limit,
                                                          after=after))
    return Page(items=[r.as_dict() for r in page.items], next=page.next)


@router.post("/{loan_id}/approve", summary="Approve (department head, archivist; either order)")
def approve(loan_id: uuid.UUID, body: Decision, user: StaffUser) -> LoanResult:
    return _result(run(user, lambda conn, actor: loans.approve(
        conn, actor, loan_id, capacity=body.capacity)))


@router.post("/{loan_id}/reject", summary="Reject a loan request with a reason")
def reject(loan_id: uuid.UUID, body: Rejection, user: StaffUser) -> LoanResult:
    return _result(run(user, lambda conn, actor: loans.reject(
        conn, actor, loan_id, reason=body.reason, capacity=body.capacity)))


@router.post("/{loan_id}/lend", summary="Hand the volumes out (archivist); due in period_wd")
def lend(loan_id: uuid.UUID, user: StaffUser) -> LoanResult:
    return _result(run(user, lambda conn, actor: loans.lend(
        conn, actor, loan_id)))


@router.post("/{loan_id}/extension", summary="Ask for the one extension (the borrower)")
def extend(loan_id: uuid.UUID, body: Extension, user: StaffUser) -> LoanResult:
    return _result(run(user, lambda conn, actor: loans.request_extension(
        conn, actor, loan_id, body.wd)))


@router.post("/{loan_id}/extension/decision", summary="Approve or reject the extension (archivist)")
def decide_extension(loan_id: uuid.UUID, body: ExtensionDecision,
                     user: StaffUser) -> LoanResult:
    return _result(run(user, lambda conn, actor: loans.decide_extension(
        conn, actor, loan_id, approve=body.decision == "approve", reason=body.reason)))


@router.post("/{loan_id}/return", summary="Take the volumes back with their condition (archivist)")
def return_loan(loan_id: uuid.UUID, body: Return, user: StaffUser) -> LoanResult:
    conditions: dict[str | int, str] = {k: str(v) for k, v in body.conditions.items()}
    return _result(run(user, lambda conn, actor: loans.return_loan(
        conn, actor, loan_id, conditions=conditions, default=body.default,
        notes=body.notes)))
