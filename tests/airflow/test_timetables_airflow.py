"""The working-day timetables inside a real Airflow: plugin, serialization, a run, a backfill.

A temporary dags folder holds one small DAG per timetable; Airflow loads the repository's
``plugins/`` (``plugins/dossier_timetables.py`` registers the timetables). Airflow runs in
subprocesses with their own AIRFLOW_HOME and SQLite metadata DB, as
:mod:`dossiers.local.local_airflow` sets them up (``airflow db migrate`` ≈ 6 s, the script ≈ 15 s,
each ``airflow backfill`` ≈ 6 s), so this pytest process never imports Airflow.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from dossiers.local import local_airflow

pytestmark = pytest.mark.airflow

DAG_FILE = '''
"""Tiny DAGs, one per working-day timetable (tests only)."""
import datetime as dt

import pendulum
from airflow.sdk import DAG, task

from dossiers.airflow.timetables import FirstWorkingDayTimetable, WorkingDayTimetable

SCHEDULES = {
    "tt_monthly": FirstWorkingDayTimetable("month"),
    "tt_quarterly": FirstWorkingDayTimetable("quarter", at=dt.time(10, 0)),
    "tt_december": FirstWorkingDayTimetable(months=(12,)),
    "tt_working_days": WorkingDayTimetable(),
}


@task
def report(data_interval_start=None, data_interval_end=None):
    covered = [data_interval_start.isoformat(), data_interval_end.isoformat()]
    print("COVERED", covered)
    return covered


for dag_id, timetable in SCHEDULES.items():
    with DAG(dag_id, schedule=timetable, start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
             catchup=True, tags=["test"]) as dag:
        report()
    globals()[dag_id] = dag
'''

SCRIPT = '''
import json, sys
import pendulum
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization

SH = "Asia/Shanghai"


def sh(moment):
    return pendulum.instance(moment).in_timezone(SH).isoformat()


bag = DagBag(dag_folder=sys.argv[1])
result = {"import_errors": {str(k): v for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in sorted(bag.dags.items()):
    blob = json.loads(json.dumps(DagSerialization.to_dict(dag)))
    restored = DagSerialization.from_dict(blob)
    infos = restored.iter_dagrun_infos_between(pendulum.datetime(2026, 1, 1, tz=SH),
                                               pendulum.datetime(2026, 12, 31, 23, 59, 59, tz=SH))
    result["dags"][dag_id] = {
        "serialized_timetable": blob["dag"]["timetable"],
        "restored_type": type(restored.timetable).__module__ + "." + type(restored.timetable).__name__,
        "equal": restored.timetable == dag.timetable,
        "summary": restored.timetable.summary,
        "description": restored.timetable.description,
        "runs_2026": [[sh(i.run_after), sh(i.logical_date), sh(i.data_interval.end)] for i in infos],
    }
# The timetable object as the scheduler calls it (a manual run's interval; a provisional year).
from airflow.timetables.base import TimeRestriction

monthly = bag.dags["tt_monthly"].timetable
manual = monthly.infer_manual_data_interval(run_after=pendulum.datetime(2026, 10, 5, 12, tz=SH))
first_2027 = monthly.next_dagrun_info(
    last_automated_data_interval=None,
    restriction=TimeRestriction(pendulum.datetime(2027, 1, 1, tz=SH), None, True))
result["timetable"] = {
    "manual": [sh(manual.start), sh(manual.end)],
    "first_2027": [sh(first_2027.run_after), sh(first_2027.logical_date), sh(first_2027.data_interval.end)],
    "rebuilt_equal": type(monthly).deserialize(monthly.serialize()) == monthly,
    "repr": repr(bag.dags["tt_december"].timetable),
}
run = bag.dags["tt_monthly"].test(logical_date=pendulum.datetime(2026, 10, 8, 9, 0, tz=SH))
result["test_run"] = {"state": str(run.state), "run_id": run.run_id,
                      "interval": [sh(run.data_interval_start), sh(run.data_interval_end)]}
print("RESULT " + json.dumps(result))
'''

WITHOUT_PLUGIN = '''
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization

bag = DagBag(dag_folder=sys.argv[1])
try:
    DagSerialization.to_dict(bag.dags["tt_monthly"])
    error = None
except Exception as exc:
    error = f"{type(exc).__name__}: {exc}"
print("RESULT " + json.dumps({"import_errors": list(bag.import_errors), "error": error}))
'''


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of an Airflow with the test DAGs and the repo's plugins, DB migrated."""
    home = tmp_path_factory.mktemp("airflow-timetables")
    dags = home / "dags"
    dags.mkdir()
    (dags / "timetable_dags.py").write_text(textwrap.dedent(DAG_FILE))
    env = local_airflow.airflow_env("postgresql://unused@127.0.0.1/unused")
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    })
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(local_airflow.PROJECT_ROOT / "plugins")
    assert local_airflow.ensure_metadata_db(env) == 0
    return env


@pytest.fixture(scope="module")
def loaded(airflow: dict[str, str]) -> dict[str, Any]:
    """DagBag, serialization round trip, the 2026 catch-up and one ``dag.test()``, in one process."""
    result, output = _script(SCRIPT, airflow)
    result["output"] = output
    return result


def _script(script: str, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    proc = subprocess.run([sys.executable, "-c", script, env["AIRFLOW__CORE__DAGS_FOLDER"]],
                          env=env, capture_output=True, text=True, check=False, timeout=300)
    output = proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"exit {proc.returncode}\n{output[-8000:]}"
    return json.loads(lines[-1].removeprefix("RESULT ")), output


def _backfill(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([local_airflow.airflow_bin(), "backfill", "create", "--dag-id", "tt_monthly",
                           "--from-date", "2026-01-01", "--to-date", "2026-10-31", *args],
                          env=env, capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, f"{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


def test_dags_load_with_the_plugin_and_keep_their_timetable(loaded: dict[str, Any]) -> None:
    assert loaded["import_errors"] == {}
    assert set(loaded["dags"]) == {"tt_monthly", "tt_quarterly", "tt_december", "tt_working_days"}
    for dag_id, dag in loaded["dags"].items():
        assert dag["equal"], dag_id
        assert dag["restored_type"].startswith("dossiers.airflow.timetables."), dag_id
        assert "(PRC, Asia/Shanghai)" in dag["summary"], dag_id
        assert "provisional" in dag["description"], dag_id
    monthly = loaded["dags"]["tt_monthly"]
    assert monthly["serialized_timetable"] == {
        "__type": "dossiers.airflow.timetables.FirstWorkingDayTimetable",
        "__var": {"period": "month", "at": "09:00", "months": None},
    }
    assert loaded["dags"]["tt_december"]["serialized_timetable"]["__var"]["months"] == [12]
    assert loaded["dags"]["tt_working_days"]["serialized_timetable"] == {
        "__type": "dossiers.airflow.timetables.WorkingDayTimetable", "__var": {"at": "08:30"}}


def test_catch_up_over_2026_as_the_scheduler_computes_it(loaded: dict[str, Any]) -> None:
    """``iter_dagrun_infos_between`` on the deserialized DAG: what a backfill of 2026 would run."""
    dags = loaded["dags"]
    monthly = dags["tt_monthly"]["runs_2026"]
    assert [run_after[:10] for run_after, _, _ in monthly] == [
        "2026-01-04", "2026-02-02", "2026-03-02", "2026-04-01", "2026-05-06", "2026-06-01",
        "2026-07-01", "2026-08-03", "2026-09-01", "2026-10-08", "2026-11-02", "2026-12-01"]
    assert monthly[9] == ["2026-10-08T09:00:00+08:00", "2026-09-01T00:00:00+08:00",
                          "2026-10-01T00:00:00+08:00"]
    assert [r[0] for r in dags["tt_quarterly"]["runs_2026"]] == [
        "2026-01-04T10:00:00+08:00", "2026-04-01T10:00:00+08:00", "2026-07-01T10:00:00+08:00",
        "2026-10-08T10:00:00+08:00"]
    assert dags["tt_december"]["runs_2026"] == [
        ["2026-12-01T09:00:00+08:00", "2025-12-01T00:00:00+08:00", "2026-12-01T00:00:00+08:00"]]
    working = dags["tt_working_days"]["runs_2026"]
    assert len(working) == 248
    assert ["2026-01-04T08:30:00+08:00", "2025-12-31T08:30:00+08:00", "2026-01-04T08:30:00+08:00"] in working
    assert not any(r[0].startswith("2026-10-01") for r in working)


def test_the_timetable_as_the_scheduler_calls_it(loaded: dict[str, Any]) -> None:
    timetable = loaded["timetable"]
    assert timetable["manual"] == ["2026-09-01T00:00:00+08:00", "2026-10-01T00:00:00+08:00"]
    assert timetable["first_2027"] == ["2027-01-04T09:00:00+08:00", "2026-12-01T00:00:00+08:00",
                                       "2027-01-01T00:00:00+08:00"]
    assert "falls in a provisional calendar year" in loaded["output"]  # logged, not raised
    assert timetable["rebuilt_equal"]
    assert timetable["repr"] == "FirstWorkingDayTimetable(period='month', at='09:00', months=[12])"


def test_dag_test_runs_for_the_october_run(loaded: dict[str, Any]) -> None:
    run = loaded["test_run"]
    assert run["state"] == "success", loaded["output"][-5000:]
    assert run["interval"] == ["2026-09-01T00:00:00+08:00", "2026-10-01T00:00:00+08:00"]
    assert "COVERED ['2026-08-31T16:00:00+00:00', '2026-09-30T16:00:00+00:00']" in loaded["output"]


def test_backfill_creates_one_run_per_month_and_is_idempotent(
        airflow: dict[str, str], loaded: dict[str, Any]) -> None:
    """``airflow backfill create`` over Jan-Oct 2026, then a dry run of the same range finds nothing new."""
    _backfill(airflow)
    with sqlite3.connect(Path(airflow["AIRFLOW_HOME"]) / "airflow.db") as meta:
        rows = meta.execute("SELECT logical_date, data_interval_start, data_interval_end, run_after "
                            "FROM dag_run WHERE dag_id = 'tt_monthly' AND run_type = 'backfill' "
                            "ORDER BY logical_date").fetchall()
    # Stored in UTC: Shanghai midnight of the 1st is 16:00 UTC the day before; 09:00 is 01:00 UTC.
    assert [r[0][:16] for r in rows] == [
        "2025-11-30 16:00", "2025-12-31 16:00", "2026-01-31 16:00", "2026-02-28 16:00",
        "2026-03-31 16:00", "2026-04-30 16:00", "2026-05-31 16:00", "2026-06-30 16:00",
        "2026-07-31 16:00", "2026-08-31 16:00"]
    assert all(r[0] == r[1] for r in rows)
    assert rows[-1][2][:16] == "2026-09-30 16:00" and rows[-1][3][:16] == "2026-10-08 01:00"
    dry = _backfill(airflow, "--dry-run")
    attempted = dry.split("Runs to be attempted:")[-1]
    assert "2026-" not in attempted and "2025-" not in attempted, dry


def test_without_the_plugin_serialization_is_refused(airflow: dict[str, str], tmp_path: Path) -> None:
    """Why ``plugins/dossier_timetables.py`` exists: an unregistered timetable cannot be serialized."""
    env = {**airflow, "AIRFLOW__CORE__PLUGINS_FOLDER": str(tmp_path)}
    result, _ = _script(WITHOUT_PLUGIN, env)
    assert result["import_errors"] == []
    assert result["error"] is not None
    assert "dossiers.airflow.timetables.FirstWorkingDayTimetable" in result["error"]
    assert "not registered" in result["error"]
