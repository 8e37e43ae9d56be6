"""Destruction (Art. 17): eligibility and legal holds, the request form and its gates, the
re-check inside the destroying transaction, crypto-shredding, tombstones, paper, and the
register that a restore of an older copy cannot get past.

Dossiers go through the real intake, review, creation and filing path, then are terminated
in 2023 (over the 3 years of Art. 17(1) before today). Approvals are given in-process, gate
by gate, as the CLI and the Airflow approval tasks give them (``decide``).
"""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from dossiers.core import clock, db, directory, ledger
from dossiers.core.config import SHANGHAI
from dossiers.core.crypto import Field, KeyRing
from dossiers.core.errors import NotFound, PermissionDenied, Refused
from dossiers.core.objects import LocalObjectStore
from dossiers.core.policy import policy
from dossiers.destruction import certificate, eligibility, holds, requests
from dossiers.destruction.execution import Executed, Stopped, confirm, execute, record_paper
from dossiers.destruction.register import DestructionRegister
from dossiers.workflows import creation, lifecycle

from helpers import act, database_dump, form_row, import_forms, rows, scalar

pytestmark = pytest.mark.integration

TERMINATED = date(2023, 1, 16)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(10), SHANGHAI)


def _client(i: int) -> dict[str, str]:
    return form_row(client_name_zh=f"北風{i}號電商", client_name_en=f"Northwind {i} GmbH",
                    contact_email=f"greta{i}@northwind{i}.example.de",
                    contact_phone=f"+49 30 {7000000 + i}", collected_on="2026-09-01",
                    registered_address=f"Unter den Linden {i}",
                    org_structure=f"Vogel family holding {i}")


def secrets_of(i: int) -> list[str]:
    """What a client's dossier says of it: sealed (contact) and kept in clear (the rest)."""
    return ["Greta Vogel", f"greta{i}@northwind{i}.example.de", f"+49 30 {7000000 + i}",
            *clear_of(i)]


def clear_of(i: int) -> list[str]:
    return [f"Unter den Linden {i}", f"Vogel family holding {i}"]


def make_dossiers(tmp_path: Path, count: int, *, start: int = 0,
                  terminated_on: date | None = TERMINATED) -> list[str]:
    """``count`` filed dossiers of the market liaison, terminated with no prospect."""
    report = import_forms(tmp_path, [_client(i) for i in range(start, start + count)],
                          today=date(2026, 9, 10))
    assert not report["rejected"], report
    numbers = []
    for accepted in report["accepted"]:
        form_id = uuid.UUID(accepted["form_id"])
        with db.transaction() as conn:
            head = directory.load_actor(conn, "zhao.market")
            archivist = directory.load_actor(conn, "li.archive")
            creation.review_form(conn, head, form_id, approve=True, at=_at(date(2026, 9, 11)))
            made = creation.create_dossier(conn, KeyRing(), archivist, form_id,
                                           at=_at(date(2026, 9, 14)))
            creation.file_dossier(conn, archivist, uuid.UUID(made["dossier_id"]),
                                  cabinet="電商", shelf=1, at=_at(date(2026, 9, 15)))
            if terminated_on:
                lifecycle.change_stage(conn, archivist, made["dossier_no"], "active")
                lifecycle.change_stage(conn, archivist, made["dossier_no"], "terminated",
                                       terminated_on=terminated_on, further_cooperation=False)
        numbers.append(made["dossier_no"])
    return numbers


def approve_all(request_id: uuid.UUID, *, qa: bool = True) -> None:
    for user, gate in (("chen.cs", requests.CS_HEAD), ("zhao.market", "department:market"),
                       ("mgmt.wu", requests.MANAGEMENT)):
        act(user, lambda c, a, g=gate: requests.decide(c, a, request_id, g, approve=True))
    if qa:
        act("qa.he", lambda c, a: requests.decide(c, a, request_id, requests.QA_SUPERVISOR,
                                                  approve=True))


def ask(numbers: list[str]) -> uuid.UUID:
    made = act("li.archive", lambda c, a: requests.request(
        c, a, [requests.Item(n) for n in numbers]))
    return uuid.UUID(str(made.request_id))


@pytest.fixture
def register(tmp_path: Path) -> DestructionRegister:
    return DestructionRegister(LocalObjectStore(tmp_path / "register"))


def run(request_id: uuid.UUID, register: DestructionRegister) -> Executed | Stopped:
    return act("li.archive", lambda c, a: execute(c, KeyRing(), a, request_id,
                                                  register=register))


def _state() -> tuple:
    return tuple(rows(sql) for sql in (
        "SELECT * FROM destruction_request", "SELECT * FROM destruction_item",
        "SELECT * FROM destruction_approval", "SELECT count(*) FROM dossier",
        "SELECT count(*) FROM ledger_entry"))


# --- eligibility and holds --------------------------------------------------------------------


def test_eligible_by_the_sweep_and_by_request_and_holds_block(company: Any, tmp_path: Path) -> None:
    old = make_dossiers(tmp_path, 2)
    recent = make_dossiers(tmp_path, 1, start=5, terminated_on=date(2026, 10, 1))
    found = act("li.archive", lambda c, a: eligibility.eligible(c, a))
    assert [f.dossier_no for f in found] == old
    assert {f.condition for f in found} == {"cooperation_ended"}
    assert all(f.departments == ["market"] for f in found)

    hold = act("chen.cs", lambda c, a: holds.place(c, a, old[0], kind="litigation",
                                                   reference="Case 2026-Civ-17"))
    found = act("li.archive", lambda c, a: eligibility.eligible(c, a))
    assert found[0].blocked_by == ["litigation Case 2026-Civ-17"] and found[1].blocked_by == []

    before = _state()
    with pytest.raises(Refused, match=rf"dossier {old[0]}: legal_hold: held by a legal hold"):
        ask(old)
    with pytest.raises(Refused, match=rf"dossier {recent[0]}: condition: does not meet "
                                      r"condition \(1\)"):
        ask([recent[0]])
    with pytest.raises(Refused, match=rf"dossier {recent[0]}: reason: say why"):
        act("li.archive", lambda c, a: requests.request(
            c, a, [requests.Item(recent[0], "invalid", " ")]))
    with pytest.raises(PermissionDenied):
        act("wang.market", lambda c, a: requests.request(c, a, [requests.Item(old[1])]))
    assert _state() == before  # refused work writes nothing

    # by request, on condition (2), and with the hold released, condition (1)
    act("chen.cs", lambda c, a: holds.release(c, a, hold.hold_id, reason="case settled"))
    made = act("li.archive", lambda c, a: requests.request(c, a, [
        requests.Item(old[0]), requests.Item(recent[0], "invalid", "duplicate of a merged client")]))
    assert made.dossiers == [old[0], recent[0]]
    assert made.gates == ["cs_head", "department:market", "management", "qa_supervisor"]
    with pytest.raises(Refused, match="is already in destruction request"):
        ask([old[0]])


# --- the gates -------------------------------------------------------------------------------


def test_gates_in_order_each_by_its_own_person_once_and_a_rejection_stops(
        company: Any, tmp_path: Path) -> None:
    numbers = make_dossiers(tmp_path, 1)
    request_id = ask(numbers)

    def decide(user: str, gate: str, approve: bool = True, reason: str | None = None) -> Any:
        return act(user, lambda c, a: requests.decide(c, a, request_id, gate, approve=approve,
                                                      reason=reason))

    with pytest.raises(Refused, match="cannot decide the management gate now: the request "
                                      "waits for cs_head"):
        decide("mgmt.wu", "management")
    with pytest.raises(PermissionDenied, match=r"may not destruction\.review"):
        decide("zhao.market", "cs_head")
    assert decide("chen.cs", "cs_head").next_gates == ["department:market"]
    with pytest.raises(PermissionDenied, match=r"may not destruction\.recheck"):
        decide("chen.cs", "department:market")
    with pytest.raises(Refused, match="a rejection states its reason"):
        decide("zhao.market", "department:market", approve=False)
    rejected = decide("zhao.market", "department:market", approve=False,
                      reason="renewal talks under way")
    assert rejected.status == "rejected" and rejected.next_gates == []
    with pytest.raises(Refused, match="the request is rejected"):
        decide("mgmt.wu", "management")
    assert scalar("SELECT rejection_reason FROM destruction_request") == "renewal talks under way"
    assert [r[0] for r in rows("SELECT action FROM ledger_entry WHERE subject_type = "
                               "'destruction_request' ORDER BY seq")] == [
        "destruction.request", "destruction.approve", "destruction.reject"]
    assert scalar("SELECT count(*) FROM dossier") == 1  # nothing destroyed


def test_nobody_decides_two_gates(company: Any, tmp_path: Path) -> None:
    numbers = make_dossiers(tmp_path, 1)
    with db.transaction() as conn:  # a CS head who is also management
        conn.execute(text("INSERT INTO staff_role (staff_id, role) SELECT id, 'management' "
                          "FROM staff WHERE username = 'chen.cs'"))
    request_id = ask(numbers)
    act("chen.cs", lambda c, a: requests.decide(c, a, request_id, "cs_head", approve=True))
    act("zhao.market", lambda c, a: requests.decide(c, a, request_id, "department:market",
                                                    approve=True))
    with pytest.raises(PermissionDenied, match="already decided the cs_head gate"):
        act("chen.cs", lambda c, a: requests.decide(c, a, request_id, "management", approve=True))


# --- execution --------------------------------------------------------------------------------


def _plaintext_found(url: str, needles: list[str]) -> list[str]:
    dump = database_dump(url, "--data-only")
    return [n for n in needles if n in dump]


def test_execution_destroys_every_copy_and_leaves_a_tombstone(
        company: Any, tmp_path: Path, database_url: str, register: DestructionRegister) -> None:
    numbers = make_dossiers(tmp_path, 2)
    kept = make_dossiers(tmp_path, 1, start=7)
    assert _plaintext_found(database_url, secrets_of(0)) == clear_of(0)  # the rest sealed
    request_id = ask([numbers[0]])
    approve_all(request_id)
    dossier_id = scalar("SELECT dossier_id FROM destruction_item")

    done = run(request_id, register)
    assert isinstance(done, Executed)
    assert done.destroyed == [numbers[0]] and done.paper_volumes == {numbers[0]: [1]}
    kept_days = policy().keyring_backup_keep_days  # the backups' rule (Arts. 17(3), 18)
    assert done.unrecoverable_after == (done.executed_at + timedelta(days=kept_days)).date()
    assert scalar("SELECT unrecoverable_after FROM dossier_tombstone") == done.unrecoverable_after
    assert _plaintext_found(database_url, secrets_of(0)) == []
    assert _plaintext_found(database_url, secrets_of(7)) == clear_of(7)  # others untouched
    assert scalar("SELECT wrapped_key IS NULL AND destroyed_at IS NOT NULL FROM keyring.data_key "
                  "WHERE dossier_id = :d", d=dossier_id)
    with pytest.raises(NotFound):
        act("li.archive", lambda c, a: lifecycle.read(c, KeyRing(), a, numbers[0]))
    assert act("li.archive", lambda c, a: lifecycle.read(c, KeyRing(), a, kept[0]))["contacts"]
    assert rows("SELECT dossier_no, client_name_en, condition FROM dossier_tombstone") == [
        (numbers[0], "Northwind 0 GmbH", "cooperation_ended")]
    assert scalar("SELECT count(*) FROM dossier_number WHERE dossier_no = :n", n=numbers[0]) == 1
    assert [e.dossier_no for e in register.entries()] == [numbers[0]]
    with db.transaction() as conn:
        assert ledger.verify(conn).ok

    # paper, then both signatures (Art. 17(2)(3), (4))
    with pytest.raises(Refused, match=r"paper destruction of \S+ is not recorded"):
        act("qa.he", lambda c, a: confirm(c, a, request_id))
    record_day = clock.today()
    act("li.archive", lambda c, a: record_paper(c, a, request_id, numbers[0], method="shredding",
                                                destroyed_on=record_day,
                                                personnel=["li.archive", "qa.he"]))
    act("li.archive", lambda c, a: confirm(c, a, request_id))
    with pytest.raises(Refused, match="waits for signed:qa_supervisor"):
        act("li.archive", lambda c, a: certificate.certify(c, a, request_id))
    signed = act("qa.he", lambda c, a: confirm(c, a, request_id))
    assert signed.next_gates == []
    form = act("chen.cs", lambda c, a: requests.show(c, a, request_id))
    assert [d["gate"] for d in form.decisions] == [
        "cs_head", "department:market", "management", "qa_supervisor", "signed:archivist",
        "signed:qa_supervisor"]
    assert form.dossiers[0]["client_name_en"] == "Northwind 0 GmbH"

    # the signed certificate (Art. 17(2)(4)): any standard PDF verifier confirms it
    made = act("li.archive", lambda c, a: certificate.certify(c, a, request_id))
    path = Path(made.uri)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == made.sha256
    checked = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    assert "Signature is Valid." in checked.stdout, checked.stdout + checked.stderr
    assert "PAdES" in checked.stdout or "ETSI.CAdES.detached" in checked.stdout
    text_ = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                           check=True).stdout
    for expected in (numbers[0], "北風0號電商", "shredding", "archivist", "qa.he",
                     str(done.unrecoverable_after)):
        assert expected in text_, expected
    assert scalar("SELECT details->>'sha256' FROM ledger_entry WHERE action = "
                  "'destruction.certify'") == made.sha256
    tampered = tmp_path / "tampered.pdf"
    body = bytearray(path.read_bytes())
    at = body.index(b"/Title") + 8
    body[at] ^= 1
    tampered.write_bytes(bytes(body))
    broken = subprocess.run(["pdfsig", str(tampered)], capture_output=True, text=True, check=False)
    assert "Signature is Valid." not in broken.stdout


@pytest.mark.parametrize("change, named", [
    ("complaint", "an open complaint"),
    ("hold", "a legal hold (regulator SAMR-2026-88)"),
    ("loan", "an open loan of its paper"),
    ("cooperation", "new cooperation since the request"),
    ("grant", "a query grant used since the request (by sun.plan)"),
])
def test_a_condition_changed_before_execution_stops_it_and_names_it(
        company: Any, tmp_path: Path, register: DestructionRegister, change: str,
        named: str) -> None:
    from dossiers.workflows import loans, queries

    numbers = make_dossiers(tmp_path, 2)
    request_id = ask(numbers)
    approve_all(request_id)
    target = numbers[1]
    if change == "complaint":
        with db.transaction() as conn:
            conn.execute(text(
                "INSERT INTO feedback (dossier_id, received_on, kind, aspect, description) "
                "SELECT id, :d, 'complaint', 'execution', 'late delivery' FROM dossier "
                "WHERE dossier_no = :n"), {"d": clock.today(), "n": target})
    elif change == "hold":
        act("mgmt.wu", lambda c, a: holds.place(c, a, target, kind="regulator",
                                                reference="SAMR-2026-88"))
    elif change == "loan":
        act("sun.plan", lambda c, a: loans.request(c, a, [target], purpose="audit", period_wd=3))
    elif change == "cooperation":
        act("li.archive", lambda c, a: lifecycle.change_stage(c, a, target, "active"))
    elif change == "grant":
        grant = act("sun.plan", lambda c, a: queries.request(
            c, a, target, purpose="history", scope=["market"],
            expires_on=clock.today() + timedelta(days=10)))
        act("li.archive", lambda c, a: queries.decide(c, a, uuid.UUID(str(grant["grant_id"])),
                                                      approve=True))
        act("sun.plan", lambda c, a: lifecycle.read(c, KeyRing(), a, target))
    stopped = run(request_id, register)
    assert isinstance(stopped, Stopped)
    assert stopped.changed == {target: [named]}
    assert scalar("SELECT status FROM destruction_request") == "stopped"
    assert named in scalar("SELECT stop_reason FROM destruction_request")
    assert scalar("SELECT count(*) FROM dossier") == 2  # neither was destroyed
    assert list(register.entries()) == []
    assert scalar("SELECT count(*) FROM ledger_entry WHERE action = 'destruction.stop'") == 1


def test_execution_needs_approval_and_the_qa_supervisor(company: Any, tmp_path: Path,
                                                        register: DestructionRegister) -> None:
    request_id = ask(make_dossiers(tmp_path, 1))
    with pytest.raises(Refused, match="is requested: only an approved request is executed"):
        run(request_id, register)
    approve_all(request_id, qa=False)
    with pytest.raises(Refused, match="waits for the QA supervisor's confirmation"):
        run(request_id, register)
    with pytest.raises(PermissionDenied):
        act("chen.cs", lambda c, a: execute(c, KeyRing(), a, request_id, register=register))
    assert scalar("SELECT count(*) FROM dossier") == 1


# --- backups taken before the destruction (dossiers.backups) ----------------------------------


@pytest.fixture
def vaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalObjectStore:
    """The backup vaults, backup key, destruction register and document store of this test;
    the document store is returned."""
    monkeypatch.setenv("DOSSIER_BACKUP_VAULT", str(tmp_path / "vault"))
    monkeypatch.setenv("DOSSIER_KEYRING_BACKUP_VAULT", str(tmp_path / "keyring-vault"))
    monkeypatch.setenv("DOSSIER_BACKUP_KEY_FILE", str(tmp_path / "backup.key"))
    monkeypatch.setenv("DOSSIER_DESTRUCTION_REGISTER", str(tmp_path / "register"))
    monkeypatch.setenv("DOSSIER_DOCUMENT_STORE", str(tmp_path / "documents"))
    return LocalObjectStore(tmp_path / "documents")


def _with_document(numbers: list[str], store: LocalObjectStore) -> str:
    """A contract PDF in the first dossier; its storage key."""
    from dossiers.documents import adding
    from dossiers.local import samples

    act("wang.market", lambda c, a: adding.add(
        c, KeyRing(), a, numbers[0], name="contract.pdf", document_type="contract",
        chunks=[samples.pdf("Contract", ["Greta Vogel signs for Northwind 0 GmbH"])],
        object_store=store))
    return str(scalar("SELECT storage_key FROM dossier_file"))


def _execute_wired(request_id: uuid.UUID) -> Executed | Stopped:
    from dossiers.destruction import wiring

    return act("li.archive", lambda c, a: execute(c, KeyRing(), a, request_id,
                                                  **wiring.execution_seams()))


def test_a_restore_of_a_backup_taken_before_destruction_finds_it_still_destroyed(
        company: Any, tmp_path: Path, database_url: str, vaults: LocalObjectStore) -> None:
    from dossiers.backups import drill, full
    from dossiers.backups import restore as backup_restore

    numbers = make_dossiers(tmp_path, 2)
    storage_key = _with_document(numbers, vaults)
    request_id = ask([numbers[0]])
    approve_all(request_id)
    before = full.run_backup(database_url, "li.archive", vaults)  # the dossier is in it
    done = _execute_wired(request_id)
    assert isinstance(done, Executed) and done.documents_destroyed == 1
    assert storage_key not in set(vaults.keys())  # the document store holds it no more

    target = drill.scratch_database(database_url)
    try:
        restored_documents = LocalObjectStore(tmp_path / "restored-documents")
        result = backup_restore.restore(Path(before["location"]), target,
                                        documents_into=restored_documents,
                                        keyring=Path(before["keyring_location"]))
        assert result.ok, result.problems
        assert result.destroyed_again == [numbers[0]]
        assert _plaintext_found(target, secrets_of(0)) == []
        assert _plaintext_found(target, secrets_of(1)) == clear_of(1)  # the other one is back
        assert storage_key not in set(restored_documents.keys())
        with db.get_engine(target, app_role=False).connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM dossier WHERE dossier_no = :n"),
                                {"n": numbers[0]}).scalar_one() == 0
            assert conn.execute(text("SELECT dossier_no FROM dossier_tombstone")).scalars().all() \
                == [numbers[0]]
            assert conn.execute(text("SELECT count(*) FROM keyring.data_key WHERE "
                                     "wrapped_key IS NOT NULL AND dossier_id = :d"),
                                {"d": done_id(numbers[0])}).scalar_one() == 0
        db.dispose(target)
    finally:
        drill.drop_database(target)


def done_id(number: str) -> uuid.UUID:
    return uuid.UUID(str(scalar("SELECT dossier_id FROM dossier_tombstone WHERE dossier_no = :n",
                                n=number)))


def test_a_backup_and_the_master_key_after_the_key_ring_retention_open_nothing(
        company: Any, tmp_path: Path, database_url: str, vaults: LocalObjectStore) -> None:
    """Crypto-shredding (Art. 17): a full backup from before the destruction still holds the
    dossier's sealed rows and documents; once its key ring backup has expired (after
    ``keyring_backup_keep_days``, the date the record states), every key ring copy left was
    taken after the destruction, and with the master key nothing of the dossier opens."""
    from dossiers.backups import drill, full
    from dossiers.backups import restore as backup_restore
    from dossiers.documents.store import content_key

    numbers = make_dossiers(tmp_path, 2)
    _with_document(numbers, vaults)
    request_id = ask([numbers[0]])
    approve_all(request_id)
    before = full.run_backup(database_url, "li.archive", vaults)
    done = _execute_wired(request_id)
    assert isinstance(done, Executed) and done.unrecoverable_after is not None
    after = full.run_backup(database_url, "li.archive", vaults)  # a key ring copy from after
    destroyed = done_id(numbers[0])
    target = drill.scratch_database(database_url)
    try:
        # the retention has passed: the old key ring backup is gone; restore the old data
        # backup as it is (no re-application), then load the key ring as every copy left has it
        restored_documents = LocalObjectStore(tmp_path / "old-documents")
        result = backup_restore.restore(Path(before["location"]), target,
                                        documents_into=restored_documents,
                                        reapply_destructions=False)
        assert result.ok, result.problems
        assert _plaintext_found(target, clear_of(0)) == clear_of(0)  # the rows are in it
        newer = drill.scratch_database(database_url)
        try:
            backup_restore.restore(Path(after["location"]), newer,
                                   keyring=Path(after["keyring_location"]),
                                   reapply_destructions=False)
            keys = rows_of(newer, "SELECT dossier_id, master_key_id, wrapped_key, created_at, "
                                  "destroyed_at FROM keyring.data_key")
        finally:
            drill.drop_database(newer)
        with psycopg.connect(target.replace("+psycopg", ""), autocommit=True) as c:
            for row in keys:
                c.execute("INSERT INTO keyring.data_key (dossier_id, master_key_id, wrapped_key, "
                          "created_at, destroyed_at) VALUES (%s, %s, %s, %s, %s)", row)
            sealed = c.execute("SELECT ordinal, email_enc FROM contact WHERE dossier_id = %s",
                               (destroyed,)).fetchone()
            other = c.execute("SELECT dossier_id, ordinal, email_enc FROM contact WHERE "
                              "dossier_id <> %s", (destroyed,)).fetchone()
        assert sealed is not None and other is not None
        with db.get_engine(target, app_role=False).begin() as conn:
            keyring = KeyRing()
            assert keyring.open(conn, other[0], Field("contact", "email", str(other[1])), other[2])
            with pytest.raises(Refused, match="its data key has been destroyed"):
                keyring.open(conn, destroyed, Field("contact", "email", str(sealed[0])), sealed[1])
            with pytest.raises(Refused, match="its data key has been destroyed"):
                content_key(conn, keyring, destroyed)  # nor do its documents
        db.dispose(target)
    finally:
        drill.drop_database(target)


def rows_of(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url.replace("+psycopg", "")) as c:
        return [tuple(r) for r in c.execute(sql).fetchall()]


# --- the command line -------------------------------------------------------------------------


def test_the_command_line_from_request_to_signatures(company: Any, tmp_path: Path,
                                                     cli: Callable[..., Any],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOSSIER_DESTRUCTION_REGISTER", str(tmp_path / "register"))
    numbers = make_dossiers(tmp_path, 1)
    listed = cli("destruction", "eligible", "--as", "li.archive")
    assert listed.status == 0 and listed.json()[0]["dossier_no"] == numbers[0]
    made = cli("destruction", "request", numbers[0], "--as", "li.archive")
    assert made.status == 0, made.stderr
    request_id = made.json()["request_id"]
    for user, gate in (("chen.cs", "cs_head"), ("zhao.market", "department:market"),
                       ("mgmt.wu", "management"), ("qa.he", "qa_supervisor")):
        step = cli("destruction", "approve", request_id, "--gate", gate, "--as", user)
        assert step.status == 0, step.stderr
    refused = cli("destruction", "execute", request_id, "--as", "wang.market")
    assert refused.status == 1 and "may not destruction.execute" in refused.stderr
    done = cli("destruction", "execute", request_id, "--as", "li.archive")
    assert done.status == 0, done.stderr
    assert done.json()["destroyed"] == numbers
    assert (tmp_path / "register").is_dir()
    paper = cli("destruction", "paper", request_id, numbers[0], "--method", "burning", "--on",
                clock.today().isoformat(), "--personnel", "li.archive", "--personnel", "qa.he",
                "--as", "li.archive")
    assert paper.status == 0, paper.stderr
    for user in ("li.archive", "qa.he"):
        assert cli("destruction", "confirm", request_id, "--as", user).status == 0
    shown = cli("destruction", "show", request_id, "--as", "qa.he").json()
    assert shown["status"] == "executed" and shown["open_gates"] == []
    again = cli("destruction", "reapply")
    assert again.status == 0 and again.json() == {"registered": 1, "destroyed_again": []}


def test_a_timeout_in_the_approval_chain_rejects_the_form_never_approves(
        company: Any, tmp_path: Path) -> None:
    from dossiers.destruction import approvals
    from dossiers.workflows import approval_chains
    from dossiers.workflows.approval_chains import Decision, Request

    numbers = make_dossiers(tmp_path, 1)
    request_id = ask(numbers)
    with db.transaction() as conn:
        conf = approvals.destruction_conf(conn, request_id)
    chain = Request(conf["request_id"], conf["requested_by"], "dossier_destruction/t1",
                    "destruction", tuple(conf["departments"]))
    steps = {s.key: s for s in approvals.DESTRUCTION_STEPS}
    with db.transaction() as conn:
        approval_chains.record(conn, chain, steps["cs_head_review"], Decision.APPROVED, "chen.cs",
                               "eligible")
        approval_chains.record(conn, chain, steps["recheck_market"], Decision.TIMED_OUT, None,
                               "nobody answered within 5 days, 0:00:00")
        assert approvals.apply_chain(conn, chain) == "rejected"
    assert rows("SELECT gate, via FROM destruction_approval") == [("cs_head", "airflow")]
    assert scalar("SELECT rejection_reason FROM destruction_request").startswith(
        "recheck_market: timed_out")
    with pytest.raises(Refused, match="is rejected"):
        run(request_id, DestructionRegister(LocalObjectStore(tmp_path / "r")))


def test_the_kpi_scorecard_and_the_qa_inspection_count_destructions(
        company: Any, tmp_path: Path, register: DestructionRegister) -> None:
    from dossiers.duties import analysis, kpi

    numbers = make_dossiers(tmp_path, 3)
    executed = ask(numbers[:2])
    approve_all(executed)
    assert isinstance(run(executed, register), Executed)
    rejected = ask([numbers[2]])
    act("chen.cs", lambda c, a: requests.decide(c, a, rejected, "cs_head", approve=False,
                                                reason="still referenced"))
    month = clock.today().replace(day=1)
    half = month.replace(month=1 if month.month <= 6 else 7)
    with db.transaction() as conn:
        card = kpi.scorecard(conn, "month", month)
        inspection = analysis.qa_inspection(conn, half, [], True)
    expected = {"destruction_forms_executed": 1, "dossiers_destroyed": 2,
                "destruction_forms_rejected": 1, "destruction_forms_stopped": 0,
                "disclosures_packaged": 0, "cross_border_transfers": 0, "disclosures_rejected": 0}
    assert card["destruction_and_disclosure"] == expected
    assert inspection["destruction_and_disclosure"] == expected
