"""No personal data in free text the ledger keeps (Arts. 19, 20).

A reason, a summary or a finding is written in the clear and often copied into the ledger,
which can never be changed: a client's e-mail address or phone number typed into one would
stay there in plaintext for good. :func:`refuse_personal_data` refuses such text, naming the
record and field but never quoting the value.
"""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from dossiers.core.errors import Refused

#: A word with an ``@`` inside: a candidate address, judged by ``email-validator``.
_AT_WORD = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")
#: Regions whose numbering plans judge a number written without ``+`` (the company's own).
_REGIONS = ("CN",)


def looks_personal(text: str) -> str | None:
    """``"an e-mail address"`` or ``"a phone number"`` when ``text`` holds one, else None."""
    for word in _AT_WORD.findall(text):
        try:
            validate_email(word.rstrip("."), check_deliverability=False)
        except EmailNotValidError:
            continue
        return "an e-mail address"
    for region in _REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(text, region,
                                                     leniency=phonenumbers.Leniency.VALID):
            if match.number is not None:
                return "a phone number"
    return None


def refuse_personal_data(text: str | None, *, record: str, field: str) -> None:
    """Refuse ``text`` that holds an e-mail address or a phone number (not quoted)."""
    if not text:
        return
    found = looks_personal(text)
    if found:
        raise Refused(f"looks like it holds {found}: personal data is never written in free "
                      "text the ledger keeps (Art. 19); refer to the dossier instead",
                      record=record, field=field)
