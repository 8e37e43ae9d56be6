"""Deleting a dossier's documents from a document store (Arts. 17, 18).

Every object the dossier's documents (``dossier_file``) and unfinished uploads
(``dossier_file_upload``) name is deleted; the rows go with the dossier's. The objects are
sealed under a key derived from the dossier's data key, so a copy that escapes deletion (a
backup's) is unreadable once that key is destroyed and the key ring's backups have expired.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, select

from dossiers.core.objects import LocalObjectStore, ObjectStore, S3ObjectStore
from dossiers.core.schema import dossier_file, dossier_file_upload
from dossiers.destruction.execution import DocumentShredder


def storage_keys(conn: Connection, dossier_id: uuid.UUID) -> list[str]:
    return [*conn.execute(select(dossier_file.c.storage_key).where(
                dossier_file.c.dossier_id == dossier_id).order_by(dossier_file.c.storage_key))
            .scalars(),
            *conn.execute(select(dossier_file_upload.c.storage_key).where(
                dossier_file_upload.c.dossier_id == dossier_id)).scalars()]


def shredder(store: ObjectStore | LocalObjectStore | S3ObjectStore) -> DocumentShredder:
    """Deletes the dossier's documents' objects from ``store``; returns how many."""
    def shred(conn: Connection, dossier_id: uuid.UUID) -> int:
        keys = storage_keys(conn, dossier_id)
        for key in keys:
            store.delete(key)
        return len(keys)

    return shred
