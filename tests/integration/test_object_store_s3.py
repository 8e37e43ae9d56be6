"""The S3 document store on a real S3 API (moto's server on loopback), reached through the
Airflow connection ``dossier_s3`` in the environment, as in production (Art. 18).

A sealed document of several segments and several multipart parts comes back byte for
byte; an interrupted upload leaves neither an object nor a dangling multipart upload (and
an object already under the key untouched); an unreachable S3 is one clear, retry-safe error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from dossiers.core import objects
from dossiers.core.errors import CannotRun, NotFound
from dossiers.core.objects import PART_SIZE, S3ObjectStore, document_store, object_store
from dossiers.core.segments import SEGMENT_SIZE, open_stream, seal_stream

from helpers import free_port, s3_connection

KEY = bytes(range(32))


def _pieces(data: bytes, size: int = 300_001) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_a_sealed_document_of_many_segments_and_parts_comes_back_whole(
        s3_bucket: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> None:
    s3, bucket = s3_bucket
    monkeypatch.setenv("DOSSIER_DOCUMENT_STORE", f"s3://{bucket}/documents")
    store = document_store()
    assert isinstance(store, S3ObjectStore) and store.location == f"s3://{bucket}/documents"
    plain = os.urandom(2 * PART_SIZE + 3 * SEGMENT_SIZE + 12345)  # 3 parts, 20 segments

    written = store.put("3f/3fa9c0", seal_stream(_pieces(plain), KEY, b"doc-1"))

    assert written == store.size("3f/3fa9c0")
    assert s3.head_object(Bucket=bucket, Key="documents/3f/3fa9c0")["ContentLength"] == written
    back = b"".join(open_stream(store.get("3f/3fa9c0"), KEY, b"doc-1"))
    assert back == plain
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_an_object_beyond_one_puts_limit_goes_as_a_multipart_upload(
        s3_bucket: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> None:
    s3, bucket = s3_bucket
    monkeypatch.setattr(objects, "SINGLE_PUT_UP_TO", 2 * PART_SIZE)
    store = object_store(f"s3://{bucket}/documents")
    plain = os.urandom(2 * PART_SIZE + 3 * SEGMENT_SIZE + 12345)

    written = store.put("mp", seal_stream(_pieces(plain), KEY, b"doc-mp"))

    head = s3.head_object(Bucket=bucket, Key="documents/mp")
    assert head["ContentLength"] == written and head["ETag"].endswith('-3"')  # three parts
    assert b"".join(open_stream(store.get("mp"), KEY, b"doc-mp")) == plain
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_small_object_is_one_put(s3_bucket: tuple[Any, str]) -> None:
    s3, bucket = s3_bucket
    store = object_store(f"s3://{bucket}")
    assert store.put("a1", [b"%PDF-1.7 ", b"tiny"]) == 13
    assert s3.get_object(Bucket=bucket, Key="a1")["Body"].read() == b"%PDF-1.7 tiny"
    assert store.put("empty", []) == 0 and b"".join(store.get("empty")) == b""


def test_an_interrupted_upload_leaves_no_object_and_no_dangling_upload(
        s3_bucket: tuple[Any, str]) -> None:
    s3, bucket = s3_bucket
    store = object_store(f"s3://{bucket}/documents")
    store.put("k1", [b"the version before"])

    def cut_off() -> Iterator[bytes]:  # two whole parts reach S3, then the client dies
        yield os.urandom(2 * PART_SIZE + 1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.put("k1", cut_off())
    with pytest.raises(ConnectionResetError):
        store.put("k2", _raising(ConnectionResetError("network gone"), 3 * PART_SIZE))

    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert sorted(store.keys()) == ["k1"]
    assert b"".join(store.get("k1")) == b"the version before"  # whole-or-nothing
    with pytest.raises(NotFound, match="object k2 is missing"):
        store.get("k2")


def _raising(exc: BaseException, after: int) -> Iterator[bytes]:
    yield os.urandom(after)
    raise exc


def test_keys_lists_the_stores_objects_and_only_them(s3_bucket: tuple[Any, str]) -> None:
    s3, bucket = s3_bucket
    s3.put_object(Bucket=bucket, Key="reports/other", Body=b"not a document")
    store = object_store(f"s3://{bucket}/documents")
    for key in ("ab/1", "ab/2", "cd/3"):
        store.put(key, [key.encode()])
    assert sorted(store.keys()) == ["ab/1", "ab/2", "cd/3"]
    store.delete("ab/2")
    store.delete("ab/2")  # deleting what is gone is no error
    assert sorted(store.keys()) == ["ab/1", "cd/3"]
    with pytest.raises(NotFound, match="object ab/2 is missing from the store s3://"):
        store.size("ab/2")


def test_an_unreachable_s3_is_one_clear_retry_safe_error(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_DOSSIER_S3", s3_connection(endpoint))
    store = object_store("s3://dossier-documents/documents")
    expected = (f"object store s3://dossier-documents/documents: writing k: cannot reach S3 at "
                f"{endpoint} .*safe to retry")
    with pytest.raises(CannotRun, match=expected):
        store.put("k", [b"x" * 10])
    with pytest.raises(CannotRun, match=expected):
        store.put("k", _raising(AssertionError("never reached"), 2 * PART_SIZE))
    with pytest.raises(CannotRun, match="reading k: cannot reach S3"):
        store.get("k")
    with pytest.raises(CannotRun, match="listing the keys: cannot reach S3"):
        list(store.keys())


def test_a_missing_bucket_is_named(s3_bucket: tuple[Any, str]) -> None:
    store = object_store("s3://no-such-dossier-bucket/documents")
    with pytest.raises(CannotRun, match="the bucket no-such-dossier-bucket does not exist"):
        store.put("k", [b"x"])
