"""External disclosure requests (Art. 16: external use).

A request names the recipient (and the country it is in: a recipient abroad makes the
disclosure a cross-border transfer under PIPL), the legal basis (litigation, a regulator's
inspection, other), the purpose, the Art. 10 dimensions and the documents in scope, an
expiry, and the confidentiality agreement's reference — required before anything leaves.
Management approves (the company's responsible leader, Art. 16); nobody approves their own
request. A random secret, sealed under the dossier's data key, makes the package's
passphrase and its salts: so the package can be made again byte for byte for audit, and
not at all once the dossier is destroyed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pycountry
from sqlalchemy import Connection, insert, select, update

from dossiers.core import clock, ledger
from dossiers.core.crypto import Field, KeyRing
from dossiers.core.errors import NotFound, Refused
from dossiers.core.free_text import refuse_personal_data
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import disclosure_request, dossier_file, staff
from dossiers.core.vocabulary import DisclosureBasis, DisclosureStatus, LedgerAction
from dossiers.workflows.access import find
from dossiers.workflows.results import Result

#: The dimensions a package may hold (Art. 10); personal data is masked in every one.
DIMENSIONS = ("basic", "contacts", "market", "cooperation", "needs", "other")
#: The company's own country: a recipient elsewhere is a cross-border transfer (PIPL).
HOME_COUNTRY = "CN"


@dataclass(frozen=True)
class DisclosureRequested(Result):
    request_id: uuid.UUID
    dossier_no: str
    status: str
    cross_border: bool


@dataclass(frozen=True)
class DisclosureDecided(Result):
    request_id: uuid.UUID
    status: str
    reason: str | None


def secret_field(request_id: uuid.UUID) -> Field:
    return Field("disclosure_request", "secret", str(request_id))


def request(conn: Connection, keyring: KeyRing, actor: Actor, dossier_no: str, *,
            recipient: str, recipient_country: str, legal_basis: str, purpose: str,
            scope: Sequence[str], documents: Sequence[str] = (), expires_on: date,
            confidentiality_ref: str, today: date | None = None,
            at: datetime | None = None) -> DisclosureRequested:
    today = today or clock.today()
    at = at or clock.now()
    row = find(conn, dossier_no)
    record = f"dossier {dossier_no}"
    authorize(conn, actor, Action.DISCLOSURE_REQUEST, subject=record)
    checks = [
        (not recipient.strip(), "recipient", "name the recipient"),
        (pycountry.countries.get(alpha_2=recipient_country.upper()) is None, "recipient_country",
         f"{recipient_country!r} is no ISO 3166 country code"),
        (legal_basis not in set(DisclosureBasis), "legal_basis",
         f"must be one of {', '.join(DisclosureBasis)}"),
        (not purpose.strip(), "purpose", "say what it is for"),
        (not scope or not set(scope) <= set(DIMENSIONS), "scope",
         f"dimensions from {', '.join(DIMENSIONS)} (personal data is always masked)"),
        (expires_on <= today, "expires_on", "must be after today"),
        (not confidentiality_ref.strip(), "confidentiality_ref",
         "the confidentiality agreement's reference is required before anything leaves "
         "(Art. 16)"),
    ]
    for failed, field, message in checks:
        if failed:
            raise Refused(message, record=record, field=field)
    for field, text in (("recipient", recipient), ("purpose", purpose)):  # ledgered: Art. 19
        refuse_personal_data(text, record=record, field=field)
    owned = set(map(str, conn.execute(select(dossier_file.c.id).where(
        dossier_file.c.dossier_id == row.id)).scalars()))
    foreign = [d for d in documents if d not in owned]
    if foreign:
        raise Refused(f"not documents of this dossier: {', '.join(foreign)}", record=record,
                      field="documents")
    request_id = uuid.uuid4()
    country = recipient_country.upper()
    conn.execute(insert(disclosure_request).values(
        id=request_id, dossier_id=row.id, dossier_no=dossier_no, recipient=recipient.strip(),
        recipient_country=country, legal_basis=legal_basis, purpose=purpose.strip(),
        scope=[d for d in DIMENSIONS if d in scope], documents=sorted(set(documents)),
        expires_on=expires_on, confidentiality_ref=confidentiality_ref.strip(),
        status=DisclosureStatus.REQUESTED, requested_by=actor.staff_id, requested_at=at,
        secret_enc=keyring.seal(conn, row.id, secret_field(request_id), os.urandom(32).hex())))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.DISCLOSURE_REQUEST,
        subject_type="disclosure_request", subject_id=str(request_id), dossier_no=dossier_no,
        details={"recipient": recipient.strip(), "country": country, "legal_basis": legal_basis,
                 "scope": sorted(scope), "documents": len(set(documents)),
                 "expires_on": expires_on.isoformat(),
                 "confidentiality_ref": confidentiality_ref.strip()}))
    return DisclosureRequested(request_id, dossier_no, DisclosureStatus.REQUESTED,
                               country != HOME_COUNTRY)


def load(conn: Connection, request_id: uuid.UUID, *, lock: bool = False) -> Any:
    query = select(disclosure_request).where(disclosure_request.c.id == request_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound("no such disclosure request", record=f"disclosure {request_id}")
    return row


def decide(conn: Connection, actor: Actor, request_id: uuid.UUID, *, approve: bool,
           reason: str | None = None, via: str = "cli",
           at: datetime | None = None) -> DisclosureDecided:
    """Management's decision (Art. 16): nothing leaves without it."""
    at = at or clock.now()
    row = load(conn, request_id, lock=True)
    record = f"disclosure {request_id}"
    authorize(conn, actor, Action.DISCLOSURE_APPROVE, subject=record)
    if actor.staff_id == row.requested_by:
        authorize(conn, actor, Action.DISCLOSURE_APPROVE, subject=record,
                  reason="nobody decides their own request")
    if row.status != DisclosureStatus.REQUESTED:
        raise Refused(f"is {row.status}, not awaiting a decision", record=record)
    reason = (reason or "").strip() or None
    if not approve and reason is None:
        raise Refused("a rejection states its reason", record=record, field="reason")
    status = DisclosureStatus.APPROVED if approve else DisclosureStatus.REJECTED
    conn.execute(update(disclosure_request).where(disclosure_request.c.id == request_id).values(
        status=status, decided_by=actor.staff_id, decided_at=at, reason=reason))
    ledger.append(conn, ledger.Entry(
        actor=actor.username,
        action=LedgerAction.DISCLOSURE_APPROVE if approve else LedgerAction.DISCLOSURE_REJECT,
        subject_type="disclosure_request", subject_id=str(request_id), dossier_no=row.dossier_no,
        details={"reason": reason, "via": via}))
    return DisclosureDecided(request_id, status, reason)


@dataclass(frozen=True)
class Disclosure(Result):
    request_id: uuid.UUID
    dossier_no: str
    recipient: str
    recipient_country: str
    cross_border: bool
    legal_basis: str
    purpose: str
    scope: list[str]
    documents: int
    expires_on: date
    confidentiality_ref: str
    status: str
    requested_by: str
    decided_by: str | None
    packaged_at: datetime | None
    package_sha256: str | None


def register(conn: Connection, actor: Actor, *, cross_border_only: bool = False) -> list[Disclosure]:
    """The register of disclosures and cross-border transfers (Arts. 16, 20; PIPL)."""
    authorize(conn, actor, Action.DISCLOSURE_REGISTER, subject="disclosure register")
    names = dict(conn.execute(select(staff.c.id, staff.c.username)).tuples().all())
    query = select(disclosure_request).order_by(disclosure_request.c.requested_at,
                                                disclosure_request.c.id)
    if cross_border_only:
        query = query.where(disclosure_request.c.recipient_country != HOME_COUNTRY)
    return [Disclosure(r.id, r.dossier_no, r.recipient, r.recipient_country,
                       r.recipient_country != HOME_COUNTRY, r.legal_basis, r.purpose,
                       list(r.scope), len(r.documents), r.expires_on, r.confidentiality_ref,
                       r.status, names[r.requested_by], names.get(r.decided_by),
                       r.packaged_at, r.package_sha256)
            for r in conn.execute(query)]
