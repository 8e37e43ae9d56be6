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

Segments are sealed and opened on a small pool of threads, a few ahead, in order
(:func:`~dossiers.core.pipeline.in_order`): AES-GCM runs through ``cryptography``'s
``Cipher`` with ``update_into``, which releases the GIL (its ``AESGCM.encrypt`` and
``decrypt`` hold it for the whole call: measured, a thread calling them stopped every other
thread of the process for as long), straight from views of the chunks into the segment's
own buffer: no chunk is joined or copied on the way. The bytes are AES-GCM's either way
(nonce, ciphertext, 16-byte tag, associated data), so every stream sealed before opens.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Iterator
from functools import partial

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from dossiers.core.errors import Refused
from dossiers.core.pipeline import in_order, settle_heap

FORMAT = b"S1"
#: Threads sealing or opening the segments of one stream (the machine's two cores), and the
#: segments in flight at most (memory: about twice that many segments).
THREADS = 2
AHEAD = 4
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


def _with_last(pieces: Iterator[list[memoryview]]) -> Iterator[tuple[list[memoryview], bool]]:
    """Each piece with whether it is the last, looking one piece ahead."""
    current = next(pieces)
    for following in pieces:
        yield current, False
        current = following
    yield current, True


def _cut(chunks: Iterable[bytes], size: int) -> Iterator[list[memoryview]]:
    """The stream in pieces of exactly ``size`` bytes (the last one shorter, perhaps empty),
    each the list of views of the chunks it spans: nothing is copied. The chunks must not
    change after they are passed (``bytes`` do not)."""
    pending: list[memoryview] = []
    held = 0
    for chunk in chunks:
        if not chunk:
            continue
        view = memoryview(chunk)
        while held + len(view) >= size:
            need = size - held
            pending.append(view[:need])
            yield pending
            pending, held = [], 0
            view = view[need:]
        if len(view):
            pending.append(view)
            held += len(view)
    yield pending


def _aes(key: bytes, mode: modes.GCM) -> Cipher[modes.GCM]:
    return Cipher(algorithms.AES(key), mode)


def _seal(key: bytes, nonce: bytes, context: bytes, plain: list[memoryview]) -> bytearray:
    """One segment: ciphertext || tag, written into one buffer (``update_into`` wants 15
    bytes of room past what it writes; the tag's 16 are)."""
    size = sum(map(len, plain))
    out = bytearray(size + TAG_BYTES)
    view = memoryview(out)
    sealing = _aes(key, modes.GCM(nonce)).encryptor()
    sealing.authenticate_additional_data(context)
    at = 0
    for piece in plain:
        at += sealing.update_into(piece, view[at:])
    sealing.finalize()
    view[at:] = sealing.tag
    view.release()
    return out


def _open(key: bytes, nonce: bytes, context: bytes, sealed: list[memoryview]) -> bytearray:
    """One segment's plaintext; :class:`InvalidTag` unless it opens. Nothing of it is
    returned before its tag has been checked."""
    size = sum(map(len, sealed)) - TAG_BYTES
    if size < 0:
        raise InvalidTag
    body: list[memoryview] = []
    tag: list[memoryview] = []
    at = 0
    for piece in sealed:
        if at + len(piece) <= size:
            body.append(piece)
        elif at >= size:
            tag.append(piece)
        else:
            body.append(piece[:size - at])
            tag.append(piece[size - at:])
        at += len(piece)
    opening = _aes(key, modes.GCM(nonce, b"".join(tag))).decryptor()
    opening.authenticate_additional_data(context)
    out = bytearray(size + TAG_BYTES)  # the room update_into wants
    view = memoryview(out)
    at = 0
    for piece in body:
        at += opening.update_into(piece, view[at:])
    opening.finalize()
    view.release()
    del out[size:]  # shrinks in place
    return out


def seal_stream(chunks: Iterable[bytes], key: bytes, context: bytes, *,
                segment_size: int = SEGMENT_SIZE) -> Iterator[bytes | bytearray]:
    """Yield the sealed stream of ``chunks`` (any sizes) under ``key``, bound to ``context``.

    A plaintext whose size is an exact multiple of the segment size ends with an empty
    final segment, so every stream ends on a segment sealed as the last. The segments come
    as buffers of their own (``bytearray``), never changed after.
    """
    settle_heap()
    prefix = os.urandom(PREFIX_BYTES)
    yield _HEADER.pack(FORMAT, segment_size, prefix)

    def tasks() -> Iterator[Callable[[], bytearray]]:
        for position, (plain, last) in enumerate(_with_last(_cut(chunks, segment_size))):
            yield partial(_seal, key, _nonce(prefix, position, last), context, plain)

    yield from in_order(tasks(), threads=THREADS, depth=AHEAD, name="segment-seal")


def _opening(key: bytes, prefix: bytes, position: int, last: bool, context: bytes,
             sealed: list[memoryview], name: str) -> Callable[[], bytearray]:
    def run() -> bytearray:
        if last and not sealed and position > 0:
            # The stream ends at a segment boundary: its final segment (never a full one,
            # see seal_stream) was cut off.
            raise Tampered("it is truncated (its final segment is missing)", record=name)
        try:
            return _open(key, _nonce(prefix, position, last), context, sealed)
        except InvalidTag:
            if last:
                raise Tampered(f"segment {position} does not open as the final segment "
                               "(truncated, altered, or bytes appended)", record=name) from None
            raise Tampered(f"segment {position} does not open (altered, reordered or "
                           "from another object)", record=name) from None

    return run


def open_stream(chunks: Iterable[bytes], key: bytes, context: bytes, *,
                name: str = "sealed object") -> Iterator[bytes | bytearray]:
    """Yield the plaintext of a sealed stream; raise :class:`Tampered` naming ``name``.

    Plaintext is yielded one verified segment at a time (a ``bytearray`` of its own): a
    consumer that must not act on a partly verified stream (a restore) writes to a scratch
    place and commits only when the generator finishes.
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

    def tasks() -> Iterator[Callable[[], bytearray]]:
        for position, (sealed, last) in enumerate(
                _with_last(_cut(body(), segment_size + TAG_BYTES))):
            yield _opening(key, prefix, position, last, context, sealed, name)

    yield from in_order(tasks(), threads=THREADS, depth=AHEAD, name="segment-open")
