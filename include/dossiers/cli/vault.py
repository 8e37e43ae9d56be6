"""``dossier vault``: the register of paper volumes and their condition checks (Arts. 14, 15)."""

from __future__ import annotations

import argparse

from dossiers.cli.shared import Group, acting, command, listing, noun, page_options, words
from dossiers.core.vocabulary import Condition, Remedy
from dossiers.workflows import vault


def cmd_vault_list(args: argparse.Namespace) -> int:
    return listing(args, "vault", lambda conn, actor: vault.list_volumes(
        conn, actor, args.cabinet, limit=args.limit, after=args.after))


def cmd_vault_register(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: vault.register_volume(
        conn, actor, args.dossier_no, cabinet=args.cabinet, shelf=args.shelf))


def cmd_vault_check(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: vault.check_condition(
        conn, actor, args.volume, condition=args.condition, action=args.action,
        notes=args.notes))


def register(nouns: Group) -> None:
    vault_ = noun(
        nouns, "vault", "the paper dossier vault register (Arts. 14, 15)",
        description="The paper vault (Arts. 14, 15): bound volumes labelled with dossier "
                    "number, client name and filing date, standing by cabinet, shelf and "
                    "position in the same order as the electronic dossiers. The archivist "
                    "registers volumes and records periodic condition checks; a damaged or "
                    "faded volume is repaired or copied. The archivist, CS head and QA "
                    "supervisor read the register.")
    vlist = command(vault_, "list", cmd_vault_list,
                    "the register in shelf order: label, place, condition, last check, loan")
    page_options(vlist)
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
    vchk.add_argument("--condition", required=True, choices=words(Condition))
    vchk.add_argument("--action", default=Remedy.NONE.value, choices=words(Remedy),
                      help="what is done about it (default none)")
    vchk.add_argument("--notes")
