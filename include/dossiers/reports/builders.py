"""Reports built from what the duties recorded: ``duty_run``, ``finding``, ``clock``, the ledger.

- :func:`sampling_audit_report`: the quarterly full check and sampling audit (Arts. 12, 14,
  21) for compliance: the run's figures, the strata, every rectification item and the
  re-check of earlier ones. Every figure cites the run (``sampling_audit/<quarter>``) and
  the ledger entry that recorded it (``duty.sampling_audit``).
- :func:`audit_summary`: the managers' page (Arts. 21, 22): trends over the last quarters
  of completeness (share of sampled dossiers without a finding), timeliness (deadlines met
  on time), overdue items at each quarter's end, and findings by department. Figures
  counted from the tables cite the ledger head they were counted at.

The other reports of the policy (annual update, QA inspection, KPI scorecard; see
:data:`~dossiers.reports.model.KINDS`) are filled the same way by their duties.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from dossiers.core import clock as domain_clock
from dossiers.core.config import SHANGHAI
from dossiers.core.errors import NotFound
from dossiers.core.policy import policy
from dossiers.core.schema import clock, dossier, duty_run, finding, ledger_entry, staff
from dossiers.core.vocabulary import (
    FINDING_STATUS_NAMES,
    SEVERITY_NAMES,
    Department,
    FindingStatus,
    duty_action,
)
from dossiers.duties import runs
from dossiers.reports.model import (
    KINDS,
    Chart,
    Column,
    Heading,
    Label,
    Report,
    Row,
    Series,
    Source,
    Table,
    Text,
    department_label,
)

AUDIT = "sampling_audit"


def run_source(conn: Connection, duty: str, period: str, query: str | None = None) -> Source:
    """The source of a duty run's figures: its key and the ledger entry of its end."""
    key = f"{duty}/{period}"
    seq = conn.execute(select(func.max(ledger_entry.c.seq)).where(
        ledger_entry.c.subject_type == "duty_run", ledger_entry.c.subject_id == key,
        ledger_entry.c.action == duty_action(duty))).scalar()
    return Source(duty_run=key, ledger_seq=seq, query=query)


def ledger_head(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(ledger_entry.c.seq), 0))).scalar_one())


def _finished_run(conn: Connection, duty: str, period: str) -> Any:
    row = conn.execute(select(duty_run).where(duty_run.c.duty == duty, duty_run.c.period == period,
                                              duty_run.c.finished_at.is_not(None))).one_or_none()
    if row is None:
        raise NotFound(f"no finished {duty} run for {period}", record=f"duty_run {duty}/{period}")
    return row


def department_names() -> dict[str, Label]:
    """Every department's name, by code, in the vocabulary's order (Art. 5): the one
    definition of :data:`dossiers.core.vocabulary.DEPARTMENT_NAMES`."""
    return {d.value: department_label(d) for d in Department}


def sampling_audit_report(conn: Connection, period: str) -> Report:
    """The compliance report of one quarter's sampling audit (``2026-Q4``)."""
    run = _finished_run(conn, AUDIT, period)
    source = run_source(conn, AUDIT, period)
    s: dict[str, Any] = run.summary
    names = department_names()
    recheck = s.get("recheck", {})
    sample, population = int(s.get("sample", 0)), int(s.get("population", 0))
    with_findings = int(s.get("dossiers_with_findings", 0))
    figures = [
        (Label("在檔檔案總數", "Open dossiers (population)"), population, "int"),
        (Label("抽查樣本數", "Dossiers sampled"), sample, "int"),
        (Label("抽查比例", "Share sampled"), sample / population if population else None, "percent"),
        (Label("新發現問題（整改項）", "New findings (rectification items)"), s.get("findings"), "int"),
        (Label("有問題的抽查檔案", "Sampled dossiers with findings"), with_findings, "int"),
        (Label("抽查檔案合格率", "Sampled dossiers without findings"),
         1 - with_findings / sample if sample else None, "percent"),
        (Label("複查以往整改項", "Earlier items re-checked"), recheck.get("rechecked"), "int"),
        (Label("已整改", "Resolved"), recheck.get("resolved"), "int"),
        (Label("仍未整改", "Persisting"), recheck.get("persisting"), "int"),
    ]
    # Counts and rates in their own columns, so each keeps its format (and CSV type).
    key_figures = Table(
        "figures", Label("主要數字", "Key figures"),
        (Column(Label("指標", "Figure")), Column(Label("數量", "Count"), "int"),
         Column(Label("比率", "Rate"), "percent")),
        tuple(Row((label.both(" "), None if kind == "percent" else value,
                   value if kind == "percent" else None), source)
              for label, value, kind in figures))
    strata = Table(
        "strata", Label("分層抽樣（部門／客戶類型）", "Strata (department / client type)"),
        (Column(Label("部門", "Department")), Column(Label("客戶類型", "Client type")),
         Column(Label("檔案數", "Dossiers"), "int"), Column(Label("抽查數", "Sampled"), "int")),
        tuple(Row((names.get(dept, Label(dept, dept)).both(" "), ctype, n,
                   s.get("sampled_by_stratum", {}).get(key)), source, dept)
              for key, n in s.get("strata", {}).items()
              for dept, _, ctype in [key.partition("/")]))
    owner = staff.alias("owner")
    items = conn.execute(
        select(finding.c.id, finding.c.period, dossier.c.dossier_no, dossier.c.department,
               finding.c.check_id, finding.c.article, finding.c.severity, finding.c.description,
               owner.c.username, finding.c.due_on, finding.c.status)
        .join(dossier, dossier.c.id == finding.c.dossier_id)
        .outerjoin(owner, owner.c.id == finding.c.owner_id)
        .where(finding.c.duty == AUDIT,
               or_(finding.c.period == period, finding.c.rechecked_in == period))
        .order_by(finding.c.period, dossier.c.dossier_no, finding.c.check_id)).all()
    item_columns = (Column(Label("檔案編號", "Dossier no.")), Column(Label("部門", "Department")),
                    Column(Label("檢查項", "Check")), Column(Label("條款", "Article")),
                    Column(Label("嚴重程度", "Severity")), Column(Label("說明", "Description")),
                    Column(Label("責任人", "Owner")), Column(Label("整改期限", "Due"), "date"),
                    Column(Label("狀態", "Status")))

    def item_row(r: Any) -> Row:
        return Row((r.dossier_no, names.get(r.department, Label(r.department, r.department)).both(" "),
                    r.check_id, r.article, SEVERITY.get(r.severity, r.severity), r.description,
                    r.username, r.due_on, STATUS.get(r.status, r.status)),
                   run_source(conn, AUDIT, r.period, f"finding {r.id}"), r.department)

    new_items = Table("findings", Label("本季度整改項", "Rectification items of the quarter"),
                      item_columns, tuple(item_row(r) for r in items if r.period == period))
    earlier = Table("recheck", Label("以往整改項複查", "Earlier items re-checked this quarter"),
                    item_columns, tuple(item_row(r) for r in items if r.period != period))
    p = policy()
    method = Text(
        f"按部門及客戶類型分層隨機抽樣：每層抽取 {p.sampling_audit_ratio:.0%}（至少一份），全部樣本至少 "
        f"{p.sampling_audit_minimum} 份。隨機種子 {run.seed} 記錄於職責運行及檔案管理臺賬，"
        "任何人可按同一種子重抽同一樣本。",
        f"Stratified random sample by department and client type: {p.sampling_audit_ratio:.0%} of each "
        f"stratum (at least one), at least {p.sampling_audit_minimum} in all. The seed {run.seed} is "
        "recorded in the duty run and the ledger, so anyone can redraw the same sample.", source)
    title = KINDS[AUDIT][0]
    return Report(
        kind=AUDIT, period=period, title=title, as_of=run.finished_at, articles="Arts. 12, 14, 21",
        summary=Label(f"本季度抽查 {sample} 份檔案，新發現 {s.get('findings', 0)} 項整改項；複查以往整改項 "
                      f"{recheck.get('rechecked', 0)} 項，其中 {recheck.get('resolved', 0)} 項已整改。",
                      f"{sample} dossiers sampled this quarter, {s.get('findings', 0)} new "
                      f"rectification items; {recheck.get('rechecked', 0)} earlier items re-checked, "
                      f"{recheck.get('resolved', 0)} resolved."),
        meta=((Label("隨機種子", "Seed"), str(run.seed)),),
        sections=(Heading(Label("概要", "Summary")), key_figures, method,
                  Heading(Label("抽樣", "Sample")), strata,
                  Heading(Label("整改項", "Rectification items")), new_items, earlier))


#: A finding's severity and status as people read them, from the vocabulary's names.
SEVERITY = {str(k): Label(*v).both(" ") for k, v in SEVERITY_NAMES.items()}
STATUS = {str(k): Label(*v).both(" ") for k, v in FINDING_STATUS_NAMES.items()}


def _quarter_bounds(period: str) -> tuple[date, date]:
    year, _, q = period.partition("-Q")
    return runs.period_bounds("quarter", date(int(year), (int(q) - 1) * 3 + 1, 1))


def audit_summary(conn: Connection, period: str, quarters: int = 4) -> Report:
    """The managers' summary at the end of quarter ``period``, with trends over the last
    ``quarters`` quarters that had a sampling audit."""
    periods = list(conn.execute(
        select(duty_run.c.period).where(duty_run.c.duty == AUDIT, duty_run.c.period <= period,
                                        duty_run.c.finished_at.is_not(None))
        .order_by(duty_run.c.period.desc()).limit(quarters)).scalars())[::-1]
    if period not in periods:
        raise NotFound(f"no finished {AUDIT} run for {period}", record=f"duty_run {AUDIT}/{period}")
    runs_by_period = {r.period: r for r in conn.execute(
        select(duty_run).where(duty_run.c.duty == AUDIT, duty_run.c.period.in_(periods)))}
    head = ledger_head(conn)
    sources = {p: run_source(conn, AUDIT, p) for p in periods}

    completeness: list[float | None] = []
    for p in periods:
        summary = runs_by_period[p].summary
        sample = int(summary.get("sample", 0))
        completeness.append(1 - int(summary.get("dossiers_with_findings", 0)) / sample
                            if sample else None)

    on_time: list[float | None] = []
    overdue: list[int] = []
    counted: list[Source] = []
    for p in periods:
        begin, end = _quarter_bounds(p)
        end_at = datetime.combine(end, time(), SHANGHAI)
        met_on_time = and_(clock.c.met_at.is_not(None),
                           func.date(func.timezone("Asia/Shanghai", clock.c.met_at)) <= clock.c.due_on)
        due = conn.execute(select(func.count(), func.count().filter(met_on_time))
                           .where(clock.c.due_on >= begin, clock.c.due_on < end)).one()
        on_time.append(due[1] / due[0] if due[0] else None)
        overdue.append(int(conn.execute(select(func.count()).where(
            clock.c.due_on < end,
            or_(clock.c.met_at.is_(None), clock.c.met_at >= end_at))).scalar_one()))
        counted.append(Source(duty_run=f"{AUDIT}/{p}", ledger_seq=head,
                              query=f"clock due {begin:%Y-%m-%d}..{end:%Y-%m-%d}"))

    names = department_names()
    by_dept = {(r.period, r.department): r.n for r in conn.execute(
        select(finding.c.period, dossier.c.department, func.count().label("n"))
        .join(dossier, dossier.c.id == finding.c.dossier_id)
        .where(finding.c.duty == AUDIT, finding.c.period.in_(periods))
        .group_by(finding.c.period, dossier.c.department))}
    departments = sorted({d for _, d in by_dept} | set(names), key=lambda d: names.get(
        d, Label(d, d)).en)
    departments = [d for d in departments if any(by_dept.get((p, d)) for p in periods)] or \
        departments[:1]
    open_now: dict[str, int] = dict(conn.execute(
        select(dossier.c.department, func.count())
        .join(dossier, dossier.c.id == finding.c.dossier_id)
        .where(finding.c.duty == AUDIT, finding.c.status.in_((FindingStatus.OPEN, FindingStatus.PERSISTING)),
               finding.c.period <= period)
        .group_by(dossier.c.department)).tuples().all())

    x = tuple(periods)
    latest = sources[period]
    dept_x = tuple(names.get(d, Label(d, d)).both(" ") for d in departments)
    sections = (
        Heading(Label("趨勢", "Trends")),
        Chart("completeness", Label("檔案完整率", "Completeness"), "line", Label("季度", "Quarter"),
              Label("無問題檔案比例", "Without findings"), x,
              (Series(Label("完整率", "Completeness"), tuple(completeness)),),
              tuple(sources[p] for p in periods), percent=True),
        Chart("timeliness", Label("時效", "Timeliness"), "line", Label("季度", "Quarter"),
              Label("按時完成", "Met on time"), x,
              (Series(Label("按時率", "On time"), tuple(on_time)),), tuple(counted), percent=True),
        Chart("overdue", Label("逾期事項", "Overdue items"), "bar", Label("季度", "Quarter"),
              Label("季末逾期", "Overdue at quarter end"), x,
              (Series(Label("逾期", "Overdue"), tuple(overdue)),), tuple(counted)),
        Heading(Label("各部門問題", "Findings by department")),
        Chart("findings_by_department", Label("各部門抽查發現問題", "Audit findings by department"),
              "bar", Label("部門", "Department"), Label("問題數", "Findings"), dept_x,
              tuple(Series(Label(p, p), tuple(by_dept.get((p, d), 0) for d in departments))
                    for p in periods),
              tuple(Source(duty_run=f"{AUDIT}/{period}", ledger_seq=head,
                           query=f"finding of {AUDIT} {periods[0]}..{period} by department")
                    for _ in departments), departments=tuple(departments)),
        Table("open_items", Label("未整改項（按部門）", "Open rectification items by department"),
              (Column(Label("部門", "Department")), Column(Label("未整改", "Open"), "int")),
              tuple(Row((names.get(d, Label(d, d)).both(" "), n),
                        Source(duty_run=f"{AUDIT}/{period}", ledger_seq=head,
                               query=f"finding of {AUDIT} open or persisting, {d}"), d)
                    for d, n in sorted(open_now.items()))),
    )
    last = len(periods) - 1
    return Report(
        kind="audit_summary", period=period, title=KINDS["audit_summary"][0],
        as_of=max((r.finished_at for r in runs_by_period.values()), default=domain_clock.now()),
        articles="Arts. 14, 21, 22", audience="management",
        summary=Label(
            f"{period}：抽查檔案完整率 {_pct(completeness[last])}，按時率 {_pct(on_time[last])}，季末逾期 "
            f"{overdue[last]} 項。",
            f"{period}: completeness {_pct(completeness[last])} of sampled dossiers, "
            f"{_pct(on_time[last])} of deadlines met on time, {overdue[last]} items overdue at "
            "quarter end."),
        meta=((Label("季度", "Quarters"), ", ".join(periods)),
              (Label("臺賬截至", "Ledger head"), f"#{head}"), (Label("最近抽查", "Latest audit"),
                                                             latest.ref())),
        sections=sections)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


__all__ = ["audit_summary", "department_names", "ledger_head", "run_source",
           "sampling_audit_report"]
