"""Object stores for sealed blobs: documents (Art. 18) and their copies in backups (Art. 14).

An object store keeps opaque keys to opaque bytes: callers seal content before it arrives
(:mod:`dossiers.core.segments`) and choose keys that say nothing about the client or the
file. Content moves as iterables of chunks, so memory stays bounded whatever the size.

``put`` is all-or-nothing: a reader never sees half an object, and a put interrupted
halfway leaves no object under its key. The local store writes beside the final name and
renames; the S3 store (``s3://bucket/prefix``, through the Airflow amazon provider's
connection) relies on S3's own atomic PUT / multipart completion.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dossiers.core.errors import CannotRun, NotFound

#: The size of the chunks ``get`` yields.
READ_CHUNK = 1 << 20


class ObjectStore(Protocol):
    #: Where the store is, for messages and manifests (a folder, ``s3://bucket/prefix``).
    location: str

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        """Write the object whole (replacing any under ``key``); return its size in bytes."""

    def get(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks; :class:`NotFound` when there is none."""

    def size(self, key: str) -> int:
        """The object's size in bytes; :class:`NotFound` when there is none."""

    def delete(self, key: str) -> None:
        """Remove the object; no error when there is none."""

    def keys(self) -> Iterator[str]:
        """Every key in the store, in no particular order."""


def _check_key(key: str) -> str:
    """Keys are opaque tokens chosen by the package: refuse anything that walks folders."""
    if not key or key.startswith("/") or ".." in key.split("/") or "\\" in key or "\0" in key:
        raise ValueError(f"not an object key: {key!r}")
    return key


@dataclass(frozen=True)
class LocalObjectStore:
    """A folder: ``<root>/<key>``, files readable only by their owner."""

    root: Path

    @property
    def location(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
        except OSError as exc:
            raise CannotRun(f"object store {self.root}: {exc.strerror}") from None
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except OSError as exc:  # a full disk is a clear failure, never a short object
            Path(tmp).unlink(missing_ok=True)
            raise CannotRun(f"object store {self.root}: writing {key}: {exc.strerror}") from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size

    def get(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise NotFound(f"object {key} is missing from the store {self.root}",
                           record="object store") from None

        def read() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(READ_CHUNK):
                    yield chunk

        return read()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"object {key} is missing from the store {self.root}",
                           record="object store") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".partial-"):
                yield path.relative_to(self.root).as_posix()
