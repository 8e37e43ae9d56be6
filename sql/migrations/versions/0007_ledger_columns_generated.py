"""The ledger's queryable columns are generated from the hashed body (Arts. 11, 13).

Until now a BEFORE INSERT trigger filled ``seq``, ``recorded_at``, ``actor``, ``action``,
``subject_type``, ``subject_id``, ``dossier_no`` and ``details`` from ``body``; a superuser who
disabled the append-only trigger could then change, say, ``actor`` or ``details`` and the
hash chain (over ``body`` only) still verified, while the application reads those columns.
Stored generated columns cannot be written at all, triggers or not: changing one means
changing the body (which the chain catches) or dropping its expression, which
``ledger.verify`` sees in the catalog and answers by comparing every entry with its body.

The columns are dropped and added back as generated ones (PostgreSQL 15 cannot turn a
column into a generated one in place); the table is rewritten once, every value recomputed
from its body. ``ledger_timestamp`` exists because a generated column must be immutable and
the text to timestamptz cast is only stable (it would read the TimeZone for a string with
no offset; the ledger's timestamps always carry one).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

#: Each column and the expression that derives it from the body (as in core/schema.py).
DERIVED = (
    ("seq", "bigint", "((body::json ->> 'seq')::bigint)", True),
    ("recorded_at", "timestamptz", "(ledger_timestamp(body::json ->> 'recorded_at'))", True),
    ("actor", "text", "(body::json ->> 'actor')", True),
    ("action", "text", "(body::json ->> 'action')", True),
    ("subject_type", "text", "(body::json ->> 'subject_type')", True),
    ("subject_id", "text", "(body::json ->> 'subject_id')", True),
    ("dossier_no", "text", "(body::json ->> 'dossier_no')", False),
    ("details", "jsonb", "((body::json -> 'details')::jsonb)", True),
)

INDEXES = (
    "CREATE INDEX ix_ledger_entry_subject ON ledger_entry (subject_type, subject_id)",
    "CREATE INDEX ix_ledger_entry_dossier_no ON ledger_entry (dossier_no)",
    "CREATE INDEX ix_ledger_entry_action ON ledger_entry (action, recorded_at)",
)


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION ledger_timestamp(text) RETURNS timestamptz
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$SELECT $1::timestamptz$$""")
    op.execute("DROP TRIGGER ledger_entry_from_body ON ledger_entry")
    op.execute("DROP FUNCTION ledger_entry_from_body()")
    changes = [f"DROP COLUMN {name}" for name, *_ in DERIVED]
    changes += [f"ADD COLUMN {name} {type_} GENERATED ALWAYS AS {expr} STORED"
                + (" NOT NULL" if not_null else "")
                for name, type_, expr, not_null in DERIVED]
    changes.append("ADD CONSTRAINT pk_ledger_entry PRIMARY KEY (seq)")
    op.execute("ALTER TABLE ledger_entry " + ", ".join(changes))  # one rewrite
    for statement in INDEXES:
        op.execute(statement)


def downgrade() -> None:
    op.execute("ALTER TABLE ledger_entry "
               + ", ".join(f"ALTER COLUMN {name} DROP EXPRESSION" for name, *_ in DERIVED))
    op.execute("DROP FUNCTION ledger_timestamp(text)")
    op.execute("""
        CREATE FUNCTION ledger_entry_from_body() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          NEW := jsonb_populate_record(NEW, NEW.body::jsonb - 'body' - 'prev_hash' - 'entry_hash');
          RETURN NEW;
        END $$""")
    op.execute("CREATE TRIGGER ledger_entry_from_body BEFORE INSERT ON ledger_entry "
               "FOR EACH ROW EXECUTE FUNCTION ledger_entry_from_body()")
