"""The backup duties through Airflow (``airflow dags test``; issue 12, Arts. 14, 18): the
weekly full backup and its drill, a drill that does not match failing the DAG loudly and
mailing ops, and the monthly off-site copy on moto's S3 server through ``dossier_s3``."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from dossiers.backups import full
from dossiers.core import db, ledger
from dossiers.core.config import settings
from dossiers.core.objects import LocalObjectStore
from dossiers.local import local_airflow

from helpers import s3_connection

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
    # The same week again: no second backup.
    assert local_airflow.run_dag_test("dossier_weekly_full_backup", database_url,
                                      "2026-12-08T01:30:00+08:00", output=log) == 0
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
