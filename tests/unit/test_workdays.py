"""The working-day calendar (工作日) the policy's deadlines are counted in.

Literal dates below were checked against ``chinese_calendar`` 1.11.0 before being written
down; the tests also re-derive them from the libraries so a disagreement shows up here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar
import holidays
import pytest

from dossiers.calendar.workdays import (
    CALENDAR_FILE_ENV,
    CalendarFileError,
    CalendarRangeError,
    Count,
    Deadline,
    WorkingDayCalendar,
    default_calendar,
)
from dossiers.core.errors import CannotRun

D = dt.date.fromisoformat
ONE_DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def cal() -> WorkingDayCalendar:
    return WorkingDayCalendar()


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def brute_between(cal: WorkingDayCalendar, d1: dt.date, d2: dt.date) -> int:
    return sum(cal.is_working_day(d) for d in days(d1 + ONE_DAY, d2))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "calendar.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- official years agree with the libraries ----------------------------------------------


def test_every_day_of_2024_to_2026_matches_both_libraries(cal: WorkingDayCalendar) -> None:
    cn = holidays.country_holidays("CN", years=[2024, 2025, 2026])
    for d in days(D("2024-01-01"), D("2026-12-31")):
        assert cal.is_working_day(d) == chinese_calendar.is_workday(d), d
        assert cal.is_working_day(d) == cn.is_working_day(d), d


def test_every_official_day_matches_chinese_calendar(cal: WorkingDayCalendar) -> None:
    for year in range(2004, 2027):
        assert cal.year_status(year) == "official"
    for d in days(D("2004-01-01"), D("2026-12-31")):
        assert cal.is_working_day(d) == chinese_calendar.is_workday(d), d


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2025-10-01", False),  # National Day (Wednesday)
        ("2025-10-08", False),  # National Day + Mid-Autumn, last day off (Wednesday)
        ("2025-09-28", True),  # Sunday, make-up working day (調休)
        ("2025-10-11", True),  # Saturday, make-up working day
        ("2024-02-04", True),  # Sunday, make-up for the Spring Festival
        ("2026-02-14", True),  # Saturday, make-up for the 2026 Spring Festival
        ("2026-02-16", False),  # Monday, Spring Festival
        ("2026-02-28", True),  # Saturday, make-up for the 2026 Spring Festival
        ("2026-10-10", True),  # Saturday, make-up for the 2026 National Day
        ("2025-03-08", False),  # an ordinary Saturday
        ("2025-03-07", True),  # an ordinary Friday
    ],
)
def test_known_days(cal: WorkingDayCalendar, day: str, working: bool) -> None:
    assert chinese_calendar.is_workday(D(day)) == working  # the literal is the library's truth
    assert cal.is_working_day(D(day)) == working


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_make_up_weekend_days_are_working_days(cal: WorkingDayCalendar, year: int) -> None:
    make_up = sorted(d for d in chinese_calendar.workdays if d.year == year)
    assert make_up, f"chinese_calendar lists no 調休 day in {year}"
    for d in make_up:
        assert d.weekday() >= 5, d
        assert cal.is_working_day(d), d


def test_2026_spring_festival_and_national_day_make_up_days(cal: WorkingDayCalendar) -> None:
    spring = [d for d in chinese_calendar.workdays if d.year == 2026 and d.month == 2]
    national = [d for d in chinese_calendar.workdays if d.year == 2026 and d.month in (9, 10)]
    assert D("2026-02-14") in spring and D("2026-10-10") in national
    for d in spring + national:
        assert d.weekday() >= 5 and cal.is_working_day(d)
    # Without 調休 a plain Mon-Fri count would be wrong for February 2026.
    february = days(D("2026-02-01"), D("2026-02-28"))
    weekdays_only = sum(d.weekday() < 5 for d in february)
    assert cal.between(D("2026-01-31"), D("2026-02-28")).value != weekdays_only
    assert cal.between(D("2026-01-31"), D("2026-02-28")).value == sum(
        chinese_calendar.is_workday(d) for d in february
    )


# -- add ----------------------------------------------------------------------------------


def test_add_does_not_count_the_start_day(cal: WorkingDayCalendar) -> None:
    assert cal.add(D("2025-03-03"), 1) == Deadline(D("2025-03-04"), False)  # Mon -> Tue
    assert cal.add(D("2025-03-03"), 3) == Deadline(D("2025-03-06"), False)


def test_add_zero_returns_the_start(cal: WorkingDayCalendar) -> None:
    assert cal.add(D("2025-03-08"), 0) == Deadline(D("2025-03-08"), False)  # even a Saturday


def test_add_from_a_friday_skips_an_ordinary_weekend(cal: WorkingDayCalendar) -> None:
    assert cal.add(D("2025-03-07"), 1) == Deadline(D("2025-03-10"), False)  # Fri -> Mon
    assert cal.add(D("2025-03-07"), 5) == Deadline(D("2025-03-14"), False)


def test_add_from_a_weekend_day(cal: WorkingDayCalendar) -> None:
    assert cal.add(D("2025-03-08"), 1).date == D("2025-03-10")  # Sat -> Mon
    assert cal.add(D("2025-03-09"), -1).date == D("2025-03-07")  # Sun -> Fri


def test_add_lands_on_a_make_up_sunday(cal: WorkingDayCalendar) -> None:
    # Friday 2025-09-26 + 1 wd is Sunday 2025-09-28 (調休), not Monday.
    assert cal.add(D("2025-09-26"), 1) == Deadline(D("2025-09-28"), False)
    assert cal.add(D("2025-09-26"), 2).date == D("2025-09-29")


def test_add_jumps_the_national_day_week(cal: WorkingDayCalendar) -> None:
    assert cal.add(D("2025-09-30"), 1).date == D("2025-10-09")  # 1-8 October off
    assert cal.add(D("2025-09-30"), 3).date == D("2025-10-11")  # Saturday make-up day
    assert cal.add(D("2026-02-13"), 1).date == D("2026-02-14")  # Saturday make-up day
    assert cal.add(D("2026-02-14"), 1).date == D("2026-02-24")  # 15-23 February off


def test_add_backwards(cal: WorkingDayCalendar) -> None:
    # "request an extension >= 1 wd before the due date"
    assert cal.add(D("2025-10-09"), -1) == Deadline(D("2025-09-30"), False)
    assert cal.add(D("2025-03-10"), -1).date == D("2025-03-07")  # Mon -> Fri
    assert cal.add(D("2025-09-29"), -1).date == D("2025-09-28")  # Mon -> make-up Sunday


def test_add_across_years(cal: WorkingDayCalendar) -> None:
    assert cal.add(D("2024-12-31"), 1).date == D("2025-01-02")  # 1 January off
    assert cal.add(D("2025-01-02"), -1).date == D("2024-12-31")
    start = D("2016-01-04")
    n = cal.between(start, D("2026-06-30")).value
    assert cal.add(start, n) == Deadline(D("2026-06-30"), False)
    assert cal.add(D("2026-06-30"), -n).date == start


def test_add_and_between_are_inverse(cal: WorkingDayCalendar) -> None:
    for start in days(D("2025-09-20"), D("2025-10-15")) + days(D("2026-02-10"), D("2026-03-02")):
        for n in (1, 2, 3, 5, 7, 30):
            deadline = cal.add(start, n).date
            assert cal.is_working_day(deadline)
            assert cal.between(start, deadline).value == n
            assert cal.between(start, deadline - ONE_DAY).value == n - 1
            if cal.is_working_day(start):
                assert cal.between(start, cal.add(start, -n).date).value == -n


# -- between ------------------------------------------------------------------------------


def test_between_counts_after_d1_up_to_and_including_d2(cal: WorkingDayCalendar) -> None:
    assert cal.between(D("2025-03-03"), D("2025-03-03")) == Count(0, False)
    assert cal.between(D("2025-03-03"), D("2025-03-04")) == Count(1, False)
    assert cal.between(D("2025-03-07"), D("2025-03-08")) == Count(0, False)  # Fri -> Sat
    assert cal.between(D("2025-03-07"), D("2025-03-10")) == Count(1, False)  # Fri -> Mon
    assert cal.between(D("2025-09-30"), D("2025-10-09")) == Count(1, False)
    assert cal.between(D("2025-09-27"), D("2025-09-28")) == Count(1, False)  # make-up Sunday


def test_between_is_negative_when_reversed(cal: WorkingDayCalendar) -> None:
    assert cal.between(D("2025-03-04"), D("2025-03-03")) == Count(-1, False)
    assert cal.between(D("2025-10-09"), D("2025-09-30")) == Count(-1, False)
    assert cal.between(D("2025-03-10"), D("2025-03-07")) == Count(-1, False)


def test_between_a_whole_year(cal: WorkingDayCalendar) -> None:
    expected = len(chinese_calendar.get_workdays(D("2025-01-01"), D("2025-12-31")))
    assert cal.between(D("2024-12-31"), D("2025-12-31")) == Count(expected, False)


def test_between_over_years_matches_day_by_day(cal: WorkingDayCalendar) -> None:
    for d1, d2 in [
        (D("2016-03-15"), D("2026-11-02")),
        (D("2023-12-30"), D("2024-01-02")),
        (D("2019-09-28"), D("2021-02-07")),
    ]:
        assert cal.between(d1, d2).value == brute_between(cal, d1, d2)
        assert cal.between(d2, d1).value == -brute_between(cal, d1, d2)


# -- years the library does not know -------------------------------------------------------


def test_2027_is_provisional_not_complete(cal: WorkingDayCalendar) -> None:
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D("2027-01-01"))
    assert cal.year_status(2027) == "provisional"
    assert not cal.is_working_day(D("2027-01-01"))  # New Year's Day, a Friday
    assert not cal.is_working_day(D("2027-02-08"))  # Spring Festival (holidays.CN), Monday
    assert not cal.is_working_day(D("2027-10-01"))  # National Day
    assert cal.is_working_day(D("2027-01-04"))
    weekend_work = [d for d in days(D("2027-01-01"), D("2027-12-31")) if d.weekday() >= 5]
    assert not any(cal.is_working_day(d) for d in weekend_work)  # no 調休 invented


def test_results_touching_2027_are_flagged(cal: WorkingDayCalendar) -> None:
    assert cal.add(D("2026-12-31"), 1) == Deadline(D("2027-01-04"), True)
    assert cal.add(D("2026-12-30"), 1) == Deadline(D("2026-12-31"), False)
    assert cal.add(D("2027-01-04"), -1) == Deadline(D("2026-12-31"), True)  # stepped over 1-3 Jan
    assert cal.add(D("2027-01-05"), 0) == Deadline(D("2027-01-05"), True)
    assert cal.between(D("2026-12-31"), D("2027-01-04")) == Count(1, True)
    assert cal.between(D("2027-01-04"), D("2026-12-31")) == Count(-1, True)
    assert cal.between(D("2026-12-01"), D("2026-12-31")) == Count(22, False)
    assert cal.between(D("2026-12-31"), D("2026-12-31")) == Count(0, False)


def test_years_without_any_holiday_data_are_refused(cal: WorkingDayCalendar) -> None:
    with pytest.raises(CalendarRangeError, match="2101"):
        cal.is_working_day(D("2101-03-01"))


# -- the override file --------------------------------------------------------------------

OVERRIDE_2027 = """
[years.2027]
# hypothetical notice: 2027 Spring Festival 5-11 Feb, Saturday 20 Feb worked
holidays = ["2027-01-01", "2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10",
            "2027-02-11", "2027-10-01", "2027-10-04", "2027-10-05", "2027-10-06",
            "2027-10-07"]
workdays = ["2027-02-20", 2027-09-26]
source = "State Council notice 國辦發明電〔2026〕x號 (test)"
"""


def test_override_replaces_2027(tmp_path: Path) -> None:
    cal = WorkingDayCalendar(write(tmp_path, OVERRIDE_2027))
    assert cal.year_status(2027) == "override"
    assert cal.year_status(2026) == "official"
    assert cal.override_source(2027) == "State Council notice 國辦發明電〔2026〕x號 (test)"
    assert cal.is_working_day(D("2027-02-20"))  # make-up Saturday
    assert cal.is_working_day(D("2027-09-26"))  # a TOML date, not a string, also works
    assert not cal.is_working_day(D("2027-02-11"))
    # holidays.CN's guess (Labour Day 3-4 May observed) is replaced, not merged.
    assert cal.is_working_day(D("2027-05-04"))
    assert cal.add(D("2027-02-19"), 1) == Deadline(D("2027-02-20"), False)
    assert cal.add(D("2027-02-04"), 1) == Deadline(D("2027-02-12"), False)
    assert cal.add(D("2026-12-31"), 1) == Deadline(D("2027-01-04"), False)
    assert cal.between(D("2027-02-19"), D("2027-02-22")) == Count(2, False)


def test_override_takes_precedence_over_an_official_year(tmp_path: Path) -> None:
    path = write(tmp_path, '[years.2026]\nholidays = ["2026-01-01"]\nworkdays = []\n')
    cal = WorkingDayCalendar(path)
    assert cal.year_status(2026) == "override"
    assert cal.override_source(2026) is None
    assert cal.is_working_day(D("2026-10-01"))
    assert not cal.is_working_day(D("2026-10-10"))  # Saturday, no longer a make-up day
    assert cal.add(D("2026-09-30"), 1) == Deadline(D("2026-10-01"), False)


def test_empty_override_file_changes_nothing(tmp_path: Path) -> None:
    cal = WorkingDayCalendar(write(tmp_path, "# nothing yet\n"))
    assert cal.year_status(2026) == "official"
    assert cal.year_status(2027) == "provisional"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('[years.2027]\nholidays = ["2026-12-31"]\n', ["2027", "2026-12-31", "holidays"]),
        ('[years.2027]\nworkdays = ["2028-01-08"]\n', ["2027", "2028-01-08", "workdays"]),
        (
            '[years.2027]\nholidays = ["2027-02-20"]\nworkdays = ["2027-02-20"]\n',
            ["2027", "2027-02-20", "both"],
        ),
        ('[years.2027]\nholidays = ["2027-02-30"]\n', ["2027", "2027-02-30"]),
        ('[years.2027]\nholidays = ["1st of May"]\n', ["2027", "1st of May"]),
        ("[years.2027]\nholidays = [20270101]\n", ["2027", "20270101"]),
        ("[years.2027]\nholidays = [2027-01-01T00:00:00]\n", ["2027", "2027-01-01"]),
        ('[years.2027]\nholidays = "2027-01-01"\n', ["2027", "list"]),
        ('[years.2027]\nholiday = ["2027-01-01"]\n', ["2027", "holiday"]),
        ("[years.2027]\nsource = 3\n", ["2027", "source"]),
        ('[years.27]\nholidays = ["2027-01-01"]\n', ["27"]),
        ("years = 2027\n", ["years"]),
        ("[year.2027]\n", ["year"]),
        ("[years.2027\n", ["TOML"]),
    ],
)
def test_bad_override_files_are_refused(tmp_path: Path, text: str, names: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CalendarFileError) as caught:
        WorkingDayCalendar(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    for name in names:
        assert name in message


def test_missing_override_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(CalendarFileError, match=r"nope\.toml") as caught:
        WorkingDayCalendar(path)
    assert isinstance(caught.value, CannotRun)  # exit status 2: could not run


# -- the process-wide calendar ------------------------------------------------------------


def test_default_calendar_without_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CALENDAR_FILE_ENV, raising=False)
    cal = default_calendar()
    assert cal is default_calendar()  # cached
    assert cal.year_status(2027) == "provisional"


def test_default_calendar_reads_the_file_named_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CALENDAR_FILE_ENV, str(write(tmp_path, OVERRIDE_2027)))
    cal = default_calendar()
    assert cal is default_calendar()
    assert cal.year_status(2027) == "override"
    monkeypatch.delenv(CALENDAR_FILE_ENV)
    assert default_calendar().year_status(2027) == "provisional"


def test_default_calendar_with_a_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CALENDAR_FILE_ENV, str(tmp_path / "missing.toml"))
    with pytest.raises(CalendarFileError, match=r"missing\.toml"):
        default_calendar()
