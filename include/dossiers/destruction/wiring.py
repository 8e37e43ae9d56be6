"""What execution and re-application plug into: the document store's shredder and the key
ring backups' retention. Each is a narrow seam owned elsewhere (the documents layer, the
backups, whose retention rule is in the policy); until the documents layer is wired, no
document objects are known."""

from __future__ import annotations

from typing import Any

from dossiers.destruction.execution import (
    DocumentShredder,
    KeyringRetention,
    keyring_backups_kept,
    no_documents,
)


def document_shredder() -> DocumentShredder:
    return no_documents


def keyring_retention() -> KeyringRetention:
    return keyring_backups_kept


def execution_seams() -> dict[str, Any]:
    return {"shred_documents": document_shredder(), "keyring_retention": keyring_retention()}
