"""Electronic documents of a dossier (issue 11, Arts. 6, 15, 18): ``dossier_file``, one row
per stored file (sealed in the document store under a random key), and
``dossier_file_upload``, an upload in progress, so that an interrupted upload leaves a row
the sweep finds rather than an object nobody knows about.

The older ``document`` table (one row per dossier, the filed collection form) is untouched.

Revision ID: 0011
Revises: 0012
Create Date: 2026-12-06 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0012'
branch_labels = None
depends_on = None

DOCUMENT_TYPES = ("contract", "qualification", "proposal", "minutes", "revision_record",
                  "execution_plan", "progress_report", "effect_data", "correspondence", "other")


def upgrade() -> None:
    op.create_table(
        'dossier_file',
        sa.Column('id', sa.UUID(), nullable=False),
        sa.Column('dossier_id', sa.UUID(), nullable=False),
        sa.Column('document_type', sa.String(length=32), nullable=False),
        sa.Column('year', sa.SmallInteger(), nullable=False),
        sa.Column('serial', sa.SmallInteger(), nullable=False),
        sa.Column('extension', sa.String(length=8), nullable=False),
        sa.Column('media_type', sa.String(length=128), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('stored_size', sa.BigInteger(), nullable=False),
        sa.Column('content_hash', sa.LargeBinary(), nullable=False),
        sa.Column('storage_key', sa.String(length=64), nullable=False),
        sa.Column('important', sa.Boolean(), server_default=sa.text('false'), nullable=False),
        sa.Column('confirmed_on', sa.Date(), nullable=False),
        sa.Column('uploaded_by', sa.Integer(), nullable=False),
        sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('filed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('filed_by', sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "document_type IN (" + ", ".join(f"'{t}'" for t in DOCUMENT_TYPES) + ")",
            name=op.f('ck_dossier_file_document_type')),
        sa.CheckConstraint('size > 0', name=op.f('ck_dossier_file_size')),
        sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], ondelete='CASCADE',
                                name=op.f('fk_dossier_file_dossier_id_dossier')),
        sa.ForeignKeyConstraint(['filed_by'], ['staff.id'],
                                name=op.f('fk_dossier_file_filed_by_staff')),
        sa.ForeignKeyConstraint(['uploaded_by'], ['staff.id'],
                                name=op.f('fk_dossier_file_uploaded_by_staff')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dossier_file')),
        sa.UniqueConstraint('dossier_id', 'content_hash',
                            name=op.f('uq_dossier_file_dossier_id_content_hash')),
        sa.UniqueConstraint('dossier_id', 'document_type', 'year', 'serial',
                            name=op.f('uq_dossier_file_dossier_id_document_type_year_serial')),
        sa.UniqueConstraint('storage_key', name=op.f('uq_dossier_file_storage_key')),
    )
    op.create_index(op.f('ix_dossier_file_dossier_id'), 'dossier_file', ['dossier_id'])
    op.create_table(
        'dossier_file_upload',
        sa.Column('storage_key', sa.String(length=64), nullable=False),
        sa.Column('dossier_id', sa.UUID(), nullable=False),
        sa.Column('started_by', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], ondelete='CASCADE',
                                name=op.f('fk_dossier_file_upload_dossier_id_dossier')),
        sa.ForeignKeyConstraint(['started_by'], ['staff.id'],
                                name=op.f('fk_dossier_file_upload_started_by_staff')),
        sa.PrimaryKeyConstraint('storage_key', name=op.f('pk_dossier_file_upload')),
    )
    op.create_index(op.f('ix_dossier_file_upload_dossier_id'), 'dossier_file_upload',
                    ['dossier_id'])
    # Documents are kept (their destruction, Art. 17, comes with its own grant); uploads in
    # progress are removed when they become documents or by the sweep.
    op.execute("GRANT SELECT, INSERT, UPDATE ON dossier_file TO dossier_app")
    op.execute("GRANT SELECT, INSERT, DELETE ON dossier_file_upload TO dossier_app")


def downgrade() -> None:
    op.drop_index(op.f('ix_dossier_file_upload_dossier_id'), table_name='dossier_file_upload')
    op.drop_table('dossier_file_upload')
    op.drop_index(op.f('ix_dossier_file_dossier_id'), table_name='dossier_file')
    op.drop_table('dossier_file')
