"""The quarterly full check and sampling audit (Arts. 12, 14, 21).

1. Re-check the rectification items of earlier quarters: resolved or persisting.
2. Draw a reproducible random sample, stratified by department and client type: each
   stratum gives ``sampling_audit_ratio`` of its dossiers (at least one), and the whole
   sample at least ``sampling_audit_minimum``. The seed is chosen once per quarter, kept in
   ``duty_run`` and the ledger, so a re-run draws the same sample and anyone can redraw it.
3. Check each sampled dossier for completeness (the completeness checks), truthfulness
   signals and electronic-vs-paper consistency, and its electronic documents (each opened as
   stored, its paper counterpart, its filing: :mod:`dossiers.duties.documents_check`); every
   problem becomes a rectification item with its liaison as owner and a deadline.
"""

from __future__ import annotations

import math
import operator
import random
import secrets
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import Connection, exists, select

from dossiers.core.db import among
from dossiers.core.policy import policy
from dossiers.core.schema import contact, dossier, finding, paper_volume
from dossiers.core.vocabulary import DossierStatus, FindingStatus
from dossiers.duties import documents_check, findings, runs
from dossiers.duties.findings import Gap

DUTY = "sampling_audit"


def open_strata(conn: Connection) -> tuple[dict[tuple[str, str], list[uuid.UUID]],
                                            dict[uuid.UUID, int]]:
    """The open dossiers by (department, client type), and each one's liaison."""
    strata: dict[tuple[str, str], list[uuid.UUID]] = defaultdict(list)
    owners: dict[uuid.UUID, int] = {}
    for r in conn.execute(select(dossier.c.id, dossier.c.department, dossier.c.client_type,
                                 dossier.c.liaison_id).where(dossier.c.status == DossierStatus.OPEN)):
        strata[(r.department, r.client_type)].append(r.id)
        owners[r.id] = r.liaison_id
    return strata, owners


def draw(strata: dict[tuple[str, str], list[uuid.UUID]], seed: int) -> list[uuid.UUID]:
    """The sample: from each stratum its share (at least one), then topped up at random
    to the minimum. Same strata and seed, same sample (members are sorted first: the order
    rows come from the database is not part of the draw)."""
    rng = random.Random(seed)
    ratio, minimum = policy().sampling_audit_ratio, policy().sampling_audit_minimum
    chosen: list[uuid.UUID] = []
    for key in sorted(strata):
        members = sorted(strata[key], key=_uuid_order)
        chosen += rng.sample(members, min(len(members), max(1, math.ceil(ratio * len(members)))))
    if len(chosen) < minimum:
        picked = set(chosen)
        rest = sorted((i for members in strata.values() for i in members if i not in picked),
                      key=_uuid_order)
        chosen += rng.sample(rest, min(len(rest), minimum - len(chosen)))
    return chosen


#: UUIDs in their own order (``UUID.__lt__`` compares ``.int``), as a C-level sort key.
_uuid_order = operator.attrgetter("int")


def consistency_gaps(conn: Connection, sample: list[uuid.UUID]) -> list[Gap]:
    """Electronic vs paper (Arts. 14, 15) and truthfulness signals (Art. 3) of the sample."""
    gaps = []
    rows = conn.execute(select(dossier.c.id, dossier.c.dossier_no, dossier.c.client_name_zh,
                               dossier.c.filed_at, paper_volume.c.label_dossier_no,
                               paper_volume.c.label_client_name, paper_volume.c.volume_no)
                        .outerjoin(paper_volume, paper_volume.c.dossier_id == dossier.c.id)
                        .where(dossier.c.id == among(sample))).all()
    for r in rows:
        if r.filed_at is not None and r.volume_no is None:
            gaps.append(Gap(r.id, "paper.missing_volume", "Arts. 14, 15", "vault", "error",
                            "filed electronically but no paper volume is registered"))
        elif r.volume_no is not None and r.label_dossier_no != r.dossier_no:
            gaps.append(Gap(r.id, "paper.label_number", "Art. 15", "vault", "error",
                            f"volume {r.volume_no} is labelled {r.label_dossier_no}"))
        elif r.volume_no is not None and r.label_client_name != r.client_name_zh:
            gaps.append(Gap(r.id, "paper.label_client_name", "Art. 15", "vault", "warning",
                            f"volume {r.volume_no} label shows an older client name: relabel it"))
    # Truthfulness signal: a contact e-mail or phone shared with another client's dossier.
    other = contact.alias("other")
    for kind in ("email", "phone"):
        column, same = contact.c[f"{kind}_bidx"], other.c[f"{kind}_bidx"]
        shared = exists().where(same == column, other.c.dossier_id != contact.c.dossier_id)
        for d_id in conn.execute(select(contact.c.dossier_id).distinct()
                                 .where(contact.c.dossier_id == among(sample),
                                        column.is_not(None), shared)).scalars():
            gaps.append(Gap(d_id, f"truth.shared_{kind}", "Art. 3", "basic", "warning",
                            f"a key contact's {kind} also appears in another client's dossier"))
    return gaps


def sampling_audit(conn: Connection, period_start: date, completeness: Iterable[Gap],
                   today: date, *, seed: int | None = None) -> dict[str, Any]:
    """Run the quarter's audit; ``completeness`` are the current gaps of every dossier."""
    period = runs.period_key("quarter", period_start)
    run = runs.claim(conn, DUTY, period, seed=seed if seed is not None else secrets.randbits(48))
    if run is None:
        return {"period": period, "skipped": "already done for this period"}
    assert run.seed is not None
    gaps_now = list(completeness)
    strata, owners = open_strata(conn)
    sample = draw(strata, run.seed)
    in_sample = set(sample)
    found = [g for g in gaps_now if g.dossier_id in in_sample and g.severity == "error"]
    found += consistency_gaps(conn, sample) + documents_check.sample_gaps(conn, sample, today)
    earlier = _with_open_items(conn, period)
    failing_now = {(g.dossier_id, g.check_id)
                   for g in gaps_now + consistency_gaps(conn, earlier)
                   + documents_check.sample_gaps(conn, earlier, today)}
    rechecked = findings.recheck(conn, DUTY, period, failing_now)
    new = findings.record(conn, DUTY, period, found, owners, rectify_from=today)
    summary = {"period": period, "population": len(owners), "sample": len(sample),
               "strata": {f"{d}/{t}": len(m) for (d, t), m in sorted(strata.items())},
               "sampled_by_stratum": {f"{d}/{t}": len(set(m) & in_sample)
                                      for (d, t), m in sorted(strata.items())},
               "findings": new, "dossiers_with_findings": len({g.dossier_id for g in found}),
               "recheck": rechecked}
    numbers = dict(conn.execute(select(dossier.c.id, dossier.c.dossier_no)
                                .where(dossier.c.id == among(sample))).tuples().all())
    runs.finish(conn, run, summary, kept={"sample_dossiers": sorted(numbers.values())})
    return {**summary, "seed": run.seed}


def _with_open_items(conn: Connection, period: str) -> list[uuid.UUID]:
    """Dossiers with rectification items of earlier quarters still open."""
    return list(conn.execute(select(finding.c.dossier_id).distinct().where(
        finding.c.duty == DUTY, finding.c.period < period,
        finding.c.status.in_((FindingStatus.OPEN, FindingStatus.PERSISTING)))).scalars())
