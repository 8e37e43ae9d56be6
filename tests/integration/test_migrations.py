"""The schema changes only through migrations, and they match the code's tables."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

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
