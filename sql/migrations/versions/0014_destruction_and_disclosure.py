"""Destruction (Art. 17) and external disclosure (Art. 16): legal holds, Destruction Request
Forms with their dossiers, gate decisions and paper destruction records, the tombstones of
destroyed dossiers (number, client name, filing time, reason: nothing personal, kept
forever), and disclosure requests with their packages' manifests.

Tombstones are append-only for the application (no UPDATE or DELETE): a destroyed dossier's
number stays used forever. The destruction register that survives a restore is kept outside
the database (dossiers.destruction.register).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 12:10:37
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dossier_tombstone',
    sa.Column('dossier_no', sa.Text(), nullable=False),
    sa.Column('dossier_id', sa.UUID(), nullable=False),
    sa.Column('client_name_zh', sa.Text(), nullable=False),
    sa.Column('client_name_en', sa.Text(), nullable=False),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('condition', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('request_id', sa.UUID(), nullable=False),
    sa.Column('destroyed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('unrecoverable_after', sa.Date(), nullable=True),
    sa.CheckConstraint("condition IN ('cooperation_ended', 'invalid', 'legal_or_restructuring')", name=op.f('ck_dossier_tombstone_condition')),
    sa.PrimaryKeyConstraint('dossier_no', name=op.f('pk_dossier_tombstone')),
    sa.UniqueConstraint('dossier_id', name=op.f('uq_dossier_tombstone_dossier_id'))
    )
    op.create_table('destruction_request',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='requested', nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rejected_by', sa.Integer(), nullable=True),
    sa.Column('rejection_reason', sa.Text(), nullable=True),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stop_reason', sa.Text(), nullable=True),
    sa.Column('executed_by', sa.Integer(), nullable=True),
    sa.Column('executed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('unrecoverable_after', sa.Date(), nullable=True),
    sa.Column('certificate_uri', sa.Text(), nullable=True),
    sa.Column('certificate_sha256', sa.String(length=64), nullable=True),
    sa.CheckConstraint("status IN ('requested', 'approved', 'rejected', 'stopped', 'executed')", name=op.f('ck_destruction_request_status')),
    sa.ForeignKeyConstraint(['executed_by'], ['staff.id'], name=op.f('fk_destruction_request_executed_by_staff')),
    sa.ForeignKeyConstraint(['rejected_by'], ['staff.id'], name=op.f('fk_destruction_request_rejected_by_staff')),
    sa.ForeignKeyConstraint(['requested_by'], ['staff.id'], name=op.f('fk_destruction_request_requested_by_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_destruction_request'))
    )
    op.create_index('ix_destruction_request_page', 'destruction_request', ['requested_at', 'id'], unique=False)
    op.create_table('destruction_approval',
    sa.Column('request_id', sa.UUID(), nullable=False),
    sa.Column('gate', sa.String(length=48), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=False),
    sa.Column('approved', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['decided_by'], ['staff.id'], name=op.f('fk_destruction_approval_decided_by_staff')),
    sa.ForeignKeyConstraint(['request_id'], ['destruction_request.id'], name=op.f('fk_destruction_approval_request_id_destruction_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('request_id', 'gate', name=op.f('pk_destruction_approval'))
    )
    op.create_table('destruction_item',
    sa.Column('request_id', sa.UUID(), nullable=False),
    sa.Column('dossier_no', sa.Text(), nullable=False),
    sa.Column('dossier_id', sa.UUID(), nullable=False),
    sa.Column('client_name_zh', sa.Text(), nullable=False),
    sa.Column('client_name_en', sa.Text(), nullable=False),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('condition', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('departments', sa.ARRAY(sa.Text()), nullable=False),
    sa.Column('paper_volumes', sa.ARRAY(sa.SmallInteger()), server_default='{}', nullable=False),
    sa.CheckConstraint("condition IN ('cooperation_ended', 'invalid', 'legal_or_restructuring')", name=op.f('ck_destruction_item_condition')),
    sa.ForeignKeyConstraint(['request_id'], ['destruction_request.id'], name=op.f('fk_destruction_item_request_id_destruction_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('request_id', 'dossier_no', name=op.f('pk_destruction_item'))
    )
    op.create_index(op.f('ix_destruction_item_dossier_id'), 'destruction_item', ['dossier_id'], unique=False)
    op.create_table('disclosure_request',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('dossier_id', sa.UUID(), nullable=False),
    sa.Column('dossier_no', sa.Text(), nullable=False),
    sa.Column('recipient', sa.Text(), nullable=False),
    sa.Column('recipient_country', sa.String(length=2), nullable=False),
    sa.Column('legal_basis', sa.String(length=24), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('scope', sa.ARRAY(sa.Text()), nullable=False),
    sa.Column('documents', sa.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('confidentiality_ref', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='requested', nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('secret_enc', sa.LargeBinary(), nullable=False),
    sa.Column('packaged_by', sa.Integer(), nullable=True),
    sa.Column('packaged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('package_sha256', sa.String(length=64), nullable=True),
    sa.Column('manifest', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.CheckConstraint("legal_basis IN ('litigation', 'regulator_inspection', 'other')", name=op.f('ck_disclosure_request_legal_basis')),
    sa.CheckConstraint("status IN ('requested', 'approved', 'rejected', 'packaged')", name=op.f('ck_disclosure_request_status')),
    sa.CheckConstraint('cardinality(scope) > 0', name=op.f('ck_disclosure_request_scope')),
    sa.CheckConstraint('length(trim(confidentiality_ref)) > 0', name=op.f('ck_disclosure_request_confidentiality_ref')),
    sa.ForeignKeyConstraint(['decided_by'], ['staff.id'], name=op.f('fk_disclosure_request_decided_by_staff')),
    sa.ForeignKeyConstraint(['packaged_by'], ['staff.id'], name=op.f('fk_disclosure_request_packaged_by_staff')),
    sa.ForeignKeyConstraint(['requested_by'], ['staff.id'], name=op.f('fk_disclosure_request_requested_by_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosure_request'))
    )
    op.create_index(op.f('ix_disclosure_request_dossier_id'), 'disclosure_request', ['dossier_id'], unique=False)
    op.create_index('ix_disclosure_request_page', 'disclosure_request', ['requested_at', 'id'], unique=False)
    op.create_table('legal_hold',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('dossier_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reference', sa.Text(), nullable=False),
    sa.Column('placed_by', sa.Integer(), nullable=False),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_by', sa.Integer(), nullable=True),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('release_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("kind IN ('litigation', 'regulator')", name=op.f('ck_legal_hold_kind')),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_legal_hold_dossier_id_dossier'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['placed_by'], ['staff.id'], name=op.f('fk_legal_hold_placed_by_staff')),
    sa.ForeignKeyConstraint(['released_by'], ['staff.id'], name=op.f('fk_legal_hold_released_by_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_hold'))
    )
    op.create_index(op.f('ix_legal_hold_dossier_id'), 'legal_hold', ['dossier_id'], unique=False)
    op.create_table('paper_destruction',
    sa.Column('request_id', sa.UUID(), nullable=False),
    sa.Column('dossier_no', sa.Text(), nullable=False),
    sa.Column('volume_no', sa.SmallInteger(), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('destroyed_on', sa.Date(), nullable=False),
    sa.Column('personnel', sa.ARRAY(sa.Text()), nullable=False),
    sa.Column('recorded_by', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("method IN ('shredding', 'burning')", name=op.f('ck_paper_destruction_method')),
    sa.CheckConstraint('cardinality(personnel) > 0', name=op.f('ck_paper_destruction_personnel')),
    sa.ForeignKeyConstraint(['recorded_by'], ['staff.id'], name=op.f('fk_paper_destruction_recorded_by_staff')),
    sa.ForeignKeyConstraint(['request_id'], ['destruction_request.id'], name=op.f('fk_paper_destruction_request_id_destruction_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('request_id', 'dossier_no', 'volume_no', name=op.f('pk_paper_destruction'))
    )
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON legal_hold, destruction_request, "
               "destruction_item, destruction_approval, paper_destruction, disclosure_request "
               "TO dossier_app")
    op.execute("GRANT SELECT, INSERT ON dossier_tombstone TO dossier_app")
    op.execute("GRANT USAGE, SELECT ON SEQUENCE legal_hold_id_seq TO dossier_app")
    # A destroyed dossier's paper volumes leave the loans that once lent them (Art. 17).
    op.execute("GRANT DELETE ON loan_volume TO dossier_app")


def downgrade() -> None:
    op.execute("REVOKE DELETE ON loan_volume FROM dossier_app")
    op.drop_table('paper_destruction')
    op.drop_index(op.f('ix_legal_hold_dossier_id'), table_name='legal_hold')
    op.drop_table('legal_hold')
    op.drop_index('ix_disclosure_request_page', table_name='disclosure_request')
    op.drop_index(op.f('ix_disclosure_request_dossier_id'), table_name='disclosure_request')
    op.drop_table('disclosure_request')
    op.drop_index(op.f('ix_destruction_item_dossier_id'), table_name='destruction_item')
    op.drop_table('destruction_item')
    op.drop_table('destruction_approval')
    op.drop_index('ix_destruction_request_page', table_name='destruction_request')
    op.drop_table('destruction_request')
    op.drop_table('dossier_tombstone')
