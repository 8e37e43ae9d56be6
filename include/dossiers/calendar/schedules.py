"""When the policy's duties run: PRC working days, in Asia/Shanghai (the timetables' arithmetic).

The duties of the dossier policy run "on working days" (工作日) of the PRC statutory
calendar, make-up working days (調休) included, holidays and ordinary weekends excluded.
This module computes those run times and the data interval each run covers, as plain,
timezone-aware :class:`datetime.datetime` values in Asia/Shanghai, without importing
Airflow: :mod:`dossiers.airflow.timetables` wraps it into Airflow timetables, and the unit tests
check it directly. Working days come from :func:`dossiers.calendar.workdays.default_calendar`
(``chinese_calendar`` for official years, provisional years flagged, the ops override file
``DOSSIER_CALENDAR_FILE`` read on every call); nothing here keeps a list of holidays.

A schedule is a sequence of *slots*. A slot is one run: the moment it may start
(``run_after``) and its data interval ``[start, end)``. Two schedules:

:class:`FirstWorkingDaySchedule`
    One run per period, on the first working day of the period, at ``at`` (09:00 by
    default). The period boundaries are midnights of the first day of some months
    (every month, quarter, half-year or year; or the months listed in ``months``), and a
    run covers the span from the previous boundary to its own: the run on the first
    working day of October 2026 (Thursday 8 October: 1-7 October are the National Day
    holiday) covers September, ``[2026-09-01 00:00, 2026-10-01 00:00)``. The intervals do
    not depend on the calendar, only the run days do, so a later calendar correction never
    changes which period a run is for.
:class:`EveryWorkingDaySchedule`
    One run on every working day at ``at`` (08:30 by default), covering the time since the
    previous working day's run, ``[previous working day at, this working day at)``: a
    Monday run covers the weekend, the run after a holiday covers the holiday, so nothing
    that happens on a day off falls between two runs. The run's own working day is the
    Shanghai date of ``end`` (``data_interval_end`` in a task).

Rules shared by both, mirroring Airflow's ``CronTriggerTimetable``: ``earliest`` and
``latest`` (a DAG's ``start_date``/``end_date``, a backfill's from/to dates) bound the
*run* moment, not the data interval, so a DAG starting on 2026-01-01 first runs on the
first working day of January 2026 (covering December 2025). With ``catchup`` every slot
since ``earliest`` is run in turn; without it the next run is the most recent slot whose
time has passed (if not yet run), else the next one. A slot is fully determined by its
period, so asking twice gives the same run time and interval (backfills are idempotent).

Years without a published State Council arrangement (2027 and later, until the libraries
catch up) are provisional in :mod:`dossiers.calendar.workdays`: weekends and statutory holidays, no
make-up days. Slots in them are still produced and say ``provisional=True``.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, Self, get_args
from zoneinfo import ZoneInfo

from dossiers.core import clock

if TYPE_CHECKING:
    from dossiers.calendar.workdays import WorkingDayCalendar

TIMEZONE_NAME: Final = "Asia/Shanghai"
SHANGHAI: Final = ZoneInfo(TIMEZONE_NAME)

Period = Literal["month", "quarter", "half_year", "year"]

#: The months whose first day starts a period.
PERIOD_MONTHS: Final[Mapping[str, tuple[int, ...]]] = {
    "month": tuple(range(1, 13)),
    "quarter": (1, 4, 7, 10),
    "half_year": (1, 7),
    "year": (1,),
}
_PERIOD_NAMES: Final = {"month": "month", "quarter": "quarter", "half_year": "half-year", "year": "year"}
_MONTH_ABBR: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ONE_DAY: Final = dt.timedelta(days=1)
_PROVISIONAL_NOTE: Final = (
    "Years whose State Council holiday arrangement is not published yet are scheduled "
    "provisionally (weekends and statutory holidays, no make-up days) until the calendar "
    "libraries or DOSSIER_CALENDAR_FILE supply it."
)


@dataclass(frozen=True)
class Slot:
    """One run: its data interval ``[start, end)`` and when it may start (aware, Asia/Shanghai).

    ``provisional`` is true when the run day (or, for a working-day run, the previous
    working day) was computed from a provisional calendar year.
    """

    start: dt.datetime
    end: dt.datetime
    run_after: dt.datetime
    provisional: bool


def _calendar() -> WorkingDayCalendar:
    from dossiers.calendar.workdays import (
        default_calendar,  # imported when first needed: DAG parsing stays cheap
    )

    return default_calendar()


def _local(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is needed, got {moment.isoformat()}")
    return moment.astimezone(SHANGHAI)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=SHANGHAI)


def _check_at(at: object) -> dt.time:
    if not isinstance(at, dt.time):
        raise TypeError(f"at must be a datetime.time (local Asia/Shanghai time), got {at!r}")
    if at.tzinfo is not None:
        raise ValueError(f"at is a local Asia/Shanghai time and takes no tzinfo: {at!r}")
    return at


def _format_at(at: dt.time) -> str:
    return at.isoformat(timespec="minutes" if at.second == at.microsecond == 0 else "auto")


class WorkingDaySchedule(ABC):
    """A sequence of :class:`Slot` on PRC working days; subclasses say which days and intervals."""

    kind: ClassVar[str]
    at: dt.time

    # -- the slots --------------------------------------------------------------------

    @abstractmethod
    def first_at_or_after(self, moment: dt.datetime) -> Slot:
        """The first slot whose run time is ``moment`` or later."""

    @abstractmethod
    def last_at_or_before(self, moment: dt.datetime) -> Slot:
        """The last slot whose run time is ``moment`` or earlier."""

    @abstractmethod
    def following(self, end: dt.datetime) -> Slot:
        """The first slot whose data interval ends after ``end`` (the run after an interval)."""

    @abstractmethod
    def last_complete(self, moment: dt.datetime) -> Slot:
        """The last slot whose data interval has ended by ``moment`` (a manual run's interval)."""

    def next_slot(self, *, last_end: dt.datetime | None, earliest: dt.datetime | None,
                  latest: dt.datetime | None, catchup: bool, now: dt.datetime | None = None) -> Slot | None:
        """The slot to run next, or None when it would start after ``latest``.

        ``last_end`` is the end of the last scheduled (or backfilled) run's interval;
        ``earliest``/``latest`` bound the run moment (both inclusive); without ``catchup``
        missed slots are skipped up to the most recent one (see the module docstring).
        """
        now = now if now is not None else clock.now()
        candidates: list[Slot] = []
        if last_end is not None:
            candidates.append(self.following(last_end))
        elif earliest is None:
            candidates.append(self.first_at_or_after(now))
        if earliest is not None:
            candidates.append(self.first_at_or_after(earliest))
        if not catchup:
            candidates.append(self.last_at_or_before(now))
        slot = max(candidates, key=lambda s: s.run_after)
        if latest is not None and slot.run_after > latest:
            return None
        return slot

    def slots_between(self, earliest: dt.datetime, latest: dt.datetime) -> Iterator[Slot]:
        """Every slot whose run time lies in ``[earliest, latest]``, in order (a catch-up/backfill)."""
        slot = self.next_slot(last_end=None, earliest=earliest, latest=latest, catchup=True)
        while slot is not None:
            yield slot
            slot = self.next_slot(last_end=slot.end, earliest=earliest, latest=latest, catchup=True)

    # -- description and serialization ------------------------------------------------

    @property
    @abstractmethod
    def summary(self) -> str:
        """A few words for the Schedule column of Airflow's DAG list."""

    @property
    @abstractmethod
    def description(self) -> str:
        """One paragraph: when it runs and what each run covers."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_dict` turns back into an equal schedule."""

    @staticmethod
    @abstractmethod
    def arguments(data: Mapping[str, Any]) -> dict[str, Any]:
        """The constructor's keyword arguments from a :meth:`to_dict` result."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The schedule :meth:`to_dict` described."""
        return cls(**cls.arguments(data))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorkingDaySchedule):
            return NotImplemented
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self.to_dict().items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"{type(self).__name__}({args})"


class FirstWorkingDaySchedule(WorkingDaySchedule):
    """The first working day of each period at ``at``; a run covers the previous period.

    ``period`` is ``"month"``, ``"quarter"``, ``"half_year"`` or ``"year"`` (periods start
    in January). ``months`` keeps only the periods starting in those months (each must be a
    start month of ``period``); a run then covers everything since the previous kept
    boundary, so the runs still tile time without gaps: ``months=(12,)`` runs on the first
    working day of December and covers the twelve months ``[Dec 1 last year, Dec 1)`` —
    the annual update of Art. 12.
    """

    kind = "first_working_day"

    def __init__(self, period: Period = "month", at: dt.time = dt.time(9, 0),
                 months: Iterable[int] | None = None) -> None:
        if period not in PERIOD_MONTHS:
            raise ValueError(f"period must be one of {', '.join(get_args(Period))}: {period!r}")
        self.period: Period = period
        self.at = _check_at(at)
        starts = PERIOD_MONTHS[period]
        if months is None:
            self.months: tuple[int, ...] = starts
            self._custom_months = False
        else:
            chosen = tuple(sorted(set(months)))
            if not chosen:
                raise ValueError("months must name at least one month")
            wrong = [m for m in chosen if isinstance(m, bool) or not isinstance(m, int) or m not in starts]
            if wrong:
                raise ValueError(f"months {wrong} do not start a {_PERIOD_NAMES[period]} "
                                 f"(those start in {list(starts)}); "
                                 f"use period='month' to pick any month")
            self.months = chosen
            self._custom_months = chosen != starts

    # -- boundaries: midnight of the first day of a kept month ---------------------------

    def _boundary_at_or_before(self, day: dt.date) -> dt.date:
        earlier = [m for m in self.months if m <= day.month]
        if earlier:
            return dt.date(day.year, earlier[-1], 1)
        return dt.date(day.year - 1, self.months[-1], 1)

    def _next_boundary(self, boundary: dt.date) -> dt.date:
        later = [m for m in self.months if m > boundary.month]
        if later:
            return dt.date(boundary.year, later[0], 1)
        return dt.date(boundary.year + 1, self.months[0], 1)

    def _previous_boundary(self, boundary: dt.date) -> dt.date:
        return self._boundary_at_or_before(boundary - _ONE_DAY)

    def _slot(self, boundary: dt.date) -> Slot:
        """The run on the first working day from ``boundary`` on, covering the span before it."""
        run_day = _calendar().add(boundary - _ONE_DAY, 1)
        return Slot(start=_midnight(self._previous_boundary(boundary)), end=_midnight(boundary),
                    run_after=dt.datetime.combine(run_day.date, self.at, tzinfo=SHANGHAI),
                    provisional=run_day.provisional)

    # -- the slots --------------------------------------------------------------------

    def first_at_or_after(self, moment: dt.datetime) -> Slot:
        moment = _local(moment)
        boundary = self._boundary_at_or_before(moment.date())
        slot = self._slot(boundary)
        return slot if slot.run_after >= moment else self._slot(self._next_boundary(boundary))

    def last_at_or_before(self, moment: dt.datetime) -> Slot:
        moment = _local(moment)
        boundary = self._boundary_at_or_before(moment.date())
        slot = self._slot(boundary)
        return slot if slot.run_after <= moment else self._slot(self._previous_boundary(boundary))

    def following(self, end: dt.datetime) -> Slot:
        return self._slot(self._next_boundary(self._boundary_at_or_before(_local(end).date())))

    def last_complete(self, moment: dt.datetime) -> Slot:
        return self._slot(self._boundary_at_or_before(_local(moment).date()))

    # -- description and serialization ------------------------------------------------

    def _which(self) -> str:
        if not self._custom_months:
            return "the year" if self.period == "year" else f"each {_PERIOD_NAMES[self.period]}"
        return ", ".join(_MONTH_ABBR[m - 1] for m in self.months)

    @property
    def summary(self) -> str:
        return f"1st working day of {self._which()}, {self.at.strftime('%H:%M')} (PRC, Asia/Shanghai)"

    @property
    def description(self) -> str:
        if self._custom_months:
            covers = "the months since the previous run's period start (e.g. " + self._example() + ")"
        else:
            covers = f"the previous {_PERIOD_NAMES[self.period]}"
        return (f"At {_format_at(self.at)} Asia/Shanghai on the first working day of {self._which()} "
                "in the PRC statutory calendar (make-up working days count; holidays and ordinary "
                f"weekends do not). Each run covers {covers}, from midnight to midnight Asia/Shanghai. "
                + _PROVISIONAL_NOTE)

    def _example(self) -> str:
        boundary = dt.date(2026, self.months[0], 1)
        start = self._previous_boundary(boundary)
        return f"the run in {boundary:%b %Y} covers {start:%b %Y}-{boundary - _ONE_DAY:%b %Y}"

    def to_dict(self) -> dict[str, Any]:
        return {"period": self.period, "at": _format_at(self.at),
                "months": list(self.months) if self._custom_months else None}

    @staticmethod
    def arguments(data: Mapping[str, Any]) -> dict[str, Any]:
        """The constructor's keyword arguments from a :meth:`to_dict` result."""
        return {"period": data.get("period", "month"), "at": dt.time.fromisoformat(data["at"]),
                "months": data.get("months")}


class EveryWorkingDaySchedule(WorkingDaySchedule):
    """Every working day at ``at``; a run covers ``[previous working day at, this working day at)``."""

    kind = "every_working_day"

    def __init__(self, at: dt.time = dt.time(8, 30)) -> None:
        self.at = _check_at(at)

    def _when(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.at, tzinfo=SHANGHAI)

    def _slot(self, day: dt.date) -> Slot:
        """The run on working day ``day``."""
        calendar = _calendar()
        previous = calendar.add(day, -1)
        provisional = previous.provisional or calendar.year_status(day.year) == "provisional"
        return Slot(start=self._when(previous.date), end=self._when(day), run_after=self._when(day),
                    provisional=provisional)

    def _first_from(self, moment: dt.datetime, *, strictly_after: bool) -> Slot:
        moment = _local(moment)
        day = moment.date()
        calendar = _calendar()
        if calendar.is_working_day(day):
            when = self._when(day)
            if when > moment or (when == moment and not strictly_after):
                return self._slot(day)
        return self._slot(calendar.add(day, 1).date)

    def first_at_or_after(self, moment: dt.datetime) -> Slot:
        return self._first_from(moment, strictly_after=False)

    def last_at_or_before(self, moment: dt.datetime) -> Slot:
        moment = _local(moment)
        day = moment.date()
        calendar = _calendar()
        if calendar.is_working_day(day) and self._when(day) <= moment:
            return self._slot(day)
        return self._slot(calendar.add(day, -1).date)

    def following(self, end: dt.datetime) -> Slot:
        return self._first_from(end, strictly_after=True)

    def last_complete(self, moment: dt.datetime) -> Slot:
        return self.last_at_or_before(moment)

    @property
    def summary(self) -> str:
        return f"Every working day, {self.at.strftime('%H:%M')} (PRC, Asia/Shanghai)"

    @property
    def description(self) -> str:
        return (f"At {_format_at(self.at)} Asia/Shanghai on every working day of the PRC statutory "
                "calendar: make-up working days (調休) included, holidays and ordinary weekends "
                "excluded. Each run covers the time since the previous working day's run; its own "
                "working day is the Shanghai date of data_interval_end. " + _PROVISIONAL_NOTE)

    def to_dict(self) -> dict[str, Any]:
        return {"at": _format_at(self.at)}

    @staticmethod
    def arguments(data: Mapping[str, Any]) -> dict[str, Any]:
        """The constructor's keyword arguments from a :meth:`to_dict` result."""
        return {"at": dt.time.fromisoformat(data["at"])}
