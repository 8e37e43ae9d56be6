"""The benchmarks of the issue; each returns its :class:`~harness.Result` list.

Each one builds its own data in its own scratch database (see :class:`harness.Scratch`)
and measures a bare baseline of the same work in the same database and the same run.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import formsdata
from harness import Context, Result, Stopwatch, libpq_url, peak_rss_mib
from sqlalchemy import Connection, Engine, text

REPO = Path(__file__).resolve().parents[1]
IMPORT_TARGET = 1.5  # import_file within 1.5x of its two limits: the rules alone + the forms COPY
DAG_BUDGET_S = 0.3  # a DAG file may add 0.3 s to `import airflow.sdk`


@contextmanager
def profiled(ctx: Context, name: str) -> Iterator[None]:
    """Run the block under cProfile when ``--profile`` is given; print and save the stats."""
    if not ctx.profile:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        ctx.results_dir.mkdir(parents=True, exist_ok=True)
        target = ctx.results_dir / f"{name}.prof"
        profiler.dump_stats(target)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(25)
        print(f"\n--- profile of {name} (saved to {target}) ---\n{out.getvalue()}", file=sys.stderr)


def _owner_execute(url: str, *statements: str) -> None:
    """Run DDL as the database owner (the app role may not create tables)."""
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


# --- import -----------------------------------------------------------------------------

LIAISONS = [("bench.wang", "market"), ("bench.li", "market"), ("bench.sun", "planning"),
            ("bench.zhou", "execution"), ("bench.lin", "customer_service")]


def _company() -> str:
    """A small company through ``dossiers.workflows.staff.add``: heads and five liaisons.

    Returns the CS head, who files the benchmark's forms: the rows go round liaisons of four
    departments, and only the CS head may file forms for any department (Art. 6(2))."""
    from dossiers.core import db
    from dossiers.workflows import staff

    boss = "bench.chen"
    with db.transaction() as conn:
        staff.add(conn, None, boss, "customer_service", ["cs_head"])
        for department in ("market", "planning", "execution"):
            staff.add(conn, boss, f"bench.head.{department}", department, ["dept_head"])
        for username, department in LIAISONS:
            staff.add(conn, boss, username, department, ["liaison"])
    return boss


def _copy_baseline(url: str, path: Path, columns: tuple[str, ...]) -> tuple[float, int]:
    """Seconds to COPY the same CSV file into a bare all-text table, and the rows copied."""
    import psycopg

    _owner_execute(url, "CREATE TABLE bench_copy ({})".format(
        ", ".join(f'"{c}" text' for c in columns)))
    with psycopg.connect(libpq_url(url)) as conn:
        with Stopwatch() as sw:
            data = path.read_bytes()
            with conn.cursor() as cur:
                cols = ", ".join(f'"{c}"' for c in columns)
                with cur.copy(f"COPY bench_copy ({cols}) FROM STDIN (FORMAT csv, HEADER true)") as cp:
                    cp.write(data)
            conn.commit()
        row = conn.execute("SELECT count(*) FROM bench_copy").fetchone()
    return sw.seconds, int(row[0]) if row else 0


def _rules_only(rows: list[tuple[int, dict[str, object]]],
                context: tuple[set[str], Any]) -> list[int]:
    """The collection-form rules alone over a chunk (what a worker of the import runs, less
    the preparation for storage); returns the rows refused, to check that none was."""
    from dossiers.intake.rules import validate_row

    liaisons, today = context
    return [row for row, raw in rows
            if validate_row(row, raw, known_liaisons=liaisons, today=today)[1]]


def _rules_limit(path: Path, liaisons: set[str], today: Any) -> tuple[float, int, int]:
    """Seconds to run the rules alone over the file's rows, on the import's worker pool
    (:func:`dossiers.intake.service.checked_chunks`: same chunks, same processes, both
    cores); the rows checked and refused. Reading the file is not timed."""
    from dossiers.intake.reader import read_form_file
    from dossiers.intake.service import checked_chunks

    rows = read_form_file(path).rows
    refused = 0
    with Stopwatch() as sw:
        for chunk in checked_chunks(rows, (liaisons, today), check=_rules_only):
            refused += len(chunk)
    return sw.seconds, len(rows), refused


def _forms_copy_limit(url: str) -> tuple[float, int]:
    """Seconds to COPY the forms the import wrote (exported from ``form`` beforehand, not
    timed) into a copy of the real forms table: its columns, checks, indexes and foreign
    keys (``LIKE form INCLUDING ALL`` plus the same FOREIGN KEY constraints); the rows."""
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        fks = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'form'::regclass AND contype = 'f' ORDER BY conname").fetchall()
        conn.execute("CREATE TABLE bench_form (LIKE form INCLUDING ALL)")
        for name, definition in fks:
            conn.execute(f'ALTER TABLE bench_form ADD CONSTRAINT "bench_{name}" {definition}')
        data = bytearray()
        with conn.cursor().copy("COPY form TO STDOUT") as out:
            for block in out:
                data += block
    with psycopg.connect(libpq_url(url)) as conn:
        with Stopwatch() as sw:
            with conn.cursor().copy("COPY bench_form FROM STDIN") as cp:
                cp.write(data)
            conn.commit()
        row = conn.execute("SELECT count(*) FROM bench_form").fetchone()
    return sw.seconds, int(row[0]) if row else 0


def bench_import(ctx: Context) -> list[Result]:
    """``import_file`` of N valid rows, beside its two limits measured in the same run: the
    collection-form rules alone over the same rows on both cores, and a COPY of the same
    forms into a copy of the forms table with its indexes and foreign keys. Also beside COPY
    of the same file into a bare text table (the earlier baseline, no target)."""
    n = ctx.sizes.import_rows
    with ctx.scratch.database("import") as url:
        from dossiers.core import db, ledger
        from dossiers.core.config import SHANGHAI
        from dossiers.intake.service import import_file

        acting = _company()
        today = datetime.now(SHANGHAI).date()
        with Stopwatch() as gen:
            forms = formsdata.write_forms(ctx.tmp / "forms.csv", n, LIAISONS, today)
        print(f"  generated {n:,} rows ({forms.size_bytes / 2**20:.1f} MiB) in {gen.seconds:.1f} s",
              file=sys.stderr)
        copy_s, copied = _copy_baseline(url, forms.path, forms.columns)
        print(f"  COPY of the CSV into a bare table: {copy_s:.2f} s", file=sys.stderr)
        rss_before = peak_rss_mib()
        try:
            with Stopwatch() as sw, profiled(ctx, "import"):
                report = import_file(forms.path, acting_user=acting)
        except Exception as exc:  # a failure is a result too: show it beside the baseline
            print(f"  import_file FAILED after {sw.seconds:.2f} s: {exc.__class__.__name__}",
                  file=sys.stderr)
            return [_import_result(n, 0.0, copied / copy_s, {"import_file completes": False},
                                   {"error": _first_line(exc), "failed_after_seconds":
                                    round(sw.seconds, 3), "copy_seconds": round(copy_s, 3)})]
        print(f"  import_file: {sw.seconds:.2f} s", file=sys.stderr)
        with db.transaction() as conn:
            count_forms = conn.execute(text("SELECT count(*) FROM form")).scalar_one()
            count_submit = conn.execute(text(
                "SELECT count(*) FROM ledger_entry WHERE action = 'form.submit'")).scalar_one()
            with Stopwatch() as vsw:
                verification = ledger.verify(conn)
            liaisons = set(conn.execute(text(
                "SELECT username FROM staff WHERE active")).scalars())
        rules_s, rules_rows, rules_refused = _rules_limit(forms.path, liaisons, today)
        print(f"  rules alone on the import's worker pool: {rules_s:.2f} s", file=sys.stderr)
        forms_copy_s, forms_copied = _forms_copy_limit(url)
        print(f"  COPY of the same forms into form's copy (indexes, FKs): {forms_copy_s:.2f} s",
              file=sys.stderr)
    checks = {
        "import_file completes": True,
        f"all {n:,} rows accepted, none rejected":
            len(report["accepted"]) == n and not report["rejected"],
        f"{n:,} forms stored": count_forms == n,
        f"{n:,} ledger entries form.submit": count_submit == n,
        "ledger verifies": verification.ok,
        f"COPY loaded {n:,} rows": copied == n,
        f"rules alone checked {n:,} rows, refused none": rules_rows == n and not rules_refused,
        f"forms COPY loaded {n:,} forms": forms_copied == n,
    }
    limits = rules_s + forms_copy_s
    notes = {"import_seconds": round(sw.seconds, 3), "copy_seconds": round(copy_s, 3),
             "rules_alone_seconds": round(rules_s, 3),
             "forms_copy_seconds": round(forms_copy_s, 3),
             "limits_seconds": round(limits, 3),
             "import_over_limits": round(sw.seconds / limits, 3),
             "file_mib": round(forms.size_bytes / 2**20, 1), "columns": len(forms.columns),
             "liaisons": len(LIAISONS), "ledger_entries_checked": verification.entries_checked,
             "verify_seconds_after_import": round(vsw.seconds, 3),
             "peak_rss_mib_before": rss_before, "peak_rss_mib_after": peak_rss_mib(),
             "rejected": report["rejected"][:5], "warnings": report["warnings"],
             "profiled": ctx.profile}
    return [
        Result(bench="import", metric=f"import_file, {n:,} rows", value=sw.seconds, unit="s",
               baseline_label=f"rules alone, 2 cores ({rules_s:.1f} s) + COPY of the same "
                              f"forms into form with indexes, FKs ({forms_copy_s:.1f} s)",
               baseline=limits, target=f"<= {IMPORT_TARGET:.2f}x",
               ok=sw.seconds <= IMPORT_TARGET * limits, checks=checks, notes=notes),
        _import_result(n, n / sw.seconds, copied / copy_s, {}, {}),
    ]


def _import_result(n: int, rate: float, copy_rate: float, checks: dict[str, bool],
                   notes: dict[str, Any]) -> Result:
    return Result(
        bench="import", metric=f"import_file, {n:,} rows", value=rate, unit="rows/s",
        baseline_label="COPY same CSV into bare text table", baseline=copy_rate,
        checks=checks, notes=notes)


def _first_line(exc: BaseException, limit: int = 300) -> str:
    """The exception's class and first line, clipped (SQL errors quote every parameter)."""
    line = (str(exc).strip().splitlines() or [""])[0]
    return f"{exc.__class__.__name__}: {line[:limit]}"


# --- numbering --------------------------------------------------------------------------


def _concurrently(engine: Engine, workers: int, each: int,
                  op: Callable[[Connection], Any]) -> tuple[float, list[Any]]:
    """``workers`` threads, each on its own connection, run ``op`` ``each`` times, every
    call in its own transaction. Returns the wall time from a common start, and the
    results of all calls."""
    started: list[float] = []
    barrier = threading.Barrier(workers, action=lambda: started.append(time.perf_counter()))

    def worker() -> list[Any]:
        out = []
        with engine.connect() as conn:
            barrier.wait()
            for _ in range(each):
                with conn.begin():
                    out.append(op(conn))
        return out

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(worker) for _ in range(workers)]
        results = [r for f in futures for r in f.result()]
    return time.perf_counter() - started[0], results


def bench_numbering(ctx: Context) -> list[Result]:
    """Concurrent ``numbering.allocate`` beside plain single-row INSERTs (same concurrency)."""
    workers, each = ctx.sizes.numbering_workers, ctx.sizes.numbering_per_worker
    total = workers * each
    year, type_code = 2026, "電商"
    with ctx.scratch.database("numbering") as url:
        from dossiers.core import db, numbering

        _owner_execute(
            url,
            "CREATE TABLE bench_plain_insert (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "dossier_id uuid NOT NULL)",
            "GRANT SELECT, INSERT ON bench_plain_insert TO dossier_app",
        )
        engine = db.get_engine()
        insert_sql = text("INSERT INTO bench_plain_insert (dossier_id) VALUES (:d) RETURNING id")

        def plain(conn: Connection) -> Any:
            return conn.execute(insert_sql, {"d": uuid.uuid4()}).scalar_one()

        def allocate(conn: Connection) -> str:
            return numbering.allocate(conn, year, type_code, uuid.uuid4())

        base_s, ids = _concurrently(engine, workers, each, plain)
        alloc_s, numbers = _concurrently(engine, workers, each, allocate)
        with db.transaction() as conn:
            serials = conn.execute(text(
                "SELECT serial FROM dossier_number WHERE year = :y AND type_code = :t"),
                {"y": year, "t": type_code}).scalars().all()
            counter = conn.execute(text(
                "SELECT last_serial FROM dossier_number_counter WHERE year = :y AND type_code = :t"),
                {"y": year, "t": type_code}).scalar_one()
    returned = sorted(int(m["serial"]) for number in numbers
                      if (m := numbering.NUMBER_PATTERN.match(number)))
    duplicates = len(numbers) - len(set(numbers))
    gaps = len(set(range(1, total + 1)) - set(serials))
    return [Result(
        bench="numbering",
        metric=f"allocate, {workers} threads x {each:,}", value=total / alloc_s, unit="allocs/s",
        baseline_label="plain 1-row INSERT, bigint identity", baseline=total / base_s,
        checks={
            "zero duplicates": duplicates == 0 and len(serials) == len(set(serials)),
            f"zero gaps (serials 1..{total:,})": gaps == 0 and sorted(serials) == list(range(1, total + 1)),
            "returned numbers match the register": returned == sorted(serials),
            f"counter at {total:,}": counter == total,
            f"baseline wrote {total:,} rows": len(set(ids)) == total,
        },
        notes={"allocate_seconds": round(alloc_s, 3), "baseline_seconds": round(base_s, 3),
               "duplicates": duplicates, "gaps": gaps, "allocations": len(numbers),
               "first": numbering.format_number(year, type_code, returned[0]) if returned else None,
               "last": numbering.format_number(year, type_code, returned[-1]) if returned else None},
    )]


# --- ledger -----------------------------------------------------------------------------


def _entries(start: int, count: int) -> list[Any]:
    """Ledger entries shaped like intake's ``form.submit`` entries."""
    from dossiers.core.ledger import Entry

    departments = ("market", "planning", "execution", "customer_service")
    return [Entry(actor=LIAISONS[i % 5][0], action="form.submit", subject_type="form",
                  subject_id=str(uuid.uuid4()),
                  details={"file": f"forms-{i // 5000:04d}.csv", "row": i % 5000 + 2,
                           "client_type": ("電商", "外貿", "本土", "協會")[i % 4],
                           "stage": "active", "department": departments[i % 4],
                           "liaison": LIAISONS[i % 5][0], "review_due": "2026-12-01",
                           "review_due_provisional": False})
            for i in range(start, start + count)]


def bench_ledger(ctx: Context) -> list[Result]:
    """Build N entries with ``append_many``; time ``verify`` beside bare chained sha256."""
    import hashlib

    import psycopg

    n, batch = ctx.sizes.ledger_entries, ctx.sizes.ledger_batch
    with ctx.scratch.database("ledger") as url:
        from dossiers.core import db, ledger

        append = Stopwatch()
        done = 0
        while done < n:
            entries = _entries(done, min(batch, n - done))
            with append, db.transaction() as conn:
                ledger.append_many(conn, entries)
            done += len(entries)
        print(f"  appended {n:,} entries in {append.seconds:.1f} s", file=sys.stderr)

        with Stopwatch() as vsw, profiled(ctx, "ledger_verify"), db.transaction() as conn:
            verification = ledger.verify(conn)
        print(f"  verify: {vsw.seconds:.2f} s", file=sys.stderr)

        # Baseline: the same bodies, fetched once, hashed as the ledger chains them.
        with psycopg.connect(libpq_url(url)) as raw:
            rows = raw.execute(
                "SELECT seq, body, prev_hash, entry_hash FROM ledger_entry ORDER BY seq").fetchall()
        bodies = [body.encode() for _, body, _, _ in rows]
        sha256, prev = hashlib.sha256, ledger.GENESIS
        with Stopwatch() as hsw:
            for body in bodies:
                prev = sha256(prev + body).digest()
        same_head = verification.head == prev.hex()

        # Baseline of the append: COPY of the same rows into a bare table.
        _owner_execute(url, "CREATE TABLE bench_ledger_copy (seq bigint PRIMARY KEY, body text "
                            "NOT NULL, prev_hash bytea NOT NULL, entry_hash bytea NOT NULL)")
        with psycopg.connect(libpq_url(url)) as raw, Stopwatch() as csw:
            with raw.cursor().copy("COPY bench_ledger_copy FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
            raw.commit()
        del rows, bodies
    checks = {"ledger verifies": verification.ok,
              f"{n:,} entries checked": verification.entries_checked == n,
              "same head as the bare hash chain": same_head}
    return [
        Result(bench="ledger", metric=f"verify, {n:,} entries", value=n / vsw.seconds,
               unit="entries/s", baseline_label="bare sha256(prev + body) chain",
               baseline=n / hsw.seconds, checks=checks,
               notes={"verify_seconds": round(vsw.seconds, 3),
                      "sha256_seconds": round(hsw.seconds, 3), "profiled": ctx.profile}),
        Result(bench="ledger", metric=f"append_many, batches of {batch:,}", value=n / append.seconds,
               unit="entries/s", baseline_label="COPY same rows into bare table",
               baseline=n / csw.seconds,
               notes={"append_seconds": round(append.seconds, 3),
                      "copy_seconds": round(csw.seconds, 3), "batch": batch}),
    ]


# --- DAG parse --------------------------------------------------------------------------

_PARSE = """
import importlib.util, json, sys, time
path = sys.argv[1]
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
found = set()
if path:
    from airflow.sdk.definitions._internal.contextmanager import DagContext
    name = "bench_dag_" + str(abs(hash(path)))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    DagContext.current_autoregister_module_name = name  # as Airflow's importer does
    spec.loader.exec_module(module)
t2 = time.perf_counter()
if path:
    found = {id(v) for v in vars(module).values() if isinstance(v, airflow.sdk.DAG)}
    found |= {id(d) for d, _ in DagContext.autoregistered_dags}
print(json.dumps({"sdk": t1 - t0, "dag": t2 - t1, "dags": len(found)}))
"""


def _parse_once(path: str, env: dict[str, str]) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", _PARSE, path], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"parsing {path or 'airflow.sdk'} failed: {tail}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def bench_dags(ctx: Context) -> list[Result]:
    """For each file in dags/: ``import airflow.sdk``, then the file, in a fresh process."""
    dags_dir = REPO / "dags"
    files = sorted(p for p in dags_dir.glob("*.py") if p.name != "__init__.py")
    if not files:
        print("  no DAG files in dags/: nothing to measure", file=sys.stderr)
        return []
    home = ctx.tmp / "airflow-home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir),
           # Airflow puts the dags and plugins folders on sys.path (facts.md).
           "PYTHONPATH": os.pathsep.join([str(dags_dir), str(REPO / "plugins"),
                                          os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    _parse_once("", env)  # warm-up: first-run config files, bytecode of airflow itself
    results = []
    for path in files:
        _parse_once(str(path), env)  # warm-up: the DAG file's own bytecode
        runs = [_parse_once(str(path), env) for _ in range(ctx.sizes.dag_repeats)]
        sdk = statistics.median(r["sdk"] for r in runs)
        extra = statistics.median(r["dag"] for r in runs)
        results.append(Result(
            bench="dags", metric=f"parse {path.name} (beyond sdk)", value=extra, unit="s",
            baseline_label="import airflow.sdk", baseline=sdk,
            target=f"<= +{DAG_BUDGET_S:.1f} s", ok=extra <= DAG_BUDGET_S,
            checks={"defines a DAG": all(r["dags"] >= 1 for r in runs)},
            notes={"runs": runs, "budget_used": round(extra / DAG_BUDGET_S, 3)},
        ))
    return results


BENCHMARKS: dict[str, Callable[[Context], list[Result]]] = {
    "import": bench_import,
    "numbering": bench_numbering,
    "ledger": bench_ledger,
    "dags": bench_dags,
}


def _workflow_benchmarks() -> None:
    import workflows

    BENCHMARKS["creation"] = workflows.bench_creation


def _api_benchmarks() -> None:
    import api_read

    BENCHMARKS["api"] = api_read.bench_api


def _duty_benchmarks() -> None:
    import duties

    BENCHMARKS["duties"] = duties.bench_duties


def _document_benchmarks() -> None:
    import documents

    BENCHMARKS["documents"] = documents.bench_documents


_workflow_benchmarks()
_api_benchmarks()
_duty_benchmarks()
_document_benchmarks()


def _backup_benchmarks() -> None:
    import backups

    BENCHMARKS["backups"] = backups.bench_backups


_backup_benchmarks()
