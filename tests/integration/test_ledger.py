"""The ledger (檔案管理臺賬): append-only in the database, hash-chained, tamper evident."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
import pytest
from sqlalchemy import text

from dossiers.core import db, ledger

pytestmark = pytest.mark.integration


def _append(n: int) -> None:
    with db.transaction() as conn:
        ledger.append(conn, *[
            ledger.Entry("archivist1", "dossier.create", "dossier", f"d{i}", f"海外-2026-電商-{i:03d}",
                         {"i": i}) for i in range(1, n + 1)
        ])


def _psql(url: str, sql: str) -> None:
    """Tamper as the database owner (a superuser here), bypassing the application role."""
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        c.execute(sql)


def test_entries_chain_and_verify(database_url: str) -> None:
    _append(5)
    with db.transaction() as conn:
        result = ledger.verify(conn)
        rows = conn.execute(text("SELECT actor, action, dossier_no FROM ledger_entry ORDER BY seq")).all()
    assert result.ok and result.entries_checked == 5
    assert rows[0] == ("archivist1", "dossier.create", "海外-2026-電商-001")


def test_application_role_cannot_update_or_delete(database_url: str) -> None:
    _append(1)
    for statement in ("UPDATE ledger_entry SET body = body", "DELETE FROM ledger_entry",
                      "TRUNCATE ledger_entry"):
        with pytest.raises(Exception, match=r"permission denied|append-only"), \
                db.transaction() as conn:
            conn.execute(text(statement))


def test_trigger_refuses_even_the_owner(database_url: str) -> None:
    _append(1)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        _psql(database_url, "UPDATE ledger_entry SET body = body")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        _psql(database_url, "DELETE FROM ledger_entry WHERE seq = 1")


def _verify_cli(database_url: str) -> tuple[int, dict]:
    out = subprocess.run([sys.executable, "-m", "dossiers.cli", "ledger", "verify"],
                         capture_output=True, text=True, check=False)
    return out.returncode, json.loads(out.stdout)


def test_tampered_entry_is_named(database_url: str) -> None:
    _append(10)
    status, report = _verify_cli(database_url)
    assert status == 0 and report["first_broken"] is None and report["entries_checked"] == 10
    # A superuser disables the trigger and rewrites entry 4's content.
    _psql(database_url, "ALTER TABLE ledger_entry DISABLE TRIGGER ledger_entry_append_only; "
          "UPDATE ledger_entry SET body = replace(body, 'archivist1', 'someone') WHERE seq = 4;")
    status, report = _verify_cli(database_url)
    assert status == 1
    assert report["entries_checked"] == 3
    assert report["first_broken"]["seq"] == 4
    assert "altered" in report["first_broken"]["reason"]


def test_deleted_entry_is_named(database_url: str) -> None:
    _append(6)
    _psql(database_url, "ALTER TABLE ledger_entry DISABLE TRIGGER ledger_entry_append_only; "
          "DELETE FROM ledger_entry WHERE seq = 3;")
    status, report = _verify_cli(database_url)
    assert status == 1 and report["first_broken"]["seq"] == 4


def test_rechained_ledger_is_caught_by_the_anchor(database_url: str, tmp_path) -> None:
    _append(3)
    anchor = tmp_path / "anchor.json"
    with db.transaction() as conn:
        ledger.anchor(conn, anchor)
    # Re-write entry 3 and re-chain it consistently: only the outside anchor can tell.
    with db.transaction() as conn:
        prev = conn.execute(text("SELECT entry_hash FROM ledger_entry WHERE seq = 2")).scalar_one()
        body = conn.execute(text("SELECT body FROM ledger_entry WHERE seq = 3")).scalar_one()
    forged = body.replace("d3", "forged")
    digest = ledger.chain(bytes(prev), forged).hex()
    _psql(database_url, "ALTER TABLE ledger_entry DISABLE TRIGGER ledger_entry_append_only; "
          f"UPDATE ledger_entry SET body = '{forged}', entry_hash = '\\x{digest}' WHERE seq = 3;")
    with db.transaction() as conn:
        assert ledger.verify(conn).ok  # the chain alone looks fine
        result = ledger.verify(conn, anchor)
    assert not result.ok and result.first_broken["seq"] == 3


def test_concurrent_writers_never_fork_the_chain(database_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: _append(25), range(8)))
    with db.transaction() as conn:
        result = ledger.verify(conn)
    assert result.ok and result.entries_checked == 200
