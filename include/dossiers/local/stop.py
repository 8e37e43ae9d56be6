"""``make stop``: stop what ``make demo`` and ``make airflow`` left running for this checkout.

Both keep running in the background on purpose (``make demo`` leaves the embedded
PostgreSQL up so the CLI and ``make airflow`` share it; ``make airflow`` is a long-running
``airflow standalone``). What belongs to this checkout is found by its dossier home
(``DOSSIER_HOME``, else ``.dossier/``), not by a broad process name, so another checkout's
Airflow or a system PostgreSQL is never touched:

- Airflow: every process whose environment has ``AIRFLOW_HOME`` = this home's ``airflow/``
  (``local_airflow.airflow_env`` sets it; ``airflow standalone`` passes it on to its
  scheduler, api-server, dag-processor and triggerer) and whose command line is Airflow's;
- PostgreSQL: the embedded server whose data folder is this home's ``pg/``
  (``pg_ctl stop``, see ``core.embedded.stop``).

Airflow is stopped first: it holds connections to the database.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from dossiers.core import embedded
from dossiers.core.config import home


def _processes() -> Iterator[int]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def _read(pid: int, name: str) -> list[bytes]:
    """``/proc/PID/{cmdline,environ}`` split on NUL; empty when gone or not ours to read."""
    try:
        return (Path("/proc") / str(pid) / name).read_bytes().split(b"\0")
    except OSError:
        return []


def _ancestors() -> set[int]:
    """This process and its parents: a shell that exported AIRFLOW_HOME is not Airflow."""
    found, pid = set(), os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            stat = (Path("/proc") / str(pid) / "stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def _stat(pid: int) -> list[str]:
    """State, parent and process group of ``pid`` (fields 3-5 of /proc/PID/stat), or []."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[:3]
    except OSError:
        return []


def airflow_processes(root: Path | None = None) -> list[int]:
    """The running Airflow processes of the dossier home ``root`` (default: this one's).

    Found by ``AIRFLOW_HOME`` in their environment, then with their descendants and the
    Airflow processes of their process group: Airflow's components rename themselves
    (setproctitle), which overwrites what ``/proc/PID/environ`` shows, so the api-server
    cannot be recognised by its environment; and it may have outlived its parent.
    """
    marker = f"AIRFLOW_HOME={(root or home()) / 'airflow'}".encode()
    mine = _ancestors()
    table = {pid: _stat(pid) for pid in _processes() if pid not in mine}
    table = {pid: st for pid, st in table.items() if st}

    def airflow(pid: int) -> bool:
        return b"airflow" in b" ".join(_read(pid, "cmdline"))

    found = {pid for pid in table if marker in _read(pid, "environ") and airflow(pid)}
    groups = {table[pid][2] for pid in found}
    found |= {pid for pid, st in table.items() if st[2] in groups and airflow(pid)}
    while True:
        children = {pid for pid, st in table.items() if int(st[1]) in found} - found
        if not children:
            return sorted(found)
        found |= children


def _alive(pid: int) -> bool:
    state = _stat(pid)
    return bool(state) and state[0] != "Z"  # a zombie has ended; only its parent's wait is missing


def stop_airflow(root: Path | None = None, *, grace: float = 30.0) -> list[int]:
    """SIGTERM the home's Airflow processes, SIGKILL what is left after ``grace`` seconds."""
    pids = airflow_processes(root)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.2)
        # Children started while the parents shut down (a task runner, a worker).
        pids = sorted({*pids, *airflow_processes(root)})
        if not any(_alive(p) for p in pids):
            break
    return pids


def stop_all(root: Path | None = None) -> list[str]:
    """Stop the home's Airflow, then its embedded PostgreSQL; one line per thing stopped."""
    base = root or home()
    lines = []
    stopped = stop_airflow(base)
    if stopped:
        lines.append(f"stopped make airflow: {len(stopped)} Airflow process(es) "
                     f"({', '.join(map(str, stopped))}) of {base / 'airflow'}")
    port_file = base / "pg.port"
    port = port_file.read_text().strip() if port_file.exists() else "?"
    if embedded.stop(base):
        lines.append(f"stopped the embedded PostgreSQL on 127.0.0.1:{port} (data in {base / 'pg'})")
    if not lines:
        lines.append(f"nothing to stop: no embedded PostgreSQL or Airflow of {base} is running")
    return lines


def main() -> int:
    for line in stop_all():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
