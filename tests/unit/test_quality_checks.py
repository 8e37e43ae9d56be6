"""The completeness registry (Arts. 8, 10, 14): well-formed, stage-consistent, translatable."""

from __future__ import annotations

import dataclasses

import pytest

from dossiers.quality import checks
from dossiers.quality.checks import (
    ACTIVE,
    ALL_STAGES,
    CHECKS,
    POTENTIAL,
    TERMINATED,
    Check,
    at_least,
    expect,
    none_of,
    not_null,
)
from dossiers.quality.completeness import configure_expectation, failing_rows_sql


def _applying(stage: str) -> set[str]:
    return {c.id for c in CHECKS if stage in c.stages}


def test_the_registry_is_valid_and_covers_every_dimension() -> None:
    checks.validate(CHECKS)
    assert {c.dimension for c in CHECKS} == set(checks.DIMENSIONS)
    for dimension in checks.DIMENSIONS:  # each dimension has something required of active clients
        assert any(c.dimension == dimension and ACTIVE in c.stages for c in CHECKS), dimension
    assert all(c.expectation.type in checks.SUPPORTED_EXPECTATIONS for c in CHECKS)


def test_stages_a_potential_client_needs_less_a_terminated_one_keeps_what_it_had() -> None:
    assert _applying(POTENTIAL) < _applying(ACTIVE) <= _applying(TERMINATED)
    # Art. 8: a potential client's dossier holds basic information and initial needs
    assert _applying(POTENTIAL) >= {"basic.key_contact", "market.target_market",
                                    "needs.marketing_goals", "communication.recorded"}
    assert _applying(TERMINATED) - _applying(ACTIVE) == {"cooperation.termination_prospect"}


@pytest.mark.parametrize("change, message", [
    ({"severity": "fatal"}, "severity must be one of error, warning"),
    ({"stages": ("prospect",)}, "stages must be some of"),
    ({"dimension": "finance"}, "dimension must be one of"),
    ({"id": "NoDot"}, "id must look like"),
    ({"article": "10"}, "article must cite"),
    ({"expectation": expect("ExpectColumnValuesToNotBeNull")}, "needs a column"),
])
def test_a_malformed_check_is_refused_by_name(change: dict, message: str) -> None:
    bad = dataclasses.replace(CHECKS[0], **change)
    with pytest.raises(ValueError, match=message):
        checks.validate([bad])


def test_a_duplicate_id_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'basic\.registered_address'.*used twice"):
        checks.validate([CHECKS[0], CHECKS[0]])


def _check(expectation: checks.Expect, stages: tuple[str, ...] = (ACTIVE,)) -> Check:
    return Check("basic.x", "Art. 10", "basic", "error", stages, "x", expectation)


def test_the_sql_pass_translates_each_expectation_with_gx_semantics() -> None:
    sql, params = failing_rows_sql([_check(not_null("legal_form")),
                                    _check(at_least("contact_count", 1), ALL_STAGES),
                                    _check(none_of("contracts_incomplete"))])
    assert "(0, r.stage = ANY(:stages_0) AND (r.legal_form IS NULL))" in sql
    # a NULL is never out of range for GX, so never a failure of a range check
    assert "(r.contact_count IS NOT NULL AND (r.contact_count < :min_1))" in sql
    assert "r.contracts_incomplete > :max_2" in sql
    assert params == {"stages_0": [ACTIVE], "stages_1": list(ALL_STAGES), "min_1": 1,
                      "stages_2": [ACTIVE], "max_2": 0}
    assert sql.startswith("WITH r AS MATERIALIZED (")


def test_an_untranslatable_check_is_named() -> None:
    regex = _check(expect("ExpectColumnValuesToMatchRegex", column="legal_form", regex="^L"))
    with pytest.raises(NotImplementedError, match=r"'basic\.x'.*ExpectColumnValuesToMatchRegex"):
        failing_rows_sql([regex])
    with pytest.raises(ValueError, match="bad column name"):
        failing_rows_sql([_check(not_null("x; DROP TABLE dossier"))])


def test_a_check_becomes_a_gx_expectation_carrying_article_dimension_severity() -> None:
    check = next(c for c in CHECKS if c.id == "basic.business_licence")
    gx_expectation = configure_expectation(check)
    assert type(gx_expectation).__name__ == "ExpectColumnValuesToBeBetween"
    assert gx_expectation.column == "business_licence_count" and gx_expectation.min_value == 1
    assert gx_expectation.meta == {"check_id": "basic.business_licence", "article": "Art. 10",
                                   "dimension": "basic", "severity": "error",
                                   "stages": ["active", "terminated"]}
    assert gx_expectation.severity == "critical"
    assert repr(gx_expectation.row_condition) == "stage IN (active, terminated)"
    warning = configure_expectation(next(c for c in CHECKS if c.severity == "warning"))
    assert warning.severity == "warning"
