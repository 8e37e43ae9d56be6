"""The streamed segment sealing catches every way a stored object can be damaged."""

from __future__ import annotations

import os

import pytest

from dossiers.core.segments import (
    HEADER_BYTES,
    TAG_BYTES,
    Tampered,
    open_stream,
    seal_stream,
    sealed_size,
)

KEY = bytes(range(32))
SEGMENT = 64


def sealed(plain: bytes, context: bytes = b"doc-1") -> bytes:
    return b"".join(seal_stream([plain[i:i + 7] for i in range(0, len(plain), 7)], KEY,
                                context, segment_size=SEGMENT))


def opened(blob: bytes, context: bytes = b"doc-1", chunk: int = 5) -> bytes:
    return b"".join(open_stream((blob[i:i + chunk] for i in range(0, len(blob), chunk)),
                                KEY, context, name="document D"))


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 1000])
def test_round_trip_at_every_boundary(size: int) -> None:
    plain = os.urandom(size)
    blob = sealed(plain)
    assert len(blob) == sealed_size(size, SEGMENT)
    assert opened(blob) == plain


def segment_at(blob: bytes, i: int) -> slice:
    start = HEADER_BYTES + i * (SEGMENT + TAG_BYTES)
    return slice(start, start + SEGMENT + TAG_BYTES)


def test_a_flipped_byte_is_caught_naming_the_object_and_segment() -> None:
    blob = bytearray(sealed(os.urandom(200)))
    blob[HEADER_BYTES + SEGMENT + TAG_BYTES + 3] ^= 1
    with pytest.raises(Tampered, match=r"^document D: segment 1 does not open"):
        opened(bytes(blob))


def test_reordered_segments_are_caught() -> None:
    blob = sealed(os.urandom(200))
    first, second = blob[segment_at(blob, 0)], blob[segment_at(blob, 1)]
    swapped = blob[:HEADER_BYTES] + second + first + blob[HEADER_BYTES + 2 * len(first):]
    with pytest.raises(Tampered, match="segment 0"):
        opened(swapped)


def test_a_segment_swapped_in_from_another_object_is_caught() -> None:
    plain = os.urandom(200)
    mine, other = sealed(plain), sealed(plain)  # same key, same content, another stream
    mixed = mine[:segment_at(mine, 1).start] + other[segment_at(other, 1)] + \
        mine[segment_at(mine, 1).stop:]
    with pytest.raises(Tampered, match="segment 1"):
        opened(mixed)


@pytest.mark.parametrize("cut", ["boundary", "mid-segment", "header"])
def test_truncation_is_caught(cut: str) -> None:
    blob = sealed(os.urandom(200))
    end = {"boundary": segment_at(blob, 2).start, "mid-segment": len(blob) - 3,
           "header": HEADER_BYTES - 1}[cut]
    with pytest.raises(Tampered, match=r"truncated|final segment"):
        opened(blob[:end])


def test_appended_bytes_and_another_context_are_refused() -> None:
    blob = sealed(os.urandom(100))
    with pytest.raises(Tampered):
        opened(blob + b"x" * 16)
    with pytest.raises(Tampered):
        opened(blob, context=b"doc-2")
