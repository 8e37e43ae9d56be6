"""The completeness checks of Art. 10, by stage: the one place the data team adds a check.

Every check reads :data:`DOSSIER_ROWS_SQL`, one row per dossier (destroyed ones left out)
with one computed column per item of Art. 10: a column is NULL when the item is missing,
a ``*_count`` counts the records a dimension holds, a ``*_incomplete`` counts records that
lack part of their content. A :class:`Check` names the article and dimension it enforces,
its severity and the stages it applies to, and its expectation in Great Expectations'
own words (``expect("ExpectColumnValuesToNotBeNull", column=…)``), built into a real GX
expectation only at run time (:mod:`dossiers.quality.completeness`), so importing this
module imports no GX.

Stages (Art. 15): a *potential* client's dossier holds basic information and initial
needs (Art. 8) - a key contact, a target market, a marketing goal, the first contact
recorded; an *active* one everything Art. 10 lists; a *terminated* one keeps what it had
as an active client (nothing is dropped at termination), plus the Art. 14 decision on
further cooperation. Severity ``error``: the policy or the collection form requires the
item at that stage; ``warning``: Art. 10 content the form leaves optional.

Adding a check: append a :class:`Check` to :data:`CHECKS` (and, when it needs a new
computed column, add that column to :data:`DOSSIER_ROWS_SQL`). Nothing else changes: the
GX suite, the Data Docs and the hand-written SQL pass are all built from this list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dossiers.core.vocabulary import Severity, Stage

ERROR = Severity.ERROR.value
WARNING = Severity.WARNING.value
SEVERITIES = (ERROR, WARNING)

POTENTIAL, ACTIVE, TERMINATED = Stage.POTENTIAL.value, Stage.ACTIVE.value, Stage.TERMINATED.value
ALL_STAGES = (POTENTIAL, ACTIVE, TERMINATED)
#: Active, and terminated: a terminated dossier keeps what it had (Art. 14).
CLIENT_STAGES = (ACTIVE, TERMINATED)

DIMENSIONS = ("basic", "market", "cooperation", "needs", "communication", "feedback", "other")

#: The expectation types both runners understand (the SQL pass translates each one).
SUPPORTED_EXPECTATIONS = ("ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToBeBetween")

#: One row per dossier, the columns every check reads. Identifiers only, no personal data
#: (failing rows are shown in Data Docs). The index columns name the failing dossier.
INDEX_COLUMNS = ("dossier_id", "dossier_no", "liaison_id")

DOSSIER_ROWS_SQL = """
SELECT
    d.id AS dossier_id,
    d.dossier_no,
    d.stage,
    d.liaison_id,
    -- basic information (Art. 10): registration, key contacts, qualification documents
    NULLIF(btrim(b.registered_address), '') AS registered_address,
    b.founded_on,
    NULLIF(btrim(b.legal_form), '') AS legal_form,
    b.registered_capital_amount,
    NULLIF(btrim(b.business_scope), '') AS business_scope,
    COALESCE(c.contacts, 0) AS contact_count,
    COALESCE(c.incomplete, 0) AS contacts_incomplete,
    COALESCE(q.licences, 0) AS business_licence_count,
    -- market
    COALESCE(m.markets, 0) AS target_market_count,
    NULLIF(btrim(mi.market_positioning), '') AS market_positioning,
    NULLIF(btrim(mi.target_customers), '') AS target_customers,
    -- cooperation
    co.started_on AS cooperation_started_on,
    COALESCE(k.contracts, 0) AS contract_count,
    COALESCE(k.incomplete, 0) AS contracts_incomplete,
    COALESCE(p.projects, 0) AS project_count,
    d.further_cooperation,
    -- needs
    COALESCE(cardinality(n.marketing_goals), 0) AS marketing_goal_count,
    NULLIF(btrim(n.creative_preferences), '') AS creative_preferences,
    -- communication records
    COALESCE(cm.communications, 0) AS communication_count,
    cm.last_at AS last_communication_at,
    -- service feedback
    COALESCE(f.feedback, 0) AS feedback_count,
    COALESCE(f.closed_complaints_incomplete, 0) AS closed_complaints_incomplete,
    -- other (credit standing is sealed: only whether it is there)
    CASE WHEN o.credit_rating_enc IS NOT NULL THEN 'sealed' END AS credit_standing,
    o.dependence
FROM dossier d
LEFT JOIN basic_info b ON b.dossier_id = d.id
LEFT JOIN market_info mi ON mi.dossier_id = d.id
LEFT JOIN cooperation co ON co.dossier_id = d.id
LEFT JOIN needs n ON n.dossier_id = d.id
LEFT JOIN other_info o ON o.dossier_id = d.id
LEFT JOIN (
    SELECT dossier_id, count(*) AS contacts,
           count(*) FILTER (WHERE title IS NULL OR preference IS NULL) AS incomplete
    FROM contact GROUP BY dossier_id
) c ON c.dossier_id = d.id
LEFT JOIN (
    SELECT dossier_id, count(*) AS licences
    FROM qualification_document WHERE kind = 'business_licence' GROUP BY dossier_id
) q ON q.dossier_id = d.id
LEFT JOIN (
    SELECT dossier_id, count(*) AS markets FROM dossier_market GROUP BY dossier_id
) m ON m.dossier_id = d.id
LEFT JOIN (
    SELECT dossier_id, count(*) AS contracts,
           count(*) FILTER (WHERE service_scope IS NULL OR period_start IS NULL
                                  OR period_end IS NULL OR fee_range_enc IS NULL) AS incomplete
    FROM contract GROUP BY dossier_id
) k ON k.dossier_id = d.id
LEFT JOIN (
    SELECT dossier_id, count(*) AS projects FROM project GROUP BY dossier_id
) p ON p.dossier_id = d.id
LEFT JOIN (
    SELECT dossier_id, count(*) AS communications, max(occurred_at) AS last_at
    FROM communication GROUP BY dossier_id
) cm ON cm.dossier_id = d.id
LEFT JOIN (
    SELECT dossier_id, count(*) AS feedback,
           count(*) FILTER (WHERE kind = 'complaint' AND closed_on IS NOT NULL
                                  AND (handling IS NULL OR result IS NULL
                                       OR satisfaction IS NULL)) AS closed_complaints_incomplete
    FROM feedback GROUP BY dossier_id
) f ON f.dossier_id = d.id
WHERE d.status <> 'destroyed'
"""


@dataclass(frozen=True)
class Expect:
    """A GX expectation by class name and arguments (``row_condition`` and ``meta`` are
    added from the check); turned into the real object at run time."""

    type: str
    kwargs: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def column(self) -> str:
        return str(self.kwargs["column"])


def expect(type: str, **kwargs: Any) -> Expect:
    """``expect("ExpectColumnValuesToBeBetween", column="contact_count", min_value=1)``."""
    return Expect(type, dict(kwargs))


def not_null(column: str) -> Expect:
    """The item is recorded (the column is not NULL)."""
    return expect("ExpectColumnValuesToNotBeNull", column=column)


def at_least(column: str, n: int) -> Expect:
    """At least ``n`` records (a ``*_count`` column)."""
    return expect("ExpectColumnValuesToBeBetween", column=column, min_value=n)


def none_of(column: str) -> Expect:
    """No record is incomplete (a ``*_incomplete`` column is 0)."""
    return expect("ExpectColumnValuesToBeBetween", column=column, max_value=0)


@dataclass(frozen=True)
class Check:
    id: str
    article: str
    dimension: str
    severity: str
    stages: tuple[str, ...]
    description: str
    expectation: Expect


_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def validate(checks: Sequence[Check]) -> None:
    """Refuse a malformed registry before anything runs: names the offending check."""
    seen: set[str] = set()
    for c in checks:
        problems = []
        if not _ID.match(c.id):
            problems.append("id must look like 'dimension.item'")
        if c.id in seen:
            problems.append("id is used twice")
        if c.dimension not in DIMENSIONS:
            problems.append(f"dimension must be one of {', '.join(DIMENSIONS)}")
        if c.severity not in SEVERITIES:
            problems.append(f"severity must be one of {', '.join(SEVERITIES)}")
        if not c.stages or not set(c.stages) <= set(ALL_STAGES):
            problems.append(f"stages must be some of {', '.join(ALL_STAGES)}")
        if not c.article.startswith("Art"):
            problems.append("article must cite the policy ('Art. 10')")
        if "column" not in c.expectation.kwargs:
            problems.append("the expectation needs a column of DOSSIER_ROWS_SQL")
        if problems:
            raise ValueError(f"completeness check {c.id!r}: {'; '.join(problems)}")
        seen.add(c.id)


#: The registry. Order is the order of the GX suite and of Data Docs.
CHECKS: list[Check] = [
    # --- basic information ------------------------------------------------------------------
    Check("basic.registered_address", "Art. 10", "basic", ERROR, CLIENT_STAGES,
          "the overseas registered address is recorded", not_null("registered_address")),
    Check("basic.founded_on", "Art. 10", "basic", WARNING, CLIENT_STAGES,
          "the founding date is recorded", not_null("founded_on")),
    Check("basic.legal_form", "Art. 10", "basic", WARNING, CLIENT_STAGES,
          "the legal nature is recorded", not_null("legal_form")),
    Check("basic.registered_capital", "Art. 10", "basic", WARNING, CLIENT_STAGES,
          "the registered capital is recorded", not_null("registered_capital_amount")),
    Check("basic.business_scope", "Art. 10", "basic", WARNING, CLIENT_STAGES,
          "the business scope is recorded", not_null("business_scope")),
    Check("basic.key_contact", "Arts. 8, 10", "basic", ERROR, ALL_STAGES,
          "at least one key contact", at_least("contact_count", 1)),
    Check("basic.key_contact_details", "Art. 10", "basic", WARNING, ALL_STAGES,
          "every key contact has a title and a communication preference",
          none_of("contacts_incomplete")),
    Check("basic.business_licence", "Art. 10", "basic", ERROR, CLIENT_STAGES,
          "a desensitised business licence is on file", at_least("business_licence_count", 1)),
    # --- market -------------------------------------------------------------------------------
    Check("market.target_market", "Arts. 8, 10", "market", ERROR, ALL_STAGES,
          "at least one target overseas market", at_least("target_market_count", 1)),
    Check("market.positioning", "Art. 10", "market", ERROR, CLIENT_STAGES,
          "the market positioning is recorded", not_null("market_positioning")),
    Check("market.target_customers", "Art. 10", "market", WARNING, CLIENT_STAGES,
          "the target customers are recorded", not_null("target_customers")),
    # --- cooperation --------------------------------------------------------------------------
    Check("cooperation.contract", "Art. 10", "cooperation", ERROR, CLIENT_STAGES,
          "a contract (number and key terms) is on file", at_least("contract_count", 1)),
    Check("cooperation.start_date", "Art. 10", "cooperation", ERROR, CLIENT_STAGES,
          "the cooperation start date is recorded", not_null("cooperation_started_on")),
    Check("cooperation.contract_terms", "Art. 10", "cooperation", WARNING, CLIENT_STAGES,
          "every contract records service scope, period and fee range",
          none_of("contracts_incomplete")),
    Check("cooperation.project", "Art. 10", "cooperation", WARNING, CLIENT_STAGES,
          "at least one project (name and type)", at_least("project_count", 1)),
    Check("cooperation.termination_prospect", "Art. 14", "cooperation", WARNING, (TERMINATED,),
          "a terminated dossier says whether further cooperation is possible",
          not_null("further_cooperation")),
    # --- needs --------------------------------------------------------------------------------
    Check("needs.marketing_goals", "Arts. 8, 10", "needs", ERROR, ALL_STAGES,
          "at least one core marketing goal", at_least("marketing_goal_count", 1)),
    Check("needs.creative_preferences", "Art. 10", "needs", WARNING, CLIENT_STAGES,
          "brand and creative preferences are recorded", not_null("creative_preferences")),
    # --- communication records ----------------------------------------------------------------
    Check("communication.recorded", "Arts. 8, 10", "communication", ERROR, ALL_STAGES,
          "at least one communication with the client is recorded",
          at_least("communication_count", 1)),
    # --- service feedback ---------------------------------------------------------------------
    Check("feedback.recorded", "Art. 10", "feedback", WARNING, CLIENT_STAGES,
          "the client's service feedback is recorded", at_least("feedback_count", 1)),
    Check("feedback.complaint_outcome", "Art. 10", "feedback", ERROR, ALL_STAGES,
          "every closed complaint records its handling, result and the client's satisfaction",
          none_of("closed_complaints_incomplete")),
    # --- other --------------------------------------------------------------------------------
    Check("other.credit_standing", "Art. 10", "other", WARNING, CLIENT_STAGES,
          "the (desensitised) credit standing is recorded", not_null("credit_standing")),
    Check("other.dependence", "Art. 10", "other", WARNING, CLIENT_STAGES,
          "the degree of dependence on the company's services is recorded",
          not_null("dependence")),
]
