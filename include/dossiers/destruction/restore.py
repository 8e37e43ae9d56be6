"""After a restore, destroyed stays destroyed (Art. 17).

A restore of a backup taken before a destruction brings the dossier back; the destruction
register (outside the database, :mod:`dossiers.destruction.register`) says which dossiers
were destroyed, and :func:`reapply` destroys again each one the restored database holds —
rows, documents' objects, the data key — and puts its tombstone back. The backups' restore
and restore drill call it after every restore.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from dossiers.core import db, ledger
from dossiers.core.crypto import KeyRing
from dossiers.core.objects import LocalObjectStore, ObjectStore, S3ObjectStore
from dossiers.core.permissions import Action, Actor, Role, authorize
from dossiers.core.schema import data_key, dossier, dossier_tombstone
from dossiers.core.vocabulary import LedgerAction
from dossiers.destruction.execution import DocumentShredder, destroy_dossier, no_documents
from dossiers.destruction.register import DestructionRegister
from dossiers.destruction.shredding import shredder
from dossiers.workflows.results import Result


@dataclass(frozen=True)
class Reapplied(Result):
    #: destroyed dossiers in the register
    registered: int
    #: of those, the ones the restored database had brought back (rows, key or tombstone)
    destroyed_again: list[str]


def reapply(conn: Connection, keyring: KeyRing, *, register: DestructionRegister | None = None,
            shred_documents: DocumentShredder = no_documents,
            actor: Actor | None = None) -> Reapplied:
    actor = actor or Actor.system("restore")
    if Role.SYSTEM not in actor.roles:  # the restore itself runs as the system
        authorize(conn, actor, Action.DESTRUCTION_EXECUTE, subject="destruction register")
    register = register or DestructionRegister()
    again = []
    count = 0
    for entry in register.entries():
        count += 1
        back = (conn.execute(select(dossier.c.id).where(dossier.c.id == entry.dossier_id)).first()
                or conn.execute(select(data_key.c.dossier_id).where(
                    data_key.c.dossier_id == entry.dossier_id,
                    data_key.c.wrapped_key.is_not(None))).first()
                or not conn.execute(select(dossier_tombstone.c.dossier_no).where(
                    dossier_tombstone.c.dossier_no == entry.dossier_no)).first())
        if not back:
            continue
        destroy_dossier(conn, keyring, entry, shred_documents)
        again.append(entry.dossier_no)
        ledger.append(conn, ledger.Entry(
            actor=actor.username, action=LedgerAction.DESTRUCTION_REAPPLY,
            subject_type="destruction_request", subject_id=entry.request_id,
            dossier_no=entry.dossier_no, details={"destroyed_at": entry.destroyed_at}))
    return Reapplied(count, again)


def reapply_into(url: str, documents: ObjectStore | LocalObjectStore | S3ObjectStore | None,
                 *, register: DestructionRegister | None = None) -> Reapplied:
    """After a restore into the database at ``url`` (and its documents into ``documents``):
    destroy again every registered dossier it brought back, as the system (the backups'
    restore and restore drill call this)."""
    engine = db.get_engine(url, app_role=False)
    try:
        with engine.begin() as conn:
            return reapply(conn, KeyRing(), register=register,
                           shred_documents=shredder(documents) if documents is not None
                           else no_documents)
    finally:
        db.dispose(url)
