"""The backup duties through Airflow (``airflow dags test``; issue 12, Arts. 14, 18): the
weekly full backup and its drill, a drill that does not match failing the DAG loudly and
mailing ops, and the monthly off-site copy on moto's S3 server through ``dossier_s3``."""

from __future__ import annotations

import os
import uuid
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from dossiers.backups import duty, full
from dossiers.core import db, ledger, policy
from dossiers.core.config import SHANGHAI, settings
from dossiers.core.objects import LocalObjectStore
from dossiers.local import local_airflow

from helpers import python_result, s3_connection

pytestmark = pytest.mark.airflow

MONDAY = "2026-12-07T01:30:00+08:00"


@pytest.fixture
def backup_env(company, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalObjectStore:
    monkeypatch.setenv("DOSSIER_BACKUP_VAULT", str(tmp_path / "vault"))
    monkeypatch.setenv("DOSSIER_KEYRING_BACKUP_VAULT", str(tmp_path / "keyring-vault"))
    monkeypatch.setenv("DOSSIER_BACKUP_KEY_FILE", str(tmp_path / "backup.key"))
    monkeypatch.setenv("DOSSIER_DOCUMENT_STORE", str(tmp_path / "documents"))
    monkeypatch.setenv("DOSSIER_OPS_TO", "ops@staff.example.com")
    monkeypatch.setenv("DOSSIER_LEDGER_ANCHOR", str(tmp_path / "ledger.anchor"))
    store = LocalObjectStore(tmp_path / "documents")
    store.put("objects/one", [os.urandom(5000)])
    with db.transaction() as conn:
        ledger.anchor(conn, settings().ledger_anchor)
    return store


def _rows(sql: str) -> list[Any]:
    with db.transaction() as conn:
        return [tuple(r) for r in conn.execute(text(sql)).all()]


def test_weekly_backup_dag_backs_up_drills_and_takes_one_a_week(
        backup_env, database_url: str, tmp_path: Path) -> None:
    log = tmp_path / "airflow.log"
    assert local_airflow.run_dag_test("dossier_weekly_full_backup", database_url, MONDAY,
                                      output=log) == 0, log.read_text()[-4000:]
    assert _rows("SELECT kind, status FROM backup ORDER BY kind") == [
        ("full", "verified"), ("keyring", "complete")]
    (ok, rto), = _rows("SELECT ok, rto_seconds FROM backup_drill")
    assert ok is True and rto > 0
    actions = [a for (a,) in _rows("SELECT action FROM ledger_entry WHERE action LIKE 'backup.%' "
                                   "ORDER BY seq")]
    assert actions == ["backup.run", "backup.run", "backup.drill"]
    assert sorted(f for (f,) in _rows("SELECT format FROM report WHERE kind = 'backups'")) == [
        "csv", "html", "pdf"]
    # The same week again: no second backup; a manual run (no logical date, no data
    # interval, as the UI's trigger and make demo start it) succeeds too.
    assert local_airflow.run_dag_test("dossier_weekly_full_backup", database_url,
                                      "2026-12-08T01:30:00+08:00", output=log) == 0
    (manual,) = local_airflow.run_dags_test([("dossier_weekly_full_backup", None)],
                                            database_url, output=log)
    assert manual["state"] == "success", log.read_text()[-4000:]
    assert len(_rows("SELECT id FROM backup WHERE kind = 'full'")) == 1


def test_a_drill_that_does_not_match_fails_the_dag_and_mails_ops(
        backup_env, database_url: str, inbox, tmp_path: Path) -> None:
    summary = full.run_backup(database_url, None, backup_env)
    documents = Path(summary["location"]) / full.DOCUMENTS_FILE
    data = bytearray(documents.read_bytes())
    data[60] ^= 0x04
    documents.write_bytes(bytes(data))
    log = tmp_path / "airflow.log"
    assert local_airflow.run_dag_test("dossier_weekly_full_backup", database_url, MONDAY,
                                      output=log) != 0
    assert "DrillFailed" in log.read_text()
    (ok, problems), = _rows("SELECT ok, problems FROM backup_drill")
    assert ok is False and full.DOCUMENTS_FILE in problems[0]
    mails = inbox.to("ops@staff.example.com")
    assert mails and "restore_drill" in mails[0]["Subject"]
    assert _rows("SELECT status FROM backup WHERE kind = 'full'") == [("complete",)]
    # The next run does not trust that backup: it takes a new one, and its drill matches.
    (again,) = local_airflow.run_dags_test([("dossier_weekly_full_backup", None)],
                                           database_url, output=log)
    assert again["state"] == "success", log.read_text()[-4000:]
    assert sorted(_rows("SELECT status FROM backup WHERE kind = 'full'")) == [
        ("complete",), ("verified",)]


def test_monthly_offsite_dag_ships_the_verified_backup_with_its_retention(
        backup_env, database_url: str, moto_server: str, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    import boto3

    from dossiers.backups import drill, offsite

    monkeypatch.setenv("AIRFLOW_CONN_DOSSIER_S3", s3_connection(moto_server))
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    bucket = f"offsite-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    monkeypatch.setenv("DOSSIER_BACKUP_OFFSITE", f"s3://{bucket}/monthly")
    summary = full.run_backup(database_url, None, backup_env)
    drill.drill(database_url, None, summary["backup_id"])
    log = tmp_path / "airflow.log"
    # January's run (first working day, 2027-01-04) ships December and drills off-site.
    assert local_airflow.run_dag_test("dossier_monthly_offsite_backup", database_url,
                                      "2027-01-04T03:00:00+08:00", output=log) == 0, \
        log.read_text()[-4000:]
    (uri,), = _rows("SELECT offsite_uri FROM backup WHERE kind = 'full'")
    assert uri and uri.startswith(f"s3://{bucket}/monthly/full/")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 5
    for key in keys:
        head = s3.head_object(Bucket=bucket, Key=key)
        retention, _ = offsite.read_retention(s3, bucket, key, head)
        assert retention["Mode"] == "COMPLIANCE" and retention["RetainUntilDate"] is not None
    assert [s for (s,) in _rows("SELECT source FROM backup_drill ORDER BY id")] == [
        "vault", "offsite"]


_TIMETABLES = """
import json, sys
import pendulum
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization
from airflow.timetables.base import TimeRestriction

bag = DagBag(dag_folder=sys.argv[1])
out = {"import_errors": {str(k): v for k, v in bag.import_errors.items()}}
for dag_id in ("dossier_weekly_full_backup", "dossier_monthly_offsite_backup"):
    dag = DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(bag.dags[dag_id]))))
    restriction = TimeRestriction(earliest=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
                                  latest=pendulum.datetime(2027, 12, 31, 23, tz="Asia/Shanghai"),
                                  catchup=True)
    runs, last = [], None
    while (info := dag.timetable.next_dagrun_info(last_automated_data_interval=last,
                                                   restriction=restriction)) is not None:
        runs.append([info.run_after.isoformat(), info.data_interval.end.isoformat()])
        last = info.data_interval
    out[dag_id] = runs
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The two backup DAGs' runs over 2026-2027 as the scheduler computes them: the DAGs
    loaded by Airflow's DagBag from dags/, serialized and restored, their timetables asked
    run after run (catch-up)."""
    home = tmp_path_factory.mktemp("airflow-backup-timetables")
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__DAGS_FOLDER": str(repo / "dags"),
           "AIRFLOW__CORE__PLUGINS_FOLDER": str(repo / "plugins"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}"}
    result: dict[str, Any] = python_result(_TIMETABLES, str(repo / "dags"), env=env)
    assert result["import_errors"] == {}
    return result


def _local(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(SHANGHAI)


def test_the_weekly_dag_backs_up_every_week_holidays_included(scheduled: dict[str, Any]) -> None:
    """Arts. 14, 18 and ``backup_full_every_days``: the DAG runs every day at 01:30 Shanghai,
    and the backups its duty takes (one when the newest is that many days old) are never
    further apart than the policy allows and fall in every Monday-Sunday week, Spring
    Festival 2026 (16-22 February: no working day) and National Day included."""
    every = int(policy.policy().backup_full_every_days)
    runs = [_local(after) for after, _ in scheduled["dossier_weekly_full_backup"]]
    assert {(r.hour, r.minute) for r in runs} == {(1, 30)}
    assert len(runs) == (date(2027, 12, 31) - date(2026, 1, 1)).days + 1  # every day
    taken: list[datetime] = []
    for run in runs:
        if duty.backup_due(taken[-1] if taken else None, run, every):
            taken.append(run)
    assert max((b - a).days for a, b in pairwise(taken)) == every
    weeks = {r.date() - timedelta(days=r.weekday()) for r in runs}
    assert weeks == {t.date() - timedelta(days=t.weekday()) for t in taken}
    assert date(2026, 2, 16) in {t.date() - timedelta(days=t.weekday()) for t in taken}


def test_the_monthly_dag_ships_each_month_and_drills_each_quarter(
        scheduled: dict[str, Any]) -> None:
    """Art. 18: one off-site run a month, on its first working day at 03:00 Shanghai
    (National Day: Thursday 8 October 2026); the off-site drill
    (``backup_offsite_drill_months``) in January, April, July and October, judged on the
    data interval end the timetable gives the task."""
    every = int(policy.policy().backup_offsite_drill_months)
    runs = [(_local(after), _local(end)) for after, end in
            scheduled["dossier_monthly_offsite_backup"]]
    assert [f"{after:%Y-%m}" for after, _ in runs] == [
        f"{y}-{m:02d}" for y in (2026, 2027) for m in range(1, 13)]
    assert {(after.hour, after.minute) for after, _ in runs} == {(3, 0)}
    assert date(2026, 10, 8) in {after.date() for after, _ in runs}
    last_ok: datetime | None = datetime(2025, 12, 1, tzinfo=SHANGHAI)
    drilled = []
    for after, end in runs:
        if duty.offsite_drill_due(end, every, last_ok):
            drilled.append(f"{after:%Y-%m}")
            last_ok = after
    assert drilled == [f"{y}-{m:02d}" for y in (2026, 2027) for m in (1, 4, 7, 10)]
