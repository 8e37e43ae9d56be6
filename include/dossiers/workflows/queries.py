"""Internal queries (Art. 16): a reader other than the client's own liaison needs a grant.

A grant names its purpose, its scope (which Art. 10 dimensions; ``personal`` to see
personal data in clear) and its expiry, and is approved by the archivist — never by the
person who asked (separation of duties). Reads under a grant show only its scope.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, insert

from dossiers.core import clock, ledger
from dossiers.core.errors import Refused
from dossiers.core.free_text import refuse_personal_data
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import QUERY_SCOPES, query_grant
from dossiers.core.vocabulary import GrantStatus, LedgerAction
from dossiers.workflows import decisions
from dossiers.workflows.access import find
from dossiers.workflows.results import Result


@dataclass(frozen=True)
class Requested(Result):
    """A query request, waiting for the archivist (Art. 16)."""

    grant_id: str
    dossier_no: str
    status: GrantStatus


@dataclass(frozen=True)
class Decided(Result):
    grant_id: str
    status: GrantStatus


def request(conn: Connection, actor: Actor, dossier_no: str, *, purpose: str,
            scope: list[str], expires_on: date, today: date | None = None) -> Requested:
    today = today or clock.today()
    row = find(conn, dossier_no)
    record = f"dossier {dossier_no}"
    authorize(conn, actor, Action.QUERY_REQUEST, subject=record)
    if not purpose.strip():
        raise Refused("a query states its purpose (Art. 16)", record=record, field="purpose")
    refuse_personal_data(purpose, record=record, field="purpose")  # ledgered: Art. 19
    unknown = sorted(set(scope) - set(QUERY_SCOPES))
    if unknown or not scope:
        raise Refused(f"unknown scope {unknown[0] if unknown else '(none)'}; one or more of "
                      f"{', '.join(QUERY_SCOPES)}", record=record, field="scope")
    if expires_on < today:
        raise Refused("is in the past", record=record, field="expires_on")
    grant_id = uuid.uuid4()
    conn.execute(insert(query_grant).values(
        id=grant_id, dossier_id=row.id, requester_id=actor.staff_id, purpose=purpose,
        scope=sorted(set(scope)), expires_on=expires_on, requested_at=clock.on(today)))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.QUERY_REQUEST, subject_type="query_grant",
        subject_id=str(grant_id), dossier_no=dossier_no,
        details={"purpose": purpose, "scope": sorted(set(scope)),
                 "expires_on": expires_on.isoformat()}))
    return Requested(str(grant_id), dossier_no, GrantStatus.REQUESTED)


#: Art. 16: the archivist decides a query request, never the person who asked.
DECISION = decisions.Rules(
    query_grant, "query grant", "no such query request", Action.QUERY_APPROVE, ("requester_id",),
    approved=decisions.Outcome(GrantStatus.APPROVED, LedgerAction.QUERY_APPROVE, "decided_by",
                               "decided_at", "reason"),
    rejected=decisions.Outcome(GrantStatus.REJECTED, LedgerAction.QUERY_REJECT, "decided_by",
                               "decided_at", "reason"))


def decide(conn: Connection, actor: Actor, grant_id: uuid.UUID, *, approve: bool,
           reason: str | None = None, at: datetime | None = None) -> Decided:
    """The archivist approves or rejects a query request (Art. 16)."""
    decision = decisions.Decision(approve, reason)
    decisions.take(conn, actor, DECISION, grant_id, decision)
    outcome = decisions.record(conn, actor, DECISION, decision, grant_id,
                               at=at or clock.local_now())
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=outcome.entry_action, subject_type="query_grant",
        subject_id=str(grant_id), details={"reason": reason} if reason else {}))
    return Decided(str(grant_id), GrantStatus(outcome.status))
