"""The document store inside a backup: every object, framed one after another in one stream.

Each object is ``key length (2 bytes) · key (UTF-8) · size (8 bytes) · its bytes``; a zero
key length ends the stream. The objects are the document store's own sealed bytes (the
backup does not open them: it needs no data key), copied through the
:class:`~dossiers.core.objects.ObjectStore` protocol (``keys``, ``size``, ``get``), so the
backup does not depend on how the documents layer names or seals them.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dossiers.core.errors import CannotRun
from dossiers.core.objects import ObjectStore

MAGIC = b"DOSSIER-DOCS-1\n"
_KEY_LEN = struct.Struct(">H")
_SIZE = struct.Struct(">Q")


@dataclass
class Inventory:
    """What went into the stream: key -> size and SHA-256 (for the manifest)."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(int(o["size"]) for o in self.objects.values())


def pack(store: ObjectStore, inventory: Inventory) -> Iterator[bytes]:
    yield MAGIC
    for key in sorted(store.keys()):
        size = store.size(key)
        yield frame(key, size)
        digest, copied = hashlib.sha256(), 0
        for chunk in store.get(key):
            digest.update(chunk)
            copied += len(chunk)
            yield chunk
        if copied != size:
            raise CannotRun(f"document object {key} changed while it was copied "
                            f"({size} bytes listed, {copied} read); run the backup again")
        inventory.objects[key] = {"size": size, "sha256": digest.hexdigest()}
    yield END


class _Reader:
    def __init__(self, chunks: Iterable[bytes | bytearray]):
        self._chunks = iter(chunks)
        self._buffer = bytearray()

    def read_exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                raise CannotRun("the document stream ends in the middle of an object")
            self._buffer += chunk
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out

    def pieces(self, n: int) -> Iterator[bytes]:
        while n > 0:
            if not self._buffer:
                chunk = next(self._chunks, None)
                if chunk is None:
                    raise CannotRun("the document stream ends in the middle of an object")
                self._buffer += chunk
            take = min(n, len(self._buffer), 1 << 20)
            yield bytes(self._buffer[:take])
            del self._buffer[:take]
            n -= take

    def at_end(self) -> bool:
        if self._buffer:
            return False
        return next(self._chunks, None) is None


def frame(key: str, size: int) -> bytes:
    """What precedes an object's bytes in the stream."""
    encoded = key.encode()
    return _KEY_LEN.pack(len(encoded)) + encoded + _SIZE.pack(size)


#: What ends the stream.
END = _KEY_LEN.pack(0)


def unpack(chunks: Iterable[bytes | bytearray], magic: bytes = MAGIC
           ) -> Iterator[tuple[str, int, Iterator[bytes]]]:
    """Each object as ``(key, size, its bytes)``; the bytes must be consumed (or skipped by
    the next step of the iteration) before the next object is read. ``magic``: the stream's
    own (the same framing also packs a ``pg_dump`` directory, :mod:`.dumpdir`)."""
    reader = _Reader(chunks)
    if reader.read_exactly(len(magic)) != magic:
        raise CannotRun("not a document stream of this format")
    while True:
        (length,) = _KEY_LEN.unpack(reader.read_exactly(_KEY_LEN.size))
        if length == 0:
            break
        key = reader.read_exactly(length).decode()
        (size,) = _SIZE.unpack(reader.read_exactly(_SIZE.size))
        body = reader.pieces(size)
        yield key, size, body
        for _ in body:  # whatever the consumer left unread
            pass
    if not reader.at_end():
        raise CannotRun("bytes follow the end of the document stream")
