"""Reading a dossier's documents (Arts. 15, 16): the list, and a document's content.

Both are allowed to the client's liaison, the archivist, and anyone with an approved query
grant whose scope includes ``documents`` (:mod:`dossiers.documents.access`); every read is
logged in ``access_log``. A document is served only as it was stored: its content is opened
segment by segment (:func:`~dossiers.core.segments.open_stream`), so an altered, truncated,
reordered or missing object raises :class:`~dossiers.core.segments.Tampered` (or names the
missing object) instead of yielding anything past the damage; a caller writing a file keeps
it only when the stream finished (:func:`save`).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Text, select

from dossiers.calendar.clocks import column_of
from dossiers.core.crypto import KeyRing
from dossiers.core.errors import NotFound, Refused
from dossiers.core.permissions import Actor
from dossiers.core.schema import dossier, dossier_file, staff
from dossiers.core.segments import Tampered, open_stream, sealed_size
from dossiers.core.vocabulary import DossierStatus
from dossiers.documents import access, naming, store
from dossiers.documents.adding import FILING_CLOCK, SUBJECT
from dossiers.workflows.access import find
from dossiers.workflows.results import Result

#: Segments opened ahead of the API download's response at most (1 MiB each).
OPEN_AHEAD = 4


@dataclass(frozen=True)
class DocumentSummary(Result):
    """One document of a dossier, as the list shows it (no content, no original file name)."""

    document_id: str
    name: str
    type: str
    year: int
    folder: str
    size: int
    media_type: str
    important: bool
    confirmed_on: date
    uploaded_by: str
    uploaded_at: datetime
    filed_at: datetime | None
    filing_due: date | None


def list_documents(conn: Connection, actor: Actor, dossier_no: str) -> list[DocumentSummary]:
    d = find(conn, dossier_no)
    basis = access.read_basis(conn, actor, d)
    folder = naming.folder(d.client_type, d.stage, naming.markets_of(conn, d.id))
    rows = conn.execute(
        select(dossier_file, staff.c.username,
               column_of(FILING_CLOCK, SUBJECT, dossier_file.c.id.cast(Text), "due_on").label("due_on"))
        .join(staff, staff.c.id == dossier_file.c.uploaded_by)
        .where(dossier_file.c.dossier_id == d.id)
        .order_by(dossier_file.c.confirmed_on, dossier_file.c.uploaded_at, dossier_file.c.id)).all()
    access.log_read(conn, actor, access.LIST_READ, f"dossier {dossier_no}", basis)
    return [DocumentSummary(
        str(r.id), naming.file_name(d.client_name_zh, r.document_type, r.year, r.serial,
                                    r.extension),
        r.document_type, r.year, folder, r.size, r.media_type, r.important, r.confirmed_on,
        r.username, r.uploaded_at, r.filed_at, None if r.filed_at else r.due_on) for r in rows]


def locate(conn: Connection, document_id: uuid.UUID) -> tuple[Any, Any]:
    """The document and its dossier; :class:`NotFound` when either is gone."""
    row = conn.execute(select(dossier_file).where(dossier_file.c.id == document_id)).first()
    owner = None if row is None else conn.execute(
        select(dossier).where(dossier.c.id == row.dossier_id)).first()
    if row is None or owner is None or owner.status == DossierStatus.DESTROYED:
        raise NotFound("no such document", record=f"document {document_id}")
    return row, owner


@dataclass(frozen=True)
class Download:
    """A document to serve: its Art. 15 name, size and type, and its verified content."""

    document_id: str
    name: str
    size: int
    media_type: str
    #: Each a segment's plaintext in a buffer of its own (``bytearray``), verified.
    chunks: Iterator[bytes | bytearray]


def content(row: Any, key: bytes, objects: store.Store) -> Iterator[bytes | bytearray]:
    """The plaintext of a stored document, verified segment by segment; a missing object, one
    of the wrong size, or one that does not open raises :class:`Tampered`."""
    record = f"document {row.id}"
    try:
        stored = objects.size(row.storage_key)
    except NotFound:
        raise Tampered("its stored object is missing from the document store",
                       record=record) from None
    if stored != row.stored_size or stored != sealed_size(row.size):
        raise Tampered(f"its stored object is {stored} bytes, not the {row.stored_size} "
                       "stored (truncated or altered)", record=record)
    size = 0
    for piece in open_stream(objects.get(row.storage_key), key, store.context(row.id),
                             name=record):
        size += len(piece)
        yield piece
    if size != row.size:
        raise Tampered(f"it opened to {size} bytes, not the {row.size} stored", record=record)


def get(conn: Connection, keyring: KeyRing, actor: Actor, document_id: uuid.UUID, *,
        object_store: store.Store | None = None) -> Download:
    """A document's content for a reader who may read it (logged). The content is read from
    the store only as the caller consumes :attr:`Download.chunks`."""
    row, owner = locate(conn, document_id)
    basis = access.read_basis(conn, actor, owner)
    key = store.content_key(conn, keyring, owner.id)
    access.log_read(conn, actor, access.CONTENT_READ, f"document {document_id}", basis)
    name = naming.file_name(owner.client_name_zh, row.document_type, row.year, row.serial,
                            row.extension)
    return Download(str(row.id), name, row.size, row.media_type,
                    content(row, key, object_store or store.document_store()))


@dataclass(frozen=True)
class Saved(Result):
    document_id: str
    name: str
    size: int
    path: str


def save(download: Download, output: Path) -> Saved:
    """Write a download to ``output`` (a file, or a folder to put it in under its Art. 15
    name) only once every segment has opened: a damaged document leaves no file."""
    target = output / download.name if output.is_dir() else output
    try:
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
    except OSError as exc:
        raise Refused(f"cannot write there: {exc.strerror}", record=f"output {target}") from None
    try:
        # Through the page cache, as any program writes a file (no fsync: a download's
        # durability is the reader's). Written with O_DIRECT instead (``write_chunks``),
        # the get read and wrote the disk at once: 1 GiB in 0.62 s that way, 0.33-0.36 s
        # this way, alternating on one machine (BENCHMARKS.md, issue 11; an earlier VM,
        # whose page cache was slow to fill, measured the reverse).
        with open(fd, "wb") as out:  # closes fd
            for chunk in download.chunks:
                out.write(chunk)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return Saved(download.document_id, download.name, download.size, str(target))
