"""Every period, deadline, ratio and target of the dossier policy, in one place.

Each rule names the article it comes from; reports and error messages cite it. Ops change
a value through a TOML file named by ``DOSSIER_POLICY_FILE`` (``[rules]`` table, same
names), never by editing code — e.g. a department's implementation rule under Art. 4::

    [rules]
    loan_period_wd = 5

Unknown names and values of the wrong type are refused with the file and the name.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from dossiers.core.config import policy_file_setting
from dossiers.core.errors import CannotRun
from dossiers.core.vocabulary import Department, DocumentType


@dataclass(frozen=True)
class Rule:
    value: Any
    article: str
    meaning: str


RULES: dict[str, Rule] = {
    # Chapter 3 - creation
    "new_client_collection_wd": Rule(3, "Art. 8", "new client: departments submit the basic information within N wd of the contract"),
    "new_client_creation_wd": Rule(5, "Art. 8", "new client: CS completes initial creation and filing within N wd"),
    "legacy_backfill_months": Rule(1, "Art. 8", "legacy clients: dossiers back-filled within N months"),
    "policy_effective_on": Rule(date(2026, 1, 1), "Art. 8", "the policy took effect: clients signed before are legacy clients"),
    "form_review_wd": Rule(2, "Art. 11(2)", "department head reviews a collection form within N wd"),
    "creation_filing_wd": Rule(2, "Art. 11(5)", "archivist files electronic and paper dossier within N wd of creation"),
    "dossier_number_format": Rule("海外-{year}-{type_code}-{serial:03d}", "Art. 11(4)", "dossier number format"),
    # Chapter 4 - updates and maintenance
    "owner_check_months": Rule(1, "Art. 12", "liaisons check their clients' dossiers every N months"),
    "full_check_months": Rule(3, "Art. 12", "CS runs a full check every N months"),
    "immediate_update_wd": Rule(2, "Art. 12", "immediate-update triggers: liaison submits within N wd"),
    "annual_update_month": Rule(12, "Art. 12", "the annual full update runs in this month"),
    "update_review_wd": Rule(1, "Art. 13(2)", "department head reviews an update form within N wd"),
    "update_apply_wd": Rule(1, "Art. 13(3)", "archivist applies an update within N wd"),
    "important_change_fields": Rule(
        ("client_name_zh", "client_name_en", "contract_no", "service_scope", "period_start",
         "period_end", "fee_range"),
        "Art. 13(3)", "changes needing the CS head's approval first (client name, core cooperation terms)"),
    "backup_full_every_days": Rule(7, "Arts. 14, 18", "full backup at least every N days"),
    "backup_offsite_every_months": Rule(1, "Art. 18", "off-site backup every N months"),
    "backup_weekly_keep": Rule(5, "Arts. 14, 18", "full backups kept: the newest N (one a week at least)"),
    "backup_monthly_keep": Rule(12, "Art. 18", "and the newest full backup of each of the last N months"),
    "backup_offsite_lock_days": Rule(365, "Art. 18", "an off-site copy is locked (S3 Object Lock, compliance mode) for N days"),
    "backup_offsite_drill_months": Rule(3, "Art. 18", "a drill restores from the off-site copy itself every N months"),
    "backup_drill_document_sample": Rule(20, "Art. 18", "documents a restore drill decrypts from the restored copy"),
    "backup_rto_target_minutes": Rule(60, "Arts. 4, 18", "implementation rule: a restore drill completes within N minutes (restore quickly)"),
    "keyring_backup_keep_days": Rule(14, "Arts. 17(3), 18", "the key ring's own backups are kept N days (shorter than destruction_complete_days, so a destroyed data key leaves every backup)"),
    "destruction_complete_days": Rule(30, "Arts. 4, 17(3)", "implementation rule: N days after a destruction no copy anywhere (backups included) can be read"),
    "sampling_audit_months": Rule(3, "Art. 14", "random sample checked every N months"),
    "sampling_audit_ratio": Rule(0.05, "Art. 14", "share of dossiers drawn in the quarterly sample"),
    "sampling_audit_minimum": Rule(10, "Art. 14", "smallest quarterly sample"),
    "inactive_review_months": Rule(6, "Art. 14", "terminated, no-prospect dossiers reviewed within N months"),
    "rectification_wd": Rule(10, "Arts. 4, 14", "implementation rule: a finding is rectified within N wd, then re-checked"),
    "stale_communication_months": Rule(3, "Arts. 4, 12", "implementation rule: an active client with no communication record for N months is stale"),
    "reminder_before_wd": Rule(1, "Arts. 4, 21", "implementation rule: the SLA watch reminds the owner N wd before a deadline"),
    # Chapter 5 - management and use
    "filing_wd": Rule(3, "Art. 15", "everything filed within N wd after it is confirmed"),
    "filing_delay_max_wd": Rule(5, "Art. 15", "a delayed filing (CS head approval) never exceeds N wd"),
    "document_max_bytes": Rule(2 << 30, "Arts. 4, 15", "implementation rule: an electronic document is at most N bytes"),
    "document_file_types": Rule(("pdf", "docx", "xlsx", "pptx", "png", "jpg", "tif"), "Arts. 4, 15", "implementation rule: the file types a document may be, by its sniffed content (and its name's extension)"),
    "document_name_max_chars": Rule(200, "Arts. 4, 15", "implementation rule: an uploaded file's name is at most N characters"),
    "document_upload_grace_hours": Rule(24, "Arts. 4, 18", "implementation rule: an upload unfinished after N hours is an orphan the sweep removes"),
    "loan_period_wd": Rule(7, "Art. 16", "paper borrowing period at most N wd"),
    "loan_extension_notice_wd": Rule(1, "Art. 16", "an extension is requested at least N wd before the due date"),
    "loan_extension_max_wd": Rule(3, "Art. 16", "an extension is at most N wd"),
    "loan_extensions_allowed": Rule(1, "Art. 16", "extensions allowed per loan"),
    "destruction_min_years": Rule(3, "Art. 17(1)", "terminated at least N years before destruction"),
    # Chapter 7 - supervision and assessment
    "qa_inspection_months": Rule(6, "Art. 21", "QA special inspection every N months"),
    "kpi_creation_timeliness_new": Rule(1.0, "Art. 22", "creation timeliness target, new clients"),
}


#: Art. 6: which departments supply each type of electronic document. Customer Service
#: collects and files centrally (Art. 6(2)), so its archivist may add any type; everyone
#: else adds the types their department supplies.
DOCUMENT_SUPPLIERS: dict[DocumentType, tuple[Department, ...]] = {
    DocumentType.CONTRACT: (Department.MARKET, Department.CUSTOMER_SERVICE),
    DocumentType.QUALIFICATION: (Department.MARKET, Department.CUSTOMER_SERVICE),  # Art. 10
    DocumentType.PROPOSAL: (Department.PLANNING,),  # Art. 6: proposal texts
    DocumentType.MINUTES: (Department.MARKET, Department.PLANNING, Department.EXECUTION,
                           Department.CUSTOMER_SERVICE),
    DocumentType.REVISION_RECORD: (Department.PLANNING,),  # Art. 6
    DocumentType.EXECUTION_PLAN: (Department.EXECUTION,),  # Art. 6
    DocumentType.PROGRESS_REPORT: (Department.EXECUTION,),
    DocumentType.EFFECT_DATA: (Department.EXECUTION,),
    DocumentType.CORRESPONDENCE: (Department.MARKET, Department.PLANNING, Department.EXECUTION,
                                  Department.CUSTOMER_SERVICE),  # complaints: CS (Art. 6(4))
    DocumentType.OTHER: (Department.MARKET, Department.PLANNING, Department.EXECUTION,
                         Department.CUSTOMER_SERVICE),  # the client's brochures (Art. 9)
}


class Policy:
    """The effective rules: the defaults above with any configured overrides applied."""

    def __init__(self, overrides: dict[str, Any] | None = None):
        self._values = {name: rule.value for name, rule in RULES.items()}
        self._values.update(overrides or {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # not a rule: e.g. pickle looking for its hooks (unpickled
            raise AttributeError(name)  # in an import's worker, before _values is set)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no policy rule named {name!r}") from None

    @staticmethod
    def article(name: str) -> str:
        return RULES[name].article

    def as_table(self) -> list[dict[str, Any]]:
        return [
            {"rule": n, "value": self._values[n], "article": r.article, "meaning": r.meaning}
            for n, r in RULES.items()
        ]


def load_overrides(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CannotRun(f"policy file {path}: {exc}") from exc
    overrides = data.get("rules", {})
    for name, value in overrides.items():
        if name not in RULES:
            raise CannotRun(f"policy file {path}: unknown rule {name!r}")
        default = RULES[name].value
        expected = float if isinstance(default, float) else type(default)
        if isinstance(default, tuple) and isinstance(value, list):
            overrides[name] = value = tuple(value)
        if expected is float and type(value) is int:
            overrides[name] = value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool) != isinstance(default, bool):
            raise CannotRun(
                f"policy file {path}: rule {name!r} must be {expected.__name__}, got {value!r}"
            )
    return overrides


@functools.cache
def _policy_for(path: Path | None) -> Policy:
    return Policy(load_overrides(path) if path else None)


def policy() -> Policy:
    """The policy in force (defaults, or overridden by ``DOSSIER_POLICY_FILE``)."""
    return _policy_for(policy_file_setting())
