"""``make stop`` / ``dossier db stop``: what ``make demo`` left running is stopped, and only it.

``make demo`` leaves the embedded PostgreSQL of the dossier home running (the CLI and
``make airflow`` use it); a second ``make demo`` reuses it rather than starting another.
A real embedded server is started in a temporary dossier home; processes are read from
``/proc`` as ``ps`` would.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from dossiers.cli import main
from dossiers.core import embedded

pytestmark = pytest.mark.integration


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for p in _pids():
        try:
            stat = (Path("/proc") / str(p) / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(p)
    return found


def mentioning(root: Path) -> list[str]:
    """The live processes (not this one) whose command line names the dossier home."""
    return [f"{p}: {_cmdline(p)}" for p in _pids()
            if p != os.getpid() and str(root) in _cmdline(p) and _alive(p)]


def answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def postmaster(root: Path) -> int:
    return int((root / "pg" / "postmaster.pid").read_text().splitlines()[0])


def test_a_second_start_reuses_the_running_server_and_db_stop_ends_every_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "home"
    monkeypatch.setenv("DOSSIER_HOME", str(root))
    monkeypatch.delenv("DOSSIER_DATABASE_URL", raising=False)
    try:
        first = embedded.ensure_running()
        pid = postmaster(root)
        # A second make demo (or CLI command, or make airflow) finds it running: same server.
        again = embedded.ensure_running()
        assert (again.port, postmaster(root)) == (first.port, pid)
        assert answers(first.port)
        workers = _children(pid)
        assert workers, "the postmaster has no background workers?"
        assert mentioning(root), "the running server's command line should name its data folder"

        assert main(["db", "stop"]) == 0
        out = capsys.readouterr().out
        assert out == (f"stopped the embedded PostgreSQL on 127.0.0.1:{first.port} "
                       f"(data in {root / 'pg'})\n")
        assert mentioning(root) == []
        assert [p for p in [pid, *workers] if _alive(p)] == []
        assert not answers(first.port)

        # Nothing runs any more: one clear line, exit 0.
        assert main(["db", "stop"]) == 0
        assert capsys.readouterr().out == (
            f"nothing to stop: no embedded PostgreSQL or Airflow of {root} is running\n")

        # Started again after a stop: a new server answers.
        third = embedded.ensure_running()
        assert answers(third.port) and postmaster(root) != pid
    finally:
        embedded.stop(root)
    assert mentioning(root) == []
