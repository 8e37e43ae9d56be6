"""Compliance that runs (issue 15): where each dimension's information came from (Art. 9,
``dossier_source``, an update form's ``collection_channel``), the client's authorisation as a
record of its own and confidentiality agreement references (Art. 19, ``client_authorisation``,
``staff.confidentiality_ref``), leavers' handovers (Art. 19, ``staff_handover``), findings
about no one dossier (Art. 20: ``finding.dossier_id`` nullable with a ``subject``),
incidents (Art. 20) and complaints (Art. 21).

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-06 12:10:29.274230
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0011'
branch_labels = None
depends_on = None

CHANNELS = ("'phone', 'email', 'video_meeting', 'face_to_face', 'website', 'brochure', "
            "'qualification_document', 'contract', 'proposal', 'minutes', 'internal_aggregation', "
            "'industry_report', 'data_platform', 'client_feedback'")


def upgrade() -> None:
    op.create_table('client_authorisation',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('reference', sa.Text(), nullable=False),
    sa.Column('scope', sa.ARRAY(sa.Text()), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=True),
    sa.Column('granted_on', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("scope <@ ARRAY['direct', 'documents', 'internal', 'research', 'feedback']::text[]", name=op.f('ck_client_authorisation_scope_groups')),
    sa.CheckConstraint('cardinality(scope) > 0', name=op.f('ck_client_authorisation_scope')),
    sa.CheckConstraint('expires_on >= granted_on', name=op.f('ck_client_authorisation_expiry')),
    sa.ForeignKeyConstraint(['recorded_by'], ['staff.id'], name=op.f('fk_client_authorisation_recorded_by_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_authorisation')),
    sa.UniqueConstraint('reference', name=op.f('uq_client_authorisation_reference'))
    )
    op.create_table('staff_handover',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('paper_volumes', sa.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('documents', sa.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('storage_devices', sa.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('recorded_by', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signed_off_by', sa.Integer(), nullable=True),
    sa.Column('signed_off_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['recorded_by'], ['staff.id'], name=op.f('fk_staff_handover_recorded_by_staff')),
    sa.ForeignKeyConstraint(['signed_off_by'], ['staff.id'], name=op.f('fk_staff_handover_signed_off_by_staff')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_staff_handover_staff_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_handover')),
    sa.UniqueConstraint('staff_id', name=op.f('uq_staff_handover_staff_id'))
    )
    op.create_table('complaint',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('complainant', sa.String(length=16), nullable=False),
    sa.Column('dossier_id', sa.UUID(), nullable=True),
    sa.Column('about', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='received', nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('received_by', sa.Integer(), nullable=False),
    sa.Column('investigator_id', sa.Integer(), nullable=True),
    sa.Column('findings', sa.Text(), nullable=True),
    sa.Column('upheld', sa.Boolean(), nullable=True),
    sa.Column('rectification', sa.Text(), nullable=True),
    sa.Column('rectification_owner_id', sa.Integer(), nullable=True),
    sa.Column('rectification_due_on', sa.Date(), nullable=True),
    sa.Column('accountable_id', sa.Integer(), nullable=True),
    sa.Column('accountability', sa.Text(), nullable=True),
    sa.Column('closed_by', sa.Integer(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("complainant IN ('client', 'staff', 'third_party')", name=op.f('ck_complaint_complainant')),
    sa.CheckConstraint("status IN ('received', 'investigating', 'rectifying', 'closed')", name=op.f('ck_complaint_status')),
    sa.ForeignKeyConstraint(['accountable_id'], ['staff.id'], name=op.f('fk_complaint_accountable_id_staff')),
    sa.ForeignKeyConstraint(['closed_by'], ['staff.id'], name=op.f('fk_complaint_closed_by_staff')),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_complaint_dossier_id_dossier')),
    sa.ForeignKeyConstraint(['investigator_id'], ['staff.id'], name=op.f('fk_complaint_investigator_id_staff')),
    sa.ForeignKeyConstraint(['received_by'], ['staff.id'], name=op.f('fk_complaint_received_by_staff')),
    sa.ForeignKeyConstraint(['rectification_owner_id'], ['staff.id'], name=op.f('fk_complaint_rectification_owner_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint'))
    )
    op.create_index(op.f('ix_complaint_dossier_id'), 'complaint', ['dossier_id'], unique=False)
    op.create_table('dossier_source',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('dossier_id', sa.UUID(), nullable=False),
    sa.Column('dimension', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('authorisation_ref', sa.Text(), nullable=True),
    sa.Column('form_id', sa.UUID(), nullable=True),
    sa.Column('change_id', sa.UUID(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("channel IN ('phone', 'email', 'video_meeting', 'face_to_face', 'website', 'brochure', 'qualification_document', 'contract', 'proposal', 'minutes', 'internal_aggregation', 'industry_report', 'data_platform', 'client_feedback')", name=op.f('ck_dossier_source_channel')),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_dossier_source_dossier_id_dossier'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dossier_source'))
    )
    op.create_index(op.f('ix_dossier_source_dossier_id'), 'dossier_source', ['dossier_id'], unique=False)
    op.create_table('incident',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
    sa.Column('dossier_id', sa.UUID(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('opened_by', sa.Integer(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('closed_by', sa.Integer(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closure', sa.Text(), nullable=True),
    sa.CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name=op.f('ck_incident_closed')),
    sa.CheckConstraint("kind IN ('leak', 'lost_volume', 'wrong_disclosure', 'client_dispute', 'other')", name=op.f('ck_incident_kind')),
    sa.CheckConstraint("status IN ('open', 'handling', 'closed')", name=op.f('ck_incident_status')),
    sa.ForeignKeyConstraint(['closed_by'], ['staff.id'], name=op.f('fk_incident_closed_by_staff')),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_incident_dossier_id_dossier')),
    sa.ForeignKeyConstraint(['opened_by'], ['staff.id'], name=op.f('fk_incident_opened_by_staff')),
    sa.ForeignKeyConstraint(['owner_id'], ['staff.id'], name=op.f('fk_incident_owner_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident'))
    )
    op.create_index(op.f('ix_incident_dossier_id'), 'incident', ['dossier_id'], unique=False)
    op.create_table('incident_step',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('incident_id', sa.UUID(), nullable=False),
    sa.Column('step', sa.Text(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('recorded_by', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_incident_step_incident_id_incident'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['staff.id'], name=op.f('fk_incident_step_owner_id_staff')),
    sa.ForeignKeyConstraint(['recorded_by'], ['staff.id'], name=op.f('fk_incident_step_recorded_by_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_step'))
    )
    op.create_index(op.f('ix_incident_step_incident_id'), 'incident_step', ['incident_id'], unique=False)
    op.add_column('dossier_change', sa.Column('collection_channel', sa.String(length=32), nullable=True))
    op.create_check_constraint(op.f('ck_dossier_change_collection_channel'), 'dossier_change',
                               f"collection_channel IS NULL OR collection_channel IN ({CHANNELS})")
    op.add_column('finding', sa.Column('subject', sa.Text(), nullable=True))
    op.alter_column('finding', 'dossier_id',
               existing_type=sa.UUID(),
               nullable=True)
    op.create_check_constraint(op.f('ck_finding_subject'), 'finding',
                               'dossier_id IS NOT NULL OR subject IS NOT NULL')
    op.create_index('uq_finding_subject', 'finding', ['duty', 'period', 'subject', 'check_id'], unique=True, postgresql_where=sa.text('dossier_id IS NULL'))
    op.add_column('staff', sa.Column('confidentiality_ref', sa.Text(), nullable=True))
    op.execute("GRANT SELECT, INSERT, UPDATE ON client_authorisation, staff_handover, incident, "
               "complaint TO dossier_app")
    op.execute("GRANT SELECT, INSERT ON dossier_source, incident_step TO dossier_app")
    op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO dossier_app")


def downgrade() -> None:
    op.drop_column('staff', 'confidentiality_ref')
    op.drop_index('uq_finding_subject', table_name='finding', postgresql_where=sa.text('dossier_id IS NULL'))
    op.drop_constraint(op.f('ck_finding_subject'), 'finding', type_='check')
    op.execute("DELETE FROM finding WHERE dossier_id IS NULL")  # no place for them before
    op.alter_column('finding', 'dossier_id',
               existing_type=sa.UUID(),
               nullable=False)
    op.drop_column('finding', 'subject')
    op.drop_constraint(op.f('ck_dossier_change_collection_channel'), 'dossier_change', type_='check')
    op.drop_column('dossier_change', 'collection_channel')
    op.drop_index(op.f('ix_incident_step_incident_id'), table_name='incident_step')
    op.drop_table('incident_step')
    op.drop_index(op.f('ix_incident_dossier_id'), table_name='incident')
    op.drop_table('incident')
    op.drop_index(op.f('ix_dossier_source_dossier_id'), table_name='dossier_source')
    op.drop_table('dossier_source')
    op.drop_index(op.f('ix_complaint_dossier_id'), table_name='complaint')
    op.drop_table('complaint')
    op.drop_table('staff_handover')
    op.drop_table('client_authorisation')
