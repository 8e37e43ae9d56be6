"""Which dossiers may be destroyed, and on which condition of Art. 17(1).

* (1) ``cooperation_ended``: terminated at least ``destruction_min_years`` ago with no
  prospect of further cooperation — found by the inactive sweep (and listed here); every
  relevant department confirms later, at its gate of the request;
* (2) ``invalid`` and (3) ``legal_or_restructuring``: by request, the archivist naming the
  dossier and the reason.

A legal hold blocks any of them (:mod:`dossiers.destruction.holds`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select

from dossiers.calendar.clocks import add_months
from dossiers.core import clock
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.policy import policy
from dossiers.core.schema import communication, dossier, staff
from dossiers.core.vocabulary import DestructionCondition, DossierStatus, Stage
from dossiers.destruction.holds import active_holds
from dossiers.workflows.results import Result

#: Departments whose heads do not sit as a department gate: Customer Service's head reviews
#: first (the CS head gate), management approves last (Art. 17(2)).
NOT_DEPARTMENT_GATES = ("customer_service", "management")


@dataclass(frozen=True)
class Candidate(Result):
    dossier_no: str
    client_name_zh: str
    client_name_en: str
    filed_at: datetime | None
    terminated_on: date | None
    condition: str
    #: the legal holds in force: while any is, the dossier is not destroyed
    blocked_by: list[str]
    departments: list[str]


def cutoff(today: date) -> date:
    """The latest termination date that meets condition (1) on ``today`` (Art. 17(1))."""
    return add_months(today, -12 * policy().destruction_min_years)


def ended_cooperation(today: date) -> Any:
    """The dossiers meeting condition (1) on ``today``: a query the sweep and the list share."""
    return select(dossier).where(
        dossier.c.stage == Stage.TERMINATED, dossier.c.further_cooperation.is_(False),
        dossier.c.status.in_((DossierStatus.OPEN, DossierStatus.TERMINATED_KEPT)),
        dossier.c.terminated_on <= cutoff(today))


def meets_cooperation_ended(row: Any, today: date) -> bool:
    return (row.stage == Stage.TERMINATED and row.further_cooperation is False
            and row.terminated_on is not None and row.terminated_on <= cutoff(today))


def relevant_departments(conn: Connection, dossier_id: uuid.UUID, own: str) -> list[str]:
    """The departments that worked with the client: its own, and every department whose
    staff recorded a communication with it (Art. 17(1): all relevant departments confirm)."""
    found = set(conn.execute(select(staff.c.department).join(
        communication, communication.c.recorded_by == staff.c.id).where(
        communication.c.dossier_id == dossier_id).distinct()).scalars())
    found.add(own)
    return sorted(d for d in found if d not in NOT_DEPARTMENT_GATES)


def candidate(conn: Connection, row: Any, condition: str) -> Candidate:
    return Candidate(row.dossier_no, row.client_name_zh, row.client_name_en, row.filed_at,
                     row.terminated_on, condition, active_holds(conn, row.id),
                     relevant_departments(conn, row.id, row.department))


def eligible(conn: Connection, actor: Actor, today: date | None = None) -> list[Candidate]:
    """Every dossier meeting condition (1) today, each with its holds (archivist, Art. 17(1))."""
    today = today or clock.today()
    authorize(conn, actor, Action.DESTRUCTION_PROPOSE, subject="destruction candidates")
    rows = conn.execute(ended_cooperation(today).order_by(dossier.c.dossier_no)).all()
    return [candidate(conn, r, DestructionCondition.COOPERATION_ENDED) for r in rows]
