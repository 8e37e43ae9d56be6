"""Finding a dossier and what a reader may see of it (Art. 16).

Shared by reading (``lifecycle``), query grants (``queries``) and every workflow that acts on
one dossier; kept apart so that those modules need not import each other.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Connection, select, true

from dossiers.core import clock
from dossiers.core.errors import NotFound
from dossiers.core.permissions import Actor, Role
from dossiers.core.schema import dossier, query_grant
from dossiers.core.vocabulary import DossierStatus, GrantStatus


def find(conn: Connection, dossier_no: str, *, lock: bool = False) -> Any:
    query = select(dossier).where(dossier.c.dossier_no == dossier_no)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None or row.status == DossierStatus.DESTROYED:
        raise NotFound("no such dossier", record=f"dossier {dossier_no}")
    return row


def worked_on(actor: Actor, department: ColumnElement[Any],
              liaison_id: ColumnElement[Any]) -> ColumnElement[bool]:
    """Which forms the actor works on (Art. 7): Customer Service all of them, a department
    head their department's, a liaison their own clients'."""
    if actor.department == "customer_service":
        return true()
    if Role.DEPT_HEAD in actor.roles:
        return department == actor.department
    return liaison_id == actor.staff_id


def active_scope(conn: Connection, actor: Actor, dossier_id: uuid.UUID,
                 today: date | None = None) -> set[str] | None:
    """The union of the actor's approved, unexpired grants on a dossier; None if none."""
    today = today or clock.today()
    scopes = conn.execute(select(query_grant.c.scope).where(
        query_grant.c.dossier_id == dossier_id, query_grant.c.requester_id == actor.staff_id,
        query_grant.c.status == GrantStatus.APPROVED, query_grant.c.expires_on >= today)).scalars().all()
    return {s for scope in scopes for s in scope} if scopes else None


def mask(value: str | None) -> str | None:
    """A desensitised form of a personal value: enough to recognise, not to use."""
    if not value:
        return value
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if value.startswith("+"):
        return value[:3] + "*" * max(0, len(value) - 6) + value[-3:]
    return value[:1] + "***"
