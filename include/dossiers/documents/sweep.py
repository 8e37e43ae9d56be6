"""Removing what an interrupted upload left behind (Art. 18): no row without its object, no
object without its row.

An upload registers its storage key (``dossier_file_upload``, committed) before the first
byte reaches the store and removes it in the transaction that records the document. So
after ``document_upload_grace_hours``:

* an upload row still there belongs to an upload that never finished: its object (if any)
  and the row are removed;
* an object in the store whose key is neither a document's nor an upload's in progress is
  an orphan (its upload row went with a rolled-back transaction, or it was never
  registered): it is removed.

A document whose object is missing is not the sweep's to fix: ``documents verify`` names it.
The store's own leftovers of a killed write (the local store's ``.partial-*`` files, an S3
multipart upload never completed) are the store's to clean (S3: a lifecycle rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select

from dossiers.core import clock, ledger
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.policy import policy
from dossiers.core.schema import dossier_file, dossier_file_upload
from dossiers.core.vocabulary import LedgerAction
from dossiers.documents import store
from dossiers.workflows.results import Result


@dataclass(frozen=True)
class Swept(Result):
    #: unfinished uploads older than the grace period, removed with their objects
    stale_uploads: int
    #: objects in the store with neither a document nor an upload in progress
    orphan_objects: int
    kept_in_progress: int


def sweep(conn: Connection, actor: Actor, *, at: datetime | None = None,
          object_store: store.Store | None = None) -> Swept:
    authorize(conn, actor, Action.DOCUMENT_SWEEP, subject="document store")
    at = at or clock.now()
    cutoff = at - timedelta(hours=policy().document_upload_grace_hours)
    objects = object_store or store.document_store()
    # The store first, the rows after: an upload registers its row before its object
    # appears, so every object listed here has a row (or had one) that the reads below see.
    present = list(objects.keys())
    documents = set(conn.execute(select(dossier_file.c.storage_key)).scalars())
    uploads = dict(conn.execute(select(dossier_file_upload.c.storage_key,
                                       dossier_file_upload.c.started_at)).tuples().all())
    stale = sorted(k for k, started in uploads.items() if started < cutoff)
    for key in stale:
        objects.delete(key)
    if stale:
        conn.execute(delete(dossier_file_upload).where(
            dossier_file_upload.c.storage_key.in_(stale)))
    orphans = 0
    for key in present:
        if key not in documents and key not in uploads:
            objects.delete(key)
            orphans += 1
    result = Swept(len(stale), orphans, len(uploads) - len(stale))
    if stale or orphans:
        ledger.append(conn, ledger.Entry(
            actor=actor.username, action=LedgerAction.DOCUMENT_SWEEP, subject_type="document_store",
            subject_id=objects.location,
            details={"stale_uploads": len(stale), "orphan_objects": orphans}))
    return result
