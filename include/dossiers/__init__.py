"""The overseas client dossier system of record.

All domain logic lives in this package: the schema, numbering, the working-day calendar,
encryption of personal data, the ledger (檔案管理臺賬), staff and permissions, intake of
collection forms, and the duties Airflow runs. It imports without Airflow running.
"""

__version__ = "0.1.0"
