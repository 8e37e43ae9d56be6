"""The destruction register, kept apart from the data (Art. 17): one JSON object per
destroyed dossier in an object store outside the database (``DOSSIER_DESTRUCTION_REGISTER``,
a folder; default ``destruction-register`` in ``DOSSIER_HOME``).

A restore of a backup taken before a destruction brings the dossier's rows back (and, from
a key ring backup still within its retention, its data key). :func:`reapply` is therefore
run after every restore, drills included: each dossier in the register that the restored
database holds is destroyed again — rows, documents' objects, data key — and its tombstone
put back. An entry is written before the destroying transaction commits, so a crash between
the two errs on the side of destruction (the request was approved and re-checked).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dossiers.core.config import home
from dossiers.core.objects import LocalObjectStore, ObjectStore

PREFIX = "destroyed/"


@dataclass(frozen=True)
class RegisterEntry:
    """A destroyed dossier as the register keeps it: the tombstone's columns (nothing
    personal) and when it was destroyed, by which request."""

    dossier_id: str
    dossier_no: str
    client_name_zh: str
    client_name_en: str
    filed_at: str | None
    condition: str
    reason: str
    request_id: str
    destroyed_at: str
    unrecoverable_after: str | None

    def as_bytes(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True).encode()


def location() -> Path:
    return Path(os.environ.get("DOSSIER_DESTRUCTION_REGISTER") or home() / "destruction-register")


class DestructionRegister:
    """The register over an object store (a folder by default)."""

    def __init__(self, store: ObjectStore | LocalObjectStore | None = None):
        self.store = store or LocalObjectStore(location())

    def record(self, entry: RegisterEntry) -> None:
        self.store.put(f"{PREFIX}{uuid.UUID(entry.dossier_id)}.json", [entry.as_bytes()])

    def entries(self) -> Iterator[RegisterEntry]:
        for key in sorted(self.store.keys()):
            if key.startswith(PREFIX) and key.endswith(".json"):
                data: dict[str, Any] = json.loads(b"".join(self.store.get(key)))
                yield RegisterEntry(**data)
