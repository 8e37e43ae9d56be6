"""Benchmarks of the dossier system, each figure beside a bare baseline from the same run.

``make bench`` (or ``.venv/bin/python bench/run.py``) runs them all at the sizes of the
issue; ``--quick`` divides every size by ten; ``--only NAME`` picks benchmarks; ``--profile``
runs the measured production call under cProfile (timings then include its overhead).

Every run builds its own data in scratch databases it creates and drops (on the machine's
PostgreSQL at 127.0.0.1:5432 when it answers, else an embedded server in a temp folder),
with its own temporary master key and ``DOSSIER_HOME``. The table goes to stdout and the
results to ``bench-results/latest.json``; progress goes to stderr. Exit status 1 when a
benchmark fails or a correctness check fails (with ``--strict``, also when a target is missed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import Context, Result, Scratch, Sizes, machine_info, prepare_environment

REPO = Path(__file__).resolve().parents[1]
NAMES = ("import", "numbering", "ledger", "dags", "creation", "api", "duties", "documents",
         "backups")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="every size divided by ten (smoke run)")
    parser.add_argument("--only", action="append", choices=NAMES, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(NAMES)}")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the measured call; stats to stderr and bench-results/*.prof")
    parser.add_argument("--import-rows", type=int, metavar="N",
                        help="rows of the import benchmark (default 100,000; 10,000 with --quick)")
    parser.add_argument("--duty-dossiers", type=int, metavar="N",
                        help="dossiers of the duties benchmark (default 1,000,000; 100,000 with --quick)")
    parser.add_argument("--document-mib", type=int, metavar="N",
                        help="MiB of the documents benchmark's large file (default 1,024; 102 with --quick)")
    parser.add_argument("--small-documents", type=int, metavar="N",
                        help="small documents to add (default 10,000; 1,000 with --quick)")
    parser.add_argument("--backup-dossiers", type=int, metavar="N",
                        help="dossiers of the backups benchmark (default 1,000,000; 100,000 with --quick)")
    parser.add_argument("--creation-forms", type=int, metavar="N",
                        help="forms of the creation benchmark (default 10,000; 1,000 with --quick)")
    parser.add_argument("--api-workers", type=int, metavar="N",
                        help="API server processes of the api benchmark (default: the "
                             "deployment's, dossiers.airflow.topology.API_WORKERS)")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when a figure misses its target too")
    parser.add_argument("--output", type=Path, default=REPO / "bench-results" / "latest.json",
                        help="where to write the JSON results (default: %(default)s)")
    return parser.parse_args(argv)


def _clip(text: str, limit: int = 400) -> str:
    """One line of at most *limit* characters (SQL errors can quote 100,000 parameters)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _short_traceback(exc: BaseException) -> str:
    return "\n".join(_clip(line.rstrip(), 300)
                     for chunk in traceback.format_exception(exc) for line in chunk.splitlines())


def _number(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        return f"{value:.2f} ms"
    return f"{value:,.0f} {unit}"


def _status(result: Result) -> str:
    if not all(result.checks.values()):
        return "CHECK FAILED"
    if result.ok is None:
        return "ok" if result.checks else "-"
    return "MEETS TARGET" if result.ok else "BELOW TARGET"


def format_table(results: list[Result]) -> str:
    """A plain-text table: figure, baseline, ratio, target, status; then the checks."""
    header = ("benchmark", "figure", "value", "baseline", "baseline value", "ratio", "target", "status")
    rows = [header] + [
        (r.bench, r.metric, "ERROR" if "error" in r.notes else _number(r.value, r.unit),
         r.baseline_label,
         _number(r.baseline, r.unit), f"{r.ratio:.3f}x", r.target or "-", _status(r))
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {2, 4, 5}
    lines = []
    for n, row in enumerate(rows):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    checks = [f"  [{'x' if ok else ' '}] {r.bench}: {name}"
              for r in results for name, ok in r.checks.items()]
    if checks:
        lines += ["", "checks:", *checks]
    lines += [f"  error in {r.bench}: {_clip(str(r.notes['error']))}" for r in results
              if "error" in r.notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    if args.import_rows:
        sizes = dataclasses.replace(sizes, import_rows=args.import_rows)
    if args.duty_dossiers:
        sizes = dataclasses.replace(sizes, duty_dossiers=args.duty_dossiers)
    if args.document_mib:
        sizes = dataclasses.replace(sizes, document_mib=args.document_mib)
    if args.backup_dossiers:
        sizes = dataclasses.replace(sizes, backup_dossiers=args.backup_dossiers)
    if args.creation_forms:
        sizes = dataclasses.replace(sizes, creation_forms=args.creation_forms)
    if args.small_documents:
        sizes = dataclasses.replace(sizes, small_documents=args.small_documents)
    if args.api_workers:
        sizes = dataclasses.replace(sizes, api_workers=args.api_workers)
    chosen = [n for n in NAMES if not args.only or n in args.only]
    results: list[Result] = []
    errors: dict[str, str] = {}
    started = time.perf_counter()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="dossier-bench-") as tmp_name:
        tmp = Path(tmp_name)
        prepare_environment(tmp)  # before any dossiers module reads its settings
        import cases  # imports dossiers lazily, inside the benchmarks

        scratch = Scratch(tmp)
        try:
            machine = machine_info(scratch)
            print(f"bench: {'quick' if args.quick else 'full'} run of {', '.join(chosen)} on "
                  f"PostgreSQL {machine['postgresql']['version']} ({scratch.kind}), "
                  f"{machine['nproc']} CPUs", file=sys.stderr)
            for name in chosen:
                print(f"bench: {name} ...", file=sys.stderr)
                ctx = Context(sizes=sizes, scratch=scratch, tmp=tmp,
                              results_dir=args.output.parent, profile=args.profile)
                t0 = time.perf_counter()
                try:
                    results += cases.BENCHMARKS[name](ctx)
                except Exception as exc:  # report it, run the others
                    print(_short_traceback(exc), file=sys.stderr)
                    errors[name] = _clip(f"{exc.__class__.__name__}: {exc}")
                print(f"bench: {name} took {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        finally:
            scratch.close()
    print(format_table(results))
    for name, error in errors.items():
        print(f"\nERROR in {name}: {error}")
    payload: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "mode": "quick" if args.quick else "full", "profiled": args.profile,
        "sizes": sizes.__dict__, "machine": machine, "seconds": round(time.perf_counter() - started, 1),
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "results": [r.as_dict() for r in results], "errors": errors,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nresults written to {args.output}")
    failed = errors or not all(all(r.checks.values()) for r in results)
    missed = any(r.ok is False for r in results)
    return 1 if failed or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
