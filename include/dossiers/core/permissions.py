"""Who may do what: the one permission check, fed by the role matrix of Arts. 6, 7 and 16.

Every action of the CLI, the API and the duties calls :func:`authorize` before it changes
or reveals anything. A refusal raises :class:`PermissionDenied` naming the actor, the
action and the reason, and is written to ``access_log`` in its own transaction, so the
refusal is recorded even though the refused work writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from dossiers.core import clock
from dossiers.core.errors import PermissionDenied

if TYPE_CHECKING:  # the matrix is read at DAG parse time (approval chains): no database there
    from sqlalchemy import Connection


class Role(StrEnum):
    LIAISON = "liaison"  # Art. 7: business liaisons
    DEPT_HEAD = "dept_head"  # Art. 7: department heads
    ARCHIVIST = "archivist"  # Art. 7: 客戶檔案管理員, appointed by CS
    CS_HEAD = "cs_head"  # Arts. 13, 15, 17: head of Customer Service
    QA_SUPERVISOR = "qa_supervisor"  # Arts. 7, 21
    MANAGEMENT = "management"  # Art. 6: approval of major matters
    SYSTEM = "system"  # the scheduled duties run by Airflow (never a person)


#: Each role's name, (Chinese, English), as the policy names it (Arts. 6, 7); the ``role``
#: table's rows (migration 0001) say the same, and a test compares them.
ROLE_NAMES: dict[Role, tuple[str, str]] = {
    Role.LIAISON: ("業務對接人", "Business liaison"),
    Role.DEPT_HEAD: ("部門負責人", "Department head"),
    Role.ARCHIVIST: ("客戶檔案管理員", "Dossier archivist"),
    Role.CS_HEAD: ("客服部負責人", "Head of Customer Service"),
    Role.QA_SUPERVISOR: ("品質監督員", "QA supervisor"),
    Role.MANAGEMENT: ("公司管理層", "Management"),
    Role.SYSTEM: ("系統", "System"),
}


class Action(StrEnum):
    STAFF_ADD = "staff.add"
    STAFF_LEAVE = "staff.leave"
    FORM_SUBMIT = "form.submit"
    #: A form naming another liaison, for the submitter's own department (its head).
    FORM_SUBMIT_FOR_DEPARTMENT = "form.submit_for_department"
    #: A form naming another liaison, for any department (CS collects centrally).
    FORM_SUBMIT_FOR_ANY_DEPARTMENT = "form.submit_for_any_department"
    FORM_REVIEW = "form.review"
    DOSSIER_CREATE = "dossier.create"
    DOSSIER_FILE = "dossier.file"
    DOSSIER_STAGE = "dossier.stage"
    DOSSIER_READ = "dossier.read"
    FORM_LIST = "form.list"
    UPDATE_SUBMIT = "update.submit"
    UPDATE_REVIEW = "update.review"
    UPDATE_APPLY = "update.apply"
    IMPORTANT_CHANGE_APPROVE = "important_change.approve"
    FILING_DELAY_APPROVE = "filing_delay.approve"
    QUERY_REQUEST = "query.request"
    QUERY_APPROVE = "query.approve"
    LOAN_REQUEST = "loan.request"
    LOAN_APPROVE_DEPARTMENT = "loan.approve_department"
    LOAN_APPROVE_ARCHIVE = "loan.approve_archive"
    VAULT_MANAGE = "vault.manage"
    VAULT_READ = "vault.read"
    DESTRUCTION_PROPOSE = "destruction.propose"
    DESTRUCTION_REVIEW = "destruction.review"
    #: A department head re-checks that their department needs none of the dossiers (Art. 17(2)).
    DESTRUCTION_RECHECK = "destruction.recheck"
    DESTRUCTION_APPROVE = "destruction.approve"
    DESTRUCTION_SUPERVISE = "destruction.supervise"
    #: The archivist destroys, under the QA supervisor's supervision (Art. 17(2)(3)).
    DESTRUCTION_EXECUTE = "destruction.execute"
    #: A legal hold (litigation, regulator) placed or released: it blocks destruction (Art. 17).
    LEGAL_HOLD_MANAGE = "legal_hold.manage"
    DISCLOSURE_REQUEST = "disclosure.request"  # Art. 16: CS provides, on application
    DISCLOSURE_APPROVE = "disclosure.approve"
    DISCLOSURE_PACKAGE = "disclosure.package"  # Art. 16: the desensitised package, by CS
    DISCLOSURE_REGISTER = "disclosure.register"  # Arts. 16, 20: the register compliance reads
    LEDGER_VERIFY = "ledger.verify"
    #: Take, drill, list, ship off-site and expire backups (Arts. 14, 18).
    BACKUP_RUN = "backup.run"
    AUDIT_RUN = "audit.run"
    #: Add an electronic document to a dossier (Arts. 6, 15); who supplies which type is
    #: the policy's (``DOCUMENT_SUPPLIERS``), checked through the same :func:`authorize`.
    DOCUMENT_ADD = "document.add"
    #: Decrypt and check every stored document, or a dossier's (Arts. 14, 18).
    DOCUMENT_VERIFY = "document.verify"
    #: Remove uploads that never became documents, and objects without a row (Art. 18).
    DOCUMENT_SWEEP = "document.sweep"
    REPORT_READ = "report.read"
    #: A report whole, every department's and person's rows; without it a report with such
    #: rows is read as one's own department's edition (Art. 22).
    REPORT_READ_ALL = "report.read_all"
    #: Record a client's authorisation to collect its information (Art. 19).
    AUTHORISATION_RECORD = "authorisation.record"
    #: Put a staff member's signed confidentiality agreement on record (Art. 19).
    STAFF_AGREEMENT = "staff.agreement"
    #: Sign off a leaver's handover of dossier materials to CS (Art. 19).
    STAFF_HANDOVER_SIGN_OFF = "staff.handover_sign_off"
    #: Run the periodic compliance check (Art. 20).
    COMPLIANCE_CHECK = "compliance.check"
    #: Report a compliance incident or dispute (Art. 20): anyone who finds one.
    INCIDENT_OPEN = "incident.open"
    #: Record handling steps and owners of an incident (Art. 20: coordinate handling).
    INCIDENT_HANDLE = "incident.handle"
    INCIDENT_CLOSE = "incident.close"
    #: Record a complaint about dossier handling (Art. 21): whoever receives it.
    COMPLAINT_RECEIVE = "complaint.receive"
    #: QA's investigation, rectification and accountability (Art. 21).
    COMPLAINT_INVESTIGATE = "complaint.investigate"
    #: Read the incident and complaint registers (Arts. 20, 21).
    COMPLIANCE_READ = "compliance.read"


#: The role x action matrix. Each line cites where the policy gives the role that duty.
MATRIX: dict[Role, frozenset[Action]] = {
    Role.LIAISON: frozenset({
        Action.FORM_SUBMIT, Action.UPDATE_SUBMIT, Action.FORM_LIST,  # Arts. 7, 11(1), 13(1)
        Action.DOSSIER_READ,  # Art. 16: their own clients'; any other through a grant
        Action.QUERY_REQUEST, Action.LOAN_REQUEST,  # Art. 16
        Action.DOCUMENT_ADD,  # Art. 6: each department files the materials it produces
        Action.AUTHORISATION_RECORD,  # Art. 19: liaisons obtain the client's authorisation
        Action.INCIDENT_OPEN, Action.COMPLAINT_RECEIVE,  # Arts. 20, 21: report what they find
    }),
    Role.DEPT_HEAD: frozenset({
        Action.FORM_SUBMIT, Action.UPDATE_SUBMIT, Action.QUERY_REQUEST, Action.LOAN_REQUEST,
        Action.FORM_REVIEW, Action.UPDATE_REVIEW, Action.FORM_LIST,  # Arts. 7, 11(2), 13(2)
        Action.FORM_SUBMIT_FOR_DEPARTMENT,  # Art. 7: heads answer for what their department collects
        Action.LOAN_APPROVE_DEPARTMENT,  # Art. 16
        Action.DESTRUCTION_RECHECK,  # Art. 17(2): the CS head has the department heads re-check
        Action.DOSSIER_READ,  # Art. 16: through an approved grant
        Action.REPORT_READ,  # Art. 22: their department's and people's scores (its editions)
        Action.DOCUMENT_ADD,  # Art. 6
        Action.AUTHORISATION_RECORD,  # Art. 19
        Action.INCIDENT_OPEN, Action.COMPLAINT_RECEIVE,  # Arts. 20, 21
    }),
    Role.ARCHIVIST: frozenset({
        Action.DOSSIER_CREATE, Action.DOSSIER_FILE, Action.UPDATE_APPLY,  # Arts. 11, 13
        Action.DOSSIER_STAGE, Action.FORM_LIST,  # Art. 15: classification kept current
        Action.DOSSIER_READ,  # Art. 7: custodian of every dossier
        Action.QUERY_APPROVE, Action.LOAN_APPROVE_ARCHIVE, Action.VAULT_MANAGE,  # Arts. 7, 14, 16
        Action.VAULT_READ,  # Art. 6: CS runs the paper vault; the archivist keeps it
        Action.DESTRUCTION_PROPOSE, Action.DESTRUCTION_EXECUTE,  # Art. 17(2)(1), (3)
        Action.DISCLOSURE_REQUEST, Action.DISCLOSURE_PACKAGE,  # Art. 16: CS provides
        Action.DISCLOSURE_REGISTER,
        Action.LEDGER_VERIFY,  # Art. 11(5): keeps the ledger
        Action.BACKUP_RUN,  # Arts. 6, 14, 18: CS maintains the electronic system and its backups
        Action.REPORT_READ, Action.REPORT_READ_ALL,  # Arts. 12, 14: audits, updates of what they keep
        Action.DOCUMENT_ADD,  # Art. 6(2): CS collects and files centrally
        Action.DOCUMENT_VERIFY, Action.DOCUMENT_SWEEP,  # Arts. 7, 18: custody of the store
        Action.AUTHORISATION_RECORD,  # Art. 19: kept with the dossier
        Action.INCIDENT_OPEN, Action.COMPLAINT_RECEIVE,  # Arts. 20, 21
    }),
    Role.CS_HEAD: frozenset({
        Action.QUERY_REQUEST, Action.DOSSIER_READ,  # Art. 16: through an approved grant
        Action.IMPORTANT_CHANGE_APPROVE,  # Art. 13(3)
        Action.FILING_DELAY_APPROVE,  # Art. 15
        Action.DESTRUCTION_REVIEW,  # Art. 17(1)
        Action.LEGAL_HOLD_MANAGE,  # Art. 17: CS receives the litigation or the inspection
        Action.DISCLOSURE_REQUEST, Action.DISCLOSURE_REGISTER,  # Art. 16
        Action.STAFF_ADD, Action.STAFF_LEAVE,  # Arts. 6, 19: CS receives leavers' materials
        Action.FORM_REVIEW, Action.UPDATE_REVIEW, Action.FORM_LIST,  # head of CS
        Action.FORM_SUBMIT, Action.FORM_SUBMIT_FOR_DEPARTMENT,  # Art. 6(2): CS collects centrally,
        Action.FORM_SUBMIT_FOR_ANY_DEPARTMENT,  # for every department
        Action.LOAN_APPROVE_DEPARTMENT,  # Art. 16: department head of CS staff's loans
        Action.VAULT_READ,  # Arts. 6, 14: CS runs the vault; checks and rectification
        Action.LEDGER_VERIFY, Action.AUDIT_RUN,  # Arts. 12, 14: full checks, sampling
        Action.BACKUP_RUN,  # Arts. 6, 14, 18: CS maintains the electronic system and its backups
        Action.REPORT_READ, Action.REPORT_READ_ALL,  # Arts. 12, 14, 22: runs the checks, the scorecard
        Action.DOCUMENT_ADD,  # Art. 6(2): CS collects centrally (complaint correspondence)
        Action.DOCUMENT_VERIFY,  # Art. 14: checks
        Action.AUTHORISATION_RECORD, Action.STAFF_AGREEMENT,  # Art. 19
        Action.STAFF_HANDOVER_SIGN_OFF,  # Art. 19: leavers hand everything over to CS
        Action.COMPLIANCE_CHECK,  # Art. 20: CS runs the periodic compliance checks
        Action.INCIDENT_OPEN, Action.INCIDENT_HANDLE,  # Art. 20: coordinates the handling
        Action.COMPLAINT_RECEIVE, Action.COMPLIANCE_READ,  # Arts. 20, 21
    }),
    Role.QA_SUPERVISOR: frozenset({
        Action.QUERY_REQUEST, Action.DOSSIER_READ,  # Art. 16: through an approved grant
        Action.DESTRUCTION_SUPERVISE,  # Art. 17(3)
        Action.DISCLOSURE_REGISTER,  # Arts. 20, 21: compliance checks
        Action.VAULT_READ,  # Arts. 6, 21: supervises security and custody of the paper
        Action.LEDGER_VERIFY, Action.AUDIT_RUN,  # Arts. 7, 21
        Action.REPORT_READ, Action.REPORT_READ_ALL,  # Art. 21: supervision, special inspections
        Action.DOCUMENT_VERIFY,  # Art. 21: supervises security
        Action.INCIDENT_OPEN, Action.COMPLAINT_RECEIVE,  # Arts. 20, 21
        Action.COMPLAINT_INVESTIGATE,  # Art. 21: QA investigates complaints, drives rectification
        Action.COMPLIANCE_READ,  # Art. 21: supervises security
    }),
    Role.MANAGEMENT: frozenset({
        Action.QUERY_REQUEST, Action.DOSSIER_READ,  # Art. 16: through an approved grant
        Action.DESTRUCTION_APPROVE, Action.DISCLOSURE_APPROVE,  # Arts. 6, 16, 17
        Action.LEGAL_HOLD_MANAGE, Action.DISCLOSURE_REGISTER,
        Action.STAFF_ADD, Action.STAFF_LEAVE,
        Action.LEDGER_VERIFY,
        Action.REPORT_READ, Action.REPORT_READ_ALL,  # Art. 21: inspection results to management
        Action.STAFF_AGREEMENT,  # Art. 19
        Action.INCIDENT_OPEN, Action.INCIDENT_HANDLE, Action.INCIDENT_CLOSE,  # Art. 20: reported to
        Action.COMPLAINT_RECEIVE, Action.COMPLIANCE_READ,  # management, who closes incidents
    }),
    Role.SYSTEM: frozenset({Action.LEDGER_VERIFY, Action.AUDIT_RUN,
                            Action.BACKUP_RUN,  # Arts. 14, 18: the weekly and monthly duties
                            Action.DOCUMENT_VERIFY, Action.DOCUMENT_SWEEP,
                            Action.COMPLIANCE_CHECK}),  # Art. 20: the quarterly duty
}

STAFF_ROLES = tuple(r for r in Role if r is not Role.SYSTEM)

#: The actions that read a client's information: a dossier, and its documents (listed and
#: opened under ``dossier.read``, :mod:`dossiers.documents.access`); a disclosure package,
#: made from the dossier and its documents. Nobody performs them without a signed
#: confidentiality agreement on record (Art. 19), whatever their roles or grants:
#: :func:`authorize` refuses, and logs the refusal.
READ_ACTIONS: frozenset[Action] = frozenset({Action.DOSSIER_READ, Action.DISCLOSURE_PACKAGE})

NO_AGREEMENT = "no signed confidentiality agreement on record (Art. 19)"


@dataclass(frozen=True)
class Actor:
    """Who is acting: a staff member with roles, or the system running a duty."""

    username: str
    roles: frozenset[Role]
    staff_id: int | None = None
    department: str | None = None
    active: bool = True
    #: A signed confidentiality agreement is on record (Art. 19); the system signs nothing.
    agreement: bool = False

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(username=name, roles=frozenset({Role.SYSTEM}))

    def may(self, action: Action) -> bool:
        return self.active and any(action in MATRIX[r] for r in self.roles)


def authorize(conn: Connection, actor: Actor, action: Action, *, subject: str | None = None,
              reason: str | None = None) -> None:
    """Allow the action or refuse it (logged).

    ``reason`` lets a caller refuse for a rule beyond the matrix (separation of duties,
    ownership) through the same path, so every refusal looks and is logged the same.
    """
    if reason is None and not actor.may(action):
        reason = ("the account is inactive (Art. 19)" if not actor.active else
                  f"roles {sorted(r.value for r in actor.roles) or ['none']} do not allow "
                  f"{action.value}")
    if reason is None and action in READ_ACTIONS and not actor.agreement:
        reason = NO_AGREEMENT
    if reason is None:
        return
    log_refusal(conn, actor.username, action.value, subject, reason)
    target = f" on {subject}" if subject else ""
    raise PermissionDenied(f"{actor.username} may not {action.value}{target}: {reason}")


def log_refusal(conn: Connection, actor: str, action: str, subject: str | None,
                reason: str) -> None:
    """Record a refusal in its own transaction (the caller's will be rolled back)."""
    from sqlalchemy import insert

    from dossiers.core.schema import access_log

    with conn.engine.begin() as own:
        own.execute(insert(access_log).values(
            at=clock.now(), actor=actor, action=action, subject=subject, allowed=False,
            reason=reason))
