"""``dossier authorisations``: the client's authorisation to collect, on record (Art. 19)."""

from __future__ import annotations

import argparse

from dossiers.cli.shared import Group, acting, command, iso_date, noun
from dossiers.core.vocabulary import ChannelGroup
from dossiers.workflows import authorisations


def cmd_record(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: authorisations.record(
        conn, actor, args.reference, args.scope, granted_on=args.granted_on,
        expires_on=args.expires_on, legal_basis=args.legal_basis))


def register(nouns: Group) -> None:
    verbs = noun(nouns, "authorisations", "clients' authorisations to collect (Arts. 9, 19)")
    record = command(verbs, "record", cmd_record,
                     "record a client's authorisation: reference, scope of use, date, expiry")
    record.add_argument("reference")
    record.add_argument("--scope", required=True, action="append",
                        choices=[g.value for g in ChannelGroup],
                        help="a collection channel group it allows (Art. 9); repeat")
    record.add_argument("--granted-on", required=True, type=iso_date, metavar="YYYY-MM-DD")
    record.add_argument("--expires-on", required=True, type=iso_date, metavar="YYYY-MM-DD")
    record.add_argument("--legal-basis", metavar="TEXT",
                        help="the target market's law relied on (compliant research)")
