"""Query grants (Art. 16): purpose, scope, expiry, approved by the archivist.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "query_grant",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("dossier_id", sa.UUID(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("scope", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="requested", nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('requested', 'approved', 'rejected', 'revoked')",
                           name=op.f("ck_query_grant_status")),
        sa.CheckConstraint("cardinality(scope) > 0", name=op.f("ck_query_grant_scope")),
        sa.ForeignKeyConstraint(["decided_by"], ["staff.id"],
                                name=op.f("fk_query_grant_decided_by_staff")),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossier.id"], ondelete="CASCADE",
                                name=op.f("fk_query_grant_dossier_id_dossier")),
        sa.ForeignKeyConstraint(["requester_id"], ["staff.id"],
                                name=op.f("fk_query_grant_requester_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_query_grant")),
    )
    op.create_index(op.f("ix_query_grant_dossier_id"), "query_grant", ["dossier_id"])
    op.create_index(op.f("ix_query_grant_requester_id"), "query_grant", ["requester_id"])
    op.execute("GRANT SELECT, INSERT, UPDATE ON query_grant TO dossier_app")


def downgrade() -> None:
    op.drop_index(op.f("ix_query_grant_requester_id"), table_name="query_grant")
    op.drop_index(op.f("ix_query_grant_dossier_id"), table_name="query_grant")
    op.drop_table("query_grant")
