"""The ledger (檔案管理臺賬): append-only in the database, hash-chained, tamper evident."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest
from sqlalchemy import text

from dossiers.core import db, ledger
from dossiers.core.vocabulary import LedgerAction

from helpers import append_entries as _append
from helpers import as_owner as _psql
from helpers import rechain_from as _rechain_from

pytestmark = pytest.mark.integration


def test_entries_chain_and_verify(database_url: str) -> None:
    _append(5)
    with db.transaction() as conn:
        result = ledger.verify(conn)
        rows = conn.execute(text("SELECT actor, action, dossier_no FROM ledger_entry ORDER BY seq")).all()
    assert result.ok and result.entries_checked == 5
    assert rows[0] == ("archivist1", "dossier.create", "海外-2026-電商-001")


def test_details_made_elsewhere_chain_as_entries_do(database_url: str) -> None:
    """``append_details`` (an import's entries, their details made by its workers) writes
    the bodies ``append_many`` would: canonical JSON, chained, columns generated from them."""
    _append(2)
    details = [{"file": 'a\\b\t"c"\n.csv', "row": 1, "liaison": "王"}, {"row": 2, "ok": True}]
    with db.transaction() as conn:
        last = ledger.append_details(conn, "wang.market", LedgerAction.FORM_SUBMIT, "form",
                                     [(f"f{i}", ledger.canonical(d)) for i, d in enumerate(details)])
        rows = conn.execute(text("SELECT seq, body, actor, action, subject_type, subject_id, "
                                 "dossier_no, details FROM ledger_entry WHERE seq > 2 "
                                 "ORDER BY seq")).all()
        assert ledger.verify(conn).ok
    assert last == 4 and [r.seq for r in rows] == [3, 4]
    for i, (r, d) in enumerate(zip(rows, details, strict=True)):
        body = json.loads(r.body)
        assert r.body == ledger.canonical(body)  # what append_many spells
        assert body["details"] == d == r.details and body["seq"] == r.seq
        assert (r.actor, r.action, r.subject_type, r.subject_id, r.dossier_no) == (
            "wang.market", "form.submit", "form", f"f{i}", None)


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
    out = subprocess.run([sys.executable, "-m", "dossiers.cli", "ledger", "verify", "--no-anchor"],
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


def _set_apart_from_body(url: str, column: str, value_sql: str, seq: int) -> None:
    """As the owner with every trigger off, set one entry's column apart from its body,
    first dropping the column's generation from the body when it has one (only the owner
    can: a generated column cannot be written at all)."""
    _psql(url, f"""ALTER TABLE ledger_entry DISABLE TRIGGER ALL;
        DO $$ BEGIN
          IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'ledger_entry'::regclass
                     AND attname = '{column}' AND attgenerated = 's') THEN
            ALTER TABLE ledger_entry ALTER COLUMN {column} DROP EXPRESSION;
          END IF;
        END $$;
        UPDATE ledger_entry SET {column} = {value_sql} WHERE seq = {seq};""")


def test_the_columns_are_proven_from_the_catalog(database_url: str) -> None:
    _append(3)
    status, report = _verify_cli(database_url)
    assert status == 0 and report["columns"] == ledger.GENERATED and "warnings" not in report


@pytest.mark.parametrize("column, value_sql", [
    ("actor", "'someone'"),
    ("action", "'dossier.destroy'"),
    ("subject_type", "'loan'"),
    ("subject_id", "'d99'"),
    ("dossier_no", "NULL"),
    ("details", """'{"i": 99}'"""),
    ("recorded_at", "recorded_at - interval '1 day'"),
])
def test_a_column_changed_apart_from_its_body_is_named(
        database_url: str, column: str, value_sql: str) -> None:
    """The application reads these columns (who acted, a rejection's reason, whether a
    report was mailed): the chain over the body alone would not notice."""
    _append(6)
    _set_apart_from_body(database_url, column, value_sql, seq=4)
    status, report = _verify_cli(database_url)
    assert status == 1
    assert report["entries_checked"] == 3
    assert report["first_broken"] == {
        "seq": 4, "reason": f"column {column} differs from the hashed body (changed outside "
                            "the application)"}
    assert report["columns"] == ledger.COMPARED
    assert any(column in warning for warning in report.get("warnings", [])), report


def test_even_the_owner_cannot_write_a_column_with_triggers_disabled(database_url: str) -> None:
    _append(2)
    for column, value in (("actor", "'someone'"), ("details", "'{}'"), ("seq", "7")):
        with pytest.raises(psycopg.errors.GeneratedAlways, match="can only be updated to DEFAULT"):
            _psql(database_url, "ALTER TABLE ledger_entry DISABLE TRIGGER ALL; "
                  f"UPDATE ledger_entry SET {column} = {value} WHERE seq = 1;")


def test_a_dropped_generation_alone_is_a_warning_after_comparing_every_entry(
        database_url: str) -> None:
    _append(4)
    _psql(database_url, "ALTER TABLE ledger_entry ALTER COLUMN details DROP EXPRESSION")
    status, report = _verify_cli(database_url)
    assert status == 0 and report["entries_checked"] == 4
    assert report["columns"] == ledger.COMPARED
    assert report["warnings"] == ["column details is no longer generated from the body"]


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


# --- the anchor: never skipped silently, one setting, a re-chain named as a range (issue 10.3)


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dossiers.cli", "ledger", *args],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, **env})


def test_a_missing_anchor_file_is_exit_2_in_one_line(database_url: str, tmp_path) -> None:
    """Before: exit 0 and a clean report, having compared nothing."""
    _append(3)
    missing = tmp_path / "nowhere" / "ledger.anchor"
    out = _cli("verify", "--anchor", str(missing))
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith(f"dossier: ledger anchor {missing}: no such file"), out.stderr
    assert "--no-anchor" in out.stderr and "dossier ledger anchor" in out.stderr
    # The default anchor (DOSSIER_HOME/ledger.anchor) is no different. A home of its own: the
    # session's is shared with tests that run the ledger DAG, which keeps an anchor there.
    default = _cli("verify", DOSSIER_LEDGER_ANCHOR="", DOSSIER_HOME=str(tmp_path / "home"))
    assert default.returncode == 2 and default.stdout == ""
    assert default.stderr.count("\n") == 1 and "ledger.anchor: no such file" in default.stderr


def test_no_anchor_checks_the_chain_alone_and_says_so(database_url: str) -> None:
    _append(3)
    out = _cli("verify", "--no-anchor")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["first_broken"] is None and report["entries_checked"] == 3
    assert report["anchor"] == ledger.NOT_COMPARED
    assert report["anchor"].startswith("not compared")
    # --anchor and --no-anchor contradict each other: a usage error.
    assert _cli("verify", "--no-anchor", "--anchor", "x").returncode == 2


def test_the_cli_honours_DOSSIER_LEDGER_ANCHOR(database_url: str, tmp_path) -> None:
    """The one setting the ledger DAG reads: before, the CLI anchored and compared under
    DOSSIER_HOME whatever it said."""
    _append(4)
    anchor = tmp_path / "elsewhere.anchor"
    made = _cli("anchor", DOSSIER_LEDGER_ANCHOR=str(anchor))
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["anchor_file"] == str(anchor)
    assert json.loads(anchor.read_text())["seq"] == 4
    out = _cli("verify", DOSSIER_LEDGER_ANCHOR=str(anchor))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["anchor"] == {"anchor_file": str(anchor), "seq": 4,
                                                "checkpoints": 0}
    _rechain_from(database_url, 3)
    out = _cli("verify", DOSSIER_LEDGER_ANCHOR=str(anchor))
    assert out.returncode == 1
    assert json.loads(out.stdout)["first_broken"]["seq"] == 4
    # --anchor still wins over the setting.
    assert _cli("verify", "--anchor", str(tmp_path / "none"),
                DOSSIER_LEDGER_ANCHOR=str(anchor)).returncode == 2


def test_a_rechain_is_named_between_two_checkpoints(database_url: str, tmp_path) -> None:
    """A superuser re-writes entries 1,500 onwards and re-chains them: the chain is sound,
    the anchor's head differs, and its checkpoints say where the divergence starts."""
    _append(2_500)
    anchor = tmp_path / "ledger.anchor"
    made = _cli("anchor", "--anchor", str(anchor))
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["checkpoints"] == 2_500 // ledger.CHECKPOINT_EVERY == 2
    _rechain_from(database_url, 1_500)
    assert _cli("verify", "--no-anchor").returncode == 0  # the chain alone looks fine
    out = _cli("verify", "--anchor", str(anchor))
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["entries_checked"] == 2_500
    assert report["first_broken"] == {
        "seq": 2_000, "last_matching_seq": 1_000,
        "reason": f"the ledger diverges from the anchor in {anchor} between seq 1000 and "
                  "seq 2000: re-chained or rewritten there"}
    # `ledger anchor` refuses to move the anchor over a re-chained ledger.
    assert _cli("anchor", "--anchor", str(anchor)).returncode == 1
    assert json.loads(anchor.read_text())["checkpoints"][1][0] == 2_000


def test_an_anchor_from_before_checkpoints_is_still_read(database_url: str, tmp_path) -> None:
    _append(3)
    with db.transaction() as conn:
        head = conn.execute(text("SELECT entry_hash FROM ledger_entry WHERE seq = 3")).scalar_one()
    anchor = tmp_path / "old.anchor"
    anchor.write_text(json.dumps({"seq": 3, "entry_hash": bytes(head).hex()}) + "\n")
    out = _cli("verify", "--anchor", str(anchor))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["anchor"]["checkpoints"] == 0
    _rechain_from(database_url, 2)
    report = json.loads(_cli("verify", "--anchor", str(anchor)).stdout)
    assert report["first_broken"]["seq"] == 3 and report["first_broken"]["last_matching_seq"] == 0
    assert "between seq 0 and seq 3" in report["first_broken"]["reason"]


def test_an_unreadable_anchor_is_exit_2_in_one_line(database_url: str, tmp_path) -> None:
    _append(1)
    anchor = tmp_path / "garbled.anchor"
    anchor.write_text("{not json")
    out = _cli("verify", "--anchor", str(anchor))
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == f"dossier: ledger anchor {anchor}: not a ledger anchor (JSON with seq, " \
                         "entry_hash and checkpoints)\n"


# --- an entry chained by the server in the step's own round trip (issue 16) -----------------

def _server_chained(i: int, details: dict[str, object]) -> int:
    with db.transaction() as conn:
        _, seq = ledger.append_with(conn, [], ledger.Entry(
            "archivist1", "dossier.create", "dossier", f"s{i}", f"海外-2026-外貿-{i:03d}",
            details))
    return seq


def test_an_entry_chained_by_the_server_is_the_one_python_would_chain(database_url: str) -> None:
    # The first entry chains from genesis; the body's own text may hold what the seq looks like.
    tricky = {"seq": 0, "note": ',"seq":0,', "名": "客戶 \u2028 \\ \""}
    assert _server_chained(1, tricky) == 1
    _append(2)
    assert _server_chained(4, {"i": 4}) == 4
    with db.transaction() as conn:
        result = ledger.verify(conn)
        rows = conn.execute(text("SELECT seq, body, prev_hash, entry_hash, details FROM ledger_entry "
                                 "ORDER BY seq")).all()
    assert result.ok and result.entries_checked == 4
    first = json.loads(rows[0].body)
    assert first["seq"] == 1 and first["details"] == tricky and rows[0].details == tricky
    assert rows[0].body == ledger.canonical(first)  # canonical, as Python writes it
    assert bytes(rows[0].prev_hash) == ledger.GENESIS
    assert bytes(rows[0].entry_hash) == ledger.chain(ledger.GENESIS, rows[0].body)
    assert bytes(rows[3].entry_hash) == ledger.chain(bytes(rows[2].entry_hash), rows[3].body)


def test_server_and_python_chained_writers_never_fork_the_chain(database_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def write(k: int) -> None:
        for i in range(10):
            if k % 2:
                _server_chained(100 * k + i, {"k": k})
            else:
                _append(1)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(8)))
    with db.transaction() as conn:
        result = ledger.verify(conn)
    assert result.ok and result.entries_checked == 80
