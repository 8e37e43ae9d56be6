"""Reports: PDF with the CJK font embedded, CSV safe for spreadsheets, HTML with inline SVG
charts checked in headless Chromium, publishing to a folder and to S3 (moto's server),
e-mail to an SMTP server on loopback, and reports built from real duty runs.

Last, the report pages of ``plugins/dossier_reports.py``, in-process and in a real
``airflow api-server``.

Needs Debian's fonts-wqy-microhei, poppler-utils and chromium (``make system-deps``); a test
whose tool is missing is skipped with the reason. Screenshots are kept under
``test-artifacts/reports/`` (their paths are printed: ``pytest -s``).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import zipfile
from datetime import UTC, date, datetime
from email.header import decode_header, make_header
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import text

from dossiers.core import db
from dossiers.duties import sampling_audit
from dossiers.reports import KINDS, Chart, Column, Heading, Label, Report, Row, Series, Source, Table
from dossiers.reports import Text as Para
from dossiers.reports.csv import render_csv
from dossiers.reports.html import render_html
from dossiers.reports.pdf import render_pdf
from dossiers.reports.publish import messages, publish, send
from dossiers.reports.store import open_store

if TYPE_CHECKING:
    from conftest import AirflowServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "reports"
EVIL = "<script>alert('x')</script>"
FORMULAS = ['=HYPERLINK("http://evil.example","點我")', "+1+2", "-3+cmd|' /C calc'!A0", "@SUM(A1:A9)"]
RUN_Q3 = Source(duty_run="sampling_audit/2026-Q3", ledger_seq=41)
RUN_Q4 = Source(duty_run="sampling_audit/2026-Q4", ledger_seq=57)


def sample_report(*, extra: int = 0) -> Report:
    """A report with Chinese and English, hostile text, formulas and two charts."""
    rows = [Row(("市場部 Market", 12 + extra, 0.95), Source("sampling_audit/2026-Q4", 57, "finding 17")),
            Row(("策劃部 Planning", 3, 0.875), RUN_Q4),
            Row((EVIL, 1, None), RUN_Q3),
            *(Row((f, i, None), RUN_Q4) for i, f in enumerate(FORMULAS))]
    return Report(
        kind="sampling_audit", period="2026-Q4", title=KINDS["sampling_audit"][0],
        as_of=datetime(2027, 1, 4, 2, 30, tzinfo=UTC), articles="Arts. 12, 14, 21",
        summary=Label("本季度抽查 15 份檔案，完整率 95.0%。", "15 dossiers sampled; completeness 95.0%."),
        meta=((Label("隨機種子", "Seed"), "42"),),
        sections=(
            Heading(Label("概要", "Summary")),
            Table("departments", Label("各部門抽查結果", "Results by department"),
                  (Column(Label("部門", "Department")), Column(Label("問題數", "Findings"), "int"),
                   Column(Label("完整率", "Completeness"), "percent")), tuple(rows)),
            Chart("completeness", Label("完整率趨勢", "Completeness trend"), "line",
                  Label("季度", "Quarter"), Label("完整率", "Completeness"), ("2026-Q3", "2026-Q4"),
                  (Series(Label("完整率", "Completeness"), (0.91, 0.95)),), (RUN_Q3, RUN_Q4),
                  percent=True),
            Chart("findings_by_department", Label("各部門問題", "Findings by department"), "bar",
                  Label("部門", "Department"), Label("問題數", "Findings"), ("市場部", "策劃部"),
                  (Series(Label("2026-Q3", "2026-Q3"), (4, 1)),
                   Series(Label("2026-Q4", "2026-Q4"), (12, 3))), (RUN_Q4, RUN_Q4)),
            Para("抽樣種子已記錄於檔案管理臺賬。", "The sampling seed is recorded in the ledger.", RUN_Q4),
        ))


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (make system-deps)")
    return path


# --- PDF --------------------------------------------------------------------------------------


def test_pdf_embeds_the_cjk_font_and_its_text_extracts(tmp_path: Path) -> None:
    report = sample_report()
    data = render_pdf(report)
    assert data.startswith(b"%PDF-") and render_pdf(report) == data  # same report, same bytes
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(data)

    fonts = subprocess.run([_need("pdffonts"), str(pdf)], capture_output=True, text=True,
                           check=True).stdout
    [font] = [ln for ln in fonts.splitlines() if "WenQuanYi" in ln]
    assert "CID TrueType" in font and font.split()[-5:-2] == ["yes", "yes", "yes"]  # emb sub uni

    extracted = subprocess.run([_need("pdftotext"), "-layout", str(pdf), "-"], capture_output=True,
                               text=True, check=True).stdout
    for expected in ("季度全面檢查及抽查報告", "Quarterly full check and sampling audit",
                     "各部門抽查結果", "Results by department", "市場部 Market", "策劃部 Planning",
                     "95.0%", "87.5%", "完整率趨勢", "抽樣種子已記錄於檔案管理臺賬。",
                     "2027-01-04 10:30 (Asia/Shanghai)", EVIL,
                     # every figure's source, numbered, in the appendix
                     "附錄：數據來源", "[1] duty_run sampling_audit/2026-Q4 · ledger #57 · finding 17",
                     "[2] duty_run sampling_audit/2026-Q4 · ledger #57",
                     "[3] duty_run sampling_audit/2026-Q3 · ledger #41"):
        assert expected in extracted, expected
    assert " 12 " in extracted.split("市場部 Market")[1].splitlines()[0] + " "


# --- CSV --------------------------------------------------------------------------------------


def test_csv_neutralises_formulas_and_round_trips_chinese() -> None:
    files = render_csv(sample_report())
    assert set(files) == {"sampling_audit-2026-Q4-departments.csv",
                          "sampling_audit-2026-Q4-completeness.csv",
                          "sampling_audit-2026-Q4-findings_by_department.csv",
                          "sampling_audit-2026-Q4-sources.csv"}
    raw = files["sampling_audit-2026-Q4-departments.csv"]
    assert raw.startswith("\ufeff".encode())  # Excel reads UTF-8 with a BOM
    header, *rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert header == ["部門 / Department", "問題數 / Findings", "完整率 / Completeness",
                      "來源 / Source", "職責運行 / Duty run", "臺賬序號 / Ledger seq"]
    assert rows[0] == ["市場部 Market", "12", "95.0%", "[1]", "sampling_audit/2026-Q4", "57"]
    assert rows[2][0] == EVIL  # text stays text: only formula triggers are touched
    formula_cells = [r[0] for r in rows[3:]]
    assert formula_cells == ["'" + f for f in FORMULAS]
    for cell in (c for r in rows for c in r):
        assert not cell.startswith(("=", "+", "@")), cell
        assert not cell.startswith("-") or cell.lstrip("-").replace(".", "").isdigit(), cell

    sources = list(csv.reader(io.StringIO(files["sampling_audit-2026-Q4-sources.csv"]
                                          .decode("utf-8-sig"))))
    assert sources[1] == ["[1]", "sampling_audit/2026-Q4", "57", "finding 17"]
    chart = list(csv.reader(io.StringIO(files["sampling_audit-2026-Q4-completeness.csv"]
                                        .decode("utf-8-sig"))))
    assert chart[1:] == [["2026-Q3", "91.0%", "[3]", "sampling_audit/2026-Q3", "41"],
                         ["2026-Q4", "95.0%", "[2]", "sampling_audit/2026-Q4", "57"]]


# --- HTML -------------------------------------------------------------------------------------


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}"]
    return subprocess.run([_need("chromium"), *flags, *args], capture_output=True, text=True,
                          check=False, timeout=120)


def test_html_is_escaped_self_contained_and_renders_in_chromium(tmp_path: Path) -> None:
    report = sample_report()
    page = render_html(report)
    assert render_html(report) == page
    # autoescaped: the hostile value is text, and the page has no script at all
    assert "<script" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    # charts inline as SVG, ids unique across them, and nothing to fetch from anywhere
    assert page.count("<svg ") == 2 and 'aria-label="完整率趨勢 / Completeness trend"' in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert 'http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;;' in page

    html_file = tmp_path / "report.html"
    html_file.write_text(page, encoding="utf-8")
    dom = _chromium("--dump-dom", html_file.as_uri(), profile=tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "季度全面檢查及抽查報告" in dom.stdout and "<script" not in dom.stdout
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in dom.stdout  # shown as text
    assert dom.stdout.count("<svg") >= 2

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "sampling_audit-2026-Q4.png"
    shot.unlink(missing_ok=True)
    done = _chromium(f"--screenshot={shot}", "--window-size=1280,2000", html_file.as_uri(),
                     profile=tmp_path / "profile-shot")
    assert done.returncode == 0 and shot.stat().st_size > 20_000, done.stderr[-2000:]
    print(f"\nscreenshot: {shot}")
    from PIL import Image

    with Image.open(shot) as image:
        pixels = image.convert("RGB").getdata()
        # the charts' first colour (#1f5fa8) is drawn: the SVG rendered
        blue = sum(1 for r, g, b in pixels if abs(r - 31) < 30 and abs(g - 95) < 30 and abs(b - 168) < 30)
    assert blue > 2_000


# --- publishing ---------------------------------------------------------------------------------


def _report_rows() -> list[tuple[str, str, str, str, str]]:
    with db.transaction() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT kind, period, format, uri, sha256 FROM report ORDER BY format"))]


def test_publish_to_a_folder_records_each_format_once(database_url: str, tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    with db.transaction() as conn:
        first = publish(conn, sample_report(), store=store)
    assert [(p.format, p.status) for p in first] == [("pdf", "new"), ("csv", "new"), ("html", "new")]
    rows = _report_rows()
    assert [r[2] for r in rows] == ["csv", "html", "pdf"]
    for kind, period, _fmt, uri, digest in rows:
        assert (kind, period) == ("sampling_audit", "2026-Q4")
        path = Path(uri.removeprefix("file://"))
        assert path.is_relative_to(tmp_path / "store" / "sampling_audit" / "2026-Q4")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    with zipfile.ZipFile(tmp_path / "store/sampling_audit/2026-Q4/sampling_audit-2026-Q4-csv.zip") as z:
        assert "sampling_audit-2026-Q4-departments.csv" in z.namelist()

    # the same period again, same data: nothing written, no row added; the mail not sent yet
    # is still owed (see test_mail_carries_the_files_to_compliance for once it went out)
    with db.transaction() as conn:
        again = publish(conn, sample_report(), store=store)
    assert {p.status for p in again} == {"unchanged"} and _report_rows() == rows
    assert all(p.to_mail for p in again) and len(messages(sample_report(), again, tmp_path)) == 1

    # corrected data for the same period: the object and the row are replaced, not added
    with db.transaction() as conn:
        corrected = publish(conn, sample_report(extra=1), store=store, formats=("pdf",))
    assert corrected[0].status == "replaced"
    after = _report_rows()
    assert len(after) == 3 and after[2][3] == rows[2][3] and after[2][4] != rows[2][4]
    assert hashlib.sha256(Path(after[2][3].removeprefix("file://")).read_bytes()).hexdigest() \
        == after[2][4]
    with db.transaction() as conn:
        ledgered = conn.execute(text(
            "SELECT subject_id, details FROM ledger_entry WHERE action = 'report.publish' "
            "ORDER BY seq")).all()
    assert [s for s, _ in ledgered] == ["sampling_audit/2026-Q4/pdf", "sampling_audit/2026-Q4/csv",
                                        "sampling_audit/2026-Q4/html", "sampling_audit/2026-Q4/pdf"]
    assert ledgered[-1][1]["replaced_sha256"] == rows[2][4]


def test_publish_to_s3_on_motos_server(database_url: str, moto_server: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    monkeypatch.setenv("AIRFLOW_CONN_DOSSIER_S3", json.dumps({
        "conn_type": "aws", "login": "test", "password": "test",
        "extra": {"endpoint_url": moto_server, "region_name": "us-east-1"}}))
    monkeypatch.setenv("DOSSIER_REPORT_STORE", "s3://dossier-reports/compliance")
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    s3.create_bucket(Bucket="dossier-reports")

    with db.transaction() as conn:
        published = publish(conn, sample_report())
    assert {p.status for p in published} == {"new"}
    for *_, uri, digest in _report_rows():
        key = uri.removeprefix("s3://dossier-reports/")
        assert key.startswith("compliance/sampling_audit/2026-Q4/sampling_audit-2026-Q4")
        obj = s3.get_object(Bucket="dossier-reports", Key=key)
        assert hashlib.sha256(obj["Body"].read()).hexdigest() == digest
        assert obj["Metadata"]["sha256"] == digest
        assert open_store().get(uri)[:4] in (b"%PDF", b"PK\x03\x04", b"<!DO")
    with db.transaction() as conn:
        assert {p.status for p in publish(conn, sample_report())} == {"unchanged"}
    assert len(_report_rows()) == 3


def test_mail_carries_the_files_to_compliance(database_url: str, inbox, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    inbox_conn = os.environ["AIRFLOW_CONN_DOSSIER_SMTP"]
    monkeypatch.setenv("DOSSIER_COMPLIANCE_TO", "compliance@staff.example.com,qa.he@staff.example.com")
    store = open_store(str(tmp_path / "store"))
    report = sample_report()
    with db.transaction() as conn:
        published = publish(conn, report, store=store)
    assert send(report, published) == 2  # one copy per recipient (the outbox's rows)
    [message] = inbox.to("compliance@staff.example.com")
    [copy] = inbox.to("qa.he@staff.example.com")
    assert copy["Subject"] == message["Subject"] and copy is not message
    subject = str(make_header(decode_header(message["Subject"])))
    assert subject == "[檔案報告 Dossier report] 季度全面檢查及抽查報告 Quarterly full check and " \
                      "sampling audit 2026-Q4"
    attached = {part.get_filename(): part.get_payload(decode=True) for part in message.walk()
                if part.get_filename()}
    assert set(attached) == {"sampling_audit-2026-Q4.pdf", "sampling_audit-2026-Q4-csv.zip",
                             "sampling_audit-2026-Q4.html"}
    by_name = {p.filename: p.sha256 for p in published}
    for name, payload in attached.items():
        assert hashlib.sha256(payload).hexdigest() == by_name[name]
    body = next(p for p in message.walk() if p.get_content_type() == "text/html")
    assert by_name["sampling_audit-2026-Q4.pdf"] in body.get_payload(decode=True).decode()

    # a re-run publishes nothing new and mails nothing
    with db.transaction() as conn:
        again = publish(conn, report, store=store)
    assert not any(p.to_mail for p in again) and send(report, again) == 0
    assert len(inbox.messages) == 2

    # a mail that never went out (server down after the commit) goes with the next try
    with db.transaction() as conn:
        corrected = publish(conn, sample_report(extra=1), store=store, formats=("pdf",))
    monkeypatch.setenv("AIRFLOW_CONN_DOSSIER_SMTP", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": 9, "extra": json.dumps(
            {"disable_tls": True, "disable_ssl": True, "timeout": 2, "retry_limit": 1})}))
    with pytest.raises(OSError):
        send(sample_report(extra=1), corrected)
    monkeypatch.setenv("AIRFLOW_CONN_DOSSIER_SMTP", inbox_conn)  # the server is back
    with db.transaction() as conn:
        retry = publish(conn, sample_report(extra=1), store=store, formats=("pdf",))
    assert [(p.status, p.to_mail) for p in retry] == [("unchanged", True)]
    assert send(sample_report(extra=1), retry) == 2
    late = inbox.messages[-1]
    assert [p.get_filename() for p in late.walk() if p.get_filename()] == \
        ["sampling_audit-2026-Q4.pdf"]
    with db.transaction() as conn:
        assert not publish(conn, sample_report(extra=1), store=store, formats=("pdf",))[0].to_mail
        mailed = conn.execute(text("SELECT subject_id FROM ledger_entry WHERE action = "
                                   "'report.mail' ORDER BY seq")).scalars().all()
    assert mailed == ["sampling_audit/2026-Q4/pdf", "sampling_audit/2026-Q4/csv",
                      "sampling_audit/2026-Q4/html", "sampling_audit/2026-Q4/pdf"]


def test_a_refused_report_recipient_is_mailed_alone_on_the_next_try(
        database_url: str, inbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One compliance recipient refused by the mail server: the others get the report once
    across the tries, ``report.mail`` waits until everyone has it, and once the server takes
    the refused one the next try sends it that one copy alone."""
    from dossiers.duties.mail import MailUndelivered

    monkeypatch.setenv("DOSSIER_COMPLIANCE_TO", "compliance@staff.example.com,"
                       "qa.he@staff.example.com,audit@staff.example.com")
    inbox.refuse_rcpt.add("qa.he@staff.example.com")
    store = open_store(str(tmp_path / "store"))
    for _ in range(3):  # the task and its retries: each publishes (unchanged) and mails
        with db.transaction() as conn:
            published = publish(conn, sample_report(), store=store)
        assert all(p.to_mail for p in published)  # not mailed to everyone yet
        with pytest.raises(MailUndelivered, match="1 mail"):
            send(sample_report(), published)
    assert [len(inbox.to(a)) for a in ("compliance@staff.example.com", "audit@staff.example.com",
                                       "qa.he@staff.example.com")] == [1, 1, 0]
    with db.transaction() as conn:
        assert conn.execute(text("SELECT count(*) FROM ledger_entry WHERE action = "
                                 "'report.mail'")).scalar_one() == 0
        assert conn.execute(text("SELECT recipient, attempts FROM mail_outbox WHERE sent_at "
                                 "IS NULL")).all() == [("qa.he@staff.example.com", 3)]

    inbox.refuse_rcpt.clear()
    with db.transaction() as conn:
        published = publish(conn, sample_report(), store=store)
    assert send(sample_report(), published) == 1
    [late] = inbox.to("qa.he@staff.example.com")
    assert {p.get_filename() for p in late.walk() if p.get_filename()} == {
        p.filename for p in published}
    assert len(inbox.messages) == 3
    with db.transaction() as conn:  # now it is mailed: ledgered once per file, nothing owed
        assert conn.execute(text("SELECT count(*) FROM ledger_entry WHERE action = "
                                 "'report.mail'")).scalar_one() == 3
        again = publish(conn, sample_report(), store=store)
    assert not any(p.to_mail for p in again) and send(sample_report(), again) == 0
    assert len(inbox.messages) == 3


# --- reports from real duty runs ------------------------------------------------------------


def test_reports_built_from_duty_runs_trace_every_figure(cli, database_url: str,
                                                         tmp_path: Path) -> None:
    from dossiers.reports import builders
    from dossiers.reports.duty_reports import publish_duty_report

    assert cli("seed", "--clients", "60", "--seed", "11").status == 0
    with db.transaction() as conn:
        sampling_audit.sampling_audit(conn, date(2026, 7, 1), [], date(2026, 10, 9), seed=42)
        conn.execute(text("UPDATE paper_volume SET label_dossier_no = label_dossier_no || '*'"))
        q4 = sampling_audit.sampling_audit(conn, date(2026, 10, 1), [], date(2027, 1, 4), seed=1)
        seq = conn.execute(text("SELECT seq FROM ledger_entry WHERE action = 'duty.sampling_audit' "
                                "AND subject_id = 'sampling_audit/2026-Q4'")).scalar_one()
        audit = builders.sampling_audit_report(conn, "2026-Q4")
        summary = builders.audit_summary(conn, "2026-Q4")
    assert q4["findings"] > 0

    figures = {r.cells[0]: r for t in audit.tables() if t.name == "figures" for r in t.rows}
    sampled = figures["抽查樣本數 Dossiers sampled"]
    assert sampled.cells[1] == q4["sample"]
    assert sampled.source == Source("sampling_audit/2026-Q4", seq)
    [items] = [t for t in audit.tables() if t.name == "findings"]
    assert len(items.rows) == q4["findings"]
    assert all(r.source.duty_run == "sampling_audit/2026-Q4" and r.source.ledger_seq == seq
               and (r.source.query or "").startswith("finding ") for r in items.rows)
    # the relabelled volumes; and seeded documents still unfiled past their deadline on the
    # audit's day, when the seed (dated from today) made some
    assert {r.cells[2] for r in items.rows} - {"document.unfiled"} == {"paper.label_number"}

    assert summary.audience == "management"
    trend = {t.name: t for t in summary.tables()}
    assert [r.cells[0] for r in trend["completeness"].rows] == ["2026-Q3", "2026-Q4"]
    assert trend["completeness"].rows[1].source == Source("sampling_audit/2026-Q4", seq)
    assert sum(sum(v for v in r.cells[1:] if isinstance(v, int))
               for r in trend["findings_by_department"].rows) >= q4["findings"]

    (tmp_path / "audit.pdf").write_bytes(render_pdf(audit))
    text_ = subprocess.run([_need("pdftotext"), "-layout", str(tmp_path / "audit.pdf"), "-"],
                           capture_output=True, text=True, check=True).stdout
    assert f"duty_run sampling_audit/2026-Q4 · ledger #{seq}" in text_
    assert "paper.label_number" in text_

    page = tmp_path / "audit_summary.html"
    page.write_text(render_html(summary), encoding="utf-8")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "audit_summary-2026-Q4.png"
    shot.unlink(missing_ok=True)
    done = _chromium(f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri(),
                     profile=tmp_path / "profile")
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    print(f"\nscreenshot: {shot}")

    # what the duty task calls: both reports of the quarter, stored and recorded once each
    store = tmp_path / "store"
    with db.transaction() as conn:
        uris = publish_duty_report("sampling_audit", "2026-Q4", q4, conn=conn,
                                   store=open_store(str(store)))
    assert len(uris) == 6 and all(u.startswith(store.resolve().as_uri()) for u in uris)
    with db.transaction() as conn:
        assert conn.execute(text("SELECT kind, count(*) FROM report GROUP BY kind ORDER BY kind")
                            ).all() == [("audit_summary", 3), ("sampling_audit", 3)]


def test_other_duties_figures_become_tables_with_sources() -> None:
    from dossiers.reports.duty_reports import from_figures

    kpi = {"period": "2026-11", "kind": "monthly",
           "creation_timeliness": {"total": 8, "met": 7, "rate": 0.875},
           "creation_timeliness_target": 1.0, "creation_timeliness_met_target": False,
           "accuracy": 0.9, "departments": {"market": {"creation_timeliness": {
               "total": 8, "met": 7, "rate": 0.875}, "refused_actions": 2}},
           "people": [{"indicator": "creation_timeliness", "department": "market",
                       "person": "=wang.market", "total": 8, "met": 7, "rate": 0.875}],
           "security_incidents": {"loans_returned_late": 1, "volumes_returned_damaged": 0}}
    source = Source("kpi_monthly/2026-11", 99)
    report = from_figures("kpi_monthly", "2026-11", kpi, source, datetime(2026, 12, 1, tzinfo=UTC))
    tables = {t.name: t for t in report.tables()}
    assert set(tables) == {"figures", "departments", "people", "security_incidents"}
    assert all(r.source == source for t in tables.values() for r in t.rows)
    key = {r.cells[0]: r.cells for r in tables["figures"].rows}
    assert key["建檔及時率 Creation timeliness"] == ("建檔及時率 Creation timeliness", 8, 0.875)
    assert key["信息準確率 Information accuracy"][2] == 0.9
    columns = [c.label.en for c in tables["departments"].columns]
    assert columns == ["Item", "Creation timeliness: Total", "Creation timeliness: On time",
                       "Creation timeliness: Rate", "Refused actions"]
    people = render_csv(report)["kpi_monthly-2026-11-people.csv"].decode("utf-8-sig")
    assert "'=wang.market" in people and "87.5%" in people
    assert "Creation timeliness: Rate" in render_html(report)


# --- the report pages of plugins/dossier_reports.py ----------------------------------------------
#
# In-process, the plugin module is imported from its file and its app mounted under its prefix
# in a bare FastAPI app, as Airflow's ``init_plugins`` does (``app.mount``): no DagBag, no server.
# Then a real ``airflow api-server`` (the shared ``api_server`` fixture of tests/conftest.py)
# shows that Airflow does not protect a plugin's routes by itself and the app does: 401 without
# a token, 200 with one from ``POST /auth/token`` or the UI's cookie. About 30-40 s, mostly
# Airflow's start, once a session. What a user sees of these pages in a browser:
# tests/airflow/test_report_pages.py.

PREFIX = "/dossier-reports"


def _plugin_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dossier_reports_plugin",
                                                  REPO / "plugins" / "dossier_reports.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _published(store: Path) -> dict[str, Any]:
    """A sample report published into ``store``; its ``report`` rows by format."""
    with db.transaction() as conn:
        publish(conn, sample_report(), store=open_store(str(store)))
        rows = conn.execute(text("SELECT id, format, uri, sha256 FROM report")).all()
    return {r.format: r for r in rows}


def test_plugin_declares_the_app_and_the_ui_view() -> None:
    plugin = _plugin_module().DossierReportsPlugin
    assert plugin.name == "dossier_reports"
    [app] = plugin.fastapi_apps
    assert app["url_prefix"] == PREFIX and not app["url_prefix"].startswith(
        ("/api/v2", "/ui", "/execution", "/auth", "/pluginsv2"))
    embedded, tab = plugin.external_views
    assert embedded["href"] == tab["href"] == f"{PREFIX}/"
    assert embedded["url_route"] == "dossier-reports"  # shown inside the UI
    assert "url_route" not in tab and "PDF" in tab["name"]  # opens in a tab: downloads work


def test_pages_in_process(database_url: str, company: dict[str, str], tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from dossiers.api.report_pages import airflow_user

    monkeypatch.setenv("DOSSIER_REPORT_STORE", str(tmp_path / "store"))
    rows = _published(tmp_path / "store")
    lazy = _plugin_module().DossierReportsPlugin.fastapi_apps[0]["app"]
    root = FastAPI()
    root.mount(PREFIX, lazy)
    client = TestClient(root)

    assert client.get(f"{PREFIX}/health").json() == {"status": "ok"}
    refused = client.get(f"{PREFIX}/")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert "authentication" in refused.json()["detail"]
    assert client.get(f"{PREFIX}/reports/{rows['pdf'].id}").status_code == 401
    # a browser asking for the page is sent to Airflow's login page, to come back after it
    page_request = client.get(f"{PREFIX}/latest/sampling_audit?format=html",
                              headers={"Accept": "text/html,*/*"}, follow_redirects=False)
    assert page_request.status_code == 303
    assert page_request.headers["location"] == \
        f"/auth/login?next={PREFIX}/latest/sampling_audit%3Fformat%3Dhtml"

    # signed in (see below), but not a staff member, or staff whose roles do not give reports
    for username, why in (("ops.airflow", "not a staff member"),
                          ("wang.market", "roles ['liaison'] do not allow report.read")):
        lazy._app.dependency_overrides[airflow_user] = lambda username=username: username
        for path in ("/", f"/reports/{rows['pdf'].id}", "/latest/sampling_audit"):
            denied = client.get(f"{PREFIX}{path}")
            assert denied.status_code == 403 and why in denied.json()["detail"], denied.text
    with db.transaction() as conn:
        assert conn.execute(text(
            "SELECT count(*) FROM access_log WHERE actor = 'wang.market' AND NOT allowed "
            "AND action = 'report.read'")).scalar_one() == 3  # every refusal is logged

    lazy._app.dependency_overrides[airflow_user] = lambda: "mgmt.wu"
    index = client.get(f"{PREFIX}/")
    assert index.status_code == 200 and "季度全面檢查及抽查報告" in index.text
    assert f'href="{PREFIX}/reports/{rows["pdf"].id}"' in index.text
    assert "frame-ancestors 'self'" in index.headers["Content-Security-Policy"]
    # the UI's iframe has no allow-popups: a new-window link is dead there (test_report_pages.py)
    assert "target=" not in index.text

    pdf = client.get(f"{PREFIX}/reports/{rows['pdf'].id}")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == rows["pdf"].sha256 == \
        pdf.headers["X-Report-SHA256"]
    page = client.get(f"{PREFIX}/latest/sampling_audit")
    assert page.status_code == 200 and page.text.count("<svg ") == 2
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none'
    assert client.get(f"{PREFIX}/latest/kpi_monthly").status_code == 404

    # a stored object that no longer matches its recorded digest is not served
    Path(rows["html"].uri.removeprefix("file://")).write_text("<p>changed</p>")
    assert client.get(f"{PREFIX}/reports/{rows['html'].id}").status_code == 409


def test_pages_never_answer_500(database_url: str, company: dict[str, str], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """What a probe sent the pages: a Data Docs row (format ``zip``), an id beyond bigint, a
    NUL in the path. Each is a 4xx or the file, never a 500 (issue 10, item 8)."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from dossiers.api.report_pages import airflow_user
    from dossiers.reports.data_docs import publish_data_docs

    monkeypatch.setenv("DOSSIER_REPORT_STORE", str(tmp_path / "store"))
    rows = _published(tmp_path / "store")
    site = tmp_path / "gx-site"
    (site / "validations").mkdir(parents=True)
    (site / "index.html").write_text("<html>Data Docs</html>")
    (site / "validations" / "run.html").write_text("<html>run</html>")
    with db.transaction() as conn:
        publish_data_docs(conn, site / "index.html", "2026-11")
        docs = conn.execute(text("SELECT id, sha256 FROM report WHERE kind = 'data_docs'")).one()
    lazy = _plugin_module().DossierReportsPlugin.fastapi_apps[0]["app"]
    root = FastAPI()
    root.mount(PREFIX, lazy)
    client = TestClient(root, raise_server_exceptions=False)
    assert client.get(f"{PREFIX}/health").status_code == 200
    lazy._app.dependency_overrides[airflow_user] = lambda: "mgmt.wu"

    # Data Docs are listed on the index and served as the zip of the site
    index = client.get(f"{PREFIX}/")
    assert index.status_code == 200, index.text
    assert f'href="{PREFIX}/reports/{docs.id}"' in index.text and "Data Docs" in index.text
    zipped = client.get(f"{PREFIX}/reports/{docs.id}")
    assert zipped.status_code == 200, zipped.text
    assert zipped.headers["content-type"] == "application/zip"
    assert zipped.headers["content-disposition"] == \
        'attachment; filename="data_docs-2026-11.zip"'
    assert hashlib.sha256(zipped.content).hexdigest() == docs.sha256
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as z:
        assert sorted(z.namelist()) == ["index.html", "validations/run.html"]
    latest = client.get(f"{PREFIX}/latest/data_docs", params={"format": "zip"})
    assert latest.status_code == 200 and latest.content == zipped.content

    for path, status in ((f"/reports/{2**63}", 422), ("/reports/99999999999999999999999", 422),
                         ("/reports/-1", 422), ("/reports/0", 422),
                         (f"/reports/{2**63 - 1}", 404), ("/reports/a%00b", 422),
                         ("/latest/sampling%00audit", 422), ("/latest/%00", 422),
                         ("/latest/sampling_audit?format=pdf%00", 422),
                         ("/latest/" + "k" * 40, 422), ("/latest/no_such_kind", 404)):
        answer = client.get(f"{PREFIX}{path}")
        assert answer.status_code == status, (path, answer.status_code, answer.text)
        assert set(answer.json()) == {"detail"} and isinstance(answer.json()["detail"], str)
        assert "\n" not in answer.json()["detail"]
    assert client.get(f"{PREFIX}/reports/{rows['pdf'].id}").status_code == 200


# --- a real API server (the shared ``api_server`` fixture of tests/conftest.py) ------------------


@pytest.mark.airflow
def test_pages_in_a_real_api_server(api_server: AirflowServer, company: dict[str, str]) -> None:
    base, passwords = api_server.base, api_server.passwords
    rows = _published(api_server.report_store)
    for path in ("/", f"/reports/{rows['pdf'].id}", "/latest/sampling_audit"):
        refused = httpx.get(f"{base}{PREFIX}{path}", timeout=30)
        assert refused.status_code == 401, (path, refused.text)
    bad = httpx.get(f"{base}{PREFIX}/", headers={"Authorization": "Bearer not-a-jwt"}, timeout=30)
    assert bad.status_code == 401

    token = httpx.post(f"{base}/auth/token", json={"username": "mgmt.wu",
                                                   "password": passwords["mgmt.wu"]}, timeout=30)
    assert token.status_code == 201, token.text
    auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
    index = httpx.get(f"{base}{PREFIX}/", headers=auth, timeout=30)
    assert index.status_code == 200 and "季度全面檢查及抽查報告" in index.text
    assert f'href="{PREFIX}/reports/{rows["pdf"].id}"' in index.text  # links under the mount
    # an Airflow admin who is not staff of the dossier system reads no report
    ops = httpx.post(f"{base}/auth/token", json={"username": "ops.airflow",
                                                 "password": passwords["ops.airflow"]}, timeout=30)
    not_staff = httpx.get(f"{base}{PREFIX}/", timeout=30,
                          headers={"Authorization": f"Bearer {ops.json()['access_token']}"})
    assert not_staff.status_code == 403 and "not a staff member" in not_staff.json()["detail"]
    pdf = httpx.get(f"{base}{PREFIX}/reports/{rows['pdf'].id}", headers=auth, timeout=30)
    assert pdf.status_code == 200 and hashlib.sha256(pdf.content).hexdigest() == rows["pdf"].sha256
    # the browser's way in: the UI's session cookie, as the iframe sends it
    cookie = httpx.get(f"{base}{PREFIX}/latest/sampling_audit", timeout=30,
                       cookies={"_token": token.json()["access_token"]})
    assert cookie.status_code == 200 and cookie.text.count("<svg ") == 2

    plugins = httpx.get(f"{base}/api/v2/plugins", headers=auth, timeout=30).json()["plugins"]
    [mine] = [p for p in plugins if p["name"] == "dossier_reports"]
    assert mine["fastapi_apps"][0]["url_prefix"] == PREFIX
    assert mine["external_views"][0]["url_route"] == "dossier-reports"


# --- who reads which rows (issue 10, item 6; Art. 22) -------------------------------------------


def test_a_department_edition_keeps_only_that_departments_rows() -> None:
    from dossiers.reports.duty_reports import from_figures
    from dossiers.reports.model import edition

    kpi = {"period": "2026-11", "creation_timeliness": {"total": 2, "met": 1, "rate": 0.5},
           "departments": {d: {"filing_conformity": {"total": 1, "met": 1, "rate": 1.0}}
                           for d in ("market", "planning", "system")},
           "people": [{"indicator": "filing_conformity", "department": d, "person": p,
                       "total": 1, "met": 1} for d, p in (("market", "wang.market"),
                                                          ("planning", "sun.plan"))],
           "refused_actions": [{"department": "system", "person": "system", "refused": 1}]}
    whole = from_figures("kpi_monthly", "2026-11", kpi, Source("kpi_month/2026-11", 1),
                         datetime(2026, 12, 1, tzinfo=UTC))
    mine = edition(whole, "planning", Label("策劃部", "Planning"))
    tables = {t.name: t for t in mine.tables()}
    assert [r.cells[0] for r in tables["departments"].rows] == ["planning"]
    assert [r.cells[1] for r in tables["people"].rows] == ["planning"]
    assert tables["refused_actions"].rows == ()
    assert len(tables["figures"].rows) == len({t.name: t for t in whole.tables()}["figures"].rows)
    assert mine.stem == "kpi_monthly-2026-11-planning"
    # a chart by department keeps its point, or says there is none
    chart = Chart("by_dept", Label("各部門", "By department"), "bar", Label("部門", "Department"),
                  Label("數", "Count"), ("市場部", "策劃部"), (Series(Label("a", "a"), (3, 4)),),
                  (Source("x/1", 1), Source("x/1", 1)), departments=("market", "planning"))
    both = Report("audit_summary", "2026-Q4", Label("t", "t"), datetime(2026, 12, 1, tzinfo=UTC),
                  "Art. 22", (chart,))
    [kept] = edition(both, "planning", Label("策劃部", "Planning")).sections
    assert isinstance(kept, Chart) and kept.x == ("策劃部",) and kept.series[0].values == (4,)
    [none] = edition(both, "execution", Label("執行部", "Execution")).sections
    assert isinstance(none, Para) and "no figures" in none.en


def _people_csv(zipped: bytes) -> list[dict[str, str]]:
    with zipfile.ZipFile(io.BytesIO(zipped)) as z:
        [name] = [n for n in z.namelist() if n.endswith("-people.csv")]
        return list(csv.DictReader(io.StringIO(z.read(name).decode("utf-8-sig"))))


def test_pages_give_a_head_their_departments_people_and_the_cs_head_everyones(
        database_url: str, company: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As the planning head, the KPI scorecard holds planning's people only; the CS head
    (and management, QA, the archivist) read it whole, as before."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from dossiers.api.report_pages import airflow_user
    from dossiers.duties import kpi
    from dossiers.reports.duty_reports import publish_duty_report
    from dossiers.workflows import staff

    monkeypatch.setenv("DOSSIER_REPORT_STORE", str(tmp_path / "store"))
    with db.transaction() as conn:
        staff.add(conn, "chen.cs", "qian.plan", "planning", ["dept_head"])
        for n, owner in enumerate(("wang.market", "sun.plan", "zhao.market", "sun.plan")):
            conn.execute(text(
                "INSERT INTO clock (kind, subject_type, subject_id, article, owner_id, started_on,"
                " due_on, met_at) SELECT 'filing', 'dossier', :n, 'Art. 11(5)', id, '2026-11-02',"
                " '2026-11-04', '2026-11-03 10:00+08' FROM staff WHERE username = :u"),
                {"n": str(n), "u": owner})
        card = kpi.scorecard(conn, "month", date(2026, 11, 1))
        assert len(publish_duty_report("kpi_monthly", card["period"], card, conn=conn,
                                       store=open_store(str(tmp_path / "store")))) == 3
        whole = {r.format: r.id for r in conn.execute(text(
            "SELECT id, format FROM report WHERE kind = 'kpi_monthly'"))}
    lazy = _plugin_module().DossierReportsPlugin.fastapi_apps[0]["app"]
    root = FastAPI()
    root.mount(PREFIX, lazy)
    client = TestClient(root)
    assert client.get(f"{PREFIX}/health").status_code == 200  # the lazy app is built

    def as_user(username: str) -> None:
        lazy._app.dependency_overrides[airflow_user] = lambda: username

    as_user("qian.plan")
    scorecard = client.get(f"{PREFIX}/latest/kpi_monthly", params={"format": "csv"})
    assert scorecard.status_code == 200, scorecard.text
    assert 'filename="kpi_monthly-2026-11-planning-csv.zip"' in \
        scorecard.headers["content-disposition"]
    people = _people_csv(scorecard.content)
    assert {r["人員 / Person"] for r in people} == {"sun.plan"}
    assert {r["部門 / Department"] for r in people} == {"planning"}
    # the index links the same ids; behind them, the planning edition (HTML and CSV)
    index = client.get(f"{PREFIX}/")
    assert f'href="{PREFIX}/reports/{whole["csv"]}"' in index.text
    assert f'href="{PREFIX}/reports/{whole["pdf"]}"' not in index.text
    by_id = client.get(f"{PREFIX}/reports/{whole['csv']}")
    assert by_id.status_code == 200 and by_id.content == scorecard.content
    page = client.get(f"{PREFIX}/reports/{whole['html']}")
    assert page.status_code == 200 and "sun.plan" in page.text
    assert "wang.market" not in page.text and "zhao.market" not in page.text
    # the whole (the PDF has no edition) is refused and logged, through the matrix
    for path in (f"/reports/{whole['pdf']}", "/latest/kpi_monthly?format=pdf"):
        denied = client.get(f"{PREFIX}{path}")
        assert denied.status_code == 403, denied.text
        assert "do not allow report.read_all" in denied.json()["detail"]
    with db.transaction() as conn:
        assert conn.execute(text(
            "SELECT count(*) FROM access_log WHERE actor = 'qian.plan' AND NOT allowed "
            "AND action = 'report.read_all'")).scalar_one() == 2

    as_user("zhao.market")  # the market head: market's people, not planning's
    market = _people_csv(client.get(f"{PREFIX}/latest/kpi_monthly?format=csv").content)
    assert {r["人員 / Person"] for r in market} == {"wang.market", "zhao.market"}

    for reader in ("chen.cs", "mgmt.wu", "qa.he", "li.archive"):  # the whole, as before
        as_user(reader)
        everyone = client.get(f"{PREFIX}/latest/kpi_monthly", params={"format": "csv"})
        assert everyone.status_code == 200, (reader, everyone.text)
        assert 'filename="kpi_monthly-2026-11-csv.zip"' in everyone.headers["content-disposition"]
        assert {r["人員 / Person"] for r in _people_csv(everyone.content)} == \
            {"wang.market", "sun.plan", "zhao.market"}
        assert client.get(f"{PREFIX}/reports/{whole['pdf']}").status_code == 200


# --- department names and empty tables (issue 17, item 1) ----------------------------------------


def test_a_published_kpi_scorecard_names_departments_in_both_languages(
        database_url: str, company: dict[str, str], tmp_path: Path) -> None:
    """The scorecard's department and people tables read 客服部 Customer Service, as the audit
    summary does, not ``customer_service``; the CSV keeps the code and adds the name; the
    refused actions of a month without any read as a sentence, not a lone "none" row."""
    from dossiers.duties import kpi
    from dossiers.reports.duty_reports import publish_duty_report

    store = open_store(str(tmp_path / "store"))
    with db.transaction() as conn:
        for n, owner in enumerate(("li.archive", "wang.market")):
            conn.execute(text(
                "INSERT INTO clock (kind, subject_type, subject_id, article, owner_id, started_on,"
                " due_on, met_at) SELECT 'filing', 'dossier', :n, 'Art. 11(5)', id, '2026-11-02',"
                " '2026-11-04', '2026-11-03 10:00+08' FROM staff WHERE username = :u"),
                {"n": str(n), "u": owner})
        card = kpi.scorecard(conn, "month", date(2026, 11, 1))
        assert card["refused_actions"] == []
        uris = publish_duty_report("kpi_monthly", card["period"], card, conn=conn, store=store)
    [html_uri] = [u for u in uris if u.endswith(".html")]
    [pdf_uri] = [u for u in uris if u.endswith(".pdf")]
    [zip_uri] = [u for u in uris if u.endswith(".zip")]
    page = store.get(html_uri).decode("utf-8")
    pdf = tmp_path / "kpi.pdf"
    pdf.write_bytes(store.get(pdf_uri))
    extracted = subprocess.run([_need("pdftotext"), "-layout", str(pdf), "-"],
                               capture_output=True, text=True, check=True).stdout
    for shown in (page, extracted):
        assert "客服部 Customer Service" in shown and "市場部 Marketing" in shown
        assert "customer_service" not in shown and "本期無" in shown
        assert "none this period" in shown
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", page)
    assert "customer_service" not in cells and "market" not in cells
    assert ">無 / none<" not in page
    with zipfile.ZipFile(io.BytesIO(store.get(zip_uri))) as z:
        [name] = [n for n in z.namelist() if n.endswith("-departments.csv")]
        rows = list(csv.reader(io.StringIO(z.read(name).decode("utf-8-sig"))))
    assert rows[0][:2] == ["項目 / Item", "部門名稱 / Department name"]
    assert ["customer_service", "客服部 Customer Service"] in [r[:2] for r in rows[1:]]


def test_the_vocabulary_names_the_departments_and_roles_as_the_database_does(
        database_url: str) -> None:
    """One definition: the ``department`` and ``role`` tables hold the vocabulary's names."""
    from dossiers.core.permissions import ROLE_NAMES, Role
    from dossiers.core.vocabulary import DEPARTMENT_NAMES, Department

    with db.transaction() as conn:
        departments = {r.code: (r.name_zh, r.name_en) for r in conn.execute(
            text("SELECT code, name_zh, name_en FROM department"))}
        roles = {r.code: (r.name_zh, r.name_en) for r in conn.execute(
            text("SELECT code, name_zh, name_en FROM role"))}
    assert departments == {d.value: DEPARTMENT_NAMES[d] for d in Department}
    assert roles == {r.value: ROLE_NAMES[r] for r in Role if r is not Role.SYSTEM}
