"""What a staff username may be (Arts. 5-7, 18).

A username becomes an Airflow login, the local part of a mail address
(``<username>@<DOSSIER_STAFF_MAIL_DOMAIN>``), a cell of every report and a word of the
ledger. One conservative pattern keeps it harmless in all of them: ASCII letters, digits,
``.``, ``_`` and ``-``, starting with a letter or digit, at most :data:`MAX_LENGTH`
characters. No CR/LF (a mail header), no ``<`` (HTML), no ``=`` or ``+`` in front (a
spreadsheet formula), no bidirectional controls (a name that reads as another).

The same rule is a CHECK constraint on ``staff.username`` (:mod:`dossiers.core.schema`), so
a row written past the workflow is refused by the database too.
"""

from __future__ import annotations

import re

from dossiers.core.errors import Refused

#: The length of ``staff.username`` (String(64)).
MAX_LENGTH = 64

_FIRST = "A-Za-z0-9"
_REST = "A-Za-z0-9._-"
_PATTERN = re.compile(f"[{_FIRST}][{_REST}]{{0,{MAX_LENGTH - 1}}}", re.ASCII)

#: The rule as a PostgreSQL regular expression (ranges are code points there too).
SQL_PATTERN = f"^[{_FIRST}][{_REST}]{{0,{MAX_LENGTH - 1}}}$"

RULE = (f"a username is 1-{MAX_LENGTH} ASCII letters, digits, '.', '_' or '-', "
        "starting with a letter or digit")


def is_valid(username: str) -> bool:
    return _PATTERN.fullmatch(username) is not None


def shown(username: str) -> str:
    """The username as it may appear in a one-line message: itself when valid, otherwise
    quoted with every character but plain printable ASCII escaped (``\\x0d``, ``\\u202e``;
    also ``<``, ``>``, ``&`` and quotes, for a message shown in a page) and shortened."""
    if is_valid(username):
        return username
    escaped = "".join(_escape(c) for c in username[:MAX_LENGTH])
    return f'"{escaped}{"..." if len(username) > MAX_LENGTH else ""}"'


def _escape(c: str) -> str:
    if " " <= c <= "~" and c not in "<>&\"'\\":
        return c
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def why_invalid(username: str) -> str | None:
    """None for a valid username, otherwise the reason, naming the first bad character by
    code point (never echoing it: it may be a line break or a bidirectional control)."""
    if is_valid(username):
        return None
    if not username:
        return f"empty; {RULE}"
    if len(username) > MAX_LENGTH:
        return f"{len(username)} characters, more than {MAX_LENGTH}; {RULE}"
    if not re.fullmatch(f"[{_FIRST}]", username[0], re.ASCII):
        return f"starts with U+{ord(username[0]):04X}; {RULE}"
    bad = next(c for c in username if not re.fullmatch(f"[{_REST}]", c, re.ASCII))
    return f"contains U+{ord(bad):04X}; {RULE}"


def check(username: str) -> None:
    """Refuse an invalid username with the CLI contract's one-line error (exit 1)."""
    reason = why_invalid(username)
    if reason is not None:
        raise Refused(reason, record=f"user {shown(username)}", field="username")
