"""The ledger verification DAG run for real by Airflow (``dag.test()``) on a real ledger.

Airflow runs in a subprocess against a SQLite metadata DB migrated once for the module
(``airflow db migrate`` ≈ 7 s here; each run ≈ 15-25 s, mostly Airflow's own start-up), with
the dossier database handed over as the connection ``dossier_db`` (``AIRFLOW_CONN_DOSSIER_DB``),
exactly as :mod:`dossiers.local.local_airflow` does for ``make airflow`` and the demo.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dossiers.local import local_airflow

from helpers import append_entries as _append
from helpers import as_owner
from helpers import rechain_from as _rechain_from

pytestmark = [pytest.mark.airflow, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "dossier_ledger_verification"
DAG_FILE = REPO / "dags" / "ledger_verification.py"

_DAG_TEST = """
import json, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
run = bag.dags[sys.argv[2]].test()
print("RESULT " + json.dumps({"run_id": run.run_id, "state": str(run.state)}))
"""


@pytest.fixture(scope="module")
def metadata_ready() -> Path:
    """Airflow's metadata DB (SQLite under the tests' DOSSIER_HOME), migrated once."""
    env = local_airflow.airflow_env("postgresql://unused@127.0.0.1/unused")
    assert local_airflow.ensure_metadata_db(env) == 0
    return Path(env["AIRFLOW_HOME"])


def _tamper_seq_2(url: str) -> None:
    """As the database owner: disable the append-only trigger and rewrite entry 2."""
    as_owner(url, "ALTER TABLE ledger_entry DISABLE TRIGGER ledger_entry_append_only; "
                  "UPDATE ledger_entry SET body = replace(body, 'archivist1', 'someone') WHERE seq = 2;")


def _run_dag(url: str, anchor: Path | None, dossier_home: Path | None = None
             ) -> tuple[dict[str, Any], str]:
    """One run; ``anchor=None`` leaves ``DOSSIER_LEDGER_ANCHOR`` unset (its default then)."""
    env = local_airflow.airflow_env(url)
    if anchor is None:
        env.pop("DOSSIER_LEDGER_ANCHOR")
    else:
        env["DOSSIER_LEDGER_ANCHOR"] = str(anchor)
    if dossier_home is not None:  # the metadata DB stays where AIRFLOW_HOME says
        env["DOSSIER_HOME"] = str(dossier_home)
    env["DOSSIER_DEADLINE_ALERTS"] = "0"  # dag.test() in 3.3.0 crashes on one (duties.dagkit)
    proc = subprocess.run([sys.executable, "-c", _DAG_TEST, str(DAG_FILE), DAG_ID], env=env,
                          capture_output=True, text=True, check=False, timeout=600)
    output = proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"dag.test() did not complete:\n{output[-5000:]}"
    return json.loads(lines[-1].removeprefix("RESULT ")), output


def _recorded(airflow_home: Path, run_id: str) -> tuple[str, list[tuple[str, str, int]]]:
    """The run's and its tasks' states as Airflow's metadata DB recorded them."""
    with sqlite3.connect(airflow_home / "airflow.db") as meta:
        (state,) = meta.execute("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?",
                                (DAG_ID, run_id)).fetchone()
        tasks = meta.execute("SELECT task_id, state, try_number FROM task_instance "
                             "WHERE dag_id = ? AND run_id = ?", (DAG_ID, run_id)).fetchall()
    return state, tasks


def test_healthy_ledger_run_succeeds_and_moves_the_anchor(
        database_url: str, metadata_ready: Path, tmp_path: Path) -> None:
    _append(4)
    anchor = tmp_path / "ledger.anchor"
    result, output = _run_dag(database_url, anchor)
    assert result["state"] == "success", output[-5000:]
    state, tasks = _recorded(metadata_ready, result["run_id"])
    assert state == "success"
    assert tasks == [("verify_ledger", "success", 1)]
    assert json.loads(anchor.read_text())["seq"] == 4


def test_tampered_ledger_fails_the_run_naming_seq_2(
        database_url: str, metadata_ready: Path, tmp_path: Path) -> None:
    _append(4)
    _tamper_seq_2(database_url)
    anchor = tmp_path / "ledger.anchor"
    result, output = _run_dag(database_url, anchor)
    assert result["state"] == "failed"
    state, tasks = _recorded(metadata_ready, result["run_id"])
    assert state == "failed"
    # Failed on the first try: a broken ledger is not retried (the DAG's retry policy).
    assert tasks == [("verify_ledger", "failed", 1)]
    assert "LedgerBroken" in output and "entry seq 2 is broken" in output
    assert "content altered" in output
    # The failure callback's one line names the DAG, the task and the run.
    assert f"DUTY FAILED dag={DAG_ID} task=verify_ledger run={result['run_id']}" in output
    assert not anchor.exists(), "a broken ledger must not move the anchor"


def test_run_dag_test_reports_a_broken_ledger_by_exit_status(
        database_url: str, metadata_ready: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the demo uses: ``airflow dags test`` exits non-zero when the ledger is broken."""
    monkeypatch.setenv("DOSSIER_LEDGER_ANCHOR", str(tmp_path / "ledger.anchor"))
    _append(3)
    _tamper_seq_2(database_url)
    log = tmp_path / "dags-test.log"
    assert local_airflow.run_dag_test(DAG_ID, database_url, output=log) == 1
    text = log.read_text()
    assert "entry seq 2 is broken" in text and f"DUTY FAILED dag={DAG_ID}" in text


def test_a_column_changed_apart_from_its_body_fails_the_run(
        database_url: str, metadata_ready: Path, tmp_path: Path) -> None:
    """As the owner: drop ``actor``'s generation from the body (where it has one) and change
    entry 3's actor; the body and the chain are untouched, the run still fails naming it."""
    _append(4)
    as_owner(database_url, """ALTER TABLE ledger_entry DISABLE TRIGGER ALL;
        DO $$ BEGIN
          IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'ledger_entry'::regclass
                     AND attname = 'actor' AND attgenerated = 's') THEN
            ALTER TABLE ledger_entry ALTER COLUMN actor DROP EXPRESSION;
          END IF;
        END $$;
        UPDATE ledger_entry SET actor = 'someone' WHERE seq = 3;""")
    anchor = tmp_path / "ledger.anchor"
    result, output = _run_dag(database_url, anchor)
    assert result["state"] == "failed"
    assert _recorded(metadata_ready, result["run_id"])[1] == [("verify_ledger", "failed", 1)]
    assert "entry seq 3 is broken: column actor differs from the hashed body" in output
    assert not anchor.exists()


def test_the_default_anchor_is_kept_and_a_rechain_is_named_as_a_range(
        database_url: str, metadata_ready: Path, tmp_path: Path) -> None:
    """DOSSIER_LEDGER_ANCHOR unset: the DAG keeps the same default anchor as the CLI
    (``$DOSSIER_HOME/ledger.anchor``; before, it kept none), starting it on the first run and
    saying so; a later re-chain from entry 1,500 fails the run naming seq 1000-2000."""
    _append(2_500)
    home = tmp_path / "home"
    result, output = _run_dag(database_url, None, home)
    assert result["state"] == "success", output[-5000:]
    assert f"ledger anchor {home / 'ledger.anchor'} does not exist" in output
    kept = json.loads((home / "ledger.anchor").read_text())
    assert kept["seq"] == 2_500 and [c[0] for c in kept["checkpoints"]] == [1_000, 2_000]
    _rechain_from(database_url, 1_500)
    result, output = _run_dag(database_url, None, home)
    assert result["state"] == "failed"
    assert _recorded(metadata_ready, result["run_id"])[1] == [("verify_ledger", "failed", 1)]
    assert ("entry seq 2000 is broken: the ledger diverges from the anchor in "
            f"{home / 'ledger.anchor'} between seq 1000 and seq 2000") in output, output[-5000:]
    assert json.loads((home / "ledger.anchor").read_text()) == kept  # not moved
