"""The backup catalogue (issue 12; Arts. 14, 18): ``backup`` (one row per full or key-ring
backup, where it stands) and ``backup_drill`` (each restore drill: what matched, RTO, RPO).

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-06 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('backup',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('location', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('snapshot_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=True),
    sa.Column('ledger_seq', sa.BigInteger(), nullable=True),
    sa.Column('keyring_backup_id', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('offsite_uri', sa.Text(), nullable=True),
    sa.Column('offsite_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('offsite_retain_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expired_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('full', 'keyring')", name=op.f('ck_backup_kind')),
    sa.CheckConstraint("status IN ('running', 'complete', 'verified', 'failed', 'expired')",
                       name=op.f('ck_backup_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backup')),
    )
    op.create_index('ix_backup_kind_started', 'backup', ['kind', 'started_at'], unique=False)
    op.create_table('backup_drill',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('backup_id', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('rto_seconds', sa.Numeric(precision=12, scale=3), nullable=True),
    sa.Column('rpo_seconds', sa.Numeric(precision=12, scale=3), nullable=True),
    sa.Column('problems', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.CheckConstraint("source IN ('vault', 'offsite')", name=op.f('ck_backup_drill_source')),
    sa.ForeignKeyConstraint(['backup_id'], ['backup.id'], name=op.f('fk_backup_drill_backup_id_backup')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backup_drill')),
    )
    op.create_index(op.f('ix_backup_drill_backup_id'), 'backup_drill', ['backup_id'], unique=False)
    op.execute("GRANT SELECT, INSERT, UPDATE ON backup, backup_drill TO dossier_app")
    op.execute("GRANT USAGE, SELECT ON SEQUENCE backup_drill_id_seq TO dossier_app")


def downgrade() -> None:
    op.drop_index(op.f('ix_backup_drill_backup_id'), table_name='backup_drill')
    op.drop_table('backup_drill')
    op.drop_index('ix_backup_kind_started', table_name='backup')
    op.drop_table('backup')
