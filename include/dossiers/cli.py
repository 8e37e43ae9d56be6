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

from dossiers.config import home, settings
from dossiers.errors import CannotRun, DossierError

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
    from dossiers import db

    url = db.database_url()
    revision = db.upgrade(url)
    print(f"dossier database {db.describe(url)} is at revision {revision}")
    return 0


def cmd_db_stop(args: argparse.Namespace) -> int:
    from dossiers import embedded

    print("embedded PostgreSQL stopped" if embedded.stop() else "embedded PostgreSQL not running")
    return 0


# --- staff --------------------------------------------------------------------------------------

def cmd_staff_add(args: argparse.Namespace) -> int:
    from dossiers import db, staff

    with db.transaction() as conn:
        added = staff.add(conn, args.acting_user, args.username, args.department, args.role)
    print(f"added {added['username']} to {added['department']} as {', '.join(added['roles'])}")
    return 0


def cmd_staff_leave(args: argparse.Namespace) -> int:
    from dossiers import staff

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
    from dossiers import db, staff

    with db.transaction() as conn:
        result = work(conn, staff.load_actor(conn, args.acting_user))
    _print_json(result)
    return 0


def cmd_forms_list(args: argparse.Namespace) -> int:
    from dossiers import creation

    return _acting(args, lambda conn, actor: creation.list_forms(conn, actor, args.status))


def cmd_forms_review(args: argparse.Namespace) -> int:
    from dossiers import creation

    return _acting(args, lambda conn, actor: creation.review_form(
        conn, actor, args.form_id, approve=args.reject is None, reason=args.reject))


def cmd_dossiers_create(args: argparse.Namespace) -> int:
    from dossiers import creation
    from dossiers.crypto import KeyRing

    return _acting(args, lambda conn, actor: creation.create_dossier(
        conn, KeyRing(), actor, args.form_id))


def cmd_dossiers_file(args: argparse.Namespace) -> int:
    from dossiers import creation, lifecycle

    return _acting(args, lambda conn, actor: creation.file_dossier(
        conn, actor, lifecycle.find(conn, args.dossier_no).id, cabinet=args.cabinet,
        shelf=args.shelf))


def cmd_dossiers_stage(args: argparse.Namespace) -> int:
    from dossiers import lifecycle

    prospect = None if args.further_cooperation is None else args.further_cooperation == "yes"
    return _acting(args, lambda conn, actor: lifecycle.change_stage(
        conn, actor, args.dossier_no, args.stage, terminated_on=args.terminated_on,
        further_cooperation=prospect))


def cmd_dossiers_show(args: argparse.Namespace) -> int:
    from dossiers import lifecycle
    from dossiers.crypto import KeyRing

    return _acting(args, lambda conn, actor: lifecycle.read(conn, KeyRing(), actor,
                                                            args.dossier_no))


def cmd_queries_request(args: argparse.Namespace) -> int:
    from dossiers import queries

    return _acting(args, lambda conn, actor: queries.request(
        conn, actor, args.dossier_no, purpose=args.purpose, scope=args.scope,
        expires_on=args.until))


def cmd_queries_decide(args: argparse.Namespace) -> int:
    from dossiers import queries

    return _acting(args, lambda conn, actor: queries.decide(
        conn, actor, args.grant_id, approve=args.verb == "approve",
        reason=getattr(args, "reason", None)))


# --- workdays ----------------------------------------------------------------------------------

def _provisional_note(provisional: bool) -> None:
    if provisional:
        print("dossier: provisional - a year involved has no official holiday schedule yet "
              "(weekends and fixed statutory holidays only); supply DOSSIER_CALENDAR_FILE",
              file=sys.stderr)


def cmd_workdays_add(args: argparse.Namespace) -> int:
    from dossiers.workdays import default_calendar

    deadline = default_calendar().add(args.date, args.n)
    print(deadline.date.isoformat())
    _provisional_note(deadline.provisional)
    return 0


def cmd_workdays_between(args: argparse.Namespace) -> int:
    from dossiers.workdays import default_calendar

    count = default_calendar().between(args.date1, args.date2)
    print(count.value)
    _provisional_note(count.provisional)
    return 0


# --- ledger -------------------------------------------------------------------------------------

def _anchor_file(args: argparse.Namespace) -> Path:
    return Path(args.anchor) if args.anchor else home() / "ledger.anchor"


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    from dossiers import db, ledger, staff
    from dossiers.permissions import Action, authorize

    with db.transaction() as conn:
        authorize(conn, staff.load_actor(conn, args.acting_user), Action.LEDGER_VERIFY,
                  subject="ledger")
        result = ledger.verify(conn, _anchor_file(args))
    _print_json(result.as_dict())
    return 0 if result.ok else 1


def cmd_ledger_anchor(args: argparse.Namespace) -> int:
    from dossiers import db, ledger, staff
    from dossiers.permissions import Action, authorize

    with db.transaction() as conn:
        authorize(conn, staff.load_actor(conn, args.acting_user), Action.LEDGER_VERIFY,
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
    from dossiers.seed import seed_company

    _print_json(seed_company(clients=args.clients, seed=args.seed))
    return 0


def cmd_policy_show(args: argparse.Namespace) -> int:
    from dossiers.policy import policy

    _print_json(policy().as_table())
    return 0


# --- parser ------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--as", dest="acting_user", metavar="USERNAME",
                        default=argparse.SUPPRESS,
                        help="the staff member acting (default: $DOSSIER_USER)")

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


if __name__ == "__main__":
    sys.exit(main())
