"""The system of record's core: what every other layer stands on.

``config``, ``errors`` and ``clock`` (the one source of the current time); ``db``
(connections, migrations, the embedded PostgreSQL default of ``embedded``) and ``schema``;
``policy`` (every period and target with its article); ``permissions`` (the one check) and
``directory`` (who is acting, departments, heads); ``ledger`` (the 檔案管理臺賬); ``crypto``
(per-dossier data keys); ``numbering`` (Art. 11); ``exports`` (spreadsheet-safe cells).

Imports nothing from the rest of the package.
"""
