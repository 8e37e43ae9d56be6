"""Streamed authenticated encryption in fixed-size segments (documents Art. 18, backups Art. 14).

A file of any size is sealed segment by segment with AES-GCM, so memory stays bounded by
one segment whatever the size. The construction is the "STREAM" online AEAD (Hoang,
Reyhanitabar, Rogaway, Vizár 2015; also Tink's streaming AEAD): each segment's nonce is

    random 7-byte prefix (one per stream) || segment position (4 bytes) || last flag (1 byte)

and every segment carries the stream's *context* (a document id, a backup id) as
associated data. So a segment that is flipped, dropped, reordered, swapped in from another
stream or another position, or a stream cut short at a segment boundary, does not open:

* a flipped byte fails its segment's tag;
* a reordered or swapped segment was sealed at another position or under another prefix;
* a truncated stream ends on a segment not sealed as the last one;
* bytes appended after the last segment are refused.

The sealed stream is ``header || segment_1 || … || segment_n``; the header holds a format
byte, the segment size and the nonce prefix (none of them secret). Every segment but the
last holds exactly ``segment_size`` plaintext bytes; the last one holds 0 … segment_size.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dossiers.core.errors import Refused
from dossiers.core.pipeline import rechunk, settle_heap

FORMAT = b"S1"
#: 1 MiB of plaintext a segment: the bound on memory, and large enough that the per-segment
#: cost (one AES-GCM call, 28 bytes) is negligible.
SEGMENT_SIZE = 1 << 20
PREFIX_BYTES = 7
TAG_BYTES = 16
_HEADER = struct.Struct(">2sI7s")
HEADER_BYTES = _HEADER.size


class Tampered(Refused):
    """A sealed stream that does not open: altered, truncated, reordered or misplaced."""


def sealed_size(plain_size: int, segment_size: int = SEGMENT_SIZE) -> int:
    """The exact size of the sealed stream of ``plain_size`` plaintext bytes."""
    segments = max(1, -(-plain_size // segment_size))
    if plain_size and plain_size % segment_size == 0:
        segments += 1  # a full last segment is followed by an empty final one
    return HEADER_BYTES + plain_size + segments * TAG_BYTES


def _nonce(prefix: bytes, position: int, last: bool) -> bytes:
    if position >= 1 << 32:
        raise Refused("stream too long for one sealed object (2^32 segments)")
    return prefix + struct.pack(">IB", position, 1 if last else 0)


def _with_last(pieces: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Each piece with whether it is the last, looking one piece ahead."""
    current = next(pieces)
    for following in pieces:
        yield current, False
        current = following
    yield current, True


def seal_stream(chunks: Iterable[bytes], key: bytes, context: bytes, *,
                segment_size: int = SEGMENT_SIZE) -> Iterator[bytes]:
    """Yield the sealed stream of ``chunks`` (any sizes) under ``key``, bound to ``context``.

    A plaintext whose size is an exact multiple of the segment size ends with an empty
    final segment, so every stream ends on a segment sealed as the last.
    """
    settle_heap()
    aead = AESGCM(key)
    prefix = os.urandom(PREFIX_BYTES)
    yield _HEADER.pack(FORMAT, segment_size, prefix)
    for position, (plain, last) in enumerate(_with_last(rechunk(chunks, segment_size))):
        yield aead.encrypt(_nonce(prefix, position, last), plain, context)


def open_stream(chunks: Iterable[bytes], key: bytes, context: bytes, *,
                name: str = "sealed object") -> Iterator[bytes]:
    """Yield the plaintext of a sealed stream; raise :class:`Tampered` naming ``name``.

    Plaintext is yielded one verified segment at a time: a consumer that must not act on
    a partly verified stream (a restore) writes to a scratch place and commits only when
    the generator finishes.
    """
    settle_heap()
    pieces = iter(chunks)
    head = bytearray()
    for chunk in pieces:
        head += chunk
        if len(head) >= HEADER_BYTES:
            break
    if len(head) < HEADER_BYTES:
        raise Tampered("it is shorter than its header (truncated or empty)", record=name)
    form, segment_size, prefix = _HEADER.unpack(bytes(head[:HEADER_BYTES]))
    if form != FORMAT or not 0 < segment_size <= 1 << 30:
        raise Tampered("it is not a sealed stream of this format", record=name)

    def body() -> Iterator[bytes]:
        yield bytes(head[HEADER_BYTES:])
        yield from pieces

    aead = AESGCM(key)
    position = 0
    for sealed, last in _with_last(rechunk(body(), segment_size + TAG_BYTES)):
        if last and not sealed and position > 0:
            # The stream ends at a segment boundary: its final segment (never a full one,
            # see seal_stream) was cut off.
            raise Tampered("it is truncated (its final segment is missing)", record=name)
        try:
            yield aead.decrypt(_nonce(prefix, position, last), sealed, context)
        except InvalidTag:
            if last:
                raise Tampered(f"segment {position} does not open as the final segment "
                               "(truncated, altered, or bytes appended)", record=name) from None
            raise Tampered(f"segment {position} does not open (altered, reordered or "
                           "from another object)", record=name) from None
        position += 1
