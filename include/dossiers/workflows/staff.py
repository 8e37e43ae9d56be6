"""Staff, their departments and roles; onboarding and offboarding (Arts. 5-7, 19)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from dossiers.calendar import clocks
from dossiers.core import clock, ledger, usernames
from dossiers.core.directory import DEPARTMENTS, load_actor, staff_id
from dossiers.core.errors import Refused
from dossiers.core.permissions import STAFF_ROLES, Action, Actor, authorize
from dossiers.core.schema import dossier, form, staff, staff_role
from dossiers.core.vocabulary import FormStatus, LedgerAction
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


def add(conn: Connection, acting_user: str | None, username: str, department_code: str,
        roles: list[str], confidentiality_signed_on: Any = None, *,
        at: datetime | None = None) -> Added:
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
    new_id = conn.execute(insert(staff).values(
        username=username, department=department_code,
        confidentiality_signed_on=confidentiality_signed_on, joined_at=at,
    ).returning(staff.c.id)).scalar_one()
    conn.execute(insert(staff_role), [{"staff_id": new_id, "role": r} for r in dict.fromkeys(roles)])
    ledger.append(conn, ledger.Entry(
        actor=actor_name, action=LedgerAction.STAFF_ADD, subject_type="staff", subject_id=username,
        details={"department": department_code, "roles": sorted(set(roles)),
                 "bootstrap": bootstrap},
    ))
    return Added(username, department_code, sorted(set(roles)))


def leave(conn: Connection, actor: Actor, username: str, handover_to: str, *,
          at: datetime | None = None) -> Left:
    """Offboard (Art. 19): hand every dossier and open item over, then revoke access."""
    at = at or clock.now()
    authorize(conn, actor, Action.STAFF_LEAVE, subject=f"user {username}")
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
    summary = Left(username, handover_to, len(dossiers), len(forms), len(handed), sorted(revoked))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.STAFF_LEAVE, subject_type="staff", subject_id=username,
        details={**summary.as_dict(), "dossier_nos": sorted(n for n in dossiers if n)},
    ))
    return summary
