"""The CLI's list commands in pages (issue 10, finding 10): ``--limit N`` (default 100, at most
1000) and ``--after CURSOR``. A list that fits prints as it always did (a JSON array, nothing
on stderr); when more rows follow, one line on stderr says so and gives the cursor; with
``--json`` the page is ``{"items": [...], "next": CURSOR or null}``, as in the API.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from dossiers.core import db, directory
from dossiers.core.crypto import KeyRing
from dossiers.workflows import creation, loans, updates

from helpers import numbered_forms as _forms

pytestmark = pytest.mark.integration

MORE = "dossier: {}: more after these {}; the next page: --after "


def _ids(sql: str) -> list[str]:
    with db.transaction() as conn:
        return [str(r[0]) for r in conn.execute(text(sql))]


def _walk(cli: Callable[..., Any], *command: str, id_field: str) -> tuple[list[str], list[int]]:
    """Every page of a list command, following the cursor its stderr line gives."""
    ids: list[str] = []
    sizes: list[int] = []
    after: list[str] = []
    while True:
        page = cli(*command, *after)
        assert page.status == 0, page.stderr
        rows = page.json()
        assert isinstance(rows, list)
        ids += [str(r[id_field]) for r in rows]
        sizes.append(len(rows))
        if not page.stderr:
            return ids, sizes
        noun = command[0]
        line = page.stderr.rstrip("\n")
        assert "\n" not in line and line.startswith(MORE.format(noun, len(rows))), line
        after = ["--after", line.rsplit(" ", 1)[1]]
        assert len(sizes) < 50, "the pages never end"


def test_forms_list_in_pages(cli: Any, company: Any, tmp_path: Any) -> None:
    for rows, who in ((_forms(5), "wang.market"),
                      (_forms(2, start=20, liaison="sun.plan", department="planning"),
                       "sun.plan")):
        path = tmp_path / f"{who}.json"
        path.write_text(json.dumps(rows, ensure_ascii=False))
        assert cli("import", str(path), "--as", who).status == 0
    market = _ids("SELECT id FROM form WHERE department = 'market' ORDER BY submitted_at, id")

    # A list that fits: printed as before, nothing on stderr.
    whole = cli("forms", "list", "--as", "zhao.market")
    assert whole.status == 0 and whole.stderr == ""
    assert [f["form_id"] for f in whole.json()] == market
    # In pages of 2: every form of the department once, in order; never another's.
    ids, sizes = _walk(cli, "forms", "list", "--limit", "2", "--as", "zhao.market",
                       id_field="form_id")
    assert ids == market and sizes == [2, 2, 1]
    ids, sizes = _walk(cli, "forms", "list", "--limit", "1", "--as", "sun.plan",
                       id_field="form_id")
    assert len(ids) == 2 and not set(ids) & set(market)

    # --json: the page and its cursor, the API's shape; the cursor leads to the same page.
    first = cli("forms", "list", "--limit", "2", "--json", "--as", "zhao.market")
    assert first.status == 0 and set(first.json()) == {"items", "next"}
    assert [f["form_id"] for f in first.json()["items"]] == market[:2]
    assert first.stderr == MORE.format("forms", 2) + first.json()["next"] + "\n"
    second = cli("forms", "list", "--limit", "3", "--after", first.json()["next"], "--json",
                 "--as", "zhao.market").json()
    assert [f["form_id"] for f in second["items"]] == market[2:] and second["next"] is None

    # Out of range or no cursor of this list: exit 2, one line, nothing listed.
    for bad in ("0", "1001", "-3", "many"):
        refused = cli("forms", "list", "--limit", bad, "--as", "zhao.market")
        assert refused.status == 2 and refused.stdout == ""
        assert "argument --limit: a whole number from 1 to 1000" in refused.stderr
    for cursor in ("garbage", "W10", first.json()["next"] + "x"):
        refused = cli("forms", "list", "--after", cursor, "--as", "zhao.market")
        assert refused.status == 2 and refused.stdout == ""
        assert refused.stderr == "dossier: forms: after: is not a cursor of this list (pass " \
                                 "the `next` of the page before, unchanged)\n"
    vault_cursor = cli("vault", "list", "--after", first.json()["next"], "--as", "li.archive")
    assert vault_cursor.status == 2 and "vault: after: is not a cursor" in vault_cursor.stderr


def _act(username: str, work: Callable[[Any, Any], Any]) -> Any:
    with db.transaction() as conn:
        return work(conn, directory.load_actor(conn, username))


def test_updates_loans_and_vault_list_in_pages(cli: Any, company: Any, tmp_path: Any) -> None:
    path = tmp_path / "forms.json"
    path.write_text(json.dumps(_forms(3), ensure_ascii=False))
    assert cli("import", str(path), "--as", "wang.market").status == 0
    numbers = []
    for form_id, shelf in zip(_ids("SELECT id FROM form ORDER BY source_row"), (3, 1, 2),
                              strict=True):
        fid = uuid.UUID(form_id)
        _act("zhao.market", lambda c, a, fid=fid: creation.review_form(c, a, fid, approve=True))
        made = _act("li.archive", lambda c, a, fid=fid: creation.create_dossier(c, KeyRing(), a,
                                                                                 fid))
        _act("li.archive", lambda c, a, m=made, shelf=shelf: creation.file_dossier(
            c, a, uuid.UUID(m["dossier_id"]), cabinet="電商", shelf=shelf))
        numbers.append(made["dossier_no"])
    for number in numbers:
        _act("wang.market", lambda c, a, n=number: updates.submit(
            c, KeyRing(), a, n, {"honours": "award"}, reason="new award", evidence="certificate",
            collection_channel="qualification_document"))
        _act("wang.market", lambda c, a, n=number: loans.request(c, a, [n], purpose="visit",
                                                                 period_wd=3))

    for command, id_field, order in (
            (("updates", "list", "--as", "wang.market"), "change_id",
             "SELECT id FROM dossier_change ORDER BY requested_at, id"),
            (("loans", "list", "--as", "wang.market"), "loan_id",
             "SELECT id FROM loan ORDER BY requested_at, id"),
            (("vault", "list", "--as", "li.archive"), "volume_id",
             "SELECT id FROM paper_volume ORDER BY cabinet, shelf, position")):
        ids, sizes = _walk(cli, *command, "--limit", "2", id_field=id_field)
        assert ids == _ids(order) and sizes == [2, 1], command
        whole = cli(*command)
        assert whole.stderr == "" and [str(x[id_field]) for x in whole.json()] == ids
    assert _walk(cli, "loans", "list", "--limit", "1", "--as", "sun.plan",
                 id_field="loan_id") == ([], [0])  # another department's liaison: none
