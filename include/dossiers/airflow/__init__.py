"""Glue that Airflow imports: working-day timetables, what every duty DAG shares, failure notices.

DAG files import these at parse time, so every module here is cheap: ``airflow.sdk`` and
heavy libraries are imported inside the functions that need them. An interface layer: it may
import every layer below ``dossiers.local``.
"""
