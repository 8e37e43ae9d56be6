"""``dossier loans``: borrowing paper dossiers - request, two approvals, lend, extend, return
(Arts. 14, 16)."""

from __future__ import annotations

import argparse

from dossiers.cli.shared import (
    Group,
    acting,
    command,
    decision_commands,
    listing,
    noun,
    page_options,
    record_id,
    words,
)
from dossiers.core.errors import CannotRun
from dossiers.core.vocabulary import Capacity, LoanStatus
from dossiers.workflows import loans


def _volume_condition(value: str) -> tuple[str | None, str]:
    """``CONDITION`` (every volume not named otherwise) or ``VOLUME=CONDITION``."""
    ref, sep, condition = value.rpartition("=")
    if sep and not ref.strip():
        raise argparse.ArgumentTypeError(f"write VOLUME=CONDITION or CONDITION, not {value!r}")
    return (ref.strip() or None), condition.strip()


def cmd_loans_request(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: loans.request(
        conn, actor, args.dossier_no, purpose=args.purpose, period_wd=args.period))


def cmd_loans_approve(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: loans.approve(conn, actor, args.loan_id,
                                                          capacity=args.capacity))


def cmd_loans_reject(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: loans.reject(
        conn, actor, args.loan_id, reason=args.reason, capacity=args.capacity))


def cmd_loans_lend(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: loans.lend(conn, actor, args.loan_id))


def cmd_loans_extend(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: loans.request_extension(conn, actor, args.loan_id,
                                                                    args.wd))


def cmd_loans_return(args: argparse.Namespace) -> int:
    named = {ref: condition for ref, condition in args.condition if ref is not None}
    defaults = [condition for ref, condition in args.condition if ref is None]
    if len(defaults) > 1:
        raise CannotRun("give at most one --condition without a volume (the default)")
    return acting(args, lambda conn, actor: loans.return_loan(
        conn, actor, args.loan_id, conditions=named, default=defaults[0] if defaults else None,
        notes=args.notes))


def cmd_loans_list(args: argparse.Namespace) -> int:
    return listing(args, "loans", lambda conn, actor: loans.list_loans(
        conn, actor, args.status, limit=args.limit, after=args.after))


def register(nouns: Group) -> None:
    loans_ = noun(
        nouns, "loans", "borrowing paper dossiers: request, two approvals, lend, extend, return "
                        "(Art. 16)",
        description="Borrowing paper dossiers (Art. 16). The borrower fills in a Borrowing "
                    "Request Form (purpose, period of at most 7 working days, dossier numbers: "
                    "every paper volume of each). Their department head (for Customer Service "
                    "staff: the CS head) and the archivist both approve, in either order, and "
                    "never their own request; then the archivist lends the volumes, due the "
                    "period's working days later. The borrower may ask once for 1 to 3 wd "
                    "more, at least 1 wd before the due date. The archivist records every "
                    "volume's condition on return (intact, on time). Dates are today's; "
                    "deadlines count PRC working days (`dossier workdays`).")
    lreq = command(loans_, "request", cmd_loans_request,
                   "fill in a Borrowing Request Form for every paper volume of the dossiers "
                   "(Art. 16); refused if a volume is already on an open loan")
    lreq.add_argument("dossier_no", nargs="+", metavar="DOSSIER_NO")
    lreq.add_argument("--purpose", required=True, help="what the paper is needed for")
    lreq.add_argument("--period", required=True, type=int, metavar="WD",
                      help="working days from the day it is lent, 1 to 7 (Art. 16)")
    capacity_help = ("approve as 'department' head or as 'archive' (the archivist); needed "
                     "only by someone who holds both roles")
    lapp = command(loans_, "approve", cmd_loans_approve,
                   "department head of the borrower's department, or archivist: approve a "
                   "requested loan; with both approvals it is 'approved' and can be lent")
    lapp.add_argument("loan_id", type=record_id)
    lapp.add_argument("--capacity", choices=words(Capacity), help=capacity_help)
    lrej = command(loans_, "reject", cmd_loans_reject,
                   "either approver: reject a requested loan with the reason the borrower reads")
    lrej.add_argument("loan_id", type=record_id)
    lrej.add_argument("--reason", required=True)
    lrej.add_argument("--capacity", choices=words(Capacity), help=capacity_help)
    command(loans_, "lend", cmd_loans_lend,
            "archivist: hand out the volumes of an approved loan today; due the loan's period "
            "in working days later (the borrower's return clock starts)"
            ).add_argument("loan_id", type=record_id)
    lext = command(loans_, "extend", cmd_loans_extend,
                   "borrower: ask once for more time, 1 to 3 wd, no later than 1 wd before the "
                   "due date (`loans list` shows the last day to ask) (Art. 16)")
    lext.add_argument("loan_id", type=record_id)
    lext.add_argument("--wd", required=True, type=int, help="working days more, 1 to 3")
    decision_commands(
        loans_, "loan_id", record_id, loans.decide_extension,
        approve=("extension-approve", "archivist: approve the requested extension; the due date "
                                      "moves that many working days on from the old one"),
        reject=("extension-reject",
                "archivist: reject the requested extension (no second one may be asked)"))
    lret = command(loans_, "return", cmd_loans_return,
                   "archivist: take the volumes back today and record each one's condition; "
                   "says whether the return is late and by how many working days. A damaged "
                   "volume is marked for repair, a faded one for copying (Art. 14)")
    lret.add_argument("loan_id", type=record_id)
    lret.add_argument("--condition", required=True, action="append", type=_volume_condition,
                      metavar="[VOLUME=]CONDITION",
                      help="good, worn, damaged or faded; VOLUME is DOSSIER_NO/VOLUME_NO (or the "
                           "volume number, for a one-dossier loan); without VOLUME it covers "
                           "every volume not named. Repeat for each volume")
    lret.add_argument("--notes", help="what was found, e.g. which pages are torn")
    llist = command(loans_, "list", cmd_loans_list,
                    "loans you may see (your own; a department head their department's; the "
                    "archivist, CS head and QA supervisor all) with due dates, the last day to "
                    "ask for an extension and overdue flags")
    page_options(llist)
    llist.add_argument("--status", default="open",
                       choices=words("open", LoanStatus, "all"),
                       help="open = requested, approved or lent (default)")
