"""``make demo``: the main job, end to end, on embedded defaults.

Starts the embedded PostgreSQL (unless ``DOSSIER_DATABASE_URL`` names a database),
migrates it, seeds a synthetic company (once), runs the daily ledger-verification DAG
through Airflow against it, and prints where to look.
"""

from __future__ import annotations

import json
import os
import sys
import time

from sqlalchemy import text

DEMO_CLIENTS = int(os.environ.get("DOSSIER_DEMO_CLIENTS", "300"))


def _step(message: str) -> float:
    print(f"==> {message}", flush=True)
    return time.monotonic()


def main() -> int:
    from dossiers import db
    from dossiers.errors import DossierError

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
            from dossiers.seed import seed_company

            summary = seed_company(clients=DEMO_CLIENTS)
            print("    " + json.dumps(summary["totals"], ensure_ascii=False))

        _step("running the DAG dossier_ledger_verification through Airflow (airflow dags test)")
        from dossiers.config import home
        from dossiers.local_airflow import airflow_home, run_dag_test

        log = home() / "demo-airflow.log"
        log.unlink(missing_ok=True)
        status = run_dag_test("dossier_ledger_verification", url, output=log)
        if status != 0:
            tail = log.read_text(errors="replace").splitlines()[-15:]
            print("\n".join(tail), file=sys.stderr)
            print(f"dossier demo: the DAG run failed (exit {status}); full log: {log}",
                  file=sys.stderr)
            return 1
        print(f"    the run succeeded; Airflow's log: {log}")
    except DossierError as exc:
        print(f"dossier demo: {exc}", file=sys.stderr)
        return exc.exit_status
    print(f"""
Done in {time.monotonic() - started:.0f} s. Where to look:
  database      {db.describe(url)}  (psql "{url.replace('+psycopg', '')}")
  CLI           .venv/bin/dossier ledger verify | .venv/bin/dossier policy show
  Airflow home  {airflow_home()}  (task logs under logs/dag_id=dossier_ledger_verification)
  ledger anchor {home() / "ledger.anchor"}  (moved forward by the DAG run)
  Airflow UI    make airflow  ->  http://localhost:8080  (same database)
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
