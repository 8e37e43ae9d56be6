"""``dossier``: the command line operators and scripts rely on (``shared/contracts/cli.md``).

The parser is assembled from one module per noun (:data:`NOUNS`, in the order ``--help``
lists them). Exit status everywhere, decided here and nowhere else: 0 success; 1 the command
ran and found or refused something (a handler's own 1, or a :class:`Refused`); 2 it could not
run (bad arguments, no database, an unreadable file). Errors go to stderr as one line a
person can act on, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError

from dossiers.cli import (
    authorisations,
    backup,
    db,
    destruction,
    disclosure,
    documents,
    dossiers,
    forms,
    incidents,
    ledger,
    loans,
    policy,
    queries,
    seed,
    staff,
    updates,
    vault,
    workdays,
)
from dossiers.cli.shared import common_options
from dossiers.core.config import settings
from dossiers.core.errors import CannotRun, DossierError

#: The nouns in the order ``dossier --help`` lists them (``forms`` adds ``import`` first).
NOUNS = (db, staff, forms, authorisations, dossiers, documents, updates, queries, loans, vault,
         destruction, disclosure, workdays, ledger, incidents, backup, seed, policy)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dossier", parents=[common_options()],
        description="Overseas client dossiers: the system of record of the dossier policy.",
        epilog="Database: $DOSSIER_DATABASE_URL (default: an embedded PostgreSQL under "
               ".dossier/). Master key: $DOSSIER_MASTER_KEY_FILE. Exit status: 0 success, "
               "1 refused or found something, 2 could not run.",
    )
    nouns = parser.add_subparsers(dest="noun", required=True, metavar="COMMAND")
    for module in NOUNS:
        module.register(nouns)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # psycopg logs a second error while closing a COPY on a connection the server has just
    # ended; with no logging set up Python would print it to stderr, after which the one
    # line below says what stopped the command.
    logging.getLogger("psycopg").addHandler(logging.NullHandler())
    parser = build_parser()
    args = parser.parse_args(argv)  # bad arguments: argparse's usage line, exit 2
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
    except (DBAPIError, OSError) as exc:  # a database or I/O failure: one line, nothing partial
        first = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        print(f"dossier: could not run: {first}", file=sys.stderr)
        return CannotRun.exit_status
