"""Full backups that prove themselves (issue 12; Arts. 14, 18), against the real PostgreSQL:
``dossier backup run | list | verify`` as an operator runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import make_url, text

from dossiers.backups import full, manifest
from dossiers.backups.settings import BackupKey
from dossiers.core import db
from dossiers.core.errors import Refused
from dossiers.core.objects import LocalObjectStore

pytestmark = pytest.mark.integration


@pytest.fixture
def vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A vault, a key-ring vault and a backup key of this test's own."""
    monkeypatch.setenv("DOSSIER_BACKUP_VAULT", str(tmp_path / "vault"))
    monkeypatch.setenv("DOSSIER_KEYRING_BACKUP_VAULT", str(tmp_path / "keyring-vault"))
    monkeypatch.setenv("DOSSIER_BACKUP_KEY_FILE", str(tmp_path / "backup.key"))
    monkeypatch.setenv("DOSSIER_LEDGER_ANCHOR", str(tmp_path / "ledger.anchor"))  # this database's
    return tmp_path / "vault"


@pytest.fixture
def documents(tmp_path: Path) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path / "documents")
    for n in range(3):
        store.put(f"objects/{n:02d}", [os.urandom(1000 + n), b"tail"])
    store.put("objects/big", [os.urandom(1 << 20) for _ in range(3)])  # several segments
    return store


def _admin(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(make_url(url).set(drivername="postgresql")
                           .render_as_string(hide_password=False), autocommit=True)


def _one_folder(vault: Path) -> Path:
    folders = [p for p in vault.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def test_backup_run_list_and_verify(company, cli, vault: Path, documents) -> None:
    ran = cli("backup", "run", "--documents", str(documents.root), "--as", "li.archive")
    assert ran.status == 0, ran.stderr
    summary = ran.json()
    folder = Path(summary["location"])
    assert folder.parent == vault and (folder / manifest.MANIFEST).is_file()
    body = manifest.read(folder, BackupKey.from_file(create=False))
    with db.transaction() as conn:
        staff_rows = conn.execute(text("SELECT count(*) FROM staff")).scalar_one()
        head = conn.execute(text("SELECT max(seq) FROM ledger_entry")).scalar_one()
    assert body["tables"]["public.staff"]["rows"] == staff_rows == 7
    assert body["ledger_head"]["seq"] == head - 2  # the two backup.run entries came after
    assert not any(name.startswith("keyring.") for name in body["tables"])  # never in a data backup
    assert set(body["documents"]["objects"]) == set(documents.keys())
    # The key ring went to its own vault.
    keyring = Path(summary["keyring_location"])
    assert keyring.parent.name == "keyring-vault" and (keyring / manifest.MANIFEST).is_file()

    listed = cli("backup", "list", "--as", "li.archive")
    assert listed.status == 0, listed.stderr
    rows = {r["id"]: r for r in listed.json()}
    assert rows[summary["backup_id"]]["status"] == "complete"
    assert rows[summary["keyring_backup_id"]]["kind"] == "keyring"

    checked = cli("backup", "verify", str(folder))
    assert checked.status == 0, checked.stdout + checked.stderr
    assert checked.json()["ok"] is True and checked.json()["checked"]["documents"] == 4
    assert cli("backup", "verify", str(keyring / manifest.MANIFEST)).status == 0
    # A liaison does not run backups (Arts. 6, 14).
    refused = cli("backup", "list", "--as", "wang.market")
    assert refused.status == 1 and "backup.run" in refused.stderr


@pytest.mark.parametrize("part", [full.DATABASE_FILE, full.DOCUMENTS_FILE, manifest.MANIFEST])
def test_a_flipped_byte_anywhere_is_named(company, cli, vault: Path, documents, part: str) -> None:
    assert cli("backup", "run", "--documents", str(documents.root)).status == 0
    folder = _one_folder(vault)
    target = folder / part
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    checked = cli("backup", "verify", str(folder))
    assert checked.status == 1, checked.stdout
    problems = checked.json()["problems"]
    assert problems and part in problems[0], problems


def test_a_role_that_row_level_security_limits_is_refused(company, database_url: str,
                                                          vault: Path, documents) -> None:
    role = f"rls_reader_{os.getpid()}"
    with _admin(database_url) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.execute(f"CREATE ROLE {role} LOGIN NOBYPASSRLS")
        admin.execute(f"GRANT dossier_app TO {role}")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public, keyring TO {role}")
        admin.execute("ALTER TABLE staff ENABLE ROW LEVEL SECURITY")
        admin.execute(f"CREATE POLICY only_archive ON staff TO {role} "
                      "USING (department = 'customer_service')")
    try:
        url = make_url(database_url).set(username=role).render_as_string(hide_password=False)
        with pytest.raises(Refused) as refused:
            full.run_backup(url, None, documents)
        assert "BYPASSRLS" in str(refused.value) and role in str(refused.value)
        assert not vault.exists() or not any(vault.iterdir())  # nothing written
        with db.transaction() as conn:
            assert conn.execute(text("SELECT count(*) FROM backup")).scalar_one() == 0
    finally:
        db.dispose()
        with _admin(database_url) as admin:
            admin.execute("DROP POLICY only_archive ON staff")
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


def test_a_killed_backup_claims_nothing_and_the_next_run_succeeds(
        company, database_url: str, vault: Path, documents) -> None:
    """The backup is killed (SIGKILL, the whole process group) while pg_dump waits on a lock
    the test holds: the state of a backup stopped halfway."""
    holder = _admin(database_url)
    holder.execute("BEGIN")
    holder.execute("LOCK TABLE dossier IN ACCESS EXCLUSIVE MODE")
    proc = subprocess.Popen([sys.executable, "-m", "dossiers.cli", "backup", "run",
                             "--documents", str(documents.root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        with _admin(database_url) as watcher:
            for _ in range(600):  # until pg_dump is blocked on the lock (no fixed sleep)
                waiting = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND application_name = 'dossier-backup'"
                ).fetchone()
                if waiting and waiting[0]:
                    break
                watcher.execute("SELECT pg_sleep(0.05)")
            else:
                pytest.fail("pg_dump never started waiting")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    folder = _one_folder(vault)
    assert not (folder / manifest.MANIFEST).exists()
    with db.transaction() as conn:
        statuses = conn.execute(text("SELECT kind, status FROM backup ORDER BY kind")).all()
    assert all(status == "running" for _, status in statuses)  # nothing claims success
    checked = subprocess.run([sys.executable, "-m", "dossiers.cli", "backup", "verify",
                              str(folder)], capture_output=True, text=True, check=False)
    assert checked.returncode == 1 and "never finished" in checked.stdout

    summary = full.run_backup(database_url, None, documents)
    assert [p.name for p in vault.iterdir()] == [summary["backup_id"]]  # the partial one swept
    with db.transaction() as conn:
        rows = dict(conn.execute(text("SELECT id, status FROM backup")).tuples().all())
        errors = conn.execute(text("SELECT error FROM backup WHERE status = 'failed'")).scalars().all()
    assert rows[summary["backup_id"]] == "complete"
    assert sorted(rows.values()).count("failed") == 2 and all("abandoned" in e for e in errors)


def test_a_full_disk_is_a_clear_failure(company, database_url: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, documents) -> None:
    """A vault on a 1 MiB tmpfs (mounted when the tests may mount, as root in CI): the
    documents (3 MiB) do not fit."""
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    try:
        monkeypatch.setenv("DOSSIER_BACKUP_KEY_FILE", str(tmp_path / "backup.key"))
        monkeypatch.setenv("DOSSIER_KEYRING_BACKUP_VAULT", str(tmp_path / "keyring-vault"))
        from dossiers.core.errors import CannotRun

        with pytest.raises(CannotRun) as failed:
            full.run_backup(database_url, None, documents, vault=small / "vault")
        assert "no space left on device" in str(failed.value)
        assert list((small / "vault").iterdir()) == []  # nothing half-written kept
        with db.transaction() as conn:
            statuses = conn.execute(text("SELECT DISTINCT status FROM backup")).scalars().all()
        assert statuses == ["failed"]
    finally:
        subprocess.run(["umount", str(small)], check=False)


def _json(text_: str) -> Any:
    return json.loads(text_)


@pytest.fixture
def dossiers(company, tmp_path: Path) -> list[Any]:
    """Two dossiers with contacts (personal data sealed under their data keys)."""
    from dossiers.core.crypto import KeyRing
    from dossiers.workflows import creation

    from helpers import act, client_form, submitted

    keys, made = KeyRing(), []
    for name in ("Alpha", "Beta"):
        form_id = submitted(tmp_path, client_form(name), file_name=f"{name}.json")
        act("zhao.market", lambda c, a, f=form_id: creation.review_form(c, a, f, approve=True))
        made.append(act("li.archive", lambda c, a, f=form_id: creation.create_dossier(c, keys, a, f)))
    return made


def test_backup_drill_and_restore_give_an_identical_copy(
        dossiers, cli, database_url: str, pg_server: str, vault: Path, documents) -> None:
    from dossiers.backups import drill, restore
    from dossiers.core import ledger
    from dossiers.core.config import settings

    with db.transaction() as conn:
        ledger.anchor(conn, settings().ledger_anchor)
    summary = full.run_backup(database_url, "li.archive", documents)
    drilled = cli("backup", "drill", "--as", "li.archive")
    assert drilled.status == 0, drilled.stderr
    report = drilled.json()
    assert report["backup_id"] == summary["backup_id"] and report["ok"] is True
    assert report["decrypted_sample"] >= 2 and report["documents"] == 4
    assert report["ledger"]["anchor"]["points_compared"] >= 1
    assert report["rto_seconds"] > 0 and report["rpo_seconds"] > 0
    # pg_amcheck where the server has amcheck (the machine's); the embedded one ships none
    assert report["amcheck"] == ("pg_amcheck --heapallindexed" if drill.amcheck_available(database_url)
                                 else drill.AMCHECK_SKIPPED)
    with db.transaction() as conn:
        status = conn.execute(text("SELECT status FROM backup WHERE id = :i"),
                              {"i": summary["backup_id"]}).scalar_one()
        entry = conn.execute(text("SELECT details FROM ledger_entry WHERE action = 'backup.drill'")
                             ).scalar_one()
    assert status == "verified" and entry["ok"] is True and entry["rto_seconds"] > 0
    from dossiers.backups import report as backup_report

    with db.transaction() as conn:
        uris = backup_report.publish_report(conn, "2026-12")
    assert {u.rsplit(".", 1)[-1] for u in uris} == {"html", "pdf", "zip"}  # CSVs in a zip
    html = next(Path(u.removeprefix("file://")).read_text() for u in uris if u.endswith(".html"))
    assert summary["backup_id"] in html and "RTO" in html

    # Restore by hand: with the key ring, identical; without it, no personal data opens.
    for with_keyring in (True, False):
        target = drill.scratch_database(database_url)
        try:
            into_documents = LocalObjectStore(vault.parent / f"restored-{with_keyring}")
            result = restore.restore(Path(summary["location"]), target,
                                     documents_into=into_documents,
                                     keyring=Path(summary["keyring_location"]) if with_keyring else None)
            assert result.ok, result.problems
            assert result.rows == summary["rows"] and result.documents == 4
            for key in documents.keys():
                assert b"".join(into_documents.get(key)) == b"".join(documents.get(key))
            problems, opened = drill.decrypt_sample(target, 10)
            if with_keyring:
                assert opened >= 2 and problems == []
                assert result.keyring_rows and result.keyring_rows >= 3  # two dossiers + index key
            else:
                assert opened == 0 and "data key has been destroyed or never existed" in problems[0]
                assert result.keyring_rows == 0
        finally:
            drill.drop_database(target)


def test_a_restore_is_in_both_ledgers_and_refused_to_whoever_may_not_run_backups(
        dossiers, cli, database_url: str, vault: Path, documents) -> None:
    """Art. 18, every change in the ledger: ``dossier backup restore`` is authorized in the
    system of record before anything opens; the restored copy's ledger continues the
    backup's chain with a ``backup.restore`` entry, and the system of record's says who
    restored which backup where."""
    from dossiers.backups import drill
    from dossiers.core import ledger

    summary = full.run_backup(database_url, "li.archive", documents)
    target = drill.scratch_database(database_url)
    try:
        refused = cli("backup", "restore", summary["location"], "--into", target,
                      "--as", "zhao.market")
        assert refused.status == 1 and "zhao.market" in refused.stderr, refused.stderr
        with _admin(target) as conn:
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                                ).fetchone() == (0,)

        restored = cli("backup", "restore", summary["location"], "--into", target,
                       "--keyring", summary["keyring_location"], "--as", "li.archive")
        assert restored.status == 0, restored.stderr
        with db.transaction(db.get_engine(target, app_role=False)) as conn:
            seq, actor, action, details = conn.execute(text(
                "SELECT seq, actor, action, details FROM ledger_entry ORDER BY seq DESC LIMIT 1")
            ).one()
            chain = ledger.verify(conn)
        db.dispose(target)
        assert (actor, action) == ("li.archive", "backup.restore")
        assert seq == summary["ledger_head"]["seq"] + 1 and chain.ok  # the chain continues
        assert details["backup_id"] == summary["backup_id"] and details["ok"] is True
        assert details["rows"] == summary["rows"] and details["keyring"] is True
        with db.transaction() as conn:
            (here,) = conn.execute(text(
                "SELECT details FROM ledger_entry WHERE action = 'backup.restore' "
                "AND actor = 'li.archive'")).one()
        assert here["backup_id"] == summary["backup_id"]
        assert here["into"] == db.describe(target) and "@" not in here["into"]
    finally:
        drill.drop_database(target)


def test_a_flipped_byte_is_caught_before_a_restore_writes_a_row(
        company, cli, database_url: str, vault: Path, documents) -> None:
    from dossiers.backups import drill

    summary = full.run_backup(database_url, None, documents)
    dump = Path(summary["location"]) / full.DATABASE_FILE
    data = bytearray(dump.read_bytes())
    data[-100] ^= 0x80  # near the end: the last segments are restored last
    dump.write_bytes(bytes(data))
    target = drill.scratch_database(database_url)
    try:
        restored = cli("backup", "restore", summary["location"], "--into", target)
        assert restored.status == 1, restored.stderr
        assert full.DATABASE_FILE in restored.stderr and "nothing was restored" in restored.stderr
        with _admin(target) as conn:
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                                  ).fetchone()
        assert tables == (0,)
        # The drill of that backup fails loudly, recorded.
        drilled = cli("backup", "drill", summary["backup_id"])
        assert drilled.status == 1 and "restore drill failed" in drilled.stderr
        with db.transaction() as conn:
            ok, status = conn.execute(text(
                "SELECT d.ok, b.status FROM backup_drill d JOIN backup b ON b.id = d.backup_id")).one()
        assert ok is False and status == "complete"
    finally:
        drill.drop_database(target)


def test_rows_reordered_inside_the_dump_are_named_by_table(
        company, cli, database_url: str, vault: Path, tmp_path: Path) -> None:
    """The manifest's digests are the dump's own rows (each table's COPY text as pg_dump
    wrote it): someone holding the backup key who re-seals the database file with one
    table's rows reordered, and re-MACs the manifest's file hashes, is still caught by
    ``verify`` naming the table, and a restore writes nothing (Art. 18)."""
    from dossiers.backups import drill, dumpdir
    from dossiers.backups.files import open_file, seal_file

    summary = full.run_backup(database_url, None, None)
    folder, key = Path(summary["location"]), BackupKey.from_file(create=False)
    body = manifest.read(folder, key)
    part = full.context(summary["backup_id"], "database")
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    dumpdir.unpack(open_file(folder / full.DATABASE_FILE, key.key, part), unpacked)
    staff = unpacked / body["tables"]["public.staff"]["file"]
    rows, terminator = staff.read_bytes().split(b"\\.\n", 1)
    lines = rows.splitlines(keepends=True)
    assert len(lines) == body["tables"]["public.staff"]["rows"] == 7
    staff.write_bytes(b"".join(reversed(lines)) + b"\\.\n" + terminator)  # same rows, reordered
    written, plain_sha, plain_size = seal_file(folder / full.DATABASE_FILE,
                                               dumpdir.pack(unpacked, {}), key.key, part)
    body["database"].update({**written.as_dict(), "dump_sha256": plain_sha,
                             "dump_size": plain_size})
    manifest.write(folder, body, key)

    checked = cli("backup", "verify", str(folder))
    assert checked.status == 1, checked.stdout
    assert checked.json()["problems"] == [
        f"{full.DATABASE_FILE}: table public.staff: its rows in "
        f"{body['tables']['public.staff']['file']} differ from the manifest's hash"]
    target = drill.scratch_database(database_url)
    try:
        restored = cli("backup", "restore", str(folder), "--into", target)
        assert restored.status == 1 and "table public.staff" in restored.stderr, restored.stderr
        assert "nothing was restored" in restored.stderr
        with _admin(target) as conn:
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                                ).fetchone() == (0,)
    finally:
        drill.drop_database(target)


def test_the_manifest_holds_the_dumps_own_rows_and_the_restored_copy_hashes_the_same(
        dossiers, database_url: str, vault: Path) -> None:
    """One pass: each table's digest is its ``.dat`` in the dump; the restored copy, hashed
    as ``COPY … TO STDOUT`` in physical order, gives every table's digest back (updated rows
    out of key order, TOASTed values, the ledger with its trigger-filled columns)."""
    from dossiers.backups import drill, restore, snapshot

    with _admin(database_url) as conn:  # a row out of key order, its new value TOASTed
        conn.execute("UPDATE staff SET confidentiality_ref = (SELECT string_agg(md5(i::text), "
                     "'') FROM generate_series(1, 5000) i) WHERE username = 'li.archive'")
    summary = full.run_backup(database_url, None, None)
    body = manifest.read(Path(summary["location"]), BackupKey.from_file(create=False))
    assert body["database"]["digest"] == snapshot.DUMP_ORDER
    assert body["tables"]["public.ledger_entry"]["rows"] > 0
    assert all(t["rows"] == 0 or t["file"].endswith(".dat") for t in body["tables"].values())
    target = drill.scratch_database(database_url)
    try:
        restored = restore.restore(Path(summary["location"]), target, reapply_destructions=False)
        assert restored.ok, restored.problems
        assert restored.tables == len(body["tables"]) and restored.rows == summary["rows"]
    finally:
        drill.drop_database(target)


def test_a_backup_in_the_older_custom_format_still_verifies_and_restores(
        company, cli, database_url: str, vault: Path) -> None:
    """Backups taken before the directory format (one ``pg_dump -Fc`` archive, digests
    ordered by primary key; the manifest's ``database`` without ``digest``) still verify
    and restore, compared table by table in their own order."""
    from dossiers.backups import drill, restore, snapshot
    from dossiers.backups.files import seal_file
    from dossiers.backups.tools import libpq_env, pg_tool

    summary = full.run_backup(database_url, None, None)
    folder, key = Path(summary["location"]), BackupKey.from_file(create=False)
    body = manifest.read(folder, key)
    archive = subprocess.run(
        [pg_tool("pg_dump", body["server_major"]), "--format=custom", "--compress=0",
         f"--exclude-table-data={snapshot.KEYRING_SCHEMA}.*", "--no-password"],
        capture_output=True, env=libpq_env(database_url), check=True).stdout
    written, plain_sha, plain_size = seal_file(
        folder / full.DATABASE_FILE, [archive], key.key,
        full.context(summary["backup_id"], "database"))
    with _admin(database_url) as conn:
        ordered = snapshot.table_digests(conn, exclude=(snapshot.KEYRING_SCHEMA,))
    body["database"] = {**written.as_dict(), "dump_sha256": plain_sha, "dump_size": plain_size,
                        "format": full.CUSTOM_FORMAT}
    body["tables"] = {name: d.as_dict() for name, d in ordered.items()}
    manifest.write(folder, body, key)

    checked = cli("backup", "verify", str(folder))
    assert checked.status == 0 and checked.json()["checked"]["database"] is True, checked.stdout
    target = drill.scratch_database(database_url)
    try:
        restored = restore.restore(folder, target, reapply_destructions=False)
        assert restored.ok, restored.problems
        assert restored.rows == sum(d.rows for d in ordered.values()) > 0
    finally:
        drill.drop_database(target)


@pytest.fixture
def locked_bucket(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """A bucket with Object Lock on moto's server, the connection ``dossier_s3`` pointing at
    it through the environment (as in production), and DOSSIER_BACKUP_OFFSITE naming it."""
    import uuid

    import boto3

    from helpers import s3_connection

    monkeypatch.setenv("AIRFLOW_CONN_DOSSIER_S3", s3_connection(moto_server))
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    bucket = f"offsite-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    monkeypatch.setenv("DOSSIER_BACKUP_OFFSITE", f"s3://{bucket}/dossiers")
    return s3, bucket


def test_backup_drill_offsite_and_restore_from_offsite(
        dossiers, cli, database_url: str, vault: Path, tmp_path: Path, locked_bucket) -> None:
    from datetime import UTC, datetime, timedelta

    from dossiers.backups import drill, offsite
    from dossiers.core import ledger, policy
    from dossiers.core.config import settings

    s3, bucket = locked_bucket
    big = LocalObjectStore(tmp_path / "big-documents")
    big.put("objects/large", [os.urandom(1 << 20) for _ in range(10)])  # 10 MiB: multipart
    with db.transaction() as conn:
        ledger.anchor(conn, settings().ledger_anchor)
    summary = full.run_backup(database_url, None, big)
    drill.drill(database_url, None, summary["backup_id"])
    shipped = offsite.ship(database_url, None)
    assert shipped["backup_id"] == summary["backup_id"]

    rules = policy.policy()
    now = datetime.now(UTC)
    objects = s3.list_objects_v2(Bucket=bucket, Prefix="dossiers/")["Contents"]
    assert len(objects) == 3 + 2  # database, documents, manifest; key ring and its manifest
    for item in objects:  # read back from S3 by a client of our own, every object
        head = s3.head_object(Bucket=bucket, Key=item["Key"])
        retention, _ = offsite.read_retention(s3, bucket, item["Key"], head)
        days = (rules.keyring_backup_keep_days if "/keyring/" in item["Key"]
                else rules.backup_offsite_lock_days)
        assert retention["Mode"] == "COMPLIANCE"
        assert abs(retention["RetainUntilDate"] - (now + timedelta(days=days))) < timedelta(minutes=5)
        assert head["ServerSideEncryption"] == "AES256"
    assert {o["read_back"] for o in shipped["objects"]} <= {
        "get_object_retention",
        "the object's headers (GetObjectRetention not answered by this endpoint)"}
    assert rules.keyring_backup_keep_days < rules.destruction_complete_days

    from_offsite = drill.drill_offsite(database_url, None)
    assert from_offsite["ok"] and from_offsite["source"] == "offsite"
    assert from_offsite["rows"] == summary["rows"] and from_offsite["documents"] == 1
    with db.transaction() as conn:
        drills = conn.execute(text("SELECT source, ok FROM backup_drill ORDER BY id")).all()
        offsite_at = conn.execute(text("SELECT offsite_uri FROM backup WHERE id = :i"),
                                  {"i": summary["backup_id"]}).scalar_one()
    assert [tuple(d) for d in drills] == [("vault", True), ("offsite", True)]
    assert offsite_at == shipped["uri"]


def test_an_unreachable_offsite_store_fails_clearly_and_marks_nothing(
        company, database_url: str, vault: Path, documents, monkeypatch) -> None:
    from dossiers.backups import drill, offsite
    from dossiers.core.errors import CannotRun

    from helpers import free_port, s3_connection

    summary = full.run_backup(database_url, None, documents)
    drill.drill(database_url, None, summary["backup_id"])
    monkeypatch.setenv("AIRFLOW_CONN_DOSSIER_S3", s3_connection(f"http://127.0.0.1:{free_port()}"))
    monkeypatch.setenv("DOSSIER_BACKUP_OFFSITE", "s3://nowhere/dossiers")
    with pytest.raises(CannotRun) as failed:
        offsite.ship(database_url, None)
    assert "cannot reach S3" in str(failed.value) and "not marked done" in str(failed.value)
    with db.transaction() as conn:
        assert conn.execute(text("SELECT offsite_uri FROM backup WHERE kind = 'full'")
                            ).scalar_one() is None


def _sha256_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_large_backup_goes_off_site_in_segments_and_is_restored_from_them(
        dossiers, database_url: str, vault: Path, tmp_path: Path, documents, locked_bucket,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A file larger than the segment size goes up as locked, encrypted segment objects
    (each read back) listed by an index; the drill from the off-site copy reassembles it."""
    from dossiers.backups import drill, offsite
    from dossiers.backups.errors import DrillFailed
    from dossiers.core import ledger
    from dossiers.core.config import settings

    s3, bucket = locked_bucket
    monkeypatch.setattr(offsite, "SEGMENT", 1 << 20)  # the 3 MiB documents file: 4 segments
    calls: list[tuple[str, str]] = []  # (operation, key) in the order S3 answered them
    real_client = offsite.s3_client

    def recording_client() -> Any:
        client = real_client()
        def key_of(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["recorded_key"] = params["Key"]

        def answered(model: Any, context: dict[str, Any], **_: Any) -> None:
            calls.append((model.name, context["recorded_key"]))

        def slowly(context: dict[str, Any], **_: Any) -> None:  # the small objects get ahead
            if "/segments/" in context["recorded_key"]:
                time.sleep(1)

        for operation in ("PutObject", "CompleteMultipartUpload", "PutObjectRetention",
                          "GetObject"):
            client.meta.events.register(f"before-parameter-build.s3.{operation}", key_of)
            client.meta.events.register(f"after-call.s3.{operation}", answered)
        client.meta.events.register("before-call.s3.PutObject", slowly)
        return client

    monkeypatch.setattr(offsite, "s3_client", recording_client)
    with db.transaction() as conn:
        ledger.anchor(conn, settings().ledger_anchor)
    summary = full.run_backup(database_url, None, documents)
    drill.drill(database_url, None, summary["backup_id"])
    shipped = offsite.ship(database_url, None)

    # The small objects travel beside the segments, but the backup's manifest is uploaded
    # only once every other object of the backup is, and every object (segment, index,
    # manifest, key ring's) is locked, then read back, before the copy counts as shipped.
    uploaded = [key for op, key in calls if op in ("PutObject", "CompleteMultipartUpload")]
    backup_keys = [k for k in uploaded if "/full/" in k]
    assert backup_keys[-1].endswith("/" + manifest.MANIFEST)
    every = {o["key"] for o in shipped["objects"] + shipped["keyring"]} | {
        g["key"] for o in shipped["objects"] for g in o.get("segments", [])}
    assert every == set(uploaded)
    for key in every:
        done = [op for op, k in calls if k == key]
        assert done.index("PutObjectRetention") < done.index("GetObject"), (key, done)

    segmented = [o for o in shipped["objects"] if "segments" in o]
    assert segmented and any(len(o["segments"]) >= 4 for o in segmented)
    local = Path(summary["location"])
    for o in segmented:
        assert o["key"].endswith(o["file"] + offsite.INDEX_SUFFIX)
        assert [g["n"] for g in o["segments"]] == list(range(1, len(o["segments"]) + 1))
        assert sum(g["size"] for g in o["segments"]) == (local / o["file"]).stat().st_size
        assert o["sha256"] == _sha256_of(local / o["file"])
        for g in o["segments"]:  # opaque keys, each locked and encrypted, read back by us
            assert g["key"].split("/")[-2] == "segments" and o["file"] not in g["key"]
            head = s3.head_object(Bucket=bucket, Key=g["key"])
            retention, _ = offsite.read_retention(s3, bucket, g["key"], head)
            assert retention["Mode"] == "COMPLIANCE" and head["ServerSideEncryption"] == "AES256"
    with db.transaction() as conn:
        (details,), = conn.execute(text(
            "SELECT details FROM ledger_entry WHERE action = 'backup.offsite'")).all()
    assert {f: [g[0] for g in gs] for f, gs in details["segments"].items()} == {
        o["file"]: [g["key"] for g in o["segments"]] for o in segmented}

    fetched = offsite.fetch(shipped["uri"], tmp_path / "fetched")
    assert sorted(p.name for p in fetched.iterdir()) == sorted(p.name for p in local.iterdir())
    for path in local.iterdir():  # byte-identical, segmented or not
        assert _sha256_of(fetched / path.name) == _sha256_of(path), path.name
    from_offsite = drill.drill_offsite(database_url, None)
    assert from_offsite["ok"] and from_offsite["rows"] == summary["rows"]

    damaged = segmented[0]["segments"][1]["key"]  # a new version over a locked segment
    s3.put_object(Bucket=bucket, Key=damaged, Body=b"not the segment")
    from_offsite = drill.drill_offsite(database_url, None)  # reads the version shipped
    assert from_offsite["ok"] and [u.split(" ")[0] for u in
                                   from_offsite["unrecorded_versions"]] == [damaged]
    with pytest.raises(offsite.OffsiteCopyDamaged) as failed:  # without the ledger: the newest
        offsite.fetch(shipped["uri"], tmp_path / "newest")
    assert f"segment 2 of {len(segmented[0]['segments'])} ({damaged}) was altered" in str(
        failed.value)
    with db.transaction() as conn:
        drills = conn.execute(text("SELECT source, ok FROM backup_drill ORDER BY id")).all()
    assert [tuple(d) for d in drills] == [("vault", True), ("offsite", True), ("offsite", True)]

    later = full.run_backup(database_url, None, documents)  # a copy no ledger entry records
    with db.transaction() as conn:
        conn.execute(text("UPDATE backup SET offsite_uri = :u, offsite_at = now() WHERE id = :i"),
                     {"u": shipped["uri"], "i": later["backup_id"]})
    with pytest.raises(DrillFailed) as failed:
        drill.drill_offsite(database_url, None, later["backup_id"])
    assert "no ledger entry records this off-site copy" in str(failed.value)
    with db.transaction() as conn:
        drilled = conn.execute(text("SELECT ok FROM backup_drill WHERE backup_id = :i"),
                               {"i": later["backup_id"]}).scalars().all()
    assert drilled == [False]


def test_an_off_site_copy_rewritten_in_the_bucket_is_restored_as_shipped(
        dossiers, database_url: str, vault: Path, tmp_path: Path, documents, locked_bucket,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone who can write to the bucket but not to the ledger puts new versions over the
    locked objects (locked in their turn, nobody could delete them): another backup's
    manifest (sealed by the same key, its MAC valid) and a segment index consistent with
    itself. The drill reads each object at the version the ledger recorded, restores the
    copy as shipped and names the versions it did not read. A ledger entry older than the
    versions (files and segments only) holds the copy read back against them instead and
    names what is not what was shipped."""
    import hashlib
    import json

    from dossiers.backups import catalogue, drill, offsite

    s3, bucket = locked_bucket
    monkeypatch.setattr(offsite, "SEGMENT", 1 << 20)  # the 3 MiB documents file: segments
    summary = full.run_backup(database_url, None, documents)
    drill.drill(database_url, None, summary["backup_id"])
    shipped = offsite.ship(database_url, None)
    prefix = shipped["uri"].split(f"s3://{bucket}/", 1)[1]

    manifest_key = f"{prefix}/{manifest.MANIFEST}"  # another backup's, its MAC as valid
    other = (Path(summary["keyring_location"]) / manifest.MANIFEST).read_bytes()
    forged_manifest = s3.put_object(Bucket=bucket, Key=manifest_key, Body=other)
    segmented = next(o for o in shipped["objects"] if "segments" in o)
    index = json.loads(s3.get_object(Bucket=bucket, Key=segmented["key"])["Body"].read())
    body = b"forged segment"
    forged_key = f"{prefix}/{offsite.SEGMENTS}/{'0' * 32}"
    s3.put_object(Bucket=bucket, Key=forged_key, Body=body)
    index.update(size=len(body), sha256=hashlib.sha256(body).hexdigest(), segments=[
        {"n": 1, "key": forged_key, "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}])
    forged_index = s3.put_object(Bucket=bucket, Key=segmented["key"],
                                 Body=json.dumps(index).encode())

    drilled = drill.drill_offsite(database_url, None)
    assert drilled["ok"] and drilled["rows"] == summary["rows"]
    assert drilled["documents"] == summary["documents"]
    unrecorded = drilled["unrecorded_versions"]
    assert len(unrecorded) == 3, unrecorded
    assert any(u.startswith(f"{manifest_key} (version {forged_manifest['VersionId']}")
               for u in unrecorded)
    assert any(u.startswith(f"{segmented['key']} (version {forged_index['VersionId']}")
               for u in unrecorded)
    assert any(u.startswith(forged_key) for u in unrecorded)

    with db.transaction() as conn:  # as an entry written before the versions were recorded
        details = catalogue.offsite_shipment(conn, summary["backup_id"])
    assert details is not None and len(details["versions"]) == len(shipped["objects"]) + len(
        segmented["segments"])
    unversioned = offsite.Shipped(details["files"], details["segments"], {})
    with pytest.raises(offsite.OffsiteCopyDamaged) as damaged:
        offsite.fetch(shipped["uri"], tmp_path / "index", unversioned)
    assert (f"lists other segments for {segmented['file']} than the ledger recorded"
            in str(damaged.value))
    s3.delete_object(Bucket=bucket, Key=segmented["key"], VersionId=forged_index["VersionId"])
    with pytest.raises(offsite.OffsiteCopyDamaged) as damaged:
        offsite.fetch(shipped["uri"], tmp_path / "manifest", unversioned)
    assert f"{manifest.MANIFEST} differs from what was shipped" in str(damaged.value)
    s3.delete_object(Bucket=bucket, Key=manifest_key, VersionId=forged_manifest["VersionId"])
    assert offsite.fetch(shipped["uri"], tmp_path / "as-shipped", unversioned).is_dir()
    with db.transaction() as conn:
        drills = conn.execute(text("SELECT source, ok FROM backup_drill ORDER BY id")).all()
    assert [tuple(d) for d in drills] == [("vault", True), ("offsite", True)]


def test_the_off_site_copy_is_fetched_back_for_a_restore_when_the_vault_is_lost(
        dossiers, cli, database_url: str, vault: Path, tmp_path: Path, documents, locked_bucket,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Art. 18 (restore quickly after failure or loss): with the vault gone, `backup fetch`
    reads the off-site copy and its key ring's back (segments reassembled) and `backup
    restore` restores them whole, whatever someone who can write to the bucket put there
    before or after the shipment: while the system of record answers, each object is read
    at the version the ledger recorded; with it gone too, the copy named by --from proves
    itself by its sealed manifest. Versions not read are named; a copy that cannot be read
    whole is refused, named, and nothing of it is kept."""
    import shutil

    from dossiers.backups import drill, offsite

    s3, bucket = locked_bucket
    monkeypatch.setattr(offsite, "SEGMENT", 1 << 20)  # the 3 MiB documents file: segments
    summary = full.run_backup(database_url, None, documents)
    drill.drill(database_url, None, summary["backup_id"])
    backup_id, keyring_id = summary["backup_id"], Path(summary["keyring_location"]).name
    prefix = f"dossiers/full/{backup_id}"
    other = (Path(summary["keyring_location"]) / manifest.MANIFEST).read_bytes()  # MAC valid
    before = [s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=body)  # written first
              for name, body in ((manifest.MANIFEST, other), (full.DATABASE_FILE, b"forged"))]
    shipped = offsite.ship(database_url, None)
    assert shipped["uri"] == f"s3://{bucket}/{prefix}"
    after = s3.put_object(Bucket=bucket, Key=f"{prefix}/{manifest.MANIFEST}", Body=other)
    hashes = {p.name: _sha256_of(p) for p in Path(summary["location"]).iterdir()}
    for lost in (summary["location"], summary["keyring_location"]):  # the vault is lost
        shutil.rmtree(lost)
    forged = {v["VersionId"] for v in (*before, after)}

    def unread(fetched: dict[str, Any]) -> set[str]:
        return {u.split("(version ")[1].split(",")[0] for u in fetched["unrecorded_versions"]}

    into = tmp_path / "fetched"
    fetched = cli("backup", "fetch", "--into", str(into), "--as", "li.archive")
    assert fetched.status == 0, fetched.stderr
    got = fetched.json()
    assert (got["folder"], got["keyring_folder"]) == (str(into / backup_id), str(into / keyring_id))
    assert {p.name: _sha256_of(p) for p in (into / backup_id).iterdir()} == hashes
    assert got["held_against"] == ["the ledger's backup.offsite entry",
                                   "the backup's sealed manifest"]
    assert unread(got) == forged
    assert sorted(p.name for p in into.iterdir()) == sorted([backup_id, keyring_id])
    again = cli("backup", "fetch", "--into", str(into), "--as", "li.archive")
    assert again.status == 1 and "already exists" in again.stderr, again.stderr
    target = drill.scratch_database(database_url)
    try:
        restored = cli("backup", "restore", got["folder"], "--into", target,
                       "--keyring", got["keyring_folder"], "--as", "li.archive")
        assert restored.status == 0, restored.stderr
        assert restored.json()["rows"] == summary["rows"]
    finally:
        drill.drop_database(target)

    monkeypatch.setenv("DOSSIER_DATABASE_URL", f"{database_url}_gone")  # no such database
    into = tmp_path / "fetched-without-the-system-of-record"
    fetch = ("backup", "fetch", "--into", str(into))
    lost = cli(*fetch, "--as", "li.archive")
    assert lost.status == 2 and "--system-of-record-lost" in lost.stderr, lost.stderr
    unnamed = cli(*fetch, "--system-of-record-lost")
    assert unnamed.status == 1 and "--from s3://" in unnamed.stderr, unnamed.stderr
    store = cli(*fetch, "--system-of-record-lost", "--from", f"s3://{bucket}/dossiers")
    assert store.status == 1 and "not the address of a full backup's off-site copy" in (
        store.stderr), store.stderr
    assert f"the newest there: {shipped['uri']}" in store.stderr  # the copies it holds
    # without the ledger, the first version of the database file is read: the forged one
    first = cli(*fetch, "--system-of-record-lost", "--from", shipped["uri"])
    assert first.status == 1, first.stderr
    assert f"{full.DATABASE_FILE} differs from what its manifest records" in first.stderr
    assert list(into.iterdir()) == []  # nothing kept of a copy that failed
    s3.delete_object(Bucket=bucket, Key=f"{prefix}/{full.DATABASE_FILE}",  # not locked
                     VersionId=before[1]["VersionId"])
    recovered = cli(*fetch, "--system-of-record-lost", "--from", shipped["uri"])
    assert recovered.status == 0, recovered.stderr
    assert recovered.json()["held_against"] == ["the backup's sealed manifest"]
    assert unread(recovered.json()) == forged - {before[1]["VersionId"]}
    assert {p.name: _sha256_of(p) for p in (into / backup_id).iterdir()} == hashes


def test_a_missing_altered_or_swapped_segment_is_named(locked_bucket, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Restoring from the off-site copy names every segment that is not what its index
    lists; a segment of several multipart parts comes back byte-identical."""
    from datetime import UTC, datetime, timedelta

    from dossiers.backups import offsite
    from dossiers.core.s3 import s3_client

    s3, bucket = locked_bucket
    until = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    client = s3_client()
    data = tmp_path / "database.bin"
    data.write_bytes(os.urandom(2 * offsite.PART + 12345))
    monkeypatch.setattr(offsite, "SEGMENT", 2 * offsite.PART)  # two parts, then the rest
    shipped = offsite.ship_file(client, bucket, "whole/b1/database.bin", data, until)
    assert [g["size"] for g in shipped["segments"]] == [2 * offsite.PART, 12345]
    fetched = offsite.fetch(f"s3://{bucket}/whole/b1", tmp_path / "whole")
    assert _sha256_of(fetched / "database.bin") == _sha256_of(data)

    data.write_bytes(os.urandom(5 << 20))
    monkeypatch.setattr(offsite, "SEGMENT", 1 << 20)
    keys = [g["key"] for g in offsite.ship_file(client, bucket, "damaged/b2/database.bin",
                                                data, until)["segments"]]
    assert len(keys) == 5
    s3.delete_object(Bucket=bucket, Key=keys[1])  # a delete marker: the key reads as gone
    s3.put_object(Bucket=bucket, Key=keys[2], Body=os.urandom(1 << 20))
    fourth, fifth = (s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys[3:])
    s3.put_object(Bucket=bucket, Key=keys[3], Body=fifth)
    s3.put_object(Bucket=bucket, Key=keys[4], Body=fourth)
    with pytest.raises(offsite.OffsiteCopyDamaged) as damaged:
        offsite.fetch(f"s3://{bucket}/damaged/b2", tmp_path / "damaged")
    message = str(damaged.value)
    assert f"database.bin: segment 1 of 5 ({keys[0]})" not in message
    assert f"database.bin: segment 2 of 5 ({keys[1]}) is missing off-site" in message
    assert f"segment 3 of 5 ({keys[2]}) was altered" in message
    assert f"segment 4 of 5 ({keys[3]}) holds segment 5's bytes: out of order" in message
    assert f"segment 5 of 5 ({keys[4]}) holds segment 4's bytes: out of order" in message


def test_a_drill_opens_documents_with_the_restored_key_ring(
        cli, database_url: str, vault: Path, tmp_path: Path, monkeypatch) -> None:
    from dossiers.backups import drill
    from dossiers.backups.documents import source_store

    monkeypatch.setenv("DOSSIER_DOCUMENT_STORE", str(tmp_path / "documents"))
    assert cli("seed", "--clients", "6", "--seed", "3").status == 0
    summary = full.run_backup(database_url, None, source_store())
    assert summary["documents"] > 0
    report = drill.drill(database_url, None, summary["backup_id"])
    assert report["ok"] and report["decrypted_documents"] > 0
    # Arts. 17, 18: the data backup and the master key without the key ring open no document.
    from dossiers.backups import restore

    target = drill.scratch_database(database_url)
    try:
        store = LocalObjectStore(tmp_path / "restored-without-keyring")
        restored = restore.restore(Path(summary["location"]), target, documents_into=store)
        assert restored.ok and restored.documents == summary["documents"]
        problems, opened = drill.decrypt_documents(target, 5, store)
        assert opened == 0 and len(problems) == min(5, summary["documents"]), problems
    finally:
        drill.drop_database(target)


def test_a_drill_slower_than_the_rto_target_fails(company, cli, database_url: str, vault: Path,
                                                 documents, tmp_path: Path, monkeypatch) -> None:
    """Arts. 4, 18 (restore quickly): the policy's RTO target is a pass mark of every drill."""
    summary = full.run_backup(database_url, "li.archive", documents)
    rules = tmp_path / "policy.toml"
    rules.write_text("[rules]\nbackup_rto_target_minutes = 0\n")
    monkeypatch.setenv("DOSSIER_POLICY_FILE", str(rules))
    drilled = cli("backup", "drill", "--as", "li.archive")
    assert drilled.status == 1, drilled.stdout
    assert "over the RTO target of 0 minutes (Arts. 4, 18)" in drilled.stderr
    with db.transaction() as conn:
        status, ok, problems = conn.execute(text(
            "SELECT b.status, d.ok, d.problems FROM backup b JOIN backup_drill d ON d.backup_id = b.id "
            "WHERE b.id = :i"), {"i": summary["backup_id"]}).one()
    assert status != "verified" and ok is False and "RTO target" in problems[0]


def test_a_restore_when_the_system_of_record_is_lost_is_authorized_by_the_copy(
        dossiers, cli, database_url: str, vault: Path, documents, tmp_path: Path,
        monkeypatch) -> None:
    """Arts. 14, 18 (recover quickly after a loss): with the dossier database gone, nobody
    could restore if the permission check needed it; the restored copy's staff register
    decides instead, a refusal leaves nothing behind, and the copy's ledger says how."""
    from dossiers.backups import drill
    from dossiers.core import ledger

    summary = full.run_backup(database_url, "li.archive", documents)
    target = drill.scratch_database(database_url)
    restored_documents = tmp_path / "restored-documents"
    restore_args = ("backup", "restore", summary["location"], "--into", target,
                    "--keyring", summary["keyring_location"],
                    "--documents-into", str(restored_documents))
    try:
        # while the system of record answers, the flag is refused and nothing is written
        alive = cli(*restore_args, "--system-of-record-lost", "--as", "li.archive")
        assert alive.status == 1 and "system of record answers" in alive.stderr, alive.stderr
        monkeypatch.setenv("DOSSIER_DATABASE_URL", f"{database_url}_gone")  # no such database
        lost = cli(*restore_args, "--as", "li.archive")
        assert lost.status == 2 and "--system-of-record-lost" in lost.stderr, lost.stderr
        refused = cli(*restore_args, "--system-of-record-lost", "--as", "zhao.market")
        assert refused.status == 1 and "zhao.market may not backup.run" in refused.stderr, refused.stderr
        with _admin(target) as conn:
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
                                "('pg_catalog', 'information_schema')").fetchone() == (0,)
        assert not restored_documents.exists()

        done = cli(*restore_args, "--system-of-record-lost", "--as", "li.archive")
        assert done.status == 0, done.stderr
        assert done.json()["rows"] == summary["rows"] and done.json()["documents"] == 4
        with db.transaction(db.get_engine(target, app_role=False)) as conn:
            actor, action, details = conn.execute(text(
                "SELECT actor, action, details FROM ledger_entry ORDER BY seq DESC LIMIT 1")).one()
            assert ledger.verify(conn).ok
        db.dispose(target)
        assert (actor, action) == ("li.archive", "backup.restore")
        assert details["system_of_record"].startswith("lost") and details["ok"] is True
    finally:
        drill.drop_database(target)
