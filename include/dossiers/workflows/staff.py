"""Staff, their departments and roles; onboarding and offboarding (Arts. 5-7, 19)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from dossiers.calendar import clocks
from dossiers.core import clock, ledger, usernames
from dossiers.core.directory import DEPARTMENTS, load_actor, staff_id
from dossiers.core.errors import NotFound, Refused
from dossiers.core.free_text import refuse_personal_data
from dossiers.core.permissions import STAFF_ROLES, Action, Actor, authorize
from dossiers.core.schema import dossier, form, staff, staff_handover, staff_role
from dossiers.core.vocabulary import FormStatus, LedgerAction
from dossiers.workflows import approval_chains
from dossiers.workflows.results import Result


@dataclass(frozen=True)
class Added(Result):
    username: str
    department: str
    roles: list[str]


@dataclass(frozen=True)
class Left(Result):
    """What a leaver handed over (Art. 19), and the roles they no longer have."""

    username: str
    handed_over_to: str
    dossiers: int
    open_forms: int
    open_clocks: int
    roles_revoked: list[str]
    #: Waiting approval gates that had asked the leaver, asked anew of others (Art. 19).
    approvals_reassigned: int = 0


def add(conn: Connection, acting_user: str | None, username: str, department_code: str,
        roles: list[str], confidentiality_signed_on: Any = None, *,
        agreement_ref: str | None = None, at: datetime | None = None) -> Added:
    """Onboard a staff member. The very first one (an empty company) needs no actor.

    The username is checked first: it becomes a login, a mail address and a report cell
    (:mod:`dossiers.core.usernames`), so the API, the CLI and the seed all refuse a bad one.
    """
    at = at or clock.now()
    usernames.check(username)
    bootstrap = conn.execute(select(func.count()).select_from(staff)).scalar_one() == 0
    if department_code not in DEPARTMENTS:
        raise Refused(f"unknown department; one of {', '.join(DEPARTMENTS)}",
                      record=f"user {username}", field="department")
    unknown = [r for r in roles if r not in STAFF_ROLES]
    if unknown or not roles:
        raise Refused(f"unknown role {unknown[0] if unknown else '(none)'}; one of "
                      f"{', '.join(STAFF_ROLES)}", record=f"user {username}", field="role")
    if bootstrap:
        if not {"cs_head", "management"} & set(roles):
            raise Refused("the first staff member must be cs_head or management, who can "
                          "then onboard the others", record=f"user {username}", field="role")
        actor_name = "bootstrap"
    else:
        actor = load_actor(conn, acting_user)
        authorize(conn, actor, Action.STAFF_ADD, subject=f"user {username}")
        actor_name = actor.username
    if conn.execute(select(staff.c.id).where(staff.c.username == username)).first():
        raise Refused("already exists", record=f"user {username}")
    _check_agreement(f"user {username}", confidentiality_signed_on, agreement_ref, at)
    new_id = conn.execute(insert(staff).values(
        username=username, department=department_code,
        confidentiality_signed_on=confidentiality_signed_on,
        confidentiality_ref=agreement_ref.strip() if agreement_ref else None, joined_at=at,
    ).returning(staff.c.id)).scalar_one()
    conn.execute(insert(staff_role), [{"staff_id": new_id, "role": r} for r in dict.fromkeys(roles)])
    ledger.append(conn, ledger.Entry(
        actor=actor_name, action=LedgerAction.STAFF_ADD, subject_type="staff", subject_id=username,
        details={"department": department_code, "roles": sorted(set(roles)),
                 "bootstrap": bootstrap,
                 "agreement_signed_on": str(confidentiality_signed_on)
                 if confidentiality_signed_on else None},
    ))
    return Added(username, department_code, sorted(set(roles)))


def leave(conn: Connection, actor: Actor, username: str, handover_to: str, *,
          paper_volumes: Sequence[str] = (), documents: Sequence[str] = (),
          storage_devices: Sequence[str] = (), at: datetime | None = None) -> Left:
    """Offboard (Art. 19): hand every dossier and open item over, then revoke access; the
    paper volumes, documents and storage devices the leaver returned are listed for CS to
    sign off (:func:`sign_off_handover`)."""
    at = at or clock.now()
    authorize(conn, actor, Action.STAFF_LEAVE, subject=f"user {username}")
    for name, items in (("paper-volume", paper_volumes), ("document", documents),
                        ("storage-device", storage_devices)):
        for item in items:
            refuse_personal_data(item, record=f"user {username}", field=name)
    if username == handover_to:
        raise Refused("cannot hand over to the leaver", record=f"user {username}",
                      field="handover-to")
    leaver = staff_id(conn, username)
    successor = staff_id(conn, handover_to)
    dossiers = conn.execute(
        update(dossier).where(dossier.c.liaison_id == leaver)
        .values(liaison_id=successor, updated_at=at).returning(dossier.c.dossier_no)
    ).scalars().all()
    forms = conn.execute(
        update(form).where(form.c.liaison_id == leaver,
                           form.c.status.in_((FormStatus.SUBMITTED, FormStatus.REVIEWED)))
        .values(liaison_id=successor).returning(form.c.id)
    ).scalars().all()
    handed = clocks.hand_over(conn, leaver, successor)
    revoked = conn.execute(
        delete(staff_role).where(staff_role.c.staff_id == leaver).returning(staff_role.c.role)
    ).scalars().all()
    conn.execute(update(staff).where(staff.c.id == leaver).values(
        active=False, left_at=at, handed_over_to=successor))
    conn.execute(insert(staff_handover).values(
        staff_id=leaver, paper_volumes=list(paper_volumes), documents=list(documents),
        storage_devices=list(storage_devices), recorded_by=actor.staff_id, recorded_at=at))
    reassigned = approval_chains.reassign(conn, username)  # after the account is inactive
    summary = Left(username, handover_to, len(dossiers), len(forms), len(handed), sorted(revoked),
                   len(reassigned))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.STAFF_LEAVE, subject_type="staff", subject_id=username,
        details={**summary.as_dict(), "dossier_nos": sorted(n for n in dossiers if n),
                 "returned": {"paper_volumes": list(paper_volumes), "documents": list(documents),
                              "storage_devices": list(storage_devices)}},
    ))
    return summary


@dataclass(frozen=True)
class AgreementRecorded(Result):
    """A signed Client Information Confidentiality Agreement on record (Art. 19)."""

    username: str
    signed_on: date
    reference: str


def _check_agreement(record: str, signed_on: Any, reference: str | None, at: datetime) -> None:
    """Art. 19: an agreement is recorded with its date and its reference, both or neither."""
    if (signed_on is None) != (not (reference or "").strip()):
        raise Refused("a confidentiality agreement is recorded with its date and its "
                      "reference (Art. 19)", record=record,
                      field="agreement-ref" if signed_on else "agreement-signed-on")
    if isinstance(signed_on, date) and signed_on > clock.local_date(at):
        raise Refused("is in the future", record=record, field="agreement-signed-on")
    refuse_personal_data(reference, record=record, field="agreement-ref")


def record_agreement(conn: Connection, actor: Actor, username: str, *, signed_on: date,
                     reference: str, at: datetime | None = None) -> AgreementRecorded:
    """Put a staff member's signed confidentiality agreement on record (Art. 19): without
    one, they read no dossier (:data:`dossiers.core.permissions.READ_ACTIONS`)."""
    at = at or clock.now()
    record = f"user {username}"
    authorize(conn, actor, Action.STAFF_AGREEMENT, subject=record)
    member = staff_id(conn, username)
    _check_agreement(record, signed_on, reference, at)
    conn.execute(update(staff).where(staff.c.id == member).values(
        confidentiality_signed_on=signed_on, confidentiality_ref=reference.strip()))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.STAFF_AGREEMENT, subject_type="staff",
        subject_id=username, details={"signed_on": signed_on.isoformat(),
                                      "reference": reference.strip()}))
    return AgreementRecorded(username, signed_on, reference.strip())


@dataclass(frozen=True)
class HandoverSignedOff(Result):
    """A leaver's materials returned to Customer Service, signed off (Art. 19)."""

    username: str
    paper_volumes: list[str]
    documents: list[str]
    storage_devices: list[str]
    signed_off_by: str


def sign_off_handover(conn: Connection, actor: Actor, username: str, *,
                      at: datetime | None = None) -> HandoverSignedOff:
    """CS signs off what a leaver returned (Art. 19: leavers hand everything over to CS)."""
    at = at or clock.now()
    record = f"user {username}"
    authorize(conn, actor, Action.STAFF_HANDOVER_SIGN_OFF, subject=record)
    leaver = staff_id(conn, username, active=False)
    row = conn.execute(select(staff_handover).where(staff_handover.c.staff_id == leaver)
                       .with_for_update()).first()
    if row is None:
        raise NotFound("has no handover: `dossier staff leave` records it", record=record)
    if row.signed_off_at is not None:
        raise Refused("handover is already signed off", record=record)
    if row.recorded_by == actor.staff_id:
        authorize(conn, actor, Action.STAFF_HANDOVER_SIGN_OFF, subject=record,
                  reason="who recorded a handover does not sign it off too (Art. 19)")
    conn.execute(update(staff_handover).where(staff_handover.c.id == row.id).values(
        signed_off_by=actor.staff_id, signed_off_at=at))
    done = HandoverSignedOff(username, list(row.paper_volumes), list(row.documents),
                             list(row.storage_devices), actor.username)
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.STAFF_HANDOVER_SIGN_OFF,
        subject_type="staff", subject_id=username, details=done.as_dict()))
    return done
