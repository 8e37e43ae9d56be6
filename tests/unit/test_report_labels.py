"""Departments in reports read as names in both languages (issue 17), the system actor too."""

from __future__ import annotations

from dossiers.reports.model import department_label


def test_a_department_code_reads_as_its_bilingual_name() -> None:
    assert department_label("customer_service").both() == "客服部 / Customer Service"


def test_the_system_actor_reads_as_system_not_as_a_code() -> None:
    assert department_label("system").both() == "系統 / System"


def test_an_unknown_code_shows_as_itself() -> None:
    assert department_label("somewhere").both() == "somewhere"
