"""Overlapping the stages of a stream on threads, with memory bounded (documents, Art. 18).

A document streams through stages that each touch every byte: reading, the keyed hash of
the plaintext (keyed BLAKE3; HMAC-SHA256 before), AES-GCM, writing. ``blake3``, ``hashlib``,
file I/O and ``cryptography``'s ``Cipher`` contexts (``update_into``) release the GIL while
they work on a large buffer, so stages on separate threads run on separate cores; one after
the other on one thread they add up (issue 11 measured a 1 GiB add at the sum of its
stages). ``cryptography``'s one-shot ``AESGCM.encrypt``/``decrypt`` do *not* release it
(measured: a thread looping in pure Python stood still for the whole of a 256 MiB call), so
:mod:`dossiers.core.segments` uses the ``Cipher`` contexts.

* :class:`Behind` runs a consumer (the hash, a file's writes) on its own thread: items go to
  it in order through a queue of at most ``depth`` items.
* :func:`in_order` runs independent calls (sealing or opening segments) on a small pool
  and yields their results in order, a few ahead.
* :func:`ahead` runs a producer (reading and opening a sealed stream) on its own thread and
  yields its items in order, at most ``depth`` of them made before they are asked for.

Either way at most ``depth`` items are held between two stages (a few segments of 1 MiB),
an error on the other thread is raised on the caller's, in its place in the stream, and a
caller that stops early stops the other thread before it returns.

Only immutable items (``bytes``) may cross: the other thread reads them after the caller
has moved on.

:func:`settle_heap` keeps the C heap from returning and re-faulting the memory of the
1 MiB segments that every stream allocates and frees by the thousand.
"""

from __future__ import annotations

import ctypes
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

#: Marks the end of a stream in a queue.
_END = object()
#: How often a blocked thread looks whether it was told to stop (seconds).
_POLL = 0.05


#: glibc ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap, not a fresh ``mmap`` each (segments are 1 MiB).
HEAP_BLOCKS_UP_TO = 4 << 20
#: Free memory the heap keeps at its top instead of giving it back at once.
HEAP_KEEPS = 16 << 20
_settled = False


def settle_heap() -> None:
    """Stop the C allocator from giving each freed segment back to the kernel (once per
    process; glibc only, elsewhere nothing).

    A stream allocates a segment of ~1 MiB for every read, seal or open and frees it a
    moment later. glibc's adaptive thresholds then alternate between ``mmap``-ing such a
    block and trimming the freed top of the heap, so every segment's memory is faulted in
    anew: measured here, 122,880 page faults per 512 MiB sealed and AES-GCM at a quarter of
    its speed (issue 11). With fixed thresholds the same few blocks are reused. The price is
    at most :data:`HEAP_KEEPS` bytes of free heap a process may keep.
    """
    global _settled
    if _settled:
        return
    _settled = True
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (or no symbol): nothing to tune
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt(_M_MMAP_THRESHOLD, HEAP_BLOCKS_UP_TO)
    mallopt(_M_TRIM_THRESHOLD, HEAP_KEEPS)


class Behind(Generic[T]):
    """``consume`` each item fed, in order, on a thread of its own.

    :meth:`finish` waits for the last item and raises the consumer's error, if any; leaving
    the ``with`` block on an error abandons what is still queued. After the consumer's first
    error the items still fed are dropped (and :meth:`feed` raises that error).

    The thread starts only once more than ``depth`` items have been fed: a stream of a few
    items (a small document's one chunk, or its header and one segment) is consumed on the
    caller's thread by :meth:`finish`, with no thread started and joined for it (issue 11:
    two of them a small document, under load, were a tenth of its add).
    """

    def __init__(self, consume: Callable[[T], object], *, depth: int = 4,
                 name: str = "behind") -> None:
        self._consume = consume
        self._depth = depth
        self._name = name
        self._held: list[T] = []
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._abandoned = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if self._error is None and not self._abandoned.is_set():
                try:
                    self._consume(item)  # type: ignore[arg-type]
                except BaseException as exc:  # handed to the feeding thread
                    self._error = exc

    def feed(self, item: T) -> None:
        if self._error is not None:
            raise self._error
        if self._thread is None:
            self._held.append(item)
            if len(self._held) > self._depth:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
                held, self._held = self._held, []
                for waiting in held:
                    self._queue.put(waiting)
            return
        self._queue.put(item)

    def finish(self) -> None:
        """Wait until every item fed has been consumed; raise the consumer's error."""
        if self._thread is None:
            held, self._held = self._held, []
            for item in held:
                self._consume(item)
            return
        self._queue.put(_END)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abandon(self) -> None:
        """Drop what is queued and stop the thread (the caller is failing anyway)."""
        self._held.clear()
        if self._thread is None:
            return
        self._abandoned.set()
        self._queue.put(_END)
        self._thread.join()

    def __enter__(self) -> Behind[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.finish()
        else:
            self.abandon()


def ahead(items: Iterable[T], *, depth: int = 2, name: str = "ahead") -> Iterator[T]:
    """``items`` in order, produced on a thread of their own, at most ``depth`` in advance.

    The producer's error is raised here after the items it made before it. Closing this
    generator early (or an error in the caller) stops the producer and closes ``items``.
    """
    handoff: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if stop.is_set() or not put((True, item)):
                    return
            put((False, _END))
        except BaseException as exc:  # raised on the consuming thread
            put((False, exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            is_item, value = handoff.get()
            if is_item:
                yield value  # type: ignore[misc]
            elif value is _END:
                return
            else:
                raise value  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():
            try:  # make room, so a producer blocked on a full queue sees the stop
                handoff.get(timeout=_POLL)
            except queue.Empty:
                pass
        thread.join()


def in_order(tasks: Iterable[Callable[[], T]], *, threads: int = 2, depth: int = 4,
             name: str = "in-order") -> Iterator[T]:
    """The results of ``tasks`` (calls without arguments), in order, up to ``depth`` of them
    computed at once on ``threads`` threads (the calls must release the GIL to gain from it:
    AES-GCM through ``Cipher.update_into``, hashing, file I/O).

    A single task runs on the caller's thread (no pool for a small stream). A task's error is
    raised in its place, after the results of the tasks before it; so is an error of
    ``tasks`` itself (of the iterator making them). Closing this generator early cancels
    what has not started and waits for what has.
    """
    source = iter(tasks)
    failure: Exception | None = None

    def pull() -> Callable[[], T] | None:
        nonlocal failure
        if failure is not None:
            return None
        try:
            return next(source, None)
        except Exception as exc:  # raised after the results before it
            failure = exc
            return None

    first = pull()
    second = None if first is None else pull()
    if first is not None and second is None:
        yield first()
    elif first is not None and second is not None:
        pending: deque[Future[T]] = deque()
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        try:
            pending.extend((pool.submit(first), pool.submit(second)))
            while pending:
                while len(pending) < depth and (task := pull()) is not None:
                    pending.append(pool.submit(task))
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
    if failure is not None:
        raise failure
