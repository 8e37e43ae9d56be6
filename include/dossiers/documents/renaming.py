"""A renamed client's documents (Arts. 13, 15): their Art. 15 names are made from the client's
current name when read, so an applied name change renames every document of the dossier at
once; each rename is a ledger entry (its id, type, size and keyed hash, never a name).
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, select

from dossiers.core import ledger
from dossiers.core.permissions import Actor
from dossiers.core.schema import dossier_file
from dossiers.core.vocabulary import LedgerAction
from dossiers.documents.adding import SUBJECT, ledger_details


def client_renamed(conn: Connection, actor: Actor, dossier_id: uuid.UUID, dossier_no: str,
                   change_id: uuid.UUID) -> int:
    """Record the rename of every document of the dossier (in the caller's transaction, the
    one applying the update); how many were renamed."""
    rows = conn.execute(select(dossier_file.c.id, dossier_file.c.document_type,
                               dossier_file.c.size, dossier_file.c.content_hash,
                               dossier_file.c.content_hash_scheme)
                        .where(dossier_file.c.dossier_id == dossier_id)
                        .order_by(dossier_file.c.uploaded_at, dossier_file.c.id)).all()
    ledger.append_many(conn, (ledger.Entry(
        actor=actor.username, action=LedgerAction.DOCUMENT_RENAME, subject_type=SUBJECT,
        subject_id=str(r.id), dossier_no=dossier_no,
        details={**ledger_details(r.id, r.document_type, r.size, bytes(r.content_hash),
                                 r.content_hash_scheme),
                 "update": str(change_id)}) for r in rows))
    return len(rows)
