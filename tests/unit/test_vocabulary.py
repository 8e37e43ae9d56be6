"""The words of the system are defined once (dossiers.core.vocabulary): the API's literal
types, which OpenAPI clients read, say exactly what the enums say, in the same order."""

from __future__ import annotations

from typing import get_args

import pytest

from dossiers.api import fields, forms, loans, updates, vault
from dossiers.core.vocabulary import (
    Capacity,
    CollectionChannel,
    Condition,
    FormStatus,
    QueryScope,
    Stage,
    UpdateStatus,
    UpdateTrigger,
)


@pytest.mark.parametrize(("literal", "words"), [
    (fields.Scope, list(QueryScope)),
    (fields.Stage, list(Stage)),
    (forms.FormStatus, [FormStatus.SUBMITTED, FormStatus.REVIEWED, FormStatus.REJECTED,
                        FormStatus.CREATED]),
    (loans.Condition, list(Condition)),
    (loans.Capacity, list(Capacity)),
    (vault.Condition, list(Condition)),
    (updates.Trigger, list(UpdateTrigger)),
    (updates.Status, list(UpdateStatus)),
    (updates.Channel, list(CollectionChannel)),
], ids=["scope", "stage", "form_status", "loan_condition", "capacity", "vault_condition",
        "trigger", "update_status", "channel"])
def test_api_literals_are_the_vocabulary(literal: object, words: list[str]) -> None:
    assert list(get_args(literal)) == [str(w) for w in words]
