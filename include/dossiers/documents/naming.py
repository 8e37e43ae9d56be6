"""Art. 15: a document's name and folder, made from the dossier as it is now.

Files are named ``<client name>-<document type>-<year>``, with ``(n)`` when the name
repeats in the dossier (the second proposal of 2026 is ``…-策劃方案-2026(2).pdf``), and
kept in the dossier's category folder: ``<client type>/<stage>/<markets>``. Both are made
when read, from the current client name and classification, so a renamed client's files
follow the new name and a terminated client's files are in the terminated folder.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import Connection, select

from dossiers.core.schema import dossier_market
from dossiers.core.vocabulary import DOCUMENT_TYPE_NAMES, DocumentType


def file_name(client_name: str, document_type: str, year: int, serial: int,
              extension: str) -> str:
    base = f"{client_name}-{DOCUMENT_TYPE_NAMES[DocumentType(document_type)][0]}-{year}"
    return f"{base}{f'({serial})' if serial > 1 else ''}.{extension}"


def folder(client_type: str, stage: str, markets: Iterable[str]) -> str:
    return f"{client_type}/{stage}/{'+'.join(markets) or '-'}"


def markets_of(conn: Connection, dossier_id: uuid.UUID) -> list[str]:
    return list(conn.execute(select(dossier_market.c.country)
                             .where(dossier_market.c.dossier_id == dossier_id)
                             .order_by(dossier_market.c.ordinal)).scalars())
