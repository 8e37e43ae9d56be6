"""Restoring a backup (``dossier backup restore``, and every drill; Art. 18).

Nothing is written to the target until the whole backup has opened: the dump is decrypted
and decompressed into a private scratch folder, its hash and every table's rows and hash
in it compared with the manifest (older backups: one scratch file, its hash), the
document stream is read through once and every object hashed, the key ring's backup (when
given) likewise. Only then does ``pg_restore`` run into the target (which must be empty),
the key ring's rows go in, the documents are put, and every table's rows and hash are
compared with the manifest. A restore by an operator (``dossier backup restore``) ends with
a ``backup.restore`` ledger entry in the restored database, continuing the chain the backup
holds (a drill's scratch copy gets none: its chain is compared with the manifest's head).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import make_url

from dossiers.backups import bundle, dumpdir, manifest, snapshot, verify
from dossiers.backups.documents import local_store
from dossiers.backups.files import hashing, open_file
from dossiers.backups.full import DATABASE_FILE, KEYRING_FILE, context
from dossiers.backups.settings import BackupKey
from dossiers.backups.tools import libpq_env, libpq_url, pg_tool
from dossiers.core import db, directory, ledger
from dossiers.core.errors import CannotRun, DossierError, Refused
from dossiers.core.objects import ObjectStore
from dossiers.core.permissions import Action, authorize
from dossiers.core.vocabulary import LedgerAction

#: Tables hashed at once when comparing a restored copy with its manifest (2 cores).
COMPARE_WORKERS = 2


class BackupCorrupt(Refused):
    """A backup that does not open whole: nothing was restored from it (Art. 18)."""


@dataclass
class Restored:
    backup_id: str
    into: str
    problems: list[str] = field(default_factory=list)
    tables: int = 0
    rows: int = 0
    documents: int = 0
    keyring_rows: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    #: dossiers destroyed after the backup was taken, destroyed again here (Art. 17)
    destroyed_again: list[str] = field(default_factory=list)
    #: the backup's snapshot time and ledger head, and whether its key ring came along
    snapshot_at: str | None = None
    ledger_seq: int | None = None
    with_keyring: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def ledger_details(self) -> dict[str, Any]:
        """What a ``backup.restore`` ledger entry says (no personal data, no password)."""
        return {"backup_id": self.backup_id, "into": self.into, "ok": self.ok,
                "snapshot_at": self.snapshot_at, "backup_ledger_seq": self.ledger_seq,
                "tables": self.tables, "rows": self.rows, "documents": self.documents,
                "keyring": self.with_keyring, "keyring_rows": self.keyring_rows,
                "destroyed_again": self.destroyed_again, "problems": self.problems[:20],
                "seconds": self.seconds.get("total")}

    def as_dict(self) -> dict[str, Any]:
        return {"backup_id": self.backup_id, "into": self.into, "ok": self.ok,
                "problems": self.problems, "tables": self.tables, "rows": self.rows,
                "documents": self.documents, "keyring_rows": self.keyring_rows,
                "seconds": self.seconds, "destroyed_again": self.destroyed_again}


def _decrypt_to(path: Path, out: Path, key: BackupKey, backup_id: str, part: str,
                expected_sha: str) -> None:
    digest = hashlib.sha256()
    try:
        with out.open("wb") as handle:
            for chunk in open_file(path, key.key, context(backup_id, part)):
                digest.update(chunk)
                handle.write(chunk)
    except DossierError as exc:
        raise BackupCorrupt(f"{path.name}: {exc}; nothing was restored",
                            record=f"backup {backup_id}") from None
    except OSError as exc:
        raise CannotRun(f"scratch space {out.parent}: {exc.strerror or exc}") from None
    if digest.hexdigest() != expected_sha:
        raise BackupCorrupt(f"{path.name}: its content differs from the manifest's hash; "
                            "nothing was restored", record=f"backup {backup_id}")


def _unpack_to(path: Path, out: Path, key: BackupKey, backup_id: str,
               body: dict[str, Any]) -> None:
    """A packed directory dump, opened into ``out``: every file hashed as it is written,
    and every table's rows and hash checked against the manifest before anything is
    restored."""
    digest = hashlib.sha256()
    try:
        found = dumpdir.unpack(hashing(open_file(path, key.key, context(backup_id, "database")),
                                       digest), out)
    except DossierError as exc:
        raise BackupCorrupt(f"{path.name}: {exc}; nothing was restored",
                            record=f"backup {backup_id}") from None
    except OSError as exc:
        raise CannotRun(f"scratch space {out.parent}: {exc.strerror or exc}") from None
    if digest.hexdigest() != body["database"]["dump_sha256"]:
        raise BackupCorrupt(f"{path.name}: its content differs from the manifest's hash; "
                            "nothing was restored", record=f"backup {backup_id}")
    if problems := dumpdir.check(body, found, path.name):
        raise BackupCorrupt(f"{problems[0]}; nothing was restored",
                            record=f"backup {backup_id}")


def _target_is_empty(conn: psycopg.Connection[Any], into: str) -> None:
    row = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg_%'").fetchone()
    if row and row[0]:
        raise Refused(f"the database {into} is not empty ({row[0]} tables): restore only into a "
                      "new, empty database", record="restore target")


def restore(folder: Path, into_url: str, *, key: BackupKey | None = None,
            documents_into: ObjectStore | None = None, keyring: Path | None = None,
            scratch: Path | None = None, reapply_destructions: bool = True,
            recorded_by: str | None = None) -> Restored:
    """Restore the backup in ``folder`` into the empty database at ``into_url`` (and its
    documents into ``documents_into``; the key ring from the keyring backup ``keyring``).

    Then, unless ``reapply_destructions`` is false (a drill does it after its own checks of
    the copy as the backup holds it), every dossier destroyed since the backup was taken is
    destroyed again (:func:`dossiers.destruction.restore.reapply_into`, Art. 17): a restore
    never brings a destroyed dossier back. With ``recorded_by`` (who restored it; authorized
    by the caller) the restored database's ledger gets a ``backup.restore`` entry last."""
    folder = verify.backup_folder(folder)
    key = key or BackupKey.from_file(create=False)
    body = manifest.read(folder, key)
    if body["kind"] != "full":
        raise Refused("a key-ring backup is restored with the full backup it belongs to "
                      "(--keyring)", record=f"backup {body['backup_id']}")
    backup_id = str(body["backup_id"])
    into = db.describe(db.checked_url(into_url, "--into"))
    result = Restored(backup_id, into, snapshot_at=body.get("snapshot_at"),
                      ledger_seq=(body.get("ledger_head") or {}).get("seq"),
                      with_keyring=keyring is not None)
    started = time.monotonic()
    target = psycopg.connect(libpq_url(db.normalise_url(into_url)), autocommit=True)
    work = Path(tempfile.mkdtemp(prefix="dossier-restore-", dir=scratch))
    try:
        _target_is_empty(target, into)
        target_major = int(str(target.execute("SHOW server_version_num").fetchone()[0])) // 10000  # type: ignore[index]
        # 1. Every byte opens before anything is written.
        dump_order = body["database"].get("digest") == snapshot.DUMP_ORDER
        if dump_order:  # a pg_dump directory, each table checked against the manifest
            dump = work / "dump"
            dump.mkdir()
            _unpack_to(folder / DATABASE_FILE, dump, key, backup_id, body)
        else:  # older backups: one custom-format archive
            dump = work / "database.dump"
            _decrypt_to(folder / DATABASE_FILE, dump, key, backup_id, "database",
                        body["database"]["dump_sha256"])
        documents = body["documents"]
        if documents.get("file") and documents_into is not None:
            problems: list[str] = []
            verify.check_documents(folder / documents["file"], documents, key, backup_id,
                                   problems)
            if problems:
                raise BackupCorrupt(f"{problems[0]}; nothing was restored",
                                    record=f"backup {backup_id}")
        keyring_copy, keyring_body = None, None
        if keyring is not None:
            keyring = verify.backup_folder(keyring)
            keyring_body = manifest.read(keyring, key)
            expected = body["keyring_backup"]
            if keyring_body["backup_id"] != expected["backup_id"]:
                raise Refused(f"key-ring backup {keyring_body['backup_id']} is not this backup's "
                              f"({expected['backup_id']})", record=f"backup {backup_id}")
            keyring_copy = work / "keyring.copy"
            _decrypt_to(keyring / KEYRING_FILE, keyring_copy, key, keyring_body["backup_id"],
                        "keyring", keyring_body["keyring"]["copy_sha256"])
        result.seconds["opened"] = round(time.monotonic() - started, 3)
        # 2. Restore.
        target.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                       "'dossier_app') THEN CREATE ROLE dossier_app NOLOGIN; END IF; END $$")
        source_major = int(body.get("server_major", target_major))
        ran = subprocess.run(
            [pg_tool("pg_restore", max(source_major, target_major)), "--exit-on-error",
             "--jobs=2", "--no-password", f"--dbname={make_url(db.normalise_url(into_url)).database}",
             str(dump)],
            env=libpq_env(db.normalise_url(into_url)), capture_output=True, text=True,
            check=False)
        if ran.returncode != 0:
            said = ran.stderr.strip().splitlines()
            raise CannotRun(f"pg_restore into {into} failed: {said[-1] if said else ran.returncode}")
        if dump_order:
            shutil.rmtree(dump)
        else:
            dump.unlink()
        if keyring_copy is not None:
            with target.cursor() as cur, cur.copy(sql.SQL("COPY {}.{} FROM STDIN").format(
                    sql.Identifier(snapshot.KEYRING_SCHEMA), sql.Identifier("data_key"))) as copy:
                with keyring_copy.open("rb") as handle:
                    while chunk := handle.read(1 << 20):
                        copy.write(chunk)
        result.seconds["database"] = round(time.monotonic() - started, 3)
        if documents.get("file") and documents_into is not None:
            for object_key, _, object_bytes in bundle.unpack(open_file(
                    folder / documents["file"], key.key, context(backup_id, "documents"),
                    compressed=False)):
                documents_into.put(object_key, object_bytes)
                result.documents += 1
        result.seconds["documents"] = round(time.monotonic() - started, 3)
        # 3. Compare with the manifest.
        compare(target, body, result, keyring_body, url=db.normalise_url(into_url),
                server_major=target_major, dump_order=dump_order)
        result.seconds["total"] = round(time.monotonic() - started, 3)
    finally:
        target.close()
        shutil.rmtree(work, ignore_errors=True)
    if reapply_destructions and result.ok:
        from dossiers.destruction.restore import reapply_into  # the restore's last step

        result.destroyed_again = reapply_into(into_url, documents_into).destroyed_again
    if recorded_by is not None:
        _record(into_url, recorded_by, result)
    return result


def _record(into_url: str, actor: str, result: Restored, **more: Any) -> None:
    """The restored copy's own ledger says where it came from (Art. 18; every change)."""
    engine = db.get_engine(into_url, app_role=False)
    try:
        with engine.begin() as conn:
            ledger.append(conn, ledger.Entry(
                actor, LedgerAction.BACKUP_RESTORE, "backup", result.backup_id,
                details={**result.ledger_details(), **more}))
    finally:
        db.dispose(into_url)


#: What the restored copy's ledger says of a restore the copy itself authorized.
SYSTEM_OF_RECORD_LOST = "lost: authorized by the restored copy's staff register"


def restore_lost(folder: Path, into_url: str, username: str, *, documents_into: Path | None = None,
                 keyring: Path | None = None) -> Restored:
    """Disaster recovery (Arts. 14, 18: recover quickly after a loss): the system of record
    is gone, so it cannot say who may restore. Whoever holds the backup key restores into an
    empty database; then the restored copy, the staff register as it stood at the backup,
    authorizes ``username`` (the same permission check, ``backup.run``). Refused, everything
    restored is removed again (the database emptied, the documents folder deleted) before the
    refusal is raised; allowed, the copy's ledger records the restore as one done without the
    system of record. The caller makes sure it is really unreachable."""
    if documents_into is not None and documents_into.exists() and any(documents_into.iterdir()):
        raise Refused("restore the documents into a new, empty folder when the system of record "
                      "is lost (a refused restore removes it again)", record="restore target",
                      field="documents-into")
    store = local_store(documents_into) if documents_into is not None else None
    result = restore(folder, into_url, documents_into=store, keyring=keyring)
    try:
        with db.transaction(db.get_engine(into_url, app_role=False)) as conn:
            authorize(conn, directory.load_actor(conn, username), Action.BACKUP_RUN,
                      subject=f"backup restore of {result.backup_id} (system of record lost)")
    except DossierError:
        db.dispose(into_url)
        _empty(into_url)
        if documents_into is not None:
            shutil.rmtree(documents_into, ignore_errors=True)
        raise
    db.dispose(into_url)
    _record(into_url, username, result, system_of_record=SYSTEM_OF_RECORD_LOST)
    return result


def _empty(into_url: str) -> None:
    """Drop everything a restore put into ``into_url`` (it was empty before, see
    :func:`_target_is_empty`): every schema but PostgreSQL's own, and a new empty ``public``."""
    with psycopg.connect(libpq_url(db.normalise_url(into_url)), autocommit=True) as conn:
        schemas = [n for (n,) in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', "
            "'information_schema') AND nspname NOT LIKE 'pg_%'")]
        for name in schemas:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
        conn.execute("CREATE SCHEMA public")


def compare(conn: psycopg.Connection[Any], body: dict[str, Any], result: Restored,
            keyring_body: dict[str, Any] | None, *, url: str, server_major: int,
            dump_order: bool = False) -> None:
    """Every table's rows and hash against the manifest; problems named per table.

    ``dump_order``: the manifest's digests are of the rows in the dump's order (a table
    restored by one COPY keeps it), else ordered by primary key (older backups). The
    restored copy is idle: its tables are hashed two at a time (both cores)."""
    expected: dict[str, Any] = body["tables"]
    with snapshot.TableHasher(conn, url, server_major, exclude=(snapshot.KEYRING_SCHEMA,),
                              workers=COMPARE_WORKERS, dump_order=dump_order) as hasher:
        found = hasher.result()
    for name in sorted(set(expected) | set(found)):
        want, got = expected.get(name), found.get(name)
        if want is None:
            result.problems.append(f"table {name}: in the restored copy, not in the manifest")
        elif got is None:
            result.problems.append(f"table {name}: in the manifest, missing from the restored copy")
        elif got.rows != want["rows"]:
            result.problems.append(f"table {name}: {got.rows} rows restored, the manifest says "
                                   f"{want['rows']}")
        elif got.sha256 != want["sha256"]:
            result.problems.append(f"table {name}: its content hash differs from the manifest's")
    result.tables = len(found)
    result.rows = sum(d.rows for d in found.values())
    keyring = snapshot.table_digest(conn, snapshot.KEYRING_SCHEMA, "data_key")
    result.keyring_rows = keyring.rows
    if keyring_body is not None:
        want = keyring_body["tables"].get(f"{snapshot.KEYRING_SCHEMA}.data_key", {})
        if (keyring.rows, keyring.sha256) != (want.get("rows"), want.get("sha256")):
            result.problems.append("table keyring.data_key: differs from its key-ring backup")
    elif keyring.rows:
        result.problems.append("table keyring.data_key: rows restored from a data backup")
