"""``dossier``: the command line operators and scripts rely on (``shared/contracts/cli.md``).

Exit status everywhere: 0 success; 1 the command ran and found or refused something; 2 it
could not run. Errors go to stderr as one line a person can act on, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from dossiers.core import directory
from dossiers.core.config import home, settings
from dossiers.core.errors import CannotRun, DossierError

Handler = Callable[[argparse.Namespace], int]


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {value!r}") from None


# --- db ---------------------------------------------------------------------------------------

def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from dossiers.core import db

    url = db.database_url()
    revision = db.upgrade(url)
    if args.as_json:
        _print_json({"database": db.describe(url), "revision": revision})
    else:
        print(f"dossier database {db.describe(url)} is at revision {revision}")
    return 0


def cmd_db_stop(args: argparse.Namespace) -> int:
    from dossiers.core import embedded

    print("embedded PostgreSQL stopped" if embedded.stop() else "embedded PostgreSQL not running")
    return 0


# --- staff --------------------------------------------------------------------------------------

def cmd_staff_add(args: argparse.Namespace) -> int:
    from dossiers.core import db
    from dossiers.workflows import staff

    with db.transaction() as conn:
        added = staff.add(conn, args.acting_user, args.username, args.department, args.role)
    if args.as_json:
        _print_json(added)
    else:
        print(f"added {added['username']} to {added['department']} as {', '.join(added['roles'])}")
    return 0


def cmd_staff_leave(args: argparse.Namespace) -> int:
    from dossiers.workflows import staff

    return _acting(args, lambda conn, actor: staff.leave(conn, actor, args.username,
                                                         args.handover_to))


# --- intake ------------------------------------------------------------------------------------

def cmd_import(args: argparse.Namespace) -> int:
    from dossiers.intake.service import import_file

    report = import_file(Path(args.file), acting_user=args.acting_user)
    _print_json(report)
    return 1 if report["rejected"] else 0


# --- forms and dossiers (Arts. 11, 15, 16) -----------------------------------------------------

def _form_id(value: str) -> uuid.UUID:
    """A form or grant id."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an id (a UUID): {value!r}") from None


def _acting(args: argparse.Namespace, work: Callable[[Any, Any], Any]) -> int:
    """Run ``work(conn, actor)`` in one transaction as the ``--as`` user; once it has
    committed, print its JSON (nothing is reported done that did not commit)."""
    from dossiers.core import db

    with db.transaction() as conn:
        result = work(conn, directory.load_actor(conn, args.acting_user))
    _print_json(result)
    return 0


def cmd_forms_list(args: argparse.Namespace) -> int:
    from dossiers.workflows import creation

    return _acting(args, lambda conn, actor: creation.list_forms(conn, actor, args.status))


def cmd_forms_review(args: argparse.Namespace) -> int:
    from dossiers.workflows import creation

    return _acting(args, lambda conn, actor: creation.review_form(
        conn, actor, args.form_id, approve=args.reject is None, reason=args.reject))


def cmd_dossiers_create(args: argparse.Namespace) -> int:
    from dossiers.core.crypto import KeyRing
    from dossiers.workflows import creation

    return _acting(args, lambda conn, actor: creation.create_dossier(
        conn, KeyRing(), actor, args.form_id))


def cmd_dossiers_file(args: argparse.Namespace) -> int:
    from dossiers.workflows import access, creation

    return _acting(args, lambda conn, actor: creation.file_dossier(
        conn, actor, access.find(conn, args.dossier_no).id, cabinet=args.cabinet,
        shelf=args.shelf))


def cmd_dossiers_stage(args: argparse.Namespace) -> int:
    from dossiers.workflows import lifecycle

    prospect = None if args.further_cooperation is None else args.further_cooperation == "yes"
    return _acting(args, lambda conn, actor: lifecycle.change_stage(
        conn, actor, args.dossier_no, args.stage, terminated_on=args.terminated_on,
        further_cooperation=prospect))


def cmd_dossiers_show(args: argparse.Namespace) -> int:
    from dossiers.core.crypto import KeyRing
    from dossiers.workflows import lifecycle

    return _acting(args, lambda conn, actor: lifecycle.read(conn, KeyRing(), actor,
                                                            args.dossier_no))


def cmd_queries_request(args: argparse.Namespace) -> int:
    from dossiers.workflows import queries

    return _acting(args, lambda conn, actor: queries.request(
        conn, actor, args.dossier_no, purpose=args.purpose, scope=args.scope,
        expires_on=args.until))


def cmd_queries_decide(args: argparse.Namespace) -> int:
    from dossiers.workflows import queries

    return _acting(args, lambda conn, actor: queries.decide(
        conn, actor, args.grant_id, approve=args.verb == "approve",
        reason=getattr(args, "reason", None)))


# --- updates and filing delays (Arts. 12, 13, 15) ----------------------------------------------

def _field_value(value: str) -> tuple[str, str | None]:
    """``FIELD=VALUE`` (``FIELD=`` empties the field)."""
    name, sep, new = value.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"write FIELD=VALUE, not {value!r}")
    return name.strip(), new or None


def cmd_updates_submit(args: argparse.Namespace) -> int:
    from dossiers.core.crypto import KeyRing
    from dossiers.workflows import updates

    return _acting(args, lambda conn, actor: updates.submit(
        conn, KeyRing(), actor, args.dossier_no, dict(args.set), reason=args.reason,
        evidence=args.evidence, trigger=args.trigger, occurred_on=args.occurred_on))


def cmd_updates_list(args: argparse.Namespace) -> int:
    from dossiers.core.crypto import KeyRing
    from dossiers.workflows import updates

    return _acting(args, lambda conn, actor: updates.list_changes(conn, KeyRing(), actor,
                                                                  args.status))


def cmd_updates_review(args: argparse.Namespace) -> int:
    from dossiers.workflows import updates

    return _acting(args, lambda conn, actor: updates.review(
        conn, actor, args.change_id, approve=args.reject is None, reason=args.reject))


def cmd_updates_important(args: argparse.Namespace) -> int:
    from dossiers.workflows import updates

    return _acting(args, lambda conn, actor: updates.approve_important(
        conn, actor, args.change_id, approve=args.verb == "approve-important",
        reason=getattr(args, "reason", None)))


def cmd_updates_apply(args: argparse.Namespace) -> int:
    from dossiers.core.crypto import KeyRing
    from dossiers.workflows import updates

    return _acting(args, lambda conn, actor: updates.apply(conn, KeyRing(), actor,
                                                           args.change_id))


def cmd_dossiers_keep(args: argparse.Namespace) -> int:
    from dossiers.workflows import lifecycle

    return _acting(args, lambda conn, actor: lifecycle.keep_terminated(
        conn, actor, args.dossier_no, reason=args.reason))


def cmd_dossiers_delay(args: argparse.Namespace) -> int:
    from dossiers.workflows import filing_delays

    return _acting(args, lambda conn, actor: filing_delays.request(
        conn, actor, args.dossier_no, until=args.until, reason=args.reason))


def cmd_dossiers_delay_decide(args: argparse.Namespace) -> int:
    from dossiers.workflows import filing_delays

    return _acting(args, lambda conn, actor: filing_delays.decide(
        conn, actor, args.delay_id, approve=args.verb == "approve-delay",
        reason=getattr(args, "reason", None)))


# --- paper loans and the vault (Arts. 14, 15, 16) ----------------------------------------------

def _volume_condition(value: str) -> tuple[str | None, str]:
    """``CONDITION`` (every volume not named otherwise) or ``VOLUME=CONDITION``."""
    ref, sep, condition = value.rpartition("=")
    if sep and not ref.strip():
        raise argparse.ArgumentTypeError(f"write VOLUME=CONDITION or CONDITION, not {value!r}")
    return (ref.strip() or None), condition.strip()


def cmd_loans_request(args: argparse.Namespace) -> int:
    from dossiers.workflows import loans

    return _acting(args, lambda conn, actor: loans.request(
        conn, actor, args.dossier_no, purpose=args.purpose, period_wd=args.period))


def cmd_loans_approve(args: argparse.Namespace) -> int:
    from dossiers.workflows import loans

    return _acting(args, lambda conn, actor: loans.approve(conn, actor, args.loan_id,
                                                           capacity=args.capacity))


def cmd_loans_reject(args: argparse.Namespace) -> int:
    from dossiers.workflows import loans

    return _acting(args, lambda conn, actor: loans.reject(
        conn, actor, args.loan_id, reason=args.reason, capacity=args.capacity))


def cmd_loans_lend(args: argparse.Namespace) -> int:
    from dossiers.workflows import loans

    return _acting(args, lambda conn, actor: loans.lend(conn, actor, args.loan_id))


def cmd_loans_extend(args: argparse.Namespace) -> int:
    from dossiers.workflows import loans

    return _acting(args, lambda conn, actor: loans.request_extension(conn, actor, args.loan_id,
                                                                     args.wd))


def cmd_loans_extension_decide(args: argparse.Namespace) -> int:
    from dossiers.workflows import loans

    return _acting(args, lambda conn, actor: loans.decide_extension(
        conn, actor, args.loan_id, approve=args.verb == "extension-approve",
        reason=getattr(args, "reason", None)))


def cmd_loans_return(args: argparse.Namespace) -> int:
    from dossiers.workflows import loans

    named = {ref: condition for ref, condition in args.condition if ref is not None}
    defaults = [condition for ref, condition in args.condition if ref is None]
    if len(defaults) > 1:
        raise CannotRun("give at most one --condition without a volume (the default)")
    return _acting(args, lambda conn, actor: loans.return_loan(
        conn, actor, args.loan_id, conditions=named, default=defaults[0] if defaults else None,
        notes=args.notes))


def cmd_loans_list(args: argparse.Namespace) -> int:
    from dossiers.workflows import loans

    return _acting(args, lambda conn, actor: loans.list_loans(conn, actor, args.status))


def cmd_vault_list(args: argparse.Namespace) -> int:
    from dossiers.workflows import vault

    return _acting(args, lambda conn, actor: vault.list_volumes(conn, actor, args.cabinet))


def cmd_vault_register(args: argparse.Namespace) -> int:
    from dossiers.workflows import vault

    return _acting(args, lambda conn, actor: vault.register_volume(
        conn, actor, args.dossier_no, cabinet=args.cabinet, shelf=args.shelf))


def cmd_vault_check(args: argparse.Namespace) -> int:
    from dossiers.workflows import vault

    return _acting(args, lambda conn, actor: vault.check_condition(
        conn, actor, args.volume, condition=args.condition, action=args.action,
        notes=args.notes))


# --- workdays ----------------------------------------------------------------------------------

def _provisional_note(provisional: bool) -> None:
    if provisional:
        print("dossier: provisional - a year involved has no official holiday schedule yet "
              "(weekends and fixed statutory holidays only); supply DOSSIER_CALENDAR_FILE",
              file=sys.stderr)


def cmd_workdays_add(args: argparse.Namespace) -> int:
    from dossiers.calendar.workdays import default_calendar

    deadline = default_calendar().add(args.date, args.n)
    print(deadline.date.isoformat())
    _provisional_note(deadline.provisional)
    return 0


def cmd_workdays_between(args: argparse.Namespace) -> int:
    from dossiers.calendar.workdays import default_calendar

    count = default_calendar().between(args.date1, args.date2)
    print(count.value)
    _provisional_note(count.provisional)
    return 0


# --- ledger -------------------------------------------------------------------------------------

def _anchor_file(args: argparse.Namespace) -> Path:
    return Path(args.anchor) if args.anchor else home() / "ledger.anchor"


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    from dossiers.core import db, ledger
    from dossiers.core.permissions import Action, authorize

    with db.transaction() as conn:
        authorize(conn, directory.load_actor(conn, args.acting_user), Action.LEDGER_VERIFY,
                  subject="ledger")
        result = ledger.verify(conn, _anchor_file(args))
    _print_json(result.as_dict())
    return 0 if result.ok else 1


def cmd_ledger_anchor(args: argparse.Namespace) -> int:
    from dossiers.core import db, ledger
    from dossiers.core.permissions import Action, authorize

    with db.transaction() as conn:
        authorize(conn, directory.load_actor(conn, args.acting_user), Action.LEDGER_VERIFY,
                  subject="ledger")
        result = ledger.verify(conn, _anchor_file(args))
        if not result.ok:
            _print_json(result.as_dict())
            return 1
        record = ledger.anchor(conn, _anchor_file(args))
    _print_json({**record, "anchor_file": str(_anchor_file(args))})
    return 0


# --- seed ---------------------------------------------------------------------------------------

def cmd_seed(args: argparse.Namespace) -> int:
    from dossiers.local.seed import seed_company

    _print_json(seed_company(clients=args.clients, seed=args.seed))
    return 0


def cmd_policy_show(args: argparse.Namespace) -> int:
    from dossiers.core.policy import policy

    _print_json(policy().as_table())
    return 0


# --- parser ------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--as", dest="acting_user", metavar="USERNAME",
                        default=argparse.SUPPRESS,
                        help="the staff member acting (default: $DOSSIER_USER)")
    common.add_argument("--json", dest="as_json", action="store_true", default=argparse.SUPPRESS,
                        help="print the result as JSON (what every workflow command prints; "
                             "`db upgrade` and `staff add` print one line without it)")

    parser = argparse.ArgumentParser(
        prog="dossier", parents=[common],
        description="Overseas client dossiers: the system of record of the dossier policy.",
        epilog="Database: $DOSSIER_DATABASE_URL (default: an embedded PostgreSQL under "
               ".dossier/). Master key: $DOSSIER_MASTER_KEY_FILE. Exit status: 0 success, "
               "1 refused or found something, 2 could not run.",
    )
    nouns = parser.add_subparsers(dest="noun", required=True, metavar="COMMAND")

    def command(group: Any, name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = group.add_parser(name, parents=[common], help=help_,
                                                        description=help_)
        sub.set_defaults(handler=handler)
        return sub

    db_ = nouns.add_parser("db", help="the database schema").add_subparsers(
        dest="verb", required=True, metavar="VERB")
    command(db_, "upgrade", cmd_db_upgrade, "create or migrate the schema to the newest version")
    command(db_, "stop", cmd_db_stop, "stop the embedded PostgreSQL under .dossier/")

    staff_ = nouns.add_parser("staff", help="onboard and offboard staff").add_subparsers(
        dest="verb", required=True, metavar="VERB")
    add = command(staff_, "add", cmd_staff_add, "onboard a staff member")
    add.add_argument("username")
    add.add_argument("--department", required=True,
                     choices=["market", "planning", "execution", "customer_service",
                              "quality", "management"])
    add.add_argument("--role", required=True, action="append",
                     choices=["liaison", "dept_head", "archivist", "cs_head",
                              "qa_supervisor", "management"])
    leave = command(staff_, "leave", cmd_staff_leave,
                    "offboard: hand every dossier and open item over, revoke access (Art. 19)")
    leave.add_argument("username")
    leave.add_argument("--handover-to", required=True, metavar="USERNAME")

    imp = command(nouns, "import", cmd_import,
                  "submit collection forms from a CSV, XLSX or JSON file (collection-form.md)")
    imp.add_argument("file")

    forms = nouns.add_parser(
        "forms", help="collection forms: list and review (Art. 11)").add_subparsers(
        dest="verb", required=True, metavar="VERB")
    flist = command(forms, "list", cmd_forms_list,
                    "forms you may see: a liaison their own, a department head their department's")
    flist.add_argument("--status", default="submitted",
                       choices=["submitted", "reviewed", "rejected", "created", "all"])
    review = command(forms, "review", cmd_forms_review,
                     "department head: approve a submitted form within 2 wd, or reject it with "
                     "the reason that goes back to the liaison (Art. 11(2))")
    review.add_argument("form_id", type=_form_id)
    verdict = review.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--approve", action="store_true")
    verdict.add_argument("--reject", metavar="REASON")

    doss = nouns.add_parser(
        "dossiers", help="create, file, move between stages, show (Arts. 11, 15, 16)"
    ).add_subparsers(dest="verb", required=True, metavar="VERB")
    create = command(doss, "create", cmd_dossiers_create,
                     "archivist: create the electronic dossier from a reviewed form and number it")
    create.add_argument("form_id", type=_form_id)
    file_ = command(doss, "file", cmd_dossiers_file,
                    "archivist: file the dossier and register its paper volume in the vault "
                    "(within 2 wd of creation)")
    file_.add_argument("dossier_no")
    file_.add_argument("--cabinet", required=True, help="vault cabinet, e.g. the type code 電商")
    file_.add_argument("--shelf", required=True, type=int)
    stage = command(doss, "stage", cmd_dossiers_stage,
                    "archivist: move a dossier to potential, active or terminated (Art. 15)")
    stage.add_argument("dossier_no")
    stage.add_argument("stage", choices=["potential", "active", "terminated"])
    stage.add_argument("--terminated-on", type=_iso_date, metavar="DATE")
    stage.add_argument("--further-cooperation", choices=["yes", "no"],
                       help="on termination: is further cooperation possible? (Art. 14)")
    show = command(doss, "show", cmd_dossiers_show,
                   "a dossier with every dimension (its liaison or the archivist; logged)")
    show.add_argument("dossier_no")

    keep = command(doss, "keep", cmd_dossiers_keep,
                   "archivist: after the six-month review, keep a terminated, no-prospect "
                   "dossier as a terminated-cooperation client dossier (Art. 14)")
    keep.add_argument("dossier_no")
    keep.add_argument("--reason", required=True, help="why it is kept")
    delay = command(doss, "delay-filing", cmd_dossiers_delay,
                    "archivist: ask the CS head to let a dossier be filed later, before its "
                    "deadline passes; the filing may never take more than 5 wd (Art. 15)")
    delay.add_argument("dossier_no")
    delay.add_argument("--until", required=True, type=_iso_date, metavar="DATE",
                       help="the new filing deadline")
    delay.add_argument("--reason", required=True)
    dapp = command(doss, "approve-delay", cmd_dossiers_delay_decide,
                   "CS head: approve a filing delay (moves the deadline; Art. 15)")
    dapp.add_argument("delay_id", type=int)
    drej = command(doss, "reject-delay", cmd_dossiers_delay_decide,
                   "CS head: refuse a filing delay (the original deadline stands)")
    drej.add_argument("delay_id", type=int)
    drej.add_argument("--reason", required=True)

    upd = nouns.add_parser(
        "updates", help="update forms: submit, review, approve important changes, apply "
                        "(Arts. 12, 13)"
    ).add_subparsers(dest="verb", required=True, metavar="VERB")
    usub = command(upd, "submit", cmd_updates_submit,
                   "liaison: submit a Dossier Information Update Form - what changes (--set), "
                   "why (--reason) and on what evidence (--evidence). The department head "
                   "reviews it within 1 wd, the archivist applies it within 1 wd; a change of "
                   "the client's name or core cooperation terms also needs the CS head "
                   "(Art. 13). After an Art. 12 event (--trigger) submit within 2 wd.")
    usub.add_argument("dossier_no")
    usub.add_argument("--set", required=True, action="append", type=_field_value,
                      metavar="FIELD=VALUE",
                      help="a field of the collection form and its new value (repeat); "
                           "FIELD= empties it. Lists (target_markets, marketing_goals) are "
                           "separated by ';'. E.g. --set contact_email=anna@example.de")
    usub.add_argument("--reason", required=True, help="why the information changes")
    usub.add_argument("--evidence", required=True,
                      help="what shows it (e.g. the client's e-mail of 2026-03-02, contract "
                           "amendment no.)")
    usub.add_argument("--trigger", choices=["basic_info", "cooperation", "needs", "feedback",
                                            "material"],
                      help="the Art. 12 immediate-update event this follows")
    usub.add_argument("--occurred-on", type=_iso_date, metavar="DATE",
                      help="the day the event happened (with --trigger)")
    ulist = command(upd, "list", cmd_updates_list,
                    "update forms you work on, with each field before and after (personal "
                    "values masked)")
    ulist.add_argument("--status", default="open",
                       choices=["open", "submitted", "reviewed", "approved", "applied",
                                "rejected", "all"])
    urev = command(upd, "review", cmd_updates_review,
                   "department head: approve an update form within 1 wd, or reject it with the "
                   "reason that goes back to the liaison (Art. 13(2))")
    urev.add_argument("change_id", type=_form_id)
    uverdict = urev.add_mutually_exclusive_group(required=True)
    uverdict.add_argument("--approve", action="store_true")
    uverdict.add_argument("--reject", metavar="REASON")
    uimp = command(upd, "approve-important", cmd_updates_important,
                   "CS head: approve an important change after its review (Art. 13(3))")
    uimp.add_argument("change_id", type=_form_id)
    uref = command(upd, "refuse-important", cmd_updates_important,
                   "CS head: refuse an important change, with the reason")
    uref.add_argument("change_id", type=_form_id)
    uref.add_argument("--reason", required=True)
    uapp = command(upd, "apply", cmd_updates_apply,
                   "archivist: apply a reviewed (and, if important, approved) update within "
                   "1 wd; the values before and after are kept (Art. 13(3)-(4))")
    uapp.add_argument("change_id", type=_form_id)

    que = nouns.add_parser(
        "queries", help="query grants: purpose, scope, expiry; approved by the archivist (Art. 16)"
    ).add_subparsers(dest="verb", required=True, metavar="VERB")
    qreq = command(que, "request", cmd_queries_request,
                   "ask to read a dossier that is not your own client's")
    qreq.add_argument("dossier_no")
    qreq.add_argument("--purpose", required=True)
    qreq.add_argument("--scope", required=True, action="append",
                      choices=["basic", "contacts", "market", "cooperation", "needs", "other",
                               "vault", "personal"],
                      help="a dimension to read (repeat); 'personal' shows personal data in clear")
    qreq.add_argument("--until", required=True, type=_iso_date, metavar="DATE",
                      help="the grant expires after this day")
    qapp = command(que, "approve", cmd_queries_decide, "archivist: approve a query request")
    qapp.add_argument("grant_id", type=_form_id)
    qrej = command(que, "reject", cmd_queries_decide, "archivist: reject a query request")
    qrej.add_argument("grant_id", type=_form_id)
    qrej.add_argument("--reason", required=True)

    loans_ = nouns.add_parser(
        "loans", help="borrowing paper dossiers: request, two approvals, lend, extend, return "
                      "(Art. 16)",
        description="Borrowing paper dossiers (Art. 16). The borrower fills in a Borrowing "
                    "Request Form (purpose, period of at most 7 working days, dossier numbers: "
                    "every paper volume of each). Their department head (for Customer Service "
                    "staff: the CS head) and the archivist both approve, in either order, and "
                    "never their own request; then the archivist lends the volumes, due the "
                    "period's working days later. The borrower may ask once for 1 to 3 wd "
                    "more, at least 1 wd before the due date. The archivist records every "
                    "volume's condition on return (intact, on time). Dates are today's; "
                    "deadlines count PRC working days (`dossier workdays`)."
    ).add_subparsers(dest="verb", required=True, metavar="VERB")
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
    lapp.add_argument("loan_id", type=_form_id)
    lapp.add_argument("--capacity", choices=["department", "archive"], help=capacity_help)
    lrej = command(loans_, "reject", cmd_loans_reject,
                   "either approver: reject a requested loan with the reason the borrower reads")
    lrej.add_argument("loan_id", type=_form_id)
    lrej.add_argument("--reason", required=True)
    lrej.add_argument("--capacity", choices=["department", "archive"], help=capacity_help)
    command(loans_, "lend", cmd_loans_lend,
            "archivist: hand out the volumes of an approved loan today; due the loan's period "
            "in working days later (the borrower's return clock starts)"
            ).add_argument("loan_id", type=_form_id)
    lext = command(loans_, "extend", cmd_loans_extend,
                   "borrower: ask once for more time, 1 to 3 wd, no later than 1 wd before the "
                   "due date (`loans list` shows the last day to ask) (Art. 16)")
    lext.add_argument("loan_id", type=_form_id)
    lext.add_argument("--wd", required=True, type=int, help="working days more, 1 to 3")
    command(loans_, "extension-approve", cmd_loans_extension_decide,
            "archivist: approve the requested extension; the due date moves that many working "
            "days on from the old one").add_argument("loan_id", type=_form_id)
    lexr = command(loans_, "extension-reject", cmd_loans_extension_decide,
                   "archivist: reject the requested extension (no second one may be asked)")
    lexr.add_argument("loan_id", type=_form_id)
    lexr.add_argument("--reason", required=True)
    lret = command(loans_, "return", cmd_loans_return,
                   "archivist: take the volumes back today and record each one's condition; "
                   "says whether the return is late and by how many working days. A damaged "
                   "volume is marked for repair, a faded one for copying (Art. 14)")
    lret.add_argument("loan_id", type=_form_id)
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
    llist.add_argument("--status", default="open",
                       choices=["open", "requested", "approved", "lent", "returned", "rejected",
                                "all"],
                       help="open = requested, approved or lent (default)")

    vault_ = nouns.add_parser(
        "vault", help="the paper dossier vault register (Arts. 14, 15)",
        description="The paper vault (Arts. 14, 15): bound volumes labelled with dossier "
                    "number, client name and filing date, standing by cabinet, shelf and "
                    "position in the same order as the electronic dossiers. The archivist "
                    "registers volumes and records periodic condition checks; a damaged or "
                    "faded volume is repaired or copied. The archivist, CS head and QA "
                    "supervisor read the register."
    ).add_subparsers(dest="verb", required=True, metavar="VERB")
    vlist = command(vault_, "list", cmd_vault_list,
                    "the register in shelf order: label, place, condition, last check, loan")
    vlist.add_argument("--cabinet", help="only this cabinet, e.g. 電商")
    vreg = command(vault_, "register", cmd_vault_register,
                   "archivist: register another volume of a filed dossier, placed right after "
                   "its last volume on the shelf (Art. 15: same order as the electronic dossiers)")
    vreg.add_argument("dossier_no")
    vreg.add_argument("--cabinet", help="default: where the dossier's last volume stands")
    vreg.add_argument("--shelf", type=int, help="default: where the dossier's last volume stands")
    vchk = command(vault_, "check", cmd_vault_check,
                   "archivist: record a condition check of a volume (Art. 14); a damaged or "
                   "faded one needs --action repair or copy")
    vchk.add_argument("volume", metavar="VOLUME",
                      help="DOSSIER_NO/VOLUME_NO (DOSSIER_NO alone for a one-volume dossier)")
    vchk.add_argument("--condition", required=True, choices=["good", "worn", "damaged", "faded"])
    vchk.add_argument("--action", default="none", choices=["none", "repair", "copy"],
                      help="what is done about it (default none)")
    vchk.add_argument("--notes")

    wd = nouns.add_parser("workdays", help="the PRC working-day calendar").add_subparsers(
        dest="verb", required=True, metavar="VERB")
    wadd = command(wd, "add", cmd_workdays_add,
                   "the date N working days after DATE (DATE itself not counted)")
    wadd.add_argument("date", type=_iso_date)
    wadd.add_argument("n", type=int)
    wbetween = command(wd, "between", cmd_workdays_between,
                       "working days after DATE1 up to and including DATE2")
    wbetween.add_argument("date1", type=_iso_date)
    wbetween.add_argument("date2", type=_iso_date)

    led = nouns.add_parser("ledger", help="the dossier ledger (檔案管理臺賬)").add_subparsers(
        dest="verb", required=True, metavar="VERB")
    for name, handler, help_ in (
        ("verify", cmd_ledger_verify, "re-hash the whole ledger; name the first broken entry"),
        ("anchor", cmd_ledger_anchor, "verify, then record the head outside the database"),
    ):
        sub = command(led, name, handler, help_)
        sub.add_argument("--anchor", metavar="FILE",
                         help="anchor file (default: .dossier/ledger.anchor)")

    seed = command(nouns, "seed", cmd_seed,
                   "make a synthetic company with a year of history and realistic defects")
    seed.add_argument("--clients", type=int, default=200)
    seed.add_argument("--seed", type=int, default=2026)

    pol = nouns.add_parser("policy", help="the rules in force").add_subparsers(
        dest="verb", required=True, metavar="VERB")
    command(pol, "show", cmd_policy_show, "every period, deadline and target with its article")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "acting_user"):
        args.acting_user = settings().acting_user
    args.as_json = getattr(args, "as_json", False)
    try:
        return int(args.handler(args))
    except DossierError as exc:
        print(f"dossier: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a database or I/O failure: one line, nothing partial
        from sqlalchemy.exc import DBAPIError

        if isinstance(exc, DBAPIError | OSError):
            first = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
            print(f"dossier: could not run: {first}", file=sys.stderr)
            return CannotRun.exit_status
        raise

