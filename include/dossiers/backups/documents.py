"""The document store a backup copies (through the ObjectStore protocol only)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from dossiers.core import objects
from dossiers.core.config import home
from dossiers.core.objects import LocalObjectStore, ObjectStore


def source_store() -> ObjectStore:
    """``objects.document_store()`` (the documents layer's configured store) where it is
    defined, else the local default folder ``$DOSSIER_HOME/documents``."""
    configured = getattr(objects, "document_store", None)
    if callable(configured):
        store: ObjectStore = configured()
        return store
    return local_store(home() / "documents")


def local_store(root: Path) -> ObjectStore:
    """A folder as an ObjectStore (``LocalObjectStore.location`` is a read-only property,
    which mypy does not take for the protocol's attribute)."""
    return cast(ObjectStore, LocalObjectStore(Path(root)))
