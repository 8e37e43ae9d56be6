"""A streamed ``multipart/form-data`` body: the one file part, read as it arrives.

Starlette's own form parsing spools an upload to a temporary file, which would put a
document's plaintext on the server's disk; here the body is parsed chunk by chunk
(``python-multipart``'s push parser) and the file part's bytes are handed on as they
arrive, so memory stays bounded and nothing is written but the sealed object.

A route using it is a plain ``def`` (FastAPI runs it in a worker thread) and reads the
request's body from there with ``anyio.from_thread``.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.message import Message

import anyio.from_thread
from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from dossiers.core.errors import Refused

RECORD = "request body"


def body_chunks(request: Request) -> Iterator[bytes]:
    """The raw request body as it arrives (from a worker thread)."""
    stream = request.stream().__aiter__()

    async def following() -> bytes:
        return await stream.__anext__()

    while True:
        try:
            chunk: bytes = anyio.from_thread.run(following)
        except StopAsyncIteration:
            return
        except ClientDisconnect:
            raise Refused("the client went away before the upload ended; nothing was kept",
                          record=RECORD) from None
        if chunk:
            yield chunk


class FilePart:
    """The part named ``field`` of a multipart body: its file name, then its bytes."""

    def __init__(self, raw: Iterator[bytes], content_type: str, field: str = "file"):
        kind, options = parse_options_header(content_type.encode("latin-1", "replace"))
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise Refused("multipart/form-data with a boundary expected, with the file as the "
                          f"part named {field!r}", record=RECORD, field="content-type")
        self._raw, self._field = raw, field
        self._events: list[tuple[str, bytes]] = []
        self._parser = MultipartParser(boundary, {
            "on_part_begin": lambda: self._events.append(("begin", b"")),
            "on_header_field": lambda d, s, e: self._add_header_field(d[s:e]),
            "on_header_value": lambda d, s, e: self._add_header_value(d[s:e]),
            "on_headers_finished": lambda: self._events.append(("headers", b"")),
            "on_part_data": lambda d, s, e: self._events.append(("data", bytes(d[s:e]))),
            "on_part_end": lambda: self._events.append(("end", b"")),
        })
        self.filename = self._find_part()

    def _add_header_field(self, data: bytes) -> None:
        self._events.append(("field", bytes(data)))

    def _add_header_value(self, data: bytes) -> None:
        self._events.append(("value", bytes(data)))

    def _feed(self) -> bool:
        """Parse the next chunk of the body; False at its end."""
        chunk = next(self._raw, None)
        if chunk is None:
            self._parser.finalize()
            return False
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise Refused(f"malformed multipart body ({exc})", record=RECORD) from None
        return True

    def _find_part(self) -> str:
        """Read up to the headers of the file part; its file name."""
        name: str | None = None
        header_field, header_value = b"", b""
        headers: dict[str, str] = {}
        while True:
            while self._events:
                kind, data = self._events.pop(0)
                if kind == "begin":
                    headers, header_field, header_value = {}, b"", b""
                elif kind == "field":
                    if header_value:
                        headers[header_field.decode("latin-1").lower()] = self._text(header_value)
                        header_field, header_value = b"", b""
                    header_field += data
                elif kind == "value":
                    header_value += data
                elif kind == "headers":
                    if header_field:
                        headers[header_field.decode("latin-1").lower()] = self._text(header_value)
                    disposition = Message()
                    disposition["content-disposition"] = headers.get("content-disposition", "")
                    if disposition.get_param("name", header="content-disposition") == self._field:
                        name = disposition.get_filename()
                        if name is None:
                            raise Refused(f"the part {self._field!r} has no file name",
                                          record=RECORD, field=self._field)
                        return name  # the events left are its content (chunks())
            if not self._feed():
                raise Refused(f"no file part named {self._field!r}", record=RECORD,
                              field=self._field)

    @staticmethod
    def _text(value: bytes) -> str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("a part's header is not UTF-8", record=RECORD) from None

    def chunks(self) -> Iterator[bytes]:
        """The file part's bytes as they arrive, up to the part's end."""
        while True:
            while self._events:
                kind, data = self._events.pop(0)
                if kind == "data":
                    if data:
                        yield data
                elif kind == "end":
                    self._drain()
                    return
            if not self._feed():
                raise Refused(f"the body ended inside the part {self._field!r} (truncated "
                              "upload)", record=RECORD, field=self._field)

    def _drain(self) -> None:
        """Read what follows the file part (other parts are ignored), so the request ends."""
        self._events.clear()
        while self._feed():
            self._events.clear()
