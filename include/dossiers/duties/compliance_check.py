"""The periodic compliance check (Art. 20), quarterly, on the first working day.

CS checks what the law (Data Security Law, PIPL, the target markets' rules) and the policy
require of the data, and every problem becomes a rectification item with an owner and a
deadline (the findings and their clocks; the next quarter re-checks it):

- every open client's authorisation is on record and valid today (Arts. 9, 19);
- no personal data past its purpose: a destroyed dossier's data key is destroyed, and a
  terminated dossier past its review has been decided (kept or sent to destruction,
  Arts. 14, 17);
- every staff member with access has a confidentiality agreement on record, and every
  leaver's handover is signed off by CS (Art. 19);
- every open dossier's data key is live, the ledger verifies, a full
  backup is recent, an off-site copy is current and a restore drill succeeded in the
  quarter (Arts. 11, 14, 18).

- every external disclosure and cross-border transfer (a recipient outside China) is on the
  disclosure register, and none was packaged without management's approval first
  (Arts. 16, 20; PIPL cross-border rules).

Anything the check cannot see would be listed in the report as not checked, never as passed.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from dossiers.calendar.clocks import add_months
from dossiers.core import ledger
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.policy import policy
from dossiers.core.schema import (
    backup,
    backup_drill,
    client_authorisation,
    data_key,
    disclosure_request,
    dossier,
    finding,
    staff,
    staff_handover,
    staff_role,
)
from dossiers.core.vocabulary import (
    BackupKind,
    BackupStatus,
    DisclosureStatus,
    DossierStatus,
    FindingStatus,
    Stage,
)
from dossiers.duties import findings, runs
from dossiers.duties.findings import Gap, SubjectGap

DUTY = "compliance_check"
#: What the check cannot see yet: named in the report so nobody reads it as passed.
NOT_CHECKED: tuple[str, ...] = ()


def authorisation_gaps(conn: Connection, today: date) -> list[Gap]:
    """Open dossiers whose client's authorisation is not on record, or expired (Art. 19)."""
    rows = conn.execute(
        select(dossier.c.id, dossier.c.authorisation_ref, client_authorisation.c.expires_on)
        .outerjoin(client_authorisation,
                   client_authorisation.c.reference == dossier.c.authorisation_ref)
        .where(dossier.c.status == DossierStatus.OPEN,
               or_(client_authorisation.c.id.is_(None),
                   client_authorisation.c.expires_on < today))).all()
    return [Gap(r.id, "authorisation.missing" if r.expires_on is None else "authorisation.expired",
                "Arts. 9, 19", "authorisation", "error",
                f"authorisation {r.authorisation_ref} is not on record: record it "
                "(`dossier authorisations record`) or stop using the client's information"
                if r.expires_on is None else
                f"authorisation {r.authorisation_ref} expired on {r.expires_on}: renew it "
                "before any further collection") for r in rows]


def purpose_gaps(conn: Connection, today: date) -> list[Gap]:
    """Personal data kept past its purpose (Arts. 14, 17, 20)."""
    gaps = [Gap(d, "purpose.key_not_destroyed", "Arts. 17, 18", "lifecycle", "error",
                "destroyed dossier whose data key still exists: destroy the key")
            for d in conn.execute(select(dossier.c.id).join(
                data_key, data_key.c.dossier_id == dossier.c.id).where(
                dossier.c.status == DossierStatus.DESTROYED,
                data_key.c.wrapped_key.is_not(None))).scalars()]
    review_before = add_months(today, -policy().inactive_review_months)
    gaps += [Gap(r.id, "purpose.undecided_termination", "Arts. 14, 17", "lifecycle", "warning",
                 f"terminated {r.terminated_on} with no prospect, past its review: keep it "
                 "(`dossier dossiers keep`) or propose its destruction")
             for r in conn.execute(select(dossier.c.id, dossier.c.terminated_on).where(
                 dossier.c.stage == Stage.TERMINATED, dossier.c.further_cooperation.is_(False),
                 dossier.c.status == DossierStatus.OPEN,
                 dossier.c.terminated_on < review_before))]
    return gaps


def key_gaps(conn: Connection) -> list[Gap]:
    """Open dossiers without a live data key: their data can no longer be read (Art. 18)."""
    live = select(data_key.c.dossier_id).where(data_key.c.wrapped_key.is_not(None))
    return [Gap(d, "keys.missing", "Art. 18", "keys", "error",
                "open dossier without a live data key: restore it from the key ring backup")
            for d in conn.execute(select(dossier.c.id).where(
                dossier.c.status == DossierStatus.OPEN, dossier.c.id.not_in(live))).scalars()]


def staff_gaps(conn: Connection) -> list[SubjectGap]:
    """Staff with access and no agreement; leavers' handovers not signed off (Art. 19)."""
    gaps = [SubjectGap(f"staff {u}", "agreement.missing", "Art. 19", "staff", "error",
                       "active staff member without a signed confidentiality agreement on "
                       "record: `dossier staff agreement`")
            for u in conn.execute(select(staff.c.username).where(
                staff.c.active, staff.c.confidentiality_signed_on.is_(None))
                .order_by(staff.c.username)).scalars()]
    left = conn.execute(select(staff.c.username, staff_handover.c.id.label("handover"))
                        .outerjoin(staff_handover, staff_handover.c.staff_id == staff.c.id)
                        .where(~staff.c.active, or_(staff_handover.c.id.is_(None),
                                                    staff_handover.c.signed_off_at.is_(None)))
                        .order_by(staff.c.username)).all()
    gaps += [SubjectGap(f"staff {r.username}", "handover.unsigned", "Art. 19", "staff",
                        "warning", "leaver's handover of dossier materials not signed off by "
                                   "CS: `dossier staff handover-sign-off`") for r in left]
    return gaps


def ledger_gaps(conn: Connection) -> list[SubjectGap]:
    """The ledger intact: every entry re-hashed, the chain unbroken (Arts. 11, 13)."""
    checked = ledger.verify(conn)
    if checked.ok:
        return []
    broken = (checked.first_broken or {}).get("seq")
    return [SubjectGap("ledger", "ledger.broken", "Arts. 11, 13", "ledger", "error",
                       f"the ledger does not verify (first broken entry: {broken}): "
                       "run `dossier ledger verify` and investigate")]


def disclosure_gaps(conn: Connection) -> list[SubjectGap]:
    """Disclosures packaged without an approval before the packaging (Arts. 16, 20): a
    cross-border one (recipient outside China) is named as such (PIPL)."""
    rows = conn.execute(select(disclosure_request.c.id, disclosure_request.c.dossier_no,
                               disclosure_request.c.recipient_country).where(
        disclosure_request.c.package_sha256.is_not(None),
        or_(disclosure_request.c.decided_by.is_(None),
            disclosure_request.c.decided_at.is_(None),
            disclosure_request.c.status.not_in((DisclosureStatus.APPROVED,
                                                DisclosureStatus.PACKAGED)),
            disclosure_request.c.decided_at > disclosure_request.c.packaged_at))
        .order_by(disclosure_request.c.requested_at)).all()
    return [SubjectGap(f"disclosure {r.id}", "disclosure.unapproved", "Arts. 16, 20",
                       "disclosure", "error",
                       f"{'cross-border ' if r.recipient_country != 'CN' else ''}disclosure of "
                       f"{r.dossier_no} packaged without management's approval first")
            for r in rows]


def backup_gaps(conn: Connection, period_start: date, today: date) -> list[SubjectGap]:
    """Backups and drills current (Arts. 14, 18): a full backup within its interval, an
    off-site copy within the month, a successful restore drill during the quarter."""
    rules = policy()
    done = (BackupStatus.COMPLETE, BackupStatus.VERIFIED)
    last_full = conn.execute(select(func.max(backup.c.finished_at)).where(
        backup.c.kind == BackupKind.FULL, backup.c.status.in_(done))).scalar()
    last_offsite = conn.execute(select(func.max(backup.c.offsite_at)).where(
        backup.c.kind == BackupKind.FULL)).scalar()
    last_drill = conn.execute(select(func.max(backup_drill.c.finished_at)).where(
        backup_drill.c.ok)).scalar()
    gaps = []
    if last_full is None or last_full.date() < today - timedelta(days=rules.backup_full_every_days):
        gaps.append(SubjectGap(
            "backups", "backups.full_stale", rules.article("backup_full_every_days"), "backups",
            "error", f"no full backup in the last {rules.backup_full_every_days} days "
                     f"(last: {last_full.date() if last_full else 'never'})"))
    if last_offsite is None or last_offsite.date() < add_months(
            today, -rules.backup_offsite_every_months):
        gaps.append(SubjectGap(
            "backups", "backups.offsite_stale", rules.article("backup_offsite_every_months"),
            "backups", "error", "no off-site copy within the month "
                                f"(last: {last_offsite.date() if last_offsite else 'never'})"))
    if last_drill is None or last_drill.date() < period_start:
        gaps.append(SubjectGap(
            "backups", "backups.no_drill", "Art. 18", "backups", "warning",
            "no successful restore drill during the quarter checked "
            f"(last: {last_drill.date() if last_drill else 'never'})"))
    return gaps


def _cs_head(conn: Connection) -> int | None:
    return conn.execute(select(staff.c.id).join(staff_role, staff_role.c.staff_id == staff.c.id)
                        .where(staff_role.c.role == "cs_head", staff.c.active)
                        .order_by(staff.c.id).limit(1)).scalar()


def _archivist(conn: Connection) -> int | None:
    return conn.execute(select(staff.c.id).join(staff_role, staff_role.c.staff_id == staff.c.id)
                        .where(staff_role.c.role == "archivist", staff.c.active)
                        .order_by(staff.c.id).limit(1)).scalar()


def compliance_check(conn: Connection, period_start: date, today: date,
                     actor: Actor | None = None) -> dict[str, Any]:
    """Run the quarter's compliance check (the duty's system actor, or the CS head running
    it by hand, Art. 20); the figures of its report."""
    period = runs.period_key("quarter", period_start)
    authorize(conn, actor or Actor.system(), Action.COMPLIANCE_CHECK,
              subject=f"compliance check {period}")
    run = runs.claim(conn, DUTY, period)
    if run is None:
        return {"period": period, "skipped": "already done for this period"}
    dossier_gaps = [*authorisation_gaps(conn, today), *purpose_gaps(conn, today),
                    *key_gaps(conn)]
    subject_gaps = [*staff_gaps(conn), *ledger_gaps(conn),
                    *backup_gaps(conn, period_start, today), *disclosure_gaps(conn)]
    rechecked = findings.recheck(conn, DUTY, period,
                                 {(g.dossier_id, g.check_id) for g in dossier_gaps},
                                 {(g.subject, g.check_id) for g in subject_gaps})
    liaisons = dict(conn.execute(select(dossier.c.id, dossier.c.liaison_id).where(
        dossier.c.id.in_({g.dossier_id for g in dossier_gaps}))).tuples().all())
    archivist, cs_head = _archivist(conn), _cs_head(conn)
    owners: dict[uuid.UUID, int] = {}
    for g in dossier_gaps:  # the liaison answers for the client; the archivist for custody
        owner = liaisons.get(g.dossier_id) if g.dimension == "authorisation" else archivist
        if owner is not None:
            owners[g.dossier_id] = owner
    new = findings.record(conn, DUTY, period, dossier_gaps, owners, rectify_from=today)
    new += findings.record_subjects(conn, DUTY, period, subject_gaps, cs_head,
                                    rectify_from=today)
    by_check: dict[str, int] = {}
    checks = [g.check_id for g in dossier_gaps] + [g.check_id for g in subject_gaps]
    for check in sorted(checks):
        by_check[check] = by_check.get(check, 0) + 1
    summary: dict[str, Any] = {
        "period": period,
        "clients_checked": _open_count(conn),
        "findings": new, "problems_now": len(dossier_gaps) + len(subject_gaps),
        "by_check": by_check, "recheck": rechecked,
        "disclosures_registered": int(conn.execute(select(func.count()).select_from(
            disclosure_request)).scalar_one()),
        **({"not_checked": list(NOT_CHECKED)} if NOT_CHECKED else {}),
    }
    summary["rectification_items"] = _items(conn, period)
    runs.finish(conn, run, {k: v for k, v in summary.items() if k != "rectification_items"})
    return summary


def _open_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(dossier).where(
        dossier.c.status == DossierStatus.OPEN)).scalar_one())


def _items(conn: Connection, period: str) -> list[dict[str, Any]]:
    """The quarter's rectification items, for the report: what, about whom, owner, due."""
    owner = staff.alias("owner")
    rows = conn.execute(
        select(finding.c.check_id, finding.c.article, finding.c.severity,
               dossier.c.dossier_no, finding.c.subject, owner.c.username, finding.c.due_on,
               finding.c.status)
        .outerjoin(dossier, dossier.c.id == finding.c.dossier_id)
        .outerjoin(owner, owner.c.id == finding.c.owner_id)
        .where(finding.c.duty == DUTY, and_(finding.c.period == period,
                                            finding.c.status != FindingStatus.RESOLVED))
        .order_by(finding.c.check_id, dossier.c.dossier_no, finding.c.subject)).all()
    return [{"check": r.check_id, "article": r.article, "severity": r.severity,
             "subject": r.dossier_no or r.subject, "owner": r.username,
             "due": r.due_on.isoformat() if r.due_on else None, "status": r.status}
            for r in rows]
