"""Who may file a form row for whom (Arts. 6(2), 7; issue: forms filed for another department).

A liaison files the forms of their own clients: a row naming the submitter as its liaison
needs nothing beyond ``form.submit``. A row naming another liaison needs the matrix's
``form.submit_for_department`` when it is for the submitter's own department (its head) or
``form.submit_for_any_department`` (the CS head, who collects centrally, Art. 6(2)). Which
roles hold those is the matrix's decision (:mod:`dossiers.core.permissions`), not intake's.

A refused row is refused with its code (``not_your_department``) and the rest of the file
goes on; the refusal goes through :func:`~dossiers.core.permissions.authorize`, so it is in
``access_log`` like any other, once per file and action rather than once per row.
"""

from __future__ import annotations

from sqlalchemy import Connection

from dossiers.core.errors import PermissionDenied
from dossiers.core.permissions import Action, Actor, authorize


class SubmitterCheck:
    """The submitter's right to file rows of one file, asked of the matrix once per action."""

    def __init__(self, conn: Connection, actor: Actor, subject: str) -> None:
        self._conn, self._actor, self._subject = conn, actor, subject
        self._answers: dict[Action, bool] = {}

    def allows(self, department: str | None, liaison: str) -> bool:
        """Whether the submitter may file a row for ``liaison`` in ``department``."""
        if liaison == self._actor.username:
            return True
        if self._actor.may(Action.FORM_SUBMIT_FOR_ANY_DEPARTMENT):
            return True
        needed = (Action.FORM_SUBMIT_FOR_DEPARTMENT if department == self._actor.department
                  else Action.FORM_SUBMIT_FOR_ANY_DEPARTMENT)
        if needed not in self._answers:
            try:
                authorize(self._conn, self._actor, needed, subject=self._subject)
                self._answers[needed] = True
            except PermissionDenied:  # logged; the row is refused with its code
                self._answers[needed] = False
        return self._answers[needed]
