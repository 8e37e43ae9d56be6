"""Who is who: the departments and lookups in the staff register (Arts. 5-7).

Every layer needs to know who is acting (:func:`load_actor`) and who heads a department
(:func:`department_heads`); onboarding and offboarding, which change the register, are the
workflow ``dossiers.workflows.staff``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from dossiers.core.errors import NotFound
from dossiers.core.permissions import Actor, Role
from dossiers.core.schema import staff, staff_role
from dossiers.core.usernames import shown
from dossiers.core.vocabulary import Department

#: The company's departments (Art. 5), in the order reports list them.
DEPARTMENTS = tuple(d.value for d in Department)


#: The staff member and their roles in one statement: every API request and CLI command
#: starts with it (issue 16).
ACTOR = select(
    staff.c.id, staff.c.department, staff.c.active, staff.c.confidentiality_signed_on,
    select(func.array_agg(staff_role.c.role)).where(staff_role.c.staff_id == staff.c.id)
    .scalar_subquery().label("roles"),
).where(staff.c.username == bindparam("username"))


def load_actor(conn: Connection, username: str | None) -> Actor:
    """The acting staff member, or the system actor when no user is named."""
    if not username:
        return Actor.system()
    return actor_from(username, conn.execute(ACTOR, {"username": username}).first())


def actor_from(username: str, row: Any) -> Actor:
    """The actor of :data:`ACTOR`'s row for ``username`` (``None``: not a staff member)."""
    if row is None:
        raise NotFound("no such staff member (see `dossier staff add`)", record=f"user {shown(username)}")
    return Actor(username=username, roles=frozenset(Role(r) for r in row.roles or ()),
                 staff_id=row.id, department=row.department, active=row.active,
                 agreement=row.confidentiality_signed_on is not None)


def staff_id(conn: Connection, username: str, *, active: bool = True) -> int:
    query = select(staff.c.id).where(staff.c.username == username)
    if active:
        query = query.where(staff.c.active)
    found = conn.execute(query).scalar_one_or_none()
    if found is None:
        state = "active staff member" if active else "staff member"
        raise NotFound(f"no {state} with this username", record=f"user {shown(username)}")
    return int(found)


def department_heads(conn: Connection) -> dict[str, int]:
    """Each department's active head (the reviewer of its forms, Arts. 7, 11(2))."""
    rows = conn.execute(
        select(staff.c.department, staff.c.id)
        .join(staff_role, staff_role.c.staff_id == staff.c.id)
        .where(staff_role.c.role == Role.DEPT_HEAD.value, staff.c.active)
        .order_by(staff.c.id)
    )
    heads: dict[str, int] = {}
    for r in rows:
        heads.setdefault(r.department, r.id)
    return heads
