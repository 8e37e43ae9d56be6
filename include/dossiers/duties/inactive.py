"""The six-month inactive sweep (Arts. 14, 17), monthly.

Every terminated dossier with no prospect of further cooperation must be reviewed by the
archivist within ``inactive_review_months`` of its termination: kept as a
"terminated-cooperation client dossier" (``dossier dossiers keep``) or sent to destruction
(Art. 17). The sweep opens the review clock of each newly terminated one (the SLA watch
follows it), and flags those terminated at least ``destruction_min_years`` ago as eligible
for destruction, once a year each, for the archivist's Destruction Request Form.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, Text, select

from dossiers.calendar.clocks import add_months, open_clock
from dossiers.core.policy import policy
from dossiers.core.schema import clock, dossier, staff, staff_role
from dossiers.core.vocabulary import DossierStatus, Stage
from dossiers.duties import findings, runs
from dossiers.duties.findings import Gap

DUTY = "inactive_sweep"


def sweep(conn: Connection, period_start: date, today: date) -> dict[str, Any]:
    period = runs.period_key("month", period_start)
    run = runs.claim(conn, DUTY, period)
    if run is None:
        return {"period": period, "skipped": "already done for this period"}
    archivist = conn.execute(select(staff.c.id).join(staff_role, staff_role.c.staff_id == staff.c.id)
                             .where(staff_role.c.role == "archivist", staff.c.active)
                             .order_by(staff.c.id).limit(1)).scalar()
    reviewed = select(clock.c.subject_id).where(clock.c.kind == "inactive_review")
    newly = conn.execute(select(dossier.c.id, dossier.c.terminated_on).where(
        dossier.c.stage == Stage.TERMINATED, dossier.c.further_cooperation.is_(False),
        dossier.c.status == DossierStatus.OPEN, dossier.c.id.cast(Text).not_in(reviewed))).all()
    for d in newly:  # Art. 14: reviewed within 6 months of the termination
        open_clock(conn, "inactive_review", "dossier", str(d.id), "inactive_review_months",
                   owner_id=archivist, start=d.terminated_on)
    years = policy().destruction_min_years
    cutoff = add_months(today, -12 * years)
    eligible = conn.execute(select(dossier.c.id, dossier.c.terminated_on).where(
        dossier.c.stage == Stage.TERMINATED, dossier.c.further_cooperation.is_(False),
        dossier.c.status.in_((DossierStatus.OPEN, DossierStatus.TERMINATED_KEPT)),
        dossier.c.terminated_on <= cutoff)).all()
    gaps = [Gap(d.id, "destruction.eligible", policy().article("destruction_min_years"),
                "lifecycle", "warning",
                f"terminated {d.terminated_on.isoformat()}, over {years} years ago: eligible "
                "for destruction once the departments confirm (Art. 17(1)): list it on a "
                "Destruction Request Form (`dossier destruction request`) or keep it "
                "(`dossier dossiers keep`)") for d in eligible]
    flagged = findings.record(conn, DUTY, str(today.year), gaps,
                              {d.id: archivist for d in eligible} if archivist else {})
    overdue = conn.execute(select(clock.c.id).where(
        clock.c.kind == "inactive_review", clock.c.met_at.is_(None),
        clock.c.due_on < today)).all()
    summary = {"period": period, "reviews_opened": len(newly), "reviews_overdue": len(overdue),
               "eligible_for_destruction": len(eligible), "newly_flagged": flagged}
    runs.finish(conn, run, summary)
    return summary
