"""How a long-running function says how far it has got, without knowing who listens.

``dossier import``, ``dossier seed`` and ``dossier ledger verify`` can take minutes on a
large file or ledger. They take an optional :class:`Progress` and call it now and then with
the step they are on and how much of it is done; the CLI turns that into a progress bar on
a terminal (``dossiers.cli.shared.progress``). Everyone else (Airflow tasks, the API,
scripts, ``--json``, output that is not a terminal) gets :func:`no_progress`, so nothing in
the domain package prints and nothing here imports a terminal library.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Told ``(step, done, total)``: ``done`` of ``total`` units of ``step`` are finished.

    ``step`` is a short label a person reads ("re-hashing the ledger"); a new label starts a
    new step. ``total`` is None when it is not known. Calls are cheap but not free: callers
    report per batch, not per row.
    """

    def __call__(self, step: str, done: int, total: int | None) -> None: ...


def no_progress(step: str, done: int, total: int | None) -> None:
    """Report nothing: the default everywhere but an interactive terminal."""
