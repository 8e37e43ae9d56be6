"""E-mail from the duties, through Airflow's SMTP provider (connection ``dossier_smtp``),
by way of an outbox (``mail_outbox``).

A duty :func:`enqueue`\\ s its messages in the transaction that records its results, one row
per message and recipient, keyed by duty, period, message kind and recipient; then
:func:`deliver` sends each unsent row once, marks it sent (with the time) in a transaction
of its own, and records a refusal (attempts, last error) without holding up the others. A
retry of the task delivers again and sends only what is still unsent, so one undeliverable
recipient neither blocks the others nor makes them receive the same mail again; the task
fails (:meth:`Delivery.raise_if_failed`) once everyone else has theirs, so Airflow retries
and ops learn of it.

Staff are written to at ``<username>@<DOSSIER_STAFF_MAIL_DOMAIN>``; the outbox keeps the
address a message went to (staff or configured report addresses, never a client's).
Messages carry dossier numbers and what to do, never a client's personal data; the error
kept for a refused row has every address in it masked.
"""

from __future__ import annotations

import hashlib
import html
import re
import smtplib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert

from dossiers.core import clock, db
from dossiers.core.config import settings
from dossiers.core.errors import DossierError
from dossiers.core.schema import mail_outbox

SMTP_CONN_ID = "dossier_smtp"
_ERROR_CHARS = 300
_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")


@dataclass(frozen=True)
class Message:
    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    files: tuple[Path, ...] = field(default=())


class MailUndelivered(DossierError):
    """Some recipients of a duty's mail were refused; everyone else has theirs, and the
    refused rows wait in ``mail_outbox`` for the next try."""


@dataclass(frozen=True)
class Delivery:
    """What one :func:`deliver` did: rows sent now, rows still unsent after it."""

    duty: str
    period: str
    sent: int = 0
    failed: int = 0

    def raise_if_failed(self) -> None:
        if self.failed:
            raise MailUndelivered(
                f"{self.failed} mail(s) of {self.duty} {self.period} not delivered (refused or "
                f"unreachable; see mail_outbox.last_error); {self.sent} sent in this try. The "
                "next try sends only those")


def staff_address(username: str) -> str:
    return f"{username}@{settings().staff_mail_domain}"


def _html(text: str, html_part: str | None) -> str:
    """The HTML body sent: the message's own, or its text preformatted."""
    return html_part or f"<pre>{html.escape(text)}</pre>"


def send(messages: Iterable[Message], conn_id: str = SMTP_CONN_ID) -> int:
    """Send each message through the SMTP connection, now, with no outbox; returns how many
    were sent. For mail that has no duty period (the ops failure notice); a duty's mail goes
    through :func:`enqueue` and :func:`deliver`."""
    # Airflow is imported when mail is sent, not when a duty module is (DAG parsing).
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    batch: Sequence[Message] = list(messages)
    if not batch:
        return 0
    with SmtpHook(smtp_conn_id=conn_id) as hook:
        for m in batch:
            hook.send_email_smtp(to=list(m.to), subject=m.subject, html_content=_html(m.text, m.html),
                                 files=[str(f) for f in m.files] or None)
    return len(batch)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def enqueue(conn: Connection, duty: str, period: str, kind: str,
            messages: Iterable[Message]) -> int:
    """Put the messages in the outbox, in the caller's transaction: one row per recipient.

    ``kind`` names the message within the duty's period (with the recipient, the key): a
    row already there, sent or not, is left as it is, so enqueueing the same mail again adds
    nothing. Attachments are recorded by name and digest; :func:`deliver` is given the
    files. Returns the rows added.
    """
    rows, at = [], clock.now()
    for m in messages:
        files = [{"name": f.name, "sha256": _digest(f)} for f in m.files]
        rows += [{"duty": duty, "period": period, "kind": kind, "recipient": to,
                  "subject": m.subject, "body": m.text, "html": m.html, "files": files,
                  "created_at": at}
                 for to in m.to]
    if not rows:
        return 0
    added = conn.execute(insert(mail_outbox).values(rows).on_conflict_do_nothing()
                         .returning(mail_outbox.c.id)).all()
    return len(added)


def unsent(conn: Connection, duty: str, period: str, kind: str | None = None) -> int:
    """How many rows of the duty's period (and message kind) are still to be sent."""
    query = select(func.count()).select_from(mail_outbox).where(
        mail_outbox.c.duty == duty, mail_outbox.c.period == period,
        mail_outbox.c.sent_at.is_(None))
    if kind is not None:
        query = query.where(mail_outbox.c.kind == kind)
    return int(conn.execute(query).scalar_one())


def describe_error(exc: BaseException) -> str:
    """The error kept on a refused row: the SMTP reply (code and text), addresses masked."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = sorted({(code, _text(msg)) for code, msg in exc.recipients.values()})
        reason = "; ".join(f"{code} {msg}" for code, msg in replies)
    elif isinstance(exc, smtplib.SMTPResponseException):
        reason = f"{exc.smtp_code} {_text(exc.smtp_error)}"
    else:
        reason = str(exc)
    line = _ADDRESS.sub("<address>", f"{type(exc).__name__}: {reason}".replace("\n", " "))
    return line[:_ERROR_CHARS]


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _refusal(exc: BaseException) -> bool:
    """The server answered and refused this message (the connection is still good)."""
    return isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPResponseException)


def _attempted(conn: Connection, row_id: int, error: str | None) -> None:
    now = clock.now()
    values: dict[str, Any] = {"attempts": mail_outbox.c.attempts + 1, "last_attempt_at": now,
                              "last_error": error}
    if error is None:
        values["sent_at"] = now
    conn.execute(update(mail_outbox).where(mail_outbox.c.id == row_id).values(**values))


def deliver(engine: Engine, duty: str, period: str, kind: str | None = None, *,
            files: Sequence[Path] = (), conn_id: str = SMTP_CONN_ID) -> Delivery:
    """Send every unsent row of the duty's period (and message kind), each once.

    Each row is sent and marked sent in a transaction of its own (locked, so a second worker
    skips it), so what went out stays recorded whatever happens to the next. A refusal is
    recorded on its row (attempts, last error) and the others go on; a broken connection is
    opened again for the next row. If the server cannot be reached at all, each row records
    the attempt and the error is raised. ``files`` are the attachments rows name (by name
    and digest); a row whose file is not at hand is not sent and says so.
    """
    # Airflow is imported when mail is sent, not when a duty module is (DAG parsing).
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with db.transaction(engine) as conn:
        query = select(mail_outbox.c.id).where(
            mail_outbox.c.duty == duty, mail_outbox.c.period == period,
            mail_outbox.c.sent_at.is_(None)).order_by(mail_outbox.c.id)
        if kind is not None:
            query = query.where(mail_outbox.c.kind == kind)
        ids = list(conn.execute(query).scalars())
    if not ids:
        return Delivery(duty, period)
    at_hand = {f.name: f for f in files}
    digests: dict[str, str] = {}
    sent = failed = 0
    hook: SmtpHook | None = None
    unreachable: Exception | None = None
    left: list[int] = []
    try:
        for position, row_id in enumerate(ids):
            with db.transaction(engine) as conn:
                row = conn.execute(select(mail_outbox).where(
                    mail_outbox.c.id == row_id, mail_outbox.c.sent_at.is_(None))
                    .with_for_update(skip_locked=True)).one_or_none()
                if row is None:
                    continue  # sent meanwhile, or another worker is sending it now
                paths = _attachments(row.files, at_hand, digests)
                if paths is None:
                    _attempted(conn, row_id, "attachment not at hand (its report is "
                                             "published again with the next try)")
                    failed += 1
                    continue
                if hook is None:
                    try:
                        hook = SmtpHook(smtp_conn_id=conn_id).get_conn()
                    except Exception as exc:  # no server to talk to: nothing else can go
                        _attempted(conn, row_id, describe_error(exc))
                        unreachable, left = exc, ids[position + 1:]
                        break
                try:
                    hook.send_email_smtp(to=[row.recipient], subject=row.subject,
                                         html_content=_html(row.body, row.html),
                                         files=paths or None)
                except Exception as exc:
                    _attempted(conn, row_id, describe_error(exc))
                    failed += 1
                    if not _refusal(exc):  # a broken connection: the next row opens a new one
                        _close(hook)
                        hook = None
                    continue
                _attempted(conn, row_id, None)
                sent += 1
    finally:
        if hook is not None:
            _close(hook)
    if unreachable is not None:
        for rest in left:
            _unreached(engine, rest, unreachable)
        raise unreachable
    return Delivery(duty, period, sent, failed)


def _attachments(files: list[dict[str, str]], at_hand: dict[str, Path],
                 digests: dict[str, str]) -> list[str] | None:
    """The paths of a row's attachments, each checked against its digest; ``None`` when one
    is not at hand (or is another version of the file)."""
    paths = []
    for f in files:
        path = at_hand.get(f["name"])
        if path is None:
            return None
        if f["name"] not in digests:
            digests[f["name"]] = _digest(path)
        if digests[f["name"]] != f["sha256"]:
            return None
        paths.append(str(path))
    return paths


def _unreached(engine: Engine, row_id: int, exc: BaseException) -> None:
    with db.transaction(engine) as conn:
        conn.execute(update(mail_outbox).where(mail_outbox.c.id == row_id,
                                               mail_outbox.c.sent_at.is_(None))
                     .values(attempts=mail_outbox.c.attempts + 1,
                             last_attempt_at=clock.now(),
                             last_error=describe_error(exc)))


def _close(hook: Any) -> None:
    try:
        hook.__exit__(None, None, None)
    except Exception:  # closing a connection already gone
        pass
