"""Compliance through the REST API (issue 15), with real Airflow JWTs, the real database and
mail caught on loopback (aiosmtpd).

An incident reported by a liaison reaches management's mailboxes within the request, is
handled by the CS head and closed by management (Art. 20); a complaint is investigated by QA
to rectification and closed (Art. 21); both registers are read by those the matrix lets read
them. Who may not act is answered 403 and the refusal logged; free text holding an e-mail
address or a phone number is 422 and writes nothing (Art. 19). The collection form's channel
and the client's authorisation (Arts. 9, 19) are checked on ``POST /forms`` and
``POST /updates`` as on the command line.
"""

from __future__ import annotations

from datetime import date
from email.header import decode_header, make_header
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import text

from dossiers.core import clock, db
from dossiers.workflows import authorisations

from helpers import act, form_row, rows, scalar

pytestmark = [pytest.mark.integration, pytest.mark.api]

MANAGEMENT = "management@staff.example.com"


def _error(response: Any, status: int, *needles: str) -> str:
    """The one-line error of ``response`` (``{"detail": ...}``), holding every needle."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail"} and "\n" not in body["detail"], body
    for needle in needles:
        assert needle in body["detail"], body["detail"]
    return str(body["detail"])


def _refusals() -> list[tuple[Any, ...]]:
    return rows("SELECT actor, action FROM access_log WHERE NOT allowed ORDER BY id")


def _text_of(message: Any) -> str:
    return "".join(p.get_payload(decode=True).decode() for p in message.walk()
                   if p.get_content_maintype() == "text")


@pytest.fixture
def dossier_no(client: Any, company: Any, as_user: Any) -> str:
    report = client.post("/forms", json=[form_row()], headers=as_user("wang.market")).json()
    form_id = report["accepted"][0]["form_id"]
    assert client.post(f"/forms/{form_id}/review", json={"decision": "approve"},
                       headers=as_user("zhao.market")).status_code == 200
    made = client.post("/dossiers", json={"form_id": form_id}, headers=as_user("li.archive"))
    assert made.status_code == 201, made.text
    return str(made.json()["dossier_no"])


# --- incidents (Art. 20) -------------------------------------------------------------------------

def test_an_incident_is_mailed_to_management_in_the_request_handled_and_closed(
        client: Any, as_user: Any, dossier_no: str, inbox: Any) -> None:
    liaison, cs_head, manager = as_user("wang.market"), as_user("chen.cs"), as_user("mgmt.wu")
    before = scalar("SELECT count(*) FROM ledger_entry")

    # Personal data in the summary: 422 naming the field, the value not echoed, nothing kept.
    leaky = client.post("/incidents", headers=liaison, json={
        "kind": "leak", "summary": "sent to greta@northwind.example.de by mistake",
        "dossier_no": dossier_no})
    detail = _error(leaky, 422, "incident: summary:", "e-mail address", "Art. 19")
    assert "greta" not in detail
    _error(client.post("/incidents", headers=liaison, json={
        "kind": "leak", "summary": "client rang back on +86 138 0013 8000"}), 422,
           "incident: summary:", "phone number")
    _error(client.post("/incidents", headers=liaison, json={"kind": "rumour", "summary": "x"}),
           422, "body kind")
    assert scalar("SELECT count(*) FROM incident") == 0
    assert scalar("SELECT count(*) FROM ledger_entry") == before
    assert inbox.messages == []

    opened = client.post("/incidents", headers=liaison, json={
        "kind": "leak", "summary": "proposal sent to the wrong client",
        "dossier_no": dossier_no, "owner": "chen.cs"})
    assert opened.status_code == 201, opened.text
    body = opened.json()
    incident_id = body["incident_id"]
    assert (body["kind"], body["status"], body["dossier_no"]) == ("leak", "open", dossier_no)
    assert body.get("mail_error") is None
    assert body["reported_to"] == [MANAGEMENT, "mgmt.wu@staff.example.com"]
    assert body["mailed"] == 2  # one message to each
    # The mail is in management's mailboxes when the answer comes back (Art. 20: at once).
    (mail,) = inbox.to(MANAGEMENT)
    assert len(inbox.to("mgmt.wu@staff.example.com")) == 1
    subject = str(make_header(decode_header(mail["Subject"])))
    assert incident_id in subject and dossier_no in subject and "leak" in subject
    text = _text_of(mail)
    assert "Art. 20" in text and "proposal sent to the wrong client" in text
    assert "Reported by: wang.market" in text

    # The liaison reports but neither handles nor closes; the CS head handles, not closes.
    step = {"step": "recall the mail and ask for deletion", "owner": "chen.cs",
            "due_on": clock.today().isoformat()}
    _error(client.post(f"/incidents/{incident_id}/steps", json=step, headers=liaison), 403,
           "wang.market may not incident.handle")
    _error(client.post(f"/incidents/{incident_id}/close", json={"closure": "deleted"},
                       headers=manager), 422, f"incident {incident_id}", "no handling step")
    _error(client.post(f"/incidents/{incident_id}/steps", headers=cs_head,
                       json={"step": "call the client on +49 30 7654321"}), 422,
           f"incident {incident_id}: step:", "phone number")
    _error(client.post(f"/incidents/{incident_id}/steps", headers=cs_head,
                       json={"step": "late", "due_on": "2020-01-02"}), 422,
           f"incident {incident_id}: due_on: is in the past")
    added = client.post(f"/incidents/{incident_id}/steps", json=step, headers=cs_head)
    assert added.status_code == 201, added.text
    assert added.json() == {"incident_id": incident_id, "status": "handling", **step}
    closure = {"closure": "deleted, confirmed in writing"}
    _error(client.post(f"/incidents/{incident_id}/close", json=closure, headers=cs_head), 403,
           "chen.cs may not incident.close")
    closed = client.post(f"/incidents/{incident_id}/close", json=closure, headers=manager)
    assert closed.status_code == 200, closed.text
    assert closed.json() == {"incident_id": incident_id, "status": "closed", **closure}
    _error(client.post(f"/incidents/{incident_id}/close", json=closure, headers=manager), 422,
           f"incident {incident_id}", "already closed")
    _error(client.post(f"/incidents/{incident_id}/steps", json=step, headers=cs_head), 422,
           f"incident {incident_id}", "is closed")

    assert [a for (a,) in rows("SELECT action FROM ledger_entry WHERE subject_type = "
                               "'incident' ORDER BY seq")] == [
        "incident.open", "incident.update", "incident.close"]
    assert rows("SELECT actor FROM ledger_entry WHERE subject_type = 'incident' ORDER BY seq"
                ) == [("wang.market",), ("chen.cs",), ("mgmt.wu",)]
    assert _refusals() == [("wang.market", "incident.handle"), ("chen.cs", "incident.close")]
    assert len(inbox.messages) == 2  # one report, to management and each member; no more


def test_an_incident_whose_mail_is_refused_stays_on_record_and_says_so(
        client: Any, company: Any, as_user: Any, inbox: Any) -> None:
    inbox.refuse_rcpt.add(MANAGEMENT)
    opened = client.post("/incidents", headers=as_user("sun.plan"), json={
        "kind": "lost_volume", "summary": "volume missing from shelf 2"})
    assert opened.status_code == 201, opened.text
    assert opened.json()["mailed"] == 0
    assert "not delivered" in opened.json()["mail_error"]
    assert scalar("SELECT count(*) FROM incident") == 1  # reported whatever the mail server did
    assert len(inbox.to("mgmt.wu@staff.example.com")) == 1  # the member's copy went out
    assert rows("SELECT recipient, position('550' in last_error) > 0 FROM mail_outbox "
                "WHERE duty = 'incident' AND sent_at IS NULL") == [(MANAGEMENT, True)]


def test_the_incident_register_is_read_by_cs_qa_and_management_in_pages(
        client: Any, company: Any, as_user: Any, inbox: Any) -> None:
    ids = []
    for summary in ("volume missing from shelf 2", "notes left on a shared printer",
                    "client disputes a disclosure"):
        made = client.post("/incidents", headers=as_user("wang.market"), json={
            "kind": "other", "summary": summary})
        assert made.status_code == 201, made.text
        ids.append(made.json()["incident_id"])
    assert client.post(f"/incidents/{ids[0]}/steps", headers=as_user("mgmt.wu"),
                       json={"step": "search the vault", "owner": "li.archive"}).status_code == 201
    assert client.post(f"/incidents/{ids[0]}/close", headers=as_user("mgmt.wu"),
                       json={"closure": "found misfiled"}).status_code == 200

    _error(client.get("/incidents", headers=as_user("wang.market")), 403,
           "wang.market may not compliance.read")
    _error(client.get("/incidents", headers=as_user("li.archive")), 403,
           "li.archive may not compliance.read")
    assert _refusals() == [("wang.market", "compliance.read"), ("li.archive", "compliance.read")]

    for who in ("chen.cs", "qa.he", "mgmt.wu"):
        whole = client.get("/incidents", headers=as_user(who))
        assert whole.status_code == 200, whole.text
        assert [i["incident_id"] for i in whole.json()["items"]] == ids  # the order opened
        assert whole.json()["next"] is None
    first = client.get("/incidents", headers=as_user("qa.he")).json()["items"][0]
    assert (first["status"], first["closure"], first["opened_by"], first["owner"]) == (
        "closed", "found misfiled", "wang.market", "li.archive")
    assert [(s["step"], s["owner"]) for s in first["steps"]] == [
        ("search the vault", "li.archive")]

    seen, after = [], None
    while True:
        page = client.get("/incidents", headers=as_user("qa.he"),
                          params={"limit": 2, **({"after": after} if after else {})}).json()
        seen += [i["incident_id"] for i in page["items"]]
        if (after := page["next"]) is None:
            break
    assert seen == ids
    still_open = client.get("/incidents", params={"status": "open"}, headers=as_user("qa.he"))
    assert [i["incident_id"] for i in still_open.json()["items"]] == ids[1:]
    _error(client.get("/incidents", params={"after": "not-one-of-ours"},
                      headers=as_user("qa.he")), 422, "incidents: after")


# --- complaints (Art. 21) ------------------------------------------------------------------------

def test_a_complaint_is_investigated_by_qa_to_rectification_and_closed(
        client: Any, as_user: Any, dossier_no: str) -> None:
    liaison, qa, cs_head = as_user("wang.market"), as_user("qa.he"), as_user("chen.cs")
    _error(client.post("/complaints", headers=liaison, json={
        "complainant": "client", "about": "call me back on +49 30 7654321",
        "dossier_no": dossier_no}), 422, "complaint: about:", "phone number")
    _error(client.post("/complaints", headers=liaison, json={
        "complainant": "Greta Vogel", "about": "slow update"}), 422, "body complainant")
    _error(client.post("/complaints", headers=liaison, json={
        "complainant": "client", "about": "slow update", "received_on": "2099-01-01"}), 422,
           "complaint: received_on: is in the future")
    assert scalar("SELECT count(*) FROM complaint") == 0

    received = client.post("/complaints", headers=liaison, json={
        "complainant": "client", "about": "the update of our address took three weeks",
        "dossier_no": dossier_no})
    assert received.status_code == 201, received.text
    complaint_id = received.json()["complaint_id"]
    assert received.json()["status"] == "received"
    path = f"/complaints/{complaint_id}"

    upheld = {"findings": "the update waited 12 wd for its review", "upheld": True,
              "rectification": "review updates within 1 wd; backlog cleared",
              "rectification_owner": "zhao.market", "accountable": "zhao.market",
              "accountability": "reviews left waiting"}
    # Only QA investigates (Art. 21); the CS head is refused and the refusal logged.
    _error(client.post(f"{path}/investigation", json=upheld, headers=cs_head), 403,
           "chen.cs may not complaint.investigate")
    _error(client.post(f"{path}/investigation", headers=qa,
                       json={**upheld, "rectification_owner": None}), 422,
           f"complaint {complaint_id}: rectification_owner:")
    _error(client.post(f"{path}/investigation", headers=qa,
                       json={**upheld, "findings": "client wrote from greta@northwind.example.de"}),
           422, f"complaint {complaint_id}: findings:", "e-mail address")
    _error(client.post(f"{path}/close", json={"note": "done"}, headers=qa), 422,
           "is received: only a complaint being rectified")
    done = client.post(f"{path}/investigation", json=upheld, headers=qa)
    assert done.status_code == 200, done.text
    state = done.json()
    assert (state["status"], state["upheld"], state["rectification_owner"],
            state["accountable"]) == ("rectifying", True, "zhao.market", "zhao.market")
    assert state["rectification_due"]  # the rectification's clock (10 wd)
    assert rows("SELECT kind, o.username FROM clock JOIN staff o ON o.id = clock.owner_id "
                "WHERE subject_type = 'complaint'") == [("complaint_rectification",
                                                         "zhao.market")]
    _error(client.post(f"{path}/investigation", json=upheld, headers=qa), 422,
           "investigated already")

    _error(client.post(f"{path}/close", json={"note": "checked"}, headers=cs_head), 403,
           "chen.cs may not complaint.investigate")
    closed = client.post(f"{path}/close", json={"note": "backlog checked empty"}, headers=qa)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    assert scalar("SELECT met_at IS NOT NULL FROM clock WHERE subject_type = 'complaint'")

    # One not upheld is closed by its investigation.
    other = client.post("/complaints", headers=cs_head, json={
        "complainant": "third_party", "about": "a caller says our archive lost a file"}).json()
    verdict = client.post(f"/complaints/{other['complaint_id']}/investigation", headers=qa,
                          json={"findings": "the file is on shelf 1", "upheld": False})
    assert verdict.json()["status"] == "closed" and verdict.json()["upheld"] is False

    assert [a for (a,) in rows("SELECT action FROM ledger_entry WHERE subject_type = "
                               "'complaint' ORDER BY seq")] == [
        "complaint.receive", "complaint.investigate", "complaint.close", "complaint.receive",
        "complaint.investigate"]
    assert _refusals() == [("chen.cs", "complaint.investigate"),
                           ("chen.cs", "complaint.investigate")]

    # The register: those who may read it, with the findings and the rectification.
    _error(client.get("/complaints", headers=liaison), 403, "may not compliance.read")
    register = client.get("/complaints", headers=as_user("mgmt.wu"))
    assert register.status_code == 200, register.text
    listed = {c["complaint_id"]: c for c in register.json()["items"]}
    assert set(listed) == {complaint_id, other["complaint_id"]}  # same day: in id order
    first, second = listed[complaint_id], listed[other["complaint_id"]]
    assert first["dossier_no"] == dossier_no
    assert (first["status"], first["upheld"], first["rectification_owner"],
            first["accountable"], first["findings"]) == (
        "closed", True, "zhao.market", "zhao.market", "the update waited 12 wd for its review")
    assert second["complainant"] == "third_party" and second["dossier_no"] is None
    assert client.get("/complaints", params={"status": "open"},
                      headers=qa).json() == {"items": [], "next": None}
    assert len(client.get("/complaints", params={"status": "closed", "limit": 1},
                          headers=qa).json()["items"]) == 1


# --- where the facts came from (Art. 9) and the client's authorisation (Art. 19) -----------------

def _codes(report: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(r["row"], r["field"], r["code"]) for r in report["rejected"]]


def test_forms_without_their_channel_or_beyond_the_authorisation_are_refused(
        client: Any, company: Any, as_user: Any) -> None:
    liaison = as_user("wang.market")
    act("wang.market", lambda conn, actor: authorisations.record(
        conn, actor, "AUTH-OLD", ["direct"], granted_on=date(2025, 1, 1),
        expires_on=date(2025, 12, 31)))
    missing = {k: v for k, v in form_row().items() if k != "collection_channel"}
    unknown = form_row(client_name_zh="南風電商", client_name_en="Southwind GmbH",
                       collection_channel="rumour")
    research = form_row(client_name_zh="東風電商", client_name_en="Eastwind GmbH",
                        collection_channel="data_platform", authorisation_ref="AUTH-NONE")
    expired = form_row(client_name_zh="西風電商", client_name_en="Westwind GmbH",
                       authorisation_ref="AUTH-OLD", collection_channel="phone")
    answer = client.post("/forms", json=[missing, unknown, research, expired], headers=liaison)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["accepted"] == []
    assert _codes(report) == [(2, "collection_channel", "invalid_channel"),
                              (3, "collection_channel", "invalid_channel"),
                              (4, "authorisation_ref", "no_authorisation"),
                              (5, "authorisation_ref", "no_authorisation")]
    messages = [r["message"] for r in report["rejected"]]
    assert "is missing" in messages[0] and "rumour" in messages[1]
    assert "not recorded" in messages[2] and "expired on 2025-12-31" in messages[3]
    assert scalar("SELECT count(*) FROM form") == 0

    # The same row with its channel and a current authorisation goes through, and the
    # dossier shows where each dimension came from.
    fine = client.post("/forms", headers=liaison,
                       json=[form_row(collection_channel="video_meeting",
                                      marketing_goals="brand_promotion")]).json()
    assert fine["rejected"] == [] and len(fine["accepted"]) == 1
    form_id = fine["accepted"][0]["form_id"]
    assert client.post(f"/forms/{form_id}/review", json={"decision": "approve"},
                       headers=as_user("zhao.market")).status_code == 200
    number = client.post("/dossiers", json={"form_id": form_id},
                         headers=as_user("li.archive")).json()["dossier_no"]
    view = client.get(f"/dossiers/{quote(number, safe='')}", headers=liaison).json()
    assert {d: s["channel"] for d, s in view["sources"].items()} == dict.fromkeys(
        ("basic", "contacts", "market", "needs", "other"), "video_meeting")
    assert view["sources"]["basic"]["authorisation_ref"] == "AUTH-77"


def test_an_update_form_names_its_channel_and_renews_the_authorisation(
        client: Any, as_user: Any, dossier_no: str) -> None:
    liaison = as_user("wang.market")
    act("wang.market", lambda conn, actor: authorisations.record(
        conn, actor, "AUTH-77", ["direct"], granted_on=date(2025, 1, 1),
        expires_on=date(2025, 12, 31)))
    update = {"dossier_no": dossier_no, "changes": {"honours": "award"}, "reason": "new award",
              "evidence": "certificate"}
    record = f"dossier {dossier_no}: collection_channel:"
    _error(client.post("/updates", json=update, headers=liaison), 422,
           f"{record} invalid_channel: is missing")
    _error(client.post("/updates", json={**update, "collection_channel": "rumour"},
                       headers=liaison), 422, f"{record} invalid_channel: 'rumour' is unknown")
    _error(client.post("/updates", json={**update, "collection_channel": "phone"},
                       headers=liaison), 422, f"{record} no_authorisation:", "expired on 2025-12-31")
    renewal = {**update, "changes": {"authorisation_ref": "AUTH-78"}, "collection_channel": "email"}
    _error(client.post("/updates", json=renewal, headers=liaison), 422,
           f"dossier {dossier_no}: authorisation_ref: no_authorisation:", "not recorded")
    assert scalar("SELECT count(*) FROM dossier_change") == 0

    act("wang.market", lambda conn, actor: authorisations.record(
        conn, actor, "AUTH-78", ["direct", "documents"], granted_on=date(2026, 1, 5),
        expires_on=date(2028, 1, 4)))
    made = client.post("/updates", json=renewal, headers=liaison)
    assert made.status_code == 201, made.text
    assert made.json()["collection_channel"] == "email"
    listed = client.get("/updates", headers=liaison).json()["items"]
    assert [(u["collection_channel"], [c["field"] for c in u["changes"]]) for u in listed] == [
        ("email", ["authorisation_ref"])]
    change_id = made.json()["change_id"]
    assert client.post(f"/updates/{change_id}/review", json={"decision": "approve"},
                       headers=as_user("zhao.market")).status_code == 200
    applied = client.post(f"/updates/{change_id}/apply", headers=as_user("li.archive"))
    assert applied.status_code == 200, applied.text
    assert applied.json()["fields"] == ["authorisation_ref"]
    # Collection goes on under the renewed authorisation, within its scope.
    later = client.post("/updates", headers=liaison,
                        json={**update, "collection_channel": "website"})
    assert later.status_code == 201, later.text


def test_no_read_through_the_api_without_a_confidentiality_agreement(
        client: Any, as_user: Any, dossier_no: str) -> None:
    """Art. 19: the dossier's own liaison, once their agreement is off the record, reads
    neither the dossier nor its documents; each refusal is logged."""
    path = f"/dossiers/{quote(dossier_no, safe='')}"
    assert client.get(path, headers=as_user("wang.market")).status_code == 200
    with db.transaction() as conn:
        conn.execute(text("UPDATE staff SET confidentiality_signed_on = NULL, "
                          "confidentiality_ref = NULL WHERE username = 'wang.market'"))
    _error(client.get(path, headers=as_user("wang.market")), 403,
           "wang.market may not dossier.read", "no signed confidentiality agreement")
    _error(client.get("/documents", params={"dossier_no": dossier_no},
                      headers=as_user("wang.market")), 403, "no signed confidentiality agreement")
    assert _refusals() == [("wang.market", "dossier.read"), ("wang.market", "dossier.read")]
    assert client.get(path, headers=as_user("li.archive")).status_code == 200  # others still may
