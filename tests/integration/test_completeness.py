"""Completeness with GX (Arts. 3, 8, 10, 14): every registered check on a seeded company.

GX validates inside Postgres and returns which dossier fails which check; the hand-written
SQL pass must find exactly the same. A dossier broken by hand shows up under the right
check and article; a check added to the registry runs with no other change; the file
context and Data Docs never hold the database URL.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from dossiers.core import config, db
from dossiers.core.errors import CannotRun
from dossiers.quality import checks, run_completeness, sql_completeness
from dossiers.quality.checks import Check, at_least, not_null
from dossiers.quality.completeness import DOCS_ROWS, GX_URL_VARIABLE, Failure

pytestmark = pytest.mark.integration

SECRET = "not-a-real-s3cret"  # trust authentication ignores it; it must never reach a file


def _with_password(url: str) -> str:
    return make_url(url).set(password=SECRET).render_as_string(hide_password=False)


def _owner_rows(url: str, sql: str, **params: object) -> list[tuple]:
    with db.get_engine(url, app_role=False).begin() as conn:
        result = conn.execute(text(sql), params)
        return [tuple(r) for r in result] if result.returns_rows else []


def _seed(cli) -> None:
    result = cli("seed", "--clients", "60", "--seed", "3")
    assert result.status == 0, result.stderr


def _other_sessions(url: str, at_most: int) -> int:
    """Sessions on the test database besides this one, once at most ``at_most`` remain (a
    backend ends a moment after its client closes it) or after 10 s."""
    deadline = time.monotonic() + 10
    while True:
        [(n,)] = _owner_rows(url, "SELECT count(*) FROM pg_stat_activity WHERE "
                                  "datname = current_database() AND pid <> pg_backend_pid()")
        if n <= at_most or time.monotonic() > deadline:
            return int(n)


def test_gx_finds_per_dossier_gaps_equal_to_the_sql_pass(cli, database_url) -> None:
    _seed(cli)
    before = _other_sessions(database_url, at_most=1_000)
    gx = run_completeness(_with_password(database_url))
    # GX's connections are closed (its session holds the temporary table of the rows)
    assert _other_sessions(database_url, at_most=before) == before
    sql = sql_completeness(database_url)

    # every registered check ran, over the dossiers of its stages
    registered = [c.id for c in checks.CHECKS]
    assert list(gx.counts) == registered
    assert {c.dimension for c in checks.CHECKS} == set(checks.DIMENSIONS)
    stages = dict(_owner_rows(database_url, "SELECT stage, count(*) FROM dossier GROUP BY stage"))
    assert set(stages) == set(checks.ALL_STAGES)
    for check in checks.CHECKS:
        assert gx.evaluated[check.id] == sum(stages[s] for s in check.stages), check.id

    # the seed's defects are found, dossier by dossier, and GX agrees with the SQL pass
    assert gx.failures == sql.failures
    assert gx.counts == sql.counts and gx.evaluated == sql.evaluated
    assert gx.success is sql.success is False  # e.g. licences and market positioning missing
    assert gx.counts["basic.business_licence"] > 0 and gx.counts["market.positioning"] > 0
    assert gx.counts["basic.key_contact"] == 0  # the form requires a contact at every stage
    assert {f.severity for f in gx.failures} == {"error", "warning"}
    owners = {row[0]: row[1:] for row in _owner_rows(
        database_url, "SELECT id, dossier_no, liaison_id, stage FROM dossier")}
    by_id = {c.id: c for c in checks.CHECKS}
    for f in gx.failures:
        check = by_id[f.check_id]
        assert isinstance(f.dossier_id, uuid.UUID)
        assert owners[f.dossier_id][:2] == (f.dossier_no, f.liaison_id)
        assert owners[f.dossier_id][2] in check.stages  # stage-dependent: never outside them
        assert (f.article, f.dimension, f.severity) == (check.article, check.dimension,
                                                        check.severity)

    # Data Docs under the dossier home, naming failing dossiers, and no URL or password on disk
    root = config.home() / "quality"
    assert gx.data_docs is not None and gx.data_docs.is_file()
    assert gx.data_docs.name == "index.html" and root in gx.data_docs.parents
    pages = list((gx.data_docs.parent / "validations").rglob("*.html"))
    assert any(gx.failures[0].dossier_no in p.read_text(encoding="utf-8") for p in pages)
    yml = (root / "gx" / "great_expectations.yml").read_text()
    assert "connection_string: ${" + GX_URL_VARIABLE + "}" in yml
    host = make_url(database_url).host or "127.0.0.1"
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in {".yml", ".yaml", ".json", ".html"}:
            body = path.read_text(encoding="utf-8", errors="replace")
            assert SECRET not in body and f"@{host}" not in body, path
    assert GX_URL_VARIABLE not in os.environ  # only set for the run


def test_a_broken_dossier_and_a_new_check(cli, database_url, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(cli)
    ((dossier_id, number, liaison),) = _owner_rows(
        database_url, "SELECT id, dossier_no, liaison_id FROM dossier WHERE stage = 'active' "
        "ORDER BY dossier_no LIMIT 1")
    # As the owner: its key contacts go; every client's registered address becomes blank
    # (more than 20 failing rows: GX's SQL path LIMITs them to 20 unless told otherwise).
    _owner_rows(database_url, "DELETE FROM contact WHERE dossier_id = :d", d=dossier_id)
    _owner_rows(database_url, "UPDATE basic_info SET registered_address = '  ' "
                "WHERE dossier_id IN (SELECT id FROM dossier WHERE stage <> 'potential')")
    # The data team adds one entry to the registry; nothing else changes.
    new = Check("communication.three_records", "Art. 10", "communication", "warning",
                ("active",), "an active client has at least three recorded communications",
                at_least("communication_count", 3))
    monkeypatch.setattr(checks, "CHECKS", [*checks.CHECKS, new])

    gx = run_completeness(database_url, context_dir=tmp_path / "gx", data_docs=False)
    sql = sql_completeness(database_url)
    assert gx.failures == sql.failures and gx.data_docs is None
    mine = [f for f in gx.failures if f.dossier_id == dossier_id]
    assert Failure(dossier_id, number, "basic.key_contact", "Arts. 8, 10", "basic", "error",
                   liaison) in mine
    assert Failure(dossier_id, number, "basic.registered_address", "Art. 10", "basic", "error",
                   liaison) in mine
    assert gx.success is False
    clients = gx.evaluated["basic.registered_address"]
    assert clients > 20 and gx.counts["basic.registered_address"] == clients
    # every failing row reached the caller; the result GX keeps on disk holds a sample
    # (at a million dossiers the whole lists would take ~100 MB a run)
    [kept] = (tmp_path / "gx").rglob("validations/**/*.json")
    [address] = [r["result"] for r in json.loads(kept.read_text())["results"]
                 if r["expectation_config"]["meta"]["check_id"] == "basic.registered_address"]
    assert address["unexpected_count"] == clients
    assert len(address["unexpected_index_list"]) == len(address["partial_unexpected_list"]) \
        == DOCS_ROWS < clients

    expected = {row[0] for row in _owner_rows(database_url, """
        SELECT d.id FROM dossier d LEFT JOIN communication c ON c.dossier_id = d.id
        WHERE d.stage = 'active' GROUP BY d.id HAVING count(c.id) < 3""")}
    assert expected  # the seed records 1 to 8 communications per dossier
    assert {f.dossier_id for f in gx.failures if f.check_id == new.id} == expected
    assert gx.counts[new.id] == len(expected)


def test_a_check_that_cannot_run_is_named(database_url, tmp_path: Path) -> None:
    broken = Check("basic.typo", "Art. 10", "basic", "error", ("active",),
                   "a column missing from the rows query", not_null("no_such_column"))
    with pytest.raises(CannotRun, match=r"'basic\.typo' could not run"):
        run_completeness(database_url, context_dir=tmp_path / "gx", checks=[broken],
                         data_docs=False)


def test_only_the_newest_runs_are_kept_with_their_data_docs(
        cli, database_url, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``DOSSIER_GX_KEEP_RUNS``: a run deletes the validation results of all but the newest N
    runs, its Data Docs index links only their pages, and the pages of the others are gone."""
    import re

    result = cli("seed", "--clients", "12", "--seed", "5")
    assert result.status == 0, result.stderr
    keep = 2
    monkeypatch.setenv("DOSSIER_GX_KEEP_RUNS", str(keep))
    assert config.settings().gx_keep_runs == keep
    uncommitted = tmp_path / "gx" / "gx" / "uncommitted"
    results, site = uncommitted / "validations", uncommitted / "data_docs" / "local_site"

    def stored() -> set[Path]:  # one JSON per run (one validation per checkpoint run)
        return {p.relative_to(results) for p in results.rglob("*.json")}

    newest: list[Path] = []
    for run in range(keep + 3):
        before = stored()
        gx = run_completeness(database_url, context_dir=tmp_path / "gx")
        added = stored() - before
        assert len(added) == 1, added  # the run's own result ...
        newest.append(added.pop())
        assert stored() == set(newest[-keep:]), run  # ... and those of the runs before it, up to N

        # the index links exactly the pages of the kept results, all on disk; no other page is left
        assert gx.data_docs == site / "index.html"
        index = gx.data_docs.read_text(encoding="utf-8")
        linked = set(re.findall(r"validations/[^\"'\s<>]+?\.html", index))
        assert linked == {f"validations/{r.with_suffix('.html').as_posix()}"
                          for r in newest[-keep:]}, run
        for page in re.findall(r"(?:expectations|validations)/[^\"'\s<>]+?\.html", index):
            assert (site / page).is_file(), page
        pages = {p.relative_to(site).as_posix() for p in (site / "validations").rglob("*.html")}
        assert pages == linked, run
    assert len(stored()) == keep and newest[-1] in stored()
    # no empty run folder is left behind in the results store (GX 1.24 leaves them)
    assert all(any(d.iterdir()) for d in results.rglob("*") if d.is_dir())
