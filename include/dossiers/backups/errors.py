"""The backups' own errors, kept light: the weekly DAG's retry rule imports
:class:`DrillFailed` at parse time, so nothing here may import the database modules."""

from __future__ import annotations

from dossiers.core.errors import Refused


class DrillFailed(Refused):
    """The restored copy does not match its backup (Art. 18): recorded, then raised."""

    def __init__(self, backup_id: str, problems: list[str]):
        self.backup_id = backup_id
        self.problems = problems
        shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
        super().__init__(f"restore drill failed: {shown}", record=f"backup {backup_id}")
