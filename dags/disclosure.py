"""External disclosure through management's approval (Art. 16): built by
:func:`dossiers.airflow.request_dags.disclosure_dag` (one run per disclosure request)."""

from dossiers.airflow.request_dags import disclosure_dag

disclosure_dag()
