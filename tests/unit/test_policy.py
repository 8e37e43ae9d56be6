"""Policy as code: every rule has its article; ops override values by file, not code."""

from __future__ import annotations

from pathlib import Path

import pytest

from dossiers.core.errors import CannotRun
from dossiers.core.policy import RULES, Policy, load_overrides


def test_every_rule_cites_an_article() -> None:
    assert all(rule.article.startswith("Art") for rule in RULES.values())
    assert Policy().loan_period_wd == 7 and Policy.article("loan_period_wd") == "Art. 16"


def test_override_file_changes_values(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[rules]\nloan_period_wd = 5\nsampling_audit_ratio = 0.1\n"
                    'important_change_fields = ["client_name_en"]\n')
    effective = Policy(load_overrides(path))
    assert effective.loan_period_wd == 5
    assert effective.sampling_audit_ratio == 0.1
    assert effective.important_change_fields == ("client_name_en",)
    assert effective.filing_wd == 3  # untouched rules keep their defaults


@pytest.mark.parametrize("body, message", [
    ("[rules]\nloan_days = 5\n", "unknown rule 'loan_days'"),
    ('[rules]\nloan_period_wd = "five"\n', "must be int"),
    ("[rules]\nloan_period_wd = true\n", "must be int"),
    ("[rules\n", "policy file"),
])
def test_bad_override_files_are_refused(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(body)
    with pytest.raises(CannotRun, match=message):
        load_overrides(path)


def test_policy_comes_from_the_configured_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dossiers.core.policy import policy

    path = tmp_path / "p.toml"
    path.write_text("[rules]\nform_review_wd = 4\n")
    monkeypatch.setenv("DOSSIER_POLICY_FILE", str(path))
    assert policy().form_review_wd == 4
    monkeypatch.delenv("DOSSIER_POLICY_FILE")
    assert policy().form_review_wd == 2


def test_a_policy_travels_to_an_import_worker(tmp_path: Path) -> None:
    """An import hands its policy to its worker processes (pickled), overrides and all."""
    import pickle

    path = tmp_path / "policy.toml"
    path.write_text("[rules]\nform_review_wd = 4\n")
    travelled = pickle.loads(pickle.dumps(Policy(load_overrides(path))))
    assert travelled.form_review_wd == 4 and travelled.loan_period_wd == 7
    with pytest.raises(AttributeError):
        travelled.no_such_rule  # noqa: B018
