"""``make stop`` after ``make airflow``: no process of the project is left running.

``make airflow`` runs for real (``airflow standalone``: scheduler, dag-processor, triggerer,
api-server) in a temporary dossier home over its embedded PostgreSQL, as on a machine
without a PostgreSQL of its own; then ``make stop`` runs from another "terminal". Every
process whose command line names that home, or whose environment is that home's Airflow,
must be gone, and neither the UI's nor the database's port may answer.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dossiers.core.config import PROJECT_ROOT

pytestmark = pytest.mark.airflow

START_DEADLINE_S = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _read(pid: int, name: str) -> bytes:
    try:
        return (Path("/proc") / str(pid) / name).read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    stat = _read(pid, "stat")
    return bool(stat) and stat.rsplit(b")", 1)[1].split()[0] != b"Z"


def _command(pid: int) -> str:
    return _read(pid, "cmdline").replace(b"\0", b" ").decode(errors="replace")[:200]


def of_the_project(root: Path) -> list[str]:
    """Live processes (but this one) naming ``root`` in their command line or environment."""
    named, home = str(root).encode(), f"AIRFLOW_HOME={root / 'airflow'}".encode()
    return [f"{p}: {_command(p)}" for p in _pids()
            if p != os.getpid() and _alive(p)
            and (named in _read(p, "cmdline") or home in _read(p, "environ").split(b"\0"))]


def answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
    except httpx.TransportError:
        return False
    return True


def test_make_stop_leaves_nothing_of_make_airflow_and_the_embedded_server_running(
        tmp_path: Path, _environment: dict[str, str]) -> None:
    root = tmp_path / "home"
    port = free_port()
    env = {**_environment, "DOSSIER_HOME": str(root), "AIRFLOW__API__PORT": str(port)}
    env.pop("DOSSIER_DATABASE_URL", None)  # the embedded PostgreSQL, as make demo leaves it
    env.pop("DOSSIER_AIRFLOW_HOST", None)
    log = tmp_path / "make-airflow.log"
    with log.open("wb") as sink:
        airflow = subprocess.Popen(["make", "--no-print-directory", "-C", str(PROJECT_ROOT),
                                    "airflow"], env=env, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:  # the UI answers and standalone has started its components
            assert airflow.poll() is None, f"make airflow exited:\n{log.read_text()[-3000:]}"
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5)
                if health.status_code == 200 and \
                        health.json()["scheduler"]["status"] == "healthy":
                    break
            except (httpx.TransportError, ValueError, KeyError):
                pass
            assert time.monotonic() < deadline, f"make airflow not up:\n{log.read_text()[-3000:]}"
            time.sleep(1)
        db_port = int((root / "pg.port").read_text())
        before = of_the_project(root)
        assert len(before) >= 4, before  # postgres, standalone and its components

        stop = subprocess.run(["make", "--no-print-directory", "-C", str(PROJECT_ROOT), "stop"],
                              env=env, capture_output=True, text=True, timeout=180, check=False)
        assert stop.returncode == 0, stop.stderr
        lines = stop.stdout.splitlines()
        assert lines[0].startswith("stopped make airflow: "), stop.stdout
        assert lines[1] == (f"stopped the embedded PostgreSQL on 127.0.0.1:{db_port} "
                            f"(data in {root / 'pg'})"), stop.stdout
        assert airflow.wait(timeout=30) is not None
        assert of_the_project(root) == []
        assert not answers(port), subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{db_port}/", timeout=2)

        again = subprocess.run(["make", "--no-print-directory", "-C", str(PROJECT_ROOT), "stop"],
                               env=env, capture_output=True, text=True, timeout=60, check=False)
        assert (again.returncode, again.stdout) == (
            0, f"nothing to stop: no embedded PostgreSQL or Airflow of {root} is running\n")
    finally:
        if airflow.poll() is None:
            os.killpg(airflow.pid, signal.SIGKILL)
            airflow.wait()
        subprocess.run([sys.executable, "-m", "dossiers.local.stop"], env=env,
                       capture_output=True, check=False, timeout=120)
