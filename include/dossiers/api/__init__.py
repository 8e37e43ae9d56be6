"""The REST API of the dossier system: a FastAPI app mounted into Airflow's API server.

:mod:`dossiers.api.app` builds it (``create_app``); ``plugins/dossier_api.py`` mounts it at
``/dossier-api``. Each noun has its own router module (``forms``, ``dossiers``, ``queries``);
:mod:`dossiers.api.deps` holds what they share: who is calling (an Airflow-authenticated
user who is a staff member), running a domain call in one transaction as that staff member,
and turning the domain's errors into HTTP answers.

Every route is the API twin of a CLI command: a thin call into the same domain function.
Importing this package is cheap; FastAPI and Airflow are imported by its modules.
"""
