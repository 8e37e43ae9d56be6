"""The destruction and disclosure DAGs (dossiers.airflow.request_dags) for dag.test() with real
answers through Airflow's REST API (approval_driver.py)."""

from __future__ import annotations

from dossiers.airflow.request_dags import destruction_dag, disclosure_dag

destruction_dag()
disclosure_dag()
