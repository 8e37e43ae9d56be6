"""Airflow timetables for duties that run on PRC working days (Asia/Shanghai).

Two timetables, thin wrappers around :mod:`dossiers.calendar.schedules` (which holds the
arithmetic and its documentation):

``FirstWorkingDayTimetable(period="month", at=time(9, 0), months=None)``
    Once per period (``"month"``, ``"quarter"``, ``"half_year"``, ``"year"``) on the
    period's first working day at ``at``; the run's data interval is the previous period,
    midnight to midnight Asia/Shanghai (the run on Thursday 2026-10-08 covers
    ``[2026-09-01, 2026-10-01)``). ``months`` keeps only the periods starting in those
    months, a run covering everything since the previous kept one:
    ``FirstWorkingDayTimetable(months=(12,))`` is the annual December run, covering
    ``[Dec 1 of last year, Dec 1)``.
``WorkingDayTimetable(at=time(8, 30))``
    Every working day (make-up weekend days included, holidays and ordinary weekends
    not) at ``at``; the data interval runs from the previous working day's run to this
    one, so a task's own working day is the Shanghai date of ``data_interval_end``.

As in every Airflow data-interval timetable, a run's logical date is the start of its
data interval. ``start_date``/``end_date`` and a backfill's from/to dates bound the *run*
moment (as for ``CronTriggerTimetable``): a DAG starting 2026-01-01 first runs on
2026-01-04, the first working day of 2026 (a make-up Sunday). A manual run (or
``airflow dags test DAG DATE``) gets the last interval that has ended by its date.
Tasks receive ``data_interval_start``/``_end`` in UTC: convert them to Asia/Shanghai
before taking a date (midnight of 1 September in Shanghai is 16:00 UTC on 31 August).

Both must be registered with Airflow by a plugin (``plugins/dossier_timetables.py``),
otherwise serializing a DAG that uses them fails. Runs falling in a provisional calendar
year (no State Council arrangement published yet) are scheduled all the same and logged
as a warning by the scheduler.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

import pendulum
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable
from pendulum import DateTime

from dossiers.calendar.schedules import (
    EveryWorkingDaySchedule,
    FirstWorkingDaySchedule,
    Period,
    Slot,
    WorkingDaySchedule,
)

__all__ = ["FirstWorkingDayTimetable", "WorkingDayTimetable"]

log = logging.getLogger(__name__)


def _utc(moment: dt.datetime) -> DateTime:
    return pendulum.instance(moment).in_timezone("UTC")


class _WorkingDayTimetableBase(Timetable):
    """What both timetables share: Airflow's calls answered by a :class:`WorkingDaySchedule`."""

    periodic = True
    can_be_scheduled = True

    def __init__(self, schedule: WorkingDaySchedule) -> None:
        self.schedule = schedule
        self.description = schedule.description

    @property
    def summary(self) -> str:
        return self.schedule.summary

    def serialize(self) -> dict[str, Any]:
        return self.schedule.to_dict()

    def next_dagrun_info(self, *, last_automated_data_interval: DataInterval | None,
                         restriction: TimeRestriction) -> DagRunInfo | None:
        slot = self.schedule.next_slot(
            last_end=last_automated_data_interval.end if last_automated_data_interval else None,
            earliest=restriction.earliest, latest=restriction.latest, catchup=restriction.catchup)
        if slot is None:
            return None
        self._warn_if_provisional(slot)
        return DagRunInfo(run_after=_utc(slot.run_after),
                          data_interval=DataInterval(start=_utc(slot.start), end=_utc(slot.end)))

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        slot = self.schedule.last_complete(run_after)
        return DataInterval(start=_utc(slot.start), end=_utc(slot.end))

    def _warn_if_provisional(self, slot: Slot) -> None:
        if slot.provisional:
            log.warning("%s: the run on %s falls in a provisional calendar year (no State Council "
                        "holiday arrangement published yet: weekends and statutory holidays only); "
                        "add the year to DOSSIER_CALENDAR_FILE once it is published",
                        self.summary, slot.run_after.date().isoformat())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _WorkingDayTimetableBase):
            return NotImplemented
        return type(self) is type(other) and self.schedule == other.schedule

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.schedule))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.serialize().items())
        return f"{type(self).__name__}({args})"


class FirstWorkingDayTimetable(_WorkingDayTimetableBase):
    """The first working day of each period at ``at`` (Asia/Shanghai); a run covers the previous period.

    :param period: ``"month"``, ``"quarter"``, ``"half_year"`` or ``"year"`` (periods start in January).
    :param at: the local Asia/Shanghai time of the run (naive :class:`datetime.time`).
    :param months: only the periods starting in these months (start months of ``period``);
        each run then covers the time since the previous kept period start.
    """

    def __init__(self, period: Period = "month", at: dt.time = dt.time(9, 0),
                 months: Iterable[int] | None = None) -> None:
        super().__init__(FirstWorkingDaySchedule(period, at, months))

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        return cls(**FirstWorkingDaySchedule.arguments(data))


class WorkingDayTimetable(_WorkingDayTimetableBase):
    """Every PRC working day at ``at`` (Asia/Shanghai); a run covers the time since the previous one.

    :param at: the local Asia/Shanghai time of the run (naive :class:`datetime.time`).
    """

    def __init__(self, at: dt.time = dt.time(8, 30)) -> None:
        super().__init__(EveryWorkingDaySchedule(at))

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        return cls(**EveryWorkingDaySchedule.arguments(data))
