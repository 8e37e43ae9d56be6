"""What the duties check about a dossier's electronic documents (Arts. 12, 14, 15, 18).

* the monthly owner check lists each liaison's dossiers with documents whose filing is
  overdue (Art. 15: filed within 3 wd of confirmation);
* the quarterly sampling audit opens every stored document of the sampled dossiers
  (Arts. 14, 18: altered, truncated or missing objects), and checks that their filed
  documents have their paper counterpart (a registered paper volume, Arts. 14, 15) and
  that none is left unfiled past its deadline.

One gap per dossier and check, its description counting the documents concerned (findings
are kept per duty, period, dossier and check).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from sqlalchemy import Connection, Text, exists, func, select

from dossiers.core.crypto import KeyRing
from dossiers.core.db import among
from dossiers.core.schema import clock, dossier, dossier_file, paper_volume
from dossiers.core.vocabulary import DossierStatus
from dossiers.documents.adding import FILING_CLOCK, SUBJECT
from dossiers.documents.integrity import check_rows, documents_of
from dossiers.duties.findings import Gap


def unfiled_gaps(conn: Connection, today: date,
                 dossier_ids: Iterable[uuid.UUID] | None = None) -> list[Gap]:
    """Dossiers with documents still unfiled after their filing deadline (Art. 15)."""
    query = (select(dossier_file.c.dossier_id, func.count().label("n"),
                    func.min(clock.c.due_on).label("oldest"))
             .join(clock, (clock.c.kind == FILING_CLOCK) & (clock.c.subject_type == SUBJECT)
                   & (clock.c.subject_id == dossier_file.c.id.cast(Text)))
             .join(dossier, dossier.c.id == dossier_file.c.dossier_id)
             .where(clock.c.met_at.is_(None), clock.c.due_on < today,
                    dossier.c.status == DossierStatus.OPEN)
             .group_by(dossier_file.c.dossier_id))
    if dossier_ids is not None:
        query = query.where(dossier_file.c.dossier_id == among(list(dossier_ids)))
    return [Gap(r.dossier_id, "document.unfiled", "Art. 15", "documents", "error",
                f"{r.n} document(s) not filed, the oldest due {r.oldest.isoformat()}")
            for r in conn.execute(query)]


def sample_gaps(conn: Connection, sample: list[uuid.UUID], today: date,
                keyring: KeyRing | None = None) -> list[Gap]:
    """The documents of the sampled dossiers: integrity, paper counterpart, filing."""
    gaps = unfiled_gaps(conn, today, sample)
    rows = documents_of(conn, sample)
    if rows:
        bad: dict[uuid.UUID, list[str]] = defaultdict(list)
        for problem in check_rows(conn, keyring or KeyRing(), rows).bad:
            owner = next(r.dossier_id for r in rows if str(r.id) == problem.document_id)
            bad[owner].append(problem.document_id)
        gaps += [Gap(d_id, "document.integrity", "Arts. 14, 18", "documents", "error",
                     f"{len(ids)} stored document(s) do not open as stored: "
                     f"{', '.join(sorted(ids))}") for d_id, ids in bad.items()]
    no_paper = ~exists().where(paper_volume.c.dossier_id == dossier_file.c.dossier_id)
    for r in conn.execute(select(dossier_file.c.dossier_id, func.count().label("n"))
                          .where(dossier_file.c.dossier_id == among(sample),
                                 dossier_file.c.filed_at.is_not(None), no_paper)
                          .group_by(dossier_file.c.dossier_id)):
        gaps.append(Gap(r.dossier_id, "document.paper_missing", "Arts. 14, 15", "documents",
                        "error", f"{r.n} filed document(s) but no paper volume is registered"))
    return gaps
