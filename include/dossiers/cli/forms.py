"""``dossier import`` and ``dossier forms``: collection forms, submitted and reviewed (Art. 11)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dossiers.cli.shared import (
    Group,
    command,
    listing,
    noun,
    page_options,
    print_json,
    progress,
    record_id,
    verdict_command,
    words,
)
from dossiers.core.vocabulary import FormStatus
from dossiers.intake.service import import_file
from dossiers.workflows import creation


def cmd_import(args: argparse.Namespace) -> int:
    with progress(args) as shown:
        report = import_file(Path(args.file), acting_user=args.acting_user, progress=shown)
    print_json(report)
    return 1 if report["rejected"] else 0


def cmd_forms_list(args: argparse.Namespace) -> int:
    return listing(args, "forms", lambda conn, actor: creation.list_forms(
        conn, actor, args.status, limit=args.limit, after=args.after))


def register(nouns: Group) -> None:
    imp = command(nouns, "import", cmd_import,
                  "submit collection forms from a CSV, XLSX or JSON file (collection-form.md)")
    imp.add_argument("file")

    forms = noun(nouns, "forms", "collection forms: list and review (Art. 11)")
    flist = command(forms, "list", cmd_forms_list,
                    "forms you may see: a liaison their own, a department head their department's")
    page_options(flist)
    flist.add_argument("--status", default="submitted",
                       choices=words(FormStatus.SUBMITTED, FormStatus.REVIEWED,
                                     FormStatus.REJECTED, FormStatus.CREATED, "all"))
    verdict_command(forms, "review",
                    "department head: approve a submitted form within 2 wd, or reject it with "
                    "the reason that goes back to the liaison (Art. 11(2))",
                    "form_id", record_id, creation.review_form)
