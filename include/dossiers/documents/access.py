"""Who may add and who may read a dossier's documents (Arts. 6, 7, 16), through the one
permission check; every read is logged in ``access_log``.

*Adding* (``document.add``): the archivist any type (Customer Service files centrally,
Art. 6(2)); anyone else a type their department supplies (``DOCUMENT_SUPPLIERS``, Art. 6),
into the dossier of their own client, of a client of their department when they head it,
or of any client when their department is not the client's own (Planning files its
proposals into Marketing's client's dossier, Art. 6). A liaison may not write into a
colleague's client's dossier.

*Reading* (``dossier.read``, as a dossier's read): the client's own liaison and the archivist;
anyone else only through an approved, unexpired query grant whose scope includes
``documents`` (Art. 16).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, insert

from dossiers.core import clock
from dossiers.core.permissions import Action, Actor, Role, authorize
from dossiers.core.policy import DOCUMENT_SUPPLIERS
from dossiers.core.schema import access_log
from dossiers.core.vocabulary import DocumentType, QueryScope
from dossiers.workflows.access import active_scope

#: ``access_log`` actions of the reads (the permission checked is ``dossier.read``).
LIST_READ = "document.list"
CONTENT_READ = "document.read"


def check_may_add(conn: Connection, actor: Actor, dossier: Any,
                  document_type: DocumentType) -> None:
    record = f"dossier {dossier.dossier_no}"
    authorize(conn, actor, Action.DOCUMENT_ADD, subject=record)
    if Role.ARCHIVIST in actor.roles:
        return
    suppliers = DOCUMENT_SUPPLIERS[document_type]
    if actor.department not in suppliers:
        authorize(conn, actor, Action.DOCUMENT_ADD, subject=record, reason=(
            f"{document_type} documents are supplied by {', '.join(suppliers)}, not "
            f"{actor.department} (Art. 6)"))
    own_client = actor.staff_id == dossier.liaison_id
    heads_it = Role.DEPT_HEAD in actor.roles and actor.department == dossier.department
    other_department = actor.department != dossier.department
    if not (own_client or heads_it or other_department
            or actor.department == "customer_service"):
        authorize(conn, actor, Action.DOCUMENT_ADD, subject=record, reason=(
            "not your client: its liaison, their department head or the archivist adds its "
            "documents (Art. 7)"))


def read_basis(conn: Connection, actor: Actor, dossier: Any) -> str:
    """Why the actor may read the dossier's documents; refuses (logged) when they may not."""
    record = f"dossier {dossier.dossier_no}"
    authorize(conn, actor, Action.DOSSIER_READ, subject=record)
    if Role.ARCHIVIST in actor.roles:
        return "archivist"
    if actor.staff_id == dossier.liaison_id:
        return "liaison"
    scope = active_scope(conn, actor, dossier.id)
    if scope is None or QueryScope.DOCUMENTS not in scope:
        authorize(conn, actor, Action.DOSSIER_READ, subject=record, reason=(
            "only the client's own liaison and the archivist read its documents without an "
            "approved query grant whose scope includes documents (Art. 16): request one "
            "with `dossier queries request … --scope documents`"))
    return "grant"


def log_read(conn: Connection, actor: Actor, action: str, subject: str, basis: str) -> None:
    """The read, in ``access_log``, in its own transaction (kept whatever the caller does)."""
    with conn.engine.begin() as own:
        own.execute(insert(access_log).values(
            at=clock.now(), actor=actor.username, action=action, subject=subject,
            allowed=True, reason=json.dumps({"basis": basis})))
