"""Where documents are kept and under which keys (Arts. 15, 18).

The store is :func:`dossiers.core.objects.document_store` (``DOSSIER_DOCUMENT_STORE``: a
folder, by default ``<DOSSIER_HOME>/documents``, or ``s3://bucket/prefix``).

Every document is sealed (:mod:`dossiers.core.segments`) under a key derived from its
dossier's data key (the key ring), bound to the document's id, and stored under a random
storage key: nothing readable about the client or the file reaches the store. Destroying the
dossier's data key makes every copy of its documents unreadable (crypto-shredding, Art. 17).

Two keys are derived from the data key with HKDF, one per purpose, so the document stream's
nonces never share a key with the field seals of :mod:`dossiers.core.crypto`:

* the *content key* seals the document's segments;
* the *hash key* makes the keyed hash of the plaintext that finds duplicates within the
  dossier (a keyed hash: a copy of the file alone cannot confirm it is there), one key per
  scheme (:mod:`dossiers.documents.keyed_hash`).
"""

from __future__ import annotations

import secrets
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection

from dossiers.core.crypto import KeyRing
from dossiers.core.objects import LocalObjectStore, ObjectStore, S3ObjectStore, document_store
from dossiers.documents import keyed_hash

__all__ = ["Store", "content_key", "context", "document_store", "hash_key", "hasher",
           "new_storage_key"]

#: A store documents go to (the protocol, or one of the two stores it describes).
Store = ObjectStore | LocalObjectStore | S3ObjectStore


def _derive(data_key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"dossier documents/" + purpose).derive(data_key)


def content_key(conn: Connection, keyring: KeyRing, dossier_id: uuid.UUID) -> bytes:
    return _derive(keyring.key_for(conn, dossier_id), b"content")


def hash_key(conn: Connection, keyring: KeyRing, dossier_id: uuid.UUID,
             scheme: keyed_hash.KeyedHashScheme = keyed_hash.CURRENT) -> bytes:
    """The dossier's key of the keyed-hash ``scheme``."""
    return _derive(keyring.key_for(conn, dossier_id), keyed_hash.key_label(scheme))


def hasher(conn: Connection, keyring: KeyRing, dossier_id: uuid.UUID,
           scheme: keyed_hash.KeyedHashScheme | str = keyed_hash.CURRENT) -> keyed_hash.KeyedHash:
    """An empty keyed hash of ``scheme`` under the dossier's key for it."""
    scheme = keyed_hash.KeyedHashScheme(scheme)
    return keyed_hash.new(scheme, hash_key(conn, keyring, dossier_id, scheme))


def context(document_id: uuid.UUID) -> bytes:
    """What every segment of a document is bound to: the document's id."""
    return b"dossier_file/" + document_id.bytes


def new_storage_key() -> str:
    """A random, opaque storage key (two hex characters of fan-out, then the token)."""
    token = secrets.token_hex(16)
    return f"{token[:2]}/{token}"
