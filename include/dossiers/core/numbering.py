"""Dossier numbers (Art. 11 step 4): ``海外-<year>-<client type code>-<serial>``.

Serials are gapless per year and type, at least three digits (more when needed), unique,
and never reused: every number ever assigned stays in ``dossier_number`` (append-only),
even after its dossier is destroyed.

Allocation is an upsert on the ``(year, type)`` counter row inside the creating
transaction. The row lock queues concurrent creators of the same year and type, and a
creator that rolls back rolls its increment back too, so no serial is skipped.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy import Connection

from dossiers.core import clock
from dossiers.core.db import DriverStatement, Statement, insert_sql, run_together
from dossiers.core.errors import Refused
from dossiers.core.policy import policy
from dossiers.core.schema import dossier_number

TYPE_CODES = ("電商", "外貿", "本土", "協會")
NUMBER_PATTERN = re.compile(r"^海外-(?P<year>\d{4})-(?P<type>電商|外貿|本土|協會)-(?P<serial>\d{3,})$")


def format_number(year: int, type_code: str, serial: int) -> str:
    return str(policy().dossier_number_format.format(year=year, type_code=type_code, serial=serial))


#: The counter's upsert: the row lock queues concurrent creators of one year and type.
_NEXT_SERIAL = DriverStatement(
    "INSERT INTO dossier_number_counter (year, type_code, last_serial) "
    "VALUES (%(year)s, %(type)s, 1) ON CONFLICT (year, type_code) "
    "DO UPDATE SET last_serial = dossier_number_counter.last_serial + 1 "
    "RETURNING last_serial")
_NUMBER_ROW = insert_sql(dossier_number, ("dossier_no", "year", "type_code", "serial",
                                          "dossier_id", "assigned_at"))


#: :func:`reserve_for_form`'s upsert: the counter of the form's own client type, moved on
#: only while the form is in ``%(status)s`` and its type is a known one.
_NEXT_SERIAL_OF_FORM = DriverStatement(
    "INSERT INTO dossier_number_counter (year, type_code, last_serial) "
    "SELECT %(year)s, client_type, 1 FROM form "
    "WHERE id = %(form_id)s AND status = %(status)s AND client_type = ANY(%(types)s) "
    "ON CONFLICT (year, type_code) "
    "DO UPDATE SET last_serial = dossier_number_counter.last_serial + 1 "
    "RETURNING last_serial")


def allocate(conn: Connection, year: int, type_code: str, dossier_id: uuid.UUID, *,
             at: datetime | None = None) -> str:
    """Assign the next number of ``year`` and ``type_code`` to a dossier, in ``conn``'s
    transaction; ``at`` is the creating act's moment (else :func:`dossiers.core.clock.now`)."""
    number, row = reserve(conn, year, type_code, dossier_id, at=at)
    run_together(conn, [row])
    return number


def reserve(conn: Connection, year: int, type_code: str, dossier_id: uuid.UUID, *,
            at: datetime | None = None) -> tuple[str, Statement]:
    """:func:`allocate` for a hot path: the counter is moved on now (its row locked until
    the transaction ends); the number is returned with the INSERT of its row, which the
    caller runs in the same transaction, with its own statements in one round trip."""
    check_type(type_code)
    [counter] = run_together(conn, [(_NEXT_SERIAL, {"year": year, "type": type_code})])
    serial: int = counter[0].last_serial if counter else 0  # the upsert returns one row
    return reserved(year, type_code, serial, dossier_id, at=at)


def check_type(type_code: str) -> None:
    """:class:`Refused` unless ``type_code`` is one of the four client type codes."""
    if type_code not in TYPE_CODES:
        raise Refused(f"unknown client type code {type_code!r}", field="client_type")


def reserve_for_form(year: int, form_id: uuid.UUID, status: str) -> Statement:
    """:func:`reserve`'s counter upsert for the client type of form ``form_id``, for a hot
    path that sends it with the form's own locked read, in one round trip (issue 16). The
    counter moves on only if the form is in ``status`` and of a known type (else it returns
    no row); the caller checks the form as before, :func:`check_type` included, and then
    builds the number with :func:`reserved`. A step refused after the counter moved is
    rolled back whole, the increment with it, so no serial is skipped."""
    return _NEXT_SERIAL_OF_FORM, {"year": year, "form_id": form_id, "status": status,
                                  "types": list(TYPE_CODES)}


def reserved(year: int, type_code: str, serial: int, dossier_id: uuid.UUID, *,
             at: datetime | None = None) -> tuple[str, Statement]:
    """The number of ``serial``, and the INSERT of its row (run in the same transaction)."""
    number = format_number(year, type_code, serial)
    return number, (_NUMBER_ROW, {"dossier_no": number, "year": year, "type_code": type_code,
                                  "serial": serial, "dossier_id": dossier_id,
                                  "assigned_at": at or clock.now()})
