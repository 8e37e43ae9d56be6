"""The SLA watch (Arts. 8, 11, 13, 15, 16, 21): every running clock, every working day.

A clock due within ``reminder_before_wd`` working days gets a reminder to its owner; an
overdue one gets a reminder to its owner and an escalation to the owner's department head
(the CS head for Customer Service's own duties). Clocks with no single owner (Customer
Service's: creation, applying updates) go to the archivists. Each reminder is recorded
once per clock, kind and day, and each day's mails go into the outbox with them (one per
person, kind :data:`MAIL_KIND`), so a retry or a second run on the same day sends nothing new.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Text, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import aliased

from dossiers.calendar.workdays import default_calendar
from dossiers.core import clock as domain_clock
from dossiers.core.permissions import Role
from dossiers.core.policy import policy
from dossiers.core.schema import clock, dossier, dossier_file, reminder, staff, staff_role
from dossiers.documents.adding import SUBJECT
from dossiers.duties import mail, runs
from dossiers.duties.mail import Message, staff_address

DUTY = "sla_watch"
MAIL_KIND = "deadlines"


@dataclass(frozen=True)
class Notice:
    recipient_id: int
    username: str
    kind: str  # due_soon | overdue | escalation
    clock_kind: str
    subject: str
    article: str
    due_on: date
    owner: str | None


def _heads(conn: Connection) -> tuple[dict[str, int], list[int], list[int]]:
    """Department heads by department, the CS heads, the archivists (active staff)."""
    rows = conn.execute(select(staff.c.id, staff.c.department, staff_role.c.role)
                        .join(staff_role, staff_role.c.staff_id == staff.c.id)
                        .where(staff.c.active).order_by(staff.c.id)).all()
    heads: dict[str, int] = {}
    for r in rows:
        if r.role == Role.DEPT_HEAD:
            heads.setdefault(r.department, r.id)
    return (heads, [r.id for r in rows if r.role == Role.CS_HEAD],
            [r.id for r in rows if r.role == Role.ARCHIVIST])


def watch(conn: Connection, today: date) -> tuple[dict[str, Any], list[Message]]:
    """Record today's reminders and escalations; the messages to send for the new ones, which
    are also in the outbox (:func:`dossiers.duties.mail.deliver` sends them)."""
    run = runs.claim(conn, DUTY, runs.period_key("day", today))
    if run is None:
        return {"skipped": "already done for this day"}, []
    cal = default_calendar()
    soon = cal.add(today, policy().reminder_before_wd).date
    owner = aliased(staff)
    file_dossier = dossier.alias("file_dossier")  # a document's dossier (Art. 15 filing)
    rows = conn.execute(
        select(clock, owner.c.username.label("owner_name"), owner.c.department.label("owner_dept"),
               dossier.c.dossier_no, file_dossier.c.dossier_no.label("file_dossier_no"))
        .outerjoin(owner, owner.c.id == clock.c.owner_id)
        .outerjoin(dossier, (clock.c.subject_type == "dossier")
                   & (dossier.c.id.cast(Text) == clock.c.subject_id))
        .outerjoin(dossier_file, (clock.c.subject_type == SUBJECT)
                   & (dossier_file.c.id.cast(Text) == clock.c.subject_id))
        .outerjoin(file_dossier, file_dossier.c.id == dossier_file.c.dossier_id)
        .where(clock.c.met_at.is_(None), clock.c.due_on <= soon)
        .order_by(clock.c.due_on, clock.c.id)).all()
    heads, cs_heads, archivists = _heads(conn)
    names = dict(conn.execute(select(staff.c.id, staff.c.username)).tuples().all())
    planned: list[tuple[Any, str, int]] = []
    for c in rows:
        owners = [c.owner_id] if c.owner_id else archivists
        kind = "overdue" if c.due_on < today else "due_soon"
        planned += [(c, kind, o) for o in owners]
        if kind == "overdue":  # to the owner's head; the CS head above heads and CS
            head = heads.get(c.owner_dept) if c.owner_dept != "customer_service" else None
            above = [head] if head and head != c.owner_id else cs_heads
            planned += [(c, "escalation", h) for h in above if h != c.owner_id]
    notices = []
    for c, kind, recipient in planned:
        inserted = conn.execute(insert(reminder).values(
            clock_id=c.id, kind=kind, for_date=today, recipient_id=recipient, sent_at=domain_clock.now())
            .on_conflict_do_nothing().returning(reminder.c.id)).first()
        if inserted is None:
            continue  # this clock already had this reminder today
        subject = (f"dossier {c.dossier_no}" if c.dossier_no else
                   f"document {c.subject_id} of dossier {c.file_dossier_no}" if c.file_dossier_no
                   else f"{c.subject_type} {c.subject_id}")
        notices.append(Notice(recipient, names[recipient], kind, c.kind, subject, c.article,
                              c.due_on, c.owner_name))
    counts = {k: sum(1 for n in notices if n.kind == k)
              for k in ("due_soon", "overdue", "escalation")}
    summary = {"date": today.isoformat(), "clocks_due_or_overdue": len(rows), **counts}
    out = messages(notices, today)
    mail.enqueue(conn, DUTY, run.period, MAIL_KIND, out)
    runs.finish(conn, run, summary)
    return summary, out


def messages(notices: list[Notice], today: date) -> list[Message]:
    """One e-mail per person, listing what is due, overdue or escalated to them."""
    by_person: dict[str, list[Notice]] = defaultdict(list)
    for n in notices:
        by_person[n.username].append(n)
    heading = {"due_soon": "Due soon 即將到期", "overdue": "Overdue 已逾期",
               "escalation": "Escalated to you 升級至您處理"}
    out = []
    for username, items in sorted(by_person.items()):
        lines = [f"Dossier deadlines for {username} on {today.isoformat()} "
                 f"(檔案管理期限提醒):", ""]
        for kind in ("escalation", "overdue", "due_soon"):
            mine = [n for n in items if n.kind == kind]
            if mine:
                lines.append(heading[kind])
                lines += [f"  - {n.clock_kind} of {n.subject}: due {n.due_on.isoformat()} "
                          f"({n.article}){f', owner {n.owner}' if kind == 'escalation' else ''}"
                          for n in mine]
                lines.append("")
        worst = "escalation" if any(n.kind == "escalation" for n in items) else (
            "overdue" if any(n.kind == "overdue" for n in items) else "due soon")
        out.append(Message(to=(staff_address(username),),
                           subject=f"[dossiers] {len(items)} deadline(s) {worst} - {today}",
                           text="\n".join(lines)))
    return out
