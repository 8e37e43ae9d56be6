"""The duties' mail outbox: ``mail_outbox``, one row per message and recipient, keyed by
duty, period, message kind and recipient.

A duty writes its mail here in the transaction that records its results; delivery then sends
each unsent row once, marks it sent, and records a refusal (attempts, last error) without
holding up the others, so a retry sends only what is still unsent (issue 10, item 4). Mail
sent before this revision has no rows: nothing is re-sent.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mail_outbox',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('duty', sa.String(length=32), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=96), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('files', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.SmallInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox')),
    sa.UniqueConstraint('duty', 'period', 'kind', 'recipient', name=op.f('uq_mail_outbox_duty_period_kind_recipient'))
    )
    op.create_index('ix_mail_outbox_unsent', 'mail_outbox', ['duty', 'period'], unique=False,
                    postgresql_where=sa.text('sent_at IS NULL'))
    op.execute("GRANT SELECT, INSERT, UPDATE ON mail_outbox TO dossier_app")
    op.execute("GRANT USAGE, SELECT ON SEQUENCE mail_outbox_id_seq TO dossier_app")


def downgrade() -> None:
    op.drop_index('ix_mail_outbox_unsent', table_name='mail_outbox',
                  postgresql_where=sa.text('sent_at IS NULL'))
    op.drop_table('mail_outbox')
