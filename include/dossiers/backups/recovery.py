"""Bringing an off-site copy back to disk (Art. 18: backups able to restore quickly after
failure or loss).

When the vault is lost with the rest, the monthly off-site copy is what is left.
:func:`fetch_copy` reads a full backup's copy and the copy of the key ring's backup it
belongs to back into a folder, reassembling segmented files, ready for ``dossier backup
restore``. What comes back is held against two records before it is kept:

- the ledger's ``backup.offsite`` entry, when the system of record answers: each file and
  segment as shipped, read at the S3 version locked when it was shipped, whatever was
  written over it since (:class:`offsite.Shipped`; versions written since are named, not
  read);
- always, the backup's own manifest, sealed by the backup key: it must be the manifest of
  the backup the address names (not another backup's, replayed under its name), and the
  key ring's backup must be the one it names (the SHA-256 of that backup's manifest).

So with the system of record lost, someone who can write to the bucket but does not hold
the backup key cannot slip another copy in (there the newest versions are read, and a
version written over the shipped one is refused, named). Nothing is kept of a copy that
fails: it is fetched into a hidden folder beside the destination and only moved into place
whole.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dossiers.backups import manifest, offsite
from dossiers.backups.settings import BackupKey
from dossiers.core.errors import Refused


@dataclass(frozen=True)
class Fetched:
    """An off-site copy read back: the backup's folder and its key ring's, and what the
    copy was held against."""

    backup_id: str
    uri: str
    folder: Path
    keyring_folder: Path
    held_against: tuple[str, ...]
    #: Object versions found off-site that the ledger does not record as shipped (not read).
    unrecorded: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"backup_id": self.backup_id, "uri": self.uri, "folder": str(self.folder),
                "keyring_folder": str(self.keyring_folder),
                "held_against": list(self.held_against),
                "unrecorded_versions": list(self.unrecorded),
                "restore": f"dossier backup restore {self.folder} --keyring "
                           f"{self.keyring_folder} --into postgresql://…/empty"}


#: The address of a full backup's off-site copy (what ``offsite.ship`` records).
COPY_URI = re.compile(r"s3://[^/]+/(?:.+/)?full/(?P<backup_id>full-[^/]+)/?")


def backup_id_of(uri: str) -> str:
    """``s3://bucket/prefix/full/<backup id>`` -> the backup id; :class:`Refused` for
    anything else."""
    found = COPY_URI.fullmatch(uri)
    if found is None:
        raise Refused(f"{uri!r} is not the address of a full backup's off-site copy "
                      "(s3://bucket/prefix/full/full-…)", record="backup fetch", field="from")
    return found["backup_id"]


def fetch_copy(uri: str, into: Path, key: BackupKey,
               shipment: dict[str, Any] | None = None) -> Fetched:
    """Read the off-site copy at ``uri`` and its key ring's back into ``into`` (as
    ``into/<backup id>`` and ``into/<key ring backup id>``), held against ``shipment`` (the
    ledger entry's details; None when the system of record is lost) and the backup's
    sealed manifest. Raises :class:`offsite.OffsiteCopyDamaged` naming what is not what it
    should be, :class:`manifest.ManifestProblem` for a manifest the key does not open, or
    :class:`Refused` when a destination folder already exists; then nothing is left."""
    backup_id = backup_id_of(uri)
    if (into / backup_id).exists():
        raise Refused(f"{into / backup_id} already exists: fetch into another folder",
                      record=f"backup {backup_id}", field="into")
    into.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fetching-", dir=into))
    try:
        fetched = fetch_into(uri, staging, key, shipment)
        keyring_id = fetched.keyring_folder.name
        if (into / keyring_id).exists():
            raise Refused(f"{into / keyring_id} already exists: fetch into another folder",
                          record=f"backup {backup_id}", field="into")
        folder = fetched.folder.rename(into / backup_id)
        keyring_folder = fetched.keyring_folder.rename(into / keyring_id)
        return Fetched(backup_id, uri, folder, keyring_folder, fetched.held_against,
                       fetched.unrecorded)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fetch_into(uri: str, work: Path, key: BackupKey,
               shipment: dict[str, Any] | None) -> Fetched:
    """:func:`fetch_copy` into a scratch folder ``work`` (``work/full/<backup id>``,
    ``work/keyring/<id>``), which the caller removes: the off-site drill's reading too."""
    backup_id = backup_id_of(uri)
    shipped = _shipped(shipment)
    folder = offsite.fetch(uri, work / "full", shipped)
    body = manifest.read(folder, key)  # its MAC: sealed by the backup key
    if body.get("backup_id") != backup_id:
        raise offsite.OffsiteCopyDamaged(
            f"{manifest.MANIFEST} is the manifest of {body.get('backup_id')}, not of "
            f"{backup_id}: another backup's manifest was put in its place", record=uri)
    named = body.get("keyring_backup") or {}
    if not named.get("backup_id"):
        raise offsite.OffsiteCopyDamaged(f"{manifest.MANIFEST} names no key ring backup",
                                         record=uri)
    keyring_uri = offsite.keyring_uri(uri, str(named["backup_id"]))
    keyring_shipped = _shipped(None if shipment is None else shipment.get("keyring_objects"))
    keyring_folder = offsite.fetch(keyring_uri, work / "keyring", keyring_shipped)
    found = hashlib.sha256((keyring_folder / manifest.MANIFEST).read_bytes()).hexdigest()
    if found != named.get("manifest_sha256"):
        raise offsite.OffsiteCopyDamaged(
            f"the key ring backup's {manifest.MANIFEST} is not the one {backup_id} names "
            f"(SHA-256 {found[:16]}…)", record=keyring_uri)
    if shipped is None:
        return Fetched(backup_id, uri, folder, keyring_folder, ("the backup's sealed manifest",))
    unrecorded = offsite.unrecorded_versions(uri, shipped)
    if keyring_shipped is not None:
        unrecorded += offsite.unrecorded_versions(keyring_uri, keyring_shipped)
    return Fetched(backup_id, uri, folder, keyring_folder,
                   ("the ledger's backup.offsite entry", "the backup's sealed manifest"),
                   tuple(unrecorded))


def _shipped(details: dict[str, Any] | None) -> offsite.Shipped | None:
    return None if details is None else offsite.Shipped.from_details(details)
