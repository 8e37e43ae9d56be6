"""The monthly owner check (Art. 12): each liaison gets the list of their dossiers with gaps,
stale parts or open items, with the article each gap breaks.

Gaps come from the completeness checks (GX, :mod:`dossiers.quality`); stale parts and
open items are read here. Every gap is kept as a finding of ``owner_check`` for the
period, so the KPI scorecard and the next check can count them; nothing is sent twice
for one period.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, Text, func, select

from dossiers.calendar.clocks import add_months
from dossiers.core.config import SHANGHAI
from dossiers.core.db import among
from dossiers.core.policy import policy
from dossiers.core.schema import (
    clock,
    communication,
    dossier,
    dossier_change,
    dossier_file,
    loan,
    staff,
)
from dossiers.core.vocabulary import DossierStatus, LoanStatus, Stage, UpdateStatus
from dossiers.documents.adding import SUBJECT
from dossiers.duties import documents_check, findings, mail, runs
from dossiers.duties.findings import Gap
from dossiers.duties.mail import Message, staff_address

DUTY = "owner_check"
MAIL_KIND = "monthly_check"


def stale_gaps(conn: Connection, as_of: date) -> list[Gap]:
    """Active clients with no communication record for ``stale_communication_months``.

    An anti-join on the communications since then (PostgreSQL hashes only those, on both
    cores), and the newest communication read only for the dossiers it finds: not the
    newest of every dossier over all 5 M communications at a million dossiers, which took
    twice as long (issue 16)."""
    since = datetime.combine(add_months(as_of, -policy().stale_communication_months), time(),
                             SHANGHAI)
    recent = (select(communication.c.id)
              .where(communication.c.dossier_id == dossier.c.id,
                     communication.c.occurred_at >= since))
    last = (select(func.max(communication.c.occurred_at))
            .where(communication.c.dossier_id == dossier.c.id).scalar_subquery())
    rows = conn.execute(select(dossier.c.id, last.label("at"))
                        .where(dossier.c.stage == Stage.ACTIVE, dossier.c.status == DossierStatus.OPEN,
                               ~recent.exists())).all()
    return [Gap(r.id, "stale.communication", policy().article("stale_communication_months"),
                "communication", "warning",
                f"no communication record since {r.at.date().isoformat() if r.at else 'creation'}")
            for r in rows]


def open_items(conn: Connection) -> dict[int, list[str]]:
    """What each person has open: running deadlines, update forms, loans out."""
    items: dict[int, list[str]] = defaultdict(list)
    file_dossier = dossier.alias("file_dossier")  # a document's dossier
    for c in conn.execute(
            select(clock.c.owner_id, clock.c.kind, clock.c.due_on, dossier.c.dossier_no,
                   clock.c.subject_type, clock.c.subject_id,
                   file_dossier.c.dossier_no.label("file_dossier_no"))
            .outerjoin(dossier, (clock.c.subject_type == "dossier")
                       & (dossier.c.id.cast(Text) == clock.c.subject_id))
            .outerjoin(dossier_file, (clock.c.subject_type == SUBJECT)
                       & (dossier_file.c.id.cast(Text) == clock.c.subject_id))
            .outerjoin(file_dossier, file_dossier.c.id == dossier_file.c.dossier_id)
            .where(clock.c.met_at.is_(None), clock.c.owner_id.is_not(None))
            .order_by(clock.c.due_on)):
        what = (f"dossier {c.dossier_no}" if c.dossier_no else
                f"document {c.subject_id} of dossier {c.file_dossier_no}" if c.file_dossier_no
                else f"{c.subject_type} {c.subject_id}")
        items[c.owner_id].append(f"{c.kind} of {what}, due {c.due_on.isoformat()}")
    for ch in conn.execute(select(dossier_change.c.requested_by, dossier_change.c.status,
                                  dossier.c.dossier_no)
                           .join(dossier, dossier.c.id == dossier_change.c.dossier_id)
                           .where(dossier_change.c.status.in_((
                               UpdateStatus.SUBMITTED, UpdateStatus.REVIEWED, UpdateStatus.APPROVED)))):
        items[ch.requested_by].append(f"update form of dossier {ch.dossier_no} is {ch.status}")
    for ln in conn.execute(select(loan.c.requester_id, loan.c.due_on)
                           .where(loan.c.status == LoanStatus.LENT)):
        items[ln.requester_id].append(f"paper volumes on loan, due back {ln.due_on.isoformat()}")
    return items


def owner_check(conn: Connection, period_start: date, gaps: Iterable[Gap],
                today: date) -> tuple[dict[str, Any], list[Message]]:
    """Run the check for the month starting ``period_start``; the e-mails to send, which are
    also in the outbox (:func:`dossiers.duties.mail.deliver` sends them)."""
    period = runs.period_key("month", period_start)
    run = runs.claim(conn, DUTY, period)
    if run is None:
        return {"period": period, "skipped": "already done for this period"}, []
    everything = list(gaps) + stale_gaps(conn, today) + documents_check.unfiled_gaps(conn, today)
    # Only the dossiers with gaps are read (not every open dossier: a million rows).
    with_gaps = conn.execute(select(dossier.c.id, dossier.c.dossier_no, dossier.c.liaison_id)
                             .where(dossier.c.status == DossierStatus.OPEN,
                                    dossier.c.id == among({g.dossier_id for g in everything}))
                             ).all()
    owners = {d.id: d.liaison_id for d in with_gaps}
    number = {d.id: d.dossier_no for d in with_gaps}
    relevant = [g for g in everything if g.dossier_id in owners]
    findings.record(conn, DUTY, period, relevant, owners)
    by_liaison: dict[int, dict[uuid.UUID, list[Gap]]] = defaultdict(lambda: defaultdict(list))
    for g in relevant:
        by_liaison[owners[g.dossier_id]][g.dossier_id].append(g)
    open_dossiers = dossier.c.status == DossierStatus.OPEN
    checked = conn.execute(select(func.count()).select_from(dossier).where(open_dossiers)
                           ).scalar_one()
    liaisons = set(conn.execute(select(dossier.c.liaison_id).distinct().where(open_dossiers))
                   .scalars())
    usernames = dict(conn.execute(select(staff.c.id, staff.c.username)).tuples().all())
    pending = open_items(conn)
    out = []
    for person in sorted(set(by_liaison) | (set(pending) & liaisons)):
        username = usernames[person]
        lines = [f"Monthly dossier check for {username}, {period} (Art. 12 每月自查):", ""]
        for d_id, found in sorted(by_liaison.get(person, {}).items(), key=lambda i: number[i[0]]):
            lines.append(f"Dossier {number[d_id]}:")
            lines += [f"  - [{g.severity}] {g.check_id} ({g.article}, {g.dimension}): "
                      f"{g.description}" for g in found]
        if pending.get(person):
            lines += ["", "Open items 待辦:"] + [f"  - {i}" for i in pending[person]]
        out.append(Message(to=(staff_address(username),),
                           subject=f"[dossiers] monthly check {period}: "
                                   f"{len(by_liaison.get(person, {}))} dossier(s) with gaps",
                           text="\n".join(lines)))
    summary = {"period": period, "dossiers_checked": checked,
               "dossiers_with_gaps": len({g.dossier_id for g in relevant}),
               "gaps": len(relevant), "liaisons_notified": len(out)}
    mail.enqueue(conn, DUTY, period, MAIL_KIND, out)
    runs.finish(conn, run, summary)
    return summary, out
