"""Register the working-day timetables with Airflow (glue only).

The scheduler, the DAG processor and the API server rebuild a DAG's timetable from its
serialized form by import path, and accept only built-in timetables and those a plugin
lists: without this file a DAG scheduled with :mod:`dossiers.airflow.timetables` fails to
serialize. Importing it is cheap (the calendar libraries load on first use).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from dossiers.airflow.timetables import FirstWorkingDayTimetable, WorkingDayTimetable


class DossierTimetablesPlugin(AirflowPlugin):
    name = "dossier_timetables"
    # AirflowPlugin declares `timetables` a list attribute; ClassVar would contradict it (mypy).
    timetables = [FirstWorkingDayTimetable, WorkingDayTimetable]  # noqa: RUF012
