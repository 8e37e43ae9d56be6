"""The published reports, for those the policy gives them to (Arts. 21, 22).

Reading a report is an action like any other: it goes through
:func:`dossiers.core.permissions.authorize` (``report.read``). The reports carry dossier numbers,
counts and each person's KPI figures, never a client's personal data, and are for the
people who supervise and assess dossier work: department heads (their departments' scores,
Art. 22), the archivist, the CS head, the QA supervisor and management (Art. 21). A liaison
is not among them; a refusal is logged in ``access_log``.

**What each reader sees** is the matrix's too. A report with rows about each department or
person (:data:`~dossiers.reports.model.DEPARTMENT_EDITIONS`: the KPI scorecards, the audits,
the annual update, the QA inspection) is read whole only with ``report.read_all`` (CS head,
archivist, QA supervisor, management: what they read before). Without it — a department
head — the same report (same id, same links) is their department's edition
(``report_edition``, HTML and CSV), and asking for the whole (its PDF, or an id with no
edition for them) is refused as ``report.read_all``, logged. Other reports are read whole.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, String, literal, select, union_all

from dossiers.core.errors import NotFound
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import report, report_edition
from dossiers.reports.model import DEPARTMENT_EDITIONS


def _whole() -> Select[Any]:
    return select(report.c.id, report.c.kind, report.c.period, report.c.format, report.c.uri,
                  report.c.sha256, report.c.created_at,
                  literal(None, String).label("department"))


def _editions(department: str | None) -> Select[Any]:
    return (select(report.c.id, report.c.kind, report.c.period, report.c.format,
                   report_edition.c.uri, report_edition.c.sha256, report_edition.c.created_at,
                   report_edition.c.department)
            .join(report_edition, report_edition.c.report_id == report.c.id)
            .where(report_edition.c.department == department))


def reads_whole(actor: Actor) -> bool:
    """Whether the actor reads every report whole (``report.read_all``)."""
    return actor.may(Action.REPORT_READ_ALL)


def listing(conn: Connection, actor: Actor, *, kind: str | None = None,
            fmt: str | None = None) -> list[Any]:
    """The published reports (one row per kind, period and format), newest period first:
    whole, or for a reader without ``report.read_all`` their department's editions of the
    reports that have editions."""
    authorize(conn, actor, Action.REPORT_READ, subject=f"reports {kind or 'all'}")
    parts = [_whole()] if reads_whole(actor) else [
        _whole().where(report.c.kind.not_in(DEPARTMENT_EDITIONS)), _editions(actor.department)]
    if kind is not None:
        parts = [p.where(report.c.kind == kind) for p in parts]
    if fmt is not None:
        parts = [p.where(report.c.format == fmt) for p in parts]
    rows = union_all(*parts).subquery()
    return list(conn.execute(select(rows).order_by(rows.c.period.desc(), rows.c.kind,
                                                   rows.c.format)).all())


def one(conn: Connection, actor: Actor, report_id: int) -> Any:
    """One published report's record (where it is stored, its SHA-256): the whole, or the
    reader's department's edition of it (see the module's docstring)."""
    if reads_whole(actor):
        return whole(conn, actor, report_id)
    authorize(conn, actor, Action.REPORT_READ, subject=f"report {report_id}")
    row = conn.execute(_whole().where(report.c.id == report_id)).one_or_none()
    if row is None:
        raise NotFound(f"no report {report_id}", record="report")
    if row.kind not in DEPARTMENT_EDITIONS:
        return row
    edition = conn.execute(_editions(actor.department).where(report.c.id == report_id)
                           ).one_or_none()
    if edition is None:  # there is only the whole, every department's rows: refused, logged
        authorize(conn, actor, Action.REPORT_READ_ALL, subject=f"report {report_id}")
    return edition


def whole(conn: Connection, actor: Actor, report_id: int) -> Any:
    """One published report whole, every department's and person's rows (``report.read_all``,
    which the matrix gives only with ``report.read``)."""
    authorize(conn, actor, Action.REPORT_READ_ALL, subject=f"report {report_id}")
    row = conn.execute(_whole().where(report.c.id == report_id)).one_or_none()
    if row is None:
        raise NotFound(f"no report {report_id}", record="report")
    return row


def latest(conn: Connection, actor: Actor, kind: str, fmt: str) -> Any:
    """The newest period's report of a kind in a format, as :func:`listing` gives it."""
    rows = listing(conn, actor, kind=kind, fmt=fmt)
    if rows:
        return rows[0]
    if kind in DEPARTMENT_EDITIONS and not reads_whole(actor) and \
            conn.execute(_whole().where(report.c.kind == kind, report.c.format == fmt)).first():
        # published, but only whole (a PDF; a period from before the editions): refused, logged
        authorize(conn, actor, Action.REPORT_READ_ALL, subject=f"reports {kind} {fmt}")
    raise NotFound(f"no {fmt} report of kind {kind!r} yet", record="report")
