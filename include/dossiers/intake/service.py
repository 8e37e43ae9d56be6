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

import functools
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

from sqlalchemy import ARRAY, Connection, Text, any_, bindparam, func, select, text

from dossiers.calendar.clocks import Opened, due_after, open_rows
from dossiers.calendar.workdays import default_calendar
from dossiers.core import clock, db, ledger
from dossiers.core.crypto import Field, KeyRing, WrappedKey, new_data_key, seal
from dossiers.core.db import copy_rows
from dossiers.core.directory import department_heads, load_actor
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.policy import Policy, policy
from dossiers.core.progress import Progress, no_progress
from dossiers.core.schema import dossier, form, staff
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


class Prepared(NamedTuple):
    """A valid row made ready for storage: the ids of its form and future dossier, what the
    form table needs, its non-personal payload and its personal fields sealed under a new
    data key of that dossier (the key itself is kept only in memory until the keyring wraps
    and stores it). Made in the worker that validated the row, so the importing process
    neither seals nor handles the personal data in clear; plain values, cheap to return."""

    row: int
    form_id: uuid.UUID
    dossier_id: uuid.UUID
    data_key: bytes
    personal_enc: bytes
    client_name_zh: str
    client_name_en: str
    name_key: str
    zh_key: str
    client_type: str
    stage: str
    department: str
    liaison: str
    payload_json: str
    contract_signed_on: date | None
    authorisation_ref: str
    collection_channel: str
    collected_on: date


def prepare(valid: ValidForm) -> Prepared:
    form_id, dossier_id = uuid.uuid4(), uuid.uuid4()
    data_key = new_data_key()
    sealed = seal(data_key, json.dumps(valid.personal_fields(), ensure_ascii=False),
                  personal_field(form_id).aad(dossier_id))
    return Prepared(
        valid.row, form_id, dossier_id, data_key, sealed, valid.client_name_zh,
        valid.client_name_en, valid.name_key, zh_key(valid.client_name_zh), valid.client_type,
        valid.stage, valid.department, valid.liaison,
        json.dumps(valid.as_dict(personal=False), ensure_ascii=False),
        valid.contract_signed_on if valid.stage == "active" else None,
        valid.authorisation_ref, valid.collection_channel, valid.collected_on)


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
        liaisons = _active_liaisons(conn)
        submitter = SubmitterCheck(conn, actor, f"file {name}")
        # Duplicates are decided under the lock, so two imports never accept one client.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INTAKE_LOCK})
        store = _Store(conn, keyring, actor, name, liaisons, today, report)
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
              closing(checked_chunks(form_file.rows, set(liaisons), today, progress)) as chunks,
              ThreadPoolExecutor(1, thread_name_prefix="intake-writer") as writer):
            written: Future[None] | None = None
            for checked in chunks:
                made = store.make(checked)
                checked = _refuse_others(submitter, actor, checked)  # logs on its own connection
                checked = _refuse_unauthorised(reader, checked, today)
                claims = _existing_claims(reader, {p.name_key for _, p, _ in checked if p},
                                          {p.zh_key for _, p, _ in checked if p})
                reader.rollback()  # ends the read transaction the statements began
                if written is not None:
                    written.result()  # the previous chunk's error, if any, is raised here
                written = writer.submit(store.write, store.refuse_duplicates(checked, made, claims),
                                        made)
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


def _validate_chunk(rows: Rows, liaisons: set[str], today: date) -> list[Checked]:
    checked: list[Checked] = []
    for row, raw in rows:
        valid, errors = validate_row(row, raw, known_liaisons=liaisons, today=today)
        checked.append((row, prepare(valid) if valid else None, errors))
    return checked


ChunkCheck = Callable[[Rows, set[str], date], list[T]]


def checked_chunks(rows: Rows, liaisons: set[str], today: date,
                   progress: Progress = no_progress,
                   check: ChunkCheck[Any] = _validate_chunk) -> Generator[list[Any]]:
    """Validate and prepare every row (``check``, by chunk); large files are spread over
    the machine's cores. Yields each chunk's results in file order as soon as it is done,
    while the workers go on with the next chunks.

    Worker processes exchange rows through pipes only (nothing written to disk). Progress
    is reported per chunk. Closing the generator early (an error while storing) cancels the
    chunks not yet started.
    """
    workers = min(os.cpu_count() or 1, 8)
    done = 0
    progress(CHECK_STEP, 0, len(rows))
    if len(rows) < PARALLEL_FROM_ROWS or workers < 2:
        for i in range(0, len(rows), PROGRESS_ROWS):
            chunk = check(rows[i:i + PROGRESS_ROWS], liaisons, today)
            done += len(chunk)
            progress(CHECK_STEP, done, len(rows))
            yield chunk
        return
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    pool = ProcessPoolExecutor(workers, mp_context=get_context("forkserver"))
    try:
        futures = [pool.submit(check, rows[i:i + CHUNK_ROWS], liaisons, today)
                   for i in range(0, len(rows), CHUNK_ROWS)]
        for future in futures:
            chunk = future.result()
            done += len(chunk)
            progress(CHECK_STEP, done, len(rows))
            yield chunk
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def validate_rows(rows: Rows, liaisons: set[str], today: date,
                  progress: Progress = no_progress) -> list[Checked]:
    """Every row validated and prepared, in file order (:func:`checked_chunks`)."""
    return [c for chunk in checked_chunks(rows, liaisons, today, progress) for c in chunk]


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


def _refuse_unauthorised(conn: Connection, checked: list[Checked], today: date) -> list[Checked]:
    """Refuse the valid rows collected outside the client's authorisation (Arts. 9, 19)."""
    terms = authorisation.on_record(conn, (p.authorisation_ref for _, p, _ in checked if p))
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


def _existing_claims(conn: Connection, en_keys: set[str],
                     zh_keys: set[str]) -> dict[tuple[str, str], str]:
    """(field, name key) -> what already claims that client: a pending form or a dossier."""
    claims: dict[tuple[str, str], str] = {}
    if not en_keys and not zh_keys:
        return claims
    # Each key set is one array parameter: a file may hold 100,000 rows (65,535 binds max).
    en = bindparam("en_keys", sorted(en_keys), type_=ARRAY(Text))
    zh = bindparam("zh_keys", sorted(zh_keys), type_=ARRAY(Text))
    pending = conn.execute(
        select(form.c.id.cast(Text).label("label"), form.c.name_en_key, form.c.name_zh_key)
        .where(form.c.status.in_(PENDING))
        .where((form.c.name_en_key == any_(en)) | (form.c.name_zh_key == any_(zh)))
    ).all()
    dossiers = conn.execute(
        select(func.coalesce(dossier.c.dossier_no, dossier.c.id.cast(Text)).label("label"),
               dossier.c.name_en_key, dossier.c.name_zh_key)
        .where(dossier.c.status != DossierStatus.DESTROYED)
        .where((dossier.c.name_en_key == any_(en)) | (dossier.c.name_zh_key == any_(zh)))
    ).all()
    for kind, rows in (("pending form", pending), ("dossier", dossiers)):
        for r in rows:
            if r.name_en_key in en_keys:
                claims[("client_name_en", r.name_en_key)] = f"{kind} {r.label}"
            if r.name_zh_key in zh_keys:
                claims[("client_name_zh", r.name_zh_key)] = f"{kind} {r.label}"
    return claims


FORM_COLUMNS = ("id", "kind", "status", "dossier_id", "client_name_zh", "client_name_en",
                "name_en_key", "name_zh_key", "client_type", "stage", "department", "liaison_id",
                "submitted_by", "submitted_at", "source_file", "source_row", "payload",
                "personal_enc")


class _Store:
    """One import's writes, chunk by chunk in file order, in the caller's transaction: the
    duplicate decisions (remembering the rows already accepted) and the forms, their data
    keys, clocks and ledger entries (bulk COPY). What is the same for every form (the review
    due date, the heads, the policy, the due dates by start date) is read once."""

    def __init__(self, conn: Connection, keyring: KeyRing, actor: Actor, file_name: str,
                 liaisons: dict[str, int], today: date, report: ImportReport) -> None:
        self.conn, self.keyring, self.actor, self.file_name = conn, keyring, actor, file_name
        self.liaisons, self.today, self.report = liaisons, today, report
        self.rules = policy()
        self.review = default_calendar().add(today, self.rules.form_review_wd)  # Art. 11(2)
        self.article = self.rules.article("form_review_wd")
        self.heads = department_heads(conn)
        self.submitted_at = clock.on(today)
        self.due: Due = functools.cache(due_after)
        #: (field, name key) -> the row of this file that first named it.
        self.seen: dict[tuple[str, str], int] = {}

    def refuse_duplicates(self, checked: list[Checked], made: dict[int, _Made],
                          existing: dict[tuple[str, str], str]) -> list[Prepared]:
        """Refuse rows whose client already has a dossier or a pending form (``existing``,
        :func:`_existing_claims`), or an earlier row; the rows accepted go into the report
        (their form ids are made by the workers)."""
        seen, accepted = self.seen, []
        for row, prepared, errors in checked:
            for e in errors:
                self.report.rejected.append(e.as_dict())
            if prepared is None:
                continue
            duplicate = None
            for kind, key in (("client_name_en", prepared.name_key),
                              ("client_name_zh", prepared.zh_key)):
                what = existing.get((kind, key)) or (
                    f"row {seen[(kind, key)]} of this file" if (kind, key) in seen else None)
                if what and duplicate is None:
                    duplicate = RowError(row, kind, "duplicate", f"{kind} duplicates {what}")
            for kind, key in (("client_name_en", prepared.name_key),
                              ("client_name_zh", prepared.zh_key)):
                seen.setdefault((kind, key), row)
            if duplicate:
                self.report.rejected.append(duplicate.as_dict())
            else:
                form_id = str(made[row].form_id)
                self.report.accepted.append({"row": row, "form_id": form_id})
                accepted.append(prepared)
        return accepted

    def make(self, checked: list[Checked]) -> dict[int, _Made]:
        """Every valid row of a chunk made ready to store, by row: its data key (made and
        used by the worker) wrapped by the master key, the form row, clocks and ledger
        entry. Pure computation (no statement), so it runs while the writer stores the
        previous chunk; what a refusal then drops was only ever in memory (its data key is
        never stored)."""
        valid = [p for _, p, _ in checked if p is not None]
        keys = self.keyring.wrap_keys({p.dossier_id: p.data_key for p in valid})
        actor, file_name, liaisons, review = self.actor, self.file_name, self.liaisons, self.review
        submitted_at, review_due = self.submitted_at, review.date.isoformat()
        made: dict[int, _Made] = {}
        for form_row in valid:
            form_id, dossier_id, sealed = form_row.form_id, form_row.dossier_id, form_row.personal_enc
            key = keys[dossier_id]
            liaison_id = liaisons[form_row.liaison]
            clocks = [("form_review", "form", str(form_id), self.article,
                       self.heads.get(form_row.department), self.today, review.date,
                       review.provisional, None)]
            clocks.extend(creation_clocks(dossier_id, form_row.contract_signed_on,
                                          submitted_at, liaison_id, rules=self.rules,
                                          due=self.due))
            made[form_row.row] = _Made(
                form_id, dossier_id, key,
                (form_id, "collection", "submitted", dossier_id, form_row.client_name_zh,
                 form_row.client_name_en, form_row.name_key, form_row.zh_key,
                 form_row.client_type, form_row.stage, form_row.department, liaison_id,
                 actor.staff_id, submitted_at, file_name, form_row.row, form_row.payload_json,
                 sealed),
                clocks,
                ledger.Entry(
                    actor=actor.username, action=LedgerAction.FORM_SUBMIT, subject_type="form",
                    subject_id=str(form_id),
                    details={"file": file_name, "row": form_row.row,
                             "client_type": form_row.client_type, "stage": form_row.stage,
                             "department": form_row.department, "liaison": form_row.liaison,
                             "review_due": review_due,
                             "collection_channel": form_row.collection_channel,
                             "review_due_provisional": review.provisional}))
        return made

    def write(self, accepted: list[Prepared], made: dict[int, _Made]) -> None:
        """Store the accepted forms, their data keys, clocks and ledger entries (bulk COPY,
        in this order), from :meth:`make`; called on the writer thread."""
        if not accepted:
            return
        chosen = [made[p.row] for p in accepted]
        self.keyring.store_keys(self.conn, {m.dossier_id: m.key for m in chosen})
        copy_rows(self.conn, form, FORM_COLUMNS, (m.form for m in chosen))
        open_rows(self.conn, (c for m in chosen for c in m.clocks))
        ledger.append_many(self.conn, (m.entry for m in chosen))


class _Made(NamedTuple):
    """One valid row ready to store (:meth:`_Store.make`)."""

    form_id: uuid.UUID
    dossier_id: uuid.UUID
    key: WrappedKey
    form: tuple[Any, ...]
    clocks: list[tuple[Any, ...]]
    entry: ledger.Entry
