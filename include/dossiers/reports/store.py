"""The report store: a local folder by default, S3 when ``DOSSIER_REPORT_STORE`` is
``s3://bucket/prefix``.

Objects are laid out as ``<root>/<kind>/<period>/<kind>-<period>.<ext>``; writing the same
name again replaces the object (one current version per kind, period and format, as the
``report`` table holds one row for each).

**S3 goes through the Airflow amazon provider's connection** ``dossier_s3``
(``AIRFLOW_CONN_DOSSIER_S3``; its ``extra`` may carry ``endpoint_url`` and ``region_name``
for an S3-compatible store such as the compose stack's MinIO), with the client the document
store uses too (:func:`dossiers.core.s3.s3_client`: built from the connection in the
environment, else by ``S3Hook``, which falls back to boto3's own credential chain). This
works outside a task too (the CLI, tests); boto3 is imported only when an S3 store is used.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlparse

from dossiers.core.config import settings
from dossiers.core.errors import CannotRun, NotFound
from dossiers.core.s3 import S3_CONN_ID, s3_client

if TYPE_CHECKING:
    from dossiers.reports.model import Report

CONTENT_TYPES = {"pdf": "application/pdf", "html": "text/html; charset=utf-8",
                 "zip": "application/zip", "csv": "text/csv; charset=utf-8"}


class Store(Protocol):
    location: str

    def put(self, key: str, data: bytes, content_type: str, sha256: str) -> str:
        """Write (or replace) the object; return its URI."""

    def get(self, uri: str) -> bytes:
        """Read an object of this store by its URI (``NotFound`` when missing)."""


def object_key(report: Report, filename: str) -> str:
    return f"{report.kind}/{report.period}/{filename}"


@dataclass(frozen=True)
class LocalStore:
    root: Path

    @property
    def location(self) -> str:
        return str(self.root)

    def put(self, key: str, data: bytes, content_type: str, sha256: str) -> str:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside it, then rename: a reader never sees half a report.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o640)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path.resolve().as_uri()

    def get(self, uri: str) -> bytes:
        parsed = urlparse(uri)
        path = Path(unquote(parsed.path)).resolve()
        if parsed.scheme != "file" or not path.is_relative_to(self.root.resolve()):
            raise NotFound(f"{uri} is not in the report store {self.root}", record="report")
        if not path.is_file():
            raise NotFound(f"{uri} is missing from the report store", record="report")
        return path.read_bytes()


@dataclass(frozen=True)
class S3Store:
    bucket: str
    prefix: str
    conn_id: str = S3_CONN_ID

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def client(self) -> Any:
        return s3_client(self.conn_id)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, content_type: str, sha256: str) -> str:
        full = self._key(key)
        self.client().put_object(Bucket=self.bucket, Key=full, Body=data, ContentType=content_type,
                                 Metadata={"sha256": sha256})
        return f"s3://{self.bucket}/{full}"

    def get(self, uri: str) -> bytes:
        from botocore.exceptions import ClientError

        parsed = urlparse(uri)
        key = parsed.path.lstrip("/")
        if parsed.scheme != "s3" or parsed.netloc != self.bucket or \
                not key.startswith(f"{self.prefix}/" if self.prefix else ""):
            raise NotFound(f"{uri} is not in the report store {self.location}", record="report")
        try:
            body: bytes = self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFound(f"{uri} is missing from the report store", record="report") from None
            raise CannotRun(f"report store {self.location}: {exc}") from None
        return body


def open_store(location: str | None = None) -> LocalStore | S3Store:
    """The configured store (``settings().report_store``) or the one at ``location``."""
    where = location or settings().report_store
    if where.startswith("s3://"):
        parsed = urlparse(where)
        if not parsed.netloc:
            raise CannotRun(f"DOSSIER_REPORT_STORE={where}: name a bucket (s3://bucket/prefix)")
        return S3Store(parsed.netloc, parsed.path.strip("/"))
    if "://" in where:
        raise CannotRun(f"DOSSIER_REPORT_STORE={where}: a folder or s3://bucket/prefix")
    return LocalStore(Path(where).expanduser())
