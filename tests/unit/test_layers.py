"""The layer contract of the domain package (pyproject.toml ``[tool.importlinter]``).

``make lint`` runs ``lint-imports``; these tests show the contract holds for the package as
it is and that it really fails on an upward import (a contract that cannot fail proves nothing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "include")}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
                          cwd=root, env=env, capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture
def copy_of_package(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "include" / "dossiers", tmp_path / "include" / "dossiers",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_package_keeps_its_layers(copy_of_package: Path) -> None:
    result = _lint(copy_of_package)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "upward"), [
    ("core/policy.py", "dossiers.workflows.loans"),      # core may import nothing above it
    ("calendar/clocks.py", "dossiers.duties.runs"),       # calendar sits below the duties
    ("workflows/loans.py", "dossiers.api.deps"),          # workflows never reach an interface
    ("reports/store.py", "dossiers.local.seed"),          # development tools stay out of production
])
def test_an_upward_import_breaks_the_contract(copy_of_package: Path, module: str, upward: str) -> None:
    path = copy_of_package / "include" / "dossiers" / module
    path.write_text(path.read_text() + f"\nimport {upward}  # deliberate violation\n")
    result = _lint(copy_of_package)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert f"-> {upward}" in result.stdout
