"""The monthly off-site copy (Art. 18): the newest verified full backup shipped to S3.

Through the Airflow amazon provider's connection ``dossier_s3`` (:func:`dossiers.core.s3.
s3_client`); ``DOSSIER_BACKUP_OFFSITE`` names ``s3://bucket/prefix`` (the bucket created with
Object Lock). Each file goes up with boto3's managed transfer (multipart above 8 MiB) and
server-side encryption; its Object Lock retention (compliance mode) is then **applied with
put_object_retention and read back with get_object_retention** for every object — moto's
server drops the lock headers of multipart uploads, and real S3 is not trusted blindly
either — and every object is downloaded again and hash-checked. The manifest goes last.

A file larger than :data:`SEGMENT` (the database file) goes up as a sequence of segment
objects with opaque keys (``<backup>/segments/<random>``), each with the same encryption and
retention, and a small index object (``<file>`` + :data:`INDEX_SUFFIX`) listing them in
order with their sizes and SHA-256. The segments are pipelined: while the next segments
upload, each one uploaded is locked, its retention and bytes read back and its hash
compared with the one computed locally (:data:`READ_BACKS` at once, so the read-back keeps
up with the upload) — so the read-back costs about one segment's GET after the upload
instead of a GET of the whole file.
:func:`fetch` reassembles the file from the index and names every segment missing, altered
or out of place. Each object's S3 version is recorded in the ledger with what was shipped
(:class:`Shipped`), and read back at that version.

A backup's small objects (the key ring's backup, the manifest, the index) travel beside the
segments rather than before or after them (:func:`_ship_backup`); the manifest is uploaded
once every other object of its backup is, and the backup counts as shipped only once every
object (segment, index, manifest) has been locked and read back.

The key ring's backup goes to its own prefix (``<prefix>/keyring/``) locked only for
``keyring_backup_keep_days``, shorter than ``destruction_complete_days``: a destroyed data
key leaves the off-site copies too (crypto-shredding, Art. 17).

Any S3 failure is a :class:`CannotRun` naming the endpoint (the DAG task retries); the
catalogue marks the backup off-site only after every object was read back.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dossiers.backups import catalogue, manifest
from dossiers.core import clock, db, directory, ledger, policy
from dossiers.core.errors import CannotRun, NotFound, Refused
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.s3 import endpoint_of, s3_client
from dossiers.core.schema import backup
from dossiers.core.vocabulary import LedgerAction

LOCK_MODE = "COMPLIANCE"
SSE = "AES256"
PART = 8 << 20
#: A file larger than this goes off-site as segments of this size (a multiple of PART):
#: its read-back overlaps the upload of the next segments (measured: see BENCHMARKS.md).
SEGMENT = 64 << 20
#: Suffix of the index object listing a segmented file's segments.
INDEX_SUFFIX = ".offsite-segments.json"
#: Sub-prefix of a backup's segment objects (their own names are random).
SEGMENTS = "segments"
#: Segments read back at once (each a GET and a hash) while the next ones upload: one fell
#: behind the upload, leaving several segments to read back after it (measured: see
#: BENCHMARKS.md).
READ_BACKS = 2
#: Chunk of the read-back stream.
READ_BACK_CHUNK = 8 << 20
#: A GetObjectRetention answer longer than this is not a retention (see
#: :func:`_retention_answers_only`).
RETENTION_ANSWER_MAX = 64 << 10


def offsite_location() -> str:
    location = os.environ.get("DOSSIER_BACKUP_OFFSITE") or ""
    if not location.startswith("s3://") or not urlparse(location).netloc:
        raise CannotRun("DOSSIER_BACKUP_OFFSITE must name the off-site store as "
                        "s3://bucket/prefix (Art. 18)")
    return location.rstrip("/")


def _split(location: str) -> tuple[str, str]:
    parsed = urlparse(location)
    return parsed.netloc, parsed.path.strip("/")


def _failed(client: Any, doing: str, exc: BaseException) -> CannotRun:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
    reason = f"S3 answered {code}" if code else f"cannot reach S3 at {endpoint_of(client)} " \
                                                f"({exc.__class__.__name__})"
    return CannotRun(f"off-site copy: {doing}: {reason}; the month is not marked done, retry")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _transfer_config(submissions: int | None = None) -> Any:
    """The managed transfer's settings: ``upload_file``'s own defaults (10 threads) with
    PART-sized parts, as the benchmark's baseline uses; ``submissions`` bounds the
    transfers prepared at once (s3transfer's ``max_submission_concurrency``)."""
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
    if submissions is not None:
        config.max_submission_concurrency = submissions
    return config


def _extra_args(until: datetime) -> dict[str, Any]:
    return {"ServerSideEncryption": SSE, "ObjectLockMode": LOCK_MODE,
            "ObjectLockRetainUntilDate": until}


def _read_back(client: Any, bucket: str, key: str, until: datetime, local: Any,
               size: int, name: str) -> dict[str, Any]:
    """Lock the uploaded object, read its lock and its bytes back, compare with ``local``
    (a future of the local SHA-256) and ``size``; returns what was checked.

    The GET that reads the bytes back also answers for the object's encryption, length and
    (where the endpoint has no GetObjectRetention) lock, as a HEAD would: one round trip
    fewer per object, the same fields read back from S3."""
    client.put_object_retention(Bucket=bucket, Key=key, Retention={
        "Mode": LOCK_MODE, "RetainUntilDate": until})
    head = client.get_object(Bucket=bucket, Key=key)
    digest, read = hashlib.sha256(), 0
    for chunk in head["Body"].iter_chunks(READ_BACK_CHUNK):
        digest.update(chunk)
        read += len(chunk)
    retention, read_back = read_retention(client, bucket, key, head)
    local_hex = local.result()
    retained = retention["RetainUntilDate"]
    if retention.get("Mode") != LOCK_MODE or retained is None or \
            retained < until.replace(microsecond=0):
        raise CannotRun(f"off-site copy: {key} holds retention {retention}, not {LOCK_MODE} "
                        f"until {until.isoformat()}: the bucket needs Object Lock")
    if head.get("ServerSideEncryption") != SSE:
        raise CannotRun(f"off-site copy: {key} is not encrypted at rest ({SSE})")
    if digest.hexdigest() != local_hex or read != size or head["ContentLength"] != size:
        raise CannotRun(f"off-site copy: {key} read back differs from {name}")
    return {"key": key, "size": head["ContentLength"], "sha256": local_hex,
            "retain_until": retained.isoformat(), "mode": retention["Mode"],
            "read_back": read_back, "version_id": head.get("VersionId")}


def ship_file(client: Any, bucket: str, key: str, path: Path, until: datetime, *,
              then: Callable[[], None] | None = None) -> dict[str, Any]:
    """Upload, lock, read the lock back, read the object back; returns what was checked.

    The file is read twice locally and once back from S3, never held whole: boto3's managed
    upload (the same transfer settings as a plain ``upload_file``) while a thread hashes the
    file, then the object streamed back and hashed. A file larger than :data:`SEGMENT` goes
    as segments (:func:`_ship_segments`). ``then`` is called once every byte of the file is
    uploaded, before the read-back (what waits for this object's upload starts there).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    size = path.stat().st_size
    if size > SEGMENT:
        return _ship_segments(client, bucket, key, path, until, size, then=then)
    with ThreadPoolExecutor(1, thread_name_prefix="offsite-local-hash") as hasher:
        local_hash = hasher.submit(file_sha256, path)  # hashlib releases the GIL: runs alongside
        try:
            client.upload_file(str(path), bucket, key, ExtraArgs=_extra_args(until),
                               Config=_transfer_config())
            if then is not None:
                then()
            return _read_back(client, bucket, key, until, local_hash, size, str(path))
        except (BotoCoreError, ClientError) as exc:
            raise _failed(client, f"shipping {path.name}", exc) from None


class _Slice:
    """Bytes ``[start, start + size)`` of a file as a seekable file object of their own
    (what boto3's managed upload takes); never reads outside them."""

    def __init__(self, path: Path, start: int, size: int) -> None:
        self._file = path.open("rb")
        self._start, self._size, self._pos = start, size, 0
        self._file.seek(start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, min(self._size, base + offset))
        self._file.seek(self._start + self._pos)
        return self._pos

    def read(self, amount: int | None = -1) -> bytes:
        left = self._size - self._pos
        data = self._file.read(left if amount is None or amount < 0 else min(amount, left))
        self._pos += len(data)
        return data

    def close(self) -> None:
        self._file.close()


def _ranges(size: int, segment: int) -> list[tuple[int, int]]:
    return [(start, min(segment, size - start)) for start in range(0, size, segment)]


def _ship_segments(client: Any, bucket: str, key: str, path: Path, until: datetime,
                   size: int, *, then: Callable[[], None] | None = None) -> dict[str, Any]:
    """Ship ``path`` as segment objects, pipelined, and the index listing them.

    Every segment is handed to one transfer manager with ``upload_file``'s settings (10
    threads, PART-sized parts) and a single submission thread, so its parts go up in the
    file's order and segment k is complete while k + 1 uploads; as each one completes it is
    locked and its retention and bytes read back (:func:`_read_back`, :data:`READ_BACKS` at
    once) against the hash a local thread computed. Memory stays bounded: the manager holds
    at most ``max_in_memory_upload_chunks`` (10) parts read ahead, each read-back one
    :data:`READ_BACK_CHUNK`. Once every segment is uploaded the index (the segments' keys,
    sizes and local hashes) is shipped like any small object while the last read-backs
    run, and ``then`` is called when its bytes are uploaded; the file counts as shipped
    only once the index and every segment have been read back and match.
    """
    from boto3.s3.transfer import create_transfer_manager
    from botocore.exceptions import BotoCoreError, ClientError

    folder = key.rsplit("/", 1)[0]
    ranges = _ranges(size, SEGMENT)
    keys = [f"{folder}/{SEGMENTS}/{uuid.uuid4().hex}" for _ in ranges]
    whole = hashlib.sha256()

    def local_hash(start: int, length: int) -> str:  # in order, on one thread
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            handle.seek(start)
            left = length
            while left and (chunk := handle.read(min(1 << 20, left))):
                digest.update(chunk)
                whole.update(chunk)
                left -= len(chunk)
        return digest.hexdigest()

    slices = [_Slice(path, start, length) for start, length in ranges]
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="offsite-local-hash") as hasher, \
                ThreadPoolExecutor(READ_BACKS, thread_name_prefix="offsite-read-back") as readers:
            local = [hasher.submit(local_hash, start, length) for start, length in ranges]
            checks: list[Future[dict[str, Any]]] = []
            try:
                with create_transfer_manager(
                        client, _transfer_config(submissions=1)) as manager:
                    uploads = [manager.upload(piece, bucket, k, extra_args=_extra_args(until))
                               for piece, k in zip(slices, keys, strict=True)]
                    for n, (upload, (_, length)) in enumerate(zip(uploads, ranges,
                                                                   strict=True)):
                        upload.result()
                        slices[n].close()
                        checks.append(readers.submit(
                            _read_back, client, bucket, keys[n], until, local[n], length,
                            f"{path} segment {n + 1}"))
                        _raise_first_failure(checks)
                listed = [{"n": n + 1, "key": k, "size": length, "sha256": h.result()}
                          for n, (k, (_, length), h) in enumerate(zip(keys, ranges, local,
                                                                      strict=True))]
                index = {"file": path.name, "size": size, "sha256": whole.hexdigest(),
                         "segments": listed}
                with tempfile.TemporaryDirectory(prefix="dossier-offsite-") as scratch:
                    index_path = Path(scratch) / (path.name + INDEX_SUFFIX)
                    index_path.write_text(json.dumps(index, indent=1))
                    shipped = ship_file(client, bucket, key + INDEX_SUFFIX, index_path, until,
                                        then=then)
                segments = [{"n": n + 1, **check.result()} for n, check in enumerate(checks)]
            except (BotoCoreError, ClientError) as exc:
                readers.shutdown(cancel_futures=True)
                raise _failed(client, f"shipping {path.name}", exc) from None
            except BaseException:
                readers.shutdown(cancel_futures=True)
                raise
    finally:
        for piece in slices:
            piece.close()
    return {**shipped, "file": path.name, "size": size, "sha256": index["sha256"],
            "segments": segments}


def _raise_first_failure(checks: list[Future[dict[str, Any]]]) -> None:
    """Raise the error of a read-back that already failed (the upload stops there)."""
    for check in checks:
        if check.done() and check.exception() is not None:
            check.result()


class _Answer:
    """A short response body for :func:`_retention_answers_only` (what botocore reads)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _retention_answers_only(client: Any) -> None:
    """Make ``GetObjectRetention`` on ``client`` read a retention, never an object's bytes.

    An endpoint that does not implement the call may answer it as a plain GET (moto 5.2's
    server sends the whole object with a 500): botocore would read all of it and parse it
    as an XML error, once per retry (measured: 36 s for a 200 MiB object, four times the
    upload). A retention is a few hundred bytes of XML; a longer answer is dropped unread
    and reported as ``NotImplemented``, so :func:`read_retention` reads the object's lock
    from the object's own headers instead.
    """
    from botocore.awsrequest import AWSResponse

    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    if session is None:  # another botocore: leave the call as it is
        return

    def before_send(request: Any, **_: Any) -> Any:
        response = session.send(request)
        length = response.headers.get("Content-Length")
        if (length is not None and int(length) <= RETENTION_ANSWER_MAX) or (
                length is None and "xml" in response.headers.get("Content-Type", "")):
            return response
        response.raw.close()  # unread: the connection is not reused
        return AWSResponse(request.url, 501, {"Content-Type": "application/xml"}, _Answer(
            b"<Error><Code>NotImplemented</Code><Message>GetObjectRetention answered with "
            b"an object's bytes</Message></Error>"))

    client.meta.events.register("before-send.s3.GetObjectRetention", before_send,
                                unique_id="dossier-retention-answers-only")


#: Endpoints seen answering GetObjectRetention with something else than a retention: their
#: objects' retention is read from the object's headers without asking again (per process).
_NO_RETENTION_CALL: set[str] = set()
#: Endpoints seen answering it with a retention.
_RETENTION_CALL_ANSWERED: set[str] = set()
#: Held while an endpoint not yet seen is asked: objects read back at once (segments beside
#: the key ring's small objects) wait for that first answer instead of each asking.
_RETENTION_PROBE = threading.Lock()


def read_retention(client: Any, bucket: str, key: str,
                   head: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The object's retention as S3 reports it: ``GetObjectRetention``; where the endpoint
    does not answer that call (moto 5.2's server returns the object's bytes to it), the
    lock fields of ``head`` (the object's ``HeadObject`` or ``GetObject`` answer), which
    report the same retention. Either way it is read back from S3, never taken from what
    was sent.

    An endpoint that did not answer is remembered: the call costs such an endpoint the
    work of sending the whole object (seconds for a large one), so :func:`ship` starts with
    the small key-ring backup's objects, and objects read back meanwhile wait for the first
    answer (:data:`_RETENTION_PROBE`)."""
    from botocore.exceptions import ClientError

    endpoint = endpoint_of(client)
    probing = endpoint not in _RETENTION_CALL_ANSWERED
    with _RETENTION_PROBE if probing else nullcontext():
        if endpoint not in _NO_RETENTION_CALL:
            _retention_answers_only(client)
            try:
                retention = client.get_object_retention(Bucket=bucket, Key=key)["Retention"]
                _RETENTION_CALL_ANSWERED.add(endpoint)
                return retention, "get_object_retention"
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("500", "InternalError",
                                                                     "NotImplemented"):
                    raise
            _NO_RETENTION_CALL.add(endpoint)
    return ({"Mode": head.get("ObjectLockMode"),
             "RetainUntilDate": head.get("ObjectLockRetainUntilDate")},
            "the object's headers (GetObjectRetention not answered by this endpoint)")


def _files(folder: Path) -> list[Path]:
    """A backup folder's files but its manifest (and hidden scratch), in name order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != manifest.MANIFEST
                  and not p.name.startswith("."))


def _ship_folder(client: Any, bucket: str, prefix: str, folder: Path,
                 until: datetime) -> list[dict[str, Any]]:
    shipped = [ship_file(client, bucket, f"{prefix}/{folder.name}/{p.name}", p, until)
               for p in _files(folder)]
    shipped.append(ship_file(client, bucket, f"{prefix}/{folder.name}/{manifest.MANIFEST}",
                             folder / manifest.MANIFEST, until))  # last
    return shipped


def _ship_backup(client: Any, bucket: str, prefix: str, folder: Path, until: datetime,
                 keyring: tuple[str, Path, datetime] | None = None,
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Ship a backup folder (and ``keyring``: the key ring's backup's prefix, folder and
    retention); returns what was checked of each, in file order, the manifests last.

    The large files (over :data:`SEGMENT`) go as segments on this thread; meanwhile one
    thread ships the small objects — the key ring's backup first (its first object finds
    out how retention reads back: :func:`read_retention`), then the backup's other small
    files — and, once every other object of the backup is uploaded (the last large file's
    index included), the backup's manifest. Every object is locked and read back before
    this returns.
    """
    files = _files(folder)
    large = [p for p in files if p.stat().st_size > SEGMENT]
    manifest_job: list[Future[dict[str, Any]]] = []
    with ThreadPoolExecutor(1, thread_name_prefix="offsite-small") as small:
        keyring_job = small.submit(_ship_folder, client, bucket, *keyring) if keyring else None
        jobs = {p: small.submit(ship_file, client, bucket, f"{prefix}/{folder.name}/{p.name}",
                                p, until) for p in files if p not in large}

        def ship_manifest() -> None:  # on the same thread: after the small files too
            manifest_job.append(small.submit(
                ship_file, client, bucket, f"{prefix}/{folder.name}/{manifest.MANIFEST}",
                folder / manifest.MANIFEST, until))

        segmented = {p: ship_file(client, bucket, f"{prefix}/{folder.name}/{p.name}", p, until,
                                  then=ship_manifest if p == large[-1] else None)
                     for p in large}
        if not large:
            ship_manifest()
        shipped = [segmented[p] if p in segmented else jobs[p].result() for p in files]
        shipped.append(manifest_job[0].result())
        keyring_shipped = keyring_job.result() if keyring_job is not None else []
    return shipped, keyring_shipped


def ship(url: str, who: Actor | str | None, backup_id: str | None = None, *,
         location: str | None = None) -> dict[str, Any]:
    """Ship the newest verified full backup (or ``backup_id``) and its key-ring backup."""
    location = location or offsite_location()
    bucket, prefix = _split(location)
    engine = db.get_engine(url)
    with db.transaction(engine) as conn:
        actor = who if isinstance(who, Actor) else directory.load_actor(conn, who)
        authorize(conn, actor, Action.BACKUP_RUN, subject="backup offsite")
        backup_id = backup_id or catalogue.newest(conn, verified=True)
        row = catalogue.get(conn, backup_id)
        if row is None:
            raise NotFound("no such backup in the catalogue", record=f"backup {backup_id}")
        keyring_row = catalogue.get(conn, row["keyring_backup_id"] or "")
    rules = policy.policy()
    now = clock.now().astimezone(UTC)
    until = (now + timedelta(days=int(rules.backup_offsite_lock_days))).replace(microsecond=0)
    keyring_until = (now + timedelta(days=int(rules.keyring_backup_keep_days))).replace(microsecond=0)
    client = s3_client()
    keyring = None if keyring_row is None else (
        f"{prefix}/keyring".strip("/"), Path(keyring_row["location"]), keyring_until)
    shipped, keyring_shipped = _ship_backup(client, bucket, f"{prefix}/full".strip("/"),
                                            Path(row["location"]), until, keyring)
    uri = f"s3://{bucket}/{prefix + '/' if prefix else ''}full/{backup_id}"
    with db.transaction(engine) as conn:
        conn.execute(backup.update().where(backup.c.id == backup_id).values(
            offsite_uri=uri, offsite_at=clock.now(), offsite_retain_until=until))
        ledger.append(conn, ledger.Entry(
            actor.username, LedgerAction.BACKUP_OFFSITE, "backup", backup_id,
            details={"uri": uri, "objects": len(shipped) + len(keyring_shipped),
                     "retain_until": until.isoformat(), "mode": LOCK_MODE,
                     "keyring_retain_until": keyring_until.isoformat(),
                     **Shipped.of(shipped).as_details(),
                     "keyring_objects": Shipped.of(keyring_shipped).as_details()}))
    return {"backup_id": backup_id, "uri": uri, "objects": shipped, "keyring": keyring_shipped,
            "retain_until": until.isoformat(), "keyring_retain_until": keyring_until.isoformat()}


@dataclass(frozen=True)
class Shipped:
    """What the ledger recorded of an off-site copy when it was shipped (the
    ``backup.offsite`` entry): each file of the backup's folder by name, ``[size, sha256]``,
    each segmented file's segments, ``[key, size, sha256]`` in order, and each object's S3
    version by key. :func:`fetch` reads those versions, the ones locked when they were
    shipped, so a new version written over one later (locked in its turn, so nobody can
    delete it) neither stops a restore nor slips into it. An entry written before the
    versions were recorded is held against the files and segments instead: a listing
    rewritten in the bucket (a new version of an index or a manifest, consistent with
    itself) is caught and named there, not trusted. The ledger, hash-chained and anchored,
    is the record of what went off-site."""

    files: dict[str, list[Any]]
    segments: dict[str, list[list[Any]]]
    versions: dict[str, str]

    @classmethod
    def of(cls, shipped: list[dict[str, Any]]) -> Shipped:
        """From what :func:`_ship_backup` returns (a segmented file is named by ``file``,
        its size and hash the whole file's, its key and version its index's; any other
        object by its key's last part)."""
        objects = [*shipped, *(g for o in shipped for g in o.get("segments", ()))]
        return cls({o.get("file") or o["key"].rsplit("/", 1)[-1]: [o["size"], o["sha256"]]
                    for o in shipped},
                   {o["file"]: [[g["key"], g["size"], g["sha256"]] for g in o["segments"]]
                    for o in shipped if "segments" in o},
                   {o["key"]: o["version_id"] for o in objects if o.get("version_id")})

    @classmethod
    def from_details(cls, details: dict[str, Any]) -> Shipped:
        """From a ledger entry's details (an entry written before the files were recorded
        has only the segments: then only they are held against the copy)."""
        return cls(details.get("files") or {}, details.get("segments") or {},
                   details.get("versions") or {})

    @classmethod
    def nothing(cls) -> Shipped:
        """No record: the newest version of every object is read, held against nothing."""
        return cls({}, {}, {})

    def as_details(self) -> dict[str, Any]:
        return {"files": self.files, "segments": self.segments, "versions": self.versions}

    def version(self, key: str) -> dict[str, str]:
        """The arguments that read ``key`` as shipped (none when its version is not
        recorded: then its newest version is read)."""
        found = self.versions.get(key)
        return {"VersionId": found} if found else {}

    def problems(self, folder: Path, uri: str, reassembled: set[str]) -> list[str]:
        """Each file fetched into ``folder`` that is not the one shipped, or missing. The
        ``reassembled`` files are not read again: their segments were held against
        :attr:`segments` as they came."""
        if not self.files:
            return []
        found, recorded = {p.name for p in folder.iterdir() if p.is_file()}, set(self.files)
        problems = [f"{name} is missing off-site (the ledger records it shipped to {uri})"
                    for name in sorted(recorded - found)]
        problems += [f"{name} was not shipped with this copy (the ledger does not list it)"
                     for name in sorted(found - recorded)]
        checked_by_segment = reassembled & set(self.segments)
        for name in sorted((found & recorded) - checked_by_segment):
            size, sha256 = self.files[name]
            have = (folder / name).stat().st_size, file_sha256(folder / name)
            if have != (size, sha256):
                problems.append(f"{name} differs from what was shipped: {have[0]} bytes, "
                                f"SHA-256 {have[1][:16]}…; the ledger records {size} bytes, "
                                f"{sha256[:16]}…")
        return problems


class OffsiteCopyDamaged(Refused):
    """The off-site copy read back does not match its own listing (Art. 18): a segment
    missing, altered or out of place. Not retried: the copy itself is wrong."""


def _fetch_segmented(client: Any, bucket: str, index_key: str, folder: Path,
                     shipped: Shipped) -> list[str]:
    """Reassemble the file an index object lists into ``folder``; returns the problems,
    one per segment missing, altered or out of place (each named), or with the whole. When
    ``shipped`` (the ledger's record) lists segments, an index that lists others is refused
    before any of them is read."""
    from botocore.exceptions import ClientError

    index = json.loads(client.get_object(Bucket=bucket, Key=index_key,
                                         **shipped.version(index_key))["Body"].read())
    listed = index["segments"]
    name = str(index["file"])
    if name.startswith(".") or index_key.rsplit("/", 1)[-1] != name + INDEX_SUFFIX:
        return [f"{index_key} names no file of a backup ({name!r})"]
    if shipped.segments:
        recorded = shipped.segments.get(name)
        if recorded != [[s["key"], s["size"], s["sha256"]] for s in listed]:
            return [f"{index_key} lists other segments for {name} than the ledger recorded "
                    "when it was shipped: the index was rewritten off-site"]
    by_hash = {s["sha256"]: s["n"] for s in listed}
    problems: list[str] = []
    whole = hashlib.sha256()
    total = len(listed)
    with (folder / name).open("wb") as out:
        for position, segment in enumerate(listed, start=1):
            what = f"{name}: segment {position} of {total} ({segment['key']})"
            if segment["n"] != position:
                problems.append(f"{what} is listed out of order (as {segment['n']})")
            try:
                body = client.get_object(Bucket=bucket, Key=segment["key"],
                                         **shipped.version(segment["key"]))["Body"]
            except ClientError as exc:
                if not _missing(exc):
                    raise
                problems.append(f"{what} is missing off-site")
                continue
            digest, size = hashlib.sha256(), 0
            for chunk in body.iter_chunks(READ_BACK_CHUNK):
                digest.update(chunk)
                whole.update(chunk)
                size += len(chunk)
                out.write(chunk)
            found = digest.hexdigest()
            if found == segment["sha256"] and size == segment["size"]:
                continue
            if found in by_hash:
                problems.append(f"{what} holds segment {by_hash[found]}'s bytes: out of order")
            else:
                problems.append(f"{what} was altered: {size} bytes, SHA-256 {found[:16]}…, "
                                f"listed {segment['size']} bytes, {segment['sha256'][:16]}…")
    if not problems and (whole.hexdigest() != index["sha256"]
                         or (folder / name).stat().st_size != index["size"]):
        problems.append(f"{name}: the reassembled file differs from its listing")
    return problems


def _missing(exc: Any) -> bool:
    """A ClientError saying the object (or the version asked for) is not there."""
    return exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchVersion", "404")


def _listed_keys(client: Any, bucket: str, prefix: str) -> Iterator[str]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                 Prefix=prefix + "/"):
        yield from (item["Key"] for item in page.get("Contents", []))


def fetch(uri: str, into: Path, shipped: Shipped | None = None) -> Path:
    """Download the off-site backup folder at ``uri`` into ``into``; returns its folder.

    With ``shipped`` (the ledger's record of the shipment) the objects it records are read,
    each at the version it records (:class:`Shipped`); without, or for an entry older than
    the versions, the objects listed under ``uri`` now. A segmented file is reassembled
    from its index (:func:`_fetch_segmented`); a segment missing, altered or out of place
    raises :class:`OffsiteCopyDamaged` naming each one, as does, with ``shipped``, any file
    or index that is not what was shipped. Segments no index lists (left by an interrupted,
    retried shipment: locked, so never deleted) are not read."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = _split(uri)
    client = s3_client()
    folder = into / prefix.rsplit("/", 1)[-1]
    folder.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    reassembled: set[str] = set()
    shipped = shipped or Shipped.nothing()
    try:
        keys = sorted(shipped.versions) or _listed_keys(client, bucket, prefix)
        for key in keys:
            name = key[len(prefix) + 1:]
            if not key.startswith(prefix + "/") or "/" in name:  # a segment: read through its index
                continue
            try:
                if name.endswith(INDEX_SUFFIX):
                    problems += _fetch_segmented(client, bucket, key, folder, shipped)
                    reassembled.add(name.removesuffix(INDEX_SUFFIX))
                else:
                    client.download_file(bucket, key, str(folder / name),
                                         ExtraArgs=shipped.version(key))
            except ClientError as exc:
                if not _missing(exc):  # a recorded object gone: named by Shipped.problems
                    raise
    except (BotoCoreError, ClientError) as exc:
        raise _failed(client, f"reading {uri}", exc) from None
    if not problems:
        problems = shipped.problems(folder, uri, reassembled)
    if problems:
        raise OffsiteCopyDamaged("; ".join(problems), record=uri)
    if not any(folder.iterdir()):
        raise NotFound(f"nothing off-site at {uri}", record="backup")
    return folder


def listed_versions(uri: str) -> list[dict[str, Any]]:
    """Every object version and delete marker under ``uri`` (S3's listing, each key's
    newest first; ``DeleteMarker`` says which)."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = _split(uri)
    client = s3_client()
    found: list[dict[str, Any]] = []
    try:
        for page in client.get_paginator("list_object_versions").paginate(
                Bucket=bucket, Prefix=prefix + "/"):
            found += [{**v, "DeleteMarker": False} for v in page.get("Versions", [])]
            found += [{**v, "DeleteMarker": True} for v in page.get("DeleteMarkers", [])]
    except (BotoCoreError, ClientError) as exc:
        raise _failed(client, f"listing the versions under {uri}", exc) from None
    return found


def unrecorded_versions(uri: str, shipped: Shipped) -> list[str]:
    """Each object version under ``uri`` that ``shipped`` does not record: a version written
    over a shipped object, an object added, or one left by an earlier or interrupted
    shipment. :func:`fetch` does not read them; the off-site drill names them, since
    nothing else of ours writes there."""
    if not shipped.versions:
        return []
    return sorted(f"{v['Key']} (version {v['VersionId']}, {v['LastModified'].isoformat()})"
                  for v in listed_versions(uri)
                  if shipped.versions.get(v["Key"]) != v["VersionId"])


def read_version(uri: str, name: str, version_id: str) -> bytes:
    """The bytes of object ``name`` of the copy at ``uri``, at version ``version_id``."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = _split(uri)
    client = s3_client()
    try:
        return bytes(client.get_object(Bucket=bucket, Key=f"{prefix}/{name}",
                                       VersionId=version_id)["Body"].read())
    except (BotoCoreError, ClientError) as exc:
        raise _failed(client, f"reading {name} (version {version_id}) of {uri}", exc) from None


def copies_at(location: str) -> list[str]:
    """The addresses of the full backups' copies in the off-site store ``location``
    (``s3://bucket/prefix``), newest first (a backup's id begins with when it was taken);
    none when it cannot be listed."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = _split(location)
    under = f"{prefix}/full/".lstrip("/")
    try:
        pages = s3_client().get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=under, Delimiter="/")
        ids = [p["Prefix"][len(under):].rstrip("/") for page in pages
               for p in page.get("CommonPrefixes", [])]
    except (BotoCoreError, ClientError):
        return []
    return [f"s3://{bucket}/{under}{i}" for i in sorted(ids, reverse=True)]


def keyring_uri(backup_uri: str, keyring_backup_id: str) -> str:
    return backup_uri.rsplit("/full/", 1)[0] + f"/keyring/{keyring_backup_id}"
