"""The scheduled duties' domain work: SLA watch, owner check, sampling audit (Arts. 12, 14).

Mail goes through Airflow's SMTP provider to a real SMTP server on loopback (aiosmtpd).
Re-running a duty for the same period changes nothing and sends nothing.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from email.message import Message as MimeMessage

import pytest
from sqlalchemy import text

from dossiers.calendar.workdays import default_calendar
from dossiers.core import db, directory
from dossiers.core.crypto import KeyRing
from dossiers.duties import mail, owner_check, sampling_audit, sla_watch
from dossiers.duties.findings import Gap
from dossiers.intake.service import import_file
from dossiers.workflows import creation

pytestmark = pytest.mark.integration


def _body(message: MimeMessage) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/html":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no html part")


def _rows(sql: str, **params) -> list[tuple]:
    with db.transaction() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def _submit(tmp_path, name: str) -> uuid.UUID:
    form = {"client_name_zh": f"{name}公司", "client_name_en": f"{name} AG", "client_type": "MFG",
            "stage": "potential", "target_markets": "CH", "liaison": "wang.market",
            "department": "market", "authorisation_ref": "A-1", "collected_on": "2026-11-02",
            "contact_name": "Urs Keller", "contact_email": f"urs@{name.lower()}.example.ch"}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps([form], ensure_ascii=False))
    return uuid.UUID(import_file(path, acting_user="wang.market")["accepted"][0]["form_id"])


def test_sla_watch_reminds_then_escalates_once_a_day(company, tmp_path, inbox) -> None:
    _submit(tmp_path, "Alpen")
    (due,), = _rows("SELECT due_on FROM clock WHERE kind = 'form_review'")
    cal = default_calendar()
    day_before = cal.add(due, -1).date
    with db.transaction() as conn:
        summary, messages = sla_watch.watch(conn, day_before)
    assert summary["due_soon"] == 1 and summary["overdue"] == 0
    assert mail.send(messages) == 1
    [reminder] = inbox.to("zhao.market@staff.example.com")
    assert "Due soon" in _body(reminder) and f"due {due.isoformat()}" in _body(reminder)
    with db.transaction() as conn:  # the same day again: nothing new
        again, more = sla_watch.watch(conn, day_before)
    assert "skipped" in again and more == []

    late = cal.add(due, 1).date
    with db.transaction() as conn:
        summary, messages = sla_watch.watch(conn, late)
    mail.send(messages)
    assert summary["overdue"] == 1 and summary["escalation"] == 1
    # the owner is the department head, so the escalation goes to the CS head
    assert "Escalated to you" in _body(inbox.to("chen.cs@staff.example.com")[0])
    assert _rows("SELECT kind, for_date FROM reminder ORDER BY id") == [
        ("due_soon", day_before), ("overdue", late), ("escalation", late)]
    assert _rows("SELECT action FROM ledger_entry WHERE action LIKE 'duty.%'") == [
        ("duty.sla_watch",), ("duty.sla_watch",)]


def test_owner_check_lists_each_liaisons_gaps_with_their_article(cli, company, tmp_path,
                                                                  inbox) -> None:
    keys = KeyRing()
    form_id = _submit(tmp_path, "Berg")
    with db.transaction() as conn:
        creation.review_form(conn, directory.load_actor(conn, "zhao.market"), form_id, approve=True)
    with db.transaction() as conn:
        made = creation.create_dossier(conn, keys, directory.load_actor(conn, "li.archive"), form_id)
    broken = uuid.UUID(made["dossier_id"])
    gap = Gap(broken, "basic.registered_address", "Art. 10", "basic", "error",
              "registered address is missing")
    with db.transaction() as conn:  # the liaison also has a deadline running
        conn.execute(text(
            "INSERT INTO clock (kind, subject_type, subject_id, article, owner_id, started_on, "
            "due_on) SELECT 'immediate_update', 'dossier', :d, 'Art. 12', id, '2026-11-02', "
            "'2026-11-04' FROM staff WHERE username = 'wang.market'"), {"d": str(broken)})
        summary, messages = owner_check.owner_check(conn, date(2026, 11, 1), [gap],
                                                    date(2026, 12, 1))
    mail.send(messages)
    assert summary["dossiers_with_gaps"] == 1 and summary["dossiers_checked"] == 1
    [note] = inbox.to("wang.market@staff.example.com")
    body = _body(note)
    assert made["dossier_no"] in body and "basic.registered_address (Art. 10, basic)" in body
    assert f"immediate_update of dossier {made['dossier_no']}, due 2026-11-04" in body
    with db.transaction() as conn:
        again, more = owner_check.owner_check(conn, date(2026, 11, 1), [gap], date(2026, 12, 1))
    assert "skipped" in again and more == []
    assert _rows("SELECT duty, period, check_id FROM finding") == [
        ("owner_check", "2026-11", "basic.registered_address")]


def test_sampling_audit_is_reproducible_and_rechecks_its_findings(cli, database_url) -> None:
    assert cli("seed", "--clients", "120", "--seed", "11").status == 0
    with db.transaction() as conn:
        first = sampling_audit.sampling_audit(conn, date(2026, 7, 1), [], date(2026, 10, 9),
                                              seed=42)
    sample_size = first["sample"]
    assert sample_size >= 10 and first["seed"] == 42
    assert all(n >= 1 for n in first["sampled_by_stratum"].values())
    # the same quarter again: nothing new, the seed kept in the ledger
    with db.transaction() as conn:
        assert "skipped" in sampling_audit.sampling_audit(conn, date(2026, 7, 1), [],
                                                          date(2026, 10, 9), seed=7)
    ((details,),) = _rows("SELECT details FROM ledger_entry WHERE action = 'duty.sampling_audit'")
    assert details["seed"] == 42 and details["sample"] == sample_size
    # the draw itself is reproducible from the recorded seed
    strata = {("a", "x"): [uuid.UUID(int=i) for i in range(50)],
              ("b", "y"): [uuid.UUID(int=100 + i) for i in range(7)]}
    assert sampling_audit.draw(strata, 42) == sampling_audit.draw(strata, 42)
    assert sampling_audit.draw(strata, 42) != sampling_audit.draw(strata, 43)

    # paper labels that no longer match become rectification items with deadlines...
    with db.transaction() as conn:
        conn.execute(text("UPDATE paper_volume SET label_dossier_no = label_dossier_no || '*'"))
        q4 = sampling_audit.sampling_audit(conn, date(2026, 10, 1), [], date(2027, 1, 4), seed=1)
    items = _rows("SELECT f.check_id, f.due_on, c.due_on FROM finding f JOIN clock c "
                  "ON c.kind = 'rectification' AND c.subject_id = f.id::text "
                  "WHERE f.period = '2026-Q4' AND f.check_id = 'paper.label_number'")
    assert len(items) == q4["findings"] > 0
    assert all(found_due == clock_due == default_calendar().add(date(2027, 1, 4), 10).date
               for _, found_due, clock_due in items)
    # ...re-checked by the next quarter: the relabelled ones resolved and their clocks
    # stopped, the one left as it was persisting with its clock still running
    left = _rows("SELECT d.id FROM finding f JOIN dossier d ON d.id = f.dossier_id "
                 "WHERE f.period = '2026-Q4' AND f.check_id = 'paper.label_number' "
                 "ORDER BY d.dossier_no LIMIT 1")[0][0]
    with db.transaction() as conn:
        conn.execute(text("UPDATE paper_volume SET label_dossier_no = rtrim(label_dossier_no, '*') "
                          "WHERE dossier_id <> :left"), {"left": left})
        q1 = sampling_audit.sampling_audit(conn, date(2027, 1, 1), [], date(2027, 4, 1), seed=2)
    assert q1["recheck"] == {"rechecked": len(items), "resolved": len(items) - 1, "persisting": 1}
    assert _rows("SELECT f.dossier_id, f.status, f.rechecked_in FROM finding f JOIN clock c "
                 "ON c.kind = 'rectification' AND c.subject_id = f.id::text "
                 "WHERE f.period = '2026-Q4' AND c.met_at IS NULL") == [(left, "persisting", "2027-Q1")]


def test_a_contact_shared_with_another_clients_dossier_is_a_truthfulness_signal(
        cli, database_url) -> None:
    assert cli("seed", "--clients", "30", "--seed", "5").status == 0
    first, second, third = (r[0] for r in _rows(
        "SELECT dossier_id FROM contact WHERE email_bidx IS NOT NULL "
        "GROUP BY dossier_id ORDER BY dossier_id LIMIT 3"))
    with db.transaction() as conn:  # the second dossier's contact gets the first one's e-mail
        conn.execute(text("UPDATE contact SET email_bidx = (SELECT email_bidx FROM contact "
                          "WHERE dossier_id = :a AND email_bidx IS NOT NULL LIMIT 1) "
                          "WHERE id = (SELECT min(id) FROM contact WHERE dossier_id = :b)"),
                     {"a": first, "b": second})
        gaps = sampling_audit.consistency_gaps(conn, [first, second, third])
    shared = sorted(g.dossier_id for g in gaps if g.check_id == "truth.shared_email")
    assert shared == sorted([first, second])


def test_a_failed_duty_is_mailed_to_ops(inbox, monkeypatch) -> None:
    from types import SimpleNamespace

    from dossiers.airflow import notify

    monkeypatch.setenv("DOSSIER_OPS_TO", "ops@staff.example.com")
    context = {"dag": SimpleNamespace(dag_id="dossier_owner_check"),
               "task": SimpleNamespace(task_id="owner_check"), "run_id": "manual__2026-11-02",
               "exception": RuntimeError("database unreachable")}
    notify.on_failure(context)
    [notice] = inbox.to("ops@staff.example.com")
    assert ("DUTY FAILED dag=dossier_owner_check task=owner_check run=manual__2026-11-02: "
            "RuntimeError: database unreachable") in _body(notice)
    monkeypatch.setenv("AIRFLOW_CONN_DOSSIER_SMTP", "smtp://127.0.0.1:9")  # nothing listens
    notify.on_failure(context)  # logged, not raised: the task has failed already
