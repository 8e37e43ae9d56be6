"""``dossier ledger``: re-hash the dossier ledger (檔案管理臺賬) and anchor its head outside
the database."""

from __future__ import annotations

import argparse
from pathlib import Path

from dossiers.cli.shared import Group, command, noun, print_json, progress
from dossiers.core import db, directory, ledger
from dossiers.core.config import settings
from dossiers.core.errors import CannotRun
from dossiers.core.permissions import Action, authorize


def _anchor_file(args: argparse.Namespace) -> Path:
    """``--anchor``, else ``DOSSIER_LEDGER_ANCHOR``, else ``.dossier/ledger.anchor``: the one
    setting the ledger DAG reads too (``config.ledger_anchor``)."""
    return Path(args.anchor) if args.anchor else settings().ledger_anchor


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    anchor_file = None if args.no_anchor else _anchor_file(args)
    with db.transaction() as conn:
        authorize(conn, directory.load_actor(conn, args.acting_user), Action.LEDGER_VERIFY,
                  subject="ledger")
        try:
            with progress(args) as report:
                result = ledger.verify(conn, anchor_file, progress=report)
        except ledger.AnchorMissing as exc:  # exit 2: the check did not run (Arts. 11, 13)
            raise CannotRun(f"{exc}; record one with `dossier ledger anchor`, point --anchor or "
                            "DOSSIER_LEDGER_ANCHOR at it, or give --no-anchor to check the "
                            "chain alone") from None
    print_json(result.as_dict())
    return 0 if result.ok else 1


def cmd_ledger_anchor(args: argparse.Namespace) -> int:
    """Verify (against the anchor there is, if any), then move the anchor to the head. The
    first anchor is started here, on a chain that re-hashes soundly."""
    anchor_file = _anchor_file(args)
    with db.transaction() as conn:
        authorize(conn, directory.load_actor(conn, args.acting_user), Action.LEDGER_VERIFY,
                  subject="ledger")
        with progress(args) as report:
            result = ledger.verify(conn, anchor_file if anchor_file.exists() else None,
                                   progress=report)
        if not result.ok:
            print_json(result.as_dict())
            return 1
        record = ledger.anchor(conn, anchor_file)
    print_json({**record, "anchor_file": str(anchor_file)})
    return 0


def register(nouns: Group) -> None:
    led = noun(nouns, "ledger", "the dossier ledger (檔案管理臺賬)")
    verify = command(led, "verify", cmd_ledger_verify,
                     "re-hash the whole ledger and compare it with the anchor; name the first "
                     "broken entry, or where the ledger diverges from the anchor")
    where = verify.add_mutually_exclusive_group()
    where.add_argument("--anchor", metavar="FILE",
                       help="anchor file (default: $DOSSIER_LEDGER_ANCHOR, else "
                            ".dossier/ledger.anchor); missing: exit 2")
    where.add_argument("--no-anchor", action="store_true",
                       help="compare no anchor: check the chain alone (the report says so)")
    anchor = command(led, "anchor", cmd_ledger_anchor,
                     "verify, then record the head and checkpoints outside the database")
    anchor.add_argument("--anchor", metavar="FILE",
                        help="anchor file (default: $DOSSIER_LEDGER_ANCHOR, else "
                             ".dossier/ledger.anchor)")
