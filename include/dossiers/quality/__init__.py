"""Data quality of the dossiers: completeness checks (Arts. 3, 8, 10, 14) run by GX in Postgres.

- :mod:`dossiers.quality.checks` - the registry: the rows query and one ``Check`` per item;
- :mod:`dossiers.quality.completeness` - the GX run (:func:`run_completeness`, Data Docs) and
  the same checks as one SQL statement (:func:`sql_completeness`).

Nothing here imports Great Expectations until a run starts.
"""

from __future__ import annotations

from dossiers.quality.completeness import (
    CompletenessResult,
    Failure,
    run_completeness,
    sql_completeness,
)

__all__ = ["CompletenessResult", "Failure", "run_completeness", "sql_completeness"]
