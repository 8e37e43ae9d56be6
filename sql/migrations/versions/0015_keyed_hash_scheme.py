"""Documents' keyed hash, versioned (issue 11, Art. 18): ``dossier_file.content_hash_scheme``
names how each row's ``content_hash`` was made. Every row so far was hashed with
HMAC-SHA256 and keeps it (it still verifies and still finds its duplicates); new documents
are hashed with keyed BLAKE3 (dossiers.documents.keyed_hash). No default: every insert
names its scheme.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('dossier_file', sa.Column('content_hash_scheme', sa.String(length=16),
                                            server_default='hmac-sha256', nullable=False))
    op.alter_column('dossier_file', 'content_hash_scheme', server_default=None)
    op.create_check_constraint(op.f('ck_dossier_file_content_hash_scheme'), 'dossier_file',
                               "content_hash_scheme IN ('hmac-sha256', 'blake3')")


def downgrade() -> None:
    # Rows hashed with BLAKE3 cannot go back to an HMAC without their plaintext.
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM dossier_file WHERE content_hash_scheme <> "
                            "'hmac-sha256' LIMIT 1")).first() is not None:
        raise RuntimeError("dossier_file holds documents hashed with BLAKE3; the schema "
                           "before 0015 cannot describe them")
    op.drop_constraint(op.f('ck_dossier_file_content_hash_scheme'), 'dossier_file',
                       type_='check')
    op.drop_column('dossier_file', 'content_hash_scheme')
