"""The quarterly compliance check (Art. 20) through Airflow on the seeded company: findings
become rectification items with owners and deadlines, the report (PDF, CSV, HTML) reaches
compliance and management on a real SMTP server on loopback, and a second run adds nothing."""

from __future__ import annotations

from email.header import decode_header, make_header
from pathlib import Path

import pytest
from sqlalchemy import text

from dossiers.core import db
from dossiers.local import local_airflow
from dossiers.workflows import staff

pytestmark = pytest.mark.airflow


def test_the_compliance_check_through_airflow_finds_and_reports(cli, database_url: str, inbox,
                                                                tmp_path: Path) -> None:
    assert cli("seed", "--clients", "40", "--seed", "9").status == 0
    with db.transaction() as conn:  # a newcomer whose agreement is not on record (Art. 19)
        cs_head = conn.execute(text(
            "SELECT s.username FROM staff s JOIN staff_role r ON r.staff_id = s.id "
            "WHERE r.role = 'cs_head' ORDER BY s.id LIMIT 1")).scalar_one()
        staff.add(conn, cs_head, "new.hire", "market", ["liaison"])
        unrecorded = conn.execute(text(
            "SELECT count(*) FROM dossier d WHERE d.status = 'open' AND NOT EXISTS "
            "(SELECT 1 FROM client_authorisation a WHERE a.reference = d.authorisation_ref)")
        ).scalar_one()
    assert unrecorded > 0  # the seed leaves some clients' authorisations off the record
    log = tmp_path / "airflow.log"
    # the first working day of Q4 2026 (after the National Day holiday) checks Q3
    status = local_airflow.run_dag_test("dossier_compliance_check", database_url,
                                        "2026-10-08T10:00:00+08:00", output=log)
    assert status == 0, log.read_text()[-4000:]
    with db.transaction() as conn:
        found = conn.execute(text(
            "SELECT f.check_id, f.subject, o.username, f.due_on, d.dossier_no "
            "FROM finding f LEFT JOIN staff o ON o.id = f.owner_id "
            "LEFT JOIN dossier d ON d.id = f.dossier_id "
            "WHERE f.duty = 'compliance_check' AND f.period = '2026-Q3'")).all()
        clocks = conn.execute(text(
            "SELECT count(*) FROM clock WHERE kind = 'rectification' AND subject_id IN "
            "(SELECT id::text FROM finding WHERE duty = 'compliance_check')")).scalar_one()
        formats = {f for (f,) in conn.execute(text(
            "SELECT format FROM report WHERE kind = 'compliance_check' AND period = '2026-Q3'"))}
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("finding", "report", "ledger_entry", "clock")}
    checks = {r.check_id for r in found}
    assert {"authorisation.missing", "agreement.missing"} <= checks
    (newcomer,) = [r for r in found if r.subject == "staff new.hire"]
    assert newcomer.username == cs_head and newcomer.due_on is not None
    assert all(r.username and r.due_on for r in found)  # every item has an owner and a deadline
    assert all(r.dossier_no for r in found if r.check_id.startswith("authorisation."))
    assert clocks == len(found)
    assert formats == {"pdf", "csv", "html"}
    for recipient in ("compliance@staff.example.com", "management@staff.example.com"):
        (mail,) = inbox.to(recipient)
        subject = str(make_header(decode_header(mail["Subject"])))
        assert "Quarterly compliance check report 2026-Q3" in subject
    sent = len(inbox.messages)
    assert local_airflow.run_dag_test("dossier_compliance_check", database_url,
                                      "2026-10-08T10:00:00+08:00", output=log) == 0
    with db.transaction() as conn:
        assert {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in counts} == counts
    assert len(inbox.messages) == sent
