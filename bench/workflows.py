"""Workflow benchmarks (issue 3): the creation flow, form by form, as people run it."""

from __future__ import annotations

import sys
import uuid
from datetime import datetime

import formsdata
from harness import Context, Result, Stopwatch, libpq_url
from sqlalchemy import text

ARCHIVIST = "bench.archive"
CS_REVIEWER = "bench.head.customer_service"
#: Issue 16: review -> create -> file at least a tenth of the bare baseline's rate.
TARGET_RATIO = 0.1


def bench_creation(ctx: Context) -> list[Result]:
    """N submitted forms through review -> create -> file, one transaction per step (three
    per form, as the department head and the archivist run them), beside the same number of
    transactions each inserting one row into a bare table."""
    import psycopg
    from cases import LIAISONS, _company, _owner_execute, profiled

    n = ctx.sizes.creation_forms
    with ctx.scratch.database("creation") as url:
        from dossiers.core import db, directory, ledger
        from dossiers.core.config import SHANGHAI
        from dossiers.core.crypto import KeyRing
        from dossiers.intake.service import import_file
        from dossiers.workflows import creation, staff

        acting = _company()
        with db.transaction() as conn:
            staff.add(conn, "bench.chen", ARCHIVIST, "customer_service", ["archivist"])
            # The CS head submitted every form, so may not review one (separation of
            # duties, Art. 11(2)): Customer Service's forms go to a department head of CS.
            staff.add(conn, "bench.chen", CS_REVIEWER, "customer_service", ["dept_head"])
        forms = formsdata.write_forms(ctx.tmp / "creation.csv", n, LIAISONS,
                                      datetime.now(SHANGHAI).date())
        report = import_file(forms.path, acting_user=acting)
        print(f"  {len(report['accepted']):,} forms submitted", file=sys.stderr)
        with db.transaction() as conn:
            pending = conn.execute(text("SELECT id, department FROM form ORDER BY submitted_at, id")
                                   ).all()
            heads = {d: directory.load_actor(conn, f"bench.head.{d}")
                     for d in ("market", "planning", "execution")}
            heads["customer_service"] = directory.load_actor(conn, CS_REVIEWER)
            archivist = directory.load_actor(conn, ARCHIVIST)
        keys = KeyRing()
        numbers = []
        with Stopwatch() as sw, profiled(ctx, "creation"):
            for form_id, department in pending:
                with db.transaction() as conn:
                    creation.review_form(conn, heads[department], form_id, approve=True)
                with db.transaction() as conn:
                    made = creation.create_dossier(conn, keys, archivist, form_id)
                with db.transaction() as conn:
                    creation.file_dossier(conn, archivist, uuid.UUID(made["dossier_id"]),
                                          cabinet=made["dossier_no"].split("-")[2], shelf=1)
                numbers.append(made["dossier_no"])
        print(f"  review -> create -> file: {sw.seconds:.1f} s", file=sys.stderr)

        _owner_execute(url, "CREATE TABLE bench_bare (id bigint, step int, at timestamptz)")
        with psycopg.connect(libpq_url(url), autocommit=True) as raw, Stopwatch() as bare:
            for i in range(len(pending)):
                for step in range(3):
                    raw.execute("INSERT INTO bench_bare VALUES (%s, %s, now())", (i, step))
        with db.transaction() as conn:
            filed = conn.execute(text("SELECT count(*) FROM dossier WHERE filed_at IS NOT NULL")
                                 ).scalar_one()
            volumes = conn.execute(text("SELECT count(DISTINCT (cabinet, shelf, position)) "
                                        "FROM paper_volume")).scalar_one()
            verification = ledger.verify(conn)
    done = len(pending)
    ratio = (done / sw.seconds) / (done / bare.seconds)
    return [Result(
        bench="creation", metric=f"review->create->file, {done:,} forms", value=done / sw.seconds,
        unit="forms/s", baseline_label="3 one-row INSERT transactions per form, bare table",
        baseline=done / bare.seconds,
        target=f"≥ {TARGET_RATIO}×", ok=ratio >= TARGET_RATIO,
        checks={f"all {n:,} forms submitted": len(report["accepted"]) == n,
                f"{done:,} dossiers filed": filed == done,
                "numbers unique": len(set(numbers)) == done,
                "one vault position per volume": volumes == done,
                "ledger verifies": verification.ok},
        notes={"workflow_seconds": round(sw.seconds, 2), "bare_seconds": round(bare.seconds, 2),
               "ms_per_form": round(1000 * sw.seconds / max(done, 1), 2),
               "ledger_entries": verification.entries_checked})]
