"""``dossier ledger``: re-hash the dossier ledger (檔案管理臺賬) and anchor its head outside
the database."""

from __future__ import annotations

import argparse
from pathlib import Path

from dossiers.cli.shared import Group, command, noun, print_json
from dossiers.core import db, directory, ledger
from dossiers.core.config import home
from dossiers.core.permissions import Action, authorize


def _anchor_file(args: argparse.Namespace) -> Path:
    return Path(args.anchor) if args.anchor else home() / "ledger.anchor"


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    with db.transaction() as conn:
        authorize(conn, directory.load_actor(conn, args.acting_user), Action.LEDGER_VERIFY,
                  subject="ledger")
        result = ledger.verify(conn, _anchor_file(args))
    print_json(result.as_dict())
    return 0 if result.ok else 1


def cmd_ledger_anchor(args: argparse.Namespace) -> int:
    with db.transaction() as conn:
        authorize(conn, directory.load_actor(conn, args.acting_user), Action.LEDGER_VERIFY,
                  subject="ledger")
        result = ledger.verify(conn, _anchor_file(args))
        if not result.ok:
            print_json(result.as_dict())
            return 1
        record = ledger.anchor(conn, _anchor_file(args))
    print_json({**record, "anchor_file": str(_anchor_file(args))})
    return 0


def register(nouns: Group) -> None:
    led = noun(nouns, "ledger", "the dossier ledger (檔案管理臺賬)")
    for name, handler, help_ in (
        ("verify", cmd_ledger_verify, "re-hash the whole ledger; name the first broken entry"),
        ("anchor", cmd_ledger_anchor, "verify, then record the head outside the database"),
    ):
        sub = command(led, name, handler, help_)
        sub.add_argument("--anchor", metavar="FILE",
                         help="anchor file (default: .dossier/ledger.anchor)")
