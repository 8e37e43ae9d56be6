"""The PRC statutory working-day calendar the dossier deadlines are counted in.

The policy counts every deadline in *working days* (工作日, "wd" in ``policy.en.md``):
"submit within 3 wd", "review within 2 wd", "request an extension ≥ 1 wd before the due
date". A working day is a day the State Council's holiday arrangement says people work,
which is *not* simply Monday to Friday: around the Spring Festival and National Day some
Saturdays and Sundays become make-up working days (調休), and the weekdays next to a
holiday become days off. The arrangement is published year by year, so no table is kept
by hand here; each year is taken from a maintained source:

``official``
    Years the ``chinese_calendar`` library knows (it raises ``NotImplementedError`` for
    the others; asked once per year and cached). Make-up days included.
``provisional``
    Any other year: weekends off plus the statutory holidays that
    ``holidays.country_holidays("CN", years=year)`` lists (it knows the fixed and lunar
    holidays of future years, with its guess at the substitute days off, but not the
    make-up working days, which are only announced late in the previous year). Every
    :class:`Deadline` and :class:`Count` touching such a year says ``provisional=True``;
    it is never silently treated as complete. A year for which that library lists no
    holiday at all (before 1950, after 2100) is refused: weekends alone would be wrong.
``override``
    Years in the ops-supplied TOML file (``DOSSIER_CALENDAR_FILE``), which replace the
    year entirely, official years included — the way to load a new State Council
    notice before the libraries catch up::

        [years.2027]
        holidays = ["2027-01-01", "2027-02-06"]   # days off that would be working days
        workdays = ["2027-02-14"]                 # weekend make-up working days (調休)
        source = "State Council notice 國辦發明電〔2026〕x號"

Each year is computed once into a sorted tuple of the ordinals of its working days, so
:meth:`WorkingDayCalendar.add` and :meth:`WorkingDayCalendar.between` jump year by year
with :mod:`bisect` instead of walking day by day.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import tomllib
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import chinese_calendar
import holidays

from dossiers.core.errors import CannotRun, Refused

#: Environment variable naming the override file read by :func:`default_calendar`.
CALENDAR_FILE_ENV = "DOSSIER_CALENDAR_FILE"

YearStatus = Literal["official", "provisional", "override"]

_ONE_DAY = dt.timedelta(days=1)
_OVERRIDE_KEYS = frozenset({"holidays", "workdays", "source"})


class CalendarFileError(CannotRun):
    """The override calendar file cannot be used (unreadable, malformed, contradictory)."""


class CalendarRangeError(Refused):
    """A date outside the years any source can describe."""


@dataclass(frozen=True)
class Deadline:
    """A date counted in working days; ``provisional`` if a provisional year was used."""

    date: dt.date
    provisional: bool


@dataclass(frozen=True)
class Count:
    """A number of working days; ``provisional`` if a provisional year was used."""

    value: int
    provisional: bool


@dataclass(frozen=True)
class _Year:
    status: YearStatus
    workdays: tuple[int, ...]  # sorted ordinals of the working days
    workday_set: frozenset[int]


@dataclass(frozen=True)
class _Override:
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    source: str | None


class WorkingDayCalendar:
    """Working days of the PRC calendar, with optional per-year overrides from a file."""

    def __init__(self, overrides: Path | None = None) -> None:
        self._overrides: dict[int, _Override] = (
            _load_overrides(overrides) if overrides is not None else {}
        )
        self._years: dict[int, _Year] = {}

    # -- queries --------------------------------------------------------------------

    def year_status(self, year: int) -> YearStatus:
        """Where ``year`` comes from: ``official``, ``provisional`` or ``override``."""
        if year in self._overrides:
            return "override"
        return "official" if _library_knows(year) else "provisional"

    def override_source(self, year: int) -> str | None:
        """The ``source`` the override file gives for ``year`` (None if not overridden)."""
        override = self._overrides.get(year)
        return override.source if override else None

    def is_working_day(self, d: dt.date) -> bool:
        """Whether ``d`` is a working day (make-up weekend days included)."""
        return d.toordinal() in self._year(d.year).workday_set

    def add(self, start: dt.date, n: int) -> Deadline:
        """The date ``n`` working days after ``start`` (``start`` itself not counted).

        ``n == 0`` returns ``start`` unchanged; a negative ``n`` counts backwards (the
        ``-n``-th working day before ``start``). The result is provisional when it, or any
        day stepped over, lies in a provisional year.
        """
        if n == 0:
            return Deadline(start, self._any_provisional(start, start))
        if n > 0:
            result = self._forward(start, n)
            return Deadline(result, self._any_provisional(start + _ONE_DAY, result))
        result = self._backward(start, -n)
        return Deadline(result, self._any_provisional(result, start - _ONE_DAY))

    def between(self, d1: dt.date, d2: dt.date) -> Count:
        """Working days after ``d1`` up to and including ``d2``; negated if ``d2 < d1``."""
        if d2 < d1:
            count = self.between(d2, d1)
            return Count(-count.value, count.provisional)
        if d2 == d1:
            return Count(0, False)
        value = self._rank_in_year(d2) - self._rank_in_year(d1)
        value += sum(len(self._year(y).workdays) for y in range(d1.year, d2.year))
        return Count(value, self._any_provisional(d1 + _ONE_DAY, d2))

    # -- counting -------------------------------------------------------------------

    def _forward(self, start: dt.date, n: int) -> dt.date:
        year = start.year
        days = self._year(year).workdays
        index = bisect_right(days, start.toordinal())  # first working day after start
        while n > len(days) - index:
            n -= len(days) - index
            year += 1
            days, index = self._year(year).workdays, 0
        return dt.date.fromordinal(days[index + n - 1])

    def _backward(self, start: dt.date, n: int) -> dt.date:
        year = start.year
        days = self._year(year).workdays
        index = bisect_left(days, start.toordinal())  # working days before start
        while n > index:
            n -= index
            year -= 1
            days = self._year(year).workdays
            index = len(days)
        return dt.date.fromordinal(days[index - n])

    def _rank_in_year(self, d: dt.date) -> int:
        """Working days of ``d``'s year up to and including ``d``."""
        return bisect_right(self._year(d.year).workdays, d.toordinal())

    def _any_provisional(self, first: dt.date, last: dt.date) -> bool:
        years = range(first.year, last.year + 1)
        return any(self.year_status(y) == "provisional" for y in years)

    # -- building years -------------------------------------------------------------

    def _year(self, year: int) -> _Year:
        cached = self._years.get(year)
        if cached is None:
            cached = self._years[year] = self._build_year(year)
        return cached

    def _build_year(self, year: int) -> _Year:
        if not dt.MINYEAR <= year <= dt.MAXYEAR:
            raise CalendarRangeError(f"year {year} is outside the calendar")
        status = self.year_status(year)
        if status == "override":
            override = self._overrides[year]
            days = _weekend_rule(year, override.holidays, override.workdays)
        elif status == "official":
            days = _official_workdays(year)
        else:
            days = _weekend_rule(year, _statutory_holidays(year), frozenset())
        ordinals = tuple(sorted(d.toordinal() for d in days))
        return _Year(status, ordinals, frozenset(ordinals))


# -- the sources ----------------------------------------------------------------------


@functools.cache
def _library_knows(year: int) -> bool:
    """Whether ``chinese_calendar`` has the State Council arrangement for ``year``."""
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        return False
    try:
        chinese_calendar.is_workday(dt.date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def _days_of(year: int) -> Iterable[dt.date]:
    first, last = dt.date(year, 1, 1).toordinal(), dt.date(year, 12, 31).toordinal()
    return (dt.date.fromordinal(o) for o in range(first, last + 1))


def _official_workdays(year: int) -> list[dt.date]:
    """``chinese_calendar.is_workday`` for the whole year, from its two public tables.

    That function is the same weekend rule over the library's ``holidays`` and
    ``workdays`` tables (the tests check every day of the official years against it);
    reading the tables directly builds a year ~50x faster than asking day by day.
    """
    days_off = frozenset(d for d in chinese_calendar.holidays if d.year == year)
    make_up = frozenset(d for d in chinese_calendar.workdays if d.year == year)
    return _weekend_rule(year, days_off, make_up)


def _statutory_holidays(year: int) -> frozenset[dt.date]:
    listed = frozenset(holidays.country_holidays("CN", years=year))
    if not listed:
        raise CalendarRangeError(
            f"no holiday data for year {year}; add [years.{year}] to ${CALENDAR_FILE_ENV}"
        )
    return listed


def _weekend_rule(
    year: int, days_off: frozenset[dt.date], make_up: frozenset[dt.date]
) -> list[dt.date]:
    """Monday to Friday, minus ``days_off``, plus the make-up days."""
    return [d for d in _days_of(year) if d in make_up or (d.weekday() < 5 and d not in days_off)]


# -- the override file ----------------------------------------------------------------


def _load_overrides(path: Path) -> dict[int, _Override]:
    try:
        with path.open("rb") as f:
            document = tomllib.load(f)
    except OSError as e:
        raise CalendarFileError(f"{path}: cannot read calendar file: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise CalendarFileError(f"{path}: not valid TOML: {e}") from e
    unknown = set(document) - {"years"}
    if unknown:
        raise CalendarFileError(f"{path}: unknown top-level key {sorted(unknown)[0]!r}")
    years = document.get("years", {})
    if not isinstance(years, Mapping):
        raise CalendarFileError(f"{path}: 'years' must be a table of [years.YYYY]")
    return {_parse_year(path, key): _parse_override(path, key, body) for key, body in years.items()}


def _parse_year(path: Path, key: str) -> int:
    if not (key.isascii() and key.isdigit() and len(key) == 4):
        raise CalendarFileError(f"{path}: [years.{key}]: not a four-digit year: {key!r}")
    return int(key)


def _parse_override(path: Path, key: str, body: object) -> _Override:
    where = f"{path}: [years.{key}]"
    if not isinstance(body, Mapping):
        raise CalendarFileError(f"{where}: must be a table")
    unknown = set(body) - _OVERRIDE_KEYS
    if unknown:
        raise CalendarFileError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    year = int(key)
    days_off = _parse_dates(where, year, "holidays", body.get("holidays", []))
    make_up = _parse_dates(where, year, "workdays", body.get("workdays", []))
    both = days_off & make_up
    if both:
        day = min(both).isoformat()
        raise CalendarFileError(f"{where}: {day} is in both holidays and workdays")
    source = body.get("source")
    if source is not None and not isinstance(source, str):
        raise CalendarFileError(f"{where}: source must be a string: {source!r}")
    return _Override(days_off, make_up, source)


def _parse_dates(where: str, year: int, name: str, values: object) -> frozenset[dt.date]:
    if not isinstance(values, list):
        raise CalendarFileError(f"{where}: {name} must be a list of dates: {values!r}")
    days = frozenset(_parse_date(f"{where}: {name}", value) for value in values)
    for day in sorted(days):
        if day.year != year:
            raise CalendarFileError(f"{where}: {name}: {day.isoformat()} is not in {year}")
    return days


def _parse_date(where: str, value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        raise CalendarFileError(f"{where}: a date without a time is expected: {value.isoformat()}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise CalendarFileError(f"{where}: not a YYYY-MM-DD date: {value!r}")


# -- the process-wide calendar ----------------------------------------------------------


def default_calendar() -> WorkingDayCalendar:
    """The calendar with the overrides of ``$DOSSIER_CALENDAR_FILE`` (if set), cached.

    The environment is read on every call and the file's identity (path, modification
    time, size) is part of the cache key, so a changed setting or an edited file is
    picked up without restarting the process.
    """
    name = os.environ.get(CALENDAR_FILE_ENV)
    if not name:
        return _cached_calendar(None, None)
    path = Path(name)
    try:
        stat = path.stat()
    except OSError as e:
        raise CalendarFileError(f"{path}: cannot read calendar file: {e.strerror}") from e
    return _cached_calendar(path, (stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _cached_calendar(path: Path | None, stamp: tuple[int, int] | None) -> WorkingDayCalendar:
    return WorkingDayCalendar(path)
