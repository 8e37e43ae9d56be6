"""One clock: no column takes its time from the database's ``now()`` any more.

Business times and deadlines were computed with Python's clock while these columns defaulted
to PostgreSQL's ``now()``, so a process whose clock differed from the server's (skewed,
faked for a test, replaying a day) wrote, say, an access-log time of another day than the
read it logged. The application now writes every one of them from
``dossiers.core.clock.now()``; without the default, a row written without its time is
refused (NOT NULL) instead of being stamped by the other clock. Existing rows keep their
times. The downgrade puts the defaults back.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

#: (schema, table, column) of every column that defaulted to now().
COLUMNS = (
    (None, "access_log", "at"),
    (None, "dossier", "created_at"),
    (None, "dossier", "updated_at"),
    (None, "dossier_change", "requested_at"),
    (None, "dossier_number", "assigned_at"),
    (None, "duty_run", "started_at"),
    (None, "filing_delay", "requested_at"),
    (None, "finding", "found_at"),
    (None, "form", "submitted_at"),
    (None, "loan", "requested_at"),
    (None, "mail_outbox", "created_at"),
    (None, "query_grant", "requested_at"),
    (None, "reminder", "sent_at"),
    (None, "report", "created_at"),
    (None, "report_edition", "created_at"),
    (None, "staff", "joined_at"),
    ("keyring", "data_key", "created_at"),
)


def upgrade() -> None:
    for schema, table, column in COLUMNS:
        op.alter_column(table, column, server_default=None, schema=schema)


def downgrade() -> None:
    for schema, table, column in COLUMNS:
        op.alter_column(table, column, server_default=sa.text("now()"),
                        schema=schema)
