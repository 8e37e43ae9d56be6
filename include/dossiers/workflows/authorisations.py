"""The client's authorisation to collect its information, as a record of its own (Art. 19).

Liaisons tell the client the scope of use and obtain its authorisation before collecting;
the authorisation's reference is what the collection forms name (``authorisation_ref``).
Recording it here gives the forms' checks (:mod:`dossiers.intake.authorisation`) its scope
(the Art. 9 channel groups it allows), its date and its expiry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, insert, select

from dossiers.core import clock, ledger
from dossiers.core.errors import Refused
from dossiers.core.free_text import refuse_personal_data
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import client_authorisation
from dossiers.core.vocabulary import ChannelGroup, LedgerAction
from dossiers.workflows.results import Result


@dataclass(frozen=True)
class Recorded(Result):
    reference: str
    scope: list[str]
    granted_on: date
    expires_on: date
    legal_basis: str | None


def record(conn: Connection, actor: Actor, reference: str, scope: Sequence[str], *,
           granted_on: date, expires_on: date, legal_basis: str | None = None,
           at: datetime | None = None) -> Recorded:
    """Record a client's authorisation (Art. 19): reference, scope of use, date, expiry."""
    at = at or clock.now()
    reference = (reference or "").strip()
    subject = f"authorisation {reference}"
    authorize(conn, actor, Action.AUTHORISATION_RECORD, subject=subject)
    if not reference:
        raise Refused("an authorisation has a reference", record="authorisation",
                      field="reference")
    groups = sorted(set(scope))
    unknown = [g for g in groups if g not in {c.value for c in ChannelGroup}]
    if unknown or not groups:
        raise Refused(f"unknown scope {unknown[0] if unknown else '(none)'}; one or more of "
                      f"{', '.join(g.value for g in ChannelGroup)} (Art. 9)", record=subject,
                      field="scope")
    if granted_on > clock.local_date(at):
        raise Refused("is in the future", record=subject, field="granted_on")
    if expires_on < granted_on:
        raise Refused("is before the authorisation was given", record=subject,
                      field="expires_on")
    if ChannelGroup.RESEARCH in groups and not (legal_basis or "").strip():
        raise Refused("compliant research names the target market's law it relies on "
                      "(Art. 9)", record=subject, field="legal_basis")
    refuse_personal_data(legal_basis, record=subject, field="legal_basis")
    if conn.execute(select(client_authorisation.c.id)
                    .where(client_authorisation.c.reference == reference)).first():
        raise Refused("is already recorded", record=subject)
    basis = legal_basis.strip() if legal_basis else None
    conn.execute(insert(client_authorisation).values(
        reference=reference, scope=groups, legal_basis=basis, granted_on=granted_on,
        expires_on=expires_on, recorded_by=actor.staff_id, recorded_at=at))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.AUTHORISATION_RECORD,
        subject_type="client_authorisation", subject_id=reference,
        details={"scope": groups, "granted_on": granted_on.isoformat(),
                 "expires_on": expires_on.isoformat(), "legal_basis": basis}))
    return Recorded(reference, groups, granted_on, expires_on, basis)
