"""Checking stored documents (Arts. 14, 18): every document (or a dossier's) is read back
from the store, opened segment by segment and compared with what was recorded: its size,
its sealed size and its keyed hash (by the scheme the row was hashed with). A missing,
truncated, altered or swapped object is named, never passed as fine.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from dossiers.core.crypto import KeyRing
from dossiers.core.errors import DossierError
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import dossier, dossier_file
from dossiers.core.vocabulary import DossierStatus
from dossiers.documents import store
from dossiers.documents.reading import content
from dossiers.workflows.access import find
from dossiers.workflows.results import Result


@dataclass(frozen=True)
class BadDocument(Result):
    document_id: str
    dossier_no: str
    reason: str


@dataclass(frozen=True)
class Verified(Result):
    checked: int
    bad: list[BadDocument] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.bad


def check_rows(conn: Connection, keyring: KeyRing, rows: Iterable[Any],
               objects: store.Store | None = None) -> Verified:
    """Open and compare each document of ``rows`` (``dossier_file`` rows with ``dossier_no``)."""
    objects = objects or store.document_store()
    checked, bad = 0, []
    for row in rows:
        checked += 1
        try:
            keyed = store.hasher(conn, keyring, row.dossier_id, row.content_hash_scheme)
            for piece in content(row, store.content_key(conn, keyring, row.dossier_id), objects):
                keyed.update(piece)
            if not hmac.compare_digest(keyed.digest(), bytes(row.content_hash)):
                bad.append(BadDocument(str(row.id), row.dossier_no,
                                       "its content does not match its recorded keyed hash"))
        except DossierError as exc:
            bad.append(BadDocument(str(row.id), row.dossier_no, str(exc)))
    return Verified(checked, bad)


def documents_of(conn: Connection, dossier_ids: Iterable[uuid.UUID] | None = None) -> list[Any]:
    query = (select(dossier_file, dossier.c.dossier_no)
             .join(dossier, dossier.c.id == dossier_file.c.dossier_id)
             .where(dossier.c.status != DossierStatus.DESTROYED)
             .order_by(dossier.c.dossier_no, dossier_file.c.uploaded_at, dossier_file.c.id))
    if dossier_ids is not None:
        query = query.where(dossier_file.c.dossier_id.in_(list(dossier_ids)))
    return list(conn.execute(query))


def verify(conn: Connection, keyring: KeyRing, actor: Actor, dossier_no: str | None = None, *,
           object_store: store.Store | None = None) -> Verified:
    """Every stored document, or one dossier's, decrypted and checked."""
    authorize(conn, actor, Action.DOCUMENT_VERIFY,
              subject=f"dossier {dossier_no}" if dossier_no else "documents")
    ids = None if dossier_no is None else [find(conn, dossier_no).id]
    return check_rows(conn, keyring, documents_of(conn, ids), object_store)
