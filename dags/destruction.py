"""Destruction of dossiers through the approvals of Art. 17: built by
:func:`dossiers.airflow.request_dags.destruction_dag` (one run per Destruction Request Form)."""

from dossiers.airflow.request_dags import destruction_dag

destruction_dag()
