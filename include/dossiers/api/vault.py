"""The paper vault register (Arts. 14, 15): list, register another volume, condition checks.

The register is read by the archivist, the CS head and the QA supervisor; the archivist
keeps it. A volume is named by its ``volume_id`` (in the register) in paths.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from dossiers.api.deps import ERRORS, StaffUser, run
from dossiers.api.fields import After, Limit, Page, one_line
from dossiers.core import paging
from dossiers.workflows import vault

router = APIRouter(prefix="/vault", tags=["vault"], responses=ERRORS)

Condition = Literal["good", "worn", "damaged", "faded"]
Cabinet = Annotated[str, one_line(64)]


class Register(BaseModel):
    """Another volume of a filed dossier; without a place it goes where its last one stands."""

    model_config = ConfigDict(extra="forbid")
    dossier_no: Annotated[str, one_line(64)] = Field(examples=["海外-2026-電商-001"])
    cabinet: Cabinet | None = None
    shelf: int | None = Field(default=None, ge=1, le=32767)


class Check(BaseModel):
    """Art. 14: a damaged or faded volume is repaired or copied, never left as it is."""

    model_config = ConfigDict(extra="forbid")
    condition: Condition
    action: Literal["none", "repair", "copy"] = "none"
    notes: Annotated[str, one_line(1000, min_length=0)] | None = None


class Checked(BaseModel):
    ref: str
    check_id: int
    checked_on: date
    before: Condition
    condition: Condition
    action: Literal["none", "repair", "copy"]


@router.get("", summary="The register in shelf order, with condition and any open loan (a page)")
def list_volumes(user: StaffUser, cabinet: Annotated[Cabinet | None, Query()] = None,
                 limit: Limit = paging.DEFAULT_LIMIT,
                 after: After = None) -> Page[vault.Volume]:
    # The workflow's volumes (a dataclass with its label and loan) are the response model.
    page = run(user, lambda conn, actor: vault.list_volumes(conn, actor, cabinet, limit=limit,
                                                            after=after))
    return Page(items=page.items, next=page.next)


@router.post("/volumes", status_code=201, summary="Register another volume of a filed dossier")
def register_volume(body: Register, user: StaffUser) -> vault.Registered:
    # The workflow's result is the response model itself (FastAPI takes a dataclass).
    return run(user, lambda conn, actor: vault.register_volume(
        conn, actor, body.dossier_no, cabinet=body.cabinet, shelf=body.shelf))


@router.post("/volumes/{volume_id}/checks", status_code=201,
             summary="Record a condition check of a volume")
def check_condition(volume_id: Annotated[int, Path(ge=1, le=2**63 - 1)], body: Check,
                    user: StaffUser) -> Checked:
    return Checked.model_validate(run(user, lambda conn, actor: vault.check_condition(
        conn, actor, str(volume_id), condition=body.condition, action=body.action,
        notes=body.notes)), from_attributes=True)
