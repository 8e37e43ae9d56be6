"""Development and demo only: ``make demo``, ``dossier seed``, ``make airflow``, a mail catcher.

Nothing in production code imports this package (an import-linter contract); only the CLI's
``seed`` command reaches it. It may import every other layer.
"""
