"""`dossier workdays add|between` as in cli.md, including the provisional-year warning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str, env_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ)
    if env_file:
        env["DOSSIER_CALENDAR_FILE"] = str(env_file)
    return subprocess.run([sys.executable, "-m", "dossiers.cli", "workdays", *args],
                          capture_output=True, text=True, env=env, check=False)


@pytest.mark.parametrize("start, n, expected", [
    ("2026-09-30", "1", "2026-10-08"),   # National Day week off
    ("2025-09-26", "1", "2025-09-28"),   # a Sunday make-up working day (調休)
    ("2026-11-27", "1", "2026-11-30"),   # Friday -> Monday; the start day is not counted
    ("2026-11-27", "0", "2026-11-27"),
])
def test_add(start: str, n: str, expected: str) -> None:
    out = _run("add", start, n)
    assert out.returncode == 0 and out.stdout == f"{expected}\n" and out.stderr == ""


def test_between() -> None:
    out = _run("between", "2026-09-30", "2026-10-09")
    assert (out.returncode, out.stdout) == (0, "2\n")


def test_provisional_year_is_flagged_and_override_removes_it(tmp_path: Path) -> None:
    out = _run("add", "2026-12-31", "1")
    assert out.stdout == "2027-01-04\n" and "provisional" in out.stderr
    override = tmp_path / "cal.toml"
    override.write_text('[years.2027]\nholidays = ["2027-01-01", "2027-01-04"]\nworkdays = []\n')
    out = _run("add", "2026-12-31", "1", env_file=override)
    assert out.stdout == "2027-01-05\n" and out.stderr == ""


def test_bad_arguments_exit_2() -> None:
    out = _run("add", "03/05/2026", "1")
    assert out.returncode == 2 and "not an ISO date" in out.stderr
