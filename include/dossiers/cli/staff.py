"""``dossier staff``: onboarding and offboarding (Arts. 5-7, 19)."""

from __future__ import annotations

import argparse

from dossiers.cli.shared import Group, acting, command, noun, print_json
from dossiers.core import db
from dossiers.core.directory import DEPARTMENTS
from dossiers.core.permissions import STAFF_ROLES
from dossiers.workflows import staff


def cmd_staff_add(args: argparse.Namespace) -> int:
    with db.transaction() as conn:
        added = staff.add(conn, args.acting_user, args.username, args.department, args.role)
    if args.as_json:
        print_json(added)
    else:
        print(f"added {added.username} to {added.department} as {', '.join(added.roles)}")
    return 0


def cmd_staff_leave(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: staff.leave(conn, actor, args.username,
                                                        args.handover_to))


def register(nouns: Group) -> None:
    staff_ = noun(nouns, "staff", "onboard and offboard staff")
    add = command(staff_, "add", cmd_staff_add, "onboard a staff member")
    add.add_argument("username")
    add.add_argument("--department", required=True, choices=list(DEPARTMENTS))
    add.add_argument("--role", required=True, action="append",
                     choices=[role.value for role in STAFF_ROLES])
    leave = command(staff_, "leave", cmd_staff_leave,
                    "offboard: hand every dossier and open item over, revoke access (Art. 19)")
    leave.add_argument("username")
    leave.add_argument("--handover-to", required=True, metavar="USERNAME")
