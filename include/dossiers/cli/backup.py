"""``dossier backup``: weekly full backups that prove themselves (Arts. 14, 18).

``run`` takes one (database, documents, and the key ring's own backup); ``list`` shows the
catalogue; ``verify FILE`` opens every byte of a backup (exit 1 naming what is wrong);
``restore FILE --into URL`` restores one into an empty database, only after all of it
opened, and records it in both ledgers; ``fetch`` reads an off-site copy back to disk for it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dossiers.backups import catalogue, drill, full, offsite, recovery, restore, verify
from dossiers.backups.documents import local_store, source_store
from dossiers.backups.settings import BackupKey
from dossiers.cli.shared import Group, command, noun, print_json
from dossiers.core import db, directory
from dossiers.core.errors import CannotRun, NotFound, Refused, Unreachable
from dossiers.core.permissions import Action, authorize


def cmd_backup_run(args: argparse.Namespace) -> int:
    store = local_store(Path(args.documents)) if args.documents else source_store()
    print_json(full.run_backup(db.database_url(), args.acting_user, store,
                               vault=Path(args.vault) if args.vault else None))
    return 0


def cmd_backup_list(args: argparse.Namespace) -> int:
    with db.transaction() as conn:
        print_json(catalogue.list_backups(conn, directory.load_actor(conn, args.acting_user)))
    return 0


def cmd_backup_verify(args: argparse.Namespace) -> int:
    result = verify.verify_backup(Path(args.file))
    print_json(result.as_dict())
    return 0 if result.ok else 1


def cmd_backup_restore(args: argparse.Namespace) -> int:
    """Authorized in the system of record before anything is opened or written; the restore
    is then in both ledgers: the restored copy's (its chain continues) and the system of
    record's (Art. 18; every change in the ledger). With ``--system-of-record-lost`` (only
    while it does not answer) the restored copy authorizes instead (``restore_lost``)."""
    keyring = Path(args.keyring) if args.keyring else None
    try:
        with db.transaction() as conn:
            actor = directory.load_actor(conn, args.acting_user)
            if not args.system_of_record_lost:
                authorize(conn, actor, Action.BACKUP_RUN, subject="backup restore")
    except Unreachable as lost:
        if not args.system_of_record_lost:
            raise CannotRun(f"{lost}; if it is lost, restore with --system-of-record-lost: the "
                            "restored copy then authorizes you as it stood at the backup") from None
        result = restore.restore_lost(
            Path(args.file), args.into, args.acting_user, keyring=keyring,
            documents_into=Path(args.documents_into) if args.documents_into else None)
        print_json(result.as_dict())
        return 0 if result.ok else 1
    if args.system_of_record_lost:
        raise Refused("the system of record answers: restore without --system-of-record-lost "
                      "(authorized there)", record="backup restore", field="system-of-record-lost")
    documents = local_store(Path(args.documents_into)) if args.documents_into else None
    result = restore.restore(Path(args.file), args.into, documents_into=documents,
                             keyring=keyring, recorded_by=actor.username)
    with db.transaction() as conn:
        catalogue.record_restore(conn, actor, result.backup_id, result.ledger_details())
    print_json(result.as_dict())
    return 0 if result.ok else 1


def cmd_backup_drill(args: argparse.Namespace) -> int:
    url = db.database_url()
    backup_id = args.backup_id
    if backup_id is None and not args.offsite:
        with db.transaction() as conn:
            backup_id = catalogue.newest(conn)
    if args.offsite:
        print_json(drill.drill_offsite(url, args.acting_user, args.backup_id))
        return 0
    print_json(drill.drill(url, args.acting_user, backup_id))
    return 0


def cmd_backup_offsite(args: argparse.Namespace) -> int:
    print_json(offsite.ship(db.database_url(), args.acting_user, args.backup_id))
    return 0


def cmd_backup_fetch(args: argparse.Namespace) -> int:
    """Authorized in the system of record, and held against its ledger, while it answers;
    with ``--system-of-record-lost`` (only while it does not) the copy named by ``--from``
    is held against its sealed manifest alone: whoever holds the off-site store's
    credentials and the backup key fetches it, and the restore that follows authorizes."""
    into, key = Path(args.into), BackupKey.from_file(create=False)
    try:
        with db.transaction() as conn:
            actor = directory.load_actor(conn, args.acting_user)
            if not args.system_of_record_lost:
                authorize(conn, actor, Action.BACKUP_RUN, subject="backup fetch")
                backup_id = args.backup_id or catalogue.newest_offsite(conn)
                row = catalogue.get(conn, backup_id)
                shipment = catalogue.offsite_shipment(conn, backup_id)
    except Unreachable as lost:
        if not args.system_of_record_lost:
            raise CannotRun(f"{lost}; if it is lost, fetch with --system-of-record-lost --from "
                            "s3://…/full/<backup id>") from None
        if not args.from_uri:
            raise Refused("name the off-site copy: --from s3://bucket/prefix/full/<backup id> "
                          "(the backup report lists each copy's address; --from s3://bucket/prefix names "
                          "the newest)",
                          record="backup fetch", field="from") from None
        print_json(recovery.fetch_copy(args.from_uri, into, key).as_dict())
        return 0
    if args.system_of_record_lost or args.from_uri:
        raise Refused("the system of record answers: fetch without --system-of-record-lost and "
                      "--from (the catalogue and the ledger name the copy)",
                      record="backup fetch", field="system-of-record-lost")
    if row is None or not row["offsite_uri"]:
        raise NotFound("this backup has no off-site copy", record=f"backup {backup_id}")
    if shipment is None:
        raise Refused(f"no ledger entry records the off-site copy {row['offsite_uri']}",
                      record=f"backup {backup_id}")
    print_json(recovery.fetch_copy(row["offsite_uri"], into, key, shipment).as_dict())
    return 0


def register(nouns: Group) -> None:
    backup = noun(nouns, "backup", "full backups, their drills and off-site copies (Arts. 14, 18)")
    run = command(backup, "run", cmd_backup_run,
                  "take a full backup: database and documents, compressed and sealed, with a "
                  "manifest from the same snapshot; the key ring apart")
    run.add_argument("--documents", metavar="DIR",
                     help="the document store folder (default: the configured document store)")
    run.add_argument("--vault", metavar="DIR",
                     help="the backup vault (default: $DOSSIER_BACKUP_VAULT, else .dossier/backups)")
    command(backup, "list", cmd_backup_list, "every backup, newest first, with its last drill")
    check = command(backup, "verify", cmd_backup_verify,
                    "open every byte of a backup and compare it with its manifest; exit 1 "
                    "naming what is wrong")
    check.add_argument("file", metavar="FILE", help="the backup's folder or its manifest.json")
    back = command(backup, "restore", cmd_backup_restore,
                   "restore a backup into a new, empty database, only after all of it opened; "
                   "compare every table with the manifest (exit 1 naming what differs)")
    back.add_argument("file", metavar="FILE", help="the backup's folder or its manifest.json")
    back.add_argument("--into", required=True, metavar="URL",
                      help="the empty database to restore into (postgresql://…)")
    back.add_argument("--keyring", metavar="DIR",
                      help="the backup's key-ring backup (without it no personal data opens)")
    back.add_argument("--documents-into", metavar="DIR",
                      help="restore the documents into this folder")
    back.add_argument("--system-of-record-lost", action="store_true",
                      help="disaster recovery: the dossier database is gone (refused while it "
                           "answers); the restored copy's staff register authorizes --as")
    exercise = command(backup, "drill", cmd_backup_drill,
                       "restore a backup into a scratch database and document store and check "
                       "it against its manifest, the ledger anchor and the key ring")
    exercise.add_argument("backup_id", nargs="?", metavar="BACKUP_ID",
                          help="default: the newest complete full backup")
    exercise.add_argument("--offsite", action="store_true",
                          help="read the backup back from its off-site copy and drill that")
    ship = command(backup, "offsite", cmd_backup_offsite,
                   "ship the newest verified full backup (and its key-ring backup) to "
                   "$DOSSIER_BACKUP_OFFSITE (S3, Object Lock), read back and hash-checked")
    ship.add_argument("backup_id", nargs="?", metavar="BACKUP_ID",
                      help="default: the newest verified full backup")
    get = command(backup, "fetch", cmd_backup_fetch,
                  "read an off-site copy and its key ring's back into a folder (segments "
                  "reassembled), held against the ledger and the sealed manifest, for `backup "
                  "restore`")
    get.add_argument("backup_id", nargs="?", metavar="BACKUP_ID",
                     help="default: the newest backup shipped off-site")
    get.add_argument("--into", required=True, metavar="DIR",
                     help="the folder to fetch into (as DIR/<backup id>, DIR/<key ring id>)")
    get.add_argument("--from", dest="from_uri", metavar="S3_URI",
                     help="with --system-of-record-lost: the copy, s3://bucket/prefix/full/<id>")
    get.add_argument("--system-of-record-lost", action="store_true",
                     help="disaster recovery: the dossier database is gone (refused while it "
                          "answers); the copy is held against its sealed manifest alone")
