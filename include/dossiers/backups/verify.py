"""Checking a backup end to end without restoring it (``dossier backup verify``; Art. 18).

The manifest's MAC first; then every file: its size and SHA-256 as the manifest records
them, every sealed segment opened (a flipped byte anywhere fails its segment's tag), the
database dump decompressed and hashed (and, in a directory dump, every table's rows in it
against the manifest's rows and hash), every document object hashed. Each problem names the
file and what is wrong; the first problem of a file ends that file's check.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dossiers.backups import bundle, dumpdir, manifest, snapshot
from dossiers.backups.files import hashing, open_file
from dossiers.backups.full import DATABASE_FILE, DOCUMENTS_FILE, KEYRING_FILE, context
from dossiers.backups.settings import BackupKey
from dossiers.core.errors import DossierError


@dataclass
class Verification:
    backup: str
    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    checked: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"backup": self.backup, "ok": self.ok, "problems": self.problems,
                "checked": self.checked,
                "backup_id": (self.manifest or {}).get("backup_id"),
                "kind": (self.manifest or {}).get("kind")}


def backup_folder(path: Path) -> Path:
    """A backup is named by its folder or by its manifest file."""
    return path.parent if path.name == manifest.MANIFEST else path


def _file(folder: Path, recorded: dict[str, Any], problems: list[str]) -> Path | None:
    path = folder / str(recorded["file"])
    if not path.is_file():
        problems.append(f"{recorded['file']}: missing from the backup")
        return None
    size = path.stat().st_size
    if size != recorded["size"]:
        problems.append(f"{recorded['file']}: {size} bytes, the manifest says {recorded['size']} "
                        "(truncated or extended)")
        return None
    return path


def _whole(path: Path, recorded: dict[str, Any], key: BackupKey, backup_id: str, part: str,
           *, compressed: bool, problems: list[str]) -> hashlib._Hash | None:
    """Open every segment; returns the plaintext digest, or None after naming the problem."""
    file_digest, plain = hashlib.sha256(), hashlib.sha256()
    try:
        for chunk in open_file(path, key.key, context(backup_id, part), compressed=compressed,
                               file_digest=file_digest):
            plain.update(chunk)
    except DossierError as exc:
        problems.append(f"{path.name}: {exc}")
        return None
    if file_digest.hexdigest() != recorded["sha256"]:
        problems.append(f"{path.name}: its SHA-256 differs from the manifest's")
        return None
    return plain


def verify_backup(path: Path, key: BackupKey | None = None) -> Verification:
    folder = backup_folder(path)
    key = key or BackupKey.from_file(create=False)
    result = Verification(str(folder))
    try:
        body = manifest.read(folder, key)
    except DossierError as exc:
        result.problems.append(str(exc))
        return result
    result.manifest = body
    backup_id = str(body["backup_id"])
    if body["kind"] == "keyring":
        recorded = body["keyring"]
        if (path_ := _file(folder, recorded, result.problems)) is not None:
            plain = _whole(path_, recorded, key, backup_id, "keyring", compressed=True,
                           problems=result.problems)
            if plain is not None and plain.hexdigest() != recorded["copy_sha256"]:
                result.problems.append(f"{KEYRING_FILE}: its rows differ from the manifest's hash")
        result.checked["keyring_rows"] = body["tables"].get("keyring.data_key", {}).get("rows")
        return result
    database = body["database"]
    if database.get("digest") == snapshot.DUMP_ORDER:
        if (path_ := _file(folder, database, result.problems)) is not None:
            result.checked["database"] = check_dump(path_, body, key, backup_id,
                                                    result.problems)
    elif (path_ := _file(folder, database, result.problems)) is not None:
        plain = _whole(path_, database, key, backup_id, "database", compressed=True,
                       problems=result.problems)
        if plain is not None and plain.hexdigest() != database["dump_sha256"]:
            result.problems.append(f"{DATABASE_FILE}: the dump inside differs from the manifest's hash")
        result.checked["database"] = plain is not None
    documents = body["documents"]
    if documents.get("file"):
        if (path_ := _file(folder, documents, result.problems)) is not None:
            result.checked["documents"] = check_documents(path_, documents, key, backup_id,
                                                          result.problems)
    result.checked["tables"] = len(body["tables"])
    return result


def check_dump(path: Path, body: dict[str, Any], key: BackupKey, backup_id: str,
               problems: list[str]) -> bool:
    """A packed directory dump: every segment opened, the file's and the dump's hashes, and
    every table's rows and hash in the dump against the manifest (named per table)."""
    file_digest, plain = hashlib.sha256(), hashlib.sha256()
    try:
        found = dumpdir.unpack(hashing(open_file(path, key.key, context(backup_id, "database"),
                                                 file_digest=file_digest), plain))
    except DossierError as exc:
        problems.append(f"{path.name}: {exc}")
        return False
    if file_digest.hexdigest() != body["database"]["sha256"]:
        problems.append(f"{path.name}: its SHA-256 differs from the manifest's")
        return False
    if plain.hexdigest() != body["database"]["dump_sha256"]:
        problems.append(f"{DATABASE_FILE}: the dump inside differs from the manifest's hash")
    found_problems = dumpdir.check(body, found, path.name)
    problems += found_problems
    return not found_problems and plain.hexdigest() == body["database"]["dump_sha256"]


def check_documents(path: Path, documents: dict[str, Any], key: BackupKey, backup_id: str,
                    problems: list[str]) -> int:
    """Hash every object in the documents file against the manifest; returns how many."""
    expected: dict[str, Any] = documents["objects"]
    seen: set[str] = set()
    file_digest = hashlib.sha256()
    try:
        for object_key, size, body in bundle.unpack(open_file(
                path, key.key, context(backup_id, "documents"), compressed=False,
                file_digest=file_digest)):
            digest = hashlib.sha256()
            for chunk in body:
                digest.update(chunk)
            seen.add(object_key)
            recorded = expected.get(object_key)
            if recorded is None:
                problems.append(f"{DOCUMENTS_FILE}: object {object_key} is not in the manifest")
            elif recorded["size"] != size or recorded["sha256"] != digest.hexdigest():
                problems.append(f"{DOCUMENTS_FILE}: object {object_key} differs from the manifest")
    except DossierError as exc:
        problems.append(f"{DOCUMENTS_FILE}: {exc}")
        return len(seen)
    if file_digest.hexdigest() != documents["sha256"]:
        problems.append(f"{DOCUMENTS_FILE}: its SHA-256 differs from the manifest's")
    for missing in sorted(set(expected) - seen)[:10]:
        problems.append(f"{DOCUMENTS_FILE}: object {missing} of the manifest is missing")
    return len(seen)
