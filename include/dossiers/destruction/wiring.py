"""What execution and re-application plug into: the document store's shredder (the
documents layer's store, ``DOSSIER_DOCUMENT_STORE``) and the key ring backups' retention
(the backups' policy rule, ``keyring_backup_keep_days``)."""

from __future__ import annotations

from typing import Any

from dossiers.core.objects import document_store
from dossiers.destruction.execution import DocumentShredder, KeyringRetention, keyring_backups_kept
from dossiers.destruction.shredding import shredder


def document_shredder() -> DocumentShredder:
    return shredder(document_store())


def keyring_retention() -> KeyringRetention:
    return keyring_backups_kept


def execution_seams() -> dict[str, Any]:
    return {"shred_documents": document_shredder(), "keyring_retention": keyring_retention()}
