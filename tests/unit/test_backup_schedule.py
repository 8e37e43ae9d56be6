"""When the backup duties act (Arts. 14, 18): a full backup at least every
``backup_full_every_days`` days, holiday weeks included; the off-site drill every
``backup_offsite_drill_months`` months, caught up when one was missed or failed."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta

from dossiers.backups.duty import backup_due, offsite_drill_due
from dossiers.calendar.schedules import FirstWorkingDaySchedule
from dossiers.core.config import SHANGHAI


def _at(day: date, hour: int = 1, minute: int = 30) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def test_a_backup_is_due_when_the_newest_is_as_old_as_the_interval() -> None:
    monday = _at(date(2026, 12, 7))
    assert backup_due(None, monday, 7)
    assert not backup_due(monday, monday + timedelta(days=6), 7)
    assert backup_due(monday, monday + timedelta(days=7, seconds=-1), 7)  # a later start that day
    # Shanghai dates, whatever zone the times come in: 16:30 UTC on Sunday is Monday 00:30
    assert not backup_due(monday.astimezone(UTC), datetime(2026, 12, 13, 15, 59, tzinfo=UTC), 7)
    assert backup_due(monday.astimezone(UTC), datetime(2026, 12, 13, 16, 30, tzinfo=UTC), 7)


def _drill_months(first: date, last: date, every: int, failing: frozenset[str] = frozenset()) -> list[str]:
    """The months whose first-working-day run drills off-site, a drill succeeding unless
    its month is in ``failing``; the runs' data interval ends as the timetable gives them."""
    schedule = FirstWorkingDaySchedule("month", time(3, 0))
    last_ok: datetime | None = None
    drilled = []
    for slot in schedule.slots_between(_at(first, 0, 0), _at(last, 23, 59)):
        if offsite_drill_due(slot.end, every, last_ok):
            month = f"{slot.run_after:%Y-%m}"
            drilled.append(month)
            if month not in failing:
                last_ok = slot.run_after + timedelta(hours=1)
    return drilled


def test_the_offsite_drill_runs_in_the_first_month_of_each_quarter() -> None:
    # 2026-02 first: never drilled yet, so at once; then January, April, July, October.
    assert _drill_months(date(2026, 2, 1), date(2027, 12, 31), 3) == [
        "2026-02", "2026-04", "2026-07", "2026-10", "2027-01", "2027-04", "2027-07", "2027-10"]


def test_a_failed_offsite_drill_is_caught_up_the_next_month() -> None:
    assert _drill_months(date(2026, 1, 1), date(2026, 12, 31), 3, failing=frozenset({"2026-04"})) == [
        "2026-01", "2026-04", "2026-05", "2026-07", "2026-10"]


def test_an_interval_that_does_not_divide_the_year_keeps_its_cadence() -> None:
    """Every 5 months: the old rule ``(month - 1) % 5`` drilled in January, June and
    November, then January again two months later."""
    months = _drill_months(date(2026, 1, 1), date(2028, 12, 31), 5)
    index = [int(m[:4]) * 12 + int(m[5:]) for m in months]
    # (the first, never drilled before, at once; then every fifth month)
    assert {b - a for a, b in itertools.pairwise(index[1:])} == {5}, months


def test_every_month_when_the_policy_says_one() -> None:
    assert len(_drill_months(date(2026, 1, 1), date(2026, 12, 31), 1)) == 12
