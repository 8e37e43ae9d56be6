"""Findings: what a duty found about one dossier, kept once per duty, period and check.

A finding with a deadline is a rectification item (Arts. 14, 21): its owner gets a
``rectification`` clock, which the SLA watch follows, and the next run of the duty
re-checks it (:func:`recheck`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert

from dossiers.clocks import close_clock, open_clock
from dossiers.config import SHANGHAI
from dossiers.schema import finding


@dataclass(frozen=True)
class Gap:
    """One dossier failing one check (a completeness expectation, a consistency rule)."""

    dossier_id: uuid.UUID
    check_id: str
    article: str
    dimension: str
    severity: str  # error | warning
    description: str


def record(conn: Connection, duty: str, period: str, gaps: Iterable[Gap],
           owners: dict[uuid.UUID, int], *, rectify_from: date | None = None) -> int:
    """Store the gaps as findings (once per duty, period, dossier and check). With
    ``rectify_from`` each new one becomes a rectification item with a clock. Returns how
    many were new."""
    new = 0
    for g in gaps:
        owner = owners.get(g.dossier_id)
        inserted = conn.execute(insert(finding).values(
            duty=duty, period=period, dossier_id=g.dossier_id, check_id=g.check_id,
            article=g.article, dimension=g.dimension, severity=g.severity,
            description=g.description, owner_id=owner,
        ).on_conflict_do_nothing().returning(finding.c.id)).scalar()
        if inserted is None:
            continue
        new += 1
        if rectify_from is not None:
            due = open_clock(conn, "rectification", "finding", str(inserted),
                             "rectification_wd", owner_id=owner, start=rectify_from)
            conn.execute(update(finding).where(finding.c.id == inserted).values(due_on=due.due))
    return new


def recheck(conn: Connection, duty: str, period: str,
            failing_now: set[tuple[uuid.UUID, str]]) -> dict[str, int]:
    """Re-check the open rectification items of earlier periods of ``duty`` against what
    fails now: resolved ones close their clock, the others persist (Art. 14)."""
    now = datetime.now(SHANGHAI)
    open_items = conn.execute(select(finding.c.id, finding.c.dossier_id, finding.c.check_id)
                              .where(finding.c.duty == duty, finding.c.period < period,
                                     finding.c.status.in_(("open", "persisting")))).all()
    counts = {"rechecked": len(open_items), "resolved": 0, "persisting": 0}
    for item in open_items:
        still = (item.dossier_id, item.check_id) in failing_now
        conn.execute(update(finding).where(finding.c.id == item.id).values(
            status="persisting" if still else "resolved", rechecked_in=period,
            resolved_at=None if still else now))
        if not still:
            close_clock(conn, "rectification", "finding", str(item.id), now)
        counts["persisting" if still else "resolved"] += 1
    return counts
