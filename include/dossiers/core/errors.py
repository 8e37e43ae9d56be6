"""Errors a person can act on.

The CLI turns these into one line on stderr and an exit status (``cli.md``): a
:class:`Refused` is something the system ran and refused (exit 1), a :class:`CannotRun`
is something that stopped it from running at all (exit 2).
"""

from __future__ import annotations


class DossierError(Exception):
    """Base of every error the package raises on purpose."""

    exit_status = 1


class Refused(DossierError):
    """The command ran and refused: bad input, a forbidden action, an illegal transition.

    ``record`` and ``field`` name what was refused; the message says why. Never put
    personal data in any of them.
    """

    def __init__(self, message: str, *, record: str | None = None, field: str | None = None):
        self.record = record
        self.field = field
        prefix = ": ".join(p for p in (record, field) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class PermissionDenied(Refused):
    """The actor's roles do not allow the action (Arts. 6, 7, 16)."""


class NotFound(Refused):
    """The named record does not exist (or no longer does): a form, dossier, grant, user."""


class CannotRun(DossierError):
    """No database, no key file, an unreadable file: nothing was done."""

    exit_status = 2


class Unreachable(CannotRun):
    """The dossier database does not answer (down, lost, or the URL names none)."""
