"""The paper dossier vault register (Arts. 14, 15).

Paper dossiers are bound volumes labelled with the dossier number, the client name and the
filing date, stored by category in the same order as the electronic dossiers (Art. 15):
the register lists them by cabinet, shelf and position. The first volume of a dossier is
registered when the dossier is filed (:func:`dossiers.workflows.creation.file_dossier`); a dossier
that outgrows it gets another (:func:`register_volume`), placed right after its dossier's
last volume on that shelf so the order holds.

Art. 14 asks for periodic condition checks and for damaged or faded documents to be
repaired or copied: :func:`check_condition` records a check, and refuses to record a
damaged or faded volume without ``repair`` or ``copy``. A return from a loan is a check
too (:func:`dossiers.workflows.loans.return_loan`).

The archivist keeps the vault (``vault.manage``); the register may be read by the
archivist, the CS head and the QA supervisor (``vault.read``, Arts. 6, 7, 21).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

# typing_extensions' TypedDict, not typing's: the API answers with these (pydantic needs it
# before Python 3.12).
from typing_extensions import TypedDict

from dossiers.core import clock, ledger, paging
from dossiers.core.errors import NotFound, Refused
from dossiers.core.permissions import Action, Actor, authorize
from dossiers.core.schema import (
    dossier,
    loan,
    loan_volume,
    paper_condition_check,
    paper_volume,
    staff,
)
from dossiers.core.vocabulary import Condition, DossierStatus, LedgerAction, LoanStatus, Remedy
from dossiers.workflows.access import find
from dossiers.workflows.results import Result

CONDITIONS = tuple(Condition)
ACTIONS = tuple(Remedy)
#: Art. 14: what must be done about a volume in this condition.
NEEDS_ACTION = frozenset({Condition.DAMAGED, Condition.FADED})


class Label(TypedDict):
    """What a volume's spine says (Art. 15)."""

    dossier_no: str
    client_name: str
    filed_on: date


class VolumeLoan(TypedDict):
    """The open loan a volume is in."""

    loan_id: str
    status: str
    borrower: str
    due_on: date | None
    overdue: bool


@dataclass(frozen=True)
class Volume(Result):
    """A paper volume in the register, where it stands and how it is (Arts. 14, 15)."""

    ref: str
    volume_id: int
    cabinet: str
    shelf: int
    position: int
    label: Label
    volume_no: int
    condition: Condition
    last_checked_on: date | None
    last_action: str | None
    on_loan: bool
    loan: VolumeLoan | None


@dataclass(frozen=True)
class Registered(Result):
    ref: str
    volume_id: int
    dossier_no: str
    volume_no: int
    cabinet: str
    shelf: int
    position: int
    #: how many volumes behind it moved up one position to make room
    moved_up: int
    label_filed_on: date


@dataclass(frozen=True)
class Checked(Result):
    ref: str
    check_id: int
    checked_on: date
    before: str
    condition: str
    action: str


def _ref(v: Any) -> str:
    return f"{v.label_dossier_no}/{v.volume_no}"


def volume(conn: Connection, ref: str, *, lock: bool = False) -> Any:
    """A volume by ``DOSSIER_NO/VOLUME_NO``, by ``DOSSIER_NO`` (a one-volume dossier) or by
    its id."""
    ref = ref.strip()
    query = select(paper_volume).join(dossier, dossier.c.id == paper_volume.c.dossier_id) \
        .where(dossier.c.status != DossierStatus.DESTROYED)
    number, _, vol = ref.rpartition("/")
    if number and vol.isdigit():
        query = query.where(paper_volume.c.label_dossier_no == number,
                            paper_volume.c.volume_no == int(vol))
    elif ref.isdigit():
        query = query.where(paper_volume.c.id == int(ref))
    else:
        query = query.where(paper_volume.c.label_dossier_no == ref)
    rows = conn.execute(query.with_for_update(of=paper_volume) if lock else query).all()
    if not rows:
        raise NotFound("no such paper volume (DOSSIER_NO/VOLUME_NO, see `dossier vault list`)",
                       record=f"volume {ref}")
    if len(rows) > 1:
        raise Refused(f"the dossier has {len(rows)} volumes: name one as {ref}/VOLUME_NO",
                      record=f"volume {ref}")
    return rows[0]


def list_volumes(conn: Connection, actor: Actor, cabinet: str | None = None,
                 today: date | None = None, *, limit: int = paging.DEFAULT_LIMIT,
                 after: str | None = None) -> paging.Page[Volume]:
    """The register in shelf order (cabinet, shelf, position — the order of the electronic
    dossiers, Art. 15): label, place, condition and last check, and any open loan. A page
    of ``limit`` volumes after the cursor ``after`` (:mod:`dossiers.core.paging`)."""
    today = today or clock.today()
    authorize(conn, actor, Action.VAULT_READ, subject=f"vault {cabinet}" if cabinet else "vault")
    last_check = (select(paper_condition_check.c.volume_id,
                         func.max(paper_condition_check.c.id).label("check_id"))
                  .group_by(paper_condition_check.c.volume_id).subquery())
    open_loan = (select(loan_volume.c.volume_id, loan.c.id.label("loan_id"),
                        loan.c.status.label("loan_status"), loan.c.due_on,
                        staff.c.username.label("borrower"))
                 .join(loan, loan.c.id == loan_volume.c.loan_id)
                 .join(staff, staff.c.id == loan.c.requester_id)
                 .where(loan.c.status.in_((LoanStatus.REQUESTED, LoanStatus.APPROVED, LoanStatus.LENT)))
                 .subquery())
    query = (select(paper_volume, paper_condition_check.c.checked_on.label("last_checked_on"),
                    paper_condition_check.c.action.label("last_action"), open_loan.c.loan_id,
                    open_loan.c.loan_status, open_loan.c.due_on, open_loan.c.borrower)
             .join(dossier, dossier.c.id == paper_volume.c.dossier_id)
             .outerjoin(last_check, last_check.c.volume_id == paper_volume.c.id)
             .outerjoin(paper_condition_check,
                        paper_condition_check.c.id == last_check.c.check_id)
             .outerjoin(open_loan, open_loan.c.volume_id == paper_volume.c.id)
             .where(dossier.c.status != DossierStatus.DESTROYED))
    if cabinet is not None:
        query = query.where(paper_volume.c.cabinet == cabinet)
    # (cabinet, shelf, position) is unique (a place holds one volume); a volume is on at
    # most one open loan (``loans.request`` refuses a second), so one row per volume.
    page = paging.fetch(conn, "vault", query, (paper_volume.c.cabinet, paper_volume.c.shelf,
                                               paper_volume.c.position), limit=limit, after=after)
    return paging.Page([Volume(
        ref=_ref(r), volume_id=r.id, cabinet=r.cabinet, shelf=r.shelf, position=r.position,
        label=Label(dossier_no=r.label_dossier_no, client_name=r.label_client_name,
                    filed_on=r.label_filed_on),
        volume_no=r.volume_no, condition=Condition(r.condition),
        last_checked_on=r.last_checked_on, last_action=r.last_action,
        on_loan=r.loan_status == LoanStatus.LENT,
        loan=None if r.loan_id is None else VolumeLoan(
            loan_id=str(r.loan_id), status=r.loan_status, borrower=r.borrower, due_on=r.due_on,
            overdue=r.loan_status == LoanStatus.LENT and r.due_on is not None
            and today > r.due_on),
    ) for r in page.items], page.next)


def register_volume(conn: Connection, actor: Actor, dossier_no: str, *,
                    cabinet: str | None = None, shelf: int | None = None,
                    today: date | None = None) -> Registered:
    """Register another paper volume of a filed dossier (Art. 15): the next volume number,
    labelled from the dossier, placed right after the dossier's last volume on the shelf
    (later volumes there move up one place), or at the end of another shelf. Without a
    cabinet and shelf it goes where the dossier's last volume stands."""
    today = today or clock.today()
    row = find(conn, dossier_no, lock=True)
    record = f"dossier {dossier_no}"
    authorize(conn, actor, Action.VAULT_MANAGE, subject=record)
    if row.filed_at is None:
        raise Refused("is not filed yet: filing registers its first volume "
                      "(`dossier dossiers file`)", record=record)
    if (cabinet is None) != (shelf is None):
        raise Refused("give both the cabinet and the shelf, or neither", record=record,
                      field="cabinet" if cabinet is None else "shelf")
    if cabinet is not None and not cabinet.strip():
        raise Refused("is empty", record=record, field="cabinet")
    if shelf is not None and shelf < 1:
        raise Refused("is a positive number", record=record, field="shelf")
    own = conn.execute(select(paper_volume).where(paper_volume.c.dossier_id == row.id)
                       .order_by(paper_volume.c.volume_no.desc())).all()
    if cabinet is None or shelf is None:
        if not own:
            raise Refused("has no volume yet; give --cabinet and --shelf", record=record,
                          field="cabinet")
        cabinet, shelf = own[0].cabinet, own[0].shelf
    cabinet = cabinet.strip()
    siblings = [v.position for v in own if v.cabinet == cabinet and v.shelf == shelf]
    shifted = 0
    if siblings:
        position = max(siblings) + 1
        # Make room: later volumes move up one place. Through negative positions, because
        # the (cabinet, shelf, position) uniqueness is checked row by row.
        moved = conn.execute(update(paper_volume).where(
            paper_volume.c.cabinet == cabinet, paper_volume.c.shelf == shelf,
            paper_volume.c.position >= position,
        ).values(position=-(paper_volume.c.position + 1)).returning(paper_volume.c.id)).all()
        conn.execute(update(paper_volume).where(
            paper_volume.c.cabinet == cabinet, paper_volume.c.shelf == shelf,
            paper_volume.c.position < 0).values(position=-paper_volume.c.position))
        shifted = len(moved)
    else:
        position = conn.execute(
            select(func.coalesce(func.max(paper_volume.c.position), 0) + 1)
            .where(paper_volume.c.cabinet == cabinet, paper_volume.c.shelf == shelf)
        ).scalar_one()
    volume_no = (own[0].volume_no if own else 0) + 1
    new_id = conn.execute(insert(paper_volume).values(
        dossier_id=row.id, volume_no=volume_no, label_dossier_no=row.dossier_no,
        label_client_name=row.client_name_zh, label_filed_on=today, cabinet=cabinet,
        shelf=shelf, position=position).returning(paper_volume.c.id)).scalar_one()
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.VAULT_REGISTER, subject_type="paper_volume",
        subject_id=str(new_id), dossier_no=dossier_no,
        details={"volume_no": volume_no, "cabinet": cabinet, "shelf": shelf,
                 "position": position, "moved_up": shifted}))
    return Registered(f"{dossier_no}/{volume_no}", new_id, dossier_no, volume_no, cabinet, shelf,
                      position, shifted, today)


def check_condition(conn: Connection, actor: Actor, ref: str, *, condition: str,
                    action: str = Remedy.NONE, notes: str | None = None,
                    today: date | None = None) -> Checked:
    """Record a condition check of a volume in the vault (Art. 14): its condition and what
    is done about it; a damaged or faded volume is repaired or copied, never left as is."""
    today = today or clock.today()
    v = volume(conn, ref, lock=True)
    record = f"volume {_ref(v)}"
    authorize(conn, actor, Action.VAULT_MANAGE, subject=record)
    if condition not in CONDITIONS:
        raise Refused(f"unknown condition; one of {', '.join(CONDITIONS)}", record=record,
                      field="condition")
    if action not in ACTIONS:
        raise Refused(f"unknown action; one of {', '.join(ACTIONS)}", record=record,
                      field="action")
    if condition in NEEDS_ACTION and action == Remedy.NONE:
        raise Refused(f"a {condition} volume is repaired or copied (Art. 14): record "
                      "--action repair or --action copy", record=record, field="action")
    lent = conn.execute(select(loan.c.id, loan.c.due_on)
                        .join(loan_volume, loan_volume.c.loan_id == loan.c.id)
                        .where(loan_volume.c.volume_id == v.id, loan.c.status == LoanStatus.LENT)).first()
    if lent is not None:
        raise Refused(f"is out on loan {lent.id} (due {lent.due_on}); its condition is "
                      "recorded when it comes back (`dossier loans return`)", record=record)
    check_id = conn.execute(insert(paper_condition_check).values(
        volume_id=v.id, checked_on=today, checked_by=actor.staff_id, condition=condition,
        action=action, notes=(notes or "").strip() or None,
    ).returning(paper_condition_check.c.id)).scalar_one()
    conn.execute(update(paper_volume).where(paper_volume.c.id == v.id).values(
        condition=condition))
    ledger.append(conn, ledger.Entry(
        actor=actor.username, action=LedgerAction.VAULT_CHECK, subject_type="paper_volume",
        subject_id=str(v.id), dossier_no=v.label_dossier_no,
        details={"volume_no": v.volume_no, "checked_on": today.isoformat(),
                 "before": v.condition, "condition": condition, "action": action}))
    return Checked(_ref(v), check_id, today, v.condition, condition, action)
