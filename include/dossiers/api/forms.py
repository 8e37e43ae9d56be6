"""Collection forms (Art. 11 steps 1-2): submit, list, review.

``POST /forms`` takes the JSON shape of ``collection-form.md`` (an array of objects, one
per client, keyed by the contract's column names, ``contacts`` optional) and runs the very
import the CLI runs (``dossiers.intake.service.import_forms``, without the file): the same rules, duplicate
checks, per-row report, one transaction. Unknown keys are refused here (422) rather than
ignored with a warning as in a file.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, create_model

from dossiers.api.deps import DB_SLOTS, ERRORS, StaffUser, require_staff, run
from dossiers.api.fields import After, Limit, Page, Reason
from dossiers.core import paging
from dossiers.intake.reader import (
    CONTACT_KEYS,
    CONTACTS_KEY,
    KNOWN_COLUMNS,
    MAX_DATA_ROWS,
    read_json_document,
)
from dossiers.intake.service import import_forms
from dossiers.workflows import creation

router = APIRouter(prefix="/forms", tags=["forms"], responses=ERRORS)

FormStatus = Literal["submitted", "reviewed", "rejected", "created"]

#: The name the import report and the ledger give a submission made through the API.
SOURCE_NAME = "api-request.json"


class Review(BaseModel):
    """Art. 11(2): approve, or reject with the reason that goes back to the liaison."""

    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    reason: Reason | None = None


class Reviewed(BaseModel):
    form_id: uuid.UUID
    status: Literal["reviewed", "rejected"]


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    title: str | None = None
    email: str | None = None
    phone: str | None = None
    preference: str | None = None


assert set(Contact.model_fields) == set(CONTACT_KEYS), "Contact must follow the contract"

#: One client of a collection form: every column of the contract, as text (the rules of
#: ``collection-form.md`` check each value and report each problem by row and field).
CollectionForm: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "CollectionForm",
    __config__=ConfigDict(extra="forbid"),
    **{column: (str | None, None) for column in KNOWN_COLUMNS},
    **{CONTACTS_KEY: (list[Contact] | None, None)},
)
if TYPE_CHECKING:
    FormRow = BaseModel
else:
    FormRow = CollectionForm


class RowError(BaseModel):
    row: int
    field: str
    code: str
    message: str


class Accepted(BaseModel):
    row: int
    form_id: uuid.UUID


class ColumnWarning(BaseModel):
    column: str
    message: str


class ImportReport(BaseModel):
    """``row`` numbers as in the contract: the array index + 2."""

    file: str
    accepted: list[Accepted]
    rejected: list[RowError]
    warnings: list[ColumnWarning]


@router.get("", summary="Forms you work on, with their review deadline (a page)")
def list_forms(
    user: StaffUser,
    status: Annotated[Literal["submitted", "reviewed", "rejected", "created", "all"],
                      Query()] = "submitted",
    limit: Limit = paging.DEFAULT_LIMIT,
    after: After = None,
) -> Page[creation.FormSummary]:
    """A liaison sees their own, a department head their department's, Customer Service all;
    in the order they were submitted."""
    page = run(user, lambda conn, actor: creation.list_forms(conn, actor, status, limit=limit,
                                                             after=after))
    return Page(items=page.items, next=page.next)  # the workflow's FormSummary is the model


@router.post("", summary="Submit collection forms (the JSON of collection-form.md)")
def submit_forms(
    user: StaffUser,
    forms: Annotated[list[FormRow], Body(min_length=1, max_length=MAX_DATA_ROWS)],
) -> ImportReport:
    """Each accepted row becomes a submitted form awaiting its department head's review;
    each refused row is reported by row, field and code, and writes nothing."""
    require_staff(user)  # import_forms loads the actor itself; an unknown one would be a 404
    # The rows go to the reader as parsed, never through a file: personal data is not written
    # to disk, and text that is no text (a lone surrogate) reaches the rules as it came.
    rows = read_json_document([f.model_dump(exclude_none=True) for f in forms], SOURCE_NAME)
    with DB_SLOTS:
        report = import_forms(rows, SOURCE_NAME, acting_user=user)
    return ImportReport.model_validate(report)


@router.post("/{form_id}/review", summary="Approve or reject a submitted form")
def review_form(form_id: uuid.UUID, body: Review, user: StaffUser) -> Reviewed:
    """The department head of the form's department (or the CS head), never its own liaison."""
    result = run(user, lambda conn, actor: creation.review_form(
        conn, actor, form_id, approve=body.decision == "approve", reason=body.reason))
    return Reviewed.model_validate(result, from_attributes=True)

