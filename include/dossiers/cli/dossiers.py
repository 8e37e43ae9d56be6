"""``dossier dossiers``: create, file, move between stages, show, keep; filing delays
(Arts. 11, 14, 15, 16)."""

from __future__ import annotations

import argparse

from dossiers.cli.shared import (
    Group,
    acting,
    command,
    decision_commands,
    iso_date,
    noun,
    record_id,
    words,
)
from dossiers.core.crypto import KeyRing
from dossiers.core.vocabulary import Stage
from dossiers.workflows import access, creation, filing_delays, lifecycle


def cmd_dossiers_create(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: creation.create_dossier(
        conn, KeyRing(), actor, args.form_id))


def cmd_dossiers_file(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: creation.file_dossier(
        conn, actor, access.find(conn, args.dossier_no).id, cabinet=args.cabinet,
        shelf=args.shelf))


def cmd_dossiers_stage(args: argparse.Namespace) -> int:
    prospect = None if args.further_cooperation is None else args.further_cooperation == "yes"
    return acting(args, lambda conn, actor: lifecycle.change_stage(
        conn, actor, args.dossier_no, args.stage, terminated_on=args.terminated_on,
        further_cooperation=prospect))


def cmd_dossiers_show(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: lifecycle.read(conn, KeyRing(), actor,
                                                           args.dossier_no))


def cmd_dossiers_keep(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: lifecycle.keep_terminated(
        conn, actor, args.dossier_no, reason=args.reason))


def cmd_dossiers_delay(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: filing_delays.request(
        conn, actor, args.dossier_no, until=args.until, reason=args.reason))


def register(nouns: Group) -> None:
    doss = noun(nouns, "dossiers", "create, file, move between stages, show (Arts. 11, 15, 16)")
    create = command(doss, "create", cmd_dossiers_create,
                     "archivist: create the electronic dossier from a reviewed form and number it")
    create.add_argument("form_id", type=record_id)
    file_ = command(doss, "file", cmd_dossiers_file,
                    "archivist: file the dossier and register its paper volume in the vault "
                    "(within 2 wd of creation)")
    file_.add_argument("dossier_no")
    file_.add_argument("--cabinet", required=True, help="vault cabinet, e.g. the type code 電商")
    file_.add_argument("--shelf", required=True, type=int)
    stage = command(doss, "stage", cmd_dossiers_stage,
                    "archivist: move a dossier to potential, active or terminated (Art. 15)")
    stage.add_argument("dossier_no")
    stage.add_argument("stage", choices=words(Stage))
    stage.add_argument("--terminated-on", type=iso_date, metavar="DATE")
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
    delay.add_argument("--until", required=True, type=iso_date, metavar="DATE",
                       help="the new filing deadline")
    delay.add_argument("--reason", required=True)
    decision_commands(
        doss, "delay_id", int, filing_delays.decide,
        approve=("approve-delay", "CS head: approve a filing delay (moves the deadline; Art. 15)"),
        reject=("reject-delay", "CS head: refuse a filing delay (the original deadline stands)"))
