"""The pool's liveness test (issue 16): no round trip for a quiet connection, and a backend
that went away (server restarted, ``pg_terminate_backend``) never reaches a unit of work."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError, OperationalError

from dossiers.core import db

pytestmark = pytest.mark.integration


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _terminate(url: str, *pids: int) -> None:
    """End backends as a restart does (FATAL, socket closed); waits until each is gone."""
    with psycopg.connect(_libpq(url), autocommit=True) as admin:
        for pid in pids:
            row = admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone()
            assert row == (True,), f"backend {pid} was not terminated"


def _pid(conn: Any) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_terminated_pooled_connections_are_replaced_before_the_next_unit_of_work(
        database_url: str) -> None:
    # Three connections in the pool, as a busy API worker keeps them.
    with ExitStack() as stack:
        conns = [stack.enter_context(db.transaction()) for _ in range(3)]
        before = {_pid(c) for c in conns}
    assert len(before) == 3
    _terminate(database_url, *before)
    # Each of the next units of work gets a live connection, none of the terminated ones.
    with ExitStack() as stack:
        conns = [stack.enter_context(db.transaction()) for _ in range(3)]
        after = {_pid(c) for c in conns}
        assert [c.execute(text("SELECT 1")).scalar_one() for c in conns] == [1, 1, 1]
    assert after.isdisjoint(before)


def test_a_quiet_connection_costs_no_ping_and_a_terminated_one_is_pinged(
        database_url: str) -> None:
    pinged: list[Any] = []

    def ping(connection: Any) -> bool:
        pinged.append(connection)
        return True

    check = db._quiet_or_ping(ping)
    with psycopg.connect(_libpq(database_url)) as raw:
        raw.execute("SELECT 1")
        raw.rollback()
        assert check(raw) is True
        assert pinged == []  # idle, nothing on the socket: no round trip
        _terminate(database_url, raw.info.backend_pid)
        check(raw)
        assert pinged == [raw]  # the FATAL message and the closed socket: the full ping


# --- the one pipeline runner (issue 16): errors name their statement, a broken connection
# --- is dropped, in a transaction (the creation steps) as in autocommit (the API's read)

_ONE = db.DriverStatement("SELECT 1 AS one")
_BY_ZERO = db.DriverStatement("SELECT 1 / 0 AS never")
_TWO = db.DriverStatement("SELECT 2 AS two")


def test_run_together_answers_each_statement_and_names_only_the_one_that_failed(
        database_url: str) -> None:
    with db.transaction() as conn:
        ones, twos = db.run_together(conn, [(_ONE, {}), (_TWO, {})])
        assert ones is not None and ones[0].one == 1
        assert twos is not None and twos[0].two == 2
    with pytest.raises(DataError) as raised, db.transaction() as conn:
        db.run_together(conn, [(_ONE, {}), (_BY_ZERO, {}), (_TWO, {})])
    assert raised.value.statement == _BY_ZERO.sql  # not all three joined
    assert isinstance(raised.value.orig, psycopg.errors.DivisionByZero)
    assert not raised.value.connection_invalidated


def test_a_statement_with_constants_keeps_them() -> None:
    from sqlalchemy import bindparam, literal, select

    statement = db.DriverStatement(select(literal(7).label("seven"), bindparam("x")))
    sql, params = statement.bind({"x": 1})
    assert "%(param_1)s" in sql and params == {"param_1": 7, "x": 1}


def test_a_connection_broken_under_run_together_is_invalidated_in_a_transaction(
        database_url: str) -> None:
    with pytest.raises(OperationalError) as raised, db.transaction() as conn:
        _terminate(database_url, _pid(conn))
        try:
            db.run_together(conn, [(_ONE, {})])
        finally:
            assert conn.invalidated  # never handed out again
    assert raised.value.connection_invalidated
    with db.transaction() as conn:  # the next unit of work is served by a live one
        assert db.run_together(conn, [(_ONE, {})])[0] is not None


def test_a_connection_broken_under_run_together_is_invalidated_in_autocommit(
        database_url: str) -> None:
    with pytest.raises(OperationalError) as raised, db.autocommit() as unit:
        _terminate(database_url, unit.driver.info.backend_pid)
        try:
            db.run_together(unit.conn, [(_ONE, {}), (_TWO, {})])
        finally:
            assert unit.conn.invalidated  # never handed out again
    assert raised.value.connection_invalidated
    with db.autocommit() as unit:
        assert db.run_together(unit.conn, [(_ONE, {})])[0] is not None


_XID = db.DriverStatement("SELECT pg_current_xact_id()::text AS xid")


def test_run_together_begins_the_transaction_in_its_own_round_trip(database_url: str) -> None:
    # The BEGIN goes as the pipeline's first statement (no round trip of its own); the
    # transaction is psycopg's all the same: later statements, SQLAlchemy's too, are in it,
    # and it ends as psycopg ends it.
    with db.transaction() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        [first] = db.run_together(conn, [(_XID, {})])
        assert raw.autocommit is False
        assert raw.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        [second] = db.run_together(conn, [(_XID, {})])
        third = conn.execute(text("SELECT pg_current_xact_id()::text")).scalar_one()
        assert first is not None and second is not None
        assert first[0].xid == second[0].xid == third
    with pytest.raises(DataError), db.transaction() as conn:
        raw = conn.connection.driver_connection
        db.run_together(conn, [(_BY_ZERO, {})])  # the BEGIN went, the statement failed
    assert raw.autocommit is False
    assert raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # rolled back


def test_the_api_s_busiest_moment_is_served_again_by_the_same_connections(
        database_url: str) -> None:
    """An API process runs up to ``UNITS_AT_ONCE`` units of work at once, each holding at
    most two connections. After one such moment the pool keeps every connection it opened,
    so the next one opens none (with 4 kept, 8 of them were opened and closed again each
    time: 267 connections in one read benchmark)."""
    from dossiers.api.deps import UNITS_AT_ONCE

    def busiest_moment() -> set[int]:
        with ExitStack() as stack:
            conns = [stack.enter_context(db.transaction()) for _ in range(2 * UNITS_AT_ONCE)]
            return {_pid(c) for c in conns}

    first = busiest_moment()
    assert len(first) == 2 * UNITS_AT_ONCE
    assert busiest_moment() == first
