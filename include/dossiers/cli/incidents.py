"""``dossier incidents`` and ``dossier complaints``: the emergency response to compliance
incidents (Art. 20) and QA's investigation of complaints about dossier handling (Art. 21)."""

from __future__ import annotations

import argparse
import sys

from dossiers.cli.shared import (
    Group,
    acting,
    command,
    iso_date,
    listing,
    noun,
    page_options,
    print_json,
    record_id,
    words,
)
from dossiers.core import db, directory
from dossiers.core.vocabulary import Complainant, IncidentKind
from dossiers.workflows import complaints, incidents


def cmd_incidents_open(args: argparse.Namespace) -> int:
    with db.transaction() as conn:
        opened = incidents.open_incident(
            conn, directory.load_actor(conn, args.acting_user), args.kind, args.summary,
            dossier_no=args.dossier, owner=args.owner)
    # Art. 20: management is told at once, once the report is on record.
    reported = incidents.report_to_management(db.get_engine(), opened)
    print_json(reported)
    if reported.mail_error:
        print(f"incident {reported.incident_id}: recorded, but the report to management was "
              f"not delivered: {reported.mail_error}", file=sys.stderr)
        return 1
    return 0


def cmd_incidents_update(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: incidents.add_step(
        conn, actor, args.incident_id, args.step, owner=args.owner, due_on=args.due_on))


def cmd_incidents_close(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: incidents.close(conn, actor, args.incident_id,
                                                             args.closure))


def cmd_complaints_receive(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: complaints.receive(
        conn, actor, args.complainant, args.about, dossier_no=args.dossier,
        received_on=args.received_on))


def cmd_complaints_investigate(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: complaints.investigate(
        conn, actor, args.complaint_id, findings=args.findings, upheld=args.upheld,
        rectification=args.rectification, rectification_owner=args.owner,
        accountable=args.accountable, accountability=args.accountability))


def cmd_complaints_close(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: complaints.close(conn, actor, args.complaint_id,
                                                              note=args.note))


def cmd_incidents_list(args: argparse.Namespace) -> int:
    return listing(args, "incidents", lambda conn, actor: incidents.list_incidents(
        conn, actor, open_only=args.open, limit=args.limit, after=args.after))


def cmd_complaints_list(args: argparse.Namespace) -> int:
    return listing(args, "complaints", lambda conn, actor: complaints.list_complaints(
        conn, actor, status=args.status, limit=args.limit, after=args.after))


def register(nouns: Group) -> None:
    inc = noun(nouns, "incidents", "compliance incidents and disputes: the emergency response "
                                   "(Art. 20)")
    opened = command(inc, "open", cmd_incidents_open,
                     "report a leak, lost volume, wrong disclosure or client dispute: "
                     "management is e-mailed at once (Art. 20)")
    opened.add_argument("--kind", required=True, choices=words(IncidentKind))
    opened.add_argument("--summary", required=True,
                        help="what happened (no personal data: refer to the dossier)")
    opened.add_argument("--dossier", metavar="DOSSIER_NO")
    opened.add_argument("--owner", metavar="USERNAME", help="who handles it")
    step = command(inc, "update", cmd_incidents_update,
                   "CS head or management: record a handling step, its owner and deadline")
    step.add_argument("incident_id", type=record_id)
    step.add_argument("--step", required=True)
    step.add_argument("--owner", metavar="USERNAME")
    step.add_argument("--due-on", type=iso_date, metavar="YYYY-MM-DD")
    closed = command(inc, "close", cmd_incidents_close,
                     "management: close an incident with what was done (Art. 20)")
    closed.add_argument("incident_id", type=record_id)
    closed.add_argument("--closure", required=True)
    ilist = command(inc, "list", cmd_incidents_list,
                    "the incident register in the order opened, with the handling steps")
    ilist.add_argument("--open", action="store_true", help="only those not closed")
    page_options(ilist)

    com = noun(nouns, "complaints", "complaints about dossier handling, investigated by QA "
                                    "(Art. 21)")
    rec = command(com, "receive", cmd_complaints_receive, "record a complaint for QA")
    rec.add_argument("--complainant", required=True, choices=words(Complainant),
                     help="who complained, by kind (never a name)")
    rec.add_argument("--about", required=True, help="what the complaint is about")
    rec.add_argument("--dossier", metavar="DOSSIER_NO")
    rec.add_argument("--received-on", type=iso_date, metavar="YYYY-MM-DD")
    inv = command(com, "investigate", cmd_complaints_investigate,
                  "QA: findings; an upheld complaint's rectification (owner, 10-wd deadline) "
                  "and accountability (Art. 21)")
    inv.add_argument("complaint_id", type=record_id)
    inv.add_argument("--findings", required=True)
    verdict = inv.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--upheld", dest="upheld", action="store_true")
    verdict.add_argument("--not-upheld", dest="upheld", action="store_false")
    inv.add_argument("--rectification")
    inv.add_argument("--owner", metavar="USERNAME", help="who rectifies")
    inv.add_argument("--accountable", metavar="USERNAME")
    inv.add_argument("--accountability", help="what they are held accountable for")
    cls = command(com, "close", cmd_complaints_close,
                  "QA: close an upheld complaint once rectified (Art. 21)")
    cls.add_argument("complaint_id", type=record_id)
    cls.add_argument("--note", required=True, help="how the rectification was verified")
    clist = command(com, "list", cmd_complaints_list,
                    "the complaint register in the order received, with findings and "
                    "rectification")
    clist.add_argument("--status", default="all", choices=complaints.LIST_STATUSES)
    page_options(clist)
