"""The local object store writes whole objects or none."""

from __future__ import annotations

import os
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


# --- large objects: staging buffers written with O_DIRECT (issue 11) -----------------------

STAGE = 64 << 10  # small staging buffers, so a few hundred KB cross every boundary


@pytest.fixture
def small_stages(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Stages of 64 KiB; the list of each O_DIRECT switch asked for (True: on)."""
    from dossiers.core import objects

    monkeypatch.setattr(objects, "STAGE_BYTES", STAGE)
    asked: list[bool] = []
    switch = objects._ObjectWriter._set_direct

    def recording(self: objects._ObjectWriter, on: bool) -> bool:
        asked.append(on)
        return switch(self, on)

    monkeypatch.setattr(objects._ObjectWriter, "_set_direct", recording)
    return asked


def _pieces(data: bytes, size: int = 10_007) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 4095, 4096, STAGE - 1, STAGE, STAGE + 1, 3 * STAGE + 13,
                                  7 * STAGE, 7 * STAGE + 4096])
def test_objects_of_every_size_round_trip_through_the_staging_buffers(
        tmp_path: Path, small_stages: list[bool], size: int) -> None:
    store = LocalObjectStore(tmp_path)
    data = os.urandom(size)
    assert store.put("ab/k", _pieces(data)) == size
    assert b"".join(store.get("ab/k")) == data
    assert store.size("ab/k") == size
    # From one full stage on: O_DIRECT turned on, then off for a tail under one block.
    direct = [True] + ([False] if size % 4096 else []) if size >= STAGE else []
    assert small_stages == direct
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["k"]


def test_a_file_system_refusing_o_direct_gets_the_same_bytes_through_the_page_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_stages: list[bool]) -> None:
    from dossiers.core import objects

    monkeypatch.setattr(objects._ObjectWriter, "_set_direct", lambda self, on: False)
    data = os.urandom(5 * STAGE + 777)
    LocalObjectStore(tmp_path).put("k", _pieces(data))
    assert b"".join(LocalObjectStore(tmp_path).get("k")) == data


def test_o_direct_accepted_then_refused_by_the_first_write_falls_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_stages: list[bool]) -> None:
    import errno
    import fcntl

    from dossiers.core import objects

    write = objects._pwrite_all
    refused: list[int] = []

    def refusing(fd: int, data: memoryview, offset: int) -> None:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        write(fd, data, offset)

    monkeypatch.setattr(objects, "_pwrite_all", refusing)
    data = os.urandom(4 * STAGE + 5)
    LocalObjectStore(tmp_path).put("k", _pieces(data))
    assert refused == [0]  # once: every later write goes through the page cache
    assert b"".join(LocalObjectStore(tmp_path).get("k")) == data


def test_a_large_put_interrupted_or_failing_on_the_disk_leaves_no_object(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_stages: list[bool]) -> None:
    import errno

    from dossiers.core import objects

    def long_then_broken() -> Iterator[bytes]:
        yield from _pieces(os.urandom(6 * STAGE))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        LocalObjectStore(tmp_path).put("k", long_then_broken())
    assert list(tmp_path.rglob("*")) == []

    def full(fd: int, data: memoryview, offset: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(objects, "_pwrite_all", full)
    with pytest.raises(CannotRun, match="writing k: No space left on device"):
        LocalObjectStore(tmp_path).put("k", _pieces(os.urandom(6 * STAGE)))
    assert list(tmp_path.rglob("*")) == []


def test_a_large_object_read_and_left_early_stops_its_reading_thread(
        tmp_path: Path, small_stages: list[bool]) -> None:
    import threading

    store = LocalObjectStore(tmp_path)
    data = os.urandom(9 * STAGE + 11)
    store.put("k", _pieces(data))
    chunks = store.get("k")
    first = next(chunks)
    assert data.startswith(first)
    chunks.close()  # type: ignore[attr-defined]
    assert not [t for t in threading.enumerate() if t.name == "object-read"]
    assert b"".join(store.get("k")) == data
