"""The published reports, for those the policy gives them to (Arts. 21, 22).

Reading a report is an action like any other: it goes through
:func:`dossiers.core.permissions.authorize` (``report.read``). The reports carry dossier numbers,
counts and each person's KPI figures, never a client's personal data, and are for the
people who supervise and assess dossier work: department heads (their departments' scores,
Art. 22), the archivist, the CS head, the QA supervisor and management (Art. 21). A liaison
is not among them; a refusal is logged in ``access_log``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from dossiers.core.errors import NotFound
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import report


def listing(conn: Connection, actor: Actor, *, kind: str | None = None,
            fmt: str | None = None) -> list[Any]:
    """The published reports (one row per kind, period and format), newest period first."""
    authorize(conn, actor, Action.REPORT_READ, subject=f"reports {kind or 'all'}")
    query = select(report).order_by(report.c.period.desc(), report.c.kind, report.c.format)
    if kind is not None:
        query = query.where(report.c.kind == kind)
    if fmt is not None:
        query = query.where(report.c.format == fmt)
    return list(conn.execute(query).all())


def one(conn: Connection, actor: Actor, report_id: int) -> Any:
    """One published report's record (where it is stored, its SHA-256)."""
    authorize(conn, actor, Action.REPORT_READ, subject=f"report {report_id}")
    row = conn.execute(select(report).where(report.c.id == report_id)).one_or_none()
    if row is None:
        raise NotFound(f"no report {report_id}", record="report")
    return row
