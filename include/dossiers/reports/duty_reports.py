"""The duties' reports: what ``dossiers.duties.tasks`` calls after a duty's transaction.

:func:`publish_duty_report` builds the report of a duty run, publishes it (store, ``report``
row, ledger) in its own transaction, then e-mails what changed, and returns the URIs.

- ``sampling_audit`` has its own builder (:func:`~dossiers.reports.builders.sampling_audit_report`)
  and, after it, the managers' :func:`~dossiers.reports.builders.audit_summary` is published too;
- every other kind is built by :func:`from_figures` from the figures the duty returned: top-level
  numbers become the "key figures" table, a mapping or list becomes a table of its own.
  Every row cites the duty run (``duty/period``) and its ledger entry. Labels come from
  :data:`LABELS` (Chinese and English); a key missing there shows as itself in both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from dossiers.core import clock
from dossiers.core.schema import duty_run
from dossiers.duties.mail import MailUndelivered
from dossiers.reports.builders import department_names
from dossiers.reports.model import KINDS, Column, ColumnKind, Heading, Label, Report, Row, Source, Table
from dossiers.reports.store import LocalStore, S3Store

#: The duty (``duty_run.duty``) behind each report kind, where the names differ.
DUTY_OF_KIND = {"annual_update": "annual_refresh", "kpi_monthly": "kpi_month",
                "kpi_quarterly": "kpi_quarter"}

#: The articles each report enforces.
ARTICLES = {"sampling_audit": "Arts. 12, 14, 21", "annual_update": "Art. 12",
            "kpi_monthly": "Art. 22", "kpi_quarterly": "Art. 22", "qa_inspection": "Art. 21",
            "client_analysis": "Art. 6(5)", "audit_summary": "Arts. 14, 21, 22",
            "compliance_check": "Arts. 9, 19, 20"}

#: Bilingual labels of the figures' keys (extend here when a duty adds a figure).
LABELS: dict[str, Label] = {k: Label(zh, en) for k, (zh, en) in {
    "period": ("期間", "Period"), "year": ("年度", "Year"), "kind": ("類別", "Kind"),
    "population": ("在檔檔案", "Open dossiers"), "sample": ("抽查數", "Sampled"),
    "findings": ("新發現問題", "New findings"), "seed": ("隨機種子", "Seed"),
    "campaign_dossiers": ("年度更新檔案數", "Dossiers in the annual update"),
    "campaign_total": ("年度更新總數", "Annual update: total"),
    "campaign_done": ("已完成更新", "Annual update: done"), "due": ("截止日期", "Due"),
    "by_department": ("按部門", "By department"), "department": ("部門", "Department"),
    "dossiers": ("檔案數", "Dossiers"), "updated_in_year": ("年內已更新", "Updated in the year"),
    "creation_timeliness": ("建檔及時率", "Creation timeliness"),
    "creation_timeliness_target": ("建檔及時率目標", "Creation timeliness target"),
    "creation_timeliness_met_target": ("達到建檔及時率目標", "Creation timeliness target met"),
    "update_timeliness": ("更新及時率", "Update timeliness"),
    "filing_conformity": ("歸檔規範率", "Filing conformity"),
    "accuracy": ("信息準確率", "Information accuracy"), "departments": ("各部門", "Departments"),
    "people": ("個人", "People"), "person": ("人員", "Person"), "indicator": ("指標", "Indicator"),
    "refused_actions": ("被拒絕的操作", "Refused actions"), "refused": ("被拒絕", "Refused"),
    "security_incidents": ("安全事件", "Security incidents"),
    "loans_returned_late": ("逾期歸還借閱", "Loans returned late"),
    "volumes_returned_damaged": ("歸還時損壞的卷", "Volumes returned damaged"),
    "total": ("總數", "Total"), "met": ("按時", "On time"), "rate": ("比率", "Rate"),
    "completeness_by_department": ("各部門完整性", "Completeness by department"),
    "with_errors": ("有錯誤的檔案", "Dossiers with errors"),
    "rectification_items": ("整改項", "Rectification items"),
    "deadlines_missed_by_kind": ("按類別逾期", "Deadlines missed by kind"),
    "loans_overdue_now": ("當前逾期借閱", "Loans overdue now"),
    "ledger_intact": ("臺賬完整", "Ledger intact"),
    "completeness_success": ("完整性檢查通過", "Completeness checks passed"),
    "failing_checks": ("未通過的檢查", "Failing checks"), "data_docs": ("數據文檔", "Data Docs"),
    "by_market": ("按目標市場", "By target market"), "by_type": ("按客戶類型", "By client type"),
    "by_stage": ("按階段", "By stage"), "marketing_goals": ("營銷目標", "Marketing goals"),
    "satisfaction_by_type": ("各類型滿意度", "Satisfaction by client type"),
    "client_type": ("客戶類型", "Client type"), "average_rating": ("平均評分", "Average rating"),
    "complaints": ("投訴", "Complaints"), "new_dossiers_by_month": ("每月新建檔案", "New dossiers by month"),
    "open": ("未整改", "Open"), "resolved": ("已整改", "Resolved"), "persisting": ("仍未整改", "Persisting"),
    "count": ("數量", "Count"), "value": ("數值", "Value"), "item": ("項目", "Item"),
    "clients_checked": ("檢查的在檔客戶", "Open clients checked"),
    "problems_now": ("當前問題", "Problems now"), "by_check": ("按檢查項", "By check"),
    "recheck": ("整改複查", "Re-check of earlier items"), "rechecked": ("已複查", "Re-checked"),
    "not_checked": ("未檢查（尚無登記）", "Not checked (no register yet)"),
    "check": ("檢查項", "Check"), "article": ("條款", "Article"), "severity": ("嚴重程度", "Severity"),
    "subject": ("對象", "Subject"), "owner": ("負責人", "Owner"), "status": ("狀態", "Status"),
    "incidents": ("合規事件", "Compliance incidents"),
    "confidentiality_compliance": ("保密合規", "Confidentiality compliance"),
    "client_information_security": ("客戶信息安全", "Client information security"),
    "breaches": ("洩露及錯誤披露", "Leaks and wrong disclosures"),
    "complaints_upheld": ("成立的投訴", "Complaints upheld"), "compliant": ("合規", "Compliant"),
    "incidents_opened": ("新報告事件", "Incidents reported"),
    "incidents_closed": ("已結案事件", "Incidents closed"),
    "incidents_open_at_end": ("期末未結事件", "Incidents open at the end"),
    "complaints_received": ("收到的投訴", "Complaints received"),
    "complaints_closed": ("已結案投訴", "Complaints closed"),
    "disclosures_registered": ("登記的對外披露", "External disclosures registered"),
    "destruction_and_disclosure": ("銷毀與對外披露", "Destruction and external disclosure"),
    "destruction_forms_executed": ("已執行的銷毀申請", "Destruction forms executed"),
    "dossiers_destroyed": ("已銷毀檔案", "Dossiers destroyed"),
    "destruction_forms_rejected": ("被駁回的銷毀申請", "Destruction forms rejected"),
    "destruction_forms_stopped": ("執行前中止的銷毀", "Destructions stopped before execution"),
    "disclosures_packaged": ("已提供的對外披露", "External disclosures packaged"),
    "cross_border_transfers": ("跨境傳輸", "Cross-border transfers"),
    "disclosures_rejected": ("被駁回的對外披露", "External disclosures rejected"),
}.items()}

_SKIP = {"reports", "skipped", "period"}
Scalar = str | int | float | bool | None


def label(key: str) -> Label:
    return LABELS.get(key, Label(key, key.replace("_", " ")))


def _kind_of(key: str, value: Any) -> ColumnKind:
    if key == "department" and isinstance(value, str):
        return "department"  # the code stays in the cell; people read its name
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "text"
    if key == "rate" or key.endswith(("_rate", "_target", "accuracy")) or key == "accuracy":
        return "percent"
    return "int" if isinstance(value, int) else "number"


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _cell(value: Scalar) -> Scalar:
    return ("是 yes" if value else "否 no") if isinstance(value, bool) else value


#: Figures that are a mapping keyed by department code (the KPI's, the QA inspection's).
KEYED_BY_DEPARTMENT = frozenset({"departments", "completeness_by_department"})


def _department(row: Mapping[str, Any]) -> str | None:
    """The department a row of a list of figures is about: its ``department`` (a person's,
    a department's count), or ``None`` for a company-wide row."""
    department = row.get("department")
    return str(department) if department is not None else None


def _table(name: str, value: Any, source: Source) -> Table | None:
    """A mapping or a list as a table; ``None`` for shapes that are not tabular."""
    slug = name.lower()
    by_key = name in KEYED_BY_DEPARTMENT
    if isinstance(value, Mapping) and all(_scalar(v) for v in value.values()):
        kinds = {_kind_of(str(k), v) for k, v in value.items() if v is not None}
        kind: ColumnKind = kinds.pop() if len(kinds) == 1 else "text"
        return Table(slug, label(name), (Column(label("item"), _key_kind(by_key)),
                                         Column(label("value"), kind)),
                     tuple(Row((str(k), _cell(v)), source, str(k) if by_key else None)
                           for k, v in value.items()))
    rows: list[tuple[str | None, Mapping[str, Any]]]
    if isinstance(value, Mapping) and all(isinstance(v, Mapping) for v in value.values()):
        rows = [(str(k), _flatten(v)) for k, v in value.items()]
    elif isinstance(value, Sequence) and not isinstance(value, str) and \
            all(isinstance(v, Mapping) for v in value):
        rows = [(None, _flatten(v)) for v in value]
    elif isinstance(value, Sequence) and not isinstance(value, str) and all(map(_scalar, value)):
        return Table(slug, label(name), (Column(label("item")),),
                     tuple(Row((_cell(v),), source) for v in value))
    else:
        return None
    keys: list[str] = []
    for _, r in rows:
        keys += [k for k in r if k not in keys]
    first = [Column(label("item"), _key_kind(by_key))] if any(k is not None for k, _ in rows) else []
    samples = {k: next((r[k] for _, r in rows if r.get(k) is not None), None) for k in keys}
    columns = (*first, *(Column(_column_label(k), _kind_of(k.rpartition(".")[2], samples[k]))
                          for k in keys))
    return Table(slug, label(name), tuple(columns), tuple(
        Row(((key,) if first else ()) + tuple(_cell(r.get(k)) for k in keys), source,
            key if by_key else _department(r))
        for key, r in rows))


def _key_kind(by_department: bool) -> ColumnKind:
    """A table keyed by department shows each key as the department's bilingual name."""
    return "department" if by_department else "text"


def _column_label(key: str) -> Label:
    """``creation_timeliness.rate`` → 建檔及時率 比率 / Creation timeliness: Rate."""
    outer, _, inner = key.partition(".")
    if not inner:
        return label(key)
    return Label(f"{label(outer).zh} {label(inner).zh}", f"{label(outer).en}: {label(inner).en}")


def _flatten(row: Mapping[str, Any]) -> dict[str, Scalar]:
    """One level of nesting becomes ``outer.inner`` columns (``creation_timeliness.rate``)."""
    out: dict[str, Scalar] = {}
    for k, v in row.items():
        if isinstance(v, Mapping):
            out.update({f"{k}.{ik}": iv for ik, iv in v.items() if _scalar(iv)})
        elif _scalar(v):
            out[k] = v
    return out


def from_figures(kind: str, period: str, figures: Mapping[str, Any], source: Source,
                 as_of: datetime) -> Report:
    """A report from a duty's figures (see the module's docstring for the shapes)."""
    title, audience = KINDS.get(kind, (Label(kind, kind.replace("_", " ")), "compliance"))
    key_rows: list[Row] = []
    tables: list[Table] = []
    for key, value in figures.items():
        if key in _SKIP:
            continue
        if _scalar(value):
            kind_ = _kind_of(key, value)
            key_rows.append(Row((label(key).both(" "), None if kind_ == "percent" else _cell(value),
                                 value if kind_ == "percent" else None), source))
        elif isinstance(value, Mapping) and set(value) <= {"total", "met", "rate"}:
            key_rows.append(Row((label(key).both(" "), value.get("total"), value.get("rate")),
                                source))
        elif (table := _table(key, value, source)) is not None:
            tables.append(table)
    figures_table = Table("figures", Label("主要數字", "Key figures"),
                          (Column(Label("指標", "Figure")), Column(Label("數值", "Value"), "text"),
                           Column(Label("比率", "Rate"), "percent")), tuple(key_rows))
    return Report(kind=kind, period=period, title=title, as_of=as_of,
                  articles=ARTICLES.get(kind, "—"), audience=audience,
                  sections=(Heading(Label("概要", "Summary")), figures_table,
                            *((Heading(Label("明細", "Details")),) if tables else ()), *tables))


def duty_source(conn: Connection, kind: str, period: str) -> tuple[Source, datetime]:
    """The duty run behind a report and when it finished (the report's ``as_of``)."""
    from dossiers.reports.builders import run_source

    duty = DUTY_OF_KIND.get(kind, kind)
    finished = conn.execute(select(duty_run.c.finished_at).where(
        duty_run.c.duty == duty, duty_run.c.period == period)).scalar()
    return run_source(conn, duty, period), finished or clock.now()


def build(conn: Connection, kind: str, period: str, figures: Mapping[str, Any]) -> list[Report]:
    """The reports a duty run publishes."""
    from dossiers.reports import builders

    if kind == "sampling_audit":
        return [builders.sampling_audit_report(conn, period), builders.audit_summary(conn, period)]
    source, as_of = duty_source(conn, kind, period)
    return [from_figures(kind, period, figures, source, as_of)]


def publish_duty_report(kind: str, period: str, figures: Mapping[str, Any], *,
                        conn: Connection | None = None,
                        store: LocalStore | S3Store | None = None) -> list[str]:
    """Build, publish and e-mail a duty run's reports; the URIs of the whole reports stored.

    A report with rows about each department or person is also published in a department
    edition for every department (``report_edition``, what its head reads, Art. 22); those
    are not mailed and not among the URIs returned.

    Without ``conn`` it opens a transaction on the dossier database (Airflow connection
    ``dossier_db``, as the duties do) and mails after it commits, through the outbox: what a
    failed mail missed goes out with the next try, to the recipients who do not have it yet,
    and a refused recipient raises :class:`~dossiers.duties.mail.MailUndelivered` once every
    report's mail was tried; with ``conn`` the caller owns the transaction and nothing
    is mailed (call :func:`~dossiers.reports.publish.send` after the commit).
    """
    from dossiers.reports.publish import Published, publish, publish_editions, send

    def publish_all(own: Connection, report: Report) -> list[Published]:
        whole = publish(own, report, store=store)
        publish_editions(own, report, department_names(), store=store)
        return whole

    if conn is not None:
        return [p.uri for r in build(conn, kind, period, figures)
                for p in publish_all(conn, r)]
    from dossiers.core import db
    from dossiers.duties.ledger_check import dossier_db_url

    engine = db.get_engine(dossier_db_url())
    done: list[tuple[Report, list[Published]]] = []
    with db.transaction(engine) as own:
        for report in build(own, kind, period, figures):
            done.append((report, publish_all(own, report)))
    undelivered: list[MailUndelivered] = []
    for report, published in done:  # after the commit: a mail cannot be rolled back
        try:
            with db.transaction(engine) as own:
                send(report, published, own)
        except MailUndelivered as refused:  # the next report's mail goes out all the same
            undelivered.append(refused)
    if undelivered:
        raise MailUndelivered("; ".join(map(str, undelivered)))
    return [p.uri for _, published in done for p in published]
