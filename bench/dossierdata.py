"""A company of N dossiers with every Art. 10 dimension, written by SQL inside PostgreSQL.

The duty benchmarks need a million dossiers with their contacts, communications, feedback
and paper volumes (about 20 rows per dossier). Going through the collection form would take
hours (see the creation benchmark), so this writes the rows the creation would have
written, with ``INSERT … SELECT … FROM generate_series``: the same tables, the same
constraints, made-up but well-formed values (personal fields are random bytes where the
real system keeps ciphertext; nothing reads them here).

Every value is a function of the dossier's serial ``g`` (``hashint8extended(g, k)`` gives
independent pseudo-random streams ``k``), so the same N gives the same company. A few items
are left out at known rates so the completeness checks, the stale-communication rule, the
paper-vs-electronic comparison and the shared-contact signal all find something.

Foreign keys are not checked while loading (``session_replication_role = replica``, as
``pg_restore`` does): every reference is built from the same ``g`` and a count at the end
confirms them.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from typing import Any

import psycopg

#: Liaisons per department (the company of a million dossiers has 200 liaisons).
LIAISONS_PER_DEPARTMENT = 50
DEPARTMENTS = ("market", "planning", "execution", "customer_service")
TYPES = ("電商", "外貿", "本土", "協會")
COUNTRIES = ("US", "DE", "JP", "GB", "FR", "AU", "SG", "BR", "AE", "KR")

# A gap at a rate of ``per_1024`` in 1024 dossiers, independently for each stream ``k``.
def _miss(k: int, per_1024: int) -> str:
    return f"(hashint8extended(g, {k}) & 1023) < {per_1024}"


_ID = "md5('dossier' || g)::uuid"
_STAGE = "CASE g % 10 WHEN 0 THEN 'potential' WHEN 9 THEN 'terminated' ELSE 'active' END"
_CLIENT = "g % 10 <> 0"  # active or terminated: a client, not a potential one

STATEMENTS: dict[str, str] = {
    "dossier": f"""
INSERT INTO dossier (id, dossier_no, client_name_zh, client_name_en, name_en_key, name_zh_key,
    client_type, stage, status, origin, liaison_id, department, authorisation_ref,
    collected_on, created_by, created_at, updated_at, filed_at, terminated_on,
    further_cooperation)
SELECT {_ID}, '海外-' || (2020 + g % 7) || '-' || (%(types)s::text[])[1 + g % 4] || '-'
        || lpad(g::text, 7, '0'),
    '海外客戶' || g, 'Overseas Client ' || g, 'overseas client ' || g, '海外客戶' || g,
    (%(types)s::text[])[1 + g % 4], {_STAGE}, 'open', 'new',
    (%(liaisons)s::int[])[1 + g % %(n_liaisons)s], (%(departments)s::text[])[1 + g % %(n_liaisons)s],
    'AUTH-' || g, date '2024-01-01' + (g % 900)::int, (%(liaisons)s::int[])[1],
    %(now)s::timestamptz, %(now)s::timestamptz,
    timestamptz '2024-01-05 10:00+08' + make_interval(days => (g % 900)::int),
    CASE WHEN g % 10 = 9 THEN date '2026-01-01' + (g % 200)::int END,
    CASE WHEN g % 10 = 9 AND NOT {_miss(1, 20)} THEN g % 3 <> 0 END
FROM generate_series(1, %(n)s::bigint) g""",
    "basic_info": f"""
INSERT INTO basic_info (dossier_id, registered_address, domestic_contact_address, founded_on,
    legal_form, registered_capital_amount, registered_capital_currency, business_scope)
SELECT {_ID}, CASE WHEN NOT {_miss(2, 8)} THEN g || ' Harbour Road, Suite ' || g % 97 END,
    '深圳市南山區' || g % 500 || '號',
    CASE WHEN NOT {_miss(3, 10)} THEN date '1990-01-01' + (g % 12000)::int END,
    CASE WHEN NOT {_miss(4, 10)} THEN 'limited company' END,
    CASE WHEN NOT {_miss(5, 10)} THEN (g % 1000 + 1) * 10000 END, 'USD',
    CASE WHEN NOT {_miss(6, 10)} THEN 'consumer electronics retail' END
FROM generate_series(1, %(n)s::bigint) g""",
    "contact": f"""
INSERT INTO contact (dossier_id, ordinal, name_enc, title, email_enc, phone_enc, email_bidx,
    phone_bidx, preference)
SELECT {_ID}, o, decode(md5('name' || g || o), 'hex'),
    CASE WHEN NOT {_miss(7, 8)} THEN 'Marketing Director' END,
    decode(md5('email' || g || o), 'hex'), decode(md5('phone' || g || o), 'hex'),
    -- one dossier in 5,000 shares a contact e-mail with the dossier before it
    decode(md5('email-bidx' || CASE WHEN g % 5000 = 1 AND o = 1 THEN g - 1 ELSE g END || o), 'hex'),
    decode(md5('phone-bidx' || g || o), 'hex'),
    CASE WHEN NOT {_miss(8, 8)} THEN 'email' END
FROM generate_series(1, %(n)s::bigint) g, generate_series(1, 2) o
WHERE NOT {_miss(9, 2)}""",
    "qualification_document": f"""
INSERT INTO qualification_document (dossier_id, kind, number_enc, number_masked, issued_by,
    valid_until)
SELECT {_ID}, 'business_licence', decode(md5('licence' || g), 'hex'), '****' || g % 10000,
    'Companies Registry', date '2030-01-01'
FROM generate_series(1, %(n)s::bigint) g WHERE NOT {_miss(10, 15)}""",
    "dossier_market": f"""
INSERT INTO dossier_market (dossier_id, country, ordinal)
SELECT {_ID}, (%(countries)s::text[])[1 + (g + o) % 10], o
FROM generate_series(1, %(n)s::bigint) g, generate_series(1, 2) o
WHERE (o = 1 OR g % 2 = 0) AND NOT {_miss(11, 3)}""",
    "market_info": f"""
INSERT INTO market_info (dossier_id, market_positioning, target_customers)
SELECT {_ID}, CASE WHEN NOT {_miss(12, 15)} THEN 'mid-range, online first' END,
    CASE WHEN NOT {_miss(13, 20)} THEN 'urban professionals 25-40' END
FROM generate_series(1, %(n)s::bigint) g""",
    "cooperation": f"""
INSERT INTO cooperation (dossier_id, started_on)
SELECT {_ID}, CASE WHEN {_CLIENT} AND NOT {_miss(14, 10)} THEN date '2024-02-01' + (g % 900)::int END
FROM generate_series(1, %(n)s::bigint) g""",
    "contract": f"""
INSERT INTO contract (dossier_id, contract_no, signed_on, service_scope, period_start,
    period_end, fee_range_enc)
SELECT {_ID}, 'HT-' || g, date '2024-02-01' + (g % 900)::int,
    CASE WHEN NOT {_miss(15, 15)} THEN 'social media campaigns' END,
    date '2024-02-01' + (g % 900)::int, date '2024-02-01' + (g % 900)::int + 365,
    decode(md5('fee' || g), 'hex')
FROM generate_series(1, %(n)s::bigint) g WHERE {_CLIENT} AND NOT {_miss(16, 10)}""",
    "project": f"""
INSERT INTO project (dossier_id, name, project_type, started_on, progress)
SELECT {_ID}, 'Campaign ' || g, 'campaign', date '2024-03-01' + (g % 900)::int, 'in_progress'
FROM generate_series(1, %(n)s::bigint) g WHERE {_CLIENT} AND NOT {_miss(17, 25)}""",
    "needs": f"""
INSERT INTO needs (dossier_id, marketing_goals, creative_preferences)
SELECT {_ID}, CASE WHEN {_miss(18, 4)} THEN '{{}}'::text[] ELSE ARRAY['brand awareness', 'leads'] END,
    CASE WHEN NOT {_miss(19, 25)} THEN 'clean, minimal, no red' END
FROM generate_series(1, %(n)s::bigint) g""",
    # five per dossier over the last year; one dossier in 50 has none in the last 3 months
    "communication": f"""
INSERT INTO communication (dossier_id, occurred_at, channel, kind, topic, recorded_by)
SELECT {_ID}, %(as_of)s::timestamptz - make_interval(days => (CASE WHEN {_miss(20, 20)}
        THEN 100 ELSE 0 END + o * 17 + g % 11)::int),
    'email', 'communication', 'campaign review ' || o, (%(liaisons)s::int[])[1 + g % %(n_liaisons)s]
FROM generate_series(1, %(n)s::bigint) g, generate_series(0, 4) o
WHERE NOT {_miss(21, 2)}""",
    "feedback": f"""
INSERT INTO feedback (dossier_id, received_on, kind, aspect, rating, description, handling,
    result, satisfaction, closed_on)
SELECT {_ID}, date '2026-01-10' + (g % 300)::int,
    CASE WHEN o = 2 AND g % 20 = 0 THEN 'complaint' ELSE 'evaluation' END, 'execution',
    1 + (g + o) % 5, 'feedback ' || o,
    CASE WHEN o = 2 AND g % 20 = 0 AND NOT {_miss(22, 100)} THEN 'reworked the visuals' END,
    CASE WHEN o = 2 AND g % 20 = 0 THEN 'accepted' END,
    CASE WHEN o = 2 AND g % 20 = 0 THEN 4 END,
    CASE WHEN o = 2 AND g % 20 = 0 THEN date '2026-02-01' + (g % 200)::int END
FROM generate_series(1, %(n)s::bigint) g, generate_series(1, 2) o
WHERE {_CLIENT} AND NOT {_miss(23, 15)}""",
    "other_info": f"""
INSERT INTO other_info (dossier_id, credit_rating_enc, dependence)
SELECT {_ID}, CASE WHEN NOT {_miss(24, 25)} THEN decode(md5('credit' || g), 'hex') END,
    CASE WHEN NOT {_miss(25, 15)} THEN (ARRAY['low', 'medium', 'high'])[1 + g % 3] END
FROM generate_series(1, %(n)s::bigint) g""",
    # a paper volume per filed dossier; a few missing, a few labelled with another number
    "paper_volume": f"""
INSERT INTO paper_volume (dossier_id, volume_no, label_dossier_no, label_client_name,
    label_filed_on, cabinet, shelf, position)
SELECT d.id, 1, CASE WHEN {_miss(26, 2)} THEN d.dossier_no || '-old' ELSE d.dossier_no END,
    d.client_name_zh, d.filed_at::date, 'C' || g / 10000, (g / 100 % 100)::int, (g % 100)::int
FROM generate_series(1, %(n)s::bigint) g JOIN dossier d ON d.id = {_ID}
WHERE NOT {_miss(27, 5)}""",
    # the creation and filing deadlines of every dossier (met, mostly on time), a few open
    "clock": f"""
INSERT INTO clock (kind, subject_type, subject_id, article, owner_id, started_on, due_on,
    provisional, met_at)
SELECT k.kind, 'dossier', {_ID}::text, k.article, (%(liaisons)s::int[])[1 + g % %(n_liaisons)s],
    s.started, s.started + 7,  false,
    CASE WHEN k.kind = 'filing' AND g % 100 = 0 THEN NULL
         ELSE (s.started + CASE WHEN {_miss(28, 30)} THEN 9 ELSE 3 END)::timestamp
              AT TIME ZONE 'Asia/Shanghai' + interval '10 hours' END
FROM generate_series(1, %(n)s::bigint) g,
     (VALUES ('new_client_creation', 'Art. 8'), ('filing', 'Art. 11(5)')) k(kind, article),
     LATERAL (SELECT %(as_of)s::date - (g % 400)::int AS started) s""",
}


def _placeholders_only(sql: str) -> str:
    """The statements use ``%`` for modulo; psycopg wants it doubled, ``%(name)s`` kept."""
    return re.sub(r"%(?!\()", "%%", sql)


@dataclass(frozen=True)
class Company:
    dossiers: int
    rows: dict[str, int]
    liaisons: int
    seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _staff(n_liaisons_per_department: int) -> tuple[list[int], list[str]]:
    """The company's people through ``dossiers.workflows.staff.add`` (ledgered): a CS head, a head
    per department, and the liaisons. Returns the liaisons' ids and departments."""
    from sqlalchemy import text

    from dossiers.core import db
    from dossiers.workflows import staff

    boss = "bench.cs_head"
    with db.transaction() as conn:
        staff.add(conn, None, boss, "customer_service", ["cs_head"])
        for department in DEPARTMENTS[:3]:
            staff.add(conn, boss, f"bench.head.{department}", department, ["dept_head"])
        for department in DEPARTMENTS:
            for i in range(n_liaisons_per_department):
                staff.add(conn, boss, f"bench.{department}.{i:03d}", department, ["liaison"])
        rows = conn.execute(text("SELECT id, department FROM staff WHERE username LIKE 'bench.%.%' "
                                 "AND username NOT LIKE 'bench.head.%' ORDER BY id")).all()
    return [r.id for r in rows], [r.department for r in rows]


def build(owner_url: str, n: int, *, as_of: str,
          liaisons_per_department: int = LIAISONS_PER_DEPARTMENT) -> Company:
    """Write a company of ``n`` dossiers into the (migrated, empty) database. ``owner_url`` is a
    libpq URL of a role that may disable foreign-key triggers (the server's owner)."""
    from dossiers.core import clock  # as _staff: the package is imported when a build runs

    started = time.perf_counter()
    liaisons, departments = _staff(liaisons_per_department)
    params: dict[str, Any] = {"n": n, "types": list(TYPES), "liaisons": liaisons,
                              "departments": departments, "n_liaisons": len(liaisons),
                              "countries": list(COUNTRIES), "as_of": as_of,
                              # no column takes the database's clock (dossiers.core.clock)
                              "now": clock.now()}
    rows: dict[str, int] = {}
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '1GB'")
        for table, sql in STATEMENTS.items():
            t0 = time.perf_counter()
            cur = conn.execute(_placeholders_only(sql), params)
            rows[table] = cur.rowcount
            print(f"  {table}: {cur.rowcount:,} rows in {time.perf_counter() - t0:.1f} s",
                  file=sys.stderr)
        t0 = time.perf_counter()
        conn.execute("ANALYZE")
        print(f"  ANALYZE in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        orphans = conn.execute(
            "SELECT (SELECT count(*) FROM contact c WHERE NOT EXISTS "
            "(SELECT 1 FROM dossier d WHERE d.id = c.dossier_id))").fetchone()
    if orphans is None or orphans[0] != 0:
        raise RuntimeError(f"dossierdata: {orphans} contacts refer to no dossier")
    return Company(n, rows, len(liaisons), time.perf_counter() - started)
