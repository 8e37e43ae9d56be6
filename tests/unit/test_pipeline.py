"""The threads that overlap a document's stages (issue 11): order kept, errors raised where
they belong, nothing left running."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from dossiers.core.pipeline import Behind, ahead, in_order


def test_behind_consumes_every_item_in_order() -> None:
    seen: list[int] = []
    with Behind(seen.append, depth=2) as behind:
        for i in range(1000):
            behind.feed(i)
    assert seen == list(range(1000))


def test_behind_raises_the_consumers_error_on_the_feeding_side() -> None:
    def consume(item: int) -> None:
        if item == 3:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with Behind(consume, depth=1) as behind:
            for i in range(100):
                behind.feed(i)


def test_behind_is_abandoned_when_the_feeder_fails() -> None:
    seen: list[int] = []
    before = threading.active_count()
    with pytest.raises(ValueError):
        with Behind(seen.append) as behind:
            behind.feed(1)
            raise ValueError("refused")
    assert threading.active_count() == before


def test_ahead_yields_in_order_then_raises_the_producers_error_in_its_place() -> None:
    def produce() -> Iterator[int]:
        yield from range(5)
        raise LookupError("segment 5 does not open")

    got: list[int] = []
    with pytest.raises(LookupError, match="segment 5"):
        for item in ahead(produce(), depth=2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_ahead_stopped_early_closes_the_producer_and_its_thread() -> None:
    closed = threading.Event()

    def produce() -> Iterator[int]:
        try:
            yield from range(10**9)
        finally:
            closed.set()

    before = threading.active_count()
    stream = ahead(produce(), depth=2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert closed.is_set()
    assert threading.active_count() == before


def test_behind_consumes_a_short_stream_on_the_callers_thread() -> None:
    threads: list[str] = []

    def consume(item: int) -> None:
        threads.append(threading.current_thread().name)

    with Behind(consume, depth=4) as b:
        for i in range(3):
            b.feed(i)
    assert threads == [threading.current_thread().name] * 3


def task(i: int) -> Callable[[], int]:
    def run() -> int:
        if i == 7:
            raise LookupError("segment 7 does not open")
        return i * i
    return run


def test_in_order_keeps_the_order_and_raises_an_error_in_its_place() -> None:
    got: list[int] = []
    with pytest.raises(LookupError, match="segment 7"):
        for value in in_order((task(i) for i in range(20)), threads=2, depth=4):
            got.append(value)
    assert got == [i * i for i in range(7)]


def test_in_order_raises_the_sources_error_after_the_results_before_it() -> None:
    def tasks() -> Iterator[Callable[[], int]]:
        for i in range(5):
            yield task(i)
        raise ValueError("the upload is over the limit")

    got: list[int] = []
    before = threading.active_count()
    with pytest.raises(ValueError, match="over the limit"):
        for value in in_order(tasks(), threads=2, depth=3):
            got.append(value)
    assert got == [0, 1, 4, 9, 16]
    assert threading.active_count() == before
