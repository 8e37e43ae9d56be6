"""Object stores for sealed blobs: documents (Art. 18) and their copies in backups (Art. 14).

An object store keeps opaque keys to opaque bytes: callers seal content before it arrives
(:mod:`dossiers.core.segments`) and choose keys that say nothing about the client or the
file. Content moves as iterables of chunks, so memory stays bounded whatever the size.

``put`` is all-or-nothing: a reader never sees half an object, and a put interrupted
halfway leaves no object under its key. The local store writes beside the final name
(an object larger than one staging buffer with ``O_DIRECT``, :class:`_ObjectWriter`),
fsyncs it and renames; the S3 store (``s3://bucket/prefix``, through the Airflow amazon provider's
connection ``dossier_s3``, :mod:`dossiers.core.s3`) relies on S3's own atomic PUT (an object
larger than one part is spooled to a temporary file, already unlinked, and sent from there),
and beyond one PUT's limit on multipart completion, aborting the upload on any failure.

:func:`document_store` is the configured store of documents (``DOSSIER_DOCUMENT_STORE``).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import queue
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any, Protocol, cast
from urllib.parse import urlparse

from dossiers.core.config import settings
from dossiers.core.errors import CannotRun, NotFound
from dossiers.core.pipeline import Behind, ahead
from dossiers.core.s3 import S3_CONN_ID, endpoint_of, s3_client

#: The size of the chunks ``get`` yields.
READ_CHUNK = 1 << 20
#: Chunks a large object's reading thread makes ahead of its consumer at most.
READ_AHEAD = 8
#: Chunks queued for the local store's writing thread at most (sealed segments, ~1 MiB).
WRITE_DEPTH = 4
#: The local store starts the disk writing of an object's pages every this many bytes.
FLUSH_EVERY = 8 << 20

#: ``sync_file_range`` flags (linux/fs.h): start writing the range's dirty pages, no wait.
_SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """libc's ``sync_file_range`` (Linux; not in :mod:`os`), or ``None`` elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    call.restype = ctypes.c_int
    return cast(Callable[[int, int, int, int], int], call)


_START_WRITEBACK = _sync_file_range()


class _Flusher:
    """Gets an object's bytes to the disk while it is still being written, so the one
    ``fsync`` at the end has only the tail left (issue 11).

    Every :data:`FLUSH_EVERY` bytes written, the pages written since the last time are
    handed to the disk with ``sync_file_range(SYNC_FILE_RANGE_WRITE)``: it starts their
    writing and returns at once, with no journal commit and no cache flush of the device
    (measured, 1 GiB written and fsynced: 0.33-0.37 s this way, 0.66-0.85 s with one
    ``fsync`` at the end; the ``fdatasync`` every 64 MiB used before each forced a journal
    commit and a device cache flush). It is only a head start:
    the ``fsync`` after the last write is what makes the object durable, and it waits for
    these pages too (and reports their errors: starting the writing does not consume them).

    Where ``sync_file_range`` is missing (not Linux) or refused (a file system without it),
    ``fdatasync`` runs on a thread every :data:`FLUSH_EVERY` × 8 bytes instead, at most one
    at a time.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._started = 0
        self._kick = _START_WRITEBACK
        self._running: threading.Thread | None = None
        self._error: OSError | None = None

    def _flush(self) -> None:
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            self._error = exc

    def written(self, size: int) -> None:
        """``size`` bytes of the object are written so far (called on the writing thread)."""
        if self._kick is not None:
            if size - self._started < FLUSH_EVERY:
                return
            if self._kick(self._fd, self._started, size - self._started,
                          _SYNC_FILE_RANGE_WRITE) == 0:
                self._started = size
                return
            self._kick = None  # refused here (errno ESPIPE, EINVAL…): the fallback below
        if size - self._started < FLUSH_EVERY * 8 or (
                self._running is not None and self._running.is_alive()):
            return
        self._started = size
        self._running = threading.Thread(target=self._flush, name="object-flush", daemon=True)
        self._running.start()

    def join(self) -> None:
        if self._running is not None:
            self._running.join()

    def check(self) -> None:
        if self._error is not None:
            raise self._error


#: The local store's large writes: staging buffers of this size, written with ``O_DIRECT``.
#: One ``O_DIRECT`` write is in flight at a time (ext4 holds the file's lock through an
#: extending one), so the larger the write, the more of it the device takes at once.
#: Measured, the 1 GiB add's core at load 7, three rounds (4 KiB pages): 16 MiB × 3 buffers
#: 0.82-1.05 s, 32 MiB × 2 1.16-1.20 s, 16 MiB × 2 1.05-1.49 s (the third buffer absorbs the
#: disk's jitter); from huge pages (:func:`_staging_buffer`) 8 MiB writes are as fast as
#: 16 MiB ones (1 GiB in 0.42-0.62 s against 0.39-0.58 s), so 8 MiB, for memory.
STAGE_BYTES = 8 << 20
#: Staging buffers of one object at most (memory: this many × :data:`STAGE_BYTES`; the
#: add's process peaked at ~150 MB with 3 × 16 MiB, ~100 MB without).
STAGES = 3
#: ``O_DIRECT`` wants the buffer, the file offset and the length aligned to the device's
#: logical block (512 or 4096 bytes); a page is both.
DIRECT_ALIGN = 4096


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while len(data):
        done = os.pwrite(fd, data, offset)
        data, offset = data[done:], offset + done


def _staging_buffer() -> mmap.mmap:
    """A page-aligned buffer of :data:`STAGE_BYTES`, in transparent huge pages where the
    kernel gives them: the device takes at most ``max_segments`` (254 here) pieces of
    memory in one request, so a buffer of 4 KiB pages makes requests of 1 MiB, of 2 MiB
    pages requests as large as the device allows (measured, 1 GiB written with
    ``O_DIRECT`` from 16 MiB buffers: 0.74-0.81 s from 4 KiB pages, 0.39-0.50 s from huge
    pages, same minutes)."""
    buffer = mmap.mmap(-1, STAGE_BYTES, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            buffer.madvise(mmap.MADV_HUGEPAGE)
        except OSError:  # no transparent huge pages here: 4 KiB pages, same bytes
            pass
    return buffer


class _ObjectWriter:
    """Writes an object's chunks to its file from the calling (writing) thread and a disk
    thread of its own, through :data:`STAGES` page-aligned staging buffers of
    :data:`STAGE_BYTES` (issue 11).

    An object larger than one staging buffer is written with ``O_DIRECT``: the chunks are
    copied into the staging buffer, and each full buffer goes straight from it to the disk
    while the next one fills. No page-cache page is allocated, copied into, written back and
    reclaimed for it: measured on this machine (a VM whose free memory goes back to the
    host), writing 1 GiB through the page cache cost 0.25-1.7 CPU-s in the kernel from one
    run to the next, ``O_DIRECT`` from a reused buffer 0.15-0.25. The tail (less than one
    aligned block) is written through the page cache after ``O_DIRECT`` is turned off again;
    the ``fsync`` after :meth:`finish` is what makes the whole object durable, as before.

    An object smaller than one buffer (most documents) takes none: its chunks are held
    (they do not change once passed) and written as they came with ordinary ``pwrite``.
    Where ``O_DIRECT`` is refused (tmpfs, other file systems), every buffer goes through
    the page cache, its disk writing started as it grows (:class:`_Flusher`).
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        #: The chunks of an object not yet known to fill a stage (None once one is taken).
        self._held: list[bytes | bytearray] | None = []
        self._held_bytes = 0
        self._free: queue.Queue[mmap.mmap] = queue.Queue()
        self._made = 0
        self._stage: mmap.mmap | None = None
        self._fill = 0
        self._offset = 0  # of the current stage's first byte in the file
        self._direct: bool | None = None  # undecided until a stage is full
        self._flusher = _Flusher(fd)
        self._disk: Behind[tuple[mmap.mmap, int, int]] = Behind(
            self._out, depth=1, name="object-disk")

    def _take(self) -> mmap.mmap:
        if self._made < STAGES:
            self._made += 1
            return _staging_buffer()
        return self._free.get()

    def _set_direct(self, on: bool) -> bool:
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        try:
            fcntl.fcntl(self._fd, fcntl.F_SETFL,
                        flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
        except OSError:
            return False
        return on

    def _out(self, item: tuple[mmap.mmap, int, int]) -> None:  # on the disk thread
        stage, offset, length = item
        try:
            with memoryview(stage) as view:
                try:
                    _pwrite_all(self._fd, view[:length], offset)
                except OSError as exc:
                    if not self._direct or exc.errno != errno.EINVAL:
                        raise
                    self._direct = self._set_direct(False)  # accepted, then refused: buffered
                    _pwrite_all(self._fd, view[:length], offset)
            if not self._direct:
                self._flusher.written(offset + length)
        finally:
            self._free.put(stage)

    def _hand_on(self, length: int) -> None:
        assert self._stage is not None
        if self._direct is None:
            self._direct = hasattr(os, "O_DIRECT") and self._set_direct(True)
        self._disk.feed((self._stage, self._offset, length))
        self._stage, self._fill, self._offset = None, 0, self._offset + length

    def write(self, chunk: bytes | bytearray) -> None:
        if self._held is not None:  # no stage yet: held until they fill one
            self._held.append(chunk)
            self._held_bytes += len(chunk)
            if self._held_bytes < STAGE_BYTES:
                return
            held, self._held = self._held, None
            for piece in held:
                self._copy(piece)
            return
        self._copy(chunk)

    def _copy(self, chunk: bytes | bytearray) -> None:
        with memoryview(chunk) as view:
            while len(view):
                if self._stage is None:
                    self._stage = self._take()
                n = min(len(view), STAGE_BYTES - self._fill)
                self._stage[self._fill:self._fill + n] = view[:n]
                self._fill += n
                view = view[n:]
                if self._fill == STAGE_BYTES:
                    self._hand_on(STAGE_BYTES)

    def finish(self) -> None:
        """Write what is left and wait for every write (the caller then fsyncs)."""
        if self._held is not None:  # smaller than one stage: written as it came
            offset = 0
            for chunk in self._held:
                with memoryview(chunk) as view:
                    _pwrite_all(self._fd, view, offset)
                offset += len(chunk)
            self._held = None
            return
        tail = b""
        if self._stage is not None and self._fill:
            aligned = self._fill - self._fill % DIRECT_ALIGN if self._direct else 0
            tail = self._stage[aligned:self._fill]
            if aligned:
                self._hand_on(aligned)
            else:
                self._free.put(self._stage)
                self._stage = None
        self._disk.finish()
        try:
            if tail:
                if self._direct:
                    self._direct = self._set_direct(False)
                with memoryview(tail) as view:
                    _pwrite_all(self._fd, view, self._offset)
        finally:
            self._flusher.join()
        self._flusher.check()

    def abandon(self) -> None:
        self._disk.abandon()
        self._flusher.join()


def write_chunks(fd: int, chunks: Iterable[bytes | bytearray]) -> int:
    """Write ``chunks`` into the open, empty file ``fd``; return the bytes written.

    The writes run on a thread of their own, beside whatever makes the chunks (sealing),
    and go on to the disk from staging buffers on another (:class:`_ObjectWriter`): the
    local store's ``put``, which then fsyncs. The chunks must not change once passed. No
    ``fsync`` here: durability is the caller's. On an error, what was written stays in the
    file, for the caller to remove.
    """
    out = _ObjectWriter(fd)
    size = 0
    try:
        with Behind(out.write, depth=WRITE_DEPTH, name="object-write") as writer:
            for chunk in chunks:  # never changed once passed: no copy
                writer.feed(chunk)
                size += len(chunk)
        out.finish()
    except BaseException:
        out.abandon()
        raise
    return size


def _read_chunks(fd: int) -> Iterator[bytes]:
    """The file's bytes in chunks of :data:`READ_CHUNK`. A file larger than one staging
    buffer is read with ``O_DIRECT`` into one (huge pages), each chunk copied out of it:
    its pages are not put in the page cache first (an object written with ``O_DIRECT`` is
    not there, and filling 1 GiB of fresh page cache cost 0.2-1.6 CPU-s in the kernel here,
    issue 11). Elsewhere, or where ``O_DIRECT`` is refused, ordinary reads."""
    offset = 0
    if os.fstat(fd).st_size > STAGE_BYTES and hasattr(os, "O_DIRECT"):
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT)
        except OSError:
            pass
        else:
            buffer = _staging_buffer()
            try:
                with memoryview(buffer) as view:
                    while offset % DIRECT_ALIGN == 0:  # a short read ends the aligned part
                        got = os.preadv(fd, [buffer], offset)
                        if not got:
                            return
                        for at in range(0, got, READ_CHUNK):
                            yield bytes(view[at:min(at + READ_CHUNK, got)])
                        offset += got
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
            fcntl.fcntl(fd, fcntl.F_SETFL, flags)  # the rest, if any, as usual
    while chunk := os.pread(fd, READ_CHUNK, offset):
        offset += len(chunk)
        yield chunk


class ObjectStore(Protocol):
    #: Where the store is, for messages and manifests (a folder, ``s3://bucket/prefix``).
    location: str

    def put(self, key: str, chunks: Iterable[bytes | bytearray]) -> int:
        """Write the object whole (replacing any under ``key``); return its size in bytes.
        The chunks (``bytes``, or buffers such as the sealed segments' ``bytearray``) must
        not change once passed: they are written on another thread, uncopied."""

    def get(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks; :class:`NotFound` when there is none."""

    def size(self, key: str) -> int:
        """The object's size in bytes; :class:`NotFound` when there is none."""

    def delete(self, key: str) -> None:
        """Remove the object; no error when there is none."""

    def keys(self) -> Iterator[str]:
        """Every key in the store, in no particular order."""


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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

    def put(self, key: str, chunks: Iterable[bytes | bytearray]) -> int:
        path = self._path(key)
        try:
            new_folder = not path.parent.is_dir()
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
        except OSError as exc:
            raise CannotRun(f"object store {self.root}: {exc.strerror}") from None
        try:
            size = write_chunks(fd, chunks)
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(tmp, path)
            # Durable once its name is: the rename is an entry of the folder, on disk only
            # when the folder is synced (and a new folder's own entry, when its parent is).
            _fsync_folder(path.parent)
            if new_folder:
                _fsync_folder(path.parent.parent)
        except OSError as exc:  # a full disk is a clear failure, never a short object
            if fd >= 0:
                os.close(fd)
            Path(tmp).unlink(missing_ok=True)
            raise CannotRun(f"object store {self.root}: writing {key}: {exc.strerror}") from None
        except BaseException:
            if fd >= 0:
                os.close(fd)
            Path(tmp).unlink(missing_ok=True)
            raise
        return size

    def get(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise NotFound(f"object {key} is missing from the store {self.root}",
                           record="object store") from None

        def read() -> Iterator[bytes]:
            try:
                yield from _read_chunks(fd)
            finally:
                os.close(fd)

        if os.fstat(fd).st_size > STAGE_BYTES:  # read on a thread, ahead of the consumer
            return ahead(read(), depth=READ_AHEAD, name="object-read")
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


# --- S3 -----------------------------------------------------------------------------------

#: An S3 multipart part (S3's minimum is 5 MiB but for the last part). An object no larger
#: than one part is written by one PUT; a larger one as a multipart upload of these parts.
PART_SIZE = 8 << 20
#: Parts in flight at once: memory stays below (PARTS_IN_FLIGHT + 1) × PART_SIZE.
PARTS_IN_FLIGHT = 2
#: The largest object sent as one PUT (S3's own limit for one PUT; a document is at most
#: ``document_max_bytes``, 2 GiB, so every document is). One PUT from a spool file instead
#: of a multipart upload of the stream: measured on moto's server (issue 11), completing a
#: multipart upload joins and stores every part again, which made a 1 GiB add ~3x a plain
#: ``put_object``; one PUT is also what S3 Object Lock's headers and a bucket's default
#: retention apply to whole (shared/facts.md: moto drops them on multipart uploads).
SINGLE_PUT_UP_TO = 5 << 30


def _s3_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class S3ObjectStore:
    """``s3://bucket/prefix``: the object ``<prefix>/<key>`` in the bucket, through the Airflow
    connection ``dossier_s3``. One client per store (boto3 clients are thread-safe)."""

    bucket: str
    prefix: str = ""
    conn_id: str = S3_CONN_ID

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    @cached_property
    def _s3(self) -> Any:
        return s3_client(self.conn_id)

    def client(self) -> Any:
        return self._s3

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _cannot_run(self, doing: str, exc: BaseException, code: str | None = None) -> CannotRun:
        """S3 unreachable or refusing: one clear line; the caller's work is retry-safe."""
        code = code or _error_code(exc)
        if code in ("NoSuchBucket",):
            reason = f"the bucket {self.bucket} does not exist"
        elif code:
            reason = f"S3 answered {code}"
        elif exc.__class__.__name__ == "NoCredentialsError":
            reason = f"no S3 credentials (set the Airflow connection {self.conn_id})"
        else:
            reason = f"cannot reach S3 at {endpoint_of(self.client())} ({exc.__class__.__name__})"
        return CannotRun(f"object store {self.location}: {doing}: {reason}; nothing was "
                         "written, so it is safe to retry")

    def _not_found(self, key: str) -> NotFound:
        return NotFound(f"object {key} is missing from the store {self.location}",
                        record="object store")

    def put(self, key: str, chunks: Iterable[bytes | bytearray]) -> int:
        """One PUT, atomic by itself, for an object of any size up to :data:`SINGLE_PUT_UP_TO`:
        held in memory when it fits in one part, else written to a spool file first (on a
        thread, beside the sealing) and sent from there; a multipart upload read from the
        spool beyond that."""
        full = self._key(key)
        source = iter(chunks)
        held: list[bytes | bytearray] = []
        size = 0
        for chunk in source:
            held.append(chunk)
            size += len(chunk)
            if size > PART_SIZE:
                break
        else:  # fits in one part
            self._put_object(key, full, b"".join(held))
            return size
        self._reachable(key)  # S3 down or no bucket: said before the whole upload is read
        with tempfile.TemporaryFile(prefix="dossier-object-") as spool:
            with Behind(spool.write, depth=WRITE_DEPTH, name="object-spool") as writer:
                for chunk in held:
                    writer.feed(chunk)
                held.clear()  # the spool holds them: memory stays bounded
                for chunk in source:
                    writer.feed(chunk)
                    size += len(chunk)
            spool.flush()
            spool.seek(0)
            if size <= SINGLE_PUT_UP_TO:
                self._put_object(key, full, spool, size)
                return size
            return self._multipart(key, full, iter(lambda: spool.read(PART_SIZE), b""))

    def _put_object(self, key: str, full: str, body: bytes | IO[bytes],
                    size: int | None = None) -> None:
        extra = {} if size is None else {"ContentLength": size}
        try:
            self.client().put_object(Bucket=self.bucket, Key=full, Body=body, **extra)
        except _s3_errors() as exc:
            raise self._cannot_run(f"writing {key}", exc) from None

    def _reachable(self, key: str) -> None:
        """Raise the one-line error when S3 cannot be reached or the bucket is missing. A
        store whose credentials may write objects but not read the bucket (403) is let
        through: its PUT says what is wrong, if anything is."""
        try:
            self.client().head_bucket(Bucket=self.bucket)
        except _s3_errors() as exc:
            code = _error_code(exc)
            if code in ("403", "AccessDenied"):
                return
            raise self._cannot_run(f"writing {key}", exc, "NoSuchBucket" if code in (
                "404", "NotFound") else code) from None

    def _multipart(self, key: str, full: str, parts: Iterator[bytes]) -> int:
        """A multipart upload completed whole, or aborted: never a partial object, never a
        dangling upload left behind by this process (a bucket lifecycle rule
        ``AbortIncompleteMultipartUpload`` is the backstop for a process killed mid-way)."""
        client = self.client()
        try:
            upload_id = client.create_multipart_upload(Bucket=self.bucket, Key=full)["UploadId"]
        except _s3_errors() as exc:
            raise self._cannot_run(f"writing {key}", exc) from None
        size = 0
        done: list[dict[str, Any]] = []
        pending: list[Future[dict[str, Any]]] = []

        def upload(number: int, body: bytes) -> dict[str, Any]:
            answer = client.upload_part(Bucket=self.bucket, Key=full, UploadId=upload_id,
                                        PartNumber=number, Body=body)
            return {"PartNumber": number, "ETag": answer["ETag"]}

        pool = ThreadPoolExecutor(max_workers=PARTS_IN_FLIGHT, thread_name_prefix="s3-part")
        try:
            for number, body in enumerate(parts, start=1):
                if len(pending) >= PARTS_IN_FLIGHT:  # bounded memory: wait for the oldest
                    done.append(pending.pop(0).result())
                size += len(body)
                pending.append(pool.submit(upload, number, body))
                del body
            done += [future.result() for future in pending]
            client.complete_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id,
                                             MultipartUpload={"Parts": done})
        except BaseException as exc:
            for future in pending:
                future.cancel()
            wait(pending)  # no part may land after the abort
            try:
                client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
            except _s3_errors():
                pass  # S3 is gone: the lifecycle rule removes the parts
            if isinstance(exc, _s3_errors()):
                raise self._cannot_run(f"writing {key}", exc) from None
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return size

    def get(self, key: str) -> Iterator[bytes]:
        full = self._key(key)
        try:
            body = self.client().get_object(Bucket=self.bucket, Key=full)["Body"]
        except _s3_errors() as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                raise self._not_found(key) from None
            raise self._cannot_run(f"reading {key}", exc) from None

        def read() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(READ_CHUNK)
            except _s3_errors() as exc:
                raise self._cannot_run(f"reading {key}", exc) from None
            finally:
                body.close()

        return read()

    def size(self, key: str) -> int:
        try:
            head = self.client().head_object(Bucket=self.bucket, Key=self._key(key))
        except _s3_errors() as exc:
            if _error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise self._not_found(key) from None
            raise self._cannot_run(f"reading {key}", exc) from None
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        try:
            self.client().delete_object(Bucket=self.bucket, Key=self._key(key))
        except _s3_errors() as exc:
            raise self._cannot_run(f"deleting {key}", exc) from None

    def keys(self) -> Iterator[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        try:
            pages = self.client().get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=start)
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"][len(start):]
        except _s3_errors() as exc:
            raise self._cannot_run("listing the keys", exc) from None


def object_store(location: str) -> LocalObjectStore | S3ObjectStore:
    """The store at ``location``: a folder, or ``s3://bucket/prefix``."""
    if location.startswith("s3://"):
        parsed = urlparse(location)
        if not parsed.netloc:
            raise CannotRun(f"object store {location}: name a bucket (s3://bucket/prefix)")
        return S3ObjectStore(parsed.netloc, parsed.path.strip("/"))
    if "://" in location:
        raise CannotRun(f"object store {location}: a folder or s3://bucket/prefix")
    return LocalObjectStore(Path(location).expanduser())


def document_store() -> LocalObjectStore | S3ObjectStore:
    """The configured store of documents (Art. 18): ``DOSSIER_DOCUMENT_STORE``, by default
    ``<DOSSIER_HOME>/documents``."""
    where = settings().document_store
    try:
        return object_store(where)
    except CannotRun as exc:
        raise CannotRun(f"DOSSIER_DOCUMENT_STORE={where}: {exc}") from None
