"""Internal queries (Art. 16): a reader other than the client's own liaison needs a grant.

A grant names its purpose, its scope (which Art. 10 dimensions; ``personal`` to see
personal data in clear) and its expiry, and is approved by the archivist — never by the
person who asked (separation of duties). Reads under a grant show only its scope.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from dossiers.core import ledger
from dossiers.core.config import SHANGHAI
from dossiers.core.errors import NotFound, Refused
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import QUERY_SCOPES, query_grant
from dossiers.workflows.access import find


def request(conn: Connection, actor: Actor, dossier_no: str, *, purpose: str,
            scope: list[str], expires_on: date, today: date | None = None) -> dict[str, Any]:
    today = today or datetime.now(SHANGHAI).date()
    row = find(conn, dossier_no)
    record = f"dossier {dossier_no}"
    authorize(conn, actor, Action.QUERY_REQUEST, subject=record)
    if not purpose.strip():
        raise Refused("a query states its purpose (Art. 16)", record=record, field="purpose")
    unknown = sorted(set(scope) - set(QUERY_SCOPES))
    if unknown or not scope:
        raise Refused(f"unknown scope {unknown[0] if unknown else '(none)'}; one or more of "
                      f"{', '.join(QUERY_SCOPES)}", record=record, field="scope")
    if expires_on < today:
        raise Refused("is in the past", record=record, field="expires_on")
    grant_id = uuid.uuid4()
    conn.execute(insert(query_grant).values(
        id=grant_id, dossier_id=row.id, requester_id=actor.staff_id, purpose=purpose,
        scope=sorted(set(scope)), expires_on=expires_on))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action="query.request", subject_type="query_grant",
        subject_id=str(grant_id), dossier_no=dossier_no,
        details={"purpose": purpose, "scope": sorted(set(scope)),
                 "expires_on": expires_on.isoformat()}))
    return {"grant_id": str(grant_id), "dossier_no": dossier_no, "status": "requested"}


def decide(conn: Connection, actor: Actor, grant_id: uuid.UUID, *, approve: bool,
           reason: str | None = None) -> dict[str, Any]:
    """The archivist approves or rejects a query request (Art. 16)."""
    grant = conn.execute(select(query_grant).where(query_grant.c.id == grant_id)
                         .with_for_update()).first()
    record = f"query grant {grant_id}"
    if grant is None:
        raise NotFound("no such query request", record=record)
    authorize(conn, actor, Action.QUERY_APPROVE, subject=record)
    if grant.requester_id == actor.staff_id:
        authorize(conn, actor, Action.QUERY_APPROVE, subject=record,
                  reason="nobody approves their own request (separation of duties)")
    if grant.status != "requested":
        raise Refused(f"is {grant.status}, only a pending request can be decided", record=record)
    if not approve and not (reason or "").strip():
        raise Refused("a rejection needs a reason", record=record, field="reason")
    status = "approved" if approve else "rejected"
    conn.execute(update(query_grant).where(query_grant.c.id == grant_id).values(
        status=status, decided_by=actor.staff_id, decided_at=datetime.now(SHANGHAI),
        reason=reason))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=f"query.{'approve' if approve else 'reject'}",
        subject_type="query_grant", subject_id=str(grant_id),
        details={"reason": reason} if reason else {}))
    return {"grant_id": str(grant_id), "status": status}
