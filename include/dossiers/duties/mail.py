"""E-mail from the duties, through Airflow's SMTP provider (connection ``dossier_smtp``).

Staff are written to at ``<username>@<DOSSIER_STAFF_MAIL_DOMAIN>``: no address is stored.
Messages carry dossier numbers and what to do, never a client's personal data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dossiers.core.config import settings

SMTP_CONN_ID = "dossier_smtp"


@dataclass(frozen=True)
class Message:
    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    files: tuple[Path, ...] = field(default=())


def staff_address(username: str) -> str:
    return f"{username}@{settings().staff_mail_domain}"


def send(messages: Iterable[Message], conn_id: str = SMTP_CONN_ID) -> int:
    """Send each message through the SMTP connection; returns how many were sent."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    batch: Sequence[Message] = list(messages)
    if not batch:
        return 0
    with SmtpHook(smtp_conn_id=conn_id) as hook:
        for m in batch:
            hook.send_email_smtp(to=list(m.to), subject=m.subject,
                                 html_content=m.html or f"<pre>{_escape(m.text)}</pre>",
                                 files=[str(f) for f in m.files] or None)
    return len(batch)


def _escape(text: str) -> str:
    import html

    return html.escape(text)
