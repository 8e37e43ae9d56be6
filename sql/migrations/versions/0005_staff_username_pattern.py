"""Staff usernames follow one conservative pattern (a CHECK constraint on staff.username).

A username is a login, a mail address's local part, a report cell and a word of the ledger:
ASCII letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit, at most 64.

Existing rows are checked first. If any break the pattern the migration refuses, naming
each offending row by id and its username escaped onto one line, and changes nothing: it
does not rename them itself, because a username is someone's login and mail address and
the ledger's entries (hash-chained, never rewritten) name people by it, so choosing the new
name is the operator's decision, e.g. ``UPDATE staff SET username = 'wang.li' WHERE id = 7``,
then ``dossier db upgrade`` again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# The rule as of this revision (dossiers.core.usernames.SQL_PATTERN); a migration keeps its own.
PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'
SHOWN = 20


class InvalidUsernames(RuntimeError):
    """Existing staff rows whose usernames break the pattern: nothing was migrated."""


def upgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("LOCK TABLE staff IN SHARE ROW EXCLUSIVE MODE"))
    offending = conn.execute(
        sa.text("SELECT id, username FROM staff WHERE username !~ :pattern ORDER BY id"),
        {"pattern": PATTERN},
    ).all()
    if offending:
        # ascii(): a username with CR/LF or U+202E must not break or reorder the message line.
        listed = "; ".join(f"id {r.id} {ascii(r.username)}" for r in offending[:SHOWN])
        more = f" and {len(offending) - SHOWN} more" if len(offending) > SHOWN else ""
        raise InvalidUsernames(
            f"{len(offending)} staff username(s) are not 1-64 ASCII letters, digits, '.', '_' "
            f"or '-' starting with a letter or digit: {listed}{more}; rename each "
            "(UPDATE staff SET username = '<new>' WHERE id = <id>) and run `dossier db upgrade` "
            "again")
    op.create_check_constraint(op.f('ck_staff_username'), 'staff', f"username ~ '{PATTERN}'")


def downgrade() -> None:
    op.drop_constraint(op.f('ck_staff_username'), 'staff', type_='check')
