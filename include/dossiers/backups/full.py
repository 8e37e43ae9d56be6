"""The weekly full backup (Arts. 14, 18): the database and the documents, compressed,
sealed, with a manifest taken in the same snapshot as the dump, written last.

One run, in order (each step's failure leaves nothing that claims success):

1. the backup role is checked (superuser or BYPASSRLS, reads every table) and the backup
   lock taken, before anything is written; rows of runs that died are marked failed and
   their partial folders removed;
2. a REPEATABLE READ snapshot is exported; in it the key ring's rows go to their own small
   sealed backup (a separate vault), and ``pg_dump --snapshot --format=directory`` dumps
   everything else (the key ring's tables with no rows) into scratch inside the backup's
   folder, packed through zstd into a sealed file (the scratch removed at once);
3. every table's row count and content hash for the manifest are those of its rows in the
   dump, taken as they are packed (then the ledger head, in the same snapshot);
4. the document store's objects are copied through the ObjectStore protocol;
5. the manifest (MAC'd) is written last; then the catalogue rows and the ledger entries.
"""

from __future__ import annotations

import queue
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Generator, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

from psycopg import sql

from dossiers.backups import bundle, catalogue, dumpdir, manifest, snapshot
from dossiers.backups.files import seal_file
from dossiers.backups.settings import BackupKey, keyring_vault_root, vault_root
from dossiers.backups.tools import libpq_env, pg_tool
from dossiers.core import clock, db, directory
from dossiers.core.errors import CannotRun, DossierError
from dossiers.core.objects import ObjectStore
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.vocabulary import BackupKind

DATABASE_FILE = "database.dump.zst.sealed"
#: What the database file holds (the manifest's ``database.format``; older backups:
#: :data:`CUSTOM_FORMAT`, one ``pg_dump`` custom-format archive, table digests ordered).
DUMP_FORMAT = "pg_dump directory, packed, zstd, sealed (AES-256-GCM segments)"
CUSTOM_FORMAT = "pg_dump custom, then zstd, then sealed (AES-256-GCM segments)"
#: ``pg_dump --jobs`` (two cores: two tables read at once).
DUMP_JOBS = 2
#: zstd's own threads while packing.
PACK_THREADS = 2
DOCUMENTS_FILE = "documents.sealed"
KEYRING_FILE = "keyring.copy.zst.sealed"


def context(backup_id: str, part: str) -> bytes:
    """What a sealed file is bound to: its backup and its part (a file moved to another
    backup, or put in place of another part, does not open)."""
    return f"dossier-backup/{backup_id}/{part}".encode()


def new_id(kind: BackupKind) -> str:
    """``full-20261206T043000Z-a1b2c3``: the kind, when (UTC), and a random tail."""
    return f"{kind}-{clock.now().astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _actor(conn: Any, who: Actor | str | None) -> Actor:
    return who if isinstance(who, Actor) else directory.load_actor(conn, who)


#: ``pg_dump --verbose`` in parallel mode, when a worker has written a table's file whole.
_FINISHED = re.compile(r"finished item (\d+) TABLE DATA ")


def _dumping(args: list[str], env: dict[str, str]) -> Generator[str, None, None]:
    """Run ``pg_dump`` (directory format, ``--verbose``); yield each table's file name as
    soon as a worker reports it written whole, and raise :class:`CannotRun` after the last
    one when ``pg_dump`` failed. ``pg_dump`` is killed if the consumer stops early."""
    proc = subprocess.Popen([*args, "--verbose"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    finished: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    said: deque[str] = deque(maxlen=20)

    def watch() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if (match := _FINISHED.search(line)) is not None:
                finished.put(f"{match.group(1)}.dat")
            else:
                said.append(line)
        finished.put(None)

    watcher = threading.Thread(target=watch, name="pg_dump-progress", daemon=True)
    watcher.start()
    try:
        while (name := finished.get()) is not None:
            yield name
        if proc.wait() != 0:
            errors = [line for line in said if "error" in line] or list(said)
            raise CannotRun(f"pg_dump failed ({proc.returncode}): "
                            f"{errors[-1] if errors else 'no message'}")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        watcher.join()
        proc.stderr.close()


def _dump(snap: snapshot.Snapshot, url: str, folder: Path, key: BackupKey,
          backup_id: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``pg_dump --format=directory --snapshot`` of everything but the key ring's rows into
    a scratch folder inside the backup's own (removed at the end, whatever happens), packed
    while it runs (each table's file as soon as it is written whole), zstd, sealed, every
    file hashed as it is packed: the tables' digests for the manifest are the dump's own
    rows (:mod:`.dumpdir`). Returns the manifest's ``database`` and ``tables`` (every
    table's digest, and its file in the dump when it has rows)."""
    names = {oid: f"{s}.{t}" for oid, s, t, _ in
             snapshot.relations(snap.conn, exclude=(snapshot.KEYRING_SCHEMA,))}
    scratch = Path(tempfile.mkdtemp(prefix=".dump-", dir=folder))
    out = scratch / "dump"
    args = [pg_tool("pg_dump", snap.server_major), "--format=directory", "--compress=0",
            f"--jobs={DUMP_JOBS}", f"--snapshot={snap.snapshot_id}",
            f"--exclude-table-data={snapshot.KEYRING_SCHEMA}.*", "--no-password",
            f"--file={out}"]
    # PGTZ: timestamps in the COPY text (and so the digests) do not depend on the server's
    # or this machine's time zone; a restored copy is hashed in UTC too.
    finished = _dumping(args, {**libpq_env(url), "PGTZ": "UTC"})  # starts when first read
    t0 = time.monotonic()
    try:
        found: dict[str, dumpdir.FileDigest] = {}
        # toc.dat is written last: it is in the folder once pg_dump has exited
        tables_of: dict[str, str] = {}

        def files_in_order() -> Iterator[str]:
            yield from finished
            tables_of.update(dumpdir.table_files(
                pg_tool("pg_restore", snap.server_major), out, names))

        written, plain_sha, plain_size = seal_file(
            folder / DATABASE_FILE, dumpdir.pack(out, found, files_in_order()), key.key,
            context(backup_id, "database"), threads=PACK_THREADS)
    finally:
        finished.close()  # pg_dump killed if it still runs (the seal failed)
        shutil.rmtree(scratch, ignore_errors=True)
    table_file = {name: f for f, name in tables_of.items()}
    tables = {name: {**found[table_file[name]].result().as_dict(), "file": table_file[name]}
              if name in table_file else snapshot.EMPTY.as_dict()
              for name in sorted(names.values())}
    database = {**written.as_dict(), "dump_sha256": plain_sha, "dump_size": plain_size,
                "format": DUMP_FORMAT, "digest": snapshot.DUMP_ORDER, "jobs": DUMP_JOBS,
                "files": {f: d.as_dict() for f, d in sorted(found.items()) if f not in tables_of},
                "seconds": round(time.monotonic() - t0, 3)}
    return database, tables


def _keyring_rows(snap: snapshot.Snapshot) -> Iterator[bytes]:
    """The key ring's rows, as COPY text in key order (what its table digest hashes)."""
    order = snapshot._order_by(snap.conn, snapshot.KEYRING_SCHEMA, "data_key")
    query = sql.SQL("COPY (SELECT * FROM {}.{} AS t {}) TO STDOUT").format(
        sql.Identifier(snapshot.KEYRING_SCHEMA), sql.Identifier("data_key"), order)
    with snap.conn.cursor() as cur, cur.copy(query) as copy:
        for data in copy:
            yield bytes(data)


def _keyring_backup(snap: snapshot.Snapshot, folder: Path, key: BackupKey, keyring_id: str,
                    started: float) -> tuple[dict[str, Any], str, int]:
    written, plain_sha, _ = seal_file(folder / KEYRING_FILE, _keyring_rows(snap), key.key,
                                      context(keyring_id, "keyring"))
    digests = snapshot.table_digests(snap.conn, schemas=(snapshot.KEYRING_SCHEMA,))
    body = {
        "format": manifest.FORMAT, "kind": BackupKind.KEYRING, "backup_id": keyring_id,
        "backup_key_id": key.key_id, "snapshot_at": snap.taken_at.isoformat(),
        "keyring": {**written.as_dict(), "copy_sha256": plain_sha},
        "tables": {name: d.as_dict() for name, d in digests.items()},
        "seconds": round(time.monotonic() - started, 3),
    }
    return body, manifest.write(folder, body, key), written.size


def _remove(location: str) -> None:
    path = Path(location)
    if path.is_dir() and (path.parent == vault_root() or path.parent == keyring_vault_root()
                          or path.name.startswith(("full-", "keyring-"))):
        shutil.rmtree(path, ignore_errors=True)


def run_backup(url: str, who: Actor | str | None, store: ObjectStore | None, *,
               key: BackupKey | None = None, vault: Path | None = None,
               keyring_vault: Path | None = None) -> dict[str, Any]:
    """Take a full backup of the database at ``url`` and of ``store``; return its summary.

    Raises :class:`~dossiers.core.errors.Refused` for a backup role that could miss rows
    or a second concurrent run (nothing written), :class:`CannotRun` when it could not
    finish (a full disk, pg_dump failing): the run's rows are marked failed and its files
    removed; nothing claims success.
    """
    key = key or BackupKey.from_file()
    vault, keyring_vault = vault or vault_root(), keyring_vault or keyring_vault_root()
    started = time.monotonic()
    engine = db.get_engine(url)
    with snapshot.exported_snapshot(url) as snap:
        backup_id, keyring_id = new_id(BackupKind.FULL), new_id(BackupKind.KEYRING)
        folder, keyring_folder = vault / backup_id, keyring_vault / keyring_id
        with db.transaction(engine) as conn:
            actor = _actor(conn, who)
            authorize(conn, actor, Action.BACKUP_RUN, subject="backup")
            for dead in catalogue.abandoned(conn):
                _remove(dead["location"])
            catalogue.start(conn, backup_id, BackupKind.FULL, str(folder))
            catalogue.start(conn, keyring_id, BackupKind.KEYRING, str(keyring_folder))
        try:
            for place in (folder, keyring_folder):
                place.mkdir(parents=True, mode=0o700)
            keyring_body, keyring_manifest, keyring_size = _keyring_backup(
                snap, keyring_folder, key, keyring_id, started)
            # The manifest's digests are the dump's own rows, hashed as they are packed.
            database, tables = _dump(snap, url, folder, key, backup_id)
            head = snapshot.ledger_head(snap.conn)
            snap.conn.rollback()  # the snapshot is no longer needed: documents are next
            t0 = time.monotonic()
            inventory = bundle.Inventory()
            documents: dict[str, Any] = {"store": None, "objects": {}}
            if store is not None:
                written, _, _ = seal_file(folder / DOCUMENTS_FILE, bundle.pack(store, inventory),
                                          key.key, context(backup_id, "documents"),
                                          compressed=False)
                documents = {**written.as_dict(), "store": store.location,
                             "objects": inventory.objects, "bytes": inventory.total_bytes}
            documents["seconds"] = round(time.monotonic() - t0, 3)
            body = {
                "format": manifest.FORMAT, "kind": BackupKind.FULL, "backup_id": backup_id,
                "backup_key_id": key.key_id, "source": db.describe(url),
                "server_major": snap.server_major, "backup_role": snap.role,
                "snapshot_id": snap.snapshot_id, "snapshot_at": snap.taken_at.isoformat(),
                "database": database,
                "tables": tables,
                "excluded": {"schema": snapshot.KEYRING_SCHEMA,
                             "why": "data keys are never in a data backup (Arts. 17, 18)"},
                "keyring_backup": {"backup_id": keyring_id, "manifest_sha256": keyring_manifest},
                "documents": documents, "ledger_head": head,
                "timings": {"dump_pack_seal_seconds": database["seconds"],
                            "total_seconds": round(time.monotonic() - started, 3)},
            }
            manifest_sha = manifest.write(folder, body, key)  # LAST: now the backup exists
            size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        except BaseException as exc:
            reason = str(exc) if isinstance(exc, DossierError | OSError) else \
                f"{exc.__class__.__name__}: {exc}"
            for place in (folder, keyring_folder):
                shutil.rmtree(place, ignore_errors=True)
            with db.transaction(engine) as conn:
                catalogue.fail(conn, backup_id, reason)
                catalogue.fail(conn, keyring_id, reason)
            raise
        with db.transaction(engine) as conn:
            catalogue.complete(
                conn, actor, keyring_id, kind=BackupKind.KEYRING, snapshot_at=snap.taken_at,
                size=keyring_size, manifest_sha256=keyring_manifest, ledger_seq=head["seq"],
                keyring_backup_id=None,
                details={"rows": keyring_body["tables"].get("keyring.data_key", {}).get("rows")})
            catalogue.complete(
                conn, actor, backup_id, kind=BackupKind.FULL, snapshot_at=snap.taken_at,
                size=size, manifest_sha256=manifest_sha, ledger_seq=head["seq"],
                keyring_backup_id=keyring_id,
                details={"tables": len(tables), "rows": sum(t["rows"] for t in tables.values()),
                         "documents": len(documents["objects"]), "ledger_seq": head["seq"],
                         "keyring_backup_id": keyring_id})
    return {"backup_id": backup_id, "location": str(folder), "keyring_backup_id": keyring_id,
            "keyring_location": str(keyring_folder), "size_bytes": size,
            "snapshot_at": snap.taken_at.isoformat(), "tables": len(tables),
            "rows": sum(t["rows"] for t in tables.values()),
            "documents": len(documents["objects"]), "ledger_head": head,
            "manifest_sha256": manifest_sha, "seconds": round(time.monotonic() - started, 3)}
