"""The local object store writes whole objects or none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dossiers.core.errors import CannotRun, NotFound
from dossiers.core.objects import LocalObjectStore, S3ObjectStore, document_store, object_store


def test_put_get_size_keys_delete(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    assert store.put("ab/cdef", [b"x" * 10, b"y" * 5]) == 15
    assert b"".join(store.get("ab/cdef")) == b"x" * 10 + b"y" * 5
    assert store.size("ab/cdef") == 15
    assert list(store.keys()) == ["ab/cdef"]
    store.delete("ab/cdef")
    with pytest.raises(NotFound, match="ab/cdef is missing"):
        store.get("ab/cdef")


def test_an_interrupted_put_leaves_no_object(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)

    def broken() -> Iterator[bytes]:
        yield b"half"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.put("k", broken())
    assert list(tmp_path.rglob("*")) == []


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../../b", ""])
def test_keys_that_walk_folders_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="not an object key"):
        LocalObjectStore(tmp_path).put(key, [b"x"])


def test_the_document_store_is_a_folder_under_home_unless_configured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOSSIER_HOME", str(tmp_path))
    monkeypatch.delenv("DOSSIER_DOCUMENT_STORE", raising=False)
    assert document_store() == LocalObjectStore(tmp_path / "documents")
    monkeypatch.setenv("DOSSIER_DOCUMENT_STORE", "s3://dossier-docs/prod/documents")
    assert document_store() == S3ObjectStore("dossier-docs", "prod/documents")
    assert document_store().location == "s3://dossier-docs/prod/documents"
    monkeypatch.setenv("DOSSIER_DOCUMENT_STORE", "ftp://somewhere")
    with pytest.raises(CannotRun, match=r"DOSSIER_DOCUMENT_STORE=ftp://somewhere: .*a folder or s3://"):
        document_store()
    with pytest.raises(CannotRun, match="name a bucket"):
        object_store("s3:///documents")
