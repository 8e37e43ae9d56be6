"""Property-based checks of the API against its own OpenAPI document (schemathesis).

Positive: for every operation that takes input, at least 500 generated requests
(``DOSSIER_API_EXAMPLES``), each made as an archivist or as a liaison (real Airflow JWTs;
Hypothesis draws which) against the real database holding a company, a submitted form, a
filed dossier with its paper volume and a pending query grant. Half the cases have their
record ids replaced by those real ones, so the domain rules are reached and not only "no
such record". Operations without input (``/health``, ``/me``) get 20.
Negative: 50 schema-breaking requests per operation (``DOSSIER_API_NEGATIVE_EXAMPLES``).

Every response must be a non-5xx answer conforming to the documented schema and status
codes. Derandomized (reproducible), no example database. ≈ 2-4 min on 2 busy cores.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.integration, pytest.mark.api]

EXAMPLES = int(os.environ.get("DOSSIER_API_EXAMPLES", "500"))
USERS = ("li.archive", "wang.market")


def _operations() -> dict[str, bool]:
    """``METHOD /path`` of every operation, and whether it takes any input (no database needed)."""
    from dossiers.api.app import create_app

    spec = create_app().openapi()
    return {f"{m.upper()} {p}": bool(op.get("parameters") or op.get("requestBody"))
            for p, ops in spec["paths"].items() for m, op in ops.items()}


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def schema(api_app: Any) -> Any:
    import schemathesis

    return schemathesis.openapi.from_asgi("/openapi.json", api_app)


@pytest.fixture
def known(client: Any, company: Any, as_user: Any,
          form_row: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Real records to aim at: a submitted form, a filed dossier, its volume, a query grant,
    a document."""
    liaison, archivist = as_user("wang.market"), as_user("li.archive")
    first, second = (
        client.post("/forms", json=[{**form_row, **changes}], headers=liaison).json()
        ["accepted"][0]["form_id"]
        for changes in ({}, {"client_name_zh": "南風外貿", "client_name_en": "Southwind Trading",
                            "client_type": "MFG"}))
    client.post(f"/forms/{first}/review", json={"decision": "approve"}, headers=as_user("zhao.market"))
    number = client.post("/dossiers", json={"form_id": first}, headers=archivist).json()["dossier_no"]
    client.post(f"/dossiers/{number}/file", json={"cabinet": "電商", "shelf": 1}, headers=archivist)
    grant = client.post("/queries", headers=as_user("sun.plan"), json={
        "dossier_no": number, "purpose": "proposal", "scope": ["needs"], "until": "2099-01-01",
    }).json()["grant_id"]
    volume = client.get("/vault", headers=archivist).json()["items"][0]["volume_id"]
    from dossiers.intake.reader import REQUIRED_COLUMNS
    from dossiers.local import samples

    document = client.post("/documents", params={"dossier_no": number, "type": "minutes"},
                           files={"file": ("minutes.pdf", samples.pdf("Minutes", ["Kick-off"]),
                                           "application/pdf")},
                           headers=archivist).json()["document_id"]
    yield {"form_id": second, "dossier_no": number, "grant_id": grant, "volume_id": volume,
           "document_id": document,
           "required": {column: form_row[column] for column in REQUIRED_COLUMNS}}


def _aimed(case: Any, known: dict[str, Any]) -> Any:
    """The same case, with every record id it names replaced by a real one (and a submitted
    form's required columns filled in, so its other generated values meet the row rules)."""
    if isinstance(case.body, list):
        case.body = [{**row, **known["required"]} if isinstance(row, dict) else row
                     for row in case.body]
    for name in list(case.path_parameters or {}):
        if name in known:
            case.path_parameters[name] = known[name]
    if isinstance(case.body, dict):
        for name in ("form_id", "dossier_no"):
            if name in case.body:
                case.body[name] = known[name]
    if isinstance(case.query, dict) and "dossier_no" in case.query:
        case.query["dossier_no"] = known["dossier_no"]
    return case


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_no_server_error_and_every_response_as_documented(
        schema: Any, known: dict[str, Any], as_user: Any, operation: str) -> None:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    method, path = operation.split(" ", 1)
    api_operation = schema[path][method]
    generated = api_operation.as_strategy()
    strategy = st.one_of(generated, generated.map(lambda case: _aimed(case, known)))
    tokens = {who: as_user(who) for who in USERS}
    statuses: dict[str, dict[int, int]] = {who: {} for who in USERS}

    examples = EXAMPLES if OPERATIONS[operation] else 20  # nothing to vary but the user

    @given(case=strategy, who=st.sampled_from(USERS))
    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    def check(case: Any, who: str) -> None:
        response = case.call_and_validate(headers=tokens[who], checks=[
            not_a_server_error, response_schema_conformance, status_code_conformance,
            content_type_conformance])
        seen = statuses[who]
        seen[response.status_code] = seen.get(response.status_code, 0) + 1

    check()
    print(f"{operation}: {json.dumps({w: dict(sorted(s.items())) for w, s in statuses.items()})}")
    total = sum(n for seen in statuses.values() for n in seen.values())
    # Hypothesis stops early only when there is little to vary (no parameters, no body).
    assert total >= (examples if OPERATIONS[operation] else 1)
    assert all(statuses.values()), "both users made requests"
    assert not any(code >= 500 for seen in statuses.values() for code in seen)


NEGATIVE_EXAMPLES = int(os.environ.get("DOSSIER_API_NEGATIVE_EXAMPLES", "50"))


@pytest.mark.parametrize("operation", [op for op, takes_input in OPERATIONS.items() if takes_input])
def test_requests_that_break_the_schema_are_refused_not_crashed(
        schema: Any, known: dict[str, Any], as_user: Any, operation: str) -> None:
    """Negative mode: wrong types, missing or extra fields, out-of-range values - every one a
    documented 4xx (mostly 422 naming the field), never a 5xx."""
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        response_schema_conformance,
        status_code_conformance,
    )

    method, path = operation.split(" ", 1)
    strategy = schema[path][method].as_strategy(generation_mode=GenerationMode.NEGATIVE)
    headers = as_user("li.archive")
    statuses: dict[int, int] = {}

    @given(case=strategy)
    @settings(max_examples=NEGATIVE_EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=[
            not_a_server_error, response_schema_conformance, status_code_conformance])
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    check()
    print(f"{operation} (negative): {json.dumps(dict(sorted(statuses.items())))}")
    assert statuses and not any(code >= 500 for code in statuses)
