"""A synthetic company for demos and tests: ``dossier seed --clients N [--seed S]``.

Staff in every department and role; clients of every type in many countries and
languages, submitted through the real intake path (CSV files, validation, encryption,
ledger) month by month over the past year, then reviewed, created and filed through the
real workflow - with realistic defects: forms left unreviewed, late reviews and filings,
unfiled dossiers, electronic documents (PDF, DOCX, XLSX, PNG) filed on time, late or not
yet, dossiers with gaps (no market information, no contacts reachable by
e-mail), stale dossiers not updated for months, complaints left open.
Deterministic for a given seed (except generated ids and keys).
"""

from __future__ import annotations

import csv
import random
import tempfile
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, text, update

from dossiers.calendar.workdays import default_calendar
from dossiers.core import clock, db, directory, ledger
from dossiers.core.config import SHANGHAI
from dossiers.core.crypto import Field, KeyRing
from dossiers.core.progress import Progress, no_progress
from dossiers.core.schema import (
    communication,
    dossier,
    feedback,
    form,
    market_info,
    paper_condition_check,
    paper_volume,
    project,
    qualification_document,
)
from dossiers.core.schema import staff as staff_table
from dossiers.core.vocabulary import CLIENT_DEPARTMENTS, ChannelGroup, FormStatus, LedgerAction
from dossiers.intake.reader import KNOWN_COLUMNS
from dossiers.intake.service import import_file
from dossiers.local.seed_documents import seed_documents
from dossiers.workflows import authorisations, creation, staff

LOCALES = {  # Faker locale -> ISO 3166-1 country
    "en_US": "US", "de_DE": "DE", "ja_JP": "JP", "pt_BR": "BR", "en_GB": "GB", "fr_FR": "FR",
    "th_TH": "TH", "vi_VN": "VN", "id_ID": "ID", "es_MX": "MX", "en_AU": "AU", "ko_KR": "KR",
    "it_IT": "IT", "es_ES": "ES", "nl_NL": "NL", "pl_PL": "PL", "tr_TR": "TR", "en_CA": "CA",
    "en_IN": "IN", "ar_SA": "SA",
}
TYPES = ("電商", "外貿", "本土", "協會")
ZH_PREFIX = "藍海 星河 遠航 金橋 環宇 長風 明德 華峰 瑞豐 新程 恒通 凱越 森林 晨光 安泰 嘉禾".split()
ZH_SUFFIX = {"電商": "品牌", "外貿": "製造", "本土": "商行", "協會": "行業協會"}
DEPARTMENTS = CLIENT_DEPARTMENTS
SURNAMES = "wang li zhang liu chen yang zhao huang zhou wu xu sun hu zhu gao lin he guo ma".split()
GIVEN = "wei fang na min jing li qiang lei jun yang yong yan jie tao ming chao xia hua ping".split()
TOPICS = ("quarterly review", "campaign kickoff", "creative feedback", "budget discussion",
          "market entry plan", "proposal presentation", "contract renewal talk")


def _phone(rng: random.Random, region: str) -> str:
    import phonenumbers

    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None, region  # every region of LOCALES has an example mobile number
    national = str(example.national_number)
    for _ in range(20):
        digits = national[:-4] + f"{rng.randrange(10_000):04d}"
        candidate = phonenumbers.parse(f"+{example.country_code}{digits}")
        if phonenumbers.is_valid_number(candidate):
            return phonenumbers.format_number(candidate,
                                              phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _domain_label(name: str) -> str:
    label = "".join(c for c in name.split()[0].lower() if c.isascii() and c.isalnum())
    return label or "client"


def _people(rng: random.Random, clients: int) -> dict[str, tuple[str, list[str]]]:
    """username -> (department, roles): every department, every role."""
    names = iter(rng.sample([f"{s}.{g}" for s in SURNAMES for g in GIVEN], len(SURNAMES) * len(GIVEN)))
    people: dict[str, tuple[str, list[str]]] = {next(names): ("customer_service", ["cs_head"])}
    per_department = max(2, min(12, clients // 40))
    for department in DEPARTMENTS:
        people[next(names)] = (department, ["dept_head"])
        for _ in range(per_department):
            people[next(names)] = (department, ["liaison"])
    for _ in range(2):
        people[next(names)] = ("customer_service", ["archivist"])
    people[next(names)] = ("quality", ["qa_supervisor"])
    people[next(names)] = ("management", ["management"])
    return people


def _client_row(rng: random.Random, fakers: dict[str, Any], i: int, liaison: str,
                department: str, collected: date) -> dict[str, str]:
    locale = rng.choice(list(LOCALES))
    fake, country = fakers[locale], LOCALES[locale]
    client_type = TYPES[i % len(TYPES)]
    stage = rng.choices(("potential", "active", "terminated"), (25, 60, 15))[0]
    markets = [country, *rng.sample(["US", "DE", "GB", "FR", "JP", "AU"], rng.randint(0, 2))]
    name_en = f"{fake.company()} {i:05d}"
    row = {
        "client_name_zh": f"{rng.choice(ZH_PREFIX)}{ZH_SUFFIX[client_type]}{i:05d}",
        "client_name_en": name_en,
        "client_type": rng.choice([client_type, {"電商": "ECOM", "外貿": "MFG", "本土": "LOCAL",
                                                 "協會": "ASSOC"}[client_type]]),
        "stage": stage, "target_markets": ";".join(dict.fromkeys(markets)),
        "liaison": liaison, "department": department,
        "authorisation_ref": _authorisation_ref(i, collected),
        "collection_channel": _channel(i),
        "collected_on": collected.isoformat(),
        "registered_address": fake.address().replace("\n", ", "),
        "founded_on": (collected - timedelta(days=rng.randint(400, 12000))).isoformat(),
        "legal_form": rng.choice(["LLC", "GmbH", "Ltd", "S.A.", "K.K.", "Association"]),
        "registered_capital": f"{rng.randrange(10_000, 5_000_000, 1000)} "
                              f"{rng.choice(['USD', 'EUR', 'JPY', 'GBP'])}",
        "business_scope": fake.catch_phrase(),
        "contact_name": fake.name(),
        "contact_title": rng.choice(["CEO", "Marketing Director", "Brand Manager", "COO"]),
        "contact_email": f"contact{i}@{_domain_label(name_en)}-{i}.example.com"
                         if rng.random() > 0.1 else "",
        "contact_phone": _phone(rng, country),
        "contact_preference": rng.choice(["email", "phone", "video", "im", "in_person"]),
        "market_positioning": rng.choice(["premium", "mid-market", "value"])
                              if rng.random() > 0.15 else "",
        "target_customers": rng.choice(["young urban adults", "SMB buyers", "families"]),
        "marketing_goals": ";".join(rng.sample(["brand_promotion", "sales_growth",
                                                "market_expansion"], rng.randint(1, 2))),
        "creative_preferences": rng.choice(["minimalist", "bold colours", "storytelling", ""]),
        "credit_rating": rng.choice(["AAA", "AA", "A", "BBB", ""]),
        "dependence": rng.choice(["low", "medium", "high"]),
    }
    if stage in ("active", "terminated"):
        # A terminated client's contract ran well before its (back-filled) collection.
        signed = collected - timedelta(days=rng.randint(0, 3) if stage == "active"
                                       else rng.randint(200, 700))
        row.update({
            "contract_no": f"C-{signed.year}-{i:05d}", "contract_signed_on": signed.isoformat(),
            "service_scope": rng.choice(["social media", "search ads", "full-funnel campaign"]),
            "period_start": signed.isoformat(),
            "period_end": (signed + timedelta(days=365)).isoformat(),
            "fee_range": rng.choice(["10k-50k USD", "50k-200k USD", "200k+ USD"]),
        })
    if stage == "terminated":
        row["terminated_on"] = (collected - timedelta(days=rng.randint(0, 30))).isoformat()
    return row


#: The channels the seeded forms name, by client number (Art. 9); every eighth is compliant
#: research, under a recorded authorisation allowing it.
SEED_CHANNELS = ("email", "phone", "video_meeting", "face_to_face", "website", "contract",
                 "internal_aggregation", "industry_report")
#: Every twentieth client's authorisation is not on record (a finding of the quarterly
#: compliance check, Art. 20); those clients were met directly, never researched.
UNRECORDED_EVERY = 20


def _authorisation_ref(i: int, collected: date) -> str:
    return f"AUTH-{collected.year}-{i:05d}"


def _recorded(i: int) -> bool:
    return i % UNRECORDED_EVERY != UNRECORDED_EVERY - 1


def _channel(i: int) -> str:
    return SEED_CHANNELS[i % len(SEED_CHANNELS)] if _recorded(i) else "email"


def _record_authorisations(conn: Connection, actor: Any, rows: list[dict[str, str]],
                           today: date) -> None:
    """The clients' authorisations (Art. 19), given a little before their collection and
    valid two years on, allowing every channel group; compliant research under the target
    market's law (Art. 9)."""
    for row in rows:
        i = int(row["client_name_en"].rsplit(" ", 1)[-1])
        if not _recorded(i):
            continue
        collected = date.fromisoformat(row["collected_on"])
        authorisations.record(conn, actor, row["authorisation_ref"],
                              [g.value for g in ChannelGroup],
                              granted_on=collected - timedelta(days=5),
                              expires_on=today + timedelta(days=730),
                              legal_basis="GDPR Art. 6(1)(a) consent")


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), SHANGHAI)


#: The progress steps of :func:`seed_company` (:mod:`dossiers.core.progress`).
IMPORT_STEP, WORKFLOW_STEP, HISTORY_STEP = ("importing forms", "reviewing, creating, filing",
                                            "writing a year of history")


def seed_company(clients: int = 200, seed: int = 2026, today: date | None = None,
                 progress: Progress = no_progress) -> dict[str, Any]:
    from faker import Faker

    rng = random.Random(seed)
    today = today or clock.today()
    fakers = {loc: Faker(loc) for loc in LOCALES}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed + i)
    people = _people(rng, clients)
    engine = db.get_engine()
    with engine.begin() as conn:
        existing = conn.execute(select(dossier.c.id).limit(1)).first()
        offset = conn.execute(text("SELECT count(*) FROM form")).scalar_one()
        for username, (department, roles) in people.items():
            if conn.execute(text("SELECT 1 FROM staff WHERE username = :u"), {"u": username}).first():
                continue
            staff.add(conn, next(iter(people)), username, department, roles,
                      confidentiality_signed_on=today - timedelta(days=400),
                      agreement_ref=f"NDA-{today.year - 1}-{username}")
    liaisons = [(u, d) for u, (d, r) in people.items() if "liaison" in r]
    # 1. intake: one CSV per liaison and month, through the real import path.
    batches: dict[tuple[str, date], list[dict[str, str]]] = defaultdict(list)
    for i in range(offset, offset + clients):
        liaison, department = rng.choice(liaisons)
        collected = today - timedelta(days=rng.randint(1, 360))
        submitted = min(today, collected + timedelta(days=rng.randint(0, 4)))
        batches[(liaison, submitted)].append(
            _client_row(rng, fakers, i, liaison, department, collected))
    with engine.begin() as conn:
        cs_head = directory.load_actor(conn, next(iter(people)))
        _record_authorisations(conn, cs_head, [r for rows in batches.values() for r in rows],
                               today)
    keyring = KeyRing()
    refused: Counter[str] = Counter()
    progress(IMPORT_STEP, 0, len(batches))
    with tempfile.TemporaryDirectory() as tmp:
        for n, ((liaison, submitted), rows) in enumerate(sorted(batches.items(), key=lambda b: b[0][1])):
            path = Path(tmp) / f"forms-{n}.csv"
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=[c for c in KNOWN_COLUMNS])
                writer.writeheader()
                writer.writerows(rows)
            report = import_file(path, acting_user=liaison, today=submitted, keyring=keyring)
            refused.update(f"{e['field']}:{e['code']}" for e in report["rejected"])
            progress(IMPORT_STEP, n + 1, len(batches))
    counts = _workflow(engine, rng, keyring, people, today, progress)
    progress(HISTORY_STEP, 0, 1)
    with engine.begin() as conn:
        counts.update(_history(conn, rng, people, today, keyring))
    counts.update(seed_documents(engine, rng, keyring, today))  # Arts. 6, 15
    with engine.begin() as conn:
        totals = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("staff", "form", "dossier", "contact", "communication", "feedback",
                            "paper_volume", "dossier_file", "ledger_entry")}
    progress(HISTORY_STEP, 1, 1)
    return {"seed": seed, "clients_requested": clients, "reseeded": existing is not None,
            "staff": len(people), "intake_refused": dict(refused), "workflow": dict(counts),
            "totals": totals}


def _workflow(engine: Any, rng: random.Random, keyring: KeyRing,
              people: dict[str, tuple[str, list[str]]], today: date,
              progress: Progress = no_progress) -> Counter[str]:
    """Review, create and file most forms, late or never for some (realistic defects)."""
    cal = default_calendar()
    heads = {d: u for u, (d, r) in people.items() if "dept_head" in r}
    archivists = [u for u, (_, r) in people.items() if "archivist" in r]
    counts: Counter[str] = Counter()
    with engine.begin() as conn:
        actors = {u: directory.load_actor(conn, u) for u in [*heads.values(), *archivists]}
        submitted = conn.execute(select(form.c.id, form.c.department, form.c.submitted_at)
                                 .where(form.c.status == FormStatus.SUBMITTED)
                                 .order_by(form.c.submitted_at)).all()
    for done, f in enumerate(submitted):
        progress(WORKFLOW_STEP, done, len(submitted))
        day = f.submitted_at.astimezone(SHANGHAI).date()
        roll = rng.random()
        if roll < 0.04 or day >= today - timedelta(days=2):
            counts["left_for_review"] += 1  # an open item for the SLA watch
            continue
        late = rng.random() < 0.1
        reviewed_on = min(today, cal.add(day, rng.randint(3, 6) if late else rng.randint(0, 2)).date)
        with engine.begin() as conn:
            if roll < 0.07:
                creation.review_form(conn, actors[heads[f.department]], f.id, approve=False,
                                     reason="registered address and contract scan missing",
                                     at=_at(reviewed_on))
                counts["rejected"] += 1
                continue
            creation.review_form(conn, actors[heads[f.department]], f.id, approve=True,
                                 at=_at(reviewed_on))
            counts["late_reviews" if late else "reviews"] += 1
            if rng.random() < 0.03:
                counts["awaiting_creation"] += 1
                continue
            created_on = min(today, cal.add(reviewed_on, rng.randint(0, 2)).date)
            archivist = actors[rng.choice(archivists)]
            made = creation.create_dossier(conn, keyring, archivist, f.id, at=_at(created_on, 11))
            counts["created"] += 1
            if rng.random() < 0.05:
                counts["unfiled"] += 1
                continue
            late_filing = rng.random() < 0.08
            filed_on = min(today, cal.add(created_on, rng.randint(3, 5) if late_filing
                                          else rng.randint(0, 2)).date)
            dossier_id = uuid.UUID(made.dossier_id)
            creation.file_dossier(conn, archivist, dossier_id,
                                  cabinet=made.dossier_no.split("-")[2], shelf=1 + int(
                                      made.dossier_no.split("-")[1]) % 4, at=_at(filed_on, 15))
            counts["late_filings" if late_filing else "filed"] += 1
    progress(WORKFLOW_STEP, len(submitted), len(submitted))
    return counts


def _history(conn: Connection, rng: random.Random, people: dict[str, tuple[str, list[str]]],
             today: date, keyring: KeyRing) -> Counter[str]:
    """A year of communications, feedback and projects; qualification documents (number
    sealed, desensitised copy kept) and paper condition checks; gaps and stale dossiers."""
    counts: Counter[str] = Counter()
    archivist = next(u for u, (_, r) in people.items() if "archivist" in r)
    checker = conn.execute(
        select(staff_table.c.id).where(staff_table.c.username == archivist)).scalar_one()
    rows = conn.execute(select(dossier.c.id, dossier.c.dossier_no, dossier.c.stage,
                               dossier.c.liaison_id, dossier.c.created_at)).all()
    comms, fbs, projects, licences, entries = [], [], [], [], []
    stale, gaps = [], []
    for d in rows:
        start = d.created_at.astimezone(SHANGHAI).date()
        span = max(1, (today - start).days)
        for _ in range(rng.randint(1, 8)):
            when = start + timedelta(days=rng.randint(0, span))
            comms.append({"dossier_id": d.id, "occurred_at": _at(when, rng.randint(9, 18)),
                          "channel": rng.choice(["email", "phone", "video", "im", "in_person"]),
                          "kind": rng.choice(["communication", "meeting_minutes",
                                              "proposal_presentation", "negotiation"]),
                          "topic": rng.choice(TOPICS),
                          "agreements": rng.choice(["next steps agreed", "budget approved", None]),
                          "recorded_by": d.liaison_id})
        for _ in range(rng.choices((0, 1, 2), (40, 40, 20))[0]):
            complaint = rng.random() < 0.2
            received = start + timedelta(days=rng.randint(0, span))
            fbs.append({"dossier_id": d.id, "received_on": received,
                        "kind": "complaint" if complaint else "evaluation",
                        "aspect": rng.choice(["proposal", "execution", "attitude",
                                              "responsiveness"]),
                        "rating": rng.randint(1, 3) if complaint else rng.randint(3, 5),
                        "description": "response times too slow" if complaint else "good work",
                        "satisfaction": rng.randint(1, 5),
                        "closed_on": None if complaint and rng.random() < 0.5
                        else min(today, received + timedelta(days=rng.randint(1, 20)))})
        if d.stage != "potential":
            for n in range(rng.randint(1, 3)):
                projects.append({"dossier_id": d.id, "name": f"Campaign {n + 1}",
                                 "project_type": rng.choice(["social", "search", "influencer"]),
                                 "started_on": start + timedelta(days=rng.randint(0, span)),
                                 "progress": rng.choice(["planned", "in_progress", "delivered"])})
        if rng.random() < 0.6:  # Art. 10: desensitised business licence
            number = f"{rng.randrange(10**9, 10**10)}"
            licences.append({"dossier_id": d.id, "kind": "business_licence",
                             "number_enc": keyring.seal(conn, d.id, Field(
                                 "qualification_document", "number", "business_licence"), number),
                             "number_masked": "*" * (len(number) - 4) + number[-4:],
                             "valid_until": today + timedelta(days=rng.randint(-30, 900))})
        if rng.random() < 0.1:
            gaps.append(d.id)
        if rng.random() < 0.15:
            stale.append(d.id)
        entries.append(ledger.Entry("seed", LedgerAction.HISTORY_BACKFILL, "dossier", str(d.id),
                                    d.dossier_no, {"source": "synthetic history"}))
    for table, batch in ((communication, comms), (feedback, fbs), (project, projects),
                         (qualification_document, licences)):
        if batch:
            conn.execute(insert(table), batch)
    # Art. 14: periodic condition checks of the paper volumes; damaged ones repaired or copied.
    checks = []
    for volume_id, in conn.execute(select(paper_volume.c.id)):
        if rng.random() < 0.3:
            condition = rng.choices(("good", "worn", "damaged", "faded"), (70, 15, 10, 5))[0]
            checks.append({"volume_id": volume_id, "checked_on": today - timedelta(days=rng.randint(1, 90)),
                           "checked_by": checker, "condition": condition,
                           "action": {"damaged": "repair", "faded": "copy"}.get(condition, "none")})
    if checks:
        conn.execute(insert(paper_condition_check), checks)
    if gaps:  # defect: market information never collected (Art. 10)
        conn.execute(update(market_info).where(market_info.c.dossier_id.in_(gaps))
                     .values(market_positioning=None, target_customers=None))
    # Art. 14: whether a terminated client may come back decides its six-month review.
    for d in rows:
        if d.stage == "terminated":
            conn.execute(update(dossier).where(dossier.c.id == d.id).values(
                further_cooperation=rng.random() < 0.4))
    if stale:  # defect: not updated for over half a year (Art. 12)
        conn.execute(update(dossier).where(dossier.c.id.in_(stale)).values(
            updated_at=datetime.combine(today - timedelta(days=200), time(9), UTC)))
    ledger.append_many(conn, entries)
    counts.update(communications=len(comms), feedback=len(fbs), projects=len(projects),
                  qualification_documents=len(licences), condition_checks=len(checks),
                  gap_dossiers=len(gaps), stale_dossiers=len(stale))
    return counts
