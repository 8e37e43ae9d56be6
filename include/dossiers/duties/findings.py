"""Findings: what a duty found about one dossier (or, for the compliance check, about a
subject that is no dossier: a staff member, the key ring, Art. 20), kept once per duty,
period and check.

A finding with a deadline is a rectification item (Arts. 14, 21): its owner gets a
``rectification`` clock, which the SLA watch follows, and the next run of the duty
re-checks it (:func:`recheck`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, text

from dossiers.calendar.clocks import close_clock, due_after, open_clocks
from dossiers.core import clock


@dataclass(frozen=True)
class Gap:
    """One dossier failing one check (a completeness expectation, a consistency rule)."""

    dossier_id: uuid.UUID
    check_id: str
    article: str
    dimension: str
    severity: str  # error | warning
    description: str


@dataclass(frozen=True)
class SubjectGap:
    """One subject that is no dossier (``staff wang.li``, ``keyring``) failing one check."""

    subject: str
    check_id: str
    article: str
    dimension: str
    severity: str
    description: str


#: The policy rule that sets a rectification item's deadline.
RECTIFICATION_RULE = "rectification_wd"


def record(conn: Connection, duty: str, period: str, gaps: Iterable[Gap],
           owners: dict[uuid.UUID, int], *, rectify_from: date | None = None) -> int:
    """Store the gaps as findings (once per duty, period, dossier and check). With
    ``rectify_from`` each new one becomes a rectification item with a clock. Returns how
    many were new.

    One statement for all of them: a monthly owner check of a million dossiers records
    hundreds of thousands of gaps, one round trip each would take minutes."""
    gaps = list(gaps)
    if not gaps:
        return 0
    due = due_after(rectify_from, RECTIFICATION_RULE) if rectify_from is not None else None
    # The new rows come back only when they get clocks: the owner check stores 254,294
    # findings at a million dossiers and needs only how many were new.
    result = conn.execute(_INSERT_FINDINGS_RETURNING if rectify_from is not None
                          else _INSERT_FINDINGS, {
        "duty": duty, "period": period, "due_on": due.due if due else None,
        "found_at": clock.now(),
        "dossier_ids": [g.dossier_id for g in gaps], "check_ids": [g.check_id for g in gaps],
        "articles": [g.article for g in gaps], "dimensions": [g.dimension for g in gaps],
        "severities": [g.severity for g in gaps], "descriptions": [g.description for g in gaps],
        "owner_ids": [owners.get(g.dossier_id) for g in gaps],
    })
    if rectify_from is None:
        return result.rowcount
    new = result.all()
    open_clocks(conn, "rectification", "finding", [(str(f.id), f.owner_id) for f in new],
                RECTIFICATION_RULE, start=rectify_from)
    return len(new)


_INSERT_FINDINGS_SQL = """
INSERT INTO finding (duty, period, dossier_id, check_id, article, dimension, severity,
                     description, owner_id, due_on, found_at)
SELECT :duty, :period, g.dossier_id, g.check_id, g.article, g.dimension, g.severity,
       g.description, g.owner_id, CAST(:due_on AS date), CAST(:found_at AS timestamptz)
FROM unnest(CAST(:dossier_ids AS uuid[]), CAST(:check_ids AS text[]), CAST(:articles AS text[]),
            CAST(:dimensions AS text[]), CAST(:severities AS text[]),
            CAST(:descriptions AS text[]), CAST(:owner_ids AS integer[]))
     AS g(dossier_id, check_id, article, dimension, severity, description, owner_id)
ON CONFLICT (duty, period, dossier_id, check_id) DO NOTHING
"""
_INSERT_FINDINGS = text(_INSERT_FINDINGS_SQL)
_INSERT_FINDINGS_RETURNING = text(_INSERT_FINDINGS_SQL + "RETURNING id, owner_id\n")


def record_subjects(conn: Connection, duty: str, period: str, gaps: Iterable[SubjectGap],
                    owner_id: int | None, *, rectify_from: date) -> int:
    """Store findings about subjects that are no dossier, each a rectification item of
    ``owner_id`` with a clock (once per duty, period, subject and check). Returns how many
    were new."""
    gaps = list(gaps)
    if not gaps:
        return 0
    due = due_after(rectify_from, RECTIFICATION_RULE)
    new = conn.execute(_INSERT_SUBJECT_FINDINGS, {
        "duty": duty, "period": period, "due_on": due.due, "found_at": clock.now(),
        "owner_id": owner_id, "subjects": [g.subject for g in gaps],
        "check_ids": [g.check_id for g in gaps], "articles": [g.article for g in gaps],
        "dimensions": [g.dimension for g in gaps], "severities": [g.severity for g in gaps],
        "descriptions": [g.description for g in gaps],
    }).all()
    open_clocks(conn, "rectification", "finding", [(str(f.id), f.owner_id) for f in new],
                RECTIFICATION_RULE, start=rectify_from)
    return len(new)


_INSERT_SUBJECT_FINDINGS = text("""
INSERT INTO finding (duty, period, subject, check_id, article, dimension, severity,
                     description, owner_id, due_on, found_at)
SELECT :duty, :period, g.subject, g.check_id, g.article, g.dimension, g.severity,
       g.description, CAST(:owner_id AS integer), CAST(:due_on AS date),
       CAST(:found_at AS timestamptz)
FROM unnest(CAST(:subjects AS text[]), CAST(:check_ids AS text[]), CAST(:articles AS text[]),
            CAST(:dimensions AS text[]), CAST(:severities AS text[]),
            CAST(:descriptions AS text[]))
     AS g(subject, check_id, article, dimension, severity, description)
ON CONFLICT (duty, period, subject, check_id) WHERE dossier_id IS NULL DO NOTHING
RETURNING id, owner_id
""")


def recheck(conn: Connection, duty: str, period: str,
            failing_now: set[tuple[uuid.UUID, str]],
            failing_subjects: set[tuple[str, str]] | None = None) -> dict[str, int]:
    """Re-check the open rectification items of earlier periods of ``duty`` against what
    fails now (``(dossier, check)``, and ``(subject, check)`` for findings about no dossier):
    resolved ones close their clock, the others persist (Art. 14)."""
    now = clock.now()
    failing = sorted(failing_now)
    others = sorted(failing_subjects or ())
    outcome = conn.execute(_RECHECK, {
        "duty": duty, "period": period, "now": now,
        "dossier_ids": [d for d, _ in failing], "check_ids": [c for _, c in failing],
        "subjects": [s for s, _ in others], "subject_checks": [c for _, c in others],
    }).all()
    resolved = [str(item.id) for item in outcome if item.status == "resolved"]
    close_clock(conn, "rectification", "finding", resolved, now)
    return {"rechecked": len(outcome), "resolved": len(resolved),
            "persisting": len(outcome) - len(resolved)}


_RECHECK = text("""
WITH failing AS (
    SELECT * FROM unnest(CAST(:dossier_ids AS uuid[]), CAST(:check_ids AS text[]))
        AS f(dossier_id, check_id)
), failing_subjects AS (
    SELECT * FROM unnest(CAST(:subjects AS text[]), CAST(:subject_checks AS text[]))
        AS f(subject, check_id)
), judged AS (
    SELECT i.id, (EXISTS (SELECT 1 FROM failing f WHERE f.dossier_id = i.dossier_id
                                                 AND f.check_id = i.check_id)
                  OR EXISTS (SELECT 1 FROM failing_subjects f
                             WHERE i.dossier_id IS NULL AND f.subject = i.subject
                               AND f.check_id = i.check_id)) AS still
    FROM finding i
    WHERE i.duty = :duty AND i.period < :period AND i.status IN ('open', 'persisting')
)
UPDATE finding SET status = CASE WHEN j.still THEN 'persisting' ELSE 'resolved' END,
                   rechecked_in = :period,
                   resolved_at = CASE WHEN j.still THEN NULL ELSE CAST(:now AS timestamptz) END
FROM judged j WHERE finding.id = j.id
RETURNING finding.id, finding.status
""")
