"""Indexes in the order of the paged lists (issue 10, item 10): forms by ``(submitted_at,
id)``, update forms and loans by ``(requested_at, id)``, so a page after a cursor is an
index range scan, not a sort of every row the reader may see. (The vault register's key,
cabinet, shelf and position, is already unique.)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 04:10:00
"""

from __future__ import annotations

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_form_page", "form", ["submitted_at", "id"]),
    ("ix_dossier_change_page", "dossier_change", ["requested_at", "id"]),
    ("ix_loan_page", "loan", ["requested_at", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
