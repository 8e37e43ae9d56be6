"""Where each dimension of a dossier's information came from (Art. 9).

A collection form and an applied update form each record, for every Art. 10 dimension they
bring in, the collection channel and the client's authorisation it was collected under
(``dossier_source``); the latest row of a dimension is what the dossier shows for it
(:mod:`dossiers.workflows.dossier_view`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, insert

from dossiers.core.db import DriverStatement, Statement
from dossiers.core.schema import dossier_source
from dossiers.core.vocabulary import QueryScope

#: The Art. 10 dimension each table of the dossier belongs to.
DIMENSION_OF_TABLE: Mapping[str, QueryScope] = {
    "dossier": QueryScope.BASIC, "basic_info": QueryScope.BASIC,
    "qualification_document": QueryScope.BASIC, "contact": QueryScope.CONTACTS,
    "dossier_market": QueryScope.MARKET, "market_info": QueryScope.MARKET,
    "cooperation": QueryScope.COOPERATION, "contract": QueryScope.COOPERATION,
    "project": QueryScope.COOPERATION, "communication": QueryScope.COOPERATION,
    "needs": QueryScope.NEEDS, "feedback": QueryScope.NEEDS, "other_info": QueryScope.OTHER,
}

#: The collection form's fields of each dimension beyond ``basic`` and ``market`` (which
#: every form fills: names, type, target markets).
_FORM_FIELDS: Mapping[QueryScope, tuple[str, ...]] = {
    QueryScope.CONTACTS: ("contacts",),
    QueryScope.COOPERATION: ("contract_no",),
    QueryScope.NEEDS: ("marketing_goals", "brand_positioning", "creative_preferences",
                       "selling_points", "consumer_traits", "service_expectations",
                       "latent_needs"),
    QueryScope.OTHER: ("other_partners", "honours", "dependence"),
}


def form_dimensions(payload: Mapping[str, Any], personal: Mapping[str, str]) -> list[str]:
    """The dimensions a collection form's values fill."""
    found = [QueryScope.BASIC.value, QueryScope.MARKET.value]
    for dimension, names in _FORM_FIELDS.items():
        if any(payload.get(n) for n in names) or (
                dimension is QueryScope.OTHER and "credit_rating" in personal):
            found.append(dimension.value)
    return found


def record(conn: Connection, dossier_id: uuid.UUID, dimensions: Iterable[str], channel: str,
           authorisation_ref: str | None, at: datetime, *, form_id: uuid.UUID | None = None,
           change_id: uuid.UUID | None = None) -> None:
    rows = _rows(dossier_id, dimensions, channel, authorisation_ref, at, form_id, change_id)
    if rows:
        conn.execute(insert(dossier_source), rows)


def recording(dossier_id: uuid.UUID, dimensions: Iterable[str], channel: str,
              authorisation_ref: str | None, at: datetime, *, form_id: uuid.UUID | None = None,
              change_id: uuid.UUID | None = None) -> list[Insert]:
    """:func:`record`'s rows as single-row INSERTs, for a caller that runs them with others
    in one statement (a multi-row VALUES would not be in SQLAlchemy's statement cache)."""
    return [insert(dossier_source).values(row) for row in _rows(
        dossier_id, dimensions, channel, authorisation_ref, at, form_id, change_id)]


#: :func:`recording_sql`'s rows, one per dimension, in one pre-built statement.
_SOURCES_SQL = DriverStatement(
    "INSERT INTO dossier_source (dossier_id, dimension, channel, authorisation_ref, form_id, "
    "change_id, recorded_at) SELECT %(dossier_id)s::UUID, d, %(channel)s::VARCHAR, "
    "%(authorisation_ref)s::VARCHAR, %(form_id)s::UUID, %(change_id)s::UUID, "
    "%(recorded_at)s::TIMESTAMP WITH TIME ZONE "
    "FROM unnest(%(dimensions)s::VARCHAR[]) WITH ORDINALITY AS t(d, n) ORDER BY n")


def recording_sql(dossier_id: uuid.UUID, dimensions: Iterable[str], channel: str,
                  authorisation_ref: str | None, at: datetime, *,
                  form_id: uuid.UUID | None = None,
                  change_id: uuid.UUID | None = None) -> Statement:
    """:func:`record`'s rows as one pre-built INSERT (the dimensions bound as one array)
    and its parameters, for a hot path that runs it with others in one round trip
    (:func:`dossiers.core.db.run_together`)."""
    return _SOURCES_SQL, {"dossier_id": dossier_id, "dimensions": list(dict.fromkeys(dimensions)),
                          "channel": channel, "authorisation_ref": authorisation_ref,
                          "form_id": form_id, "change_id": change_id, "recorded_at": at}


def _rows(dossier_id: uuid.UUID, dimensions: Iterable[str], channel: str,
          authorisation_ref: str | None, at: datetime, form_id: uuid.UUID | None,
          change_id: uuid.UUID | None) -> list[dict[str, Any]]:
    return [{"dossier_id": dossier_id, "dimension": d, "channel": channel,
             "authorisation_ref": authorisation_ref, "form_id": form_id,
             "change_id": change_id, "recorded_at": at} for d in dict.fromkeys(dimensions)]

