"""Where backups go and the key that seals them (Arts. 14, 18).

``DOSSIER_BACKUP_VAULT`` is the backup vault (default ``$DOSSIER_HOME/backups``);
``DOSSIER_KEYRING_BACKUP_VAULT`` keeps the key ring's own backups apart from it (default
``$DOSSIER_HOME/keyring-backups``). ``DOSSIER_BACKUP_KEY_FILE`` is the backup key (default
``$DOSSIER_HOME/backup.key``, created on first use): a key of its own, never the master key,
so that whoever holds the backups and the master key still cannot open a backup, and whoever
holds the backups and the backup key still cannot unwrap a data key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from dossiers.core.config import home, settings
from dossiers.core.errors import CannotRun


def vault_root() -> Path:
    return Path(os.environ.get("DOSSIER_BACKUP_VAULT") or home() / "backups")


def keyring_vault_root() -> Path:
    return Path(os.environ.get("DOSSIER_KEYRING_BACKUP_VAULT") or home() / "keyring-backups")


def backup_key_file() -> Path:
    return Path(os.environ.get("DOSSIER_BACKUP_KEY_FILE") or home() / "backup.key")


@dataclass(frozen=True)
class BackupKey:
    """A 256-bit key sealing backups; ``key_id`` names it in manifests (never the key)."""

    key: bytes

    @property
    def key_id(self) -> str:
        return "backup:" + hashlib.sha256(b"dossier backup key id" + self.key).hexdigest()[:16]

    def mac(self, body: bytes) -> str:
        """The manifest's MAC: HMAC-SHA256 under a key derived for manifests alone."""
        mac_key = hmac.new(self.key, b"dossier backup manifest v1", hashlib.sha256).digest()
        return hmac.new(mac_key, body, hashlib.sha256).hexdigest()

    @classmethod
    def from_file(cls, path: Path | None = None, *, create: bool = True) -> BackupKey:
        path = path or backup_key_file()
        if path.resolve() == settings().master_key_file.resolve():
            raise CannotRun(f"backup key file {path} is the master key file: the backup key "
                            "must be kept apart from the master key (Art. 18)")
        if not path.exists():
            if not create:
                raise CannotRun(f"backup key file {path} does not exist (DOSSIER_BACKUP_KEY_FILE)")
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(base64.b64encode(os.urandom(32)).decode() + "\n")
            print(f"dossier: created a new backup key at {path}; keep a copy apart from the "
                  "backups and from the master key", file=sys.stderr)
        try:
            key = base64.b64decode(path.read_text().strip(), validate=True)
        except (OSError, ValueError) as exc:
            raise CannotRun(f"backup key file {path} is unreadable: {exc.__class__.__name__}") \
                from None
        if len(key) != 32:
            raise CannotRun(f"backup key file {path} does not hold a 256-bit key")
        return cls(key)
