"""Submitting collection forms (Art. 11 step 1; ``collection-form.md``).

The file is read whole first (a refused file writes nothing). In one transaction, under
an intake lock (so two imports cannot both accept the same client), its rows are
validated chunk by chunk on worker processes while the chunks already validated are
stored (:func:`import_forms`), and every accepted row becomes a submitted
form awaiting its department head's review (Art. 11 step 2), with its personal data
sealed under the future dossier's own data key, a review clock (2 wd) and a ledger entry.
Refused rows write nothing. A refused file writes nothing at all.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, select, text

from dossiers.calendar.clocks import Opened, due_after, due_by, open_text
from dossiers.calendar.workdays import Deadline, WorkingDayCalendar, default_calendar
from dossiers.core import clock, db, ledger
from dossiers.core.crypto import Field, KeyRing, WrappedKey, new_data_key, seal
from dossiers.core.db import (
    NULL,
    DriverStatement,
    copy_line,
    copy_text,
    copy_text_value,
    copy_value,
    run_together,
)
from dossiers.core.directory import department_heads, load_actor
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.policy import Policy, policy
from dossiers.core.progress import Progress, no_progress
from dossiers.core.schema import form, staff
from dossiers.core.vocabulary import DossierStatus, LedgerAction
from dossiers.intake import authorisation
from dossiers.intake.reader import FormFile, read_form_file
from dossiers.intake.rules import RowError, ValidForm, not_your_department, validate_row
from dossiers.intake.submitter import SubmitterCheck

#: pg_advisory_xact_lock key serialising intake ("intake" in ASCII).
INTAKE_LOCK = 0x696E74616B65
PENDING = ("submitted", "reviewed")
PERSONAL_PLACE = "personal"
T = TypeVar("T")


def zh_key(client_name_zh: str) -> str:
    return "".join(client_name_zh.split())


def personal_field(form_id: uuid.UUID) -> Field:
    """Where a form's sealed personal data lives (bound to that form)."""
    return Field("form", PERSONAL_PLACE, str(form_id))


@dataclass(frozen=True)
class Intake:
    """What every row of one import is made ready with, read once by the importing process
    and handed to its worker processes with each chunk: the active liaisons (username ->
    staff id), the day, the file, the submitter, the moment of submission, the reviewing
    heads, the review's due date and the policy and calendar the due dates are counted
    with (so the workers count what the importing process would, whatever their
    environment)."""

    liaisons: dict[str, int]
    today: date
    file_name: str
    submitted_by: int | None
    submitted_at: datetime
    heads: dict[str, int]
    review: Deadline
    rules: Policy
    days: WorkingDayCalendar

    @property
    def review_article(self) -> str:
        return self.rules.article("form_review_wd")  # Art. 11(2)


class Prepared(NamedTuple):
    """A valid row made ready for storage, in the worker that validated it: the ids of its
    form and future dossier, a new data key of that dossier (kept only in memory until the
    importing process wraps and stores it), what the refusals and duplicate decisions read,
    and what is stored, already in COPY's text format: the form row (its personal fields
    sealed under the data key), its clocks, and the details of its ledger entry (canonical
    JSON). The importing process neither seals nor handles the personal data in clear, and
    makes nothing per row but the decisions (issue 16); plain strings, cheap to return."""

    row: int
    form_id: str
    dossier_id: bytes  # uuid.UUID.bytes: a UUID costs ten times as much to pickle
    data_key: bytes
    name_key: str
    zh_key: str
    department: str
    liaison: str
    authorisation_ref: str
    collection_channel: str
    collected_on: date
    form_line: str
    clock_lines: str
    ledger_details: str


class _Spelled:
    """What every form of an import has in common, in COPY's text format, spelled once
    per chunk: per row only its own values are spelled (issue 16)."""

    def __init__(self, intake: Intake) -> None:
        review = intake.review
        #: submitted_by, submitted_at, source_file (FORM_COLUMNS).
        self.submitted = "\t".join(map(copy_value, (intake.submitted_by, intake.submitted_at,
                                                     intake.file_name)))
        #: The review clock's columns after its owner (clocks.COLUMNS): Art. 11(2).
        self.review = "\t" + copy_line((intake.today, review.date, review.provisional, None))
        self.article = copy_value(intake.review_article)
        self.heads = {department: copy_value(head) for department, head in intake.heads.items()}


def prepare(valid: ValidForm, intake: Intake, due: Due, spelled: _Spelled) -> Prepared:
    form_id, dossier_id = uuid.uuid4(), uuid.uuid4()
    data_key = new_data_key()
    sealed = seal(data_key, json.dumps(valid.personal_fields(), ensure_ascii=False),
                  personal_field(form_id).aad(dossier_id))
    key = zh_key(valid.client_name_zh)
    liaison_id = intake.liaisons[valid.liaison]
    review = intake.review
    esc = copy_text_value
    payload = json.dumps(valid.as_dict(personal=False), ensure_ascii=False)
    # One row of FORM_COLUMNS, as copy_line would spell it.
    form_line = (f"{form_id}\tcollection\tsubmitted\t{dossier_id}\t{esc(valid.client_name_zh)}\t"
                 f"{esc(valid.client_name_en)}\t{esc(valid.name_key)}\t{esc(key)}\t"
                 f"{esc(valid.client_type)}\t{esc(valid.stage)}\t{esc(valid.department)}\t"
                 f"{liaison_id}\t{spelled.submitted}\t{valid.row}\t{esc(payload)}\t"
                 f"\\\\x{sealed.hex()}\n")
    clock_lines = (f"form_review\tform\t{form_id}\t{spelled.article}\t"
                   f"{spelled.heads.get(valid.department, NULL)}{spelled.review}")
    signed_on = valid.contract_signed_on if valid.stage == "active" else None
    if signed_on is not None:
        clock_lines += "".join(map(copy_line, creation_clocks(
            dossier_id, signed_on, intake.submitted_at, liaison_id, rules=intake.rules,
            due=due)))
    details = ledger.canonical({
        "file": intake.file_name, "row": valid.row, "client_type": valid.client_type,
        "stage": valid.stage, "department": valid.department, "liaison": valid.liaison,
        "review_due": review.date.isoformat(), "collection_channel": valid.collection_channel,
        "review_due_provisional": review.provisional})
    return Prepared(
        valid.row, str(form_id), dossier_id.bytes, data_key, valid.name_key, key,
        valid.department, valid.liaison, valid.authorisation_ref, valid.collection_channel,
        valid.collected_on, form_line, clock_lines, details)


Due = Callable[[date, str], Opened]


def creation_clocks(dossier_id: uuid.UUID, signed_on: date | None, submitted_at: datetime,
                    liaison_id: int, *, rules: Policy | None = None,
                    due: Due = due_after) -> list[tuple[Any, ...]]:
    """Art. 8 clocks of an active client's form, on its future dossier.

    A client signed since the policy took effect is new: its information is due 3 wd after
    the contract (met now, on time or not) and its dossier created and filed 5 wd after
    submission. One signed before is a legacy client, back-filled within 1 month of the
    policy taking effect. An import passes the policy it read once and a memoised ``due``
    (reading the policy per row cost more than the COPY of the forms).
    """
    if signed_on is None:
        return []
    rules = rules or policy()
    subject = ("dossier", str(dossier_id))
    effective = rules.policy_effective_on
    if signed_on < effective:
        back = due(effective, "legacy_backfill_months")
        return [("legacy_backfill", *subject, rules.article("legacy_backfill_months"),
                 liaison_id, effective, back.due, back.provisional, None)]
    collected = due(signed_on, "new_client_collection_wd")
    created = due(clock.local_date(submitted_at), "new_client_creation_wd")
    return [("new_client_collection", *subject, rules.article("new_client_collection_wd"),
             liaison_id, signed_on, collected.due, collected.provisional, submitted_at),
            ("new_client_creation", *subject, rules.article("new_client_creation_wd"),
             None, clock.local_date(submitted_at), created.due, created.provisional, None)]  # CS's duty


@dataclass
class ImportReport:
    file: str
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "accepted": self.accepted, "rejected": self.rejected,
                "warnings": self.warnings}


#: The progress steps of an import (:mod:`dossiers.core.progress`).
CHECK_STEP, STORE_STEP = "checking rows", "storing forms"
#: Rows validated between two progress reports when validating in this process.
PROGRESS_ROWS = 1_000


def import_file(path: Path, *, acting_user: str | None, today: date | None = None,
                keyring: KeyRing | None = None,
                progress: Progress = no_progress) -> dict[str, Any]:
    """Import one form file; returns the report of ``collection-form.md``."""
    form_file = read_form_file(path)  # FileRefused (exit 2) before anything is written
    return import_forms(form_file, path.name, acting_user=acting_user, today=today,
                        keyring=keyring, progress=progress)


def import_forms(form_file: FormFile, name: str, *, acting_user: str | None,
                 today: date | None = None, keyring: KeyRing | None = None,
                 progress: Progress = no_progress) -> dict[str, Any]:
    """Import the rows of a form file already read (``name`` for the report and the ledger).

    A pipeline, in one transaction: worker processes validate the file chunk by chunk while
    this process refuses, seals and stores the chunks already validated, in file order (the
    server's COPY work runs beside the validation of the next chunks). The intake lock is
    taken before the first chunk, so the duplicates of every chunk are decided under it;
    anything raised rolls back the whole import.
    """
    today = today or clock.today()
    keyring = keyring or KeyRing()
    report = ImportReport(file=name, warnings=list(form_file.warnings))
    total = len(form_file.rows)
    with db.transaction() as conn:
        actor = load_actor(conn, acting_user)
        authorize(conn, actor, Action.FORM_SUBMIT, subject=f"file {name}")
        rules, days = policy(), default_calendar()
        submitted_at = clock.on(today)
        intake = Intake(_active_liaisons(conn), today, name, actor.staff_id, submitted_at,
                        department_heads(conn), days.add(today, rules.form_review_wd),
                        rules, days)
        submitter = SubmitterCheck(conn, actor, f"file {name}")
        # Duplicates are decided under the lock, so two imports never accept one client.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INTAKE_LOCK})
        store = _Store(conn, keyring, actor, report)
        handled = 0
        progress(STORE_STEP, 0, total)
        # closing(): an error stops the workers at once, not when the generator is collected.
        # The writer thread runs one chunk's COPY statements at a time on the transaction's
        # connection while this thread makes the next chunk ready and reads, on a second
        # connection, the authorisations and earlier claims it names: committed rows, read
        # under the intake lock this transaction holds (so no other import adds a claim),
        # and the forms this import has written are named by their rows (``seen``).
        # Leaving the block waits for the writer, so nothing is written after a rollback.
        with (conn.engine.connect() as reader,
              closing(checked_chunks(form_file.rows, intake, progress)) as chunks,
              ThreadPoolExecutor(1, thread_name_prefix="intake-writer") as writer):
            written: Future[None] | None = None
            for checked in chunks:
                keys = store.wrap(checked)
                checked = _refuse_others(submitter, actor, checked)  # logs on its own connection
                terms, claims = _read_chunk(reader, [p for _, p, _ in checked if p])
                checked = _refuse_unauthorised(checked, terms, today)
                if written is not None:
                    written.result()  # the previous chunk's error, if any, is raised here
                written = writer.submit(store.write, store.refuse_duplicates(checked, claims),
                                        keys)
                handled += len(checked)
                progress(STORE_STEP, handled, total)
            if written is not None:
                written.result()
    report.rejected.sort(key=lambda e: (e["row"], e["field"]))
    return report.as_dict()


Checked = tuple[int, Prepared | None, list[RowError]]
Rows = list[tuple[int, dict[str, object]]]
#: Below this many rows, validating in this process is quicker than starting workers.
PARALLEL_FROM_ROWS = 5_000
#: Rows a worker validates at a time: small enough that storing starts early and the last
#: chunk stored after validation ends is short, large enough that a chunk's round trip and
#: its COPY statements cost little per row.
CHUNK_ROWS = 2_500


def _validate_chunk(rows: Rows, intake: Intake) -> list[Checked]:
    due, spelled = due_by(intake.rules, intake.days), _Spelled(intake)
    checked: list[Checked] = []
    for row, raw in rows:
        valid, errors = validate_row(row, raw, known_liaisons=intake.liaisons,
                                     today=intake.today)
        checked.append((row, prepare(valid, intake, due, spelled) if valid else None, errors))
    return checked


C = TypeVar("C")
ChunkCheck = Callable[[Rows, C], list[T]]


def checked_chunks(rows: Rows, context: C, progress: Progress = no_progress,
                   check: ChunkCheck[C, Any] = _validate_chunk) -> Generator[list[Any]]:  # type: ignore[assignment]
    """Validate and prepare every row (``check`` of a chunk and the ``context`` every chunk
    is checked with), by chunk; large files are spread over the machine's cores. Yields
    each chunk's results in file order as soon as it is done, while the workers go on with
    the next chunks.

    Worker processes exchange rows through pipes only (nothing written to disk). Progress
    is reported per chunk. Closing the generator early (an error while storing) cancels the
    chunks not yet started.
    """
    workers = min(os.cpu_count() or 1, 8)
    done = 0
    progress(CHECK_STEP, 0, len(rows))
    if len(rows) < PARALLEL_FROM_ROWS or workers < 2:
        for i in range(0, len(rows), PROGRESS_ROWS):
            chunk = check(rows[i:i + PROGRESS_ROWS], context)
            done += len(chunk)
            progress(CHECK_STEP, done, len(rows))
            yield chunk
        return
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    pool = ProcessPoolExecutor(workers, mp_context=get_context("forkserver"))
    try:
        futures = [pool.submit(check, rows[i:i + CHUNK_ROWS], context)
                   for i in range(0, len(rows), CHUNK_ROWS)]
        for future in futures:
            chunk = future.result()
            done += len(chunk)
            progress(CHECK_STEP, done, len(rows))
            yield chunk
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def validate_rows(rows: Rows, intake: Intake,
                  progress: Progress = no_progress) -> list[Checked]:
    """Every row validated and prepared, in file order (:func:`checked_chunks`)."""
    return [c for chunk in checked_chunks(rows, intake, progress) for c in chunk]


def _refuse_others(check: SubmitterCheck, actor: Actor, checked: list[Checked]) -> list[Checked]:
    """Refuse the valid rows the submitter may not file for their liaison's department."""
    out: list[Checked] = []
    for row, prepared, errors in checked:
        if prepared is not None and not check.allows(prepared.department, prepared.liaison):
            errors = [*errors, not_your_department(row, prepared.department, prepared.liaison,
                                                   actor.username)]
            prepared = None
        out.append((row, prepared, errors))
    return out


def _refuse_unauthorised(checked: list[Checked], terms: dict[str, authorisation.Terms],
                         today: date) -> list[Checked]:
    """Refuse the valid rows collected outside the client's authorisation (Arts. 9, 19);
    ``terms`` holds the authorisations on record that the rows name."""
    out: list[Checked] = []
    for row, prepared, errors in checked:
        if prepared is not None:
            why = authorisation.refusal(
                prepared.authorisation_ref, terms.get(prepared.authorisation_ref),
                prepared.collection_channel, prepared.collected_on, today)
            if why:
                errors = [*errors, RowError(row, "authorisation_ref",
                                            authorisation.NO_AUTHORISATION, why)]
                prepared = None
        out.append((row, prepared, errors))
    return out


def _active_liaisons(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(staff.c.username, staff.c.id).where(staff.c.active))
    return {r.username: r.id for r in rows}


#: What already claims a client, by either name key: the pending forms, and the dossiers
#: not destroyed. Each key set is one array parameter (a file may hold 100,000 rows, and
#: PostgreSQL takes 65,535 binds at most); SQL text, built once (issue 16).
_EITHER_KEY = "(name_en_key = ANY(%(en_keys)s::text[]) OR name_zh_key = ANY(%(zh_keys)s::text[]))"
PENDING_CLAIMS_SQL = DriverStatement(
    "SELECT id::text AS label, name_en_key, name_zh_key FROM form "
    f"WHERE status IN ({', '.join(repr(str(s)) for s in PENDING)}) AND {_EITHER_KEY}")
DOSSIER_CLAIMS_SQL = DriverStatement(
    "SELECT coalesce(dossier_no, id::text) AS label, name_en_key, name_zh_key FROM dossier "
    f"WHERE status <> '{DossierStatus.DESTROYED.value}' AND {_EITHER_KEY}")


def _read_chunk(conn: Connection, valid: list[Prepared]
                ) -> tuple[dict[str, authorisation.Terms], dict[tuple[str, str], str]]:
    """What a chunk's valid rows name on record, in one round trip: the authorisations
    (Arts. 9, 19), and what already claims their clients by either name key (a pending
    form or a dossier), as ``(field, name key) -> "pending form <id>" / "dossier <no>"``."""
    if not valid:
        return {}, {}
    en_keys, zh_keys = {p.name_key for p in valid}, {p.zh_key for p in valid}
    keys = {"en_keys": sorted(en_keys), "zh_keys": sorted(zh_keys)}
    with conn.begin():  # a read transaction, ended (committed) once the rows are read
        on_record, pending, dossiers = run_together(conn, [
            authorisation.on_record_statement(p.authorisation_ref for p in valid),
            (PENDING_CLAIMS_SQL, keys), (DOSSIER_CLAIMS_SQL, keys)])
    claims: dict[tuple[str, str], str] = {}
    for kind, rows in (("pending form", pending or []), ("dossier", dossiers or [])):
        for r in rows:
            if r.name_en_key in en_keys:
                claims[("client_name_en", r.name_en_key)] = f"{kind} {r.label}"
            if r.name_zh_key in zh_keys:
                claims[("client_name_zh", r.name_zh_key)] = f"{kind} {r.label}"
    return authorisation.terms_of(on_record or ()), claims


FORM_COLUMNS = ("id", "kind", "status", "dossier_id", "client_name_zh", "client_name_en",
                "name_en_key", "name_zh_key", "client_type", "stage", "department", "liaison_id",
                "submitted_by", "submitted_at", "source_file", "source_row", "payload",
                "personal_enc")


class _Store:
    """One import's writes, chunk by chunk in file order, in the caller's transaction: the
    duplicate decisions (remembering the rows already accepted) and the forms, their data
    keys, clocks and ledger entries (bulk COPY of the text the workers made)."""

    def __init__(self, conn: Connection, keyring: KeyRing, actor: Actor,
                 report: ImportReport) -> None:
        self.conn, self.keyring, self.actor, self.report = conn, keyring, actor, report
        #: (field, name key) -> the row of this file that first named it.
        self.seen: dict[tuple[str, str], int] = {}

    def refuse_duplicates(self, checked: list[Checked],
                          existing: dict[tuple[str, str], str]) -> list[Prepared]:
        """Refuse rows whose client already has a dossier or a pending form (``existing``,
        :func:`_read_chunk`), or an earlier row; the rows accepted go into the report
        (their form ids are made by the workers)."""
        seen, accepted = self.seen, []
        rejected, report_accepted = self.report.rejected, self.report.accepted
        for row, prepared, errors in checked:
            for e in errors:
                rejected.append(e.as_dict())
            if prepared is None:
                continue
            en, zh = ("client_name_en", prepared.name_key), ("client_name_zh", prepared.zh_key)
            duplicate = None
            for named in (en, zh):
                what = existing.get(named) or (
                    f"row {seen[named]} of this file" if named in seen else None)
                if what and duplicate is None:
                    kind = named[0]
                    duplicate = RowError(row, kind, "duplicate", f"{kind} duplicates {what}")
            seen.setdefault(en, row)
            seen.setdefault(zh, row)
            if duplicate:
                rejected.append(duplicate.as_dict())
            else:
                report_accepted.append({"row": row, "form_id": prepared.form_id})
                accepted.append(prepared)
        return accepted

    def wrap(self, checked: list[Checked]) -> dict[uuid.UUID, WrappedKey]:
        """The data keys of a chunk's valid rows (made and used by the workers) wrapped by
        the master key, by dossier id. Runs while the writer stores the previous chunk; a
        refused row's key is then dropped, never stored."""
        return self.keyring.wrap_keys({uuid.UUID(bytes=p.dossier_id): p.data_key
                                       for _, p, _ in checked if p})

    def write(self, accepted: list[Prepared], keys: dict[uuid.UUID, WrappedKey]) -> None:
        """Store the accepted forms, their data keys, clocks and ledger entries (bulk COPY,
        in this order: one write each of the text the workers made); called on the writer
        thread."""
        if not accepted:
            return
        dossier_ids = [uuid.UUID(bytes=p.dossier_id) for p in accepted]
        self.keyring.store_keys(self.conn, {d: keys[d] for d in dossier_ids})
        copy_text(self.conn, form, FORM_COLUMNS, "".join([p.form_line for p in accepted]))
        open_text(self.conn, "".join([p.clock_lines for p in accepted]))
        ledger.append_details(self.conn, self.actor.username, LedgerAction.FORM_SUBMIT, "form",
                              [(p.form_id, p.ledger_details) for p in accepted])
