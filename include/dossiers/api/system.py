"""``/health`` (no authentication: for load balancers and start-up probes) and ``/me``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from dossiers.api.deps import ERRORS, ErrorBody, StaffUser, engine, run
from dossiers.core import db

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]


class Me(BaseModel):
    username: str
    department: str | None
    roles: list[str]
    active: bool


@router.get("/health", responses={503: {"model": ErrorBody}}, summary="Is the API up?")
def health() -> Health:
    """Answers without authentication; 503 when the dossier database is unreachable."""
    with db.transaction(engine()) as conn:
        conn.execute(text("SELECT 1"))
    return Health(status="ok", database="ok")


@router.get("/me", responses=ERRORS, summary="The staff member behind the token")
def me(user: StaffUser) -> Me:
    actor = run(user, lambda conn, actor: actor)
    return Me(username=actor.username, department=actor.department,
              roles=sorted(actor.roles), active=actor.active)
