"""The overseas client dossier system of record.

All domain logic lives in this package, in layers; each may import the layers below it,
never above (the import-linter contract in ``pyproject.toml``, run by ``make lint``):

====================================================  =========================================
``cli``                                               the ``dossier`` command line
``local``                                             development only: demo, seed, local Airflow
``api`` | ``airflow``                                 REST API and report pages | Airflow glue
``workflows`` : ``duties`` : ``reports``              what people and duties do
``intake`` | ``quality``                              collection-form rules | completeness checks
``calendar``                                          working days, schedules, deadline clocks
``core``                                              config, db, schema, policy, permissions, ledger
====================================================  =========================================

It imports without Airflow running.
"""

__version__ = "0.1.0"
