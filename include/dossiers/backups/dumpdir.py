"""A ``pg_dump --format=directory`` dump inside a backup (Arts. 14, 18): packed into one
stream (the framing of :mod:`.bundle`, a magic of its own), each file hashed as it passes.

The dump's directory holds ``toc.dat`` and one ``NNNN.dat`` per table with rows to dump
(``NNNN`` its dump id): the table's rows as ``COPY … TO STDOUT`` text in the order
``pg_dump`` read them, then ``pg_dump``'s end-of-data line (:data:`TERMINATOR`). A table's
digest (:data:`~.snapshot.DUMP_ORDER`) is the SHA-256 and line count of that text without
the terminator: exactly the rows the backup stores, hashed in the one read that packs them
— the server serialises every row once. The same digests are taken again when the stream
is unpacked (``verify``, and a restore before anything is written), and of the restored
tables afterwards.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from dossiers.backups import bundle
from dossiers.backups.files import CHUNK
from dossiers.backups.snapshot import Digesting, TableDigest
from dossiers.core.errors import CannotRun

MAGIC = b"DOSSIER-PGDIR-1\n"
#: What ``pg_dump`` writes after a table's COPY text (``\.`` and two empty lines): not
#: part of the rows, not hashed.
TERMINATOR = b"\\.\n\n\n"
#: ``3456; 0 16385 TABLE DATA public dossier postgres``: dump id, then the table's OID.
_TABLE_DATA = re.compile(r"^(\d+); \d+ (\d+) TABLE DATA ")


class FileDigest:
    """A file of the dump, hashed as it passes: a table's ``.dat`` as its COPY text (the
    terminator held back, and left out when it is the last thing in the file), any other
    file whole."""

    def __init__(self, name: str) -> None:
        self.name, self.size = name, 0
        self.is_table = name.endswith(".dat") and name[:-4].isdigit()
        self._digesting = Digesting()
        self._held = b""

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if not self.is_table:
            self._digesting.update(chunk)
            return
        if len(chunk) >= len(TERMINATOR):
            if self._held:
                self._digesting.update(self._held)
            self._digesting.update(chunk, len(chunk) - len(TERMINATOR))
            self._held = chunk[-len(TERMINATOR):]
        else:
            held = self._held + chunk
            cut = max(0, len(held) - len(TERMINATOR))
            if cut:
                self._digesting.update(held[:cut])
            self._held = held[cut:]

    def result(self) -> TableDigest:
        if self._held and self._held != TERMINATOR:
            self._digesting.update(self._held)
            self._held = b""
        return self._digesting.result()

    def as_dict(self) -> dict[str, Any]:
        digest = self.result()
        return {"size": self.size, "sha256": digest.sha256,
                **({"rows": digest.rows} if self.is_table else {})}


def _pack_file(path: Path, found: dict[str, FileDigest]) -> Iterator[bytes]:
    size = path.stat().st_size
    yield bundle.frame(path.name, size)
    digest = found[path.name] = FileDigest(path.name)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            yield chunk
    if digest.size != size:
        raise CannotRun(f"dump file {path.name} changed while it was packed")
    path.unlink()  # packed: the scratch empties as the dump is packed


def pack(folder: Path, found: dict[str, FileDigest], finished: Iterable[str] = ()
         ) -> Iterator[bytes]:
    """Every file of the dump in ``folder``, framed, each removed once packed: first those
    ``finished`` names as they come (``pg_dump`` still writing the others), then the rest in
    name order. ``found`` gets each file's digest as it is read (one read per file)."""
    yield MAGIC
    for name in finished:
        if name not in found and (folder / name).is_file():
            yield from _pack_file(folder / name, found)
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        yield from _pack_file(path, found)
    yield bundle.END


def unpack(chunks: Iterable[bytes | bytearray], into: Path | None = None
           ) -> dict[str, FileDigest]:
    """Every file of a packed dump, hashed (and written into ``into`` when given)."""
    found: dict[str, FileDigest] = {}
    for name, _, body in bundle.unpack(chunks, MAGIC):
        if "/" in name or name.startswith(".") or name in found:
            raise CannotRun(f"the packed dump holds a file named {name!r}")
        digest = found[name] = FileDigest(name)
        if into is None:
            for chunk in body:
                digest.update(chunk)
            continue
        with (into / name).open("wb") as out:
            for chunk in body:
                digest.update(chunk)
                out.write(chunk)
    return found


def table_files(pg_restore: str, folder: Path, names: dict[int, str]) -> dict[str, str]:
    """``NNNN.dat`` -> ``schema.table`` for every table whose rows the dump holds, from its
    table of contents (``pg_restore -l``); ``names`` maps the tables' OIDs to their names."""
    listed = subprocess.run([pg_restore, "--list", str(folder)], capture_output=True,
                            text=True, check=False)
    if listed.returncode != 0:
        said = listed.stderr.strip().splitlines()
        raise CannotRun(f"pg_restore --list of the dump failed: {said[-1] if said else listed.returncode}")
    files: dict[str, str] = {}
    for line in listed.stdout.splitlines():
        if (match := _TABLE_DATA.match(line)) is not None:
            oid = int(match.group(2))
            if oid not in names:
                raise CannotRun(f"the dump holds rows of a table (OID {oid}) the snapshot "
                                "does not list")
            files[f"{match.group(1)}.dat"] = names[oid]
    return files


def check(body: dict[str, Any], found: dict[str, FileDigest], where: str) -> list[str]:
    """Each file of the dump against the manifest: a table's rows and hash, named by table;
    the other files' size and hash. Empty when everything matches."""
    tables = {t["file"]: name for name, t in body["tables"].items() if t.get("file")}
    others: dict[str, Any] = body["database"].get("files", {})
    problems: list[str] = []
    for file in sorted(set(found) | set(tables) | set(others)):
        got = found.get(file)
        if file in tables:
            name, want = tables[file], body["tables"][tables[file]]
            if got is None:
                problems.append(f"{where}: table {name}: its rows ({file}) are missing")
                continue
            digest = got.result()
            if digest.rows != want["rows"]:
                problems.append(f"{where}: table {name}: {digest.rows} rows in {file}, the "
                                f"manifest says {want['rows']}")
            elif digest.sha256 != want["sha256"]:
                problems.append(f"{where}: table {name}: its rows in {file} differ from the "
                                "manifest's hash")
        elif file in others:
            if got is None:
                problems.append(f"{where}: {file} of the dump is missing")
            elif got.as_dict() != others[file]:
                problems.append(f"{where}: {file} of the dump differs from the manifest's hash")
        else:
            problems.append(f"{where}: {file} in the dump is not in the manifest")
    return problems
