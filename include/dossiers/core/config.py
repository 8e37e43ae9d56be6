"""Where things are: the database, the master key, the working folder.

Everything is read from the environment (``cli.md``); nothing here opens a connection.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

#: Times are stored in UTC and shown, scheduled and counted in Asia/Shanghai.
SHANGHAI = ZoneInfo("Asia/Shanghai")

#: The repository root when running from a checkout (``include/dossiers/core/config.py``).
PROJECT_ROOT = Path(__file__).resolve().parents[3]


def home(environ: Mapping[str, str] = os.environ) -> Path:
    """The local working folder (``.dossier/`` in the repository unless ``DOSSIER_HOME``)."""
    return Path(environ.get("DOSSIER_HOME") or PROJECT_ROOT / ".dossier")


def ledger_anchor(environ: Mapping[str, str] = os.environ) -> Path:
    """The file outside the database that keeps the ledger's anchored head and checkpoints
    (Arts. 11, 13): ``DOSSIER_LEDGER_ANCHOR``, else ``ledger.anchor`` in :func:`home`.

    The one setting the CLI (``dossier ledger``), the ledger DAG and ``make airflow`` read,
    so all of them compare with, and move, the same anchor. ``environ`` is for building a
    subprocess's environment (``local_airflow``); everything else reads this process's.
    """
    return Path(environ.get("DOSSIER_LEDGER_ANCHOR") or home(environ) / "ledger.anchor")


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    master_key_file: Path
    kms_key_id: str | None
    acting_user: str | None
    policy_file: Path | None
    #: Staff are e-mailed at ``<username>@<staff_mail_domain>`` (no address is stored).
    staff_mail_domain: str
    compliance_recipients: tuple[str, ...]
    management_recipients: tuple[str, ...]
    #: Where reports are written: a local folder, or ``s3://bucket/prefix``.
    report_store: str
    #: Where documents' sealed objects are kept (Art. 18): a local folder, or
    #: ``s3://bucket/prefix`` through the Airflow connection ``dossier_s3``.
    document_store: str
    #: GX completeness runs whose validation results and Data Docs pages are kept.
    gx_keep_runs: int
    #: The ledger anchor (:func:`ledger_anchor`).
    ledger_anchor: Path


def database_url_setting() -> str | None:
    """:attr:`Settings.database_url` alone, read now: what every unit of work reads (the
    whole of :func:`settings` is a few dozen look-ups and paths, issue 16)."""
    return os.environ.get("DOSSIER_DATABASE_URL") or None


def policy_file_setting() -> Path | None:
    """:attr:`Settings.policy_file` alone, read now (every deadline counted reads it)."""
    policy_file = os.environ.get("DOSSIER_POLICY_FILE")
    return Path(policy_file) if policy_file else None


def settings() -> Settings:
    """Read the settings from the environment now (never cached: tests change it)."""
    return Settings(
        database_url=database_url_setting(),
        master_key_file=Path(
            os.environ.get("DOSSIER_MASTER_KEY_FILE") or home() / "master.key"
        ),
        kms_key_id=os.environ.get("DOSSIER_KMS_KEY_ID") or None,
        acting_user=os.environ.get("DOSSIER_USER") or None,
        policy_file=policy_file_setting(),
        staff_mail_domain=os.environ.get("DOSSIER_STAFF_MAIL_DOMAIN") or "staff.example.com",
        compliance_recipients=_addresses("DOSSIER_COMPLIANCE_TO", "compliance@staff.example.com"),
        management_recipients=_addresses("DOSSIER_MANAGEMENT_TO", "management@staff.example.com"),
        report_store=os.environ.get("DOSSIER_REPORT_STORE") or str(home() / "reports"),
        document_store=os.environ.get("DOSSIER_DOCUMENT_STORE") or str(home() / "documents"),
        gx_keep_runs=_at_least_one("DOSSIER_GX_KEEP_RUNS", 12),
        ledger_anchor=ledger_anchor(),
    )


def _addresses(name: str, default: str) -> tuple[str, ...]:
    """A comma-separated list of e-mail addresses from the environment."""
    return tuple(a.strip() for a in (os.environ.get(name) or default).split(",") if a.strip())


def _at_least_one(name: str, default: int) -> int:
    """A whole number, at least 1, from the environment."""
    from dossiers.core.errors import CannotRun

    value = (os.environ.get(name) or "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise CannotRun(f"{name}={value}: a whole number, at least 1")
    return int(value)
