"""What an uploaded file must be before it becomes a document (Arts. 4, 15, 18).

Each refusal names the file, the field and the reason in one line (the name itself shown
with any control character escaped, so the line stays one line):

* ``name``: path separators, ``..``, control characters, over ``document_name_max_chars``,
  or an extension that is not one of ``document_file_types``;
* ``content``: empty, over ``document_max_bytes``, or content whose sniffed type
  (``filetype``, never the extension) is not allowed or is not what the extension says
  (an executable renamed ``.pdf``);
* ``type``: not one of the document types of Art. 6.

:class:`Inspector` checks the content while it streams past, so the size limit and the type
are enforced without ever holding the file: it raises inside the stream, and the store's
all-or-nothing ``put`` leaves no object behind.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import filetype

from dossiers.core.errors import Refused
from dossiers.core.pipeline import Behind
from dossiers.core.policy import policy
from dossiers.core.vocabulary import DocumentType
from dossiers.documents.keyed_hash import KeyedHash

#: Bytes ``filetype`` reads to recognise a file (its own signature length).
SNIFF_BYTES = 8192
#: Chunks queued for the keyed hash at most (each one a chunk of the caller's, ~1 MiB).
HASH_DEPTH = 4
#: Other spellings of an allowed extension.
ALIASES = {"jpeg": "jpg", "tiff": "tif"}


def shown(name: str) -> str:
    """A file name as an error line shows it: quoted, control characters escaped, cut."""
    safe = "".join(ch if unicodedata.category(ch) != "Cc" else repr(ch)[1:-1] for ch in name)
    return repr(safe[:80] + ("…" if len(safe) > 80 else ""))


def record_of(name: str) -> str:
    return f"file {shown(name)}"


def check_name(name: str) -> str:
    """The extension the name says (lower case, aliases resolved); refuses a bad name."""
    record = record_of(name)
    limit = policy().document_name_max_chars
    if not name.strip():
        raise Refused("is empty", record=record, field="name")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise Refused("contains control characters", record=record, field="name")
    if "/" in name or "\\" in name:
        raise Refused("contains a path separator; give the file's name only", record=record,
                      field="name")
    if ".." in name:
        raise Refused("contains '..'", record=record, field="name")
    if len(name) > limit:
        raise Refused(f"is {len(name)} characters, over {limit} "
                      f"({policy().article('document_name_max_chars')})", record=record,
                      field="name")
    stem, dot, extension = name.rpartition(".")
    extension = ALIASES.get(extension.lower(), extension.lower())
    allowed = policy().document_file_types
    if not dot or not stem or extension not in allowed:
        raise Refused(f"its extension is not one of {', '.join(allowed)} "
                      f"({policy().article('document_file_types')})", record=record,
                      field="name")
    return extension


def check_type(name: str, document_type: str) -> DocumentType:
    try:
        return DocumentType(document_type)
    except ValueError:
        raise Refused(f"unknown document type {document_type[:40]!r}; one of "
                      f"{', '.join(DocumentType)} (Art. 6)", record=record_of(name),
                      field="type") from None


@dataclass
class Inspector:
    """Watches a file's content stream past: its size (refused over the limit or empty), its
    sniffed type (refused unless allowed and what the extension says), and its keyed hash
    (``keyed``, an empty :mod:`~dossiers.documents.keyed_hash` of the dossier)."""

    name: str
    extension: str
    keyed: KeyedHash
    max_bytes: int = field(default_factory=lambda: int(policy().document_max_bytes))
    size: int = 0
    media_type: str = ""
    _done: bool = False

    def watch(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """``chunks`` as ``bytes``, checked on the way; the keyed hash is computed on a
        thread of its own (:class:`~dossiers.core.pipeline.Behind`), beside the sealing
        that consumes what this yields (issue 11: a 1 GiB add used one core)."""
        head = bytearray()
        sniffed = False
        with Behind(self.keyed.update, depth=HASH_DEPTH, name="document-hash") as hasher:
            for chunk in chunks:
                if not chunk:
                    continue
                if not isinstance(chunk, bytes):  # the hash reads it after we move on
                    chunk = bytes(chunk)
                self._count(chunk)
                hasher.feed(chunk)
                if sniffed:
                    yield chunk
                    continue
                if not head and len(chunk) >= SNIFF_BYTES:
                    self._sniff(chunk[:SNIFF_BYTES])
                    sniffed = True
                    yield chunk
                    continue
                head += chunk
                if len(head) >= SNIFF_BYTES:
                    self._sniff(bytes(head[:SNIFF_BYTES]))
                    sniffed = True
                    yield bytes(head)
                    head.clear()
            if not self.size:
                raise Refused("is empty", record=record_of(self.name), field="content")
            if not sniffed:
                self._sniff(bytes(head))
                yield bytes(head)
        self._done = True

    def _count(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise Refused(f"is over the limit of {self.max_bytes} bytes "
                          f"({policy().article('document_max_bytes')})",
                          record=record_of(self.name), field="content")

    def _sniff(self, head: bytes) -> None:
        kind = filetype.guess(head)
        record = record_of(self.name)
        allowed = policy().document_file_types
        if kind is None:
            raise Refused(f"its content is of no recognisable type; allowed: "
                          f"{', '.join(allowed)}", record=record, field="content")
        found = ALIASES.get(kind.extension, kind.extension)
        if found not in allowed:
            raise Refused(f"its content is {kind.mime} ({found}), not an allowed type "
                          f"({policy().article('document_file_types')})", record=record,
                          field="content")
        if found != self.extension:
            raise Refused(f"its content is {found} ({kind.mime}) but its name says "
                          f".{self.extension}", record=record, field="content")
        self.media_type = kind.mime

    @property
    def digest(self) -> bytes:
        """The keyed hash; complete once :meth:`watch` has run to its end."""
        assert self._done, "the keyed hash of a stream not watched to its end"
        return self.keyed.digest()
