"""Adding a document to a dossier (Arts. 6, 15, 18).

The cheap checks come first and touch nothing: the file's name, its type, the dossier, who
may add it. Then the upload is registered (``dossier_file_upload``, committed on its own),
the content streams through the :class:`~dossiers.documents.rules.Inspector` (size, sniffed
type, keyed hash) and :func:`~dossiers.core.segments.seal_stream` into the store, whose
``put`` is all-or-nothing. Only then is the document recorded, in the caller's transaction,
with its filing clock (3 wd from its confirmation, Art. 15) and its ledger entry, and the
upload row removed in the same transaction. A refusal at any step deletes the object and the
upload row; a crash between the object and the commit leaves an upload row the sweep finds.

The keyed hash is versioned (:mod:`~dossiers.documents.keyed_hash`): a new document is hashed
with the current scheme, and compared with the dossier's documents of an older scheme only
when one has exactly its size (:func:`_older_duplicate`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, delete, func, insert, select, text, tuple_
from sqlalchemy.exc import DBAPIError

from dossiers.calendar.clocks import due_after, open_clock
from dossiers.core import clock, ledger
from dossiers.core.crypto import KeyRing
from dossiers.core.errors import Refused
from dossiers.core.permissions import Actor
from dossiers.core.schema import dossier_file, dossier_file_upload
from dossiers.core.segments import open_stream, seal_stream
from dossiers.core.vocabulary import DocumentType, KeyedHashScheme, LedgerAction
from dossiers.documents import access, keyed_hash, naming, rules, store
from dossiers.workflows.access import find
from dossiers.workflows.results import Result

#: The filing clock of a document (Art. 15), on the subject ``dossier_file``.
FILING_CLOCK = "document_filing"
SUBJECT = "dossier_file"


@dataclass(frozen=True)
class Added(Result):
    """A document stored and recorded, waiting to be filed by the archivist (Art. 15)."""

    document_id: str
    dossier_no: str
    name: str
    type: DocumentType
    size: int
    folder: str
    filing_due: date
    filing_due_provisional: bool


def ledger_details(document_id: uuid.UUID, document_type: str, size: int,
                   content_hash: bytes, scheme: str) -> dict[str, object]:
    """What a document's ledger entries carry: never its content, name or the client's data
    (the keyed hash with its scheme, which says how to check it)."""
    return {"document_id": str(document_id), "type": str(document_type), "size": size,
            "keyed_hash": content_hash.hex(), "keyed_hash_scheme": str(scheme)}


def add(conn: Connection, keyring: KeyRing, actor: Actor, dossier_no: str, *, name: str,
        chunks: Iterable[bytes], document_type: str, confirmed_on: date | None = None,
        important: bool = False, today: date | None = None,
        object_store: store.Store | None = None) -> Added:
    """Store ``chunks`` (the file's bytes, any chunk sizes) as a document of the dossier."""
    today = today or clock.today()
    extension = rules.check_name(name)
    kind = rules.check_type(name, document_type)
    row = find(conn, dossier_no)
    access.check_may_add(conn, actor, row, kind)
    confirmed_on = confirmed_on or today
    if confirmed_on > today:
        raise Refused(f"{confirmed_on.isoformat()} is in the future", record=rules.record_of(name),
                      field="confirmed_on")
    try:  # the filing deadline must be countable before anything is stored
        due_after(confirmed_on, "filing_wd")
    except Refused as exc:
        raise Refused(f"{confirmed_on.isoformat()}: no filing deadline can be counted from it "
                      f"({exc})", record=rules.record_of(name), field="confirmed_on") from None
    objects = object_store or store.document_store()
    document_id, key = uuid.uuid4(), store.new_storage_key()
    with conn.engine.begin() as own:  # known before the first byte reaches the store
        # Seen by the sweep once committed, whether or not its commit has reached the disk;
        # not waiting for that saves a WAL flush per document (issue 11). The document's own
        # commit (synchronous) flushes this one with it; a crash before that can lose this
        # row, leaving an object that no row names, which the sweep removes as an orphan:
        # still no document row without its object.
        own.execute(text("SET LOCAL synchronous_commit = off"))
        own.execute(insert(dossier_file_upload).values(
            storage_key=key, dossier_id=row.id, started_by=actor.staff_id, started_at=clock.now()))
    try:
        inspector = rules.Inspector(name, extension, store.hasher(conn, keyring, row.id))
        sealed = seal_stream(inspector.watch(chunks), store.content_key(conn, keyring, row.id),
                             store.context(document_id))
        stored = objects.put(key, sealed)
        return _record(conn, keyring, objects, actor, row, document_id, key, kind, inspector,
                       stored, confirmed_on=confirmed_on, important=important)
    except BaseException:
        _forget(conn, objects, key)
        raise


def _forget(conn: Connection, objects: store.Store, key: str) -> None:
    """Remove a refused upload's object and row. The caller's transaction has not touched
    the row (it removes it only as its very last step), so this cannot wait on it; should
    anything still stand in the way, the sweep removes what is left."""
    objects.delete(key)
    try:
        with conn.engine.begin() as own:
            own.execute(text("SET LOCAL lock_timeout = '5s'"))
            own.execute(delete(dossier_file_upload).where(dossier_file_upload.c.storage_key == key))
    except DBAPIError:
        pass  # the row stays for the sweep (its object is gone already)


def _older_duplicate(conn: Connection, keyring: KeyRing, objects: store.Store,
                     dossier_id: uuid.UUID, document_id: uuid.UUID, key: str, size: int,
                     schemes: list[str]) -> uuid.UUID | None:
    """A document of the dossier hashed by an older scheme whose content is the new one's.

    Only called when the dossier holds a document of such a scheme and of exactly the new
    one's size (a duplicate has the same size): the new content is read back from the store,
    opened, and hashed by each of those schemes, then looked up by those hashes."""
    hashes = {scheme: store.hasher(conn, keyring, dossier_id, scheme) for scheme in schemes}
    for piece in open_stream(objects.get(key), store.content_key(conn, keyring, dossier_id),
                             store.context(document_id), name=f"document {document_id}"):
        for hashed in hashes.values():
            hashed.update(piece)
    found: uuid.UUID | None = conn.execute(
        select(dossier_file.c.id).where(
            dossier_file.c.dossier_id == dossier_id, dossier_file.c.size == size,
            tuple_(dossier_file.c.content_hash_scheme, dossier_file.c.content_hash).in_(
                [(scheme, hashed.digest()) for scheme, hashed in hashes.items()]))
        .limit(1)).scalar()
    return found


def _record(conn: Connection, keyring: KeyRing, objects: store.Store, actor: Actor, row: object,
            document_id: uuid.UUID, key: str, kind: DocumentType, inspector: rules.Inspector,
            stored: int, *, confirmed_on: date, important: bool) -> Added:
    d = find(conn, row.dossier_no, lock=True)  # type: ignore[attr-defined]  # serials in order
    record = rules.record_of(inspector.name)
    year = confirmed_on.year
    scheme = keyed_hash.CURRENT
    # The duplicate by the current scheme, the older schemes holding a document of the same
    # size, and the next serial, in one round trip (a small document's add is mostly round
    # trips to the database, issue 11).
    same_q = select(dossier_file.c.id).where(
        dossier_file.c.dossier_id == d.id, dossier_file.c.content_hash_scheme == scheme,
        dossier_file.c.content_hash == inspector.digest).limit(1).scalar_subquery()
    older_q = select(func.array_agg(dossier_file.c.content_hash_scheme.distinct())).where(
        dossier_file.c.dossier_id == d.id, dossier_file.c.size == inspector.size,
        dossier_file.c.content_hash_scheme != scheme).scalar_subquery()
    serial_q = select(func.coalesce(func.max(dossier_file.c.serial), 0) + 1).where(
        dossier_file.c.dossier_id == d.id, dossier_file.c.document_type == kind,
        dossier_file.c.year == year).scalar_subquery()
    same, older, serial = conn.execute(select(same_q, older_q, serial_q)).one()
    if same is None and older:
        same = _older_duplicate(conn, keyring, objects, d.id, document_id, key, inspector.size,
                                [KeyedHashScheme(s) for s in older])
    if same is not None:
        raise Refused(f"the same content is already document {same} of {d.dossier_no}",
                      record=record, field="content")
    now = clock.now()
    conn.execute(insert(dossier_file).values(
        id=document_id, dossier_id=d.id, document_type=kind, year=year, serial=serial,
        extension=inspector.extension, media_type=inspector.media_type, size=inspector.size,
        stored_size=stored, content_hash=inspector.digest, content_hash_scheme=scheme,
        storage_key=key, important=important,
        confirmed_on=confirmed_on, uploaded_by=actor.staff_id, uploaded_at=now))
    # Art. 15: filed within 3 wd of its confirmation, by the dossier's archivist.
    due = open_clock(conn, FILING_CLOCK, SUBJECT, str(document_id), "filing_wd",
                     owner_id=d.created_by, start=confirmed_on)
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.DOCUMENT_ADD, subject_type=SUBJECT,
        subject_id=str(document_id), dossier_no=d.dossier_no,
        details={**ledger_details(document_id, kind, inspector.size, inspector.digest, scheme),
                 "confirmed_on": confirmed_on.isoformat(), "important": important}))
    # The last statement: the upload is done when the document is recorded (no step after
    # it can fail and leave this transaction holding the row the cleanup would remove).
    conn.execute(delete(dossier_file_upload).where(dossier_file_upload.c.storage_key == key))
    return Added(str(document_id), d.dossier_no,
                 naming.file_name(d.client_name_zh, kind, year, serial, inspector.extension),
                 kind, inspector.size,
                 naming.folder(d.client_type, d.stage, naming.markets_of(conn, d.id)),
                 due.due, due.provisional)
