"""``dossier queries``: query grants with a purpose, scope and expiry, approved by the
archivist (Art. 16)."""

from __future__ import annotations

import argparse

from dossiers.cli.shared import Group, acting, command, iso_date, noun, record_id, words
from dossiers.core.vocabulary import QueryScope
from dossiers.workflows import queries


def cmd_queries_request(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: queries.request(
        conn, actor, args.dossier_no, purpose=args.purpose, scope=args.scope,
        expires_on=args.until))


def cmd_queries_decide(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: queries.decide(
        conn, actor, args.grant_id, approve=args.verb == "approve",
        reason=getattr(args, "reason", None)))


def register(nouns: Group) -> None:
    que = noun(nouns, "queries",
               "query grants: purpose, scope, expiry; approved by the archivist (Art. 16)")
    qreq = command(que, "request", cmd_queries_request,
                   "ask to read a dossier that is not your own client's")
    qreq.add_argument("dossier_no")
    qreq.add_argument("--purpose", required=True)
    qreq.add_argument("--scope", required=True, action="append",
                      choices=words(QueryScope),
                      help="a dimension to read (repeat); 'personal' shows personal data in clear")
    qreq.add_argument("--until", required=True, type=iso_date, metavar="DATE",
                      help="the grant expires after this day")
    qapp = command(que, "approve", cmd_queries_decide, "archivist: approve a query request")
    qapp.add_argument("grant_id", type=record_id)
    qrej = command(que, "reject", cmd_queries_decide, "archivist: reject a query request")
    qrej.add_argument("grant_id", type=record_id)
    qrej.add_argument("--reason", required=True)
