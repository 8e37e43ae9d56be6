"""The local object store writes whole objects or none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dossiers.core.errors import NotFound
from dossiers.core.objects import LocalObjectStore


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
