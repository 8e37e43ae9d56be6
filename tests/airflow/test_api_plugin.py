"""The dossier API mounted in a real ``airflow api-server`` by ``plugins/dossier_api.py``.

The server is the shared ``api_server`` fixture of ``tests/conftest.py`` (subprocess, free
loopback port, temporary ``AIRFLOW_HOME``, SQLite metadata DB, SimpleAuthManager users with a
passwords file) over the test's dossier database, as :func:`dossiers.local.local_airflow.airflow_env`
configures Airflow for ``make airflow``. ≈ 30-40 s, mostly Airflow's start-up, once a session.

It shows that Airflow itself does **not** protect a plugin's routes (the mounted app's
``/openapi.json``, which has no dependency, answers without a token while Airflow's own
``/api/v2`` refuses), and that the dossier routes do: 401 without a token, 200 with a token
from ``POST /auth/token``, 403 for an Airflow user who is not staff.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text

from dossiers.calendar.workdays import default_calendar
from dossiers.core import db
from dossiers.core.config import SHANGHAI

from helpers import FORM, imported_by, scalar

if TYPE_CHECKING:
    from conftest import AirflowServer

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugins" / "dossier_api.py"

pytestmark = [pytest.mark.airflow, pytest.mark.api]

PREFIX = "/dossier-api"


def test_the_plugin_file_is_cheap_to_import(tmp_path: Path) -> None:
    """Airflow imports plugins in every task process too: the app is built on first use."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}"}
    # (airflow.plugins_manager: loaded by every process that loads plugins anyway)
    assert imported_by(PLUGIN, after="airflow.plugins_manager", env=env, timeout=120) == [
        "dossiers", "dossiers.api", "dossiers.api.mount"]


@pytest.mark.integration
def test_plugin_routes_are_protected_by_the_api_not_by_airflow(api_server: AirflowServer,
                                                                company: Any) -> None:
    # Airflow mounts the plugin app as it is: a route without an auth dependency is open...
    spec = api_server.get(f"{PREFIX}/openapi.json")
    assert spec.status_code == 200
    # ...while Airflow's own API refuses a request without a token.
    assert api_server.get("/api/v2/dags").status_code == 401

    # The route is in the plugin's OpenAPI document, secured by the Airflow JWT scheme.
    paths = spec.json()["paths"]
    assert {"/me", "/forms", "/dossiers/{dossier_no}", "/queries"} <= set(paths)
    assert paths["/me"]["get"]["security"] == [{"AirflowJWT": []}]

    # No token, a bad token: 401 from the dossier API, as one line.
    for token in (None, "not-a-jwt"):
        refused = api_server.get(f"{PREFIX}/me", token)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
        assert set(refused.json()) == {"detail"} and "authentication" in refused.json()["detail"]

    token = api_server.token("li.archive")
    me = api_server.get(f"{PREFIX}/me", token)
    assert me.status_code == 200, me.text
    assert me.json() == {"username": "li.archive", "department": "customer_service",
                         "roles": ["archivist"], "active": True}
    assert api_server.get(f"{PREFIX}/forms", token).json() == {"items": [], "next": None}
    missing = api_server.get(f"{PREFIX}/dossiers/{quote('海外-2026-電商-001', safe='')}", token)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "dossier 海外-2026-電商-001: no such dossier"}

    # An Airflow admin who is not a staff member gets nothing from the dossier API.
    ops = api_server.token("ops.airflow")
    assert api_server.get("/api/v2/dags", ops).status_code == 200
    outsider = api_server.get(f"{PREFIX}/me", ops)
    assert outsider.status_code == 403 and "not a staff member" in outsider.json()["detail"]

    # Airflow lists the plugin and its mounted app.
    plugins = api_server.get("/api/v2/plugins", ops).json()["plugins"]
    mine = [p for p in plugins if p["name"] == "dossier_api"]
    assert mine and mine[0]["fastapi_apps"][0]["url_prefix"] == PREFIX


class Caller:
    """Requests to the running server as one Airflow user: by bearer token, or as a browser
    signed in to the UI (the ``_token`` cookie), with the headers a page would send."""

    def __init__(self, server: AirflowServer, username: str):
        self.base = server.base
        self.token = server.token(username)

    def bearer(self, path: str, body: Any = None, **headers: str) -> httpx.Response:
        return httpx.post(f"{self.base}{PREFIX}{path}", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {self.token}", **headers})

    def browser(self, path: str, body: Any = None, **headers: str) -> httpx.Response:
        with httpx.Client(base_url=self.base, cookies={"_token": self.token}, timeout=30) as c:
            return c.post(f"{PREFIX}{path}", json=body, headers=headers)


@pytest.mark.integration
def test_a_cross_site_request_signed_in_by_the_cookie_changes_nothing(
        api_server: AirflowServer, company: Any) -> None:
    """Issue 10, item 1: a page of another site made a signed-in archivist's browser approve
    a query grant (only the ``_token`` cookie and ``Origin: http://evil.example`` → 200). Now:
    403 on approving a grant, lending a loan, applying an update and approving a filing
    delay, each record left as it was and the refusal logged; the same requests from the
    server's own origin with the cookie, or with a bearer token, still do what they did."""
    archivist, head, liaison = (Caller(api_server, u) for u in ("li.archive", "zhao.market",
                                                                "wang.market"))
    cs_head, planner = Caller(api_server, "chen.cs"), Caller(api_server, "sun.plan")
    # A filed dossier with a pending grant, an approved loan and a reviewed update; a second
    # dossier, not filed, with a filing delay asked for: set up by bearer clients.
    forms = liaison.bearer("/forms", [FORM, {**FORM, "client_name_zh": "南風外貿",
                                             "client_name_en": "Southwind Trading",
                                             "client_type": "MFG"}])
    assert forms.status_code == 200 and not forms.json()["rejected"], forms.text
    numbers = []
    for accepted in forms.json()["accepted"]:
        assert head.bearer(f"/forms/{accepted['form_id']}/review",
                           {"decision": "approve"}).status_code == 200
        made = archivist.bearer("/dossiers", {"form_id": accepted["form_id"]})
        assert made.status_code == 201, made.text
        numbers.append(made.json()["dossier_no"])
    filed, unfiled = (quote(n, safe="") for n in numbers)
    assert archivist.bearer(f"/dossiers/{filed}/file",
                            {"cabinet": "電商", "shelf": 1}).status_code == 200
    grant = planner.bearer("/queries", {"dossier_no": numbers[0], "purpose": "proposal",
                                        "scope": ["needs"], "until": "2099-01-01"})
    assert grant.status_code == 201, grant.text
    loan = liaison.bearer("/loans", {"dossier_nos": [numbers[0]], "purpose": "client visit",
                                     "period_wd": 5})
    assert loan.status_code == 201, loan.text
    for who in (head, archivist):
        assert who.bearer(f"/loans/{loan.json()['loan_id']}/approve", {}).status_code == 200
    change = liaison.bearer("/updates", {
        "dossier_no": numbers[0], "changes": {"contact_phone": "+49 30 7654321"},
        "reason": "new switchboard", "evidence": "client's e-mail of 2026-11-20",
        "collection_channel": "email"})
    assert change.status_code == 201, change.text
    assert head.bearer(f"/updates/{change.json()['change_id']}/review",
                       {"decision": "approve"}).status_code == 200
    today = datetime.now(SHANGHAI).date()  # filing is due 2 wd after creation, at most 5 wd
    asked = archivist.bearer(f"/dossiers/{unfiled}/filing-delays", {
        "until": default_calendar().add(today, 3).date.isoformat(),
        "reason": "the client's signed copy arrives on Monday"})
    assert asked.status_code == 201, asked.text

    ids = {"grant": grant.json()["grant_id"], "loan": loan.json()["loan_id"],
           "change": change.json()["change_id"], "delay": asked.json()["delay_id"]}
    state = {
        "grant": ("SELECT status FROM query_grant WHERE id = :id", "requested", "approved"),
        "loan": ("SELECT status FROM loan WHERE id = :id", "approved", "lent"),
        "change": ("SELECT status FROM dossier_change WHERE id = :id", "reviewed", "applied"),
        "delay": ("SELECT status FROM filing_delay WHERE id = :id", "requested", "approved"),
    }
    writes = [(archivist, "grant", f"/queries/{ids['grant']}/approve"),
              (archivist, "loan", f"/loans/{ids['loan']}/lend"),
              (archivist, "change", f"/updates/{ids['change']}/apply"),
              (cs_head, "delay", f"/dossiers/filing-delays/{ids['delay']}/approve")]
    ledger = scalar("SELECT count(*) FROM ledger_entry")
    other_port = api_server.base.rsplit(":", 1)[0] + ":1"
    forged = ({"Origin": "http://evil.example"},
              {"Origin": other_port},  # another port of the same host: "same-site"
              {"Origin": "null"},
              {"Referer": "http://evil.example/win-a-prize.html"},
              {})  # neither header: refused too (dossiers.api.same_origin says why)
    for who, record, path in writes:
        for headers in forged:
            refused = who.browser(path, **headers)
            assert refused.status_code == 403, (path, headers, refused.text)
            detail = refused.json()["detail"]
            assert set(refused.json()) == {"detail"} and "\n" not in detail
            assert "Airflow session cookie" in detail and "Bearer" in detail
        # a bearer token *and* the cookie from another site: the cookie's user would act
        refused = who.browser(path, Authorization=f"Bearer {who.token}",
                              Origin="http://evil.example")
        assert refused.status_code == 403, refused.text
        sql, pending, _ = state[record]
        assert scalar(sql, id=ids[record]) == pending, (record, "changed by a forgery")
    assert scalar("SELECT count(*) FROM ledger_entry") == ledger  # nothing was recorded done
    with db.transaction() as conn:
        logged = conn.execute(text(
            "SELECT actor, count(*) FROM access_log WHERE action = 'api.cross_site' "
            "AND NOT allowed GROUP BY actor ORDER BY actor")).all()
        reasons = set(conn.execute(text(
            "SELECT reason FROM access_log WHERE action = 'api.cross_site'")).scalars())
    assert [tuple(r) for r in logged] == [("chen.cs", 6), ("li.archive", 18)]
    assert "Origin http://evil.example is not this server's" in reasons
    assert "neither Origin nor Referer says which page sent it" in reasons

    # From the server's own page (the UI sends its Origin), and as bearer clients (from
    # another origin too: a bearer token is not sent by a browser on its own): they act.
    own = api_server.base
    (_, _, grant_path), (_, _, lend_path), (_, _, apply_path), (_, _, delay_path) = writes
    approved = archivist.browser(grant_path, Origin=own)
    assert approved.json() == {"grant_id": ids["grant"], "status": "approved"}, approved.text
    lent = archivist.browser(lend_path, Referer=f"{own}/dossier-api/docs")
    assert lent.status_code == 200 and lent.json()["status"] == "lent", lent.text
    applied = archivist.bearer(apply_path)
    assert applied.status_code == 200 and applied.json()["status"] == "applied", applied.text
    decided = cs_head.bearer(delay_path, Origin="http://evil.example")
    assert decided.status_code == 200 and decided.json()["status"] == "approved", decided.text
    for record, (sql, _, done) in state.items():
        assert scalar(sql, id=ids[record]) == done, record
    # reading with the cookie is not checked: a GET changes nothing
    me = httpx.get(f"{own}{PREFIX}/me", cookies={"_token": archivist.token}, timeout=30,
                   headers={"Origin": "http://evil.example"})
    assert me.status_code == 200 and me.json()["username"] == "li.archive"
