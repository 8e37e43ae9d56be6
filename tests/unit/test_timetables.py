"""When the working-day timetables run, and what each run covers (no Airflow needed).

The timetables of :mod:`dossiers.airflow.timetables` are thin Airflow wrappers around
:mod:`dossiers.calendar.schedules`, which is tested here without importing Airflow (this pytest
process keeps Airflow out; ``tests/airflow/test_timetables_airflow.py`` runs the wrappers
inside a real Airflow). Literal dates are the State Council's 2026 arrangement as
``chinese_calendar`` 1.11.0 encodes it: New Year 1-3 Jan (Sunday 4 Jan
worked), Spring Festival 15-23 Feb (Saturdays 14 and 28 Feb worked), Qingming 4-6 Apr,
Labour Day 1-5 May (Saturday 9 May worked), Dragon Boat 19-21 Jun, Mid-Autumn 25-27 Sep,
National Day 1-7 Oct (Sunday 20 Sep and Saturday 10 Oct worked). Where a whole year is
checked, the reference is :func:`dossiers.calendar.workdays.default_calendar`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import pytest

from dossiers.calendar.schedules import (
    SHANGHAI,
    EveryWorkingDaySchedule,
    FirstWorkingDaySchedule,
    Slot,
    WorkingDaySchedule,
)
from dossiers.calendar.workdays import CALENDAR_FILE_ENV, default_calendar

D = dt.date.fromisoformat
ONE_DAY = dt.timedelta(days=1)


def sh(text: str) -> dt.datetime:
    """``"2026-10-08 09:00"`` as an aware Asia/Shanghai datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


YEAR_2026 = (sh("2026-01-01 00:00"), sh("2026-12-31 23:59:59"))

MONTHLY = FirstWorkingDaySchedule("month")
QUARTERLY = FirstWorkingDaySchedule("quarter")
DECEMBER = FirstWorkingDaySchedule(months=(12,))
WORKING_DAYS = EveryWorkingDaySchedule()

#: The first working day of each month of 2026 (official arrangement).
FIRST_WORKING_DAYS_2026 = [
    "2026-01-04",  # Sunday: make-up working day after the New Year holiday (1-3 Jan)
    "2026-02-02", "2026-03-02", "2026-04-01",
    "2026-05-06",  # Labour Day holiday 1-5 May
    "2026-06-01", "2026-07-01", "2026-08-03", "2026-09-01",
    "2026-10-08",  # National Day holiday 1-7 Oct
    "2026-11-02", "2026-12-01",
]
MAKE_UP_DAYS_2026 = ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]


def run_days(schedule: WorkingDaySchedule, first: dt.datetime, last: dt.datetime) -> list[str]:
    return [s.run_after.date().isoformat() for s in schedule.slots_between(first, last)]


def test_2026_is_an_official_year() -> None:
    """The literal dates below are the official arrangement, not a provisional guess."""
    assert default_calendar().year_status(2026) == "official"


# -- first working day of a period ---------------------------------------------------------


def test_first_working_day_of_each_month_of_2026() -> None:
    assert run_days(MONTHLY, *YEAR_2026) == FIRST_WORKING_DAYS_2026
    cal = default_calendar()
    for month, expected in enumerate(FIRST_WORKING_DAYS_2026, start=1):
        day = dt.date(2026, month, 1)
        while not cal.is_working_day(day):
            day += ONE_DAY
        assert day.isoformat() == expected


def test_first_working_day_of_each_quarter_half_year_and_year_of_2026() -> None:
    assert run_days(QUARTERLY, *YEAR_2026) == ["2026-01-04", "2026-04-01", "2026-07-01", "2026-10-08"]
    assert run_days(FirstWorkingDaySchedule("half_year"), *YEAR_2026) == ["2026-01-04", "2026-07-01"]
    assert run_days(FirstWorkingDaySchedule("year"), *YEAR_2026) == ["2026-01-04"]
    assert run_days(DECEMBER, *YEAR_2026) == ["2026-12-01"]


def test_runs_at_the_given_local_time_in_shanghai() -> None:
    slot = FirstWorkingDaySchedule("quarter", at=dt.time(10, 15)).first_at_or_after(sh("2026-09-02 00:00"))
    assert slot.run_after == sh("2026-10-08 10:15")
    assert slot.run_after.astimezone(dt.UTC) == dt.datetime(2026, 10, 8, 2, 15, tzinfo=dt.UTC)
    assert MONTHLY.first_at_or_after(sh("2026-01-01 00:00")).run_after == sh("2026-01-04 09:00")


def test_the_october_run_covers_september() -> None:
    slot = MONTHLY.first_at_or_after(sh("2026-10-01 00:00"))
    assert slot == Slot(start=sh("2026-09-01 00:00"), end=sh("2026-10-01 00:00"),
                        run_after=sh("2026-10-08 09:00"), provisional=False)


def test_period_intervals_tile_time_without_gaps() -> None:
    for schedule in (MONTHLY, QUARTERLY, FirstWorkingDaySchedule("half_year"), DECEMBER):
        slots = list(schedule.slots_between(sh("2025-01-01 00:00"), sh("2027-12-31 00:00")))
        for before, after in itertools.pairwise(slots):
            assert before.end == after.start, schedule
        for slot in slots:
            assert slot.start.time() == slot.end.time() == dt.time(0, 0)
            assert slot.start.day == slot.end.day == 1
            assert slot.end <= slot.run_after < slot.end + dt.timedelta(days=31)
    assert [(s.start.date(), s.end.date()) for s in QUARTERLY.slots_between(*YEAR_2026)] == [
        (D("2025-10-01"), D("2026-01-01")), (D("2026-01-01"), D("2026-04-01")),
        (D("2026-04-01"), D("2026-07-01")), (D("2026-07-01"), D("2026-10-01"))]


def test_the_december_run_covers_the_twelve_months_since_the_previous_one() -> None:
    (slot,) = DECEMBER.slots_between(*YEAR_2026)
    assert (slot.start, slot.end, slot.run_after) == (
        sh("2025-12-01 00:00"), sh("2026-12-01 00:00"), sh("2026-12-01 09:00"))


def test_selected_months_of_a_period() -> None:
    march_september = FirstWorkingDaySchedule("month", months=(9, 3))
    assert run_days(march_september, *YEAR_2026) == ["2026-03-02", "2026-09-01"]
    first, second = march_september.slots_between(*YEAR_2026)
    assert (first.start, first.end) == (sh("2025-09-01 00:00"), sh("2026-03-01 00:00"))
    assert (second.start, second.end) == (sh("2026-03-01 00:00"), sh("2026-09-01 00:00"))
    assert FirstWorkingDaySchedule("quarter", months=(1, 7)).to_dict()["months"] == [1, 7]


# -- every working day ---------------------------------------------------------------------


def test_every_working_day_of_2026_and_nothing_else() -> None:
    days = run_days(WORKING_DAYS, *YEAR_2026)
    cal = default_calendar()
    expected = [d.isoformat() for d in (D("2026-01-01") + i * ONE_DAY for i in range(365))
                if cal.is_working_day(d)]
    assert days == expected
    assert len(days) == 248
    for make_up in MAKE_UP_DAYS_2026:  # weekend days worked (調休)
        assert make_up in days and D(make_up).weekday() >= 5
    for day_off in ("2026-01-01", "2026-01-02", "2026-02-16", "2026-02-23", "2026-04-06", "2026-05-05",
                    "2026-06-19", "2026-09-25", "2026-10-01", "2026-10-07"):  # weekdays off
        assert day_off not in days
    assert "2026-11-28" not in days and "2026-11-29" not in days  # an ordinary weekend


def test_a_working_day_run_covers_the_time_since_the_previous_working_day() -> None:
    def slot_on(day: str) -> Slot:
        return WORKING_DAYS.first_at_or_after(sh(f"{day} 00:00"))

    monday = slot_on("2026-11-30")
    assert (monday.start, monday.end, monday.run_after) == (
        sh("2026-11-27 08:30"), sh("2026-11-30 08:30"), sh("2026-11-30 08:30"))
    assert slot_on("2026-10-08").start == sh("2026-09-30 08:30")  # across National Day
    assert slot_on("2026-10-10").start == sh("2026-10-09 08:30")  # a make-up Saturday
    assert slot_on("2026-01-04").start == sh("2025-12-31 08:30")  # across the year and New Year
    assert slot_on("2026-10-01").run_after == sh("2026-10-08 08:30")  # a holiday: the next working day
    slots = list(WORKING_DAYS.slots_between(*YEAR_2026))
    for before, after in itertools.pairwise(slots):
        assert before.end == after.start


# -- what Airflow asks: the next run, catch-up, a manual run -------------------------------


def test_catch_up_from_2026_01_01() -> None:
    """start_date 2026-01-01 with catchup: 12 monthly, 4 quarterly, 1 December run in 2026."""
    assert len(list(MONTHLY.slots_between(*YEAR_2026))) == 12
    assert len(list(QUARTERLY.slots_between(*YEAR_2026))) == 4
    assert len(list(DECEMBER.slots_between(*YEAR_2026))) == 1


def test_next_slot_follows_the_last_run_and_respects_the_bounds() -> None:
    earliest, latest = YEAR_2026
    first = MONTHLY.next_slot(last_end=None, earliest=earliest, latest=latest, catchup=True)
    assert first is not None and first.run_after == sh("2026-01-04 09:00")
    second = MONTHLY.next_slot(last_end=first.end, earliest=earliest, latest=latest, catchup=True)
    assert second is not None and second.start == first.end
    assert MONTHLY.next_slot(last_end=sh("2026-12-01 00:00"), earliest=earliest, latest=latest,
                             catchup=True) is None  # the January 2027 run is after `latest`
    # A start date moved forward wins over the last run.
    moved = MONTHLY.next_slot(last_end=first.end, earliest=sh("2026-06-15 00:00"), latest=None, catchup=True)
    assert moved is not None and moved.run_after == sh("2026-07-01 09:00")


def test_without_catchup_the_most_recent_missed_run_is_the_only_one() -> None:
    now = sh("2026-11-27 13:00")
    slot = MONTHLY.next_slot(last_end=None, earliest=sh("2026-01-01 00:00"), latest=None, catchup=False,
                             now=now)
    assert slot is not None and slot.run_after == sh("2026-11-02 09:00")  # October, not January
    after = MONTHLY.next_slot(last_end=slot.end, earliest=sh("2026-01-01 00:00"), latest=None,
                              catchup=False, now=now)
    assert after is not None and after.run_after == sh("2026-12-01 09:00")
    # Today's working-day run has passed: it is the one still due.
    today = WORKING_DAYS.next_slot(last_end=sh("2026-11-20 08:30"), earliest=None, latest=None,
                                   catchup=False, now=now)
    assert today is not None and today.run_after == sh("2026-11-27 08:30")


def test_with_no_start_date_the_first_run_is_the_next_one() -> None:
    now = sh("2026-11-27 13:00")
    for catchup in (True, False):
        slot = WORKING_DAYS.next_slot(last_end=None, earliest=None, latest=None, catchup=catchup, now=now)
        assert slot is not None and slot.run_after == sh("2026-11-30 08:30")


def test_the_same_period_always_gives_the_same_run() -> None:
    """Idempotent: however it is reached, a period maps to one run time and one interval."""
    reached = {
        MONTHLY.first_at_or_after(sh("2026-09-02 00:00")),
        MONTHLY.first_at_or_after(sh("2026-10-08 09:00")),
        MONTHLY.last_at_or_before(sh("2026-10-31 23:00")),
        MONTHLY.following(sh("2026-09-01 00:00")),
        MONTHLY.following(sh("2026-09-15 12:00")),  # an end that is not a period boundary
        MONTHLY.last_complete(sh("2026-10-05 12:00")),
        MONTHLY.next_slot(last_end=sh("2026-09-01 00:00"), earliest=None, latest=None, catchup=True),
        MONTHLY.next_slot(last_end=sh("2026-08-31 16:00").replace(tzinfo=dt.UTC), earliest=None,
                          latest=None, catchup=True),  # the same end, in UTC as Airflow stores it
    }
    assert len(reached) == 1
    (slot,) = reached
    assert slot is not None
    assert (slot.start, slot.end, slot.run_after) == (
        sh("2026-09-01 00:00"), sh("2026-10-01 00:00"), sh("2026-10-08 09:00"))


def test_a_manual_run_gets_the_last_interval_that_has_ended() -> None:
    during_holiday = MONTHLY.last_complete(sh("2026-10-05 12:00"))
    assert (during_holiday.start, during_holiday.end) == (sh("2026-09-01 00:00"), sh("2026-10-01 00:00"))
    assert MONTHLY.last_complete(sh("2026-10-01 00:00")).end == sh("2026-10-01 00:00")
    saturday = WORKING_DAYS.last_complete(sh("2026-11-28 10:00"))
    assert (saturday.start, saturday.end) == (sh("2026-11-26 08:30"), sh("2026-11-27 08:30"))
    early = WORKING_DAYS.last_complete(sh("2026-11-27 08:00"))
    assert early.end == sh("2026-11-26 08:30")


# -- years without an official arrangement -------------------------------------------------


def test_provisional_years_still_get_runs_flagged_provisional() -> None:
    assert default_calendar().year_status(2027) == "provisional"
    year_2027 = (sh("2027-01-01 00:00"), sh("2027-12-31 23:59"))
    monthly = list(MONTHLY.slots_between(*year_2027))
    assert len(monthly) == 12 and all(s.provisional for s in monthly)
    assert all(s.run_after.weekday() < 5 for s in monthly)  # no make-up days are known yet
    assert monthly[0].run_after == sh("2027-01-04 09:00")  # Fri 1 Jan is New Year's Day
    working = list(WORKING_DAYS.slots_between(*year_2027))
    assert 240 <= len(working) <= 255 and all(s.provisional for s in working)
    assert not any(s.run_after.date() == D("2027-10-01") for s in working)
    assert not any(s.provisional for s in WORKING_DAYS.slots_between(*YEAR_2026))
    # The first run of 2027 covers the end of 2026: provisional, as its run day is.
    assert WORKING_DAYS.first_at_or_after(sh("2027-01-01 00:00")).provisional


def test_an_override_file_replaces_a_provisional_year(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text('[years.2027]\nholidays = ["2027-01-01"]\nworkdays = ["2027-01-02"]\n'
                    'source = "test notice"\n', encoding="utf-8")
    monkeypatch.setenv(CALENDAR_FILE_ENV, str(path))
    slot = MONTHLY.first_at_or_after(sh("2027-01-01 00:00"))
    assert slot.run_after == sh("2027-01-02 09:00") and not slot.provisional  # a make-up Saturday
    assert (slot.start, slot.end) == (sh("2026-12-01 00:00"), sh("2027-01-01 00:00"))


# -- parameters, text, serialization -------------------------------------------------------


@pytest.mark.parametrize("schedule", [
    MONTHLY, QUARTERLY, DECEMBER, FirstWorkingDaySchedule("half_year", at=dt.time(7, 5, 30)),
    FirstWorkingDaySchedule("year"), FirstWorkingDaySchedule("quarter", months=(10, 4)),
    WORKING_DAYS, EveryWorkingDaySchedule(dt.time(17, 45)),
], ids=repr)
def test_serialization_round_trip(schedule: WorkingDaySchedule) -> None:
    data = json.loads(json.dumps(schedule.to_dict()))
    rebuilt = type(schedule).from_dict(data)
    assert rebuilt == schedule and hash(rebuilt) == hash(schedule)
    assert rebuilt.to_dict() == data
    assert list(rebuilt.slots_between(*YEAR_2026)) == list(schedule.slots_between(*YEAR_2026))


def test_serialized_form() -> None:
    assert MONTHLY.to_dict() == {"period": "month", "at": "09:00", "months": None}
    assert DECEMBER.to_dict() == {"period": "month", "at": "09:00", "months": [12]}
    assert FirstWorkingDaySchedule("quarter", months=(1, 4, 7, 10)) == QUARTERLY
    assert FirstWorkingDaySchedule(months=[12, 12]) == DECEMBER
    assert WORKING_DAYS.to_dict() == {"at": "08:30"}
    assert EveryWorkingDaySchedule(dt.time(8, 30, 15)).to_dict() == {"at": "08:30:15"}
    assert MONTHLY != WORKING_DAYS and MONTHLY != QUARTERLY


def test_summary_and_description() -> None:
    assert MONTHLY.summary == "1st working day of each month, 09:00 (PRC, Asia/Shanghai)"
    assert QUARTERLY.summary == "1st working day of each quarter, 09:00 (PRC, Asia/Shanghai)"
    assert FirstWorkingDaySchedule("year").summary == (
        "1st working day of the year, 09:00 (PRC, Asia/Shanghai)")
    assert DECEMBER.summary == "1st working day of Dec, 09:00 (PRC, Asia/Shanghai)"
    assert WORKING_DAYS.summary == "Every working day, 08:30 (PRC, Asia/Shanghai)"
    assert "covers the previous quarter" in QUARTERLY.description
    assert "Dec 2025-Nov 2026" in DECEMBER.description
    for schedule in (MONTHLY, DECEMBER, WORKING_DAYS):
        assert "provisionally" in schedule.description and "DOSSIER_CALENDAR_FILE" in schedule.description


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"period": "week"}, "period must be one of"),
    ({"period": "year", "months": (12,)}, "do not start a year"),
    ({"period": "quarter", "months": (2,)}, "do not start a quarter"),
    ({"months": ()}, "at least one month"),
    ({"months": (0,)}, "do not start a month"),
    ({"months": (13,)}, "do not start a month"),
    ({"at": dt.time(9, 0, tzinfo=dt.UTC)}, "takes no tzinfo"),
])
def test_bad_parameters_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FirstWorkingDaySchedule(**kwargs)  # type: ignore[arg-type]


def test_at_must_be_a_time_and_moments_must_be_aware() -> None:
    with pytest.raises(TypeError, match=r"datetime\.time"):
        EveryWorkingDaySchedule("08:30")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        MONTHLY.first_at_or_after(dt.datetime(2026, 10, 1))


def test_a_period_key_names_the_first_day_of_its_period() -> None:
    from dossiers.duties.runs import PERIODS, period_bounds, period_key, period_start

    for day in (dt.date(2026, 1, 1), dt.date(2026, 3, 31), dt.date(2026, 7, 15), dt.date(2026, 12, 31)):
        for kind in PERIODS:
            assert period_start(period_key(kind, day)) == period_bounds(kind, day)[0], (kind, day)
    assert period_start("2026-Q3") == dt.date(2026, 7, 1) > period_start("2026-06")
