"""Filing a document (Art. 15): the archivist files every document within 3 wd of its
confirmation; a delay needs the CS head's approval (the filing-delay request of
:mod:`dossiers.workflows.filing_delays`, decided with ``dossier dossiers approve-delay``)
and never takes more than 5 wd in all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, select, update

from dossiers.calendar import clocks
from dossiers.core import clock, ledger
from dossiers.core.errors import Refused
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import dossier_file
from dossiers.core.vocabulary import LedgerAction
from dossiers.documents.adding import FILING_CLOCK, SUBJECT, ledger_details
from dossiers.documents.reading import locate
from dossiers.workflows import filing_delays
from dossiers.workflows.results import Result


@dataclass(frozen=True)
class DocumentFiled(Result):
    document_id: str
    dossier_no: str
    filed_at: datetime
    due: date
    #: filed on or before its due date (the delayed one, when a delay was approved)
    in_time: bool


def file(conn: Connection, actor: Actor, document_id: uuid.UUID, *,
         at: datetime | None = None) -> DocumentFiled:
    """The archivist files a document: its filing clock stops (Art. 15)."""
    at = at or clock.local_now()
    row, owner = locate(conn, document_id)
    record = f"document {document_id}"
    authorize(conn, actor, Action.DOSSIER_FILE, subject=record)
    locked = conn.execute(select(dossier_file.c.filed_at).where(
        dossier_file.c.id == document_id).with_for_update()).scalar_one()
    if locked is not None:
        raise Refused(f"was already filed on {locked.date().isoformat()}", record=record)
    running = clocks.running(conn, FILING_CLOCK, SUBJECT, str(document_id))
    conn.execute(update(dossier_file).where(dossier_file.c.id == document_id)
                 .values(filed_at=at, filed_by=actor.staff_id))
    clocks.close_clock(conn, FILING_CLOCK, SUBJECT, str(document_id), at)
    due = running.due_on if running is not None else clock.local_date(at)
    in_time = at.astimezone(clock.local_now().tzinfo).date() <= due
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.DOCUMENT_FILE, subject_type=SUBJECT,
        subject_id=str(document_id), dossier_no=owner.dossier_no,
        details={**ledger_details(row.id, row.document_type, row.size, bytes(row.content_hash),
                                 row.content_hash_scheme),
                 "due": due.isoformat(), "in_time": in_time}))
    return DocumentFiled(str(document_id), owner.dossier_no, at, due, in_time)


def delay(conn: Connection, actor: Actor, document_id: uuid.UUID, *, until: date, reason: str,
          today: date | None = None) -> filing_delays.DelayRequested:
    """The archivist asks the CS head to let a document be filed later (Art. 15)."""
    _, owner = locate(conn, document_id)
    record = f"document {document_id}"
    authorize(conn, actor, Action.DOSSIER_FILE, subject=record)
    running = clocks.running(conn, FILING_CLOCK, SUBJECT, str(document_id), lock=True)
    return filing_delays.request_on(conn, actor, running, record=record,
                                    dossier_no=owner.dossier_no, until=until, reason=reason,
                                    today=today)
