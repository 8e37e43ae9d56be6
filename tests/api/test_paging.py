"""Every list of the API comes in pages (issue 10, finding 10: ``GET /forms?status=all``
returned 33,000 forms, 12 MB, in one answer).

A page is ``{"items": [...], "next": CURSOR or null}``: at most ``limit`` rows (default 100,
at most 1000), and the cursor where the next page starts. Walking the pages gives every row
the caller may see exactly once, in the list's order; no page holds a row the caller could
not see before.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import text

from dossiers.core import db, paging

from helpers import numbered_forms as _forms

pytestmark = [pytest.mark.integration, pytest.mark.api]


def _submit(client: Any, as_user: Any, rows: list[dict[str, str]], who: str) -> list[str]:
    report = client.post("/forms", json=rows, headers=as_user(who))
    assert report.status_code == 200, report.text
    assert report.json()["rejected"] == [], report.json()["rejected"][:3]
    return [a["form_id"] for a in report.json()["accepted"]]


def _ids(sql: str) -> list[str]:
    with db.transaction() as conn:
        return [str(r[0]) for r in conn.execute(text(sql))]


def _walk(client: Any, path: str, headers: dict[str, str], id_field: str,
          **params: Any) -> tuple[list[str], list[int]]:
    """Every page of a list, following ``next``: the ids in order, and each page's size."""
    ids: list[str] = []
    sizes: list[int] = []
    after = None
    while True:
        answer = client.get(path, params={**params, **({"after": after} if after else {})},
                            headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"items", "next"}
        ids += [str(item[id_field]) for item in body["items"]]
        sizes.append(len(body["items"]))
        after = body["next"]
        if after is None:
            return ids, sizes
        assert len(sizes) < 100, "the pages never end"


def _one_line_422(response: Any, *needles: str) -> None:
    assert response.status_code == 422, response.text
    assert set(response.json()) == {"detail"}
    detail = response.json()["detail"]
    assert "\n" not in detail
    for needle in needles:
        assert needle in detail, detail


def test_forms_come_in_pages_holding_every_row_once_in_order(client: Any, company: Any,
                                                              as_user: Any) -> None:
    # Seven forms in one request share their submission time: the id orders them.
    market = _submit(client, as_user, _forms(7), "wang.market")
    planning = _submit(client, as_user, _forms(3, start=50, liaison="sun.plan",
                                               department="planning"), "sun.plan")
    in_order = _ids("SELECT id FROM form ORDER BY submitted_at, id")
    head = as_user("zhao.market")

    ids, sizes = _walk(client, "/forms", head, "form_id", limit=3)
    assert sizes == [3, 3, 1]
    assert ids == [i for i in in_order if i in market]  # their department's, each once
    whole = client.get("/forms", headers=head).json()  # default limit: one page
    assert [f["form_id"] for f in whole["items"]] == ids and whole["next"] is None

    ids, sizes = _walk(client, "/forms", as_user("chen.cs"), "form_id", limit=4)
    assert ids == in_order and sizes == [4, 4, 2]  # Customer Service sees all
    # A liaison pages through their own forms only, whatever cursor they are given.
    ids, _ = _walk(client, "/forms", as_user("sun.plan"), "form_id", limit=1)
    assert ids == [i for i in in_order if i in planning]
    cs_cursor = client.get("/forms", params={"limit": 1},
                           headers=as_user("chen.cs")).json()["next"]
    after = client.get("/forms", params={"after": cs_cursor}, headers=as_user("sun.plan"))
    assert {f["form_id"] for f in after.json()["items"]} <= set(planning)
    assert client.get("/forms", params={"limit": 2},
                      headers=as_user("mgmt.wu")).status_code == 403  # may not form.list

    # Rows changed between pages: the next page starts after the last row seen.
    first = client.get("/forms", params={"limit": 3}, headers=head).json()
    _submit(client, as_user, _forms(1, start=90), "wang.market")  # submitted later: at the end
    rest, _ = _walk(client, "/forms", head, "form_id", limit=3, after=first["next"])
    seen = [f["form_id"] for f in first["items"]] + rest
    assert len(seen) == len(set(seen)) == 8


def test_a_page_holds_100_rows_unless_asked_and_never_more_than_1000(
        client: Any, company: Any, as_user: Any) -> None:
    assert (paging.DEFAULT_LIMIT, paging.MAX_LIMIT) == (100, 1000)
    submitted = _submit(client, as_user, _forms(101), "wang.market")
    head = as_user("zhao.market")
    first = client.get("/forms", params={"status": "all"}, headers=head).json()
    assert len(first["items"]) == 100 and first["next"]
    second = client.get("/forms", params={"status": "all", "after": first["next"]},
                        headers=head).json()
    assert len(second["items"]) == 1 and second["next"] is None
    assert sorted(f["form_id"] for f in first["items"] + second["items"]) == sorted(submitted)
    assert len(client.get("/forms", params={"limit": 1000}, headers=head).json()["items"]) == 101

    for path in ("/forms", "/updates", "/loans", "/vault"):
        who = as_user("li.archive")
        for bad in (0, -1, 1001, 10**6):
            _one_line_422(client.get(path, params={"limit": bad}, headers=who), "query limit")
        _one_line_422(client.get(path, params={"limit": "many"}, headers=who), "query limit")
        _one_line_422(client.get(path, params={"after": "not a cursor!"}, headers=who),
                      "query after")
        _one_line_422(client.get(path, params={"after": "x" * 5000}, headers=who), "query after")
    # Well-formed text, but no cursor a list gave; a cursor of another list; a cursor whose
    # values are not the list's key: one line naming the list and the field.
    forged = [base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=") for raw in (
        "[]", "nonsense", json.dumps(["forms", "yesterday", "x"]),
        json.dumps(["forms", "2026-11-02T10:00:00", "d3b07384-d9a0-4c2b-9a1e-0f0b5e6a7c11"]),
        json.dumps(["vault", "電商", 1, 2**70]), json.dumps(["loans", 1, 2]))]
    for cursor in ["abc", *forged, first["next"]]:
        for path, name in (("/updates", "updates"), ("/loans", "loans"), ("/vault", "vault")):
            _one_line_422(client.get(path, params={"after": cursor}, headers=as_user("li.archive")),
                          f"{name}: after: is not a cursor of this list")
    for cursor in ["abc", *forged[:4]]:
        _one_line_422(client.get("/forms", params={"after": cursor}, headers=head),
                      "forms: after: is not a cursor of this list")


def _filed_dossiers(client: Any, as_user: Any, places: list[tuple[str, int]]) -> list[str]:
    numbers = []
    for form_id, (cabinet, shelf) in zip(_submit(client, as_user, _forms(len(places)),
                                                 "wang.market"), places, strict=True):
        assert client.post(f"/forms/{form_id}/review", json={"decision": "approve"},
                           headers=as_user("zhao.market")).status_code == 200
        made = client.post("/dossiers", json={"form_id": form_id}, headers=as_user("li.archive"))
        number = made.json()["dossier_no"]
        assert client.post(f"/dossiers/{quote(number, safe='')}/file",
                           json={"cabinet": cabinet, "shelf": shelf},
                           headers=as_user("li.archive")).status_code == 200
        numbers.append(number)
    return numbers


def test_updates_loans_and_the_vault_come_in_pages(client: Any, company: Any,
                                                   as_user: Any) -> None:
    numbers = _filed_dossiers(client, as_user, [("電商", 2), ("外貿", 1), ("電商", 1),
                                                ("電商", 2), ("外貿", 3)])
    liaison, archivist = as_user("wang.market"), as_user("li.archive")
    for number in numbers:
        assert client.post("/updates", json={
            "dossier_no": number, "changes": {"honours": "award"}, "reason": "new award",
            "evidence": "certificate", "collection_channel": "qualification_document"},
            headers=liaison).status_code == 201
        assert client.post("/loans", json={"dossier_nos": [number], "purpose": "visit",
                                           "period_wd": 3}, headers=liaison).status_code == 201

    for path, who, id_field, order in (
            ("/updates", liaison, "change_id",
             "SELECT id FROM dossier_change ORDER BY requested_at, id"),
            ("/loans", liaison, "loan_id", "SELECT id FROM loan ORDER BY requested_at, id"),
            ("/vault", archivist, "volume_id",
             "SELECT id FROM paper_volume ORDER BY cabinet, shelf, position")):
        ids, sizes = _walk(client, path, who, id_field, limit=2)
        assert sizes == [2, 2, 1], path
        assert ids == _ids(order), path
        whole = client.get(path, headers=who).json()
        assert [str(x[id_field]) for x in whole["items"]] == ids and whole["next"] is None
    # Another department's liaison sees none of these loans, on any page.
    assert _walk(client, "/loans", as_user("sun.plan"), "loan_id", limit=1) == ([], [0])
    assert _walk(client, "/updates", as_user("sun.plan"), "change_id", limit=1) == ([], [0])
    # The vault filtered by cabinet pages within it.
    ids, sizes = _walk(client, "/vault", archivist, "volume_id", limit=1, cabinet="電商")
    assert sizes == [1, 1, 1] and ids == _ids(
        "SELECT id FROM paper_volume WHERE cabinet = '電商' ORDER BY shelf, position")
