"""Documents (Arts. 6, 15, 16, 18): a dossier's files, uploaded and downloaded as streams.

An upload is `multipart/form-data` with the file as the part named `file` (its file name is
checked: no path, no control characters, an allowed extension); its type and confirmation
date are query parameters. The body is read as it arrives and sealed on the way to the
document store; nothing of it is kept when it is refused. A download is the document's
content (`application/octet-stream`, named by Art. 15's rule in `Content-Disposition`),
served only as stored: a stored object that is missing or does not open is a 422 before
any byte is sent, and a later segment that does not open ends the response short of its
`Content-Length`. The list, the upload and the download are allowed as in the CLI (the
client's liaison, the archivist, or a grant whose scope includes `documents`); every read
is logged.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from dossiers.api.deps import ERRORS, StaffUser, keyring, run
from dossiers.api.uploads import FilePart, body_chunks
from dossiers.core.pipeline import ahead
from dossiers.core.vocabulary import DocumentType
from dossiers.documents import adding, filing, reading

router = APIRouter(prefix="/documents", tags=["documents"], responses=ERRORS)

DossierNoQuery = Annotated[str, Query(
    min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$",
    description="the dossier number, e.g. 海外-2026-電商-001", examples=["海外-2026-電商-001"])]

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary",
                                    "description": "the file (PDF, DOCX, XLSX, PPTX, PNG, JPG, "
                                                   "TIF; its content decides, not its name)"}},
        }}},
    },
}

DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {"description": "the document's content, named in Content-Disposition",
          "content": {"application/octet-stream": {"schema": {"type": "string",
                                                              "format": "binary"}}}},
}


class Added(BaseModel):
    document_id: uuid.UUID
    dossier_no: str
    name: str
    type: DocumentType
    size: int
    folder: str
    filing_due: date
    filing_due_provisional: bool


class DocumentSummary(BaseModel):
    document_id: uuid.UUID
    name: str
    type: DocumentType
    year: int
    folder: str
    size: int
    media_type: str
    important: bool
    confirmed_on: date
    uploaded_by: str
    uploaded_at: datetime
    filed_at: datetime | None
    filing_due: date | None


class Filed(BaseModel):
    document_id: uuid.UUID
    dossier_no: str
    filed_at: datetime
    due: date
    in_time: bool


@router.get("", summary="A dossier's documents (its liaison, the archivist, or a grant "
                        "with `documents` in scope; logged)")
def list_documents(dossier_no: DossierNoQuery, user: StaffUser) -> list[DocumentSummary]:
    return [DocumentSummary.model_validate(d, from_attributes=True)
            for d in run(user, lambda conn, actor: reading.list_documents(conn, actor, dossier_no))]


@router.post("", status_code=201, openapi_extra=UPLOAD_BODY,
             summary="Upload a document to a dossier (streamed multipart, the part `file`)")
def upload(request: Request, dossier_no: DossierNoQuery,
           document_type: Annotated[DocumentType, Query(alias="type", description=(
               "the document type (Art. 6)"))],
           user: StaffUser, confirmed_on: date | None = None, important: bool = False) -> Added:
    def work(conn: Any, actor: Any) -> adding.Added:
        part = FilePart(body_chunks(request), request.headers.get("content-type", ""))
        return adding.add(conn, keyring(), actor, dossier_no, name=part.filename,
                          chunks=part.chunks(), document_type=document_type,
                          confirmed_on=confirmed_on, important=important)

    return Added.model_validate(run(user, work), from_attributes=True)


@router.get("/{document_id}", response_class=StreamingResponse, responses=DOWNLOAD,
            summary="Download a document's content (streamed; logged)")
def download(document_id: uuid.UUID, user: StaffUser) -> StreamingResponse:
    got = run(user, lambda conn, actor: reading.get(conn, keyring(), actor, document_id))
    # Read and opened on a thread of their own, a few segments ahead of the response's
    # sends (as `documents get` does, issue 11); closed with the response.
    # Each segment's own buffer passed on as a view (uncopied; Starlette sends memoryviews).
    chunks = (memoryview(piece) for piece in
              ahead(got.chunks, depth=reading.OPEN_AHEAD, name="document-open"))
    first = next(chunks, memoryview(b""))  # a missing or damaged start is an error, not a 200
    ascii_name = f"document.{got.name.rsplit('.', 1)[-1]}"
    return StreamingResponse(
        itertools.chain([first], chunks), media_type="application/octet-stream",
        headers={"Content-Length": str(got.size), "X-Content-Type-Options": "nosniff",
                 "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                                        f"filename*=UTF-8''{quote(got.name)}"})


@router.post("/{document_id}/file", summary="File a document (archivist; Art. 15, 3 wd)")
def file_document(document_id: uuid.UUID, user: StaffUser) -> Filed:
    return Filed.model_validate(run(user, lambda conn, actor: filing.file(conn, actor, document_id)),
                                from_attributes=True)
