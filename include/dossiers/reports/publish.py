"""Publish a report: render, store, record in ``report``, ledger; then e-mail what changed.

One ``report`` row per kind, period and format (its unique key). Publishing the same period
again **replaces** the stored object under the same name and updates the row's URI and
digest when the bytes differ (a re-run after a correction), and **changes nothing** when
they are the same (a retry, a second run): the report is rendered from ``as_of`` data, so
the same data gives the same bytes. Every new or replaced object is ledgered
(``report.publish``, with the digest it replaced), so the history of a period's report stays
traceable although the store keeps only the current version.

The object is written before the transaction commits; if it then rolls back, the next run
writes it again. :func:`send` is called after the commit (a mail cannot be rolled back) and
mails what is still to be mailed: new or replaced files, and unchanged ones whose last
publication was never mailed to everyone (the ledger has no ``report.mail`` after its
``report.publish``: the mail server was down or refused a recipient, the task died between
commit and mail). The mail goes through the outbox (:mod:`dossiers.duties.mail`), one copy per
recipient, so a retry sends it only to those who do not have it yet; once everyone has it,
``report.mail`` is ledgered, and a re-run mails nothing.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import insert

from dossiers.core import clock, db, ledger
from dossiers.core.config import settings
from dossiers.core.schema import ledger_entry, report_edition
from dossiers.core.schema import report as report_table
from dossiers.core.vocabulary import LedgerAction
from dossiers.duties import mail
from dossiers.reports.model import (
    DEPARTMENT_EDITIONS,
    EDITION_FORMATS,
    FORMATS,
    KINDS,
    Format,
    Label,
    Report,
    edition,
)
from dossiers.reports.store import CONTENT_TYPES, LocalStore, S3Store, object_key, open_store

Status = Literal["new", "replaced", "unchanged"]


@dataclass(frozen=True)
class Rendered:
    format: Format
    filename: str
    content_type: str
    data: bytes = field(repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Published:
    format: Format
    filename: str
    uri: str
    sha256: str
    status: Status
    data: bytes = field(repr=False)
    #: Not mailed yet: new, replaced, or published earlier and never mailed.
    to_mail: bool = True


def _subject(report: Report, fmt: str) -> str:
    """The ledger subject of one stored format: ``sampling_audit/2026-Q4/pdf``."""
    return f"{report.kind}/{report.period}/{fmt}"


def _mail_pending(conn: Connection, subject: str) -> bool:
    """Whether the last publication of ``subject`` has no ``report.mail`` after it."""
    last = dict(conn.execute(
        select(ledger_entry.c.action, func.max(ledger_entry.c.seq))
        .where(ledger_entry.c.subject_type == "report", ledger_entry.c.subject_id == subject,
               ledger_entry.c.action.in_((LedgerAction.REPORT_PUBLISH, LedgerAction.REPORT_MAIL)))
        .group_by(ledger_entry.c.action)).tuples().all())
    published, mailed = LedgerAction.REPORT_PUBLISH, LedgerAction.REPORT_MAIL
    return published in last and last.get(mailed, -1) < last[published]


def render(report: Report, fmt: Format) -> Rendered:
    """One format of the report: ``.pdf``, ``.html``, or the CSV files zipped (``-csv.zip``)."""
    if fmt == "pdf":
        from dossiers.reports.pdf import render_pdf

        return Rendered(fmt, f"{report.stem}.pdf", CONTENT_TYPES["pdf"], render_pdf(report))
    if fmt == "html":
        from dossiers.reports.html import render_html

        return Rendered(fmt, f"{report.stem}.html", CONTENT_TYPES["html"],
                        render_html(report).encode("utf-8"))
    if fmt == "csv":
        from dossiers.reports.csv import bundle, render_csv

        return Rendered(fmt, f"{report.stem}-csv.zip", CONTENT_TYPES["zip"],
                        bundle(report, render_csv(report)))
    raise ValueError(f"unknown report format {fmt!r}; one of {', '.join(FORMATS)}")


def publish(conn: Connection, report: Report, formats: Sequence[Format] = FORMATS, *,
            store: LocalStore | S3Store | None = None, actor: str = "system") -> list[Published]:
    """Store each format, record it in ``report`` (in the caller's transaction), ledger it."""
    store = store or open_store()
    out = []
    for fmt in formats:
        rendered = render(report, fmt)
        digest = rendered.sha256
        current = conn.execute(select(report_table.c.uri, report_table.c.sha256).where(
            report_table.c.kind == report.kind, report_table.c.period == report.period,
            report_table.c.format == fmt).with_for_update()).one_or_none()
        if current is not None and current.sha256 == digest:
            out.append(Published(fmt, rendered.filename, current.uri, digest, "unchanged",
                                 rendered.data, _mail_pending(conn, _subject(report, fmt))))
            continue
        uri = store.put(object_key(report, rendered.filename), rendered.data,
                        rendered.content_type, digest)
        stmt = insert(report_table).values(kind=report.kind, period=report.period, format=fmt,
                                           uri=uri, sha256=digest, created_at=clock.now())
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["kind", "period", "format"],
            set_={"uri": stmt.excluded.uri, "sha256": stmt.excluded.sha256,
                  "created_at": stmt.excluded.created_at}))
        ledger.append(conn, ledger.Entry(
            actor=actor, action=LedgerAction.REPORT_PUBLISH, subject_type="report",
            subject_id=_subject(report, fmt),
            details={"uri": uri, "sha256": digest, "bytes": len(rendered.data),
                     **({"replaced_sha256": current.sha256} if current is not None else {})}))
        out.append(Published(fmt, rendered.filename, uri, digest,
                             "new" if current is None else "replaced", rendered.data))
    return out


def publish_editions(conn: Connection, report: Report, departments: Mapping[str, Label], *,
                     store: LocalStore | S3Store | None = None,
                     actor: str = "system") -> list[Published]:
    """Store each department's edition of a report that has them (Art. 22; HTML and CSV,
    :data:`~dossiers.reports.model.EDITION_FORMATS`), recorded in ``report_edition`` against
    the whole's ``report`` row (publish the whole first), ledgered as ``report.publish`` of
    ``<kind>/<period>/<format>/<department>``; unchanged bytes change nothing, as for the
    whole. Editions are read on the report pages, never mailed."""
    if report.kind not in DEPARTMENT_EDITIONS or report.department is not None:
        return []
    store = store or open_store()
    whole = dict(conn.execute(select(report_table.c.format, report_table.c.id).where(
        report_table.c.kind == report.kind, report_table.c.period == report.period,
        report_table.c.format.in_(EDITION_FORMATS))).tuples().all())
    out = []
    for department, name in departments.items():
        part = edition(report, department, name)
        for fmt in (f for f in EDITION_FORMATS if f in whole):
            rendered = render(part, fmt)
            digest = rendered.sha256
            current = conn.execute(select(report_edition.c.uri, report_edition.c.sha256).where(
                report_edition.c.report_id == whole[fmt],
                report_edition.c.department == department).with_for_update()).one_or_none()
            if current is not None and current.sha256 == digest:
                out.append(Published(fmt, rendered.filename, current.uri, digest, "unchanged",
                                     rendered.data, to_mail=False))
                continue
            uri = store.put(object_key(part, rendered.filename), rendered.data,
                            rendered.content_type, digest)
            stmt = insert(report_edition).values(report_id=whole[fmt], department=department,
                                                 uri=uri, sha256=digest, created_at=clock.now())
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["report_id", "department"],
                set_={"uri": stmt.excluded.uri, "sha256": stmt.excluded.sha256,
                      "created_at": stmt.excluded.created_at}))
            ledger.append(conn, ledger.Entry(
                actor=actor, action=LedgerAction.REPORT_PUBLISH, subject_type="report",
                subject_id=f"{_subject(report, fmt)}/{department}",
                details={"uri": uri, "sha256": digest, "bytes": len(rendered.data),
                         "department": department,
                         **({"replaced_sha256": current.sha256} if current is not None else {})}))
            out.append(Published(fmt, rendered.filename, uri, digest,
                                 "new" if current is None else "replaced", rendered.data,
                                 to_mail=False))
    return out


def recipients(report: Report) -> tuple[str, ...]:
    """Compliance reports go to the compliance recipients, the others to management, the
    compliance check's to both."""
    audience = KINDS[report.kind][1] if report.kind in KINDS else report.audience
    s = settings()
    if audience == "compliance_and_management":  # Art. 20: the compliance check
        return tuple(dict.fromkeys((*s.compliance_recipients, *s.management_recipients)))
    return s.compliance_recipients if audience == "compliance" else s.management_recipients


def messages(report: Report, published: Iterable[Published], directory: Path) -> list[mail.Message]:
    """The mail for what is still to be mailed (none when nothing is), its files written
    into ``directory`` as attachments."""
    changed = [p for p in published if p.to_mail]
    if not changed:
        return []
    files = []
    for p in changed:
        path = directory / p.filename
        path.write_bytes(p.data)
        files.append(path)
    lines = [f"{report.title.zh}（{report.period}）已發佈，附件如下；每個數字的來源見報告附錄。",
             f"The {report.title.en} for {report.period} is published and attached; the "
             "appendix of each report names the source of every figure.", "",
             *(f"- {p.filename}  sha256 {p.sha256}  {p.uri}" for p in changed), "",
             f"依據條款 Articles: {report.articles}"]
    subject = f"[檔案報告 Dossier report] {report.title.zh} {report.title.en} {report.period}"
    return [mail.Message(to=recipients(report), subject=subject, text="\n".join(lines),
                         files=tuple(files))]


def mail_kind(published: Sequence[Published]) -> str:
    """The outbox's name for the mail of these files (``report:`` and a digest of their
    names and digests): the same publication is the same mail, a corrected one a new one."""
    names = "\n".join(sorted(f"{p.filename} {p.sha256}" for p in published))
    return f"report:{hashlib.sha256(names.encode()).hexdigest()[:32]}"


def send(report: Report, published: Sequence[Published], conn: Connection | None = None, *,
         conn_id: str = mail.SMTP_CONN_ID) -> int:
    """E-mail what is still to be mailed, through the outbox; call after the publishing
    transaction commits. Returns the mails sent now (one per recipient).

    The mail is put in the outbox (one row per recipient, its own transaction) and each
    recipient who does not have it yet is sent it, once. When every recipient has it,
    ``report.mail`` is ledgered for each file, in ``conn`` (the caller commits) or in a
    transaction of its own, so a later run knows it went out; until then the files stay
    ``to_mail`` and the next try sends only to those still missing it. A refused recipient
    raises :class:`~dossiers.duties.mail.MailUndelivered` after the others were sent theirs.
    """
    changed = [p for p in published if p.to_mail]
    engine = conn.engine if conn is not None else db.get_engine()
    kind = mail_kind(changed)
    with tempfile.TemporaryDirectory(prefix="dossier-report-") as tmp:
        batch = messages(report, published, Path(tmp))
        if not batch:
            return 0
        with db.transaction(engine) as own:
            mail.enqueue(own, report.kind, report.period, kind, batch)
        delivery = mail.deliver(engine, report.kind, report.period, kind,
                                files=batch[0].files, conn_id=conn_id)
    with db.transaction(engine) as own:
        complete = mail.unsent(own, report.kind, report.period, kind) == 0
    if complete:
        entries = [ledger.Entry(actor="system", action=LedgerAction.REPORT_MAIL,
                                subject_type="report", subject_id=_subject(report, p.format),
                                details={"sha256": p.sha256, "to": list(batch[0].to)})
                   for p in changed]
        if conn is not None:
            ledger.append(conn, *entries)
        else:
            with db.transaction(engine) as own:
                ledger.append(own, *entries)
    delivery.raise_if_failed()
    return delivery.sent
