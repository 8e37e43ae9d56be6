"""Bringing an off-site copy back to disk (Art. 18: backups able to restore quickly after
failure or loss).

When the vault is lost with the rest, the monthly off-site copy is what is left.
:func:`fetch_copy` reads a full backup's copy and the copy of the key ring's backup it
belongs to back into a folder, reassembling segmented files, ready for ``dossier backup
restore``. Objects in the bucket are locked, but anyone who can write there can put new
versions over them, so which version is read, and what it is held against, matters:

- while the system of record answers, each object at the version the ledger's
  ``backup.offsite`` entry recorded when it was shipped, held against the sizes, hashes
  and segments recorded with it (:class:`offsite.Shipped`);
- with it lost, the version of the manifest that proves itself (sealed by the backup key,
  and this backup's, not another's replayed under its name), the key ring's manifest whose
  SHA-256 it names, and of every other object the first version, the one shipped; every
  file is then held against its manifest.

Versions not read are named (``unrecorded_versions``): nothing of ours writes there after
shipping. Nothing is kept of a copy that fails: it is fetched into a hidden folder beside
the destination and only moved into place whole.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Callable
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
    anything else, naming the copies found when ``uri`` is the off-site store itself."""
    found = COPY_URI.fullmatch(uri)
    if found is None:
        there = offsite.copies_at(uri) if uri.startswith("s3://") and "/full/" not in uri else []
        listed = (f"; the newest there: {', '.join(there[:5])}" if there else "")
        raise Refused(f"{uri!r} is not the address of a full backup's off-site copy "
                      f"(s3://bucket/prefix/full/full-…){listed}", record="backup fetch",
                      field="from")
    return found["backup_id"]


def fetch_copy(uri: str, into: Path, key: BackupKey,
               shipment: dict[str, Any] | None = None) -> Fetched:
    """Read the off-site copy at ``uri`` and its key ring's back into ``into`` (as
    ``into/<backup id>`` and ``into/<key ring backup id>``), held against ``shipment`` (the
    ledger entry's details; None when the system of record is lost) and the backup's
    sealed manifest. Raises :class:`offsite.OffsiteCopyDamaged` naming what is not what it
    should be (a manifest the backup key does not open too), or :class:`Refused` when a
    destination folder already exists; then nothing is left."""
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
    ``work/keyring/<id>``), which the caller removes: the off-site drill's reading too.

    Which version of each object is read: with the ledger's entry, the one it records;
    without (:func:`_versions_without_the_ledger`), the manifest that proves itself and
    each other object's first version, and then every file is held against its manifest
    (size and SHA-256), the key ring's too."""
    backup_id = backup_id_of(uri)
    shipped = (offsite.Shipped.from_details(shipment) if shipment is not None
               else _versions_without_the_ledger(
                   uri, lambda data: _not_this_manifest(data, key, backup_id)))
    folder = offsite.fetch(uri, work / "full", shipped)
    body = _this_manifest(folder, key, uri, backup_id)
    named = body.get("keyring_backup") or {}
    if not named.get("backup_id"):
        raise offsite.OffsiteCopyDamaged(f"{manifest.MANIFEST} names no key ring backup",
                                         record=uri)
    keyring_uri = offsite.keyring_uri(uri, str(named["backup_id"]))

    def not_named(data: bytes) -> str | None:
        found = hashlib.sha256(data).hexdigest()
        return None if found == named.get("manifest_sha256") else (
            f"not the {manifest.MANIFEST} {backup_id} names (SHA-256 {found[:16]}…)")

    keyring_shipped = (offsite.Shipped.from_details(shipment.get("keyring_objects") or {})
                       if shipment is not None
                       else _versions_without_the_ledger(keyring_uri, not_named))
    keyring_folder = offsite.fetch(keyring_uri, work / "keyring", keyring_shipped)
    if why := not_named((keyring_folder / manifest.MANIFEST).read_bytes()):
        raise offsite.OffsiteCopyDamaged(f"the key ring backup's {manifest.MANIFEST} is {why}",
                                         record=keyring_uri)
    if shipment is None:
        _files_as_recorded(folder, body, uri)
        _files_as_recorded(keyring_folder, manifest.read(keyring_folder, key), keyring_uri)
    unrecorded = (offsite.unrecorded_versions(uri, shipped)
                  + offsite.unrecorded_versions(keyring_uri, keyring_shipped))
    held = ("the ledger's backup.offsite entry",) if shipment is not None else ()
    return Fetched(backup_id, uri, folder, keyring_folder,
                   (*held, "the backup's sealed manifest"), tuple(unrecorded))


def _manifest_in(folder: Path, key: BackupKey,
                 backup_id: str) -> tuple[dict[str, Any], None] | tuple[None, str]:
    """The body of the manifest in ``folder`` when it is ``backup_id``'s, sealed by the
    backup key; otherwise why it is not."""
    try:
        body = manifest.read(folder, key)  # its MAC: sealed by the backup key
    except manifest.ManifestProblem as exc:
        return None, f"not a manifest the backup key opens ({exc})"
    if body.get("backup_id") != backup_id:
        return None, (f"the manifest of {body.get('backup_id')}, not of {backup_id}: "
                      "another backup's manifest was put in its place")
    return body, None


def _not_this_manifest(data: bytes, key: BackupKey, backup_id: str) -> str | None:
    """Why ``data`` is not the sealed manifest of ``backup_id`` (None when it is)."""
    with tempfile.TemporaryDirectory(prefix="dossier-manifest-") as scratch:
        folder = Path(scratch) / backup_id
        folder.mkdir()
        (folder / manifest.MANIFEST).write_bytes(data)
        return _manifest_in(folder, key, backup_id)[1]


def _this_manifest(folder: Path, key: BackupKey, uri: str, backup_id: str) -> dict[str, Any]:
    """The body of the manifest in ``folder``, once it is ``backup_id``'s, sealed by the
    backup key; :class:`offsite.OffsiteCopyDamaged` otherwise."""
    body, why = _manifest_in(folder, key, backup_id)
    if body is None:
        raise offsite.OffsiteCopyDamaged(f"{manifest.MANIFEST} is {why}", record=uri)
    return body


def _files_as_recorded(folder: Path, body: dict[str, Any], uri: str) -> None:
    """Each file the manifest records has its size and SHA-256 (with the ledger's entry the
    files were held against it already); :class:`offsite.OffsiteCopyDamaged` naming each
    one that has not."""
    problems = []
    for recorded in body.values():
        if not (isinstance(recorded, dict) and {"file", "size", "sha256"} <= recorded.keys()):
            continue
        path = folder / str(recorded["file"])
        if not path.is_file():
            problems.append(f"{recorded['file']} is missing off-site")
        elif (path.stat().st_size, offsite.file_sha256(path)) != (recorded["size"],
                                                                   recorded["sha256"]):
            problems.append(f"{recorded['file']} differs from what its manifest records")
    if problems:
        raise offsite.OffsiteCopyDamaged("; ".join(problems), record=uri)


def _versions_without_the_ledger(uri: str, not_the_manifest: Callable[[bytes], str | None]
                                 ) -> offsite.Shipped:
    """Which version of each object under ``uri`` to read when no ledger records them: the
    first manifest version (oldest first) that ``not_the_manifest`` accepts (it proves
    itself: sealed by the backup key, or named by hash), and of every other object its
    first version: the one shipped, since a copy's keys are new when it is shipped (its
    backup's id, random segment names). A version written over one since is not read (and
    named); one written before the shipment is caught when the file is held against the
    manifest. Raises :class:`offsite.OffsiteCopyDamaged` when no manifest version passes."""
    oldest_first: dict[str, list[str]] = {}
    for v in offsite.listed_versions(uri):  # each key's newest first
        if not v["DeleteMarker"]:
            oldest_first.setdefault(v["Key"], []).insert(0, v["VersionId"])
    chosen = {k: versions[0] for k, versions in oldest_first.items()}
    prefix = uri.removeprefix("s3://").partition("/")[2].strip("/")  # s3://bucket/prefix
    manifest_key = f"{prefix}/{manifest.MANIFEST}"
    refused = []
    for version in oldest_first.get(manifest_key, []):
        if (why := not_the_manifest(offsite.read_version(uri, manifest.MANIFEST,
                                                          version))) is None:
            chosen[manifest_key] = version
            return offsite.Shipped({}, {}, chosen)
        refused.append(f"version {version}: {why}")
    raise offsite.OffsiteCopyDamaged(
        f"no version of {manifest.MANIFEST} off-site is this backup's"
        + (f" ({'; '.join(refused)})" if refused else ": there is none"), record=uri)
