"""A record that does not exist is 404 on every route that names one, whatever the noun.

Each route that takes a record in its path (a form, a dossier, a filing delay, an update
form, a query grant, a loan, a paper volume, a document, an incident, a complaint) or names
one in its body is asked, by someone whose role allows the action and with an otherwise valid
body, about a record that was never made; the answer is 404 naming the record, and nothing
is written. The routes are read from the OpenAPI document, so a new route with a path
parameter fails here until it is listed.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

import pytest

from helpers import scalar as _count

pytestmark = [pytest.mark.integration, pytest.mark.api]

MISSING_UUID = uuid.UUID("00000000-0000-4000-8000-00000000dead")
MISSING_NUMBER = "海外-2026-電商-999"
MISSING_INT = 999_999

#: The value of each kind of path parameter that names no record.
MISSING = {"form_id": str(MISSING_UUID), "change_id": str(MISSING_UUID),
           "grant_id": str(MISSING_UUID), "loan_id": str(MISSING_UUID),
           "dossier_no": quote(MISSING_NUMBER, safe=""), "delay_id": str(MISSING_INT),
           "volume_id": str(MISSING_INT), "document_id": str(MISSING_UUID),
           "incident_id": str(MISSING_UUID), "complaint_id": str(MISSING_UUID)}

DOSSIER = f"dossier {MISSING_NUMBER}: no such dossier"

#: (method, path template) -> (who asks, a valid body, what the answer names).
BY_PATH: dict[tuple[str, str], tuple[str, Any, str]] = {
    ("POST", "/forms/{form_id}/review"):
        ("zhao.market", {"decision": "approve"}, f"form {MISSING_UUID}: no such form"),
    ("GET", "/dossiers/{dossier_no}"): ("li.archive", None, DOSSIER),
    ("POST", "/dossiers/{dossier_no}/file"):
        ("li.archive", {"cabinet": "電商", "shelf": 1}, DOSSIER),
    ("POST", "/dossiers/{dossier_no}/stage"): ("li.archive", {"stage": "active"}, DOSSIER),
    ("POST", "/dossiers/{dossier_no}/keep"): ("li.archive", {"reason": "reference"}, DOSSIER),
    ("POST", "/dossiers/{dossier_no}/filing-delays"):
        ("li.archive", {"until": "2099-01-05", "reason": "client abroad"}, DOSSIER),
    ("POST", "/dossiers/filing-delays/{delay_id}/approve"):
        ("chen.cs", None, f"filing delay {MISSING_INT}: no such filing delay request"),
    ("POST", "/dossiers/filing-delays/{delay_id}/reject"):
        ("chen.cs", {"reason": "no"}, f"filing delay {MISSING_INT}: no such filing delay request"),
    ("POST", "/updates/{change_id}/review"):
        ("zhao.market", {"decision": "approve"}, f"update {MISSING_UUID}: no such update form"),
    ("POST", "/updates/{change_id}/important"):
        ("chen.cs", {"decision": "reject", "reason": "no"},
         f"update {MISSING_UUID}: no such update form"),
    ("POST", "/updates/{change_id}/apply"):
        ("li.archive", None, f"update {MISSING_UUID}: no such update form"),
    ("POST", "/queries/{grant_id}/approve"):
        ("li.archive", None, f"query grant {MISSING_UUID}: no such query request"),
    ("POST", "/queries/{grant_id}/reject"):
        ("li.archive", {"reason": "no"}, f"query grant {MISSING_UUID}: no such query request"),
    ("POST", "/loans/{loan_id}/approve"):
        ("zhao.market", {}, f"loan {MISSING_UUID}: no such loan"),
    ("POST", "/loans/{loan_id}/reject"):
        ("li.archive", {"reason": "no"}, f"loan {MISSING_UUID}: no such loan"),
    ("POST", "/loans/{loan_id}/lend"): ("li.archive", None, f"loan {MISSING_UUID}: no such loan"),
    ("POST", "/loans/{loan_id}/extension"):
        ("wang.market", {"wd": 1}, f"loan {MISSING_UUID}: no such loan"),
    ("POST", "/loans/{loan_id}/extension/decision"):
        ("li.archive", {"decision": "approve"}, f"loan {MISSING_UUID}: no such loan"),
    ("POST", "/loans/{loan_id}/return"):
        ("li.archive", {"default": "good"}, f"loan {MISSING_UUID}: no such loan"),
    ("POST", "/vault/volumes/{volume_id}/checks"):
        ("li.archive", {"condition": "good"}, f"volume {MISSING_INT}: no such paper volume"),
    ("GET", "/documents/{document_id}"):
        ("li.archive", None, f"document {MISSING_UUID}: no such document"),
    ("POST", "/documents/{document_id}/file"):
        ("li.archive", None, f"document {MISSING_UUID}: no such document"),
    ("POST", "/incidents/{incident_id}/steps"):
        ("chen.cs", {"step": "contained"}, f"incident {MISSING_UUID}: no such incident"),
    ("POST", "/incidents/{incident_id}/close"):
        ("mgmt.wu", {"closure": "handled"}, f"incident {MISSING_UUID}: no such incident"),
    ("POST", "/complaints/{complaint_id}/investigation"):
        ("qa.he", {"findings": "none", "upheld": False},
         f"complaint {MISSING_UUID}: no such complaint"),
    ("POST", "/complaints/{complaint_id}/close"):
        ("qa.he", {"note": "rectified"}, f"complaint {MISSING_UUID}: no such complaint"),
}

#: Routes that name a record in their body: (method, path, who asks, body, what is named).
BY_BODY: list[tuple[str, str, str, Any, str]] = [
    ("POST", "/dossiers", "li.archive", {"form_id": str(MISSING_UUID)},
     f"form {MISSING_UUID}: no such form"),
    ("POST", "/queries", "sun.plan", {"dossier_no": MISSING_NUMBER, "purpose": "proposal",
                                      "scope": ["needs"], "until": "2099-01-01"}, DOSSIER),
    ("POST", "/updates", "wang.market", {"dossier_no": MISSING_NUMBER,
                                         "changes": {"honours": "award"}, "reason": "news",
                                         "evidence": "press release"}, DOSSIER),
    ("POST", "/loans", "wang.market", {"dossier_nos": [MISSING_NUMBER], "purpose": "visit",
                                       "period_wd": 2}, DOSSIER),
    ("POST", "/vault/volumes", "li.archive", {"dossier_no": MISSING_NUMBER}, DOSSIER),
]


def test_every_route_with_a_record_in_its_path_is_listed(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    with_path_parameter = {(method.upper(), path) for path, ops in spec["paths"].items()
                           for method in ops if "{" in path}
    assert with_path_parameter == set(BY_PATH)
    assert {name for _, path in BY_PATH for name in re.findall(r"\{(\w+)\}", path)} == set(MISSING)


def test_a_missing_record_is_404_on_every_route(client: Any, company: Any,
                                                as_user: Any) -> None:
    asked = [(method, re.sub(r"\{(\w+)\}", lambda m: MISSING[m.group(1)], template), user, body,
              named) for (method, template), (user, body, named) in BY_PATH.items()]
    wrong = []
    for method, path, user, body, named in [*asked, *BY_BODY]:
        response = client.request(method, path, json=body, headers=as_user(user))
        detail = response.json().get("detail")
        if (response.status_code, set(response.json())) != (404, {"detail"}) or \
                not str(detail).startswith(named):
            wrong.append((method, path, response.status_code, detail))
    assert wrong == []
    # Nothing was written: no ledger entry beyond onboarding, no refusal logged.
    assert _count("SELECT count(*) FROM ledger_entry WHERE action NOT LIKE 'staff.%'") == 0
    assert _count("SELECT count(*) FROM access_log WHERE NOT allowed") == 0
