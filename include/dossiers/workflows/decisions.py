"""One way to decide a request: approve it, or reject it with a reason (Arts. 11, 13, 15, 16).

Every approval the policy asks for has the same shape, and this module is it:

1. the request is read and locked; one that does not exist is :class:`NotFound` (404 in the
   API), whatever its kind — :func:`pending`;
2. the decider's roles must allow the action, and any rule of the kind beyond the role
   matrix (the form's own department head, …) refuses through the same logged path
   (:func:`~dossiers.core.permissions.authorize` with a reason);
3. separation of duties: nobody decides a request they made (or reviewed) — :func:`separate`;
4. only a pending request is decided, and a rejection states its reason — :func:`check`
   runs 2 to 4 in this order;
5. the status, the decider and the time are set on the request — :func:`record` — and the
   caller writes the ledger entry the :class:`Outcome` names, in the same transaction.

A kind of request is one :class:`Rules` constant next to its workflow: collection forms
(Art. 11), update forms and important changes (Art. 13), filing delays (Art. 15), query
grants, loans and their extensions (Art. 16). Destruction (Art. 17) and disclosure
(Art. 16) approvals are meant to be two more constants, not two more copies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, Table, bindparam, select, update

from dossiers.core.db import DriverStatement, Statement, run_together
from dossiers.core.errors import NotFound, Refused
from dossiers.core.free_text import refuse_personal_data
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.vocabulary import LedgerAction


@dataclass(frozen=True)
class Decision:
    """What the decider says: approve, or reject with a reason."""

    approve: bool
    reason: str | None = None


@dataclass(frozen=True)
class Outcome:
    """How a table keeps one outcome of a decision, and the ledger action that records it.

    ``by``, ``at`` and ``reason`` name the columns for the decider, the time and the reason;
    ``None`` where the table keeps no such thing for this outcome.
    """

    status: str  # a member of the table's status vocabulary (dossiers.core.vocabulary)
    entry_action: LedgerAction
    by: str
    at: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Rules:
    """How one kind of request is decided.

    ``table`` holds the requests (keyed by ``id``); ``noun`` names one in every refusal
    (``"query grant"`` → ``query grant <id>``) and ``missing`` is the refusal when there is
    none; ``parties`` are the columns naming who may not decide it (separation of duties,
    refused with ``own``). ``department``, when set, names the request (``"the form"``) in
    the refusal of a decider from another department than the row's ``department``
    (Customer Service decides for every department). ``not_pending`` (formatted with the
    request's ``status``) and ``needs_reason`` are the other refusals a person reads; the
    defaults are the words of a plain request. ``approved`` and ``rejected`` say how
    :func:`record` writes each outcome; a kind whose outcome is written otherwise (a loan's
    two approvals) leaves it ``None``.
    """

    table: Table
    noun: str
    missing: str
    action: Action
    parties: tuple[str, ...]
    approved: Outcome | None = None
    rejected: Outcome | None = None
    own: str = "nobody approves their own request (separation of duties)"
    pending: tuple[str, ...] = ("requested",)
    not_pending: str = "is {status}, only a pending request can be decided"
    needs_reason: str = "a rejection needs a reason"
    status_column: str = "status"
    department: str | None = None

    def record_of(self, key: object) -> str:
        return f"{self.noun} {key}"

    def outcome(self, decision: Decision) -> Outcome:
        found = self.approved if decision.approve else self.rejected
        if found is None:
            raise TypeError(f"these rules do not record an "
                            f"{'approval' if decision.approve else 'rejection'}")
        return found


def review(what: str, **rules: Any) -> Rules:
    """The rules of a department head's review of what a liaison submitted (Arts. 11(2),
    13(2)): the head of its department (or Customer Service) approves, or rejects with the
    reason that goes back to the liaison."""
    return Rules(own=f"nobody reviews their own {what} (separation of duties)",
                 pending=("submitted",),
                 not_pending=f"is {{status}}, only a submitted {what} can be reviewed",
                 needs_reason="a rejection needs a reason for the liaison", **rules)


def locked(conn: Connection, query: Select[Any], *, record: str, missing: str,
           of: Table | None = None) -> Any:
    """The one row ``query`` selects, locked until the transaction ends (only ``of``'s row,
    for a query that joins other tables); :class:`NotFound` (``missing``, naming ``record``)
    when there is none."""
    row = conn.execute(query.with_for_update(of=of) if of is not None
                       else query.with_for_update()).first()
    if row is None:
        raise NotFound(missing, record=record)
    return row


def pending(conn: Connection, rules: Rules, key: object, query: Select[Any] | None = None) -> Any:
    """The request ``key``, locked (``query`` when the row needs more than its table's columns);
    :class:`NotFound` when there is none, for every kind alike."""
    table = rules.table
    return locked(conn, select(table).where(table.c.id == key) if query is None else query,
                  record=rules.record_of(key), missing=rules.missing,
                  of=None if query is None else table)


def separate(conn: Connection, actor: Actor, action: Action, *, record: str,
             parties: Iterable[int | None], reason: str) -> None:
    """Separation of duties: refuse (logged) when the actor is one of ``parties``."""
    if actor.staff_id is not None and actor.staff_id in set(parties):
        authorize(conn, actor, action, subject=record, reason=reason)


def check(conn: Connection, actor: Actor, rules: Rules, decision: Decision, request: Any, *,
          refusals: Sequence[tuple[bool, str]] = (),
          conditions: Sequence[tuple[bool, str]] = (),
          status: str | None = None, is_pending: bool | None = None,
          action: Action | None = None) -> None:
    """May the actor take this decision on this request (a row of :func:`pending`)? Refuses,
    changing nothing, if not.

    In order: the role matrix for ``action`` (default ``rules.action``); the department
    (``rules.department``); each of ``refusals`` that holds (a rule beyond the matrix,
    refused and logged as a permission); separation of duties; each of ``conditions`` that
    holds (refused, not logged); the request must be pending; a rejection needs a reason.
    ``status`` (default the row's) is what the not-pending refusal shows, ``is_pending``
    (default ``status in rules.pending``) whether it can be decided.
    """
    action = action or rules.action
    record = rules.record_of(request.id)
    authorize(conn, actor, action, subject=record)
    if rules.department is not None:
        refusals = [(actor.department not in (request.department, "customer_service"),
                     f"{rules.department} belongs to the {request.department} department"),
                    *refusals]
    for holds, why in refusals:
        if holds:
            authorize(conn, actor, action, subject=record, reason=why)
    separate(conn, actor, action, record=record,
             parties=[getattr(request, c) for c in rules.parties], reason=rules.own)
    for holds, why in conditions:
        if holds:
            raise Refused(why, record=record)
    status = getattr(request, rules.status_column) if status is None else status
    if not (status in rules.pending if is_pending is None else is_pending):
        raise Refused(rules.not_pending.format(status=status), record=record)
    if not decision.approve and not (decision.reason or "").strip():
        raise Refused(rules.needs_reason, record=record, field="reason")
    # the reason is kept on the request and in the ledger: no personal data in it (Art. 19)
    refuse_personal_data(decision.reason, record=record, field="reason")


def take(conn: Connection, actor: Actor, rules: Rules, key: object, decision: Decision, *,
         query: Select[Any] | None = None,
         conditions: Callable[[Any], Sequence[tuple[bool, str]]] | None = None) -> Any:
    """:func:`pending`, then :func:`check`: the request, locked, once the decision is allowed.
    ``query`` as for :func:`pending`; ``conditions`` as for :func:`check`, given the row."""
    request = pending(conn, rules, key, query)
    check(conn, actor, rules, decision, request,
          conditions=() if conditions is None else conditions(request))
    return request


def record(conn: Connection, actor: Actor, rules: Rules, decision: Decision, key: object, *,
           at: datetime | None = None, also: Mapping[str, Any] | None = None) -> Outcome:
    """Set the outcome's status, decider, time and reason on the request (and ``also``)."""
    outcome, values = _recorded(actor, rules, decision, at, also)
    conn.execute(update(rules.table).where(rules.table.c.id == key).values(values))
    return outcome


def _recorded(actor: Actor, rules: Rules, decision: Decision, at: datetime | None,
              also: Mapping[str, Any] | None) -> tuple[Outcome, dict[str, Any]]:
    outcome = rules.outcome(decision)
    values: dict[str, Any] = {rules.status_column: outcome.status, outcome.by: actor.staff_id}
    if outcome.at is not None:
        values[outcome.at] = at
    if outcome.reason is not None:
        values[outcome.reason] = decision.reason
    values.update(also or {})
    return outcome, values


def record_sql(actor: Actor, rules: Rules, decision: Decision, key: object, *,
               at: datetime | None = None) -> tuple[Outcome, Statement]:
    """:func:`record`'s UPDATE as pre-built SQL text and its parameters, for a hot path that
    runs it with others in one round trip (:func:`dossiers.core.db.run_together`)."""
    outcome, values = _recorded(actor, rules, decision, at, None)
    return outcome, (_update_sql(rules.table, tuple(values)), {**values, "_key": key})


@cache
def _update_sql(table: Table, columns: tuple[str, ...]) -> DriverStatement:
    return DriverStatement(update(table).where(table.c.id == bindparam("_key", type_=table.c.id.type))
                    .values({c: bindparam(c, type_=table.c[c].type) for c in columns}))


def locked_sql(table: Table, *also: Any, of_join: Any = None) -> DriverStatement:
    """The SELECT … FOR UPDATE of :func:`pending` (one request by ``%(_key)s``) as SQL text,
    compiled once by the caller: ``also`` are more columns, from ``of_join`` (a join of the
    table; only the table's row is locked)."""
    query = select(table, *also)
    if of_join is not None:
        query = query.select_from(of_join)
    return DriverStatement(query.where(table.c.id == bindparam("_key", type_=table.c.id.type))
                    .with_for_update(of=table if of_join is not None else None))


def pending_sql(conn: Connection, rules: Rules, key: object, sql: DriverStatement) -> Any:
    """:func:`pending` with the pre-built ``sql`` (:func:`locked_sql`): the request, locked,
    as a named tuple; :class:`NotFound` when there is none, in the same words."""
    return pending_with(conn, rules, key, sql, ())[0]


def pending_with(conn: Connection, rules: Rules, key: object, sql: DriverStatement,
                 also: Sequence[Statement]) -> tuple[Any, list[Any]]:
    """:func:`pending_sql`, with the statements ``also`` sent after the request's locked
    read in the same round trip (they see the request locked); their results."""
    rows, *results = run_together(conn, [(sql, {"_key": key}), *also])
    if not rows:
        raise NotFound(rules.missing, record=rules.record_of(key))
    return rows[0], results
