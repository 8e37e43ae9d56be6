"""Object stores for sealed blobs: documents (Art. 18) and their copies in backups (Art. 14).

An object store keeps opaque keys to opaque bytes: callers seal content before it arrives
(:mod:`dossiers.core.segments`) and choose keys that say nothing about the client or the
file. Content moves as iterables of chunks, so memory stays bounded whatever the size.

``put`` is all-or-nothing: a reader never sees half an object, and a put interrupted
halfway leaves no object under its key. The local store writes beside the final name and
renames; the S3 store (``s3://bucket/prefix``, through the Airflow amazon provider's
connection ``dossier_s3``, :mod:`dossiers.core.s3`) relies on S3's own atomic PUT (an object
larger than one part is spooled to a temporary file, already unlinked, and sent from there),
and beyond one PUT's limit on multipart completion, aborting the upload on any failure.

:func:`document_store` is the configured store of documents (``DOSSIER_DOCUMENT_STORE``).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlparse

from dossiers.core.config import settings
from dossiers.core.errors import CannotRun, NotFound
from dossiers.core.pipeline import Behind
from dossiers.core.s3 import S3_CONN_ID, endpoint_of, s3_client

#: The size of the chunks ``get`` yields.
READ_CHUNK = 1 << 20
#: Chunks queued for the local store's writing thread at most (sealed segments, ~1 MiB).
WRITE_DEPTH = 4
#: The local store starts writing an object's pages to disk every this many bytes.
FLUSH_EVERY = 64 << 20


class _Flusher:
    """Starts the disk writing of what a file has so far, on a thread of its own, every
    :data:`FLUSH_EVERY` bytes (``fdatasync`` of a large file at the end alone waits for all
    of it; during the writes it overlaps them). At most one flush runs at a time."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._next = FLUSH_EVERY
        self._running: threading.Thread | None = None
        self._error: OSError | None = None

    def _flush(self) -> None:
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            self._error = exc

    def written(self, size: int) -> None:
        if size < self._next or (self._running is not None and self._running.is_alive()):
            return
        self._next = size + FLUSH_EVERY
        self._running = threading.Thread(target=self._flush, name="object-flush", daemon=True)
        self._running.start()

    def join(self) -> None:
        if self._running is not None:
            self._running.join()

    def check(self) -> None:
        if self._error is not None:
            raise self._error


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
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                # The writes on a thread of their own, beside whatever makes the chunks
                # (sealing), and the written part flushed to disk as it grows, so the one
                # fsync at the end has only the tail left (issue 11).
                flusher = _Flusher(out.fileno())
                try:
                    with Behind(out.write, depth=WRITE_DEPTH, name="object-write") as writer:
                        for chunk in chunks:  # never changed once passed: no copy
                            writer.feed(chunk)
                            size += len(chunk)
                            flusher.written(size)
                    out.flush()
                finally:
                    flusher.join()  # before the file is closed, whatever happened
                flusher.check()
                os.fsync(out.fileno())
            os.replace(tmp, path)
            # Durable once its name is: the rename is an entry of the folder, on disk only
            # when the folder is synced (and a new folder's own entry, when its parent is).
            _fsync_folder(path.parent)
            if new_folder:
                _fsync_folder(path.parent.parent)
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
