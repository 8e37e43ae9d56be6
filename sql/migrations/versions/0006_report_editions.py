"""Department editions of the reports (Art. 22): ``report_edition``, one row per report
(a kind, period and format) and department, with its own stored object and digest.

A department head reads their department's edition of a report with rows about each
department or person, never the whole. Reports published before this revision have no
editions: heads do not see them until the period is published again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_edition',
    sa.Column('report_id', sa.BigInteger(), nullable=False),
    sa.Column('department', sa.String(length=32), nullable=False),
    sa.Column('uri', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['department'], ['department.code'], name=op.f('fk_report_edition_department_department')),
    sa.ForeignKeyConstraint(['report_id'], ['report.id'], name=op.f('fk_report_edition_report_id_report'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('report_id', 'department', name=op.f('pk_report_edition'))
    )
    op.execute("GRANT SELECT, INSERT, UPDATE ON report_edition TO dossier_app")


def downgrade() -> None:
    op.drop_table('report_edition')
