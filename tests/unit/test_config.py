"""Settings read from the environment: the retention of GX completeness runs."""

from __future__ import annotations

import pytest

from dossiers.core.config import settings
from dossiers.core.errors import CannotRun


def test_gx_runs_kept_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOSSIER_GX_KEEP_RUNS", raising=False)
    assert settings().gx_keep_runs == 12
    monkeypatch.setenv("DOSSIER_GX_KEEP_RUNS", " 3 ")
    assert settings().gx_keep_runs == 3


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_gx_runs_kept_must_be_a_whole_number_of_at_least_one(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("DOSSIER_GX_KEEP_RUNS", value)
    with pytest.raises(CannotRun, match="DOSSIER_GX_KEEP_RUNS"):
        settings()
