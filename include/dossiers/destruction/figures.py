"""Destructions (Art. 17) and external disclosures (Art. 16) counted for a period: what the
KPI scorecard (Art. 22) and the QA special inspection (Art. 21) report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from dossiers.core.schema import destruction_item, destruction_request, disclosure_request
from dossiers.core.vocabulary import DestructionStatus, DisclosureStatus

HOME_COUNTRY = "CN"


def _count(conn: Connection, query: Any) -> int:
    return int(conn.execute(query).scalar_one())


def destructions(conn: Connection, lo: datetime, hi: datetime) -> dict[str, int]:
    """Forms executed, dossiers destroyed, forms rejected or stopped in ``[lo, hi)``."""
    requests = select(func.count()).select_from(destruction_request)
    return {
        "destruction_forms_executed": _count(conn, requests.where(
            destruction_request.c.executed_at >= lo, destruction_request.c.executed_at < hi)),
        "dossiers_destroyed": _count(conn, select(func.count()).select_from(destruction_item).join(
            destruction_request, destruction_request.c.id == destruction_item.c.request_id).where(
            destruction_request.c.status == DestructionStatus.EXECUTED,
            destruction_request.c.executed_at >= lo, destruction_request.c.executed_at < hi)),
        "destruction_forms_rejected": _count(conn, requests.where(
            destruction_request.c.status == DestructionStatus.REJECTED,
            destruction_request.c.requested_at >= lo, destruction_request.c.requested_at < hi)),
        "destruction_forms_stopped": _count(conn, requests.where(
            destruction_request.c.stopped_at >= lo, destruction_request.c.stopped_at < hi)),
    }


def disclosures(conn: Connection, lo: datetime, hi: datetime) -> dict[str, int]:
    """Packages sent, of them cross-border, and requests rejected in ``[lo, hi)``."""
    packaged = select(func.count()).select_from(disclosure_request).where(
        disclosure_request.c.packaged_at >= lo, disclosure_request.c.packaged_at < hi)
    return {
        "disclosures_packaged": _count(conn, packaged),
        "cross_border_transfers": _count(conn, packaged.where(
            disclosure_request.c.recipient_country != HOME_COUNTRY)),
        "disclosures_rejected": _count(conn, select(func.count()).select_from(
            disclosure_request).where(
            disclosure_request.c.status == DisclosureStatus.REJECTED,
            disclosure_request.c.requested_at >= lo, disclosure_request.c.requested_at < hi)),
    }


def retention_and_disclosure(conn: Connection, lo: datetime, hi: datetime) -> dict[str, int]:
    return {**destructions(conn, lo, hi), **disclosures(conn, lo, hi)}
