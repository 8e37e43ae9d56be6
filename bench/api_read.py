"""API benchmark (issue 3): reading one dossier with its dimensions through the REST API.

The app (``dossiers.api.app:create_app``) runs under uvicorn in its own process on
loopback, authenticating real Airflow JWTs (Airflow's SimpleAuthManager, a SQLite metadata
DB for its revoked-token table); a pool of client threads (one keep-alive httpx client each)
reads filed dossiers round-robin as the archivist. Beside it, in the same run, the same
threads read the same dossiers with **one** plain SQL query each (every dimension as JSON
sub-selects, as the database owner): no authentication, no permission check, no decryption,
no access log - what the API adds is the ratio.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import quote

import formsdata
from harness import Context, Result, libpq_url

ARCHIVIST = "bench.archive"
WARMUP = 50

#: The whole dossier in one statement: the baseline.
ONE_QUERY = """
SELECT d.dossier_no, d.client_name_zh, d.client_name_en, d.client_type, d.stage, d.status,
       d.department, d.created_at, d.filed_at, d.terminated_on, d.further_cooperation,
       (SELECT username FROM staff s WHERE s.id = d.liaison_id) AS liaison,
       (SELECT array_agg(country ORDER BY ordinal) FROM dossier_market m
         WHERE m.dossier_id = d.id) AS target_markets,
       (SELECT row_to_json(b) FROM basic_info b WHERE b.dossier_id = d.id) AS basic,
       (SELECT coalesce(json_agg(c ORDER BY c.ordinal), '[]') FROM contact c
         WHERE c.dossier_id = d.id) AS contacts,
       (SELECT row_to_json(x) FROM market_info x WHERE x.dossier_id = d.id) AS market,
       (SELECT coalesce(json_agg(k), '[]') FROM contract k WHERE k.dossier_id = d.id) AS cooperation,
       (SELECT row_to_json(n) FROM needs n WHERE n.dossier_id = d.id) AS needs,
       (SELECT row_to_json(o) FROM other_info o WHERE o.dossier_id = d.id) AS other,
       (SELECT coalesce(json_agg(v), '[]') FROM paper_volume v WHERE v.dossier_id = d.id) AS vault
FROM dossier d WHERE d.dossier_no = %s
"""

#: Runs the API under uvicorn: Airflow's auth manager and revoked-token table first, then a
#: token for each user named (written to a file), then the server.
_SERVER = """
import json, sys
port, token_file, users = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
from airflow import settings
from airflow.models.revoked_token import RevokedToken
RevokedToken.__table__.create(settings.engine, checkfirst=True)
from airflow.api_fastapi.app import create_auth_manager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
am = create_auth_manager()
tokens = {u: am.generate_jwt(SimpleAuthManagerUser(username=u, role="viewer")) for u in users}
with open(token_file, "w") as fh:
    json.dump(tokens, fh)
import uvicorn
uvicorn.run("dossiers.api.app:create_app", factory=True, host="127.0.0.1", port=port,
            workers=1, log_level="warning", access_log=False)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dossiers(ctx: Context, n: int) -> list[str]:
    """``n`` dossiers through import -> review -> create -> file (the archivist files them)."""
    from cases import LIAISONS, _company
    from sqlalchemy import text

    from dossiers.core import db, directory
    from dossiers.core.crypto import KeyRing
    from dossiers.intake.service import SHANGHAI, import_file
    from dossiers.workflows import creation, staff

    acting = _company()
    with db.transaction() as conn:
        staff.add(conn, "bench.chen", ARCHIVIST, "customer_service", ["archivist"])
    forms = formsdata.write_forms(ctx.tmp / "api.csv", n, LIAISONS, datetime.now(SHANGHAI).date())
    import_file(forms.path, acting_user=acting)
    keys, numbers = KeyRing(), []
    with db.transaction() as conn:
        pending = conn.execute(text("SELECT id, department FROM form ORDER BY submitted_at, id")).all()
        heads = {d: directory.load_actor(conn, f"bench.head.{d}")
                 for d in ("market", "planning", "execution")}
        heads["customer_service"] = directory.load_actor(conn, "bench.chen")
        archivist = directory.load_actor(conn, ARCHIVIST)
        for form_id, department in pending:
            creation.review_form(conn, heads[department], form_id, approve=True)
            made = creation.create_dossier(conn, keys, archivist, form_id)
            creation.file_dossier(conn, archivist, uuid.UUID(made["dossier_id"]),
                                  cabinet=made["dossier_no"].split("-")[2], shelf=1)
            numbers.append(made["dossier_no"])
    return numbers


def _load(clients: int, total: int, make: Callable[[], Any],
          one: Callable[[Any, int], bool]) -> tuple[list[float], float, int]:
    """``total`` calls of ``one(session, i)`` spread over ``clients`` threads, each with its
    own session from ``make()``; returns per-call latencies (s), wall seconds, failures."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def worker(k: int) -> None:
        nonlocal failures
        session = make()
        mine, bad = [], 0
        for i in range(WARMUP // clients + 1):
            one(session, i)
        start.wait()
        for i in range(k, total, clients):
            t0 = time.perf_counter()
            ok = one(session, i)
            mine.append(time.perf_counter() - t0)
            bad += not ok
        with lock:
            latencies.extend(mine)
            failures += bad
        close = getattr(session, "close", None)
        if close:
            close()

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(worker, k) for k in range(clients)]
        start.wait()
        t0 = time.perf_counter()
        for f in futures:
            f.result()
        wall = time.perf_counter() - t0
    return latencies, wall, failures


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def bench_api(ctx: Context) -> list[Result]:
    """GET /dossiers/{no} through the API under concurrent load, beside one SQL query."""
    import httpx
    import psycopg

    n_dossiers, total, clients = ctx.sizes.api_dossiers, ctx.sizes.api_reads, ctx.sizes.api_clients
    with ctx.scratch.database("api") as url:
        from sqlalchemy import text

        from dossiers.core import db

        numbers = _dossiers(ctx, n_dossiers)
        print(f"  {len(numbers)} dossiers filed; {total:,} reads by {clients} clients",
              file=sys.stderr)
        home = ctx.tmp / "airflow-api-bench"
        home.mkdir(exist_ok=True)
        env = {**os.environ,
               "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
               "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
               "AIRFLOW__CORE__AUTH_MANAGER":
                   "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
               "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(48).hex()}
        port, token_file = _free_port(), home / "tokens.json"
        server = subprocess.Popen([sys.executable, "-c", _SERVER, str(port), str(token_file), ARCHIVIST],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"API server exited: {server.stderr.read().decode()[-500:]}"
                                       if server.stderr else "API server exited")
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("API server did not answer /health within 60 s")
                time.sleep(0.2)
            token = json.loads(token_file.read_text())[ARCHIVIST]
            paths = [f"/dossiers/{quote(no, safe='')}" for no in numbers]
            shown: dict[str, Any] = {}

            def api_session() -> httpx.Client:
                return httpx.Client(base_url=base, timeout=60,
                                    headers={"Authorization": f"Bearer {token}"})

            def api_read(client: httpx.Client, i: int) -> bool:
                response = client.get(paths[i % len(paths)])
                if not shown and response.status_code == 200:
                    shown.update(response.json())
                return response.status_code == 200

            with db.transaction() as conn:
                logged_before = conn.execute(text("SELECT count(*) FROM access_log")).scalar_one()
            api_lat, api_wall, api_failed = _load(clients, total, api_session, api_read)
            alone = max(total // 10, 50)  # one client: the latency without queueing
            one_lat, _, one_failed = _load(1, alone, api_session, api_read)
            api_failed += one_failed
            with db.transaction() as conn:
                logged = conn.execute(text("SELECT count(*) FROM access_log WHERE allowed "
                                           "AND action = 'dossier.read'")).scalar_one()
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)

        def sql_session() -> psycopg.Connection[Any]:
            return psycopg.connect(libpq_url(url), autocommit=True)

        def sql_read(conn: psycopg.Connection[Any], i: int) -> bool:
            return conn.execute(ONE_QUERY, (numbers[i % len(numbers)],)).fetchone() is not None

        sql_lat, sql_wall, sql_failed = _load(clients, total, sql_session, sql_read)
        sql_one, _, _ = _load(1, alone, sql_session, sql_read)

    warm = (WARMUP // clients + 1) * clients + WARMUP + 1 + alone
    p50, p99 = _quantile(api_lat, 0.50), _quantile(api_lat, 0.99)
    s50, s99 = _quantile(sql_lat, 0.50), _quantile(sql_lat, 0.99)
    checks = {
        f"all {total + alone:,} API reads 200": api_failed == 0 and len(api_lat) == total,
        "every dimension shown to the archivist": {
            "basic", "contacts", "market", "cooperation", "needs", "other", "vault"} <= set(shown),
        "every read logged in access_log": logged - logged_before == total + warm,
        "all SQL reads found the dossier": sql_failed == 0,
    }
    notes = {"clients": clients, "reads": total, "dossiers": len(numbers),
             "api": {"p50_ms": round(p50 * 1e3, 2), "p99_ms": round(p99 * 1e3, 2),
                     "mean_ms": round(statistics.fmean(api_lat) * 1e3, 2),
                     "reads_per_s": round(total / api_wall, 1)},
             "sql": {"p50_ms": round(s50 * 1e3, 3), "p99_ms": round(s99 * 1e3, 3),
                     "reads_per_s": round(total / sql_wall, 1)},
             "server": "uvicorn, 1 process, loopback; client threads in the bench process"}
    label = "one SQL query (no auth, no decryption, no log)"
    notes["api"]["one_client_p50_ms"] = round(statistics.median(one_lat) * 1e3, 2)
    notes["sql"]["one_client_p50_ms"] = round(statistics.median(sql_one) * 1e3, 3)
    return [
        Result(bench="api", metric="GET dossier p50, 1 client", value=statistics.median(one_lat) * 1e3,
               unit="ms", baseline_label=label, baseline=statistics.median(sql_one) * 1e3,
               checks=checks, notes=notes),
        Result(bench="api", metric=f"GET dossier p50, {clients} clients", value=p50 * 1e3, unit="ms",
               baseline_label=label, baseline=s50 * 1e3),
        Result(bench="api", metric=f"GET dossier p99, {clients} clients", value=p99 * 1e3, unit="ms",
               baseline_label=label, baseline=s99 * 1e3),
        Result(bench="api", metric=f"GET dossier throughput, {clients} clients",
               value=total / api_wall, unit="reads/s", baseline_label=label,
               baseline=total / sql_wall),
    ]

