"""The dossier REST API in-process against the real test database, with real Airflow JWTs.

401 for no, bad, expired or revoked tokens; 403 for a forbidden action or a user who is not
staff (both logged); 404 for a missing record; 422 for bad input and illegal transitions;
and the whole path intake → review → create → file → query → approve → masked read, with
the ledger showing each step.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import quote, unquote

import pytest

from helpers import FORM
from helpers import rows as _rows  # the name this module's tests use

pytestmark = [pytest.mark.integration, pytest.mark.api]


def _path(number: str) -> str:
    return f"/dossiers/{quote(number, safe='')}"


def _one_line_error(response: Any, status: int, *needles: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str), body
    assert "\n" not in body["detail"]
    for needle in needles:
        assert needle in body["detail"], body["detail"]
    return str(body["detail"])


def _submitted_form(client: Any, as_user: Any, **changes: str) -> str:
    report = client.post("/forms", json=[{**FORM, **changes}], headers=as_user("wang.market"))
    assert report.status_code == 200, report.text
    assert report.json()["rejected"] == [], report.json()
    return str(report.json()["accepted"][0]["form_id"])


def _created_dossier(client: Any, as_user: Any) -> str:
    form_id = _submitted_form(client, as_user)
    assert client.post(f"/forms/{form_id}/review", json={"decision": "approve"},
                       headers=as_user("zhao.market")).status_code == 200
    made = client.post("/dossiers", json={"form_id": form_id}, headers=as_user("li.archive"))
    assert made.status_code == 201, made.text
    return str(made.json()["dossier_no"])


# --- authentication -----------------------------------------------------------------------------

#: A value for each kind of path parameter, to call every operation of the document.
SAMPLE_PARAMETERS = {"dossier_no": quote("海外-2026-電商-001", safe=""), "volume_id": "1",
                     "delay_id": "1"}


def _operations(client: Any) -> list[tuple[str, str]]:
    """Every operation of the OpenAPI document but ``/health``, as (method, concrete path)."""
    spec = client.get("/openapi.json").json()
    return [(m.upper(), _concrete(p)) for p, ops in spec["paths"].items() for m in ops
            if p != "/health"]


def _concrete(path: str) -> str:
    """The path with its parameters filled in (ids as fresh UUIDs)."""
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PARAMETERS.get(m.group(1), str(uuid.uuid4())),
                  path)


def test_every_route_but_health_is_in_the_openapi_and_needs_a_token(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    authenticated = _operations(client)
    assert len(authenticated) >= 20  # every noun of the CLI has its routes
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            secured = bool(op.get("security"))
            assert secured == (path != "/health"), (method, path)
    assert "AirflowJWT" in spec["components"]["securitySchemes"]
    # No token at all, and an invalid body too: authentication is answered first.
    for method, path in authenticated:
        response = client.request(method, path, content=b"{not json",
                                  headers={"Content-Type": "application/json"})
        _one_line_error(response, 401, "authentication", "Not authenticated")
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}


def test_bad_expired_and_revoked_tokens_are_401(client: Any, company: Any, airflow: Any,
                                                 as_user: Any) -> None:
    assert client.get("/me", headers=as_user("li.archive")).status_code == 200
    for token in ("garbage", "a.b.c"):
        response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        _one_line_error(response, 401, "Invalid JWT token")
    # Signed with another secret: Airflow's validator refuses the signature.
    from airflow.api_fastapi.auth.tokens import JWTGenerator

    forged = JWTGenerator(secret_key="not-the-secret-" * 8, valid_for=600, audience="apache-airflow",
                          issuer=None).generate({"sub": "li.archive", "role": "admin"})
    _one_line_error(client.get("/me", headers={"Authorization": f"Bearer {forged}"}), 401,
                    "Invalid JWT token")
    expired = airflow.token_expiring_in("li.archive", -3600)
    _one_line_error(client.get("/me", headers={"Authorization": f"Bearer {expired}"}), 401,
                    "Token Expired")
    revoked = airflow.token("li.archive")
    assert client.get("/me", headers={"Authorization": f"Bearer {revoked}"}).status_code == 200
    airflow.revoke(revoked)  # what Airflow's logout does
    _one_line_error(client.get("/me", headers={"Authorization": f"Bearer {revoked}"}), 401)
    # The Airflow UI's session cookie authenticates as well (Airflow's get_user reads it).
    client.cookies.set("_token", airflow.token("qa.he"))
    try:
        assert client.get("/me").json()["username"] == "qa.he"
    finally:
        client.cookies.clear()


def test_me_and_an_airflow_user_who_is_not_staff(client: Any, company: Any, as_user: Any,
                                                  not_staff: str) -> None:
    assert client.get("/me", headers=as_user("li.archive")).json() == {
        "username": "li.archive", "department": "customer_service", "roles": ["archivist"],
        "active": True}
    operations = _operations(client)
    for method, path in operations:
        response = client.request(method, path, json={}, headers=as_user(not_staff))
        _one_line_error(response, 403, f"user {not_staff}", "not a staff member")
    refusals = _rows("SELECT actor, action, allowed FROM access_log")
    assert set(refusals) == {(not_staff, "api.access", False)}
    assert len(refusals) == len(operations)


def test_a_cross_site_request_with_the_session_cookie_is_refused_on_every_write(
        client: Any, company: Any, airflow: Any, as_user: Any) -> None:
    """Every operation but GET, signed in by the UI's cookie: from another origin (or with no
    Origin or Referer at all) a one-line 403, logged, before anything is read or written;
    the same request from this server's page, or with a bearer token, goes on (issue 10,
    item 1; against a running api-server: tests/airflow/test_api_plugin.py)."""
    writes = [(m, p) for m, p in _operations(client) if m not in ("GET", "HEAD")]
    assert len(writes) >= 20
    cookie = {"Cookie": f"_token={airflow.token('li.archive')}"}
    before = _rows("SELECT count(*) FROM ledger_entry")
    for origin in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                   {"Origin": "http://testserver:8081"}, {"Origin": "https://testserver"},
                   {"Referer": "http://evil.example/page"}, {}):
        for method, path in writes:
            response = client.request(method, path, json={}, headers={**cookie, **origin})
            _one_line_error(response, 403, "request: refused:", f"{method} {unquote(path)}",
                            "Airflow session cookie", "Authorization: Bearer")
        # nothing the requests named was read or written: only their refusals are recorded
    refusals = _rows("SELECT actor, action, allowed, subject FROM access_log ORDER BY id")
    assert len(refusals) == 6 * len(writes)
    assert {(a, act, ok) for a, act, ok, _ in refusals} == {("li.archive", "api.cross_site", False)}
    assert {s for *_, s in refusals} == {f"{m} {unquote(p)}" for m, p in writes}
    assert _rows("SELECT count(*) FROM ledger_entry") == before
    reasons = _rows("SELECT reason FROM access_log ORDER BY id LIMIT 1")
    assert reasons == [("Origin http://evil.example is not this server's",)]

    # From this server's page (Origin, or Referer alone), or as a bearer client from
    # anywhere: the request is answered by the route (a 422 for the empty body, not a 403).
    form_id = str(uuid.uuid4())
    for headers in ({**cookie, "Origin": "http://testserver"},
                    {**cookie, "Referer": "http://testserver/dossier-reports/"},
                    {**as_user("li.archive"), "Origin": "http://evil.example"},
                    as_user("li.archive")):
        answer = client.post("/dossiers", json={"form_id": form_id}, headers=headers)
        _one_line_error(answer, 404, f"form {form_id}: no such form")
    assert client.get("/me", headers={**cookie, "Origin": "http://evil.example"}).json()[
        "username"] == "li.archive"  # a read is not a forgery risk: GET is not checked
    assert len(_rows("SELECT 1 FROM access_log")) == 6 * len(writes)


def test_the_session_cookie_is_airflows() -> None:
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN

    from dossiers.api.same_origin import SESSION_COOKIE

    assert SESSION_COOKIE == COOKIE_NAME_JWT_TOKEN


# --- the whole path ----------------------------------------------------------------------------

def test_intake_review_create_file_query_approve_read(client: Any, company: Any,
                                                      as_user: Any) -> None:
    form_id = _submitted_form(client, as_user)
    listed = client.get("/forms", headers=as_user("zhao.market")).json()["items"]
    assert [(f["form_id"], f["client_name_en"], f["liaison"]) for f in listed] == [
        (form_id, "Northwind Retail GmbH", "wang.market")]
    assert listed[0]["review_due"] and listed[0]["status"] == "submitted"
    nothing = {"items": [], "next": None}
    assert client.get("/forms", headers=as_user("sun.plan")).json() == nothing  # not their form

    # The same client again is a duplicate, reported by row and field; nothing written.
    again = client.post("/forms", json=[FORM], headers=as_user("wang.market")).json()
    assert again["accepted"] == [] and again["rejected"][0]["code"] == "duplicate"
    assert again["rejected"][0]["row"] == 2

    reviewed = client.post(f"/forms/{form_id}/review", json={"decision": "approve"},
                           headers=as_user("zhao.market"))
    assert reviewed.json() == {"form_id": form_id, "status": "reviewed"}
    made = client.post("/dossiers", json={"form_id": form_id}, headers=as_user("li.archive"))
    assert made.status_code == 201
    number = made.json()["dossier_no"]
    assert number.endswith("-電商-001") and "-" in number
    filed = client.post(_path(number) + "/file", json={"cabinet": "電商", "shelf": 2},
                        headers=as_user("li.archive"))
    assert filed.json() == {"dossier_no": number, "cabinet": "電商", "shelf": 2, "position": 1}

    # The liaison reads everything in clear; an outsider without a grant is refused.
    own = client.get(_path(number), headers=as_user("wang.market")).json()
    assert own["contacts"][0]["email"] == "greta@northwind.example.de"
    assert own["other"]["credit_rating"] == "AA" and own["target_markets"] == ["DE", "AT"]
    assert own["vault"] == [{"volume_no": 1, "cabinet": "電商", "shelf": 2, "position": 1,
                             "condition": "good"}]
    refused = client.get(_path(number), headers=as_user("sun.plan"))
    _one_line_error(refused, 403, "sun.plan may not dossier.read", "approved query grant")
    assert "greta" not in refused.text.lower()

    asked = client.post("/queries", headers=as_user("sun.plan"), json={
        "dossier_no": number, "purpose": "campaign proposal", "scope": ["contacts", "needs"],
        "until": "2099-01-01"})
    assert asked.status_code == 201, asked.text
    grant = asked.json()["grant_id"]
    assert asked.json() == {"grant_id": grant, "dossier_no": number, "status": "requested"}
    _one_line_error(client.post(f"/queries/{grant}/approve", headers=as_user("zhao.market")),
                    403, "may not query.approve")
    approved = client.post(f"/queries/{grant}/approve", headers=as_user("li.archive"))
    assert approved.json() == {"grant_id": grant, "status": "approved"}

    shown = client.get(_path(number), headers=as_user("sun.plan"))
    assert shown.status_code == 200
    view = shown.json()
    assert view["scope"] == ["contacts", "needs"]
    assert "other" not in view and "basic" not in view and "vault" not in view
    assert view["contacts"][0]["email"] == "g***@northwind.example.de"  # masked
    assert view["contacts"][0]["name"] == "G***"
    assert "Greta" not in shown.text and "greta@" not in shown.text

    actions = [a for (a,) in _rows("SELECT action FROM ledger_entry WHERE action NOT LIKE "
                                   "'staff.%' ORDER BY seq")]
    assert actions == ["form.submit", "form.approve", "dossier.create", "dossier.file",
                       "query.request", "query.approve"]
    actors = _rows("SELECT actor, action FROM ledger_entry WHERE action NOT LIKE 'staff.%' "
                   "ORDER BY seq")
    assert [a for a, _ in actors] == ["wang.market", "zhao.market", "li.archive", "li.archive",
                                      "sun.plan", "li.archive"]
    submit = _rows("SELECT body FROM ledger_entry WHERE action = 'form.submit'")[0][0]
    assert "Greta" not in str(submit) and "greta@" not in str(submit)  # nothing personal
    reads = _rows("SELECT actor, allowed FROM access_log WHERE action = 'dossier.read' "
                  "ORDER BY id")
    assert reads == [("wang.market", True), ("sun.plan", False), ("sun.plan", True)]


def test_stages_and_a_rejected_form(client: Any, company: Any, as_user: Any) -> None:
    number = _created_dossier(client, as_user)
    path = _path(number) + "/stage"
    archivist = as_user("li.archive")
    _one_line_error(client.post(path, json={"stage": "potential"}, headers=archivist), 422,
                    f"dossier {number}: stage: cannot move from potential to potential")
    assert client.post(path, json={"stage": "active"}, headers=archivist).json() == {
        "dossier_no": number, "from": "potential", "stage": "active", "terminated_on": None,
        "further_cooperation": None}
    _one_line_error(client.post(path, json={"stage": "terminated", "terminated_on": "2026-11-20"},
                                headers=archivist), 422, "further cooperation")
    _one_line_error(client.post(path, json={"stage": "terminated"}, headers=as_user("wang.market")),
                    403, "may not dossier.stage")
    done = client.post(path, headers=archivist, json={
        "stage": "terminated", "terminated_on": "2026-11-20", "further_cooperation": False})
    assert done.json()["stage"] == "terminated" and done.json()["from"] == "active"

    other = _submitted_form(client, as_user, client_name_zh="南風外貿",
                            client_name_en="Southwind Trading Ltd", client_type="MFG")
    _one_line_error(client.post(f"/forms/{other}/review", json={"decision": "reject"},
                                headers=as_user("zhao.market")), 422, "reason: a rejection needs")
    rejected = client.post(f"/forms/{other}/review", headers=as_user("zhao.market"),
                           json={"decision": "reject", "reason": "no registered address"})
    assert rejected.json() == {"form_id": other, "status": "rejected"}
    mine = client.get("/forms", params={"status": "rejected"}, headers=as_user("wang.market"))
    assert [f["rejection_reason"] for f in mine.json()["items"]] == ["no registered address"]
    _one_line_error(client.post("/dossiers", json={"form_id": other}, headers=archivist), 422,
                    f"form {other}", "rejected")


# --- 403 / 404 / 422 ---------------------------------------------------------------------------

def test_forbidden_actions_are_403_and_logged(client: Any, company: Any, as_user: Any) -> None:
    form_id = _submitted_form(client, as_user)
    _one_line_error(client.post(f"/forms/{form_id}/review", json={"decision": "approve"},
                                headers=as_user("wang.market")), 403, "may not form.review")
    _one_line_error(client.post("/dossiers", json={"form_id": form_id},
                                headers=as_user("zhao.market")), 403, "may not dossier.create")
    _one_line_error(client.get("/forms", headers=as_user("mgmt.wu")), 403, "may not form.list")
    refusals = _rows("SELECT actor, action FROM access_log WHERE NOT allowed ORDER BY id")
    assert refusals == [("wang.market", "form.review"), ("zhao.market", "dossier.create"),
                        ("mgmt.wu", "form.list")]
    assert _rows("SELECT status FROM form") == [("submitted",)]  # nothing changed


def test_missing_records_are_404(client: Any, company: Any, as_user: Any) -> None:
    archivist = as_user("li.archive")
    missing = uuid.uuid4()
    _one_line_error(client.post(f"/forms/{missing}/review", json={"decision": "approve"},
                                headers=as_user("zhao.market")), 404, f"form {missing}: no such form")
    _one_line_error(client.post("/dossiers", json={"form_id": str(missing)}, headers=archivist),
                    404, "no such form")
    for method, suffix, body in (("GET", "", None), ("POST", "/file", {"cabinet": "電商", "shelf": 1}),
                                 ("POST", "/stage", {"stage": "active"})):
        response = client.request(method, _path("海外-2026-電商-999") + suffix, json=body,
                                  headers=archivist)
        _one_line_error(response, 404, "dossier 海外-2026-電商-999: no such dossier")
    _one_line_error(client.post("/queries", headers=as_user("sun.plan"), json={
        "dossier_no": "海外-2026-電商-999", "purpose": "p", "scope": ["needs"],
        "until": "2099-01-01"}), 404, "no such dossier")
    _one_line_error(client.post(f"/queries/{missing}/approve", headers=archivist), 404,
                    "no such query request")
    _one_line_error(client.get("/nowhere", headers=archivist), 404, "Not Found")


@pytest.mark.parametrize(("method", "path", "body", "needle"), [
    ("POST", "/forms/not-a-uuid/review", {"decision": "approve"},
     "path form_id: Input should be a valid UUID"),
    ("POST", f"/forms/{uuid.UUID(int=1)}/review", {"decision": "maybe"}, "body decision: Input should be"),
    ("POST", f"/forms/{uuid.UUID(int=1)}/review", {"decision": "approve", "extra": 1},
     "body extra: Extra inputs"),
    ("POST", "/dossiers", {}, "body form_id: Field required"),
    ("POST", "/dossiers", None, "body: Field required"),
    ("POST", _path("海外-2026-電商-001") + "/file", {"cabinet": "電商", "shelf": 0}, "body shelf:"),
    ("POST", _path("海外-2026-電商-001") + "/file", {"cabinet": "a\x00b", "shelf": 1}, "body cabinet:"),
    ("POST", _path("海外-2026-電商-001") + "/file", {"cabinet": "電商", "shelf": 99999}, "body shelf:"),
    ("POST", _path("海外\x00") + "/stage", {"stage": "active"}, "path dossier_no:"),
    ("POST", "/queries", {"dossier_no": "x", "purpose": "p", "scope": [], "until": "2099-01-01"},
     "body scope: List should have at least 1 item"),
    ("POST", "/queries", {"dossier_no": "x", "purpose": "p", "scope": ["secrets"], "until": "2099-01-01"},
     "body scope[0]: Input should be"),
    ("POST", "/queries", {"dossier_no": "x", "purpose": "p", "scope": ["basic"], "until": "31/12/2099"},
     "body until:"),
    ("GET", "/forms?status=lost", None, "query status: Input should be"),
    ("POST", "/forms", [], "body: List should have at least 1 item"),
    ("POST", "/forms", [{"client_name_zh": 5}], "body[0].client_name_zh: Input should be a valid string"),
])
def test_bad_input_is_422_with_one_line(client: Any, company: Any, as_user: Any, method: str,
                                        path: str, body: Any, needle: str) -> None:
    response = client.request(method, path, json=body, headers=as_user("li.archive"))
    _one_line_error(response, 422, needle)


def test_bad_json_and_refused_rows(client: Any, company: Any, as_user: Any) -> None:
    broken = client.post("/queries", content=b'{"dossier_no": ', headers={
        **as_user("sun.plan"), "Content-Type": "application/json"})
    _one_line_error(broken, 422, "JSON decode error")
    not_utf8 = client.post("/dossiers", content=b"\xaf\xfe", headers={
        **as_user("li.archive"), "Content-Type": "application/json"})
    _one_line_error(not_utf8, 422, "body: cannot be parsed")
    anonymous = client.post("/dossiers", content=b"\xaf\xfe",
                            headers={"Content-Type": "application/json"})
    _one_line_error(anonymous, 401, "authentication")
    # A row the collection-form rules refuse is reported by row, field and code, not a 422.
    report = client.post("/forms", headers=as_user("wang.market"), json=[
        {**FORM, "contact_email": "not-an-email", "contact_phone": None},
        {**FORM, "client_name_zh": "西風本土", "client_name_en": "Westwind Local", "client_type": "LOCAL"}])
    assert report.status_code == 200
    body = report.json()
    assert [r["row"] for r in body["accepted"]] == [3]
    assert {(r["row"], r["field"], r["code"]) for r in body["rejected"]} == {
        (2, "contact_email", "invalid_email")}
    assert body["file"] == "api-request.json" and "not-an-email" not in json.dumps(
        _rows("SELECT body FROM ledger_entry")[-1][0], default=str)
    # A body missing a required column in every row is refused whole, naming the column.
    whole = client.post("/forms", headers=as_user("wang.market"),
                        json=[{k: v for k, v in FORM.items() if k != "authorisation_ref"}])
    _one_line_error(whole, 422, "request body: refused: required column missing: "
                                "authorisation_ref")
    assert _rows("SELECT count(*) FROM form") == [(1,)]


def test_a_lone_surrogate_is_invalid_text_as_in_the_cli(client: Any, company: Any,
                                                        as_user: Any) -> None:
    """JSON may escape half a UTF-16 pair (``"\\ud800"``), which is no text at all: the row is
    refused ``invalid_text``, as the CLI refuses it in a file, and the other rows go in
    (it was a 500: the rows were written to a temporary file as UTF-8; issue 10, item 8)."""
    body = ('[{"client_name_zh": "北風電商", "client_name_en": "North\\ud800wind",'
            + json.dumps({k: v for k, v in FORM.items() if k not in ("client_name_zh",
                                                                      "client_name_en")})[1:]
            + ", " + json.dumps({**FORM, "client_name_zh": "西風外貿",
                                 "client_name_en": "Westwind Trading", "client_type": "MFG",
                                 "contact_name": "A\udc00"}) + ", "
            + json.dumps({**FORM, "client_name_zh": "南風外貿",
                          "client_name_en": "Southwind Trading", "client_type": "MFG"}) + "]")
    assert "\\ud800" in body and "\\udc00" in body  # escaped in the JSON, as a client sends it
    report = client.post("/forms", content=body.encode(), headers={
        **as_user("wang.market"), "Content-Type": "application/json"})
    assert report.status_code == 200, report.text
    assert [(r["row"], r["field"], r["code"]) for r in report.json()["rejected"]] == [
        (2, "client_name_en", "invalid_text"), (3, "contact_name", "invalid_text")]
    assert [r["row"] for r in report.json()["accepted"]] == [4]
    assert _rows("SELECT client_name_en FROM form") == [("Southwind Trading",)]


def test_dossier_numbers_with_chinese_and_hyphens_in_the_path(client: Any, company: Any,
                                                              as_user: Any) -> None:
    number = _created_dossier(client, as_user)
    encoded = quote(number, safe="")
    assert "%E6%B5%B7%E5%A4%96" in encoded  # 海外
    assert client.get(f"/dossiers/{encoded}", headers=as_user("li.archive")).json()[
        "dossier_no"] == number
    # httpx encodes a raw path the same way.
    assert client.get(f"/dossiers/{number}", headers=as_user("li.archive")).status_code == 200


def test_the_vault_register(client: Any, company: Any, as_user: Any) -> None:
    number = _created_dossier(client, as_user)
    archivist = as_user("li.archive")
    assert client.post(_path(number) + "/file", json={"cabinet": "電商", "shelf": 3},
                       headers=archivist).status_code == 200
    listed = client.get("/vault", params={"cabinet": "電商"}, headers=archivist).json()["items"]
    assert [(v["ref"], v["shelf"], v["position"], v["condition"], v["on_loan"]) for v in listed] == [
        (f"{number}/1", 3, 1, "good", False)]
    assert listed[0]["label"]["dossier_no"] == number
    assert client.get("/vault", params={"cabinet": "外貿"}, headers=archivist).json()["items"] == []
    _one_line_error(client.get("/vault", headers=as_user("wang.market")), 403, "may not vault.read")
    assert client.get("/vault", headers=as_user("qa.he")).status_code == 200

    second = client.post("/vault/volumes", json={"dossier_no": number}, headers=archivist)
    assert second.status_code == 201, second.text
    assert (second.json()["ref"], second.json()["position"]) == (f"{number}/2", 2)
    _one_line_error(client.post("/vault/volumes", json={"dossier_no": number, "cabinet": "電商"},
                                headers=archivist), 422, "give both the cabinet and the shelf")
    volume_id = listed[0]["volume_id"]
    checks = f"/vault/volumes/{volume_id}/checks"
    _one_line_error(client.post(checks, json={"condition": "damaged"}, headers=archivist), 422,
                    f"volume {number}/1: action: a damaged volume is repaired or copied")
    done = client.post(checks, json={"condition": "damaged", "action": "repair"}, headers=archivist)
    assert done.status_code == 201 and done.json()["before"] == "good"
    _one_line_error(client.post("/vault/volumes/999999/checks", json={"condition": "good"},
                                headers=archivist), 404, "no such paper volume")
    actions = [a for (a,) in _rows("SELECT action FROM ledger_entry WHERE action LIKE 'vault.%' "
                                   "ORDER BY seq")]
    assert actions == ["vault.register", "vault.check"]


def test_the_api_scopes_are_the_schemas() -> None:
    from typing import get_args

    from dossiers.api.fields import Scope
    from dossiers.core.schema import QUERY_SCOPES

    assert set(get_args(Scope)) == set(QUERY_SCOPES)


# --- pooled connections --------------------------------------------------------------------------

def test_reads_go_on_after_the_server_ends_every_pooled_connection(
        client: Any, company: Any, as_user: Any, database_url: str) -> None:
    """The pool pings a connection only when its socket is not quiet (``db._quiet_or_ping``,
    no ``SELECT 1`` round trip before every unit of work): after the server has ended every
    connection to the database (``pg_terminate_backend``, what a restart does to them), the
    next read, write and health check answer as before, and every read is logged."""
    import psycopg

    from dossiers.core.db import normalise_url

    number = _created_dossier(client, as_user)
    archivist = as_user("li.archive")
    assert client.get(_path(number), headers=archivist).status_code == 200
    libpq = normalise_url(database_url).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()
    assert ended is not None and ended[0] >= 1  # the API's pooled connections, now gone

    shown = client.get(_path(number), headers=archivist)
    assert shown.status_code == 200, shown.text
    assert shown.json()["dossier_no"] == number
    assert client.post(_path(number) + "/file", json={"cabinet": "電商", "shelf": 1},
                       headers=archivist).status_code == 200
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}
    assert _rows("SELECT actor, allowed FROM access_log WHERE action = 'dossier.read'") == [
        ("li.archive", True), ("li.archive", True)]
