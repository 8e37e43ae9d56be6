"""The keyed hash of a document's plaintext, versioned (Art. 18; issue 11).

It finds a duplicate within a dossier and is what ``documents verify`` checks a decrypted
document against. It is keyed with a key derived from the dossier's data key (never a bare
digest: anyone holding a copy of a file could confirm it is there), so it is comparable
only within a dossier, and destroyed with the data key.

Each ``dossier_file`` row keeps the scheme its hash was made with
(``content_hash_scheme``):

* :attr:`~KeyedHashScheme.HMAC_SHA256`, the documents added before issue 11's performance
  work. HMAC-SHA256 is one sequential chain: on this machine's cores it alone took longer
  than ``cp`` of the same file, so it bounded the add.
* :attr:`~KeyedHashScheme.BLAKE3` (:data:`CURRENT`), BLAKE3 in keyed mode: a tree hash,
  several times faster on one core (AVX2) and spread over the cores on large updates.

A row is always verified with its own scheme. A new document is hashed with :data:`CURRENT`
only, so a duplicate hashed by another scheme cannot be found by comparing hashes; since
duplicates have the same size, the add hashes the new document by an older scheme only
when the dossier holds a document of that scheme and of exactly that size
(:func:`dossiers.documents.adding.add` reads its own stored object back for it), so no
duplicate goes unnoticed and the common add pays nothing for the old rows.

Each scheme has its own key (HKDF with its own label), so no key serves two algorithms.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

import blake3

from dossiers.core.vocabulary import KeyedHashScheme

__all__ = ["CURRENT", "KeyedHash", "KeyedHashScheme", "key_label", "new"]

#: The scheme new documents are hashed with.
CURRENT = KeyedHashScheme.BLAKE3


class KeyedHash(Protocol):
    def update(self, data: bytes | bytearray, /) -> object: ...

    def digest(self) -> bytes: ...


def key_label(scheme: KeyedHashScheme) -> bytes:
    """The HKDF label of the scheme's key (HMAC-SHA256 keeps the label its rows were made
    with)."""
    if scheme is KeyedHashScheme.HMAC_SHA256:
        return b"content hash"
    return b"content hash/" + scheme.value.encode()


def new(scheme: KeyedHashScheme | str, key: bytes) -> KeyedHash:
    """An empty keyed hash of ``scheme`` under ``key`` (32 bytes)."""
    scheme = KeyedHashScheme(scheme)
    if scheme is KeyedHashScheme.HMAC_SHA256:
        return hmac.new(key, digestmod=hashlib.sha256)
    # AUTO: BLAKE3 splits a large update over the cores (Rayon); it releases the GIL.
    return blake3.blake3(key=key, max_threads=blake3.blake3.AUTO)
