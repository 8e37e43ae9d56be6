"""``dossier staff``: onboarding, confidentiality agreements and offboarding (Arts. 5-7, 19)."""

from __future__ import annotations

import argparse
import sys

from dossiers.cli.shared import Group, acting, command, iso_date, noun, print_json
from dossiers.core import db
from dossiers.core.directory import DEPARTMENTS
from dossiers.core.permissions import STAFF_ROLES
from dossiers.workflows import staff


def cmd_staff_add(args: argparse.Namespace) -> int:
    with db.transaction() as conn:
        added = staff.add(conn, args.acting_user, args.username, args.department, args.role,
                          args.agreement_signed_on, agreement_ref=args.agreement_ref)
    if args.as_json:
        print_json(added)
    else:
        print(f"added {added.username} to {added.department} as {', '.join(added.roles)}")
        if args.agreement_signed_on is None:  # Art. 19: say why reads will be refused
            print(f"{added.username} has no confidentiality agreement on record and reads no "
                  "dossier until `dossier staff agreement` records it (Art. 19)", file=sys.stderr)
    return 0


def cmd_staff_agreement(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: staff.record_agreement(
        conn, actor, args.username, signed_on=args.signed_on, reference=args.ref))


def cmd_staff_leave(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: staff.leave(
        conn, actor, args.username, args.handover_to, paper_volumes=args.paper_volume,
        documents=args.document, storage_devices=args.storage_device))


def cmd_staff_sign_off(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: staff.sign_off_handover(conn, actor, args.username))


def register(nouns: Group) -> None:
    staff_ = noun(nouns, "staff", "onboard and offboard staff")
    add = command(staff_, "add", cmd_staff_add, "onboard a staff member")
    add.add_argument("username")
    add.add_argument("--department", required=True, choices=list(DEPARTMENTS))
    add.add_argument("--role", required=True, action="append",
                     choices=[role.value for role in STAFF_ROLES])
    add.add_argument("--agreement-signed-on", type=iso_date, metavar="YYYY-MM-DD",
                     help="the signed confidentiality agreement's date (Art. 19); without an "
                          "agreement on record the member reads no dossier")
    add.add_argument("--agreement-ref", metavar="REF", help="the agreement's reference")
    agreement = command(staff_, "agreement", cmd_staff_agreement,
                        "record a signed confidentiality agreement (Art. 19)")
    agreement.add_argument("username")
    agreement.add_argument("--signed-on", required=True, type=iso_date, metavar="YYYY-MM-DD")
    agreement.add_argument("--ref", required=True, metavar="REF")
    leave = command(staff_, "leave", cmd_staff_leave,
                    "offboard: hand every dossier and open item over, revoke access (Art. 19)")
    leave.add_argument("username")
    leave.add_argument("--handover-to", required=True, metavar="USERNAME")
    for name, what in (("--paper-volume", "a paper volume returned (its label)"),
                       ("--document", "a document returned"),
                       ("--storage-device", "a storage device returned")):
        leave.add_argument(name, action="append", default=[], metavar="LABEL", help=what)
    sign_off = command(staff_, "handover-sign-off", cmd_staff_sign_off,
                       "CS signs off what a leaver returned (Art. 19)")
    sign_off.add_argument("username")
