"""The restore drill after every backup (Art. 18: "able to restore quickly").

A backup is restored into a scratch database and a scratch document store, with its key
ring, and then:

* ``pg_amcheck`` checks the restored heap and indexes (where the server has the amcheck
  extension: the embedded PostgreSQL ships none, and the drill says it was skipped; every
  row is still read and hashed by the comparison with the manifest);
* every table's rows and content hash are compared with the manifest (taken in the
  dump's own snapshot);
* the ledger chain in the copy is re-hashed and compared with the anchor outside the
  database (every checkpoint up to the copy's head, and the anchored head when the copy
  reaches it), and the copy's head with the manifest's;
* a sample of personal fields and of documents is decrypted with the restored key ring and
  the master key (documents compared with their recorded keyed hash);
* RTO (the time to restore and check) and RPO (how old the newest data was when the drill
  finished) are recorded in ``backup_drill``, in the ledger, and in the backup report.

A drill that does not match raises :class:`~dossiers.backups.errors.DrillFailed` after
recording itself: the DAG fails loudly and ops are mailed.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

import psycopg
from sqlalchemy import make_url, text

from dossiers.backups import catalogue, manifest, restore
from dossiers.backups.documents import local_store
from dossiers.backups.errors import DrillFailed
from dossiers.backups.settings import BackupKey, keyring_vault_root
from dossiers.backups.tools import libpq_env, libpq_url, pg_tool
from dossiers.core import clock, db, directory, ledger, policy
from dossiers.core.config import settings
from dossiers.core.crypto import Field, KeyRing
from dossiers.core.errors import DossierError, NotFound
from dossiers.core.objects import ObjectStore
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.vocabulary import DrillSource

log = logging.getLogger(__name__)


def _admin_url(url: str, database: str) -> str:
    return libpq_url(make_url(db.normalise_url(url)).set(database=database)
                     .render_as_string(hide_password=False))


def scratch_database(url: str) -> str:
    """A new empty database beside the one at ``url``; returns its URL."""
    name = f"dossier_drill_{secrets.token_hex(5)}"
    with psycopg.connect(_admin_url(url, "postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return make_url(db.normalise_url(url)).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    db.dispose(url)
    with psycopg.connect(_admin_url(url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


AMCHECK_SKIPPED = ("skipped: this PostgreSQL server has no amcheck extension (the embedded "
                   "one ships none); every row was still read and hashed against the manifest")


def amcheck_available(url: str) -> bool:
    with psycopg.connect(libpq_url(db.normalise_url(url)), autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_available_extensions "
                           "WHERE name = 'amcheck'").fetchone()
    return bool(row and row[0])


def amcheck(url: str, server_major: int) -> list[str]:
    ran = subprocess.run(
        [pg_tool("pg_amcheck", server_major), "--install-missing", "--heapallindexed",
         "--no-password", f"--database={make_url(url).database}"],
        env=libpq_env(url), capture_output=True, text=True, check=False)
    if ran.returncode == 0:
        return []
    said = (ran.stdout + ran.stderr).strip().splitlines()
    return [f"pg_amcheck: {line}" for line in said[:5]] or [f"pg_amcheck exited {ran.returncode}"]


def check_ledger(url: str, body: dict[str, Any],
                 anchor_file: Path | None) -> tuple[list[str], dict[str, Any]]:
    """The copy's chain, its head against the manifest's, and the outside anchor."""
    problems: list[str] = []
    engine = db.get_engine(url, app_role=False)
    with engine.connect() as conn:
        result = ledger.verify(conn, None)
        if not result.ok:
            problems.append(f"ledger: {result.first_broken}")
        recorded = body["ledger_head"]
        head = conn.execute(text("SELECT seq, entry_hash FROM ledger_entry ORDER BY seq DESC "
                                 "LIMIT 1")).first()
        head_seq = int(head.seq) if head else 0
        if head_seq != recorded["seq"] or (head and bytes(head.entry_hash).hex() != recorded["entry_hash"]):
            problems.append(f"ledger: the copy's head is seq {head_seq}, the manifest's "
                            f"{recorded['seq']}")
        compared: dict[str, Any] = {"entries": result.entries_checked, "head_seq": head_seq}
        if anchor_file is None or not anchor_file.exists():
            compared["anchor"] = "not compared: no anchor file"
        else:
            anchor = ledger.read_anchor(anchor_file)
            points = [p for p in (*anchor.checkpoints, (anchor.seq, anchor.entry_hash))
                      if 0 < p[0] <= head_seq]
            stored: dict[int, bytes] = dict(conn.execute(text(
                "SELECT seq, entry_hash FROM ledger_entry WHERE seq = ANY(:seqs)"),
                {"seqs": [p[0] for p in points]}).tuples().all())
            for seq, digest in sorted(set(points)):
                if seq not in stored or bytes(stored[seq]).hex() != digest:
                    problems.append(f"ledger: the copy differs from the anchor in {anchor_file} "
                                    f"at seq {seq} (re-chained before the backup?)")
                    break
            compared["anchor"] = {"anchor_file": str(anchor_file), "anchored_seq": anchor.seq,
                                  "points_compared": len(points)}
    db.dispose(url)
    return problems, compared


def decrypt_sample(url: str, size: int) -> tuple[list[str], int]:
    """Open a sample of personal fields in the copy with its key ring and the master key."""
    engine = db.get_engine(url, app_role=False)
    keys = KeyRing()
    problems: list[str] = []
    opened = 0
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT dossier_id, ordinal, name_enc FROM contact ORDER BY dossier_id, ordinal "
            "LIMIT :n"), {"n": size}).all()
        for row in rows:
            try:
                keys.open(conn, row.dossier_id, Field("contact", "name", str(row.ordinal)),
                          bytes(row.name_enc))
                opened += 1
            except DossierError as exc:
                problems.append(f"personal data does not open in the copy: {exc}")
                break
    db.dispose(url)
    return problems, opened


def decrypt_documents(url: str, size: int, objects: ObjectStore) -> tuple[list[str], int]:
    """Open a sample of documents in the restored store with the restored key ring and the
    master key, each compared with its recorded keyed hash (the documents layer's check)."""
    from dossiers.documents import integrity

    engine = db.get_engine(url, app_role=False)
    with engine.connect() as conn:
        rows = integrity.documents_of(conn)[:size]
        checked = integrity.check_rows(conn, KeyRing(), rows, objects)
    db.dispose(url)
    return [f"document {b.document_id} of {b.dossier_no}: {b.reason}" for b in checked.bad], \
        checked.checked - len(checked.bad)


def drill_offsite(url: str, who: Actor | str | None, backup_id: str | None = None
                  ) -> dict[str, Any]:
    """The quarterly drill from the off-site copy itself (Art. 18): read it back from S3,
    then restore and check it like any drill."""
    from dossiers.backups import offsite, recovery

    with db.transaction(db.get_engine(url)) as conn:
        backup_id = backup_id or catalogue.newest_offsite(conn)
        row = catalogue.get(conn, backup_id)
        details = catalogue.offsite_shipment(conn, backup_id)
    if row is None or not row["offsite_uri"]:
        raise NotFound("this backup has no off-site copy", record=f"backup {backup_id}")
    work = Path(tempfile.mkdtemp(prefix="dossier-offsite-"))
    started_at = clock.now()
    try:
        if details is None:  # the catalogue names a copy the ledger never recorded
            _record_failed(url, who, backup_id, started_at, [
                f"{row['offsite_uri']}: no ledger entry records this off-site copy"])
        try:  # the copy read back is held against the ledger's record and its manifest
            fetched = recovery.fetch_into(row["offsite_uri"], work,
                                          BackupKey.from_file(create=False), details)
        except offsite.OffsiteCopyDamaged as exc:  # Art. 18: the copy itself fails
            _record_failed(url, who, backup_id, started_at, [str(exc)])
        result = drill(url, who, backup_id, source=DrillSource.OFFSITE, folder=fetched.folder,
                       keyring_folder=fetched.keyring_folder)
        if fetched.unrecorded:  # not read, so not a failure; but nothing of ours wrote them
            log.warning("off-site copy of %s: object versions the ledger does not record "
                        "(not read): %s", backup_id, "; ".join(fetched.unrecorded))
        return {**result, "unrecorded_versions": list(fetched.unrecorded)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _record_failed(url: str, who: Actor | str | None, backup_id: str, started_at: Any,
                   problems: list[str]) -> NoReturn:
    """Record an off-site drill that could not read its copy back whole, then raise."""
    with db.transaction(db.get_engine(url)) as conn:
        actor = who if isinstance(who, Actor) else directory.load_actor(conn, who)
        authorize(conn, actor, Action.BACKUP_RUN, subject=f"backup {backup_id}")
        catalogue.record_drill(conn, actor, backup_id, source=DrillSource.OFFSITE,
                               started_at=started_at, ok=False, rto_seconds=None,
                               rpo_seconds=None, problems=problems,
                               details={"fetched": "off-site copy damaged"})
    raise DrillFailed(backup_id, problems)


def rto_problems(rto_seconds: float) -> list[str]:
    """A restore slower than the policy's RTO target fails the drill (Arts. 4, 18: restore
    quickly after a failure or loss): the copy may be fine, the recovery is not."""
    minutes = policy.policy().backup_rto_target_minutes
    if rto_seconds <= minutes * 60:
        return []
    return [f"the restore took {rto_seconds:.1f} s, over the RTO target of {minutes} minutes "
            f"({policy.Policy.article('backup_rto_target_minutes')})"]


def drill(url: str, who: Actor | str | None, backup_id: str, *,
          source: DrillSource = DrillSource.VAULT, folder: Path | None = None,
          keyring_folder: Path | None = None, key: BackupKey | None = None) -> dict[str, Any]:
    """Restore ``backup_id`` (from its vault folder, or ``folder``: an off-site copy read
    back) into scratch, check it, record the drill; raise :class:`DrillFailed` on a mismatch."""
    key = key or BackupKey.from_file(create=False)
    engine = db.get_engine(url)
    with db.transaction(engine) as conn:
        actor = who if isinstance(who, Actor) else directory.load_actor(conn, who)
        authorize(conn, actor, Action.BACKUP_RUN, subject=f"backup {backup_id}")
        row = catalogue.get(conn, backup_id)
        if row is None:
            raise NotFound("no such backup in the catalogue", record=f"backup {backup_id}")
        keyring_row = catalogue.get(conn, row["keyring_backup_id"]) if row["keyring_backup_id"] else None
    folder = folder or Path(row["location"])
    if keyring_folder is None:
        keyring_folder = Path(keyring_row["location"]) if keyring_row else \
            keyring_vault_root() / str(row["keyring_backup_id"])
    started_at, started = clock.now(), time.monotonic()
    scratch_url = scratch_database(url)
    documents_root = Path(tempfile.mkdtemp(prefix="dossier-drill-documents-"))
    problems: list[str] = []
    details: dict[str, Any] = {"scratch_database": make_url(scratch_url).database,
                               "folder": str(folder)}
    rto: float | None = None
    try:
        body = manifest.read(folder, key)
        restored = restore.restore(folder, scratch_url, key=key,
                                   documents_into=local_store(documents_root),
                                   keyring=keyring_folder if keyring_folder.exists() else None,
                                   reapply_destructions=False)
        rto = time.monotonic() - started
        problems += restored.problems + rto_problems(rto)
        details["restored"] = restored.as_dict()
        if not keyring_folder.exists():
            problems.append(f"key-ring backup {row['keyring_backup_id']} is missing from "
                            f"{keyring_folder}")
        if amcheck_available(scratch_url):
            problems += amcheck(scratch_url, int(body.get("server_major", 15)))
            details["amcheck"] = "pg_amcheck --heapallindexed"
        else:
            details["amcheck"] = AMCHECK_SKIPPED
        ledger_problems, details["ledger"] = check_ledger(scratch_url, body,
                                                          settings().ledger_anchor)
        problems += ledger_problems
        sample_problems, details["decrypted_sample"] = decrypt_sample(
            scratch_url, int(policy.policy().backup_drill_document_sample))
        problems += sample_problems
        document_problems, details["decrypted_documents"] = decrypt_documents(
            scratch_url, int(policy.policy().backup_drill_document_sample),
            local_store(documents_root))
        problems += document_problems
        # Art. 17: drills included, a restore never brings a destroyed dossier back
        from dossiers.destruction.restore import reapply_into

        details["destroyed_again"] = reapply_into(
            scratch_url, local_store(documents_root)).destroyed_again
    except DossierError as exc:
        problems.append(str(exc))
    finally:
        drop_database(scratch_url)
        shutil.rmtree(documents_root, ignore_errors=True)
    snapshot_at = row["snapshot_at"]
    rpo = (clock.now() - snapshot_at).total_seconds() if snapshot_at else None
    ok = not problems
    with db.transaction(engine) as conn:
        drill_id = catalogue.record_drill(
            conn, actor, backup_id, source=source, started_at=started_at, ok=ok,
            rto_seconds=rto, rpo_seconds=rpo, problems=problems, details=details)
    if not ok:
        raise DrillFailed(backup_id, problems)
    return {"drill": drill_id, "backup_id": backup_id, "source": source, "ok": ok,
            "rto_seconds": round(rto or 0, 3), "rpo_seconds": round(rpo or 0, 3),
            "tables": details["restored"]["tables"], "rows": details["restored"]["rows"],
            "documents": details["restored"]["documents"],
            "decrypted_sample": details["decrypted_sample"],
            "decrypted_documents": details["decrypted_documents"], "ledger": details["ledger"],
            "amcheck": details.get("amcheck")}
