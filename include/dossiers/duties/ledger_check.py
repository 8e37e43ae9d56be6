"""The daily ledger verification duty (檔案管理臺賬, Arts. 11, 13).

The archivist keeps the ledger (Art. 11(5)) and every change to a dossier is recorded in
it (Art. 13); the system re-hashes the whole chain every day so that an altered, deleted
or re-chained entry is found the next morning, not at the next audit. A broken chain
fails the duty loudly (:class:`LedgerBroken`) naming the first broken entry; a sound one
moves the outside anchor forward, so a later re-chaining of old entries is caught too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from dossiers.core.errors import Refused

log = logging.getLogger(__name__)

# Kept light on purpose: the DAG's retry rule imports LedgerBroken at parse time, so the
# database modules (SQLAlchemy, psycopg) are imported inside the functions below.


class LedgerBroken(Refused):
    """The ledger does not chain: an entry was altered, deleted or re-chained (Arts. 11, 13)."""

    def __init__(self, message: str, *, seq: int, reason: str):
        self.seq = seq
        self.reason = reason
        super().__init__(message, record="ledger")


def verify_ledger(database_url: str, anchor_file: Path | None = None) -> dict[str, Any]:
    """Re-hash the whole ledger as the ``airflow`` system actor, compare it with the anchor in
    ``anchor_file`` (the DAG passes ``DOSSIER_LEDGER_ANCHOR``, ``config.ledger_anchor``) and
    re-anchor when it is sound.

    Returns the verification (``entries_checked``, ``first_broken`` = None, ``head``,
    ``anchor`` compared) plus the new anchor when ``anchor_file`` is given. Raises
    :class:`LedgerBroken` naming the first broken entry's seq and reason, or the range of
    seqs where the ledger diverges from the anchor, and writes nothing then (the anchor stays
    on the last known good head).

    The duty keeps the anchor, so its first run starts one: with no file there yet the chain
    alone is checked, and the report and a warning in the task log say that nothing was
    compared (a file that went missing later reads the same: the log line is the trace).
    """
    from dossiers.core import db, ledger
    from dossiers.core.permissions import Action, Actor, authorize

    engine = db.get_engine(database_url)
    with db.transaction(engine) as conn:
        authorize(conn, Actor.system("airflow"), Action.LEDGER_VERIFY, subject="ledger")
        starting = anchor_file is not None and not anchor_file.exists()
        result = ledger.verify(conn, None if starting else anchor_file)
        if not result.ok:
            broken = result.first_broken or {}
            seq, reason = int(broken.get("seq", 0)), str(broken.get("reason", "unknown"))
            raise LedgerBroken(
                f"entry seq {seq} is broken: {reason} (entries checked sound: "
                f"{result.entries_checked}); run `dossier ledger verify` and escalate to the CS head and QA "
                "(Arts. 11, 13)",
                seq=seq, reason=reason,
            )
        report = result.as_dict()
        if starting:
            report["anchor"] = (f"not compared: no anchor at {anchor_file} yet; this run starts "
                                "one at the current head")
            log.warning("ledger anchor %s does not exist: the chain alone was checked and a new "
                        "anchor is started at the head (Arts. 11, 13)", anchor_file)
        if anchor_file is not None:
            report["anchored"] = {**ledger.anchor(conn, anchor_file),
                                  "anchor_file": str(anchor_file)}
    return report


def dossier_db_url(conn_id: str = "dossier_db") -> str:
    """The dossier database URL from Airflow's connection ``conn_id`` (env ``AIRFLOW_CONN_…``,
    a secrets backend, or the metadata DB), as a SQLAlchemy psycopg 3 URL."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    from dossiers.core.db import checked_url

    return checked_url(PostgresHook(postgres_conn_id=conn_id).get_uri(),
                       f"the Airflow connection {conn_id}")
