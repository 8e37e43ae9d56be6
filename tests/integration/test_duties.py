"""The scheduled duties' domain work: SLA watch, owner check, sampling audit (Arts. 12, 14).

Mail goes through Airflow's SMTP provider to a real SMTP server on loopback (aiosmtpd).
Re-running a duty for the same period changes nothing and sends nothing.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import date, datetime
from email.message import Message as MimeMessage

import pytest
from sqlalchemy import text

from dossiers.calendar.workdays import default_calendar
from dossiers.core import db, directory
from dossiers.core.config import SHANGHAI
from dossiers.core.crypto import KeyRing
from dossiers.duties import mail, owner_check, sampling_audit, sla_watch, tasks
from dossiers.duties.findings import Gap
from dossiers.local.local_airflow import libpq_url
from dossiers.workflows import creation

from helpers import client_form, submitted
from helpers import rows as _rows

pytestmark = pytest.mark.integration


def _body(message: MimeMessage) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/html":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no html part")


def _submit(tmp_path, name: str) -> uuid.UUID:
    form_id = submitted(tmp_path, client_form(name), file_name=f"{name}.json")
    assert form_id is not None
    return form_id


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
    # one item per sampled dossier with a paper volume (the quarter may find other things
    # too: seeded documents left unfiled past their deadline by the audit's date)
    ((labelled,),) = _rows("SELECT count(*) FROM paper_volume v JOIN dossier d ON d.id = v.dossier_id "
                           "JOIN duty_run r ON r.duty = 'sampling_audit' AND r.period = '2026-Q4' "
                           "AND r.summary -> 'sample_dossiers' ? d.dossier_no")
    assert len(items) == labelled > 0 and q4["findings"] >= len(items)
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
    assert q1["recheck"]["rechecked"] == q4["findings"]  # every open item of the quarter
    assert dict(_rows("SELECT status, count(*) FROM finding WHERE period = '2026-Q4' "
                      "AND check_id = 'paper.label_number' GROUP BY status")) == {
        "resolved": len(items) - 1, "persisting": 1}
    assert _rows("SELECT f.dossier_id, f.status, f.rechecked_in FROM finding f JOIN clock c "
                 "ON c.kind = 'rectification' AND c.subject_id = f.id::text "
                 "WHERE f.period = '2026-Q4' AND f.check_id = 'paper.label_number' "
                 "AND c.met_at IS NULL") == [(left, "persisting", "2027-Q1")]


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


def test_a_refused_recipient_is_retried_alone_and_everyone_else_gets_one_mail(
        cli, database_url, inbox, monkeypatch) -> None:
    """The owner check as its task runs it (completeness, then the duty, then its mail), with
    one liaison's mailbox refused at RCPT TO and another's message refused at DATA: three
    tries (the first and Airflow's two retries) each fail, but every other liaison gets the
    month's mail exactly once; the refused ones are recorded with their attempts, and once
    the server takes them the next try sends those two alone and succeeds."""
    assert cli("seed", "--clients", "60", "--seed", "9").status == 0
    monkeypatch.setenv("AIRFLOW_CONN_DOSSIER_DB", libpq_url(database_url))
    october = (datetime(2026, 10, 1, tzinfo=SHANGHAI), datetime(2026, 11, 2, 9, tzinfo=SHANGHAI))
    with db.transaction() as conn:  # every liaison of an open dossier, as the check writes to them
        liaisons = sorted(conn.execute(text(
            "SELECT DISTINCT s.username FROM dossier d JOIN staff s ON s.id = d.liaison_id "
            "WHERE d.status = 'open'")).scalars())
    everyone = [mail.staff_address(u) for u in liaisons]
    assert len(everyone) >= 5
    bounced, refused = everyone[1], everyone[-2]  # one early, one late in the sending order
    with db.transaction() as conn:  # both have something to hear about: a deadline running
        conn.execute(text(
            "INSERT INTO clock (kind, subject_type, subject_id, article, owner_id, started_on, "
            "due_on) SELECT 'immediate_update', 'dossier', d.id::text, 'Art. 12', d.liaison_id, "
            "'2026-10-20', '2026-10-23' FROM dossier d JOIN staff s ON s.id = d.liaison_id "
            "WHERE s.username IN (:a, :b) AND d.status = 'open'"),
            {"a": liaisons[1], "b": liaisons[-2]})
    inbox.refuse_rcpt.add(bounced)
    inbox.refuse_data.add(refused)

    for _ in range(3):  # the task and Airflow's retries
        with pytest.raises(mail.MailUndelivered, match="2 mail"):
            tasks.owner_check(*october)
    outbox = _rows("SELECT recipient, attempts, sent_at IS NULL, last_error FROM mail_outbox "
                   "WHERE duty = 'owner_check' AND period = '2026-10' ORDER BY recipient")
    written = {r[0] for r in outbox} - {bounced, refused}
    assert len(written) >= 5 and {bounced, refused} < {r[0] for r in outbox}
    # every other liaison the check wrote to got it exactly once; nobody else got anything
    assert {a: len(inbox.to(a)) for a in everyone} == \
        {a: 1 if a in written else 0 for a in everyone}
    assert len(inbox.messages) == len(written)
    failed = {r[0]: (r[1], r[3]) for r in outbox if r[2]}
    assert set(failed) == {bounced, refused}
    assert failed[bounced][0] == 3 and failed[bounced][1].startswith("SMTPRecipientsRefused: 550")
    assert failed[refused][0] == 3 and failed[refused][1].startswith("SMTPDataError: 554")
    assert not any("@" in error for _, error in failed.values())  # addresses masked
    assert all(attempts == 1 for _, attempts, unsent, _ in outbox if not unsent)
    # the duty itself was done once: one ledger entry, its findings not repeated
    assert _rows("SELECT count(*) FROM ledger_entry WHERE action = 'duty.owner_check'") == [(1,)]

    served = os.environ["AIRFLOW_CONN_DOSSIER_SMTP"]  # the mail server down for one try
    monkeypatch.setenv("AIRFLOW_CONN_DOSSIER_SMTP", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": 9, "extra": json.dumps(
            {"disable_tls": True, "disable_ssl": True, "timeout": 2, "retry_limit": 0})}))
    with pytest.raises(OSError):
        tasks.owner_check(*october)
    assert _rows("SELECT recipient, attempts, last_error FROM mail_outbox WHERE sent_at IS NULL "
                 "ORDER BY recipient") == [(a, 4, "ConnectionRefusedError: [Errno 111] "
                                           "Connection refused") for a in sorted(failed)]
    monkeypatch.setenv("AIRFLOW_CONN_DOSSIER_SMTP", served)

    inbox.refuse_rcpt.clear()
    inbox.refuse_data.clear()  # the mailboxes are fixed: the next retry sends those two alone
    before = len(inbox.messages)
    summary = tasks.owner_check(*october)
    assert summary["sent"] == 2 and "skipped" in summary
    assert len(inbox.messages) == before + 2
    assert {a: len(inbox.to(a)) for a in everyone} == \
        {a: 1 if a in written | {bounced, refused} else 0 for a in everyone}
    assert _rows("SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL") == [(0,)]
    assert tasks.owner_check(*october)["sent"] == 0  # and once more: nothing
    assert len(inbox.messages) == before + 2
