"""``dossier disclosure``: external use of a dossier (Art. 16) — request, management's
decision, the desensitised package (and its regeneration for audit), the register."""

from __future__ import annotations

import argparse
from pathlib import Path

from dossiers.airflow import runs
from dossiers.cli.shared import Group, acting, command, iso_date, noun, record_id, words
from dossiers.core.crypto import KeyRing
from dossiers.core.vocabulary import DisclosureBasis
from dossiers.destruction import approvals
from dossiers.disclosure import package, requests


def cmd_request(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: requests.request(
        conn, KeyRing(), actor, args.dossier_no, recipient=args.recipient,
        recipient_country=args.country, legal_basis=args.basis, purpose=args.purpose,
        scope=args.scope, documents=args.document or [], expires_on=args.expires,
        confidentiality_ref=args.agreement))


def cmd_submit(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: runs.submit(
        "disclosure", approvals.submission(conn, actor, "disclosure", args.request_id)))


def cmd_decide(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: requests.decide(
        conn, actor, args.request_id, approve=args.verb == "approve",
        reason=getattr(args, "reason", None)))


def cmd_package(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: package.package(
        conn, KeyRing(), actor, args.request_id, Path(args.out)))


def cmd_register(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: requests.register(
        conn, actor, cross_border_only=args.cross_border))


def register(nouns: Group) -> None:
    d = noun(nouns, "disclosure",
             "external use: request, management's approval, desensitised package (Art. 16)",
             description="External disclosure (Art. 16). Customer Service requests it (recipient, "
                         "country, legal basis, purpose, dimensions and documents, expiry, the "
                         "confidentiality agreement); management approves; then the package: "
                         "personal data masked, PDFs watermarked, a manifest of hashes, an AES "
                         "zip whose passphrase is printed once to deliver separately. `package` "
                         "on a packaged request makes the same bytes again, for audit.")
    r = command(d, "request", cmd_request, "CS: request an external disclosure of one dossier")
    r.add_argument("dossier_no")
    r.add_argument("--recipient", required=True)
    r.add_argument("--country", required=True, help="the recipient's country (ISO 3166 alpha-2)")
    r.add_argument("--basis", required=True, choices=words(DisclosureBasis))
    r.add_argument("--purpose", required=True)
    r.add_argument("--scope", required=True, action="append", choices=list(requests.DIMENSIONS))
    r.add_argument("--document", action="append", metavar="DOCUMENT_ID")
    r.add_argument("--expires", required=True, type=iso_date, metavar="DATE")
    r.add_argument("--agreement", required=True, help="the confidentiality agreement's reference")
    u = command(d, "submit", cmd_submit,
                "CS: start the request's approval run in Airflow (DOSSIER_AIRFLOW_URL)")
    u.add_argument("request_id", type=record_id)
    for verb, help_ in (("approve", "management: approve"),
                        ("reject", "management: reject, with the reason")):
        g = command(d, verb, cmd_decide, help_)
        g.add_argument("request_id", type=record_id)
        if verb == "reject":
            g.add_argument("--reason", required=True)
    p = command(d, "package", cmd_package,
                "CS: the desensitised package of an approved request (again: byte-identical)")
    p.add_argument("request_id", type=record_id)
    p.add_argument("--out", required=True, metavar="FOLDER")
    g = command(d, "register", cmd_register, "the register of disclosures (compliance, PIPL)")
    g.add_argument("--cross-border", action="store_true", help="only recipients abroad")
