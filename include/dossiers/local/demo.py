"""``make demo``: the main job, end to end, on embedded defaults.

Starts the embedded PostgreSQL (unless ``DOSSIER_DATABASE_URL`` names a database),
migrates it, seeds a synthetic company with a year of history (once), then runs every duty
DAG through Airflow (``dag.test()``, one Airflow process) for the periods of 2026 the seed
covers, with e-mail caught on loopback into ``.dossier/mail/``, then this week's full
backup through its DAG (backup, restore drill, expiry, backup report; Arts. 14, 18), a
``dossier backup verify`` of it and the month's off-site copy with its drill (to an S3
stand-in on loopback whose objects are gone when the demo ends), and prints where the
reports, the mail, the backups and the logs are. Each duty is idempotent: a second ``make
demo`` runs them again and they add nothing (the week already has its verified backup, the
month its off-site copy).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from sqlalchemy import text

from dossiers.calendar.schedules import (
    EveryWorkingDaySchedule,
    FirstWorkingDaySchedule,
    Period,
)
from dossiers.core.config import SHANGHAI
from dossiers.duties.runs import period_key

DEMO_CLIENTS = int(os.environ.get("DOSSIER_DEMO_CLIENTS", "300"))

#: The duties' schedules, as their DAGs declare them (dags/*.py; Shanghai run times). The
#: demo runs each for every period of the seeded year so far, as a backfill would.
_PERIODIC: tuple[tuple[str, Period, dt.time, tuple[int, ...] | None], ...] = (
    ("dossier_owner_check", "month", dt.time(9, 0), None),
    ("dossier_qa_inspection", "half_year", dt.time(9, 0), None),
    ("dossier_sampling_audit", "quarter", dt.time(9, 30), None),
    ("dossier_inactive_sweep", "month", dt.time(10, 30), None),
    ("dossier_kpi_monthly", "month", dt.time(11, 0), None),
    ("dossier_kpi_quarterly", "quarter", dt.time(11, 30), None),
    ("dossier_client_analysis", "quarter", dt.time(14, 0), None),
)


def _period_label(period: Period, start: dt.date) -> str:
    """The period as the duties key it (``2026-04``, ``2026-Q2``, ``2026-H1``, ``2026``)."""
    return period_key("half" if period == "half_year" else period, start)


def duty_runs(now: dt.datetime) -> list[tuple[str, str | None, str]]:
    """The demo's DAG runs, ``(dag_id, logical date or None, what it covers)``, in run order.

    Each periodic duty runs once for every period of the seeded year so far (the year of
    the last complete month, up to ``now``), so the managers' audit summary and the KPI
    reports draw trends of several points, not one. All runs are in the order their run
    times fall, as the scheduler would have run them: a quarter's sampling audit (which
    publishes the audit summary) after that day's owner check, the client analysis after
    both. The ledger verification runs first for today, the SLA watch once, on the last
    working day up to ``now`` (it follows clocks that are open today), and the annual
    refresh as on the first working day of December of that year, even when the demo runs
    a few days earlier (the campaign opens for the year).
    """
    now = now.astimezone(SHANGHAI)
    year = (now.date().replace(day=1) - dt.timedelta(days=1)).year
    first = dt.datetime(year, 1, 1, tzinfo=SHANGHAI)
    timed: list[tuple[dt.datetime, int, str, str]] = []
    for order, (dag_id, period, at, months) in enumerate(_PERIODIC):
        schedule = FirstWorkingDaySchedule(period, at, months)
        for slot in schedule.slots_between(first, now):
            if slot.start >= first:
                timed.append((slot.run_after, order, dag_id,
                               _period_label(period, slot.start.date())))
    sla = EveryWorkingDaySchedule(dt.time(8, 30)).last_at_or_before(now)
    timed.append((sla.run_after, len(_PERIODIC), "dossier_sla_watch", f"{sla.run_after:%Y-%m-%d}"))
    refresh = FirstWorkingDaySchedule("month", dt.time(10, 0), (12,)).first_at_or_after(
        dt.datetime(year, 12, 1, tzinfo=SHANGHAI))
    timed.append((refresh.run_after, len(_PERIODIC) + 1, "dossier_annual_refresh", str(year)))
    timed.sort(key=lambda t: (t[0], t[1]))
    return [("dossier_ledger_verification", None, "today"),
            *((dag_id, when.isoformat(), label) for when, _, dag_id, label in timed)]


def _step(message: str) -> float:
    print(f"==> {message}", flush=True)
    return time.monotonic()


def _show_documents() -> None:
    """What ``dossier documents list`` prints for one seeded dossier, read as its archivist
    (Arts. 15, 16; the read is logged like any other)."""
    from dossiers.core import db, directory
    from dossiers.documents import reading

    with db.transaction() as conn:
        found = conn.execute(text(
            "SELECT d.dossier_no, s.username FROM dossier_file f JOIN dossier d ON d.id = "
            "f.dossier_id JOIN staff s ON s.id = d.created_by GROUP BY d.dossier_no, s.username "
            "ORDER BY count(*) DESC, d.dossier_no LIMIT 1")).first()
    if found is None:
        return
    _step(f"dossier documents list {found.dossier_no} --as {found.username}")
    with db.transaction() as conn:
        listed = reading.list_documents(conn, directory.load_actor(conn, found.username),
                                        found.dossier_no)
    for d in listed:
        state = (f"filed {d.filed_at.date().isoformat()}" if d.filed_at else
                 f"to be filed by {d.filing_due}")
        print(f"    {d.name:<34} {d.type:<16} {d.size:>7} B  {d.folder}  {state}")


#: The weekly full backup (Arts. 14, 18), run last so it holds what the duties wrote; its
#: logical date is left to Airflow (a manual run now), and the duty takes a backup only when
#: the policy's interval has passed since the last one.
BACKUP_RUN = ("dossier_weekly_full_backup", None, "this week")
#: Then the month's off-site copy (Art. 18) to a local S3 stand-in (moto on loopback, where
#: installed), with the drill from the off-site copy the first run does.
OFFSITE_RUN = ("dossier_monthly_offsite_backup", None, "this month")


def _show_backup() -> None:
    """The newest full backup as ``dossier backup list`` and ``verify`` see it: what it holds,
    the restore drill's result (RTO, RPO), and every byte of it opened again (Art. 18)."""
    from dossiers.backups import catalogue, verify
    from dossiers.backups.settings import vault_root
    from dossiers.core import db
    from dossiers.core.vocabulary import BackupKind

    with db.transaction() as conn:
        rows = catalogue.listing(conn, BackupKind.FULL)
    row = next((r for r in rows if r["status"] in ("complete", "verified")), None)
    if row is None:
        print("    no complete full backup (see the Airflow log)")
        return
    _step(f"dossier backup verify {row['location']}")
    checked = verify.verify_backup(Path(row["location"]))
    body = checked.manifest or {}
    tables = body.get("tables", {})
    documents = body.get("documents", {}).get("objects", {})
    drill = row["last_drill"] or {}
    print(f"    backup {row['id']} ({row['status']}): {len(tables)} tables, "
          f"{sum(t['rows'] for t in tables.values())} rows, {len(documents)} documents, "
          f"{(row['size_bytes'] or 0) / 1e6:.1f} MB sealed; key ring apart "
          f"({row['keyring_backup_id']})")
    if drill:
        with db.transaction() as conn:
            amcheck_said = conn.execute(text(
                "SELECT details->>'amcheck' FROM backup_drill WHERE backup_id = :b "
                "AND source = 'vault' ORDER BY id DESC LIMIT 1"), {"b": row["id"]}).scalar()
        skipped = amcheck_said is not None and not amcheck_said.startswith("pg_amcheck")
        print(f"    restore drill: {'matched its manifest' if drill['ok'] else 'FAILED'}"
              f"{' (pg_amcheck skipped: no amcheck in this PostgreSQL)' if skipped else ''}, "
              f"RTO {float(drill['rto_seconds'] or 0):.1f} s, "
              f"RPO {float(drill['rpo_seconds'] or 0) / 60:.0f} min"
              + ("" if drill["ok"] else f": {'; '.join(drill['problems'][:2])}"))
    print(f"    verify: {'every byte opened and matched the manifest' if checked.ok else 'FAILED'}"
          + ("" if checked.ok else ": " + "; ".join(checked.problems[:3]))
          + f" (vault {vault_root()})")
    if row["offsite_uri"]:
        from sqlalchemy import select

        from dossiers.core.schema import backup_drill

        with db.transaction() as conn:
            offsite = conn.execute(select(backup_drill.c.ok, backup_drill.c.rto_seconds).where(
                backup_drill.c.backup_id == row["id"], backup_drill.c.source == "offsite")
                .order_by(backup_drill.c.id.desc()).limit(1)).first()
        until = row["offsite_retain_until"]
        print(f"    off-site: {row['offsite_uri']} (Object Lock, compliance mode, until "
              f"{until.date() if until else '?'}; read back and hash-checked)")
        if offsite is not None:
            print(f"    off-site restore drill: {'matched' if offsite.ok else 'FAILED'}, "
                  f"RTO {float(offsite.rto_seconds or 0):.1f} s")


def main() -> int:
    from dossiers.core import db
    from dossiers.core.errors import DossierError

    try:
        started = _step("dossier database (embedded PostgreSQL unless DOSSIER_DATABASE_URL is set)")
        url = db.database_url()
        print(f"    {db.describe(url)} at revision {db.upgrade(url)}")

        with db.transaction() as conn:
            dossiers = conn.execute(text("SELECT count(*) FROM dossier")).scalar_one()
        if dossiers:
            _step(f"company already seeded ({dossiers} dossiers): skipping the seed")
        else:
            _step(f"seeding a synthetic company of {DEMO_CLIENTS} clients with a year of history")
            from dossiers.local.seed import seed_company

            summary = seed_company(clients=DEMO_CLIENTS)
            print("    " + json.dumps(summary["totals"], ensure_ascii=False))

        _show_documents()

        from dossiers.core import clock
        from dossiers.local import s3standin

        offsite = s3standin.available()
        runs = [*duty_runs(clock.now()), BACKUP_RUN, *([OFFSITE_RUN] if offsite else [])]
        _step(f"running every duty through Airflow for each period of the seeded year, then "
              f"this week's full backup and its restore drill"
              f"{' and the off-site copy (a local S3 stand-in)' if offsite else ''} "
              f"({len(runs)} DAG runs, one Airflow process)")
        from dossiers.core.config import home, settings
        from dossiers.local.local_airflow import airflow_home, run_dags_test
        from dossiers.local.mailcatcher import MailCatcher

        per_duty: dict[str, int] = {}
        for dag_id, _, _ in runs:
            per_duty[dag_id] = per_duty.get(dag_id, 0) + 1
        seen: dict[str, int] = {}
        last = time.monotonic()

        def progress(result: dict[str, str]) -> None:
            nonlocal last
            n = sum(seen.values())
            dag_id, _, label = runs[n] if n < len(runs) else (result["dag_id"], None, "?")
            seen[dag_id] = seen.get(dag_id, 0) + 1
            now = time.monotonic()
            print(f"    [{n + 1:>2}/{len(runs)}] {dag_id.removeprefix('dossier_').replace('_', ' ')} "
                  f"{label} ({seen[dag_id]}/{per_duty[dag_id]}): {result['state']}, "
                  f"{now - last:.1f} s", flush=True)
            last = now

        log = home() / "demo-airflow.log"
        log.unlink(missing_ok=True)
        with MailCatcher(home() / "mail") as catcher, \
                (s3standin.LocalS3() if offsite else nullcontext()) as s3:
            env = {**catcher.airflow_connection(), **(s3.environment() if s3 else {})}
            results = run_dags_test([(dag_id, when) for dag_id, when, _ in runs], url,
                                    env_extra=env, output=log, on_result=progress)
            mails = catcher.received
        failed = [r for r in results if r.get("state") != "success"]
        if failed or len(results) != len(runs):
            print(f"dossier demo: {len(failed) or 'some'} duty run(s) did not succeed; "
                  f"full log: {log}", file=sys.stderr)
            return 1
        print(f"    all succeeded; {mails} e-mail(s) caught in {home() / 'mail'}")
        _show_backup()
    except DossierError as exc:
        print(f"dossier demo: {exc}", file=sys.stderr)
        return exc.exit_status
    # The embedded server outlives the demo on purpose (the CLI and make airflow use it,
    # and the next make demo reuses it): say so, and how to stop it.
    from dossiers.backups.settings import keyring_vault_root, vault_root

    running = ("\n  still running the embedded PostgreSQL above, in the background (make airflow "
               "and a second make demo reuse it); make stop stops it and make airflow"
               if settings().database_url is None else "")
    print(f"""
Done in {time.monotonic() - started:.0f} s. Where to look:
  database      {db.describe(url)}  (psql "{url.replace('+psycopg', '')}")
  CLI           .venv/bin/dossier ledger verify | .venv/bin/dossier policy show
  reports       {settings().report_store}  (PDF, CSV zip, HTML; in the Airflow UI under Dossier reports)
  mail          {home() / "mail"}  (what the duties sent: reminders, owner checks, reports)
  Airflow home  {airflow_home()}  (task logs under logs/dag_id=...; Airflow's output: {log})
  ledger anchor {settings().ledger_anchor}  (moved forward by the ledger DAG)
  backups       {vault_root()}  (dossier backup list | verify DIR)
  key ring      {keyring_vault_root()}  (its own backups, apart from the data backups)
  Airflow UI    make airflow  ->  http://localhost:8080  (same database){running}
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
