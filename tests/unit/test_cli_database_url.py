"""A malformed ``DOSSIER_DATABASE_URL`` stops every command with one line and exit 2.

Not a traceback and exit 1: for ``ledger verify`` exit 1 means "the ledger is broken", a
false tamper alarm for whatever monitors it (``cli.md``: 2 = could not run).
"""

from __future__ import annotations

import pytest

from dossiers.cli import main

URLS = {
    "port": "postgresql://u@h:notaport/x",
    "garbage": "not a url",
    "mysql": "mysql://u@h/x",
    "driver": "postgresql+asyncpg://u@h/x",
    "port range": "postgresql://u@h:70000/x",
}

COMMANDS = [
    ["db", "upgrade"],
    ["ledger", "verify"],
    ["ledger", "anchor"],
    ["staff", "add", "new.person", "--department", "market", "--role", "liaison"],
    ["staff", "leave", "new.person", "--handover-to", "wang.market"],
    ["forms", "list"],
    ["dossiers", "show", "海外-2026-電商-001"],
    ["updates", "list"],
    ["loans", "list"],
    ["vault", "list"],
    ["seed", "--clients", "1"],
]


@pytest.mark.parametrize("url", URLS.values(), ids=URLS.keys())
@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_one_line_naming_the_setting_and_exit_2(
        argv: list[str], url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DOSSIER_DATABASE_URL", url)
    status = main(["--as", "chen.cs", *argv])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("dossier: DOSSIER_DATABASE_URL: "), err
    assert "u@h" not in err  # the URL is not repeated (it may hold a password)
