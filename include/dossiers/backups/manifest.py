"""A backup's manifest: its own account of what it holds, written LAST and MAC'd (Art. 18).

``manifest.json`` is ``{"manifest": {...}, "mac": "<hex>"}``, the MAC an HMAC-SHA256 of the
canonical body under a key derived from the backup key. It is written (beside its name,
then renamed) only after every other file of the backup is complete, so a backup killed at
any point has no manifest, and a folder without one claims nothing. Anyone who edits a
count or a hash in it breaks the MAC.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dossiers.backups.files import write_atomically
from dossiers.backups.settings import BackupKey
from dossiers.core.errors import Refused

MANIFEST = "manifest.json"
FORMAT = "dossier-backup/1"


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str).encode()


def write(folder: Path, body: dict[str, Any], key: BackupKey, name: str = MANIFEST) -> str:
    """Seal and write the manifest; returns the SHA-256 of the file."""
    document = {"manifest": body, "mac": key.mac(canonical(body))}
    raw = json.dumps(document, sort_keys=True, ensure_ascii=False, indent=1, default=str)
    return write_atomically(folder / name, [raw.encode() + b"\n"]).sha256


class ManifestProblem(Refused):
    """A backup whose manifest is missing, unreadable or does not carry a valid MAC."""


def read(folder: Path, key: BackupKey, name: str = MANIFEST) -> dict[str, Any]:
    """The manifest's body, once its MAC is checked; :class:`ManifestProblem` otherwise."""
    path = folder / name
    record = f"backup {folder.name}"
    if not path.is_file():
        raise ManifestProblem(f"no {name}: the backup never finished (killed or failed "
                              "before its manifest was sealed), or this is not a backup",
                              record=record)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        body, mac = document["manifest"], document["mac"]
        if not isinstance(body, dict) or not isinstance(mac, str):
            raise TypeError
    except (ValueError, TypeError, KeyError):
        raise ManifestProblem(f"{name} is not a backup manifest (altered or truncated)",
                              record=record) from None
    if body.get("format") != FORMAT:
        raise ManifestProblem(f"{name}: unknown format {body.get('format')!r}", record=record)
    if key.mac(canonical(body)) != mac:
        raise ManifestProblem(f"{name}: its MAC does not match (the manifest was altered, or "
                              f"the backup key is not the one that sealed it: "
                              f"{body.get('backup_key_id')})", record=record)
    return body
