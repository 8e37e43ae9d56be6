"""``dossier destruction``: legal holds, the Destruction Request Form, its gates, execution
under QA supervision, paper destruction, signatures, and re-applying the register after a
restore (Art. 17)."""

from __future__ import annotations

import argparse

from dossiers.airflow import runs
from dossiers.cli.shared import Group, acting, command, iso_date, noun, print_json, record_id, words
from dossiers.core import db, directory
from dossiers.core.crypto import KeyRing
from dossiers.core.vocabulary import DestructionCondition, HoldKind, PaperMethod
from dossiers.destruction import (
    approvals,
    certificate,
    eligibility,
    holds,
    requests,
    restore,
    wiring,
)
from dossiers.destruction.execution import Stopped, confirm, execute, record_paper


def _item(value: str) -> requests.Item:
    """``NUMBER`` (condition 1) or ``NUMBER=CONDITION:REASON``."""
    number, sep, rest = value.partition("=")
    if not sep:
        return requests.Item(number.strip())
    condition, _, reason = rest.partition(":")
    if condition.strip() not in set(DestructionCondition):
        raise argparse.ArgumentTypeError(
            f"condition must be one of {', '.join(DestructionCondition)}, not {condition!r}")
    return requests.Item(number.strip(), condition.strip(), reason.strip())


def cmd_eligible(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: eligibility.eligible(conn, actor))


def cmd_hold(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: holds.place(
        conn, actor, args.dossier_no, kind=args.kind, reference=args.reference))


def cmd_release(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: holds.release(conn, actor, args.hold_id,
                                                          reason=args.reason))


def cmd_request(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: requests.request(conn, actor, args.dossier))


def cmd_submit(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: runs.submit(
        "destruction", approvals.submission(conn, actor, "destruction", args.request_id)))


def cmd_show(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: requests.show(conn, actor, args.request_id))


def cmd_decide(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: requests.decide(
        conn, actor, args.request_id, args.gate, approve=args.verb == "approve",
        reason=getattr(args, "reason", None)))


def cmd_execute(args: argparse.Namespace) -> int:
    with db.transaction() as conn:
        result = execute(conn, KeyRing(), directory.load_actor(conn, args.acting_user),
                         args.request_id, **wiring.execution_seams())
    print_json(result)
    return 1 if isinstance(result, Stopped) else 0


def cmd_paper(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: record_paper(
        conn, actor, args.request_id, args.dossier_no, method=args.method,
        destroyed_on=args.on, personnel=args.personnel))


def cmd_confirm(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: confirm(conn, actor, args.request_id))


def cmd_certificate(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: certificate.certify(conn, actor, args.request_id))


def cmd_reapply(args: argparse.Namespace) -> int:
    with db.transaction() as conn:
        result = restore.reapply(conn, KeyRing(), shred_documents=wiring.document_shredder(),
                                 actor=directory.load_actor(conn, args.acting_user))
    print_json(result)
    return 0


def register(nouns: Group) -> None:
    d = noun(nouns, "destruction",
             "destroying dossiers: holds, request form, approvals, execution, paper (Art. 17)",
             description="Destruction (Art. 17). The archivist lists eligible dossiers on a "
                         "Destruction Request Form; the CS head, the head of every department "
                         "that worked with the client, and management approve in that order "
                         "(normally as Airflow approval tasks); the QA supervisor confirms; "
                         "the archivist executes: every listed dossier is re-checked in the "
                         "destroying transaction, then its rows, documents and data key are "
                         "destroyed and a tombstone keeps its number.")
    command(d, "eligible", cmd_eligible,
            "dossiers meeting condition (1) today, with any legal hold that blocks them")
    h = command(d, "hold", cmd_hold, "CS head or management: place a legal hold on a dossier")
    h.add_argument("dossier_no")
    h.add_argument("--kind", required=True, choices=words(HoldKind))
    h.add_argument("--reference", required=True, help="the case or inspection")
    r = command(d, "release", cmd_release, "CS head or management: release a legal hold")
    r.add_argument("hold_id", type=int)
    r.add_argument("--reason", required=True)
    q = command(d, "request", cmd_request,
                "archivist: a Destruction Request Form listing one or more dossiers")
    q.add_argument("dossier", nargs="+", type=_item, metavar="NUMBER[=CONDITION:REASON]",
                   help="a dossier number (condition 1: cooperation ended) or "
                        "NUMBER=invalid:REASON / NUMBER=legal_or_restructuring:REASON")
    u = command(d, "submit", cmd_submit,
                "archivist: start the request's approval run in Airflow (DOSSIER_AIRFLOW_URL)")
    u.add_argument("request_id", type=record_id)
    s = command(d, "show", cmd_show, "a request: dossiers, decisions, the gates open now")
    s.add_argument("request_id", type=record_id)
    for verb, help_ in (("approve", "approve one gate (cs_head, department:CODE, management, "
                                    "qa_supervisor)"),
                        ("reject", "reject at one gate, with the reason: the request stops")):
        g = command(d, verb, cmd_decide, help_)
        g.add_argument("request_id", type=record_id)
        g.add_argument("--gate", required=True)
        if verb == "reject":
            g.add_argument("--reason", required=True)
    e = command(d, "execute", cmd_execute,
                "archivist: re-check and destroy (exit 1 when a condition changed: stopped)")
    e.add_argument("request_id", type=record_id)
    p = command(d, "paper", cmd_paper, "archivist: record a dossier's paper volumes destroyed")
    p.add_argument("request_id", type=record_id)
    p.add_argument("dossier_no")
    p.add_argument("--method", required=True, choices=words(PaperMethod))
    p.add_argument("--on", required=True, type=iso_date, metavar="DATE")
    p.add_argument("--personnel", required=True, action="append", metavar="NAME",
                   help="a person present (repeat)")
    c = command(d, "confirm", cmd_confirm,
                "archivist or QA supervisor: sign the executed form (Art. 17(2)(4))")
    c.add_argument("request_id", type=record_id)
    cert = command(d, "certificate", cmd_certificate,
                   "archivist: the signed destruction certificate (PDF, PAdES; Art. 17(2)(4))")
    cert.add_argument("request_id", type=record_id)
    command(d, "reapply", cmd_reapply,
            "after a restore: destroy again every dossier the destruction register lists")
