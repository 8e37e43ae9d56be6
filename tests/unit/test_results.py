"""A workflow's typed result prints as the JSON the CLI always printed: keys in field order,
``from`` for ``from_stage``, no key for an absent optional field, dates as ISO strings."""

from __future__ import annotations

import json
from datetime import date

import pytest

from dossiers.cli.shared import print_json
from dossiers.core.vocabulary import ExtensionStatus, UpdateStatus
from dossiers.workflows.lifecycle import StageChanged
from dossiers.workflows.loans import ExtensionDecided
from dossiers.workflows.updates import Decided, Submitted


def test_a_result_prints_its_fields_in_order_with_their_keys(capsys) -> None:
    changed = StageChanged("海外-2026-電商-001", "active", "terminated", date(2026, 10, 9), False)
    print_json([changed])
    printed = capsys.readouterr().out
    assert json.loads(printed) == [{"dossier_no": "海外-2026-電商-001", "from": "active",
                                    "stage": "terminated", "terminated_on": "2026-10-09",
                                    "further_cooperation": False}]
    assert list(json.loads(printed)[0]) == ["dossier_no", "from", "stage", "terminated_on",
                                            "further_cooperation"]
    assert changed["from"] == "active" and dict(changed)["stage"] == "terminated"


def test_an_absent_optional_field_has_no_key() -> None:
    approved = ExtensionDecided("l1", ExtensionStatus.APPROVED, date(2026, 10, 20))
    assert approved.as_dict() == {"loan_id": "l1", "extension_status": "approved",
                                  "due_on": date(2026, 10, 20)}
    with pytest.raises(KeyError):
        approved["reason"]
    rejected = ExtensionDecided("l1", ExtensionStatus.REJECTED, date(2026, 10, 12), "booked")
    assert rejected["reason"] == "booked"
    review = Decided("c1", UpdateStatus.REVIEWED, important=False, apply_due="2026-10-12")
    assert list(review.as_dict()) == ["change_id", "status", "important", "apply_due"]


def test_an_immediate_update_keeps_its_keys_in_the_order_they_were_printed() -> None:
    routine = Submitted("c1", "n1", UpdateStatus.SUBMITTED, ["legal_form"], False,
                        review_due="2026-10-12")
    assert list(routine.as_dict()) == ["change_id", "dossier_no", "status", "fields",
                                       "important", "review_due"]
    immediate = Submitted("c1", "n1", UpdateStatus.SUBMITTED, ["legal_form"], False,
                          trigger="basic_info", occurred_on="2026-10-08",
                          submission_due="2026-10-10", late=False, review_due="2026-10-12")
    assert list(immediate.as_dict()) == ["change_id", "dossier_no", "status", "fields",
                                         "important", "trigger", "occurred_on",
                                         "submission_due", "late", "review_due"]
    assert json.dumps(immediate.as_dict()["status"]) == '"submitted"'
