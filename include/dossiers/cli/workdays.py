"""``dossier workdays``: the PRC working-day calendar that every deadline counts in."""

from __future__ import annotations

import argparse
import sys

from dossiers.calendar.workdays import default_calendar
from dossiers.cli.shared import Group, command, iso_date, noun


def _provisional_note(provisional: bool) -> None:
    if provisional:
        print("dossier: provisional - a year involved has no official holiday schedule yet "
              "(weekends and fixed statutory holidays only); supply DOSSIER_CALENDAR_FILE",
              file=sys.stderr)


def cmd_workdays_add(args: argparse.Namespace) -> int:
    deadline = default_calendar().add(args.date, args.n)
    print(deadline.date.isoformat())
    _provisional_note(deadline.provisional)
    return 0


def cmd_workdays_between(args: argparse.Namespace) -> int:
    count = default_calendar().between(args.date1, args.date2)
    print(count.value)
    _provisional_note(count.provisional)
    return 0


def register(nouns: Group) -> None:
    wd = noun(nouns, "workdays", "the PRC working-day calendar")
    wadd = command(wd, "add", cmd_workdays_add,
                   "the date N working days after DATE (DATE itself not counted)")
    wadd.add_argument("date", type=iso_date)
    wadd.add_argument("n", type=int)
    wbetween = command(wd, "between", cmd_workdays_between,
                       "working days after DATE1 up to and including DATE2")
    wbetween.add_argument("date1", type=iso_date)
    wbetween.add_argument("date2", type=iso_date)
