"""Duty benchmarks (issue 4) on a company of a million dossiers (``--quick``: 100,000).

One company is built (:mod:`dossierdata`) and every figure is measured on it, each beside a
hand-written SQL baseline from the same run and database:

- the full GX completeness validation beside one SQL statement computing the same
  per-dossier failures (target <= 1.25x);
- the monthly owner check end to end, as its DAG task runs it (GX, findings, mail to every
  liaison through a real SMTP server on loopback, Data Docs published) beside the same SQL
  pass (target <= 1.5x);
- the quarterly sample draw beside a stratified sample drawn by one SQL statement, and the
  sampling audit as a whole (stated);
- the monthly KPI scorecard beside one SQL statement computing the same counts.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import date, datetime
from typing import Any

import dossierdata
from harness import Context, Result, Stopwatch, libpq_url
from sqlalchemy import text

# Issue 16: GX at most 1.25x the hand-written SQL pass, the owner check at most 1.5x (issue 4
# asked for 2x of both).
GX_TARGET = 1.25
OWNER_CHECK_TARGET = 1.5
AS_OF = date(2026, 11, 2)  # the first working day of November 2026: the owner check's run
MONTH = (datetime(2026, 10, 1), datetime(2026, 11, 2))  # its data interval (Shanghai)
QUARTER_START = date(2026, 10, 1)


def bench_duties(ctx: Context) -> list[Result]:
    n = ctx.sizes.duty_dossiers
    with ctx.scratch.database("duties") as url:
        from dossiers.core.config import SHANGHAI

        print(f"  building a company of {n:,} dossiers ...", file=sys.stderr)
        company = dossierdata.build(libpq_url(url), n, as_of=AS_OF.isoformat())
        print(f"  {company.total_rows:,} rows in {company.seconds:.0f} s", file=sys.stderr)
        start, end = (moment.replace(tzinfo=SHANGHAI) for moment in MONTH)
        notes = {"dossiers": n, "rows": company.total_rows, "rows_by_table": company.rows,
                 "liaisons": company.liaisons, "build_seconds": round(company.seconds, 1)}
        results = _completeness(ctx, url, notes)
        sql_seconds = results[0].baseline
        results.append(_owner_check(ctx, url, start, end, sql_seconds, notes))
        results += _sampling(url, notes)
        results.append(_kpi(url))
    return results


def _completeness(ctx: Context, url: str, notes: dict[str, Any]) -> list[Result]:
    from dossiers.quality.completeness import run_completeness, sql_completeness

    sql_completeness(url)  # warm-up: the first pass reads the tables from disk
    with Stopwatch() as sql_sw:
        sql = sql_completeness(url)
    print(f"  SQL pass: {sql_sw.seconds:.1f} s, {len(sql.failures):,} failures", file=sys.stderr)
    with Stopwatch() as gx_sw:
        gx = run_completeness(url, context_dir=ctx.tmp / "gx-bench", data_docs=False)
    print(f"  GX: {gx_sw.seconds:.1f} s {gx.seconds}", file=sys.stderr)
    failing = len({f.dossier_id for f in sql.failures})
    notes.update(failures=len(sql.failures), dossiers_failing=failing)
    return [Result(
        bench="duties", metric=f"GX completeness, {notes['dossiers']:,} dossiers", value=gx_sw.seconds,
        unit="s", baseline_label="one hand-written SQL pass, same failures", baseline=sql_sw.seconds,
        target=f"<= {GX_TARGET}x", ok=gx_sw.seconds <= GX_TARGET * sql_sw.seconds,
        checks={"GX and SQL find the same (dossier, check) failures": gx.failures == sql.failures,
                "every check evaluated on the same dossiers": gx.evaluated == sql.evaluated,
                "some dossiers fail, most pass": 0 < failing < notes["dossiers"] / 2},
        notes={**notes, "gx_phases": {k: round(v, 2) for k, v in gx.seconds.items()}})]


def _owner_check(ctx: Context, url: str, start: datetime, end: datetime, sql_seconds: float,
                 notes: dict[str, Any]) -> Result:
    """``dossiers.duties.tasks.owner_check`` as the DAG's task calls it; Airflow's connections
    from the environment (``dossier_db``, ``dossier_smtp``), as a worker has them."""
    from cases import profiled

    from dossiers.duties import tasks
    from dossiers.local.local_airflow import airflow_env
    from dossiers.local.mailcatcher import MailCatcher

    # Once Airflow is imported its logging shows every INFO line: aiosmtpd logs each SMTP
    # command, GX each datasource it saves.
    for noisy in ("mail.log", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    saved = dict(os.environ)
    with MailCatcher(ctx.tmp / "owner-check-mail") as catcher:
        os.environ.update(airflow_env(url))
        os.environ.update(catcher.airflow_connection())
        # A worker runs the task in a process that has loaded Airflow's SDK already;
        # importing it here (2-7 s) is no part of the duty.
        import airflow.sdk  # noqa: F401
        try:
            with Stopwatch() as sw, profiled(ctx, "owner_check"):
                summary = tasks.owner_check(start, end)
            print(f"  owner check: {sw.seconds:.1f} s {summary}", file=sys.stderr)
            again = tasks.owner_check(start, end)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        mails = catcher.received
    from dossiers.core import db

    with db.transaction(db.get_engine(url)) as conn:
        findings = conn.execute(text("SELECT count(*) FROM finding WHERE duty = 'owner_check'")
                                ).scalar_one()
    return Result(
        bench="duties", metric=f"owner check end to end, {notes['dossiers']:,} dossiers",
        value=sw.seconds, unit="s", baseline_label="one hand-written SQL pass, same failures",
        baseline=sql_seconds, target=f"<= {OWNER_CHECK_TARGET}x",
        ok=sw.seconds <= OWNER_CHECK_TARGET * sql_seconds,
        checks={"every completeness failure of an open dossier is a finding":
                    summary["gaps"] == findings >= notes["failures"],
                "one e-mail per liaison notified": mails == summary["liaisons_notified"] > 0,
                "a second run of the month does nothing": "skipped" in again},
        notes={k: summary.get(k) for k in ("dossiers_checked", "dossiers_with_gaps", "gaps",
                                           "liaisons_notified", "sent", "completeness_seconds",
                                           "data_docs")})


_SQL_SAMPLE = """
SELECT department, client_type, count(*) FROM (
    SELECT department, client_type,
           row_number() OVER (PARTITION BY department, client_type
                              ORDER BY md5(id::text || :seed)) AS rn,
           count(*) OVER (PARTITION BY department, client_type) AS n
    FROM dossier WHERE status = 'open') s
WHERE rn <= greatest(1, ceil(:ratio * n))
GROUP BY department, client_type
"""


def _sampling(url: str, notes: dict[str, Any]) -> list[Result]:
    from dossiers.core import db
    from dossiers.core.policy import policy
    from dossiers.duties import sampling_audit
    from dossiers.duties.findings import Gap
    from dossiers.quality.completeness import sql_completeness

    engine = db.get_engine(url)
    with engine.connect() as conn, Stopwatch() as draw_sw:
        strata, _ = sampling_audit.open_strata(conn)
        sample = sampling_audit.draw(strata, 42)
    with engine.connect() as conn, Stopwatch() as sql_sw:
        by_sql = {(d, t): k for d, t, k in conn.execute(
            text(_SQL_SAMPLE), {"seed": "42", "ratio": policy().sampling_audit_ratio})}
    chosen = set(sample)
    by_draw = {key: len(chosen.intersection(members)) for key, members in strata.items()}
    gaps = [Gap(f.dossier_id, f.check_id, f.article, f.dimension, f.severity, f.check_id)
            for f in sql_completeness(url).failures]
    with db.transaction(engine) as conn, Stopwatch() as audit_sw:
        audit = sampling_audit.sampling_audit(conn, QUARTER_START, gaps, AS_OF, seed=42)
    print(f"  sample draw {draw_sw.seconds:.2f} s (SQL {sql_sw.seconds:.2f} s); sampling audit "
          f"{audit_sw.seconds:.1f} s: {audit['sample']:,} sampled, {audit['findings']:,} findings",
          file=sys.stderr)
    dossiers = notes["dossiers"]
    return [
        Result(bench="duties", metric=f"sample draw, {dossiers:,} dossiers", value=draw_sw.seconds,
               unit="s", baseline_label="stratified sample in one SQL statement",
               baseline=sql_sw.seconds,
               checks={"same sample size per stratum as the SQL draw": by_draw == by_sql,
                       "the audit draws the same sample": audit["sample"] == len(sample)},
               notes={"sample": len(sample), "strata": len(strata)}),
        Result(bench="duties", metric=f"sampling audit (draw, checks, findings), {dossiers:,}",
               value=audit_sw.seconds, unit="s", baseline_label="stratified sample in one SQL statement",
               baseline=sql_sw.seconds,
               checks={"findings recorded with rectification clocks": audit["findings"] > 0},
               notes={k: audit[k] for k in ("sample", "findings", "dossiers_with_findings")}),
    ]


_SQL_KPI = """
SELECT c.kind, coalesce(s.department, 'customer_service'), coalesce(s.username, '(customer service)'),
       count(*), count(*) FILTER (WHERE c.met_at < (c.due_on + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
FROM clock c LEFT JOIN staff s ON s.id = c.owner_id
WHERE c.kind IN ('new_client_creation', 'update_review', 'update_apply', 'immediate_update', 'filing')
  AND c.met_at >= :lo AND c.met_at < :hi
GROUP BY 1, 2, 3
"""


def _kpi(url: str) -> Result:
    from dossiers.core import db
    from dossiers.core.config import SHANGHAI
    from dossiers.duties import kpi

    start = MONTH[0].replace(tzinfo=SHANGHAI)
    engine = db.get_engine(url)
    with db.transaction(engine) as conn, Stopwatch() as sw:
        card = kpi.scorecard(conn, "month", start.date())
    with engine.connect() as conn, Stopwatch() as sql_sw:
        rows = conn.execute(text(_SQL_KPI), {"lo": start, "hi": datetime(2026, 11, 1, tzinfo=SHANGHAI)}
                            ).all()
    indicator = {k: name for name, kinds in kpi.INDICATORS.items() for k in kinds}
    plain: dict[tuple[str, str], list[int]] = {}
    for kind, _, person, total, met in rows:
        figures = plain.setdefault((indicator[kind], person), [0, 0])
        figures[0] += total
        figures[1] += met
    carded = {(p["indicator"], p["person"]): [p["total"], p["met"]] for p in card["people"]}
    return Result(
        bench="duties", metric="KPI scorecard, one month", value=sw.seconds, unit="s",
        baseline_label="the same counts in one SQL statement", baseline=sql_sw.seconds,
        checks={"the scorecard's counts equal the plain query's": carded == plain and bool(plain)},
        notes={"closed_deadlines": sum(t for t, _ in plain.values()),
               "creation_timeliness": card["creation_timeliness"]})
