"""Document benchmarks (issue 11, Art. 18): a large file's add and get, and many small adds.

Each measured call runs in a fresh Python process (this file, ``worker`` mode), so its peak
resident memory (``getrusage`` ``ru_maxrss``, imports included) is the figure the issue
bounds (< 200 MB); the baselines run in the same kind of process, in the same run:

* a large file (1 GiB; ``--document-mib``) added to and read back from the **local folder
  store**, beside ``cp`` of the same file; and from **S3** (moto's server on loopback, reached
  through the Airflow connection ``dossier_s3`` as in production), beside a plain boto3
  ``put_object`` / ``get_object`` streamed to a file, on the same server;
* 10,000 small documents (50 KB each; ``--small-documents``) added one transaction each
  to the local store, beside a plain copy of each file (``shutil.copyfile``) in a process.

The measured calls are the documents layer's own (``dossiers.documents.adding.add`` and
``reading.get`` + ``reading.save``, as the archivist of a real dossier, with its ledger
entries, filing clock and access log). Every file starts with a PDF header, so it passes the
sniffed-type check; every small file differs, so none is refused as a duplicate. ``cp`` does
not fsync, the local store does (a document is durable when ``add`` returns).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness import Context, Result

HERE = Path(__file__).resolve()
READ_CHUNK = 1 << 20
PDF_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
THROUGHPUT_TARGET = 0.5  # add and get at least half the plain copy's throughput
RSS_LIMIT_MB = 200.0  # peak memory of the adding / reading process
ARCHIVIST = "bench.archive"
BUCKET = "dossier-bench-documents"


# --- the worker: one measured call in a fresh process -------------------------------------

def _peak_rss_mb() -> float:
    """This process's peak resident memory: ``VmHWM`` of its own address space. (After
    ``fork``/``exec``, ``getrusage``'s ``ru_maxrss`` still holds the parent's high-water mark,
    so a small child would report the benchmark driver's memory.)"""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(READ_CHUNK):
            yield chunk


def layer_available() -> bool:
    """Whether the documents layer is in this checkout (else the core-only fallback runs)."""
    import importlib.util

    return importlib.util.find_spec("dossiers.documents") is not None


def _core_key() -> bytes:
    return hashlib.sha256(b"documents benchmark, core only").digest()


def _worker_core(op: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Before the documents layer: its core, ``seal_stream`` into the store and back."""
    from dossiers.core.objects import object_store
    from dossiers.core.segments import open_stream, seal_stream

    store = object_store(spec["store"])
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    if op == "get":
        key = spec["document_id"]
        with open(spec["output"], "wb") as fh:
            for plain in open_stream(store.get(key), _core_key(), key.encode()):
                fh.write(plain)
    else:
        paths = [Path(spec["file"])] if op == "add" else sorted(Path(spec["folder"]).iterdir())
        for path in paths:
            key = uuid.uuid4().hex
            store.put(key, seal_stream(_chunks(path), _core_key(), key.encode()))
            out.setdefault("document_id", key)
        out["count"] = len(paths)
    out["seconds"] = time.perf_counter() - t0
    return out


def _worker(op: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run one operation; return its seconds and this process's peak RSS (and its output)."""
    out: dict[str, Any] = {}
    if op in ("add", "add-many", "get") and not layer_available():
        out = _worker_core(op, spec)
    elif op in ("add", "add-many", "get"):
        from dossiers.core import db, directory
        from dossiers.core.crypto import KeyRing
        from dossiers.core.objects import object_store
        from dossiers.documents import adding, reading

        store = object_store(spec["store"])
        keys = KeyRing()
        engine = db.get_engine()  # once, as the API's workers hold theirs
        with db.transaction(engine) as conn:
            actor = directory.load_actor(conn, spec["actor"])
        t0 = time.perf_counter()
        if op == "get":
            with db.transaction(engine) as conn:
                download = reading.get(conn, keys, actor, uuid.UUID(spec["document_id"]),
                                       object_store=store)
            reading.save(download, Path(spec["output"]))
        else:
            paths = [Path(spec["file"])] if op == "add" else sorted(Path(spec["folder"]).iterdir())
            ids = []
            for path in paths:
                with db.transaction(engine) as conn:
                    added = adding.add(conn, keys, actor, spec["dossier_no"], name=path.name,
                                       chunks=_chunks(path), document_type=spec["type"],
                                       object_store=store)
                ids.append(added.document_id)
            out["document_id"] = ids[0]
            out["count"] = len(ids)
        out["seconds"] = time.perf_counter() - t0
    elif op in ("plain-put", "plain-get", "plain-upload-file"):
        import boto3

        s3 = boto3.client("s3", endpoint_url=spec["endpoint"], region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
        t0 = time.perf_counter()
        if op == "plain-put":
            with open(spec["file"], "rb") as body:
                s3.put_object(Bucket=BUCKET, Key="plain/object", Body=body)
        elif op == "plain-upload-file":  # boto3's managed transfer: multipart, 10 threads
            s3.upload_file(spec["file"], BUCKET, "plain/managed")
        else:
            answer = s3.get_object(Bucket=BUCKET, Key="plain/object")["Body"]
            with open(spec["output"], "wb") as fh:
                for chunk in answer.iter_chunks(READ_CHUNK):
                    fh.write(chunk)
        out["seconds"] = time.perf_counter() - t0
    elif op == "plain-copy-many":
        target = Path(spec["output"])
        target.mkdir(parents=True, exist_ok=True)
        paths = sorted(Path(spec["folder"]).iterdir())
        t0 = time.perf_counter()
        for path in paths:
            shutil.copyfile(path, target / path.name)
        out["seconds"] = time.perf_counter() - t0
        out["count"] = len(paths)
    else:
        raise SystemExit(f"unknown worker operation {op}")
    out["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    return out


def _profiled_worker(op: str, spec: dict[str, Any]) -> dict[str, Any]:
    """:func:`_worker` under cProfile (``--profile``): the stats saved to ``spec["profile"]``
    and the top of them printed to stderr (the worker's stdout carries its result)."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return _worker(op, spec)
    finally:
        profiler.disable()
        profiler.dump_stats(spec["profile"])
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(30)
        print(f"--- profile of worker {op} (saved to {spec['profile']}) ---\n{out.getvalue()}",
              file=sys.stderr)


def run_worker(op: str, **spec: Any) -> dict[str, Any]:
    """Run :func:`_worker` in a fresh process (after an ``os.sync``, so no earlier step's
    dirty pages are written during this one)."""
    os.sync()
    done = subprocess.run([sys.executable, str(HERE), "worker", op, json.dumps(spec)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker {op} failed: {done.stderr.strip()[-2000:]}")
    if "profile" in spec:
        print(done.stderr, file=sys.stderr)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def timed_cp(source: Path, target: Path, *, durable: bool = False) -> float:
    """Seconds of ``cp`` (with ``durable``, then ``sync`` of the copy, as the store fsyncs)."""
    os.sync()
    t0 = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    if durable:
        subprocess.run(["sync", str(target)], check=True)
    return time.perf_counter() - t0


# --- data and surroundings ----------------------------------------------------------------

def write_pdf_like(path: Path, size: int) -> str:
    """A file of ``size`` bytes that sniffs as PDF (random after the header); its SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        left = size
        head = PDF_HEADER[:left]
        fh.write(head)
        digest.update(head)
        left -= len(head)
        while left > 0:
            block = os.urandom(min(left, 8 << 20))
            fh.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    for chunk in _chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 on a free loopback port, and ``dossier_s3`` pointing at it meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    before = os.environ.get("AIRFLOW_CONN_DOSSIER_S3")
    os.environ["AIRFLOW_CONN_DOSSIER_S3"] = json.dumps({
        "conn_type": "aws", "login": "test", "password": "test",
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait for the port, not a fixed time
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(10)
        if before is None:
            os.environ.pop("AIRFLOW_CONN_DOSSIER_S3", None)
        else:
            os.environ["AIRFLOW_CONN_DOSSIER_S3"] = before


def _dossiers(n: int) -> list[str]:
    """A company (as the other benchmarks build it), an archivist and ``n`` created dossiers
    (one per store, so the same content is no duplicate within a dossier)."""
    from datetime import datetime, timedelta

    import formsdata
    from cases import LIAISONS, _company

    from dossiers.core import db, directory
    from dossiers.core.config import SHANGHAI
    from dossiers.core.crypto import KeyRing
    from dossiers.intake.service import import_file
    from dossiers.workflows import creation, staff

    boss = _company()
    with db.transaction() as conn:
        staff.add(conn, boss, ARCHIVIST, "customer_service", ["archivist"],
                  # Art. 19: reads. Signed yesterday: staff.add compares it with the UTC
                  # date, which is a day behind Shanghai's from 16:00 UTC.
                  datetime.now(SHANGHAI).date() - timedelta(days=1), agreement_ref="NDA-bench")
    forms = formsdata.write_forms(Path(os.environ["DOSSIER_HOME"]) / "documents-form.csv", n,
                                  LIAISONS, datetime.now(SHANGHAI).date())
    import_file(forms.path, acting_user=boss)
    from sqlalchemy import text

    numbers = []
    with db.transaction() as conn:
        pending = conn.execute(text("SELECT id, department FROM form ORDER BY id")).all()
    for form_id, department in pending:
        with db.transaction() as conn:
            head = directory.load_actor(conn, f"bench.head.{department}")
            creation.review_form(conn, head, form_id, approve=True)
        with db.transaction() as conn:
            made = creation.create_dossier(conn, KeyRing(), directory.load_actor(conn, ARCHIVIST),
                                           form_id)
        numbers.append(str(made["dossier_no"]))
    return numbers


def _mib_s(size: int, seconds: float) -> float:
    return size / (1 << 20) / seconds


# --- the benchmark ------------------------------------------------------------------------

def bench_documents(ctx: Context) -> list[Result]:
    sizes = ctx.sizes
    big_size = sizes.document_mib << 20
    folder = ctx.tmp / "documents-bench"
    folder.mkdir(parents=True, exist_ok=True)
    big = folder / "proposal.pdf"
    print(f"  writing a {sizes.document_mib:,} MiB file", file=sys.stderr)
    digest = write_pdf_like(big, big_size)
    results: list[Result] = []
    with ctx.scratch.database("documents"), moto_server() as endpoint:
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test"
                     ).create_bucket(Bucket=BUCKET)
        layer = layer_available()
        numbers = _dossiers(3) if layer else ["-", "-", "-"]
        print(f"  measuring {'dossiers.documents' if layer else 'core seal_stream + ObjectStore'}",
              file=sys.stderr)
        label = f"{sizes.document_mib:,} MiB"
        stores = {"local folder": str(folder / "store"), "S3 (moto)": f"s3://{BUCKET}/documents"}
        for (where, location), dossier_no in zip(stores.items(), numbers, strict=False):
            print(f"  {label}: add and get, {where}", file=sys.stderr)
            who = {"actor": ARCHIVIST, "dossier_no": dossier_no, "type": "proposal"}
            added = run_worker("add", store=location, file=str(big), **who)
            output = folder / "back.pdf"
            got = run_worker("get", store=location, document_id=added["document_id"],
                             output=str(output), actor=ARCHIVIST)
            identical = sha256_of(output) == digest
            output.unlink()
            if where == "local folder":
                put_s = timed_cp(big, folder / "copy.pdf")
                get_s = timed_cp(folder / "copy.pdf", folder / "copy-back.pdf")
                plain = {"put": {"seconds": put_s}, "get": {"seconds": get_s}}
                baseline = "cp of the same file"
                for name in ("copy.pdf", "copy-back.pdf"):
                    (folder / name).unlink()
                durable_s = timed_cp(big, folder / "copy.pdf", durable=True)
                (folder / "copy.pdf").unlink()
                results.append(Result(  # the store fsyncs before add returns; cp does not
                    bench="documents", metric=f"add {label}, {where}",
                    value=_mib_s(big_size, added["seconds"]), unit="MiB/s",
                    baseline_label="cp of the same file, then sync of the copy",
                    baseline=_mib_s(big_size, durable_s),
                    notes={"baseline_seconds": round(durable_s, 2)}))
            else:
                plain = {"put": run_worker("plain-put", endpoint=endpoint, file=str(big)),
                         "get": run_worker("plain-get", endpoint=endpoint,
                                           output=str(folder / "plain-back.pdf"))}
                (folder / "plain-back.pdf").unlink()
                baseline = "plain boto3 put_object / get_object, same server"
                managed = run_worker("plain-upload-file", endpoint=endpoint, file=str(big))
                results.append(Result(
                    bench="documents", metric=f"add {label}, {where}",
                    value=_mib_s(big_size, added["seconds"]), unit="MiB/s",
                    baseline_label="boto3 upload_file (managed multipart, 10 threads), same server",
                    baseline=_mib_s(big_size, managed["seconds"]),
                    notes={"baseline_seconds": round(managed["seconds"], 2),
                           "baseline_peak_rss_mb": managed["peak_rss_mb"]}))
            for step, measured, check in (("add", added, "stored"),
                                          ("get", got, "byte-identical")):
                other = plain["put" if step == "add" else "get"]
                ratio_ok = (_mib_s(big_size, measured["seconds"])
                            >= THROUGHPUT_TARGET * _mib_s(big_size, other["seconds"]))
                results.append(Result(
                    bench="documents", metric=f"{step} {label}, {where}",
                    value=_mib_s(big_size, measured["seconds"]), unit="MiB/s",
                    baseline_label=f"{baseline} ({'put' if step == 'add' else 'get'})",
                    baseline=_mib_s(big_size, other["seconds"]),
                    target=f">= {THROUGHPUT_TARGET}x", ok=ratio_ok,
                    checks={check: identical if step == "get" else True},
                    notes={"seconds": round(measured["seconds"], 2),
                           "baseline_seconds": round(other["seconds"], 2)}))
                results.append(Result(
                    bench="documents", metric=f"peak RSS of {step} {label}, {where}",
                    value=measured["peak_rss_mb"], unit="MB",
                    baseline_label=("the plain boto3 process" if "peak_rss_mb" in other
                                    else f"limit {RSS_LIMIT_MB:.0f} MB"),
                    baseline=other.get("peak_rss_mb", RSS_LIMIT_MB),
                    target=f"< {RSS_LIMIT_MB:.0f} MB", ok=measured["peak_rss_mb"] < RSS_LIMIT_MB))
        who = {"actor": ARCHIVIST, "dossier_no": numbers[2], "type": "minutes"}
        results.append(_small_documents(ctx, folder, who, layer))
    shutil.rmtree(folder, ignore_errors=True)
    return results


def _small_documents(ctx: Context, folder: Path, who: dict[str, str], layer: bool) -> Result:
    n, size = ctx.sizes.small_documents, ctx.sizes.small_document_bytes
    small = folder / "small"
    small.mkdir()
    print(f"  writing {n:,} files of {size:,} bytes", file=sys.stderr)
    for i in range(n):
        write_pdf_like(small / f"minutes-{i:05d}.pdf", size)
    copied = run_worker("plain-copy-many", folder=str(small), output=str(folder / "small-copy"))
    print(f"  adding {n:,} documents", file=sys.stderr)
    profile = {"profile": str(ctx.results_dir / "documents-add-many.prof")} if ctx.profile else {}
    if profile:
        ctx.results_dir.mkdir(parents=True, exist_ok=True)
    added = run_worker("add-many", store=str(folder / "small-store"), folder=str(small), **who,
                       **profile)
    recorded = n + 2
    if layer:
        from sqlalchemy import text

        from dossiers.core import db

        with db.transaction() as conn:
            recorded = conn.execute(text("SELECT count(*) FROM dossier_file")).scalar_one()
    return Result(
        bench="documents", metric=f"add {n:,} documents of {size // 1000} KB, local folder",
        value=added["count"] / added["seconds"], unit="documents/s",
        baseline_label="shutil.copyfile of each file", baseline=copied["count"] / copied["seconds"],
        checks={f"{n:,} documents recorded": added["count"] == n and recorded == n + 2},
        notes={"measured": "dossiers.documents" if layer else "core seal_stream + ObjectStore",
               "seconds": round(added["seconds"], 2), "baseline_seconds": round(copied["seconds"], 2),
               "peak_rss_mb": added["peak_rss_mb"]})


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    _spec = json.loads(sys.argv[3])
    print(json.dumps((_profiled_worker if "profile" in _spec else _worker)(sys.argv[2], _spec)))
