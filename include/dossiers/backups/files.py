"""Writing and reading a backup's sealed files (Arts. 14, 18).

A sealed file is written beside its final name and renamed only when the stream that feeds
it finished and its producer says it succeeded (``pg_dump`` exited 0): a backup killed or
failing halfway leaves a ``.partial-`` file, never a short file under a final name. A full
disk (ENOSPC) is a clear :class:`~dossiers.core.errors.CannotRun` naming the vault, with the
partial file removed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import zstandard

from dossiers.core.errors import CannotRun
from dossiers.core.segments import open_stream, seal_stream

#: Chunk size of reads and of the compressor's output.
CHUNK = 1 << 20
#: zstd level: 3 (zstd's default) compresses a dump several times faster than zlib at a
#: similar ratio (facts.md: pg_dump's own zlib is the bottleneck).
ZSTD_LEVEL = 3


@dataclass(frozen=True)
class Written:
    name: str
    size: int
    sha256: str

    def as_dict(self) -> dict[str, object]:
        return {"file": self.name, "size": self.size, "sha256": self.sha256}


def compress(chunks: Iterable[bytes], threads: int = 0) -> Iterator[bytes]:
    """zstd at :data:`ZSTD_LEVEL`; ``threads`` > 0 compresses on that many threads of the
    binding's own (outside the interpreter lock; the same format, one frame)."""
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=threads).compressobj()
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


def decompress(chunks: Iterable[bytes | bytearray]) -> Iterator[bytes]:
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    for chunk in chunks:
        if out := decompressor.decompress(chunk):
            yield out
    if not decompressor.eof:
        raise CannotRun("the compressed stream ends early")


def read_file(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


_Chunk = TypeVar("_Chunk", bound=bytes | bytearray)


def hashing(chunks: Iterable[_Chunk], digest: hashlib._Hash,
            counter: list[int] | None = None) -> Iterator[_Chunk]:
    for chunk in chunks:
        digest.update(chunk)
        if counter is not None:
            counter[0] += len(chunk)
        yield chunk


def write_atomically(path: Path, chunks: Iterable[bytes | bytearray],
                     succeeded: Callable[[], None] = lambda: None) -> Written:
    """Write ``chunks`` to ``path`` whole or not at all; ``succeeded`` is called after the
    last chunk and before the rename, and may raise to refuse the file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        succeeded()
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise CannotRun(f"backup vault {path.parent}: no space left on device while writing "
                            f"{path.name}; nothing was kept, free space and run again") from None
        raise CannotRun(f"backup vault {path.parent}: writing {path.name}: "
                        f"{exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Written(path.name, size, digest.hexdigest())


def seal_file(path: Path, plain: Iterable[bytes], key: bytes, context: bytes, *,
              compressed: bool = True, threads: int = 0,
              succeeded: Callable[[], None] = lambda: None) -> tuple[Written, str, int]:
    """Compress (zstd, on ``threads`` threads when > 0) then seal ``plain`` into ``path``;
    returns the file written, and the SHA-256 and size of the plaintext."""
    digest, counter = hashlib.sha256(), [0]
    stream = hashing(plain, digest, counter)
    written = write_atomically(
        path, seal_stream(compress(stream, threads) if compressed else stream, key, context),
        succeeded)
    return written, digest.hexdigest(), counter[0]


def open_file(path: Path, key: bytes, context: bytes, *, compressed: bool = True,
              file_digest: hashlib._Hash | None = None) -> Iterator[bytes | bytearray]:
    """The plaintext of a sealed file, one verified segment at a time (raises
    :class:`~dossiers.core.segments.Tampered` naming the file)."""
    raw = read_file(path)
    if file_digest is not None:
        raw = hashing(raw, file_digest)
    plain = open_stream(raw, key, context, name=f"backup file {path.name}")
    return decompress(plain) if compressed else plain
