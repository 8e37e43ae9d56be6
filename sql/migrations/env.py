"""Alembic environment: the URL comes from ``dossiers.core.db.upgrade`` (or ``-x url=…``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from dossiers.core.schema import metadata

config = context.config
url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            include_schemas=True,
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
