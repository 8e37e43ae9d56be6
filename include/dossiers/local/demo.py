"""``make demo``: the main job, end to end, on embedded defaults.

Starts the embedded PostgreSQL (unless ``DOSSIER_DATABASE_URL`` names a database),
migrates it, seeds a synthetic company with a year of history (once), then runs every duty
DAG through Airflow (``dag.test()``, one Airflow process) for the periods of 2026 the seed
covers, with e-mail caught on loopback into ``.dossier/mail/``, and prints where the
reports, the mail and the logs are. Each duty is idempotent: a second ``make demo`` runs
them again and they add nothing.
"""

from __future__ import annotations

import json
import os
import sys
import time

from sqlalchemy import text

DEMO_CLIENTS = int(os.environ.get("DOSSIER_DEMO_CLIENTS", "300"))

#: Every duty once, for a period of 2026 the seeded history covers (Shanghai run times on
#: each duty's first working day). The annual refresh runs as on 1 December 2026: the
#: campaign opens for the year even though the demo runs a few days earlier.
DUTY_RUNS: list[tuple[str, str | None]] = [
    ("dossier_ledger_verification", None),
    ("dossier_qa_inspection", "2026-07-01T09:00:00+08:00"),
    ("dossier_sampling_audit", "2026-10-08T09:30:00+08:00"),
    ("dossier_kpi_quarterly", "2026-10-08T11:30:00+08:00"),
    ("dossier_client_analysis", "2026-10-08T14:00:00+08:00"),
    ("dossier_owner_check", "2026-11-02T09:00:00+08:00"),
    ("dossier_inactive_sweep", "2026-11-02T10:30:00+08:00"),
    ("dossier_kpi_monthly", "2026-11-02T11:00:00+08:00"),
    ("dossier_sla_watch", "2026-11-27T08:30:00+08:00"),
    ("dossier_annual_refresh", "2026-12-01T10:00:00+08:00"),
]


def _step(message: str) -> float:
    print(f"==> {message}", flush=True)
    return time.monotonic()


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

        _step(f"running every duty through Airflow ({len(DUTY_RUNS)} DAG runs, one Airflow process)")
        from dossiers.core.config import home, settings
        from dossiers.local.local_airflow import airflow_home, run_dags_test
        from dossiers.local.mailcatcher import MailCatcher

        log = home() / "demo-airflow.log"
        log.unlink(missing_ok=True)
        with MailCatcher(home() / "mail") as catcher:
            results = run_dags_test(DUTY_RUNS, url, env_extra=catcher.airflow_connection(),
                                    output=log)
            mails = catcher.received
        for r in results:
            print(f"    {r['dag_id']:<32} {r['logical_date'] or 'today':<26} {r['state']}")
        failed = [r for r in results if r["state"] != "success"]
        if failed or len(results) != len(DUTY_RUNS):
            print(f"dossier demo: {len(failed) or 'some'} duty run(s) did not succeed; "
                  f"full log: {log}", file=sys.stderr)
            return 1
        print(f"    all succeeded; {mails} e-mail(s) caught in {home() / 'mail'}")
    except DossierError as exc:
        print(f"dossier demo: {exc}", file=sys.stderr)
        return exc.exit_status
    # The embedded server outlives the demo on purpose (the CLI and make airflow use it,
    # and the next make demo reuses it): say so, and how to stop it.
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
  Airflow UI    make airflow  ->  http://localhost:8080  (same database){running}
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
