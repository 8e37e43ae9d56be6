"""Encryption of personal and sensitive data (Arts. 10, 15, 18).

Envelope encryption:

* every dossier has its own random 256-bit **data key**; each personal field is sealed with
  AES-GCM under it, with the dossier, table, field and record as associated data, so a
  ciphertext copied to another record or field does not open;
* data keys are stored **wrapped** by a master key in the ``keyring`` schema, apart from
  the data: a data backup alone holds no usable key, and destroying a dossier's data key
  makes every copy of its personal data unreadable (crypto-shredding, Art. 17);
* the master key is a local key file by default (``DOSSIER_MASTER_KEY_FILE``), or an AWS
  KMS key (``DOSSIER_KMS_KEY_ID``) through boto3;
* exact matching (duplicate detection) uses an HMAC **blind index** under a separate key.

Nothing here logs or raises with a plaintext value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sys
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from dossiers.core import clock
from dossiers.core.config import settings
from dossiers.core.db import copy_text, copy_value
from dossiers.core.errors import CannotRun, Refused
from dossiers.core.schema import data_key

VERSION = b"\x01"
NONCE_BYTES = 12
#: The keyring row holding the blind-index key (not a dossier).
INDEX_KEY_ID = uuid.UUID(int=0)


class MasterKey(Protocol):
    key_id: str

    def wrap(self, key: bytes, context: str) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: str) -> bytes: ...


class LocalMasterKey:
    """A 256-bit key in a file readable only by its owner."""

    def __init__(self, key: bytes):
        self._aead = AESGCM(key)
        self.key_id = "local:" + hashlib.sha256(key).hexdigest()[:16]

    @classmethod
    def from_file(cls, path: Path, *, create: bool) -> LocalMasterKey:
        if not path.exists():
            if not create:
                raise CannotRun(f"master key file {path} does not exist (DOSSIER_MASTER_KEY_FILE)")
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(base64.b64encode(AESGCM.generate_key(bit_length=256)).decode() + "\n")
            print(f"dossier: created a new master key at {path}; back it up apart from the "
                  "database", file=sys.stderr)
        try:
            key = base64.b64decode(path.read_text().strip(), validate=True)
        except (OSError, ValueError) as exc:
            raise CannotRun(f"master key file {path} is unreadable: {exc.__class__.__name__}") \
                from None
        if len(key) != 32:
            raise CannotRun(f"master key file {path} does not hold a 256-bit key")
        return cls(key)

    def wrap(self, key: bytes, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, key, context.encode())

    def unwrap(self, wrapped: bytes, context: str) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context.encode())
        except InvalidTag:
            raise CannotRun("a data key does not open with this master key: wrong "
                            "DOSSIER_MASTER_KEY_FILE?") from None


class KmsMasterKey:
    """An AWS KMS key; the encryption context binds each wrapped key to its dossier."""

    def __init__(self, key_id: str, client: Any = None):
        import boto3  # only KMS deployments need boto3, which takes a second to import

        self.key_id = "kms:" + key_id
        self._kms_key = key_id
        self._client = client or boto3.client("kms")

    def wrap(self, key: bytes, context: str) -> bytes:
        out = self._client.encrypt(
            KeyId=self._kms_key, Plaintext=key, EncryptionContext={"dossier": context}
        )
        return bytes(out["CiphertextBlob"])

    def unwrap(self, wrapped: bytes, context: str) -> bytes:
        out = self._client.decrypt(
            CiphertextBlob=wrapped, EncryptionContext={"dossier": context}
        )
        return bytes(out["Plaintext"])


def master_key_from_settings() -> MasterKey:
    s = settings()
    if s.kms_key_id:
        return KmsMasterKey(s.kms_key_id)
    explicit = bool(os.environ.get("DOSSIER_MASTER_KEY_FILE"))
    return LocalMasterKey.from_file(s.master_key_file, create=not explicit)


@dataclass(frozen=True)
class Field:
    """Where a sealed value lives; its associated data binds it to that place."""

    table: str
    column: str
    record: str

    def aad(self, dossier_id: uuid.UUID) -> bytes:
        return f"{dossier_id}/{self.table}.{self.column}/{self.record}".encode()


class WrappedKey(NamedTuple):
    """A new data key, its wrapped form (what is stored) and when it was made."""

    key: bytes
    wrapped: bytes
    made: datetime


class KeyRing:
    """Data keys per dossier: created, unwrapped (cached in memory), destroyed."""

    def __init__(self, master: MasterKey | None = None, cache_size: int = 4096):
        self.master = master or master_key_from_settings()
        self._cache: OrderedDict[uuid.UUID, bytes] = OrderedDict()
        self._cache_size = cache_size
        self._index_key: bytes | None = None

    def _remember(self, dossier_id: uuid.UUID, key: bytes) -> None:
        self._cache[dossier_id] = key
        self._cache.move_to_end(dossier_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def create_keys(self, conn: Connection, dossier_ids: list[uuid.UUID]) -> dict[uuid.UUID, bytes]:
        """Make a fresh random data key for each dossier (one COPY for all); return them."""
        keys = self.make_keys(dossier_ids)
        self.store_keys(conn, keys)
        return {dossier_id: k.key for dossier_id, k in keys.items()}

    def make_keys(self, dossier_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, WrappedKey]:
        """Fresh random data keys, wrapped, not stored yet (:meth:`store_keys`): an import
        makes and uses them while the server is still storing the previous chunk."""
        return self.wrap_keys({dossier_id: new_data_key() for dossier_id in dossier_ids})

    def wrap_keys(self, keys: Mapping[uuid.UUID, bytes]) -> dict[uuid.UUID, WrappedKey]:
        """Data keys made by :func:`new_data_key` elsewhere (an import's worker processes),
        wrapped by the master key here, ready for :meth:`store_keys`."""
        made = clock.now()
        return {dossier_id: WrappedKey(key, self.master.wrap(key, str(dossier_id)), made)
                for dossier_id, key in keys.items()}

    def store_keys(self, conn: Connection, keys: Mapping[uuid.UUID, WrappedKey]) -> None:
        """Store keys from :meth:`make_keys` (one COPY); a key made but never stored seals
        nothing that is kept."""
        # Spelled as COPY text here, one write: an import stores 100,000 keys (issue 16).
        master = copy_value(self.master.key_id)
        copy_text(conn, data_key, ("dossier_id", "master_key_id", "wrapped_key", "created_at"),
                  "".join([f"{dossier_id}\t{master}\t\\\\x{k.wrapped.hex()}\t{k.made.isoformat()}\n"
                           for dossier_id, k in keys.items()]))
        for dossier_id, k in list(keys.items())[-self._cache_size:]:
            self._remember(dossier_id, k.key)

    def key_for(self, conn: Connection, dossier_id: uuid.UUID) -> bytes:
        key = self._cache.get(dossier_id)
        if key is not None:
            return key
        wrapped = conn.execute(
            select(data_key.c.wrapped_key).where(data_key.c.dossier_id == dossier_id)
        ).scalar_one_or_none()
        if wrapped is None:
            raise Refused("its data key has been destroyed or never existed",
                          record=f"dossier {dossier_id}")
        key = self.master.unwrap(wrapped, str(dossier_id))
        self._remember(dossier_id, key)
        return key

    def key_from(self, dossier_id: uuid.UUID, wrapped: bytes | None) -> bytes:
        """The data key from its wrapped form as just read (with the dossier, in the same
        statement); ``None`` means destroyed or never made, refused even if cached here."""
        if wrapped is None:
            self._cache.pop(dossier_id, None)
            raise Refused("its data key has been destroyed or never existed",
                          record=f"dossier {dossier_id}")
        key = self._cache.get(dossier_id)
        if key is not None:
            return key
        key = self.master.unwrap(wrapped, str(dossier_id))
        self._remember(dossier_id, key)
        return key

    def destroy(self, conn: Connection, dossier_id: uuid.UUID) -> None:
        """Crypto-shred: every copy of the dossier's personal data becomes unreadable."""
        conn.execute(
            update(data_key).where(data_key.c.dossier_id == dossier_id)
            .values(wrapped_key=None, destroyed_at=clock.now())
        )
        self._cache.pop(dossier_id, None)

    # --- sealing --------------------------------------------------------------------------

    def seal(self, conn: Connection, dossier_id: uuid.UUID, where: Field,
             value: str | None) -> bytes | None:
        if value is None:
            return None
        return seal(self.key_for(conn, dossier_id), value, where.aad(dossier_id))

    def open(self, conn: Connection, dossier_id: uuid.UUID, where: Field,
             blob: bytes | None) -> str | None:
        if blob is None:
            return None
        return open_sealed(self.key_for(conn, dossier_id), blob, where.aad(dossier_id))

    # --- blind index ----------------------------------------------------------------------

    def index_key(self, conn: Connection) -> bytes:
        if self._index_key is None:
            # Made once per database; concurrent first users agree on the stored one.
            conn.execute(pg_insert(data_key).values(
                dossier_id=INDEX_KEY_ID, master_key_id=self.master.key_id,
                wrapped_key=self.master.wrap(AESGCM.generate_key(bit_length=256),
                                             str(INDEX_KEY_ID)),
                created_at=clock.now(),
            ).on_conflict_do_nothing())
            wrapped = conn.execute(
                select(data_key.c.wrapped_key).where(data_key.c.dossier_id == INDEX_KEY_ID)
            ).scalar_one()
            self._index_key = self.master.unwrap(wrapped, str(INDEX_KEY_ID))
        return self._index_key

    def blind_index(self, conn: Connection, kind: str, value: str) -> bytes:
        """A keyed hash for exact matching of a normalised value (never reversible)."""
        return hmac.new(self.index_key(conn), f"{kind}:{value}".encode(), hashlib.sha256).digest()[:16]


def new_data_key() -> bytes:
    """A fresh random data key (AES-256-GCM) for one dossier."""
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, value: str, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return VERSION + nonce + AESGCM(key).encrypt(nonce, value.encode(), aad)


def open_sealed(key: bytes, blob: bytes, aad: bytes) -> str:
    if blob[:1] != VERSION:
        raise Refused("unknown ciphertext version", field="sealed value")
    try:
        return AESGCM(key).decrypt(blob[1:1 + NONCE_BYTES], blob[1 + NONCE_BYTES:], aad).decode()
    except InvalidTag:
        raise Refused("ciphertext does not open here (moved or tampered)",
                      field="sealed value") from None
