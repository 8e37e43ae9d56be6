"""The schema changes only through migrations, and they match the code's tables."""

from __future__ import annotations

import re

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, text

from dossiers.core import db
from dossiers.core.schema import metadata

pytestmark = pytest.mark.integration


def test_migrations_build_exactly_the_schema_and_go_back_down(database_url: str) -> None:
    engine = db.get_engine(database_url, app_role=False)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_schemas": True})
        assert compare_metadata(context, metadata) == []
    command.downgrade(db.alembic_config(db.normalise_url(database_url)), "base")
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is None
    head = ScriptDirectory.from_config(db.alembic_config(database_url)).get_current_head()
    assert db.upgrade(database_url) == head


def test_username_migration_refuses_existing_bad_rows_and_names_them(database_url: str) -> None:
    from sqlalchemy import text

    from dossiers.core.errors import CannotRun

    command.downgrade(db.alembic_config(db.normalise_url(database_url)), "0004")
    engine = db.get_engine(database_url, app_role=False)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO staff (username, department) VALUES "
                          "('wang.li', 'market'), (:bad, 'market'), ('=cmd()', 'planning')"),
                     {"bad": "eve\r\nBcc: x@y"})
    with pytest.raises(CannotRun) as refused:
        db.upgrade(database_url)
    message = str(refused.value)
    assert "\n" not in message and "\r" not in message
    assert "2 staff username(s)" in message
    assert "id 2 'eve\\r\\nBcc: x@y'" in message and "id 3 '=cmd()'" in message
    assert "wang.li" not in message
    with engine.connect() as conn:  # nothing changed
        assert MigrationContext.configure(conn).get_current_revision() == "0004"
    with engine.begin() as conn:
        conn.execute(text("UPDATE staff SET username = 'eve.x' WHERE id = 2"))
        conn.execute(text("UPDATE staff SET username = 'cmd' WHERE id = 3"))
    head = ScriptDirectory.from_config(db.alembic_config(database_url)).get_current_head()
    assert db.upgrade(database_url) == head


def test_check_constraints_list_exactly_the_vocabulary(database_url: str) -> None:
    """Each status or kind a table checks is, in the database the migrations built, exactly
    its enum's members (dossiers.core.vocabulary), in order: a word added to or dropped
    from an enum without a migration fails here (Alembic does not compare CHECKs)."""
    expected = {c.name: c.info for table in metadata.tables.values()
                for c in table.constraints
                if isinstance(c, CheckConstraint) and "vocabulary" in c.info}
    assert {"ck_form_status", "ck_dossier_change_status", "ck_query_grant_status",
            "ck_loan_status", "ck_loan_extension_status", "ck_filing_delay_status",
            "ck_finding_status", "ck_dossier_stage"} <= set(expected)
    engine = db.get_engine(database_url, app_role=False)
    with engine.connect() as conn:
        found = dict(conn.execute(text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'c' AND connamespace = 'public'::regnamespace")).tuples().all())
    for name, info in expected.items():
        definition = found.get(str(name))
        assert definition is not None, f"{name}: no such constraint in the database"
        assert re.findall(r"'([^']*)'", definition) == [w.value for w in info["vocabulary"]], \
            f"{name}: {definition}"
        assert ("IS NULL" in definition) is info["nullable"], f"{name}: {definition}"
