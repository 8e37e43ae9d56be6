"""Intake of Dossier Information Collection Forms (Art. 11 step 1, ``collection-form.md``).

:mod:`dossiers.intake.reader` turns a CSV, XLSX or JSON file into numbered rows (or
refuses the whole file); :mod:`dossiers.intake.rules` validates and normalises one row.
Neither touches the database: duplicates, encryption and the ledger are the caller's.
"""
