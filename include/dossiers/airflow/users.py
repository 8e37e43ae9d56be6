"""Staff members as Airflow users: the one place that maps one to the other (Arts. 6, 18).

Airflow knows a person by its auth manager's user id. Under SimpleAuthManager (``make
airflow``, the compose stack, the tests) the id is the login name, and every active staff
member's login is their staff username; under FAB or an SSO it would be another id, and only
this module changes. ``assigned_users`` of an approval gate and the ``responded_by`` of an
answer go through :func:`hitl_user` and :func:`staff_username`.

Logins and their SimpleAuthManager role: staff who may answer an approval step (their roles
grant an action of an approval chain, ``approval_chains.approval_actions``) are ``user``,
since answering is a write (``PUT`` on the DAG's human-in-the-loop details); everyone else is
``viewer``. ``admin`` is the operator's account, which answers nothing:
``simple_auth_manager_all_admins`` must stay off (it lets everyone answer everything).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from dossiers.core.permissions import MATRIX, Role
from dossiers.workflows.approval_chains import approval_actions

if TYPE_CHECKING:  # imported at DAG parse time (approval gates): no database there
    from airflow.sdk.execution_time.hitl import HITLUser
    from sqlalchemy import Connection

#: The operator's Airflow login (not a staff member; answers no approval).
ADMIN = "admin"


def airflow_user_id(username: str) -> str:
    """The auth manager's user id of a staff member (SimpleAuthManager: the username)."""
    return username


def hitl_user(username: str) -> HITLUser:
    """A staff member as an entry of a human-in-the-loop task's ``assigned_users``."""
    return {"id": airflow_user_id(username), "name": username}


#: The id prefix of the entry of a gate's ``assigned_users`` that names the gate itself:
#: ``asked-in-ledger:<step>@<dag_id>/<run_id>``. No login has it (usernames have no ``:``).
GATE_MARKER = "asked-in-ledger:"


def gate_marker(run: str, step_key: str) -> HITLUser:
    """The entry that sends Airflow's "may this user answer?" to the ledger's latest
    ``approval.ask`` of the gate (``dossiers.airflow.auth``): who is asked can change while
    the gate waits (a leaver's gates are reassigned, Art. 19), its ``assigned_users`` cannot."""
    return {"id": f"{GATE_MARKER}{step_key}@{run}",
            "name": "whoever the ledger asks now (reassigned when someone leaves)"}


def marked_gate(assigned_ids: Iterable[str]) -> tuple[str, str] | None:
    """The ``(run, step)`` of the gate a :func:`gate_marker` among ``assigned_ids`` names."""
    for user_id in assigned_ids:
        if user_id.startswith(GATE_MARKER):
            step_key, _, run = user_id.removeprefix(GATE_MARKER).partition("@")
            return run, step_key
    return None


def staff_username(responded_by: Mapping[str, Any] | None) -> str | None:
    """The staff username of whoever answered a human-in-the-loop task (``None``: nobody)."""
    if not responded_by:
        return None
    return str(responded_by.get("id") or responded_by.get("name") or "") or None


def airflow_role(roles: Iterable[str]) -> str:
    """SimpleAuthManager's role for a staff member with these roles (see the module)."""
    answering = approval_actions()
    held = {Role(r) for r in roles if r in Role.__members__.values()}
    return "user" if any(MATRIX[r] & answering for r in held) else "viewer"


def staff_logins(conn: Connection) -> dict[str, str]:
    """Every active staff member's login and SimpleAuthManager role, by username."""
    from sqlalchemy import select

    from dossiers.core.schema import staff, staff_role

    rows = conn.execute(select(staff.c.username, staff_role.c.role)
                        .join(staff_role, staff_role.c.staff_id == staff.c.id)
                        .where(staff.c.active).order_by(staff.c.username))
    roles: dict[str, list[str]] = {}
    for username, role in rows:
        roles.setdefault(username, []).append(role)
    return {u: airflow_role(r) for u, r in roles.items()}


def simple_auth_manager_users(logins: Mapping[str, str]) -> str:
    """``[core] simple_auth_manager_users``: the operator's admin login, then the staff's."""
    return ",".join([f"{ADMIN}:admin", *(f"{u}:{role}" for u, role in logins.items() if u != ADMIN)])
