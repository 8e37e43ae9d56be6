"""Publish GX Data Docs with the reports (issue 4): GX has no S3 store, so the site a
completeness run built is zipped and put in the report store next to the reports, recorded
in ``report`` (kind ``data_docs``, format ``zip``) and ledgered like a report. The site is
built by a file context whose configuration holds no secret (``dossiers.quality``)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert

from dossiers.core import clock, ledger
from dossiers.core.schema import report
from dossiers.core.vocabulary import LedgerAction
from dossiers.reports.store import open_store


def site_zip(index_html: Path) -> bytes:
    """The Data Docs site (the folder of ``index.html``) as a zip, byte-stable for the same
    files (fixed timestamps, sorted names)."""
    root = index_html.parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(path.relative_to(root)), date_time=(2026, 1, 1, 0, 0, 0))
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def publish_data_docs(conn: Connection, index_html: Path, period: str) -> str:
    """Store the site for ``period`` (replacing an older copy); the URI."""
    data = site_zip(index_html)
    digest = hashlib.sha256(data).hexdigest()
    known = conn.execute(select(report.c.uri, report.c.sha256).where(
        report.c.kind == "data_docs", report.c.period == period, report.c.format == "zip")).first()
    if known is not None and known.sha256 == digest:
        return str(known.uri)
    uri = open_store().put(f"data_docs/{period}/data-docs-{period}.zip", data, "application/zip",
                           digest)
    conn.execute(insert(report).values(kind="data_docs", period=period, format="zip", uri=uri,
                                       sha256=digest, created_at=clock.now()).on_conflict_do_update(
        index_elements=["kind", "period", "format"], set_={"uri": uri, "sha256": digest}))
    ledger.append(conn, ledger.Entry(
        actor="system", action=LedgerAction.REPORT_PUBLISH, subject_type="report",
        subject_id=f"data_docs/{period}/zip",
        details={"sha256": digest, "replaced": known.sha256 if known else None}))
    return uri
