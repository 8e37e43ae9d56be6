"""The client's authorisation to collect its information (Arts. 9, 19).

Liaisons tell clients the scope of use and obtain their authorisation before collecting
(Art. 19); compliant research is allowed only within the target market's law and the
client's authorisation (Art. 9). An authorisation on record (``client_authorisation``) has a
reference, the Art. 9 channel groups it allows (its scope of use), a date and an expiry.

:func:`refusal` says why a collection under a reference and through a channel is refused,
or ``None``: a reference with no record is refused for compliant research only (the forms
always name a reference, Art. 19; the quarterly compliance check finds clients whose
reference has no valid record, Art. 20); with a record, a collection after its expiry or
through a channel outside its scope is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ARRAY, Connection, Text, any_, bindparam, select

from dossiers.core.db import DriverStatement, Statement
from dossiers.core.schema import client_authorisation
from dossiers.core.vocabulary import CHANNEL_GROUP, ChannelGroup, CollectionChannel

#: The contract's error code (``collection-form.md``) for every authorisation refusal.
NO_AUTHORISATION = "no_authorisation"


@dataclass(frozen=True)
class Terms:
    """An authorisation on record: what it allows and until when."""

    reference: str
    scope: frozenset[str]
    granted_on: date
    expires_on: date


def on_record(conn: Connection, references: Iterable[str]) -> dict[str, Terms]:
    """The recorded authorisations among ``references``, by reference."""
    wanted = sorted(set(references))
    if not wanted:
        return {}
    rows = conn.execute(select(client_authorisation).where(
        client_authorisation.c.reference.in_(wanted)))
    return terms_of(rows)


#: :func:`on_record` as one statement with the references in one array parameter, compiled
#: once: an import asks for 2,500 references a chunk beside its other reads (issue 16).
ON_RECORD_SQL = DriverStatement(select(client_authorisation).where(
    client_authorisation.c.reference == any_(bindparam("references", type_=ARRAY(Text)))))


def on_record_statement(references: Iterable[str]) -> Statement:
    """The statement of :func:`on_record` for :func:`dossiers.core.db.run_together`; its
    rows go to :func:`terms_of`."""
    return ON_RECORD_SQL, {"references": sorted(set(references))}


def terms_of(rows: Iterable[Any]) -> dict[str, Terms]:
    """Rows of ``client_authorisation`` as their terms, by reference."""
    return {r.reference: Terms(r.reference, frozenset(r.scope), r.granted_on, r.expires_on)
            for r in rows}


def refusal(reference: str, terms: Terms | None, channel: str, collected_on: date,
            today: date) -> str | None:
    """Why collecting through ``channel`` on ``collected_on`` under ``reference`` is refused
    (a sentence naming the article), or ``None`` when it is allowed."""
    group = CHANNEL_GROUP[CollectionChannel(channel)]
    if terms is None:
        if group is ChannelGroup.RESEARCH:
            return (f"compliant research ({channel}) needs the client's authorisation on "
                    f"record, and {reference!r} is not recorded (Arts. 9, 19)")
        return None
    if collected_on < terms.granted_on:
        return (f"collected on {collected_on} before authorisation {reference!r} was given on "
                f"{terms.granted_on} (Art. 19)")
    if max(collected_on, today) > terms.expires_on:
        return f"authorisation {reference!r} expired on {terms.expires_on} (Art. 19)"
    if group.value not in terms.scope:
        return (f"{channel} is {group.value} collection, outside the scope of authorisation "
                f"{reference!r} ({', '.join(sorted(terms.scope))}) (Arts. 9, 19)")
    return None
