"""A year of one client's life through the CLI, as its people would run it (issue 3).

The year's steps and what each must answer are in ``tests/client_year.py`` (the REST API
takes the same steps in tests/api/test_client_year_api.py); this is their CLI driver: each
step is a ``dossier …`` command as that person, in a subprocess, against the test database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from client_year import Reason, Year, live_the_year
from helpers import write_forms

pytestmark = pytest.mark.integration


class Cli:
    """The year's verbs as ``dossier`` commands."""

    def __init__(self, cli: Any, folder: Path):
        self.cli = cli
        self.folder = folder

    def ok(self, result: Any) -> Any:
        assert result.status == 0, result.stderr
        return result.json()

    def refused(self, result: Any, reason: Reason) -> str:
        assert result.status == 1, (result.stdout, result.stderr)  # whatever the reason
        return str(result.stderr)

    def submit_form(self, year: Year, who: str, form: dict[str, str]) -> Any:
        path = write_forms(self.folder / "blue-ocean.json", [form])
        return self.cli("import", str(path), "--as", who)

    def list_forms(self, year: Year, who: str) -> Any:
        return self.cli("forms", "list", "--as", who)

    def review_form(self, year: Year, who: str) -> Any:
        return self.cli("forms", "review", year.ids["form_id"], "--approve", "--as", who)

    def create_dossier(self, year: Year, who: str) -> Any:
        return self.cli("dossiers", "create", year.ids["form_id"], "--as", who)

    def file_dossier(self, year: Year, who: str, cabinet: str, shelf: int) -> Any:
        return self.cli("dossiers", "file", year.ids["dossier_no"], "--cabinet", cabinet,
                        "--shelf", str(shelf), "--as", who)

    def change_stage(self, year: Year, who: str, stage: str, terminated_on: str | None = None,
                     further_cooperation: bool | None = None) -> Any:
        extra = [] if terminated_on is None else ["--terminated-on", terminated_on]
        if further_cooperation is not None:
            extra += ["--further-cooperation", "yes" if further_cooperation else "no"]
        return self.cli("dossiers", "stage", year.ids["dossier_no"], stage, *extra, "--as", who)

    def read_dossier(self, year: Year, who: str) -> Any:
        return self.cli("dossiers", "show", year.ids["dossier_no"], "--as", who)

    def request_query(self, year: Year, who: str, purpose: str, scope: list[str],
                      until: str) -> Any:
        scopes = [arg for s in scope for arg in ("--scope", s)]
        return self.cli("queries", "request", year.ids["dossier_no"], "--purpose", purpose,
                        *scopes, "--until", until, "--as", who)

    def approve_query(self, year: Year, who: str) -> Any:
        return self.cli("queries", "approve", year.ids["grant_id"], "--as", who)

    def request_loan(self, year: Year, who: str, purpose: str, period_wd: int) -> Any:
        return self.cli("loans", "request", year.ids["dossier_no"], "--purpose", purpose,
                        "--period", str(period_wd), "--as", who)

    def approve_loan(self, year: Year, who: str) -> Any:
        return self.cli("loans", "approve", year.ids["loan_id"], "--as", who)

    def add_staff(self, year: Year, who: str, username: str, department: str, role: str) -> Any:
        return self.cli("staff", "add", username, "--department", department, "--role", role,
                        "--as", who, "--json")

    def lend_loan(self, year: Year, who: str) -> Any:
        return self.cli("loans", "lend", year.ids["loan_id"], "--as", who)

    def extend_loan(self, year: Year, who: str, wd: int) -> Any:
        return self.cli("loans", "extend", year.ids["loan_id"], "--wd", str(wd), "--as", who)

    def approve_extension(self, year: Year, who: str) -> Any:
        return self.cli("loans", "extension-approve", year.ids["loan_id"], "--as", who)

    def return_loan(self, year: Year, who: str, condition: str) -> Any:
        return self.cli("loans", "return", year.ids["loan_id"], "--condition", condition,
                        "--as", who)

    def submit_update(self, year: Year, who: str, changes: dict[str, str], reason: str,
                      evidence: str, trigger: str, occurred_on: str) -> Any:
        sets = [arg for k, v in changes.items() for arg in ("--set", f"{k}={v}")]
        return self.cli("updates", "submit", year.ids["dossier_no"], *sets, "--reason", reason,
                        "--evidence", evidence, "--trigger", trigger, "--occurred-on",
                        occurred_on, "--channel", "email", "--as", who)

    def review_update(self, year: Year, who: str) -> Any:
        return self.cli("updates", "review", year.ids["change_id"], "--approve", "--as", who)

    def approve_important(self, year: Year, who: str) -> Any:
        return self.cli("updates", "approve-important", year.ids["change_id"], "--as", who)

    def apply_update(self, year: Year, who: str) -> Any:
        return self.cli("updates", "apply", year.ids["change_id"], "--as", who)


def test_a_year_of_one_client(cli, company, tmp_path) -> None:
    driver = Cli(cli, tmp_path)
    live_the_year(driver)
    assert driver.ok(cli("ledger", "verify", "--no-anchor", "--as", "li.archive"))["first_broken"] is None
