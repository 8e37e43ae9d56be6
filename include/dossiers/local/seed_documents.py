"""The seeded company's electronic documents (``dossier seed``; Arts. 6, 15): small, real
files made on the spot (:mod:`dossiers.local.samples`), added through the real workflow
by each client's liaison (the types their department supplies), most filed by the
archivist within their 3 wd, some late, some left unfiled for the SLA watch.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from dossiers.calendar.workdays import default_calendar
from dossiers.core import directory
from dossiers.core.config import SHANGHAI
from dossiers.core.crypto import KeyRing
from dossiers.core.schema import dossier, staff
from dossiers.core.vocabulary import DossierStatus
from dossiers.documents import adding, filing
from dossiers.local import samples

#: What each department's liaisons add (Art. 6): (type, file extension).
SUPPLIED = {
    "market": (("contract", "pdf"), ("minutes", "docx")),
    "planning": (("proposal", "pdf"), ("revision_record", "docx")),
    "execution": (("execution_plan", "docx"), ("progress_report", "xlsx"),
                  ("effect_data", "png")),
    "customer_service": (("correspondence", "pdf"), ("minutes", "docx")),
}


def _content(rng: random.Random, kind: str, extension: str, number: str, serial: int) -> bytes:
    """A sample file; ``serial`` (the document's place in its dossier) keeps two documents of
    one dossier apart, since the same content twice is refused as a duplicate."""
    title = f"{kind.replace('_', ' ').title()} - {number[-3:]} ({serial})"
    if extension == "pdf":
        return samples.pdf(title, [f"Reference {rng.randrange(10**6):06d}.",
                                   rng.choice(["Scope agreed with the client.",
                                               "Budget and timeline attached.",
                                               "Feedback from the last review included."])])
    if extension == "docx":
        return samples.docx(title, [f"Item {i + 1}: {rng.choice(['agreed', 'open', 'revised'])}"
                                    for i in range(rng.randint(2, 5))])
    if extension == "xlsx":
        return samples.xlsx(title, ["week", "reach", "clicks"],
                            [[w + 1, rng.randint(1000, 90000), rng.randint(10, 900)]
                             for w in range(6)])
    return samples.png(rng.randrange(10**6) * 10 + serial)


def seed_documents(engine: Any, rng: random.Random, keyring: KeyRing, today: date,
                   share: float = 0.3) -> Counter[str]:
    """Documents for about ``share`` of the filed dossiers (at least a few)."""
    cal = default_calendar()
    counts: Counter[str] = Counter()
    with engine.begin() as conn:
        rows = conn.execute(
            select(dossier.c.dossier_no, dossier.c.created_at, dossier.c.department,
                   staff.c.username.label("liaison"))
            .join(staff, staff.c.id == dossier.c.liaison_id)
            .where(dossier.c.filed_at.is_not(None), dossier.c.status == DossierStatus.OPEN,
                   staff.c.active)
            .order_by(dossier.c.dossier_no)).all()
        archivist = conn.execute(select(staff.c.username).where(
            staff.c.id == select(dossier.c.created_by).where(dossier.c.created_by.is_not(None))
            .limit(1).scalar_subquery())).scalar()
    if not rows or archivist is None:
        return counts
    chosen = rng.sample(rows, min(len(rows), max(5, round(share * len(rows)))))
    for d in sorted(chosen, key=lambda r: r.dossier_no):
        created = d.created_at.astimezone(SHANGHAI).date()
        for serial in range(1, rng.randint(1, 3) + 1):
            kind, extension = rng.choice(SUPPLIED.get(d.department, SUPPLIED["customer_service"]))
            confirmed = min(today, created + timedelta(days=rng.randint(0, max(1, (today - created).days))))
            with engine.begin() as conn:
                added = adding.add(
                    conn, keyring, directory.load_actor(conn, d.liaison), d.dossier_no,
                    name=f"{kind}.{extension}", chunks=[_content(rng, kind, extension, d.dossier_no, serial)],
                    document_type=kind, confirmed_on=confirmed, today=today,
                    important=kind == "contract")
            counts["documents"] += 1
            roll = rng.random()
            if roll < 0.1 and confirmed >= today - timedelta(days=20):
                counts["documents_unfiled"] += 1  # an open clock for the SLA watch
                continue
            late = roll < 0.18
            filed_on = min(today, cal.add(confirmed, rng.randint(4, 6) if late
                                          else rng.randint(0, 3)).date)
            with engine.begin() as conn:
                filing.file(conn, directory.load_actor(conn, archivist),
                            uuid.UUID(added.document_id),
                            at=datetime.combine(filed_on, time(16), SHANGHAI))
            counts["documents_filed_late" if late else "documents_filed"] += 1
    return counts
