"""``dossier updates``: Dossier Information Update Forms, submitted, reviewed, approved when
important, applied (Arts. 12, 13)."""

from __future__ import annotations

import argparse

from dossiers.cli.shared import (
    Group,
    acting,
    command,
    decision_commands,
    iso_date,
    listing,
    noun,
    page_options,
    record_id,
    verdict_command,
    words,
)
from dossiers.core.crypto import KeyRing
from dossiers.core.vocabulary import CollectionChannel, UpdateStatus, UpdateTrigger
from dossiers.workflows import updates


def _field_value(value: str) -> tuple[str, str | None]:
    """``FIELD=VALUE`` (``FIELD=`` empties the field)."""
    name, sep, new = value.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"write FIELD=VALUE, not {value!r}")
    return name.strip(), new or None


def cmd_updates_submit(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: updates.submit(
        conn, KeyRing(), actor, args.dossier_no, dict(args.set), reason=args.reason,
        evidence=args.evidence, trigger=args.trigger, occurred_on=args.occurred_on,
        collection_channel=args.channel))


def cmd_updates_list(args: argparse.Namespace) -> int:
    return listing(args, "updates", lambda conn, actor: updates.list_changes(
        conn, KeyRing(), actor, args.status, limit=args.limit, after=args.after))


def cmd_updates_apply(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: updates.apply(conn, KeyRing(), actor,
                                                          args.change_id))


def register(nouns: Group) -> None:
    upd = noun(nouns, "updates", "update forms: submit, review, approve important changes, apply "
                                 "(Arts. 12, 13)")
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
    usub.add_argument("--trigger", choices=words(UpdateTrigger),
                      help="the Art. 12 immediate-update event this follows")
    usub.add_argument("--occurred-on", type=iso_date, metavar="DATE",
                      help="the day the event happened (with --trigger)")
    usub.add_argument("--channel", choices=words(CollectionChannel),
                      help="how the new information was obtained (Art. 9; required: an update "
                           "without it is refused, invalid_channel); checked against the "
                           "client's authorisation (Art. 19)")
    ulist = command(upd, "list", cmd_updates_list,
                    "update forms you work on, with each field before and after (personal "
                    "values masked)")
    page_options(ulist)
    ulist.add_argument("--status", default="open",
                       choices=words("open", UpdateStatus, "all"))
    verdict_command(upd, "review",
                    "department head: approve an update form within 1 wd, or reject it with the "
                    "reason that goes back to the liaison (Art. 13(2))",
                    "change_id", record_id, updates.review)
    decision_commands(
        upd, "change_id", record_id, updates.approve_important,
        approve=("approve-important",
                 "CS head: approve an important change after its review (Art. 13(3))"),
        reject=("refuse-important", "CS head: refuse an important change, with the reason"))
    uapp = command(upd, "apply", cmd_updates_apply,
                   "archivist: apply a reviewed (and, if important, approved) update within "
                   "1 wd; the values before and after are kept (Art. 13(3)-(4))")
    uapp.add_argument("change_id", type=record_id)
