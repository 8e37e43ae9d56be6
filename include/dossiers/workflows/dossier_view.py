"""A dossier as its reader may see it, read in one statement (Arts. 7, 9, 10, 16).

Reading a dossier is the API's hot path (issue 16). Table by table it took fourteen
statements; here the dossier row, its liaison, its wrapped data key, the reader's approved
and unexpired grants and every Art. 10 dimension come back in one row. The one-to-many
dimensions are JSON arrays aggregated in PostgreSQL, each item a positional array of the
columns named below; :func:`build` turns them back into the types a table-by-table read
gives (dates, ``Decimal``, ``bytes``), so the view is the same value either way.

Nothing is kept between reads: grants, keys and values are those of the statement's
snapshot, so a permission change, a grant's expiry, a destroyed key or an update shows at
the next read.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NotRequired, TypedDict

from sqlalchemy import (
    Column,
    Connection,
    Date,
    DateTime,
    LargeBinary,
    Row,
    ScalarSelect,
    Select,
    Table,
    Text,
    bindparam,
    cast,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from dossiers.core import clock, db, directory
from dossiers.core.crypto import Field, KeyRing, open_sealed
from dossiers.core.schema import (
    basic_info,
    contact,
    contract,
    data_key,
    dossier,
    dossier_market,
    dossier_source,
    market_info,
    needs,
    other_info,
    paper_volume,
    query_grant,
    staff,
)
from dossiers.core.vocabulary import GrantStatus
from dossiers.workflows.access import mask


class ContactView(TypedDict):
    title: str | None
    preference: str | None
    name: str | None
    email: str | None
    phone: str | None


class ContractView(TypedDict):
    contract_no: str
    signed_on: date
    service_scope: str | None
    period_start: date | None
    period_end: date | None
    fee_range: str | None


class DossierView(TypedDict):
    """A dossier as its reader may see it (Arts. 7, 16): the dimensions of ``scope`` only —
    the others are not there at all (not even empty), so a dictionary, not a dataclass."""

    dossier_no: str
    client_name_zh: str
    client_name_en: str
    client_type: str
    stage: str
    status: str
    liaison: str | None
    department: str
    created_at: datetime
    filed_at: datetime | None
    terminated_on: date | None
    further_cooperation: bool | None
    target_markets: list[str]
    scope: list[str]
    basic: NotRequired[dict[str, Any]]
    contacts: NotRequired[list[ContactView]]
    market: NotRequired[dict[str, Any]]
    cooperation: NotRequired[list[ContractView]]
    needs: NotRequired[dict[str, Any]]
    other: NotRequired[dict[str, Any]]
    vault: NotRequired[list[dict[str, Any]]]
    #: Where each dimension in scope came from (Art. 9): channel, authorisation, when.
    sources: NotRequired[dict[str, dict[str, Any]]]


def _fields(table: Table, *names: str) -> tuple[Column[Any], ...]:
    """The named columns, or every column but ``dossier_id`` (a one-row dimension)."""
    return tuple(table.c[n] for n in names) if names else tuple(
        c for c in table.columns if c.name != "dossier_id")


BASIC = _fields(basic_info)
MARKET = _fields(market_info)
NEEDS = _fields(needs)
OTHER = _fields(other_info)
CONTACT = _fields(contact, "ordinal", "title", "preference", "name_enc", "email_enc",
                  "phone_enc")
CONTRACT = _fields(contract, "contract_no", "signed_on", "service_scope", "period_start",
                   "period_end", "fee_range_enc")
VAULT = _fields(paper_volume, "volume_no", "cabinet", "shelf", "position", "condition")
SOURCE = _fields(dossier_source, "dimension", "channel", "authorisation_ref", "recorded_at")


def _item(columns: Sequence[Column[Any]]) -> Any:
    """One row as a JSON array of its columns (bytes as hex: JSON has no bytes)."""
    return func.json_build_array(*(func.encode(c, "hex") if isinstance(c.type, LargeBinary)
                                   else c for c in columns))


def _one(table: Table, columns: Sequence[Column[Any]]) -> ScalarSelect[Any]:
    return select(cast(_item(columns), Text)).where(
        table.c.dossier_id == dossier.c.id).scalar_subquery()


def _many(table: Table, columns: Sequence[Column[Any]],
          *order_by: Column[Any]) -> ScalarSelect[Any]:
    item = _item(columns)
    return select(cast(func.json_agg(aggregate_order_by(item, *order_by) if order_by else item),
                       Text)).where(table.c.dossier_id == dossier.c.id).scalar_subquery()


def _statement(reader: Any = None) -> Select[Any]:
    """The whole dossier by number, with the grants of ``reader`` (by default the staff id
    ``:reader``) valid on ``:today``."""
    d = dossier.c
    if reader is None:
        reader = bindparam("reader")
    return select(
        d.id, d.dossier_no, d.client_name_zh, d.client_name_en, d.client_type, d.stage, d.status,
        d.liaison_id, d.department, d.created_at, d.filed_at, d.terminated_on,
        d.further_cooperation,
        select(staff.c.username).where(staff.c.id == d.liaison_id)
        .scalar_subquery().label("liaison"),
        select(data_key.c.wrapped_key).where(data_key.c.dossier_id == d.id)
        .scalar_subquery().label("wrapped_key"),
        # Art. 16: the scopes of the reader's approved, unexpired grants (NULL: none).
        select(cast(func.json_agg(query_grant.c.scope), Text)).where(
            query_grant.c.dossier_id == d.id,
            query_grant.c.requester_id == reader,
            query_grant.c.status == GrantStatus.APPROVED.value,
            query_grant.c.expires_on >= bindparam("today", type_=Date),
        ).scalar_subquery().label("grants"),
        select(func.array_agg(aggregate_order_by(dossier_market.c.country,
                                                 dossier_market.c.ordinal)))
        .where(dossier_market.c.dossier_id == d.id).scalar_subquery().label("target_markets"),
        _one(basic_info, BASIC).label("basic"),
        _many(contact, CONTACT, contact.c.ordinal).label("contacts"),
        _one(market_info, MARKET).label("market"),
        _many(contract, CONTRACT).label("contracts"),
        _one(needs, NEEDS).label("needs"),
        _one(other_info, OTHER).label("other"),
        _many(paper_volume, VAULT).label("vault"),
        _many(dossier_source, SOURCE, dossier_source.c.recorded_at, dossier_source.c.id)
        .label("sources"),
    ).where(d.dossier_no == bindparam("dossier_no"))


#: Built once: SQLAlchemy then finds its compiled form in its cache on every read.
STATEMENT = _statement()

#: The same, with the grants of the staff member whose username is ``:reader_name``: it
#: needs no staff id, so it goes out with the reader's own row (:func:`fetch_with_reader`).
BY_READER_NAME = db.DriverStatement(_statement(
    select(staff.c.id).where(staff.c.username == bindparam("reader_name")).scalar_subquery()))
_ACTOR = db.DriverStatement(directory.ACTOR)


def fetch(conn: Connection, dossier_no: str, reader: int | None = None,
          today: date | None = None) -> Row[Any] | None:
    """The dossier ``dossier_no`` with everything :func:`build` shows, and the grants of
    staff member ``reader`` (``None``: nobody's) valid on ``today`` (by default today);
    ``None`` if there is no such number."""
    return conn.execute(STATEMENT, {"dossier_no": dossier_no, "reader": reader,
                                    "today": today or clock.today()}).first()


def fetch_with_reader(unit: db.Autocommit, username: str, dossier_no: str,
                      today: date) -> tuple[Any, Any]:
    """The reader's staff row (:data:`dossiers.core.directory.ACTOR`, ``None`` if not staff)
    and :func:`fetch`'s row for them, both in one round trip: the API's read (issue 16)."""
    readers, rows = db.run_together(unit.conn, [
        (_ACTOR, {"username": username}),
        (BY_READER_NAME, {"dossier_no": dossier_no, "reader_name": username, "today": today})])
    return (readers[0] if readers else None), (rows[0] if rows else None)


def granted_scope(row: Row[Any]) -> set[str] | None:
    """The union of the reader's valid grants on the dossier; ``None`` if there are none."""
    if row.grants is None:
        return None
    return {s for scope in json.loads(row.grants) for s in scope}


# --- from JSON back to the column types -----------------------------------------------------

def _loader(column: Column[Any]) -> Callable[[Any], Any]:
    if isinstance(column.type, LargeBinary):
        return bytes.fromhex
    if isinstance(column.type, DateTime):
        return datetime.fromisoformat
    if isinstance(column.type, Date):
        return date.fromisoformat
    return lambda value: value  # text, numbers (Decimal by the parser), booleans, arrays


def _decoder(columns: Sequence[Column[Any]]) -> Callable[[list[Any]], dict[str, Any]]:
    loaders = [(c.name, _loader(c)) for c in columns]

    def decode(item: list[Any]) -> dict[str, Any]:
        return {name: None if value is None else load(value)
                for (name, load), value in zip(loaders, item, strict=True)}
    return decode


_DECODE = {name: _decoder(columns) for name, columns in (
    ("basic", BASIC), ("contacts", CONTACT), ("market", MARKET), ("contracts", CONTRACT),
    ("needs", NEEDS), ("other", OTHER), ("vault", VAULT), ("sources", SOURCE))}


def _one_of(row: Row[Any], name: str) -> dict[str, Any]:
    text = getattr(row, name)
    return {} if text is None else _DECODE[name](json.loads(text, parse_float=Decimal))


def _all_of(row: Row[Any], name: str) -> list[dict[str, Any]]:
    text = getattr(row, name)
    decode = _DECODE[name]
    return [] if text is None else [decode(i) for i in json.loads(text, parse_float=Decimal)]


# --- the view -------------------------------------------------------------------------------

def build(keyring: KeyRing, row: Row[Any], scope: set[str]) -> DossierView:
    """The view of ``row`` (from :func:`fetch`) with the dimensions in ``scope`` only;
    personal values opened, and masked unless the scope has ``personal`` (Art. 10)."""
    d_id: uuid.UUID = row.id
    clear = "personal" in scope
    key: list[bytes] = []  # unwrapped on the first sealed value shown, if any

    def opened(where: Field, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        if not key:
            key.append(keyring.key_from(d_id, row.wrapped_key))
        value = open_sealed(key[0], blob, where.aad(d_id))
        return value if clear else mask(value)

    view = DossierView(
        dossier_no=row.dossier_no, client_name_zh=row.client_name_zh,
        client_name_en=row.client_name_en, client_type=row.client_type,
        stage=row.stage, status=row.status, liaison=row.liaison,
        department=row.department, created_at=row.created_at, filed_at=row.filed_at,
        terminated_on=row.terminated_on, further_cooperation=row.further_cooperation,
        target_markets=list(row.target_markets or ()), scope=sorted(scope),
    )
    # The dimensions in scope only, in this order (Art. 10).
    if "basic" in scope:
        view["basic"] = _one_of(row, "basic")
    if "contacts" in scope:
        view["contacts"] = [ContactView(
            title=c["title"], preference=c["preference"],
            name=opened(Field("contact", "name", str(c["ordinal"])), c["name_enc"]),
            email=opened(Field("contact", "email", str(c["ordinal"])), c["email_enc"]),
            phone=opened(Field("contact", "phone", str(c["ordinal"])), c["phone_enc"]))
            for c in _all_of(row, "contacts")]
    if "market" in scope:
        view["market"] = _one_of(row, "market")
    if "cooperation" in scope:
        view["cooperation"] = [ContractView(
            contract_no=c["contract_no"], signed_on=c["signed_on"],
            service_scope=c["service_scope"], period_start=c["period_start"],
            period_end=c["period_end"],
            fee_range=opened(Field("contract", "fee_range", c["contract_no"]),
                             c["fee_range_enc"]))
            for c in _all_of(row, "contracts")]
    if "needs" in scope:
        view["needs"] = _one_of(row, "needs")
    if "other" in scope:
        other = _one_of(row, "other")
        other["credit_rating"] = opened(Field("other_info", "credit_rating", str(d_id)),
                                        other.pop("credit_rating_enc", None))
        view["other"] = other
    # Each dimension's latest source (Art. 9): the rows come oldest first.
    came_from = {s["dimension"]: {"channel": s["channel"],
                                  "authorisation_ref": s["authorisation_ref"],
                                  "recorded_at": s["recorded_at"].isoformat()}
                 for s in _all_of(row, "sources") if s["dimension"] in scope}
    if came_from:
        view["sources"] = came_from
    if "vault" in scope:
        view["vault"] = _all_of(row, "vault")
    return view
