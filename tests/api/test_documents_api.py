"""Documents through the REST API (issue 11): a streamed multipart upload and a streamed
download, with real Airflow JWTs, the real database and the local document store.

A Planning proposal uploaded by a planning liaison, filed by the archivist, downloaded
byte-identical by a planning colleague only once a grant with ``documents`` in scope is
approved; bad uploads are 422 naming the file, the field and the reason, and leave nothing.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import unquote

import pytest

from dossiers.core import db
from dossiers.local import samples
from dossiers.workflows import staff

from helpers import scalar

pytestmark = [pytest.mark.integration, pytest.mark.api]

MARKER = "MARKER-api-51c0-proposal"


@pytest.fixture(autouse=True)
def _own_store(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DOSSIER_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "documents"


def _objects(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def dossier_no(client, company, as_user, form_row) -> str:
    with db.transaction() as conn:
        staff.add(conn, "chen.cs", "qian.plan", "planning", ["dept_head"], date(2025, 1, 2),
                  agreement_ref="NDA-qian.plan")  # Art. 19
    form_id = client.post("/forms", json=[form_row], headers=as_user("wang.market")).json()[
        "accepted"][0]["form_id"]
    assert client.post(f"/forms/{form_id}/review", json={"decision": "approve"},
                       headers=as_user("zhao.market")).status_code == 200
    made = client.post("/dossiers", json={"form_id": form_id}, headers=as_user("li.archive"))
    return str(made.json()["dossier_no"])


def _upload(client, headers, dossier_no: str, name: str, content: bytes, kind: str = "proposal"):
    return client.post("/documents", params={"dossier_no": dossier_no, "type": kind},
                       files={"file": (name, content, "application/octet-stream")},
                       headers=headers)


def test_proposal_uploaded_filed_and_downloaded_only_through_a_grant(
        client, as_user, dossier_no, _own_store) -> None:
    content = samples.pdf("Campaign proposal", ["Spring campaign.", MARKER])
    added = _upload(client, as_user("sun.plan"), dossier_no, "proposal.pdf", content)
    assert added.status_code == 201, added.text
    doc = added.json()
    assert doc["name"].startswith("北風電商-策劃方案-") and doc["size"] == len(content)
    document_id = doc["document_id"]

    colleague = as_user("qian.plan")
    refused = client.get(f"/documents/{document_id}", headers=colleague)
    assert refused.status_code == 403 and "documents" in refused.json()["detail"]
    assert client.get("/documents", params={"dossier_no": dossier_no},
                      headers=colleague).status_code == 403
    grant = client.post("/queries", headers=colleague, json={
        "dossier_no": dossier_no, "purpose": "campaign review", "scope": ["documents"],
        "until": "2099-01-01"}).json()["grant_id"]
    assert client.post(f"/queries/{grant}/approve",
                       headers=as_user("li.archive")).status_code == 200
    got = client.get(f"/documents/{document_id}", headers=colleague)
    assert got.status_code == 200 and got.content == content
    assert got.headers["content-type"] == "application/octet-stream"
    disposition = got.headers["content-disposition"]
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == doc["name"]
    listed = client.get("/documents", params={"dossier_no": dossier_no}, headers=colleague).json()
    assert [d["document_id"] for d in listed] == [document_id]

    assert client.post(f"/documents/{document_id}/file",
                       headers=as_user("sun.plan")).status_code == 403
    filed = client.post(f"/documents/{document_id}/file", headers=as_user("li.archive"))
    assert filed.status_code == 200 and filed.json()["in_time"] is True

    for path in _objects(_own_store):
        assert MARKER.encode() not in path.read_bytes()
    assert scalar("SELECT count(*) FROM access_log WHERE actor = 'qian.plan' AND "
                  "action = 'document.read' AND allowed") == 1


BAD = {
    "path separator": ("../proposal.pdf", None, "name"),
    "backslash": ("C:\\temp\\proposal.pdf", None, "name"),
    "too long": ("p" * 201 + ".pdf", None, "name"),
    "empty": ("proposal.pdf", b"", "content"),
    "executable renamed .pdf": ("proposal.pdf", b"MZ\x90\x00" + bytes(3000), "content"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_upload_is_a_422_naming_file_field_reason_and_leaves_nothing(
        client, as_user, dossier_no, _own_store, case) -> None:
    name, content, field = BAD[case]
    if content is None:
        content = samples.pdf("Proposal", ["text"])
    answer = _upload(client, as_user("sun.plan"), dossier_no, name, content)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith("file '") and f": {field}: " in detail
    assert scalar("SELECT count(*) FROM dossier_file") == 0
    assert scalar("SELECT count(*) FROM dossier_file_upload") == 0
    assert _objects(_own_store) == []


def test_a_body_that_is_no_upload_is_refused(client, as_user, dossier_no, _own_store) -> None:
    headers = as_user("sun.plan")
    params = {"dossier_no": dossier_no, "type": "proposal"}
    plain = client.post("/documents", params=params, content=b"%PDF-1.4", headers={
        **headers, "content-type": "application/pdf"})
    assert plain.status_code == 422 and "multipart/form-data" in plain.json()["detail"]
    other_part = client.post("/documents", params=params, headers=headers,
                             files={"attachment": ("a.pdf", b"%PDF-1.4", "application/pdf")})
    assert other_part.status_code == 422 and "no file part named 'file'" in other_part.json()["detail"]
    unknown = client.post("/documents", params={**params, "type": "brochure"}, headers=headers,
                          files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")})
    assert unknown.status_code == 422 and "type" in unknown.json()["detail"]
    anonymous = client.post("/documents", params=params,
                            files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")})
    assert anonymous.status_code == 401
    assert _objects(_own_store) == [] and scalar("SELECT count(*) FROM dossier_file_upload") == 0


def test_a_damaged_document_is_never_served(client, as_user, dossier_no, _own_store) -> None:
    content = samples.png(5)
    doc = _upload(client, as_user("li.archive"), dossier_no, "chart.png", content,
                  "effect_data").json()
    (path,) = _objects(_own_store)
    data = bytearray(path.read_bytes())
    data[30] ^= 0x01
    path.write_bytes(bytes(data))
    answer = client.get(f"/documents/{doc['document_id']}", headers=as_user("li.archive"))
    assert answer.status_code == 422 and doc["document_id"] in answer.json()["detail"]
    path.unlink()
    missing = client.get(f"/documents/{doc['document_id']}", headers=as_user("li.archive"))
    assert missing.status_code == 422 and "missing" in missing.json()["detail"]
