"""Long-running commands show progress on a terminal and nothing else changes (issue 9.5).

``dossier ledger verify`` and ``dossier import`` run under a real pseudo-terminal (python's
``pty``), as an operator at a shell would see them; the same commands with pipes (scripts,
cron, CI) or with ``--json`` print exactly the JSON they always printed and nothing on stderr.
"""

from __future__ import annotations

import csv
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from dossiers.core import db, ledger
from dossiers.core.progress import no_progress
from dossiers.intake import service

from helpers import append_entries as _append

pytestmark = pytest.mark.integration


def _on_a_terminal(*args: str) -> tuple[int, str]:
    """Run ``dossier ARGS`` with stdin, stdout and stderr on a pseudo-terminal; what the
    terminal received, escape sequences included."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "dossiers.cli", *args], stdin=slave,
                            stdout=slave, stderr=slave, close_fds=True,
                            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"})
    os.close(slave)
    received = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the command exited and closed its side
            break
        if not chunk:
            break
        received += chunk
    os.close(master)
    return proc.wait(timeout=300), received.decode(errors="replace")


def _piped(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dossiers.cli", *args], capture_output=True,
                          text=True, check=False, timeout=300)


def _json_of(terminal: str) -> dict:
    """The JSON document a command printed to the terminal (after any progress bar)."""
    text = terminal.replace("\r\n", "\n")
    return json.loads(text[text.index('{\n  "'):])


def test_ledger_verify_shows_progress_on_a_terminal(database_url: str) -> None:
    _append(120)
    status, terminal = _on_a_terminal("ledger", "verify", "--no-anchor")
    assert status == 0, terminal
    assert ledger.VERIFY_STEP in terminal and "120/120" in terminal, terminal
    assert _json_of(terminal)["entries_checked"] == 120


def test_ledger_verify_stays_quiet_with_json_or_pipes(database_url: str) -> None:
    _append(120)
    status, terminal = _on_a_terminal("ledger", "verify", "--no-anchor", "--json")
    assert status == 0 and ledger.VERIFY_STEP not in terminal and "\x1b" not in terminal
    assert json.loads(terminal)["entries_checked"] == 120
    piped = _piped("ledger", "verify", "--no-anchor")
    assert piped.returncode == 0 and piped.stderr == ""
    assert json.loads(piped.stdout) == json.loads(terminal)


def _forms(path: Path, n: int) -> Path:
    header = ["client_name_zh", "client_name_en", "client_type", "stage", "target_markets",
              "liaison", "department", "authorisation_ref", "collection_channel",
              "collected_on", "contact_name", "contact_email", "contact_phone"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i in range(1, n + 1):
            writer.writerow([f"客戶{i}", f"Client {i} GmbH", "電商", "potential", "DE",
                             "wang.market", "market", f"AUTH-{i}", "email", "2026-11-02",
                             f"Zyxwvuts Person{i}", f"person{i}@client{i}.example.de",
                             "+49 30 1234567"])
    return path


def test_import_shows_progress_on_a_terminal_and_not_in_pipes(
        database_url: str, company: dict[str, str], tmp_path: Path) -> None:
    status, terminal = _on_a_terminal("import", str(_forms(tmp_path / "a.csv", 30)),
                                      "--as", "wang.market")
    report = _json_of(terminal)
    assert status == 0, terminal
    assert len(report["accepted"]) == 30 and report["rejected"] == []
    assert service.CHECK_STEP in terminal and service.STORE_STEP in terminal, terminal
    assert "30/30" in terminal
    piped = _piped("import", str(_forms(tmp_path / "b.csv", 0)), "--as", "wang.market")
    assert piped.returncode == 0 and piped.stderr == ""
    assert json.loads(piped.stdout) == {"file": "b.csv", "accepted": [], "rejected": [],
                                        "warnings": []}


def test_progress_reaches_the_end_of_every_step(database_url: str) -> None:
    """What the bar is fed: from 0 to the whole ledger, batch by batch."""
    _append(7)
    seen: list[tuple[str, int, int | None]] = []
    with db.transaction() as conn:
        ledger.verify(conn, batch=3, progress=lambda *call: seen.append(call))
        assert ledger.verify(conn).ok  # the default reports nothing
    assert seen == [(ledger.VERIFY_STEP, n, 7) for n in (0, 3, 6, 7)]
    assert no_progress("anything", 1, None) is None
