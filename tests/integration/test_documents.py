"""A dossier's electronic documents (issue 11; Arts. 6, 14-18), through the CLI and in-process
against a real PostgreSQL and the local document store under ``DOSSIER_HOME``.

Added by the department that supplies them, named ``<client>-<type>-<year>``, filed by the
archivist within 3 wd, stored sealed under random keys, read only by the liaison, the
archivist or through a grant with ``documents`` in scope; every bad input refused with one
line naming the file, the field and the reason, leaving neither a row nor an object.
"""

from __future__ import annotations

import os
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest

from dossiers.core import clock, db
from dossiers.core.config import home
from dossiers.core.crypto import KeyRing
from dossiers.local import samples
from dossiers.workflows import creation, staff

from helpers import act, as_owner, database_dump, form_row, rows, scalar, submitted

pytestmark = pytest.mark.integration

MARKER = "MARKER-7f3c-proposal-secret"


def store_root() -> Path:
    return home() / "documents"


def stored_objects() -> list[Path]:
    root = store_root()
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture(autouse=True)
def _own_store(tmp_path, monkeypatch) -> None:
    """Each test its own document store (``DOSSIER_HOME/documents``), empty at the start."""
    monkeypatch.setenv("DOSSIER_HOME", str(tmp_path / "home"))


@pytest.fixture
def dossier_no(company, tmp_path) -> str:
    """A created dossier of wang.market (Marketing) and a second planning liaison."""
    with db.transaction() as conn:
        staff.add(conn, "chen.cs", "zhou.plan", "planning", ["liaison"], date(2025, 1, 2),
                  agreement_ref="NDA-zhou.plan")  # Art. 19: reads need an agreement
    form_id = submitted(tmp_path, form_row())
    act("zhao.market", lambda c, a: creation.review_form(c, a, form_id, approve=True))
    made = act("li.archive", lambda c, a: creation.create_dossier(c, KeyRing(), a, form_id))
    return str(made["dossier_no"])


@pytest.fixture
def proposal(tmp_path) -> Path:
    path = tmp_path / "proposal.pdf"
    path.write_bytes(samples.pdf("Campaign proposal 2026", [
        "Spring campaign for the DE and AT markets.", MARKER]))
    assert MARKER.encode() in path.read_bytes()
    return path


def test_a_planning_proposal_added_filed_and_read_only_through_a_grant(
        cli, dossier_no, proposal, tmp_path, database_url) -> None:
    added = cli("documents", "add", dossier_no, str(proposal), "--type", "proposal",
                "--as", "sun.plan")
    assert added.status == 0, added.stderr
    doc = added.json()
    assert doc["name"] == "北風電商-策劃方案-2026.pdf" or doc["name"].startswith("北風電商-策劃方案-")
    assert doc["folder"] == "電商/potential/DE+AT" and doc["type"] == "proposal"
    assert doc["size"] == proposal.stat().st_size
    document_id = doc["document_id"]

    # The client's liaison and the archivist read it; the planning colleague only with a grant.
    listed = cli("documents", "list", dossier_no, "--as", "wang.market").json()
    assert [d["document_id"] for d in listed] == [document_id] and listed[0]["filed_at"] is None
    out = tmp_path / "out"
    out.mkdir()
    before = cli("documents", "get", document_id, "--output", str(out), "--as", "zhou.plan")
    assert before.status == 1 and "query grant" in before.stderr and "documents" in before.stderr
    assert list(out.iterdir()) == []
    assert cli("documents", "list", dossier_no, "--as", "zhou.plan").status == 1
    other_scope = cli("queries", "request", dossier_no, "--purpose", "campaign", "--scope", "needs",
                      "--until", "2099-01-01", "--as", "zhou.plan").json()["grant_id"]
    assert cli("queries", "approve", other_scope, "--as", "li.archive").status == 0
    assert cli("documents", "get", document_id, "--output", str(out),
               "--as", "zhou.plan").status == 1  # a grant without documents in scope
    grant = cli("queries", "request", dossier_no, "--purpose", "campaign", "--scope", "documents",
                "--until", "2099-01-01", "--as", "zhou.plan").json()["grant_id"]
    assert cli("queries", "approve", grant, "--as", "li.archive").status == 0
    got = cli("documents", "get", document_id, "--output", str(out), "--as", "zhou.plan")
    assert got.status == 0, got.stderr
    saved = Path(got.json()["path"])
    assert saved.name == doc["name"] and saved.read_bytes() == proposal.read_bytes()
    reads = rows("SELECT actor, action, allowed FROM access_log WHERE action LIKE 'document.%' "
                 "OR (action = 'dossier.read' AND NOT allowed) ORDER BY id")
    assert ("zhou.plan", "document.read", True) in reads
    assert ("zhou.plan", "dossier.read", False) in reads
    assert ("wang.market", "document.list", True) in reads

    # The marker is nowhere in the store, nor in a dump of the database.
    objects = stored_objects()
    assert len(objects) == 1 and objects[0].stat().st_size > proposal.stat().st_size
    for path in objects:
        assert MARKER.encode() not in path.read_bytes()
        assert "proposal" not in str(path.relative_to(store_root())).lower()
    dump = database_dump(database_url, "--no-owner", "--data-only")
    assert MARKER not in dump and "proposal.pdf" not in dump

    # The ledger carries the id, type, size and keyed hash: never content or a name.
    details = scalar("SELECT details::text FROM ledger_entry WHERE action = 'document.add'")
    assert document_id in details and '"type": "proposal"' in details
    assert MARKER not in details and "北風" not in details and "proposal.pdf" not in details
    content_hash = scalar("SELECT encode(content_hash, 'hex') FROM dossier_file")
    import hashlib

    assert content_hash != hashlib.sha256(proposal.read_bytes()).hexdigest()


def test_the_same_name_repeats_with_a_counter_and_the_same_content_is_refused(
        cli, dossier_no, proposal, tmp_path) -> None:
    second = tmp_path / "second.pdf"
    second.write_bytes(samples.pdf("Revised proposal", ["Version 2"]))
    first = cli("documents", "add", dossier_no, str(proposal), "--type", "proposal",
                "--confirmed-on", "2026-11-02", "--as", "sun.plan").json()
    again = cli("documents", "add", dossier_no, str(second), "--type", "proposal",
                "--confirmed-on", "2026-11-03", "--as", "sun.plan").json()
    assert first["name"] == "北風電商-策劃方案-2026.pdf"
    assert again["name"] == "北風電商-策劃方案-2026(2).pdf"
    duplicate = cli("documents", "add", dossier_no, str(proposal), "--type", "minutes",
                    "--as", "li.archive")
    assert duplicate.status == 1
    assert duplicate.stderr.count("\n") == 1 and "content" in duplicate.stderr
    assert first["document_id"] in duplicate.stderr
    assert scalar("SELECT count(*) FROM dossier_file") == 2
    assert scalar("SELECT count(*) FROM dossier_file_upload") == 0
    assert len(stored_objects()) == 2


def test_documents_hashed_by_the_older_scheme_still_verify_and_find_their_duplicates(
        cli, dossier_no, proposal, tmp_path, database_url) -> None:
    """The keyed hash is versioned (issue 11): new documents are hashed with keyed BLAKE3; a
    document added before it keeps its HMAC-SHA256, still verifies, and adding its content
    again is still refused, while another content of the same size is not."""
    import hmac

    from dossiers.documents import store
    from dossiers.documents.keyed_hash import KeyedHashScheme

    first = cli("documents", "add", dossier_no, str(proposal), "--type", "proposal",
                "--as", "sun.plan").json()
    content = proposal.read_bytes()
    dossier_id = scalar("SELECT dossier_id FROM dossier_file")
    with db.transaction() as conn:
        keyed = store.hasher(conn, KeyRing(), dossier_id)
        keyed.update(content)
        old_key = store.hash_key(conn, KeyRing(), dossier_id, KeyedHashScheme.HMAC_SHA256)
    assert rows("SELECT content_hash_scheme, content_hash FROM dossier_file") == [
        ("blake3", keyed.digest())]
    details = scalar("SELECT details::text FROM ledger_entry WHERE action = 'document.add'")
    assert '"keyed_hash_scheme": "blake3"' in details and keyed.digest().hex() in details

    # The row as a document added before the BLAKE3 scheme is: HMAC-SHA256 under the key
    # labelled "content hash" (what migration 0015 marks every earlier row with).
    legacy = hmac.new(old_key, content, "sha256").hexdigest()
    as_owner(database_url, "UPDATE dossier_file SET content_hash_scheme = 'hmac-sha256', "
                           f"content_hash = '\\x{legacy}'")
    verified = cli("documents", "verify", "--as", "li.archive")
    assert verified.status == 0, verified.stderr

    again = cli("documents", "add", dossier_no, str(proposal), "--type", "minutes",
                "--as", "li.archive")
    assert again.status == 1 and "content" in again.stderr
    assert first["document_id"] in again.stderr
    assert scalar("SELECT count(*) FROM dossier_file") == 1 and len(stored_objects()) == 1

    same_size = tmp_path / "same-size.pdf"  # one byte differs: no duplicate
    changed = bytearray(content)
    changed[len(changed) // 2] ^= 0x01
    same_size.write_bytes(bytes(changed))
    added = cli("documents", "add", dossier_no, str(same_size), "--type", "minutes",
                "--as", "li.archive")
    assert added.status == 0, added.stderr
    assert sorted(rows("SELECT content_hash_scheme FROM dossier_file")) == [
        ("blake3",), ("hmac-sha256",)]
    assert cli("documents", "verify", dossier_no, "--as", "li.archive").status == 0

    as_owner(database_url, "UPDATE dossier_file SET content_hash = '\\x00' "
                           "WHERE content_hash_scheme = 'hmac-sha256'")
    found = cli("documents", "verify", "--as", "li.archive")
    assert found.status == 1 and "does not match its recorded keyed hash" in found.stderr
    assert found.stderr.count("\n") == 1  # the legacy document only


def _tamper(how: str) -> None:
    (path,) = stored_objects()
    data = bytearray(path.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0x01
    elif how == "truncate":
        del data[-100:]
    elif how == "missing":
        path.unlink()
        return
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["flip", "truncate", "missing"])
def test_a_damaged_object_is_reported_by_get_never_served(cli, dossier_no, proposal, tmp_path,
                                                           how) -> None:
    doc = cli("documents", "add", dossier_no, str(proposal), "--type", "proposal",
              "--as", "sun.plan").json()
    _tamper(how)
    out = tmp_path / "got.pdf"
    got = cli("documents", "get", doc["document_id"], "--output", str(out), "--as", "li.archive")
    assert got.status == 1 and got.stderr.count("\n") == 1
    assert f"document {doc['document_id']}" in got.stderr
    assert not out.exists() and list(tmp_path.glob(".partial-*")) == []


def test_a_swapped_segment_is_caught(cli, dossier_no, tmp_path) -> None:
    """Two documents of three 1 MiB segments each: two segments of one exchanged, and a
    segment of the other document put in its place, are each caught by get."""
    from dossiers.core.segments import HEADER_BYTES, SEGMENT_SIZE, TAG_BYTES

    ids = []
    for i in range(2):
        path = tmp_path / f"chart{i}.png"
        path.write_bytes(samples.png(i) + os.urandom(2 * SEGMENT_SIZE + 5000))
        ids.append(cli("documents", "add", dossier_no, str(path), "--type", "effect_data",
                       "--as", "li.archive").json()["document_id"])
    keys = dict(rows("SELECT id::text, storage_key FROM dossier_file"))
    first, second = (store_root() / keys[i] for i in ids)
    original, other = first.read_bytes(), second.read_bytes()
    step = SEGMENT_SIZE + TAG_BYTES

    def segment(data: bytes, n: int) -> bytes:
        return data[HEADER_BYTES + n * step:HEADER_BYTES + (n + 1) * step]

    exchanged = original[:HEADER_BYTES] + segment(original, 1) + segment(original, 0) + \
        original[HEADER_BYTES + 2 * step:]
    foreign = original[:HEADER_BYTES] + segment(original, 0) + segment(other, 1) + \
        original[HEADER_BYTES + 2 * step:]
    for damaged in (exchanged, foreign):
        assert len(damaged) == len(original)
        first.write_bytes(damaged)
        got = cli("documents", "get", ids[0], "--output", str(tmp_path / "out.png"),
                  "--as", "li.archive")
        assert got.status == 1 and "does not open" in got.stderr, got.stderr
        assert not (tmp_path / "out.png").exists()
    first.write_bytes(original)
    assert cli("documents", "get", ids[0], "--output", str(tmp_path / "out.png"),
               "--as", "li.archive").status == 0


def test_filing_within_the_clock_and_a_delay_through_the_cs_head(cli, dossier_no, proposal,
                                                                  tmp_path) -> None:
    from dossiers.calendar.workdays import default_calendar

    confirmed = date(2026, 11, 2)
    doc = cli("documents", "add", dossier_no, str(proposal), "--type", "proposal",
              "--confirmed-on", confirmed.isoformat(), "--as", "sun.plan").json()
    due = default_calendar().add(confirmed, 3).date  # Art. 15: 3 wd after confirmation
    assert doc["filing_due"] == due.isoformat()
    assert rows("SELECT kind, due_on FROM clock WHERE subject_type = 'dossier_file'") == [
        ("document_filing", due)]
    refused = cli("documents", "file", doc["document_id"], "--as", "sun.plan")
    assert refused.status == 1 and "may not dossier.file" in refused.stderr
    overdue = cli("documents", "delay-filing", doc["document_id"], "--until", "2026-11-09",
                  "--reason", "scanner broken", "--as", "li.archive")  # asked too late
    assert overdue.status == 1 and "before the deadline passes" in overdue.stderr

    second = tmp_path / "minutes.docx"
    second.write_bytes(samples.docx("Kick-off minutes", ["Agreed the spring campaign."]))
    today = clock.today()
    other = cli("documents", "add", dossier_no, str(second), "--type", "minutes",
                "--as", "sun.plan").json()
    # A delay: asked by the archivist before the deadline, decided by the CS head, ≤ 5 wd.
    beyond = cli("documents", "delay-filing", other["document_id"], "--until",
                 default_calendar().add(today, 6).date.isoformat(), "--reason", "scanner broken",
                 "--as", "li.archive")
    assert beyond.status == 1 and "never takes more than 5 wd" in beyond.stderr
    until = default_calendar().add(today, 5).date
    delay = cli("documents", "delay-filing", other["document_id"], "--until", until.isoformat(),
                "--reason", "scanner broken", "--as", "li.archive")
    assert delay.status == 0, delay.stderr
    assert cli("dossiers", "approve-delay", str(delay.json()["delay_id"]),
               "--as", "chen.cs").status == 0
    assert scalar("SELECT due_on FROM clock WHERE subject_id = :id",
                  id=other["document_id"]) == until

    filed = cli("documents", "file", other["document_id"], "--as", "li.archive")
    assert filed.status == 0 and filed.json()["in_time"] is True
    again = cli("documents", "file", other["document_id"], "--as", "li.archive")
    assert again.status == 1 and "already filed" in again.stderr
    listed = {d["document_id"]: d for d in
              cli("documents", "list", dossier_no, "--as", "li.archive").json()}
    assert listed[other["document_id"]]["filed_at"] and \
        listed[other["document_id"]]["filing_due"] is None
    assert listed[doc["document_id"]]["filing_due"] == due.isoformat()
    assert scalar("SELECT count(*) FROM ledger_entry WHERE action = 'document.file'") == 1


@pytest.mark.parametrize("how", ["flip", "truncate", "missing"])
def test_verify_names_each_damaged_document(cli, dossier_no, proposal, tmp_path, how) -> None:
    doc = cli("documents", "add", dossier_no, str(proposal), "--type", "proposal",
              "--as", "sun.plan").json()
    sound = tmp_path / "chart.png"
    sound.write_bytes(samples.png(3))
    kept = cli("documents", "add", dossier_no, str(sound), "--type", "effect_data",
               "--as", "li.archive").json()
    ok = cli("documents", "verify", "--as", "li.archive")
    assert ok.status == 0 and ok.json() == {"checked": 2, "bad": []}
    keys = dict(rows("SELECT id::text, storage_key FROM dossier_file"))
    path = store_root() / keys[doc["document_id"]]
    data = bytearray(path.read_bytes())
    if how == "flip":
        data[-20] ^= 0x80
        path.write_bytes(bytes(data))
    elif how == "truncate":
        path.write_bytes(bytes(data[:-17]))
    else:
        path.unlink()
    found = cli("documents", "verify", "--as", "qa.he")
    assert found.status == 1
    report = found.json()
    assert report["checked"] == 2
    assert [b["document_id"] for b in report["bad"]] == [doc["document_id"]]
    assert doc["document_id"] in found.stderr and kept["document_id"] not in found.stderr
    assert cli("documents", "verify", dossier_no, "--as", "wang.market").status == 1  # not allowed


def _policy_file(tmp_path: Path, **rules: int) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text("[rules]\n" + "".join(f"{k} = {v}\n" for k, v in rules.items()))
    return path


BAD_INPUTS = {
    # case: (file name, content, type, user, field named)
    "empty": ("empty.pdf", b"", "proposal", "sun.plan", "content"),
    "over the limit": ("big.pdf", None, "proposal", "sun.plan", "content"),
    "executable renamed .pdf": ("setup.pdf", b"MZ\x90\x00\x03" + bytes(4000), "proposal",
                                "sun.plan", "content"),
    "ELF renamed .png": ("chart.png", b"\x7fELF\x02\x01\x01" + bytes(4000), "effect_data",
                         "li.archive", "content"),
    "PNG named .pdf": ("chart.pdf", samples.png(1), "proposal", "sun.plan", "content"),
    "text file": ("notes.pdf", b"just some text " * 100, "proposal", "sun.plan", "content"),
    "path separator": ("../../etc/passwd.pdf", None, "proposal", "sun.plan", "name"),
    "backslash": ("C:\\temp\\a.pdf", None, "proposal", "sun.plan", "name"),
    "dot dot": ("a..pdf", None, "proposal", "sun.plan", "name"),
    "control character": ("a\nb.pdf", None, "proposal", "sun.plan", "name"),
    "too long": ("x" * 197 + ".pdf", None, "proposal", "sun.plan", "name"),
    "executable extension": ("setup.exe", b"MZ\x90\x00" + bytes(100), "proposal", "sun.plan",
                             "name"),
    "unknown type": ("proposal.pdf", None, "brochure", "sun.plan", "type"),
    "not a supplier": ("proposal.pdf", None, "proposal", "wang.market", "document.add"),
    "may not add": ("proposal.pdf", None, "proposal", "qa.he", "document.add"),
    "a colleague's client": ("contract.pdf", None, "contract", "ma.market", "document.add"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_every_bad_input_is_refused_in_one_line_and_leaves_nothing(
        cli, dossier_no, proposal, tmp_path, monkeypatch, case) -> None:
    name, data, kind, user, field = BAD_INPUTS[case]
    with db.transaction() as conn:
        staff.add(conn, "chen.cs", "ma.market", "market", ["liaison"], date(2025, 1, 2),
                  agreement_ref="NDA-ma.market")
    if case == "over the limit":
        monkeypatch.setenv("DOSSIER_POLICY_FILE", str(_policy_file(
            tmp_path, document_max_bytes=proposal.stat().st_size - 1)))
    path = tmp_path / "upload.bin"
    path.write_bytes(proposal.read_bytes() if data is None else data)
    ledger_before = scalar("SELECT count(*) FROM ledger_entry")
    refused = cli("documents", "add", dossier_no, str(path), "--name", name, "--type", kind,
                  "--as", user)
    assert refused.status == 1, (refused.stdout, refused.stderr)
    line = refused.stderr
    assert line.count("\n") == 1 and line.startswith("dossier: "), line
    assert field in line
    if field != "document.add":
        assert line.startswith("dossier: file '"), line
    assert refused.stdout == ""
    assert scalar("SELECT count(*) FROM dossier_file") == 0
    assert scalar("SELECT count(*) FROM dossier_file_upload") == 0
    assert scalar("SELECT count(*) FROM ledger_entry") == ledger_before
    assert scalar("SELECT count(*) FROM clock WHERE subject_type = 'dossier_file'") == 0
    assert stored_objects() == []


def test_an_interrupted_upload_leaves_nothing_and_the_sweep_removes_what_a_crash_left(
        dossier_no, proposal) -> None:
    from dossiers.documents import adding, sweep
    from dossiers.documents.store import document_store, new_storage_key

    def interrupted():
        yield proposal.read_bytes()
        raise KeyboardInterrupt  # the connection dropped, the operator pressed ^C

    with pytest.raises(KeyboardInterrupt):
        act("sun.plan", lambda c, a: adding.add(c, KeyRing(), a, dossier_no, name="p.pdf",
                                                chunks=interrupted(), document_type="proposal"))
    assert stored_objects() == [] and scalar("SELECT count(*) FROM dossier_file_upload") == 0

    kept = act("sun.plan", lambda c, a: adding.add(
        c, KeyRing(), a, dossier_no, name="p.pdf", chunks=[proposal.read_bytes()],
        document_type="proposal"))
    # What a killed process leaves: an upload row with its object (old, and one in progress),
    # and an object nobody registered.
    store = document_store()
    crashed, running, orphan = (new_storage_key() for _ in range(3))
    for key in (crashed, running, orphan):
        store.put(key, [b"sealed bytes"])
    d_id = scalar("SELECT id FROM dossier WHERE dossier_no = :n", n=dossier_no)
    with db.transaction() as conn:
        from sqlalchemy import text

        for key, hours in ((crashed, 30), (running, 1)):
            conn.execute(text("INSERT INTO dossier_file_upload VALUES (:k, :d, 1, :at)"),
                         {"k": key, "d": d_id, "at": clock.now() - timedelta(hours=hours)})
    refused = None
    try:
        act("wang.market", lambda c, a: sweep.sweep(c, a))
    except Exception as exc:  # a liaison may not sweep
        refused = exc
    assert refused is not None and "document.sweep" in str(refused)
    swept = act("li.archive", lambda c, a: sweep.sweep(c, a))
    assert (swept.stale_uploads, swept.orphan_objects, swept.kept_in_progress) == (1, 1, 1)
    left = {str(p.relative_to(store_root())) for p in stored_objects()}
    assert left == {running, scalar("SELECT storage_key FROM dossier_file WHERE id = :i",
                                    i=uuid.UUID(kept.document_id))}
    assert rows("SELECT storage_key FROM dossier_file_upload") == [(running,)]
    assert scalar("SELECT count(*) FROM ledger_entry WHERE action = 'document.sweep'") == 1


def test_the_duties_see_unfiled_and_damaged_documents(cli, dossier_no, proposal,
                                                      tmp_path) -> None:
    """The SLA watch reminds the archivist of a document's filing clock, the owner check
    lists the overdue filing for the liaison, and the sampling audit opens the sampled
    dossiers' documents and checks their paper counterpart (Arts. 12, 14, 15)."""
    from dossiers.calendar.workdays import default_calendar
    from dossiers.duties import owner_check, sampling_audit, sla_watch

    confirmed = date(2026, 11, 2)
    doc = cli("documents", "add", dossier_no, str(proposal), "--type", "proposal",
              "--confirmed-on", confirmed.isoformat(), "--as", "sun.plan").json()
    due = date.fromisoformat(doc["filing_due"])
    with db.transaction() as conn:
        summary, messages = sla_watch.watch(conn, default_calendar().add(due, -1).date)
    assert summary["due_soon"] == 1
    (message,) = messages
    assert "li.archive" in message.to[0]
    assert f"document_filing of document {doc['document_id']} of dossier {dossier_no}" in \
        message.text

    late = default_calendar().add(due, 2).date
    with db.transaction() as conn:
        checked, mails = owner_check.owner_check(conn, date(2026, 11, 1), [], late)
    assert checked["gaps"] >= 1
    text = next(m.text for m in mails if "wang.market" in m.to[0])
    assert "document.unfiled" in text and "1 document(s) not filed" in text

    # The audit: the document's object altered, and it is filed with no paper volume.
    cli("documents", "file", doc["document_id"], "--as", "li.archive")
    (path,) = stored_objects()
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with db.transaction() as conn:
        audit = sampling_audit.sampling_audit(conn, date(2026, 10, 1), [], late, seed=7)
    assert audit["sample"] == 1
    found = dict(rows("SELECT check_id, description FROM finding WHERE duty = 'sampling_audit'"))
    assert doc["document_id"] in found["document.integrity"]
    assert "no paper volume" in found["document.paper_missing"]


def test_the_seeded_company_has_real_documents_and_the_demo_lists_them(
        database_url, capsys) -> None:
    from dossiers.documents import integrity
    from dossiers.local import demo
    from dossiers.local.seed import seed_company

    summary = seed_company(clients=12, seed=5)
    assert summary["totals"]["dossier_file"] >= 5
    kinds = dict(rows("SELECT media_type, count(*) FROM dossier_file GROUP BY media_type"))
    assert set(kinds) & {"application/pdf", "image/png",
                         "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    assert len(stored_objects()) == summary["totals"]["dossier_file"]
    demo._show_documents()
    shown = capsys.readouterr().out
    assert "dossier documents list" in shown and "-" in shown
    with db.transaction() as conn:
        from dossiers.core.permissions import Actor

        checked = integrity.verify(conn, KeyRing(), Actor.system())
    assert checked.ok and checked.checked == summary["totals"]["dossier_file"]


def test_a_renamed_clients_documents_follow_the_new_name(cli, dossier_no, proposal,
                                                         tmp_path) -> None:
    """Arts. 13, 15: once the name change is applied, list and get name the documents after
    the new name, and each rename is a ledger entry without any name in it."""
    from dossiers.workflows import updates

    doc = cli("documents", "add", dossier_no, str(proposal), "--type", "proposal",
              "--confirmed-on", "2026-11-02", "--as", "sun.plan").json()
    assert doc["name"] == "北風電商-策劃方案-2026.pdf"
    keys = KeyRing()
    change = act("wang.market", lambda c, a: updates.submit(
        c, keys, a, dossier_no, {"client_name_zh": "南風電商"}, reason="renamed",
        evidence="registry extract", collection_channel="qualification_document"))
    change_id = uuid.UUID(change["change_id"])
    act("zhao.market", lambda c, a: updates.review(c, a, change_id, approve=True))
    act("chen.cs", lambda c, a: updates.approve_important(c, a, change_id, approve=True))
    act("li.archive", lambda c, a: updates.apply(c, keys, a, change_id))
    (listed,) = cli("documents", "list", dossier_no, "--as", "wang.market").json()
    assert listed["name"] == "南風電商-策劃方案-2026.pdf"
    got = cli("documents", "get", doc["document_id"], "--output", str(tmp_path),
              "--as", "li.archive").json()
    assert Path(got["path"]).name == "南風電商-策劃方案-2026.pdf"
    (details,) = [d for (d,) in rows("SELECT details::text FROM ledger_entry "
                                     "WHERE action = 'document.rename'")]
    assert doc["document_id"] in details and "風" not in details
