"""A mail catcher for the demo: an SMTP server on loopback that keeps every message it
receives as a ``.eml`` file, so ``make demo`` shows what the duties would have sent without
a real mail server. Never used in production (the SMTP connection ``dossier_smtp`` is)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


class _Keep:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        (self.folder / f"{self.count:04d}.eml").write_bytes(envelope.content)
        return "250 OK"


class MailCatcher:
    """``with MailCatcher(folder) as catcher: env.update(catcher.airflow_connection())``"""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self._controller: Any = None
        self._handler = _Keep(folder)

    def __enter__(self) -> MailCatcher:
        # aiosmtpd is a development dependency: imported when the demo starts catching mail
        from aiosmtpd.controller import Controller

        self.folder.mkdir(parents=True, exist_ok=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    @property
    def received(self) -> int:
        return self._handler.count

    def airflow_connection(self) -> dict[str, str]:
        """The environment naming this server as Airflow's ``dossier_smtp`` connection."""
        extra = json.dumps({"from_email": "dossiers@staff.example.com", "disable_tls": True,
                            "disable_ssl": True, "timeout": 10, "retry_limit": 1})
        return {"AIRFLOW_CONN_DOSSIER_SMTP": json.dumps(
            {"conn_type": "smtp", "host": "127.0.0.1", "port": self.port, "extra": extra})}
