"""``dossier documents``: a dossier's electronic documents: add, file, delay filing, list,
get, verify, sweep (Arts. 6, 14-18)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from dossiers.cli.shared import Group, acting, command, iso_date, noun, print_json, record_id
from dossiers.core import db, directory
from dossiers.core.crypto import KeyRing
from dossiers.core.errors import CannotRun
from dossiers.core.objects import READ_CHUNK
from dossiers.core.vocabulary import DocumentType
from dossiers.documents import adding, filing, integrity, reading, sweep


def _read(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            yield chunk


def cmd_documents_add(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CannotRun(f"file {args.file}: not a readable file")
    return acting(args, lambda conn, actor: adding.add(
        conn, KeyRing(), actor, args.dossier_no, name=args.name or path.name, chunks=_read(path),
        document_type=args.type, confirmed_on=args.confirmed_on, important=args.important))


def cmd_documents_list(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: reading.list_documents(conn, actor, args.dossier_no))


def cmd_documents_get(args: argparse.Namespace) -> int:
    with db.transaction() as conn:  # authorised and logged; the content is read after
        download = reading.get(conn, KeyRing(), directory.load_actor(conn, args.acting_user),
                               args.document_id)
    print_json(reading.save(download, Path(args.output)))
    return 0


def cmd_documents_file(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: filing.file(conn, actor, args.document_id))


def cmd_documents_delay(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: filing.delay(
        conn, actor, args.document_id, until=args.until, reason=args.reason))


def cmd_documents_verify(args: argparse.Namespace) -> int:
    with db.transaction() as conn:
        result = integrity.verify(conn, KeyRing(), directory.load_actor(conn, args.acting_user),
                                  args.dossier_no)
    print_json(result)
    for bad in result.bad:
        print(f"dossier: {bad.reason} ({bad.dossier_no})", file=sys.stderr)
    return 0 if result.ok else 1


def cmd_documents_sweep(args: argparse.Namespace) -> int:
    return acting(args, lambda conn, actor: sweep.sweep(conn, actor))


def register(nouns: Group) -> None:
    docs = noun(nouns, "documents",
                "a dossier's electronic documents: add, file, list, get, verify (Arts. 6, 14-18)")
    add = command(docs, "add", cmd_documents_add,
                  "add a file to a dossier: named, classified and stored encrypted; the "
                  "archivist files it within 3 wd of its confirmation (Arts. 6, 15)")
    add.add_argument("dossier_no")
    add.add_argument("file", help="the file to add (PDF, DOCX, XLSX, PPTX, PNG, JPG, TIF)")
    add.add_argument("--type", required=True, metavar="TYPE",
                     help=f"the document type (Art. 6): {', '.join(DocumentType)}")
    add.add_argument("--confirmed-on", type=iso_date, metavar="DATE",
                     help="when the document was confirmed (default today): the filing clock "
                          "starts here")
    add.add_argument("--important", action="store_true",
                     help="an important document (Art. 15)")
    add.add_argument("--name", help="the file's name as checked (default: FILE's own name)")
    lst = command(docs, "list", cmd_documents_list,
                  "a dossier's documents (its liaison, the archivist, or a grant with the "
                  "documents scope; logged)")
    lst.add_argument("dossier_no")
    get = command(docs, "get", cmd_documents_get,
                  "write a document's content to a file, only once all of it is verified (logged)")
    get.add_argument("document_id", type=record_id)
    get.add_argument("--output", required=True, metavar="PATH",
                     help="a file, or a folder to write it into under its Art. 15 name")
    file_ = command(docs, "file", cmd_documents_file,
                    "archivist: file a document (within 3 wd of its confirmation, Art. 15)")
    file_.add_argument("document_id", type=record_id)
    delay = command(docs, "delay-filing", cmd_documents_delay,
                    "archivist: ask the CS head to let a document be filed later, before its "
                    "deadline passes; never more than 5 wd in all (Art. 15); the CS head "
                    "decides with `dossier dossiers approve-delay` / `reject-delay`")
    delay.add_argument("document_id", type=record_id)
    delay.add_argument("--until", required=True, type=iso_date, metavar="DATE",
                       help="the new filing deadline")
    delay.add_argument("--reason", required=True)
    verify = command(docs, "verify", cmd_documents_verify,
                     "decrypt and check every stored document, or one dossier's; exit 1 naming "
                     "each bad one (Arts. 14, 18)")
    verify.add_argument("dossier_no", nargs="?")
    command(docs, "sweep", cmd_documents_sweep,
            "remove what interrupted uploads left behind: unfinished uploads past the grace "
            "period and objects with no document (Art. 18)")
