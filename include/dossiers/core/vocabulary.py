"""The words the system of record uses for states and events, each defined once.

Every status a table keeps, every kind a column takes and every action the ledger records
is a member of one ``StrEnum`` here. The tables' CHECK constraints are built from them
(:func:`dossiers.core.schema.one_of`), the CLI offers them as ``choices`` and the workflows
write and compare them, so a word cannot be added in one place and forgotten in another: a
test reads the database's constraints back and compares them with these members. The
members are listed in the order the constraints list them (a new order would be a
migration for nothing).

Being ``str`` subclasses, members compare equal to, hash like and print as their values
(``FormStatus.SUBMITTED == "submitted"``), so rows read back from the database, JSON and
the API's literals are the same words.

What people read of a member is its name in both languages (:data:`NAMES`, :func:`names`):
plain ``(Chinese, English)`` pairs, defined here once; the reports turn them into their
bilingual labels, so a department reads 客服部 / Customer Service in every report.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NewType

# --- the organisation (Arts. 5-7) -----------------------------------------------------------------


class Department(StrEnum):
    """The company's departments (Art. 5), in the order reports list them."""

    MARKET = "market"
    PLANNING = "planning"
    EXECUTION = "execution"
    CUSTOMER_SERVICE = "customer_service"
    QUALITY = "quality"
    MANAGEMENT = "management"


#: Each department's name, (Chinese, English), as the policy names it (Arts. 2, 5). The
#: ``department`` table's rows (migration 0001) say the same; a test compares them.
DEPARTMENT_NAMES: dict[Department, tuple[str, str]] = {
    Department.MARKET: ("市場部", "Marketing"),
    Department.PLANNING: ("策劃部", "Planning"),
    Department.EXECUTION: ("執行部", "Execution"),
    Department.CUSTOMER_SERVICE: ("客服部", "Customer Service"),
    Department.QUALITY: ("品質管理部", "Quality Management"),
    Department.MANAGEMENT: ("公司管理層", "Management"),
}

#: The departments whose liaisons serve clients and collect their forms (Arts. 7, 11).
CLIENT_DEPARTMENTS = tuple(d.value for d in (Department.MARKET, Department.PLANNING,
                                             Department.EXECUTION, Department.CUSTOMER_SERVICE))

# --- the dossier (Arts. 10, 11, 15, 17) -------------------------------------------------------


class Stage(StrEnum):
    """A client's stage (Art. 15: the category folder; Art. 11: on the collection form)."""

    POTENTIAL = "potential"
    ACTIVE = "active"
    TERMINATED = "terminated"


class DossierStatus(StrEnum):
    """Whether a dossier is kept (Arts. 15, 17)."""

    OPEN = "open"
    TERMINATED_KEPT = "terminated_kept"  # Art. 15: kept past the inactivity sweep, with a reason
    DESTROYED = "destroyed"  # Art. 17


class Origin(StrEnum):
    """How a dossier came to be (Art. 11: new clients; Art. 20: legacy backfill)."""

    POTENTIAL = "potential"
    NEW = "new"
    LEGACY = "legacy"


class Dependence(StrEnum):
    """The client's dependence on the company (Art. 10, other information)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ProjectProgress(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DELIVERED = "delivered"
    CLOSED = "closed"


class FeedbackKind(StrEnum):
    EVALUATION = "evaluation"
    COMPLAINT = "complaint"


# --- where client information came from (Art. 9) and the client's authorisation (Art. 19) --------


class ChannelGroup(StrEnum):
    """The five collection channels of Art. 9; a client's authorisation lists the groups it
    allows (its scope of use, Art. 19)."""

    DIRECT = "direct"
    DOCUMENTS = "documents"
    INTERNAL = "internal"
    RESEARCH = "research"  # compliant research: only with the client's recorded authorisation
    FEEDBACK = "feedback"


class CollectionChannel(StrEnum):
    """How one piece of client information was obtained (Art. 9), as the collection and
    update forms name it (``collection_channel``)."""

    PHONE = "phone"
    EMAIL = "email"
    VIDEO_MEETING = "video_meeting"
    FACE_TO_FACE = "face_to_face"
    WEBSITE = "website"
    BROCHURE = "brochure"
    QUALIFICATION_DOCUMENT = "qualification_document"
    CONTRACT = "contract"
    PROPOSAL = "proposal"
    MINUTES = "minutes"
    INTERNAL_AGGREGATION = "internal_aggregation"
    INDUSTRY_REPORT = "industry_report"
    DATA_PLATFORM = "data_platform"
    CLIENT_FEEDBACK = "client_feedback"


#: Each channel's group (Art. 9).
CHANNEL_GROUP: dict[CollectionChannel, ChannelGroup] = {
    **dict.fromkeys((CollectionChannel.PHONE, CollectionChannel.EMAIL,
                     CollectionChannel.VIDEO_MEETING, CollectionChannel.FACE_TO_FACE),
                    ChannelGroup.DIRECT),
    **dict.fromkeys((CollectionChannel.WEBSITE, CollectionChannel.BROCHURE,
                     CollectionChannel.QUALIFICATION_DOCUMENT, CollectionChannel.CONTRACT,
                     CollectionChannel.PROPOSAL, CollectionChannel.MINUTES),
                    ChannelGroup.DOCUMENTS),
    CollectionChannel.INTERNAL_AGGREGATION: ChannelGroup.INTERNAL,
    CollectionChannel.INDUSTRY_REPORT: ChannelGroup.RESEARCH,
    CollectionChannel.DATA_PLATFORM: ChannelGroup.RESEARCH,
    CollectionChannel.CLIENT_FEEDBACK: ChannelGroup.FEEDBACK,
}

CHANNEL_NAMES: dict[CollectionChannel, tuple[str, str]] = {  # Art. 9
    CollectionChannel.PHONE: ("電話", "phone"),
    CollectionChannel.EMAIL: ("郵件", "e-mail"),
    CollectionChannel.VIDEO_MEETING: ("視頻會議", "video meeting"),
    CollectionChannel.FACE_TO_FACE: ("面談", "face to face"),
    CollectionChannel.WEBSITE: ("客戶官網", "client website"),
    CollectionChannel.BROCHURE: ("宣傳手冊", "brochure"),
    CollectionChannel.QUALIFICATION_DOCUMENT: ("資質文件", "qualification document"),
    CollectionChannel.CONTRACT: ("合同", "contract"),
    CollectionChannel.PROPOSAL: ("方案", "proposal"),
    CollectionChannel.MINUTES: ("會議紀要", "meeting minutes"),
    CollectionChannel.INTERNAL_AGGREGATION: ("內部匯總", "internal aggregation"),
    CollectionChannel.INDUSTRY_REPORT: ("行業報告", "industry report"),
    CollectionChannel.DATA_PLATFORM: ("第三方數據平臺", "third-party data platform"),
    CollectionChannel.CLIENT_FEEDBACK: ("客戶反饋", "client feedback"),
}


# --- incidents (Art. 20) and complaints (Art. 21) -----------------------------------------------


class IncidentKind(StrEnum):
    """A compliance incident or dispute that triggers the emergency response (Art. 20)."""

    LEAK = "leak"
    LOST_VOLUME = "lost_volume"
    WRONG_DISCLOSURE = "wrong_disclosure"
    CLIENT_DISPUTE = "client_dispute"
    OTHER = "other"


class IncidentStatus(StrEnum):
    OPEN = "open"
    HANDLING = "handling"
    CLOSED = "closed"


class Complainant(StrEnum):
    """Who complained about dossier handling (Art. 21), by kind: never a person's name."""

    CLIENT = "client"
    STAFF = "staff"
    THIRD_PARTY = "third_party"


class ComplaintStatus(StrEnum):
    """QA's investigation of a complaint (Art. 21): received, investigated, rectified."""

    RECEIVED = "received"
    INVESTIGATING = "investigating"
    RECTIFYING = "rectifying"
    CLOSED = "closed"


# --- forms (Arts. 11, 13) ------------------------------------------------------------------------


class FormKind(StrEnum):
    COLLECTION = "collection"
    UPDATE = "update"


class FormStatus(StrEnum):
    """A collection form's way through review (Art. 11(2)) to its dossier (Art. 11(4))."""

    SUBMITTED = "submitted"
    REVIEWED = "reviewed"
    REJECTED = "rejected"
    CREATED = "created"
    APPLIED = "applied"
    WITHDRAWN = "withdrawn"


class UpdateStatus(StrEnum):
    """A Dossier Information Update Form's way (Art. 13): reviewed by the department head,
    approved by the CS head when important, applied by the archivist."""

    SUBMITTED = "submitted"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    APPLIED = "applied"
    REJECTED = "rejected"


class UpdateTrigger(StrEnum):
    """The immediate-update triggers of Art. 12 (each starts a 2-wd clock for the liaison)."""

    BASIC_INFO = "basic_info"
    COOPERATION = "cooperation"
    NEEDS = "needs"
    FEEDBACK = "feedback"
    MATERIAL = "material"


# --- requests decided by someone else (Arts. 15, 16) ---------------------------------------------


class DelayStatus(StrEnum):
    """A filing delay (Art. 15), decided by the CS head."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"


class GrantStatus(StrEnum):
    """A query grant (Art. 16)."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"


class QueryScope(StrEnum):
    """What a query grant may cover: the Art. 10 dimensions, and whether personal data shows."""

    BASIC = "basic"
    CONTACTS = "contacts"
    MARKET = "market"
    COOPERATION = "cooperation"
    NEEDS = "needs"
    OTHER = "other"
    VAULT = "vault"
    PERSONAL = "personal"
    DOCUMENTS = "documents"  # Art. 16: the dossier's electronic documents (read and download)


class LoanStatus(StrEnum):
    """A paper loan (Art. 16): approved by the department head and the archivist, lent,
    returned."""

    REQUESTED = "requested"
    APPROVED = "approved"
    LENT = "lent"
    RETURNED = "returned"
    REJECTED = "rejected"


class ExtensionStatus(StrEnum):
    """A loan's one extension (Art. 16)."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"


class Capacity(StrEnum):
    """In which capacity a loan is approved (Art. 16: the department head, the archivist)."""

    DEPARTMENT = "department"
    ARCHIVE = "archive"


# --- electronic documents (Arts. 6, 15, 18) ------------------------------------------------------


class DocumentType(StrEnum):
    """What an electronic document of a dossier is (Art. 6: what each department supplies;
    the suppliers are in :data:`dossiers.core.policy.DOCUMENT_SUPPLIERS`)."""

    CONTRACT = "contract"
    QUALIFICATION = "qualification"  # desensitised licence scans (Art. 10)
    PROPOSAL = "proposal"
    MINUTES = "minutes"
    REVISION_RECORD = "revision_record"
    EXECUTION_PLAN = "execution_plan"
    PROGRESS_REPORT = "progress_report"
    EFFECT_DATA = "effect_data"
    CORRESPONDENCE = "correspondence"
    OTHER = "other"


class KeyedHashScheme(StrEnum):
    """How a document's keyed hash of its plaintext was made (Art. 18; duplicates within a
    dossier, and what ``documents verify`` checks). A row keeps the scheme it was hashed
    with; new documents take :data:`dossiers.documents.keyed_hash.CURRENT`."""

    HMAC_SHA256 = "hmac-sha256"  # the documents added before issue 11's performance work
    BLAKE3 = "blake3"  # BLAKE3 in keyed mode: several times HMAC-SHA256's speed, and parallel


#: Each document type's name, (Chinese, English): the Chinese name is the ``<document type>``
#: of Art. 15's file name ``<client name>-<document type>-<year>``.
DOCUMENT_TYPE_NAMES: dict[DocumentType, tuple[str, str]] = {
    DocumentType.CONTRACT: ("合同", "Contract"),
    DocumentType.QUALIFICATION: ("資質文件", "Qualification document"),
    DocumentType.PROPOSAL: ("策劃方案", "Proposal"),
    DocumentType.MINUTES: ("會議紀要", "Meeting minutes"),
    DocumentType.REVISION_RECORD: ("修改記錄", "Revision record"),
    DocumentType.EXECUTION_PLAN: ("執行方案", "Execution plan"),
    DocumentType.PROGRESS_REPORT: ("進度報告", "Progress report"),
    DocumentType.EFFECT_DATA: ("效果數據", "Effect data"),
    DocumentType.CORRESPONDENCE: ("往來函件", "Correspondence"),
    DocumentType.OTHER: ("其他", "Other"),
}


# --- the paper vault (Art. 14) -------------------------------------------------------------------


class Condition(StrEnum):
    """A paper volume's condition, checked periodically and at every return (Arts. 14, 16)."""

    GOOD = "good"
    WORN = "worn"
    DAMAGED = "damaged"
    FADED = "faded"


class Remedy(StrEnum):
    """What a condition check did about a volume (Art. 14: repair the damaged, copy the
    faded)."""

    NONE = "none"
    REPAIR = "repair"
    COPY = "copy"


# --- duties (Arts. 12, 14, 21) -------------------------------------------------------------------


class FindingStatus(StrEnum):
    """A finding of a duty, re-checked by the next run (Arts. 14, 21)."""

    OPEN = "open"
    RESOLVED = "resolved"
    PERSISTING = "persisting"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


FINDING_STATUS_NAMES: dict[FindingStatus, tuple[str, str]] = {  # Arts. 14, 21
    FindingStatus.OPEN: ("未整改", "open"),
    FindingStatus.RESOLVED: ("已整改", "resolved"),
    FindingStatus.PERSISTING: ("仍未整改", "persisting"),
}

SEVERITY_NAMES: dict[Severity, tuple[str, str]] = {
    Severity.ERROR: ("錯誤", "error"),
    Severity.WARNING: ("警告", "warning"),
}


class ReminderKind(StrEnum):
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    ESCALATION = "escalation"


# --- destruction (Art. 17) and external disclosure (Art. 16) --------------------------------------


class HoldKind(StrEnum):
    """Why a dossier may not be destroyed whatever else it meets (Art. 17): a legal hold."""

    LITIGATION = "litigation"
    REGULATOR = "regulator"


class DestructionCondition(StrEnum):
    """The condition of Art. 17(1) a dossier meets, one of three."""

    COOPERATION_ENDED = "cooperation_ended"  # (1) terminated >= 3 years, no prospect
    INVALID = "invalid"  # (2) invalid, no reference value
    LEGAL_OR_RESTRUCTURING = "legal_or_restructuring"  # (3) law or business restructuring


class DestructionStatus(StrEnum):
    """A Destruction Request Form's way (Art. 17(2)): approved gate by gate, then executed
    under the QA supervisor's supervision, or rejected, or stopped at execution."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    STOPPED = "stopped"
    EXECUTED = "executed"


class PaperMethod(StrEnum):
    """How a paper volume is destroyed (Art. 17(2)(3))."""

    SHREDDING = "shredding"
    BURNING = "burning"


class DisclosureBasis(StrEnum):
    """The legal basis of an external use (Art. 16)."""

    LITIGATION = "litigation"
    REGULATOR_INSPECTION = "regulator_inspection"
    OTHER = "other"


class DisclosureStatus(StrEnum):
    """An external disclosure (Art. 16): approved by management, then packaged."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    PACKAGED = "packaged"


# --- the ledger (檔案管理臺賬, Arts. 11, 13) ------------------------------------------------------


class BackupKind(StrEnum):
    """What a backup holds (Arts. 14, 18): the database and documents, or the key ring alone
    (kept apart, so destroying a data key reaches every data backup, Art. 17)."""

    FULL = "full"
    KEYRING = "keyring"


class BackupStatus(StrEnum):
    """Where a backup stands (Arts. 14, 18). ``running`` until its manifest is sealed;
    ``complete`` once it is; ``verified`` once a drill restored it and it matched;
    ``failed`` when it stopped (or was found abandoned); ``expired`` once deleted."""

    RUNNING = "running"
    COMPLETE = "complete"
    VERIFIED = "verified"
    FAILED = "failed"
    EXPIRED = "expired"


class DrillSource(StrEnum):
    """Where a restore drill read the backup from (Art. 18)."""

    VAULT = "vault"
    OFFSITE = "offsite"


class LedgerAction(StrEnum):
    """What a ledger entry says happened: one named constant per kind of change, as every
    workflow writes it (``ledger_entry.action``). A duty's run is ``duty.<duty>``
    (:func:`duty_action`), one per duty."""

    STAFF_ADD = "staff.add"
    STAFF_LEAVE = "staff.leave"
    FORM_SUBMIT = "form.submit"  # Art. 11(1)
    FORM_APPROVE = "form.approve"  # Art. 11(2)
    FORM_REJECT = "form.reject"
    DOSSIER_CREATE = "dossier.create"  # Art. 11(4)
    DOSSIER_FILE = "dossier.file"  # Art. 11(5)
    DOSSIER_STAGE = "dossier.stage"  # Art. 15
    DOSSIER_KEEP_TERMINATED = "dossier.keep_terminated"  # Art. 15
    UPDATE_SUBMIT = "update.submit"  # Art. 13(1)
    UPDATE_APPROVE = "update.approve"  # Art. 13(2)
    UPDATE_REJECT = "update.reject"
    IMPORTANT_CHANGE_APPROVE = "important_change.approve"  # Art. 13(3)
    IMPORTANT_CHANGE_REJECT = "important_change.reject"
    UPDATE_APPLY = "update.apply"  # Art. 13(4)
    FILING_DELAY_REQUEST = "filing_delay.request"  # Art. 15
    FILING_DELAY_APPROVE = "filing_delay.approve"
    FILING_DELAY_REJECT = "filing_delay.reject"
    QUERY_REQUEST = "query.request"  # Art. 16
    QUERY_APPROVE = "query.approve"
    QUERY_REJECT = "query.reject"
    LOAN_REQUEST = "loan.request"  # Art. 16
    LOAN_APPROVE_DEPARTMENT = "loan.approve_department"
    LOAN_APPROVE_ARCHIVE = "loan.approve_archive"
    LOAN_REJECT = "loan.reject"
    LOAN_LEND = "loan.lend"
    LOAN_RETURN = "loan.return"
    LOAN_EXTENSION_REQUEST = "loan.extension_request"
    LOAN_EXTENSION_APPROVE = "loan.extension_approve"
    LOAN_EXTENSION_REJECT = "loan.extension_reject"
    VAULT_REGISTER = "vault.register"  # Art. 14
    VAULT_CHECK = "vault.check"
    DOCUMENT_ADD = "document.add"  # Arts. 6, 15
    DOCUMENT_FILE = "document.file"  # Art. 15
    DOCUMENT_RENAME = "document.rename"  # Art. 15: the client's name changed (Art. 13)
    DOCUMENT_SWEEP = "document.sweep"  # Art. 18: orphaned uploads removed
    REPORT_PUBLISH = "report.publish"  # Art. 22
    # Approvals by named people through Airflow (Arts. 6, 16, 17): every gate of a chain.
    APPROVAL_SUBMIT = "approval.submit"  # a request handed to its approval run in Airflow
    APPROVAL_ASK = "approval.ask"  # a gate opened: who is asked to answer
    APPROVAL_APPROVE = "approval.approve"
    APPROVAL_REJECT = "approval.reject"  # a rejection, and a gate nobody answered in time
    APPROVAL_ANSWER_REFUSED = "approval.answer_refused"  # an answer from someone who may not give it
    REPORT_MAIL = "report.mail"
    BACKUP_RUN = "backup.run"  # Arts. 14, 18: a full backup, its manifest sealed
    BACKUP_DRILL = "backup.drill"  # Art. 18: restored and compared; RTO and RPO
    BACKUP_OFFSITE = "backup.offsite"  # Art. 18: shipped off-site, read back
    BACKUP_EXPIRE = "backup.expire"  # Art. 18: past its retention
    BACKUP_RESTORE = "backup.restore"  # Art. 18: restored into a database
    AUTHORISATION_RECORD = "authorisation.record"  # Art. 19: the client's authorisation
    STAFF_AGREEMENT = "staff.agreement"  # Art. 19: confidentiality agreement on record
    STAFF_HANDOVER = "staff.handover"  # Art. 19: a leaver's materials returned to CS
    STAFF_HANDOVER_SIGN_OFF = "staff.handover_sign_off"
    INCIDENT_OPEN = "incident.open"  # Art. 20: emergency response
    INCIDENT_UPDATE = "incident.update"
    INCIDENT_CLOSE = "incident.close"
    COMPLAINT_RECEIVE = "complaint.receive"  # Art. 21: complaints about dossier handling
    COMPLAINT_INVESTIGATE = "complaint.investigate"
    COMPLAINT_CLOSE = "complaint.close"
    LEGAL_HOLD_PLACE = "legal_hold.place"  # Art. 17: a hold blocks destruction
    LEGAL_HOLD_RELEASE = "legal_hold.release"
    DESTRUCTION_REQUEST = "destruction.request"  # Art. 17(2)(1)
    DESTRUCTION_APPROVE = "destruction.approve"  # Art. 17(2)(1), (2): one gate's approval
    DESTRUCTION_REJECT = "destruction.reject"
    DESTRUCTION_STOP = "destruction.stop"  # a condition changed before execution
    DESTRUCTION_EXECUTE = "destruction.execute"  # Art. 17(2)(3)
    DESTRUCTION_PAPER = "destruction.paper"  # Art. 17(2)(3): shredding or burning
    DESTRUCTION_CONFIRM = "destruction.confirm"  # Art. 17(2)(4): archivist and QA sign
    DESTRUCTION_CERTIFY = "destruction.certify"  # Art. 17(2)(4): the signed certificate
    DESTRUCTION_REAPPLY = "destruction.reapply"  # after a restore: destroyed stays destroyed
    DISCLOSURE_REQUEST = "disclosure.request"  # Art. 16: external use
    DISCLOSURE_APPROVE = "disclosure.approve"
    DISCLOSURE_REJECT = "disclosure.reject"
    DISCLOSURE_PACKAGE = "disclosure.package"
    DISCLOSURE_REGENERATE = "disclosure.regenerate"  # for audit: byte-identical
    HISTORY_BACKFILL = "history.backfill"  # synthetic history of `dossier seed` (development)


#: The ledger action of a loan approval in each capacity.
LOAN_APPROVAL_ACTION = {Capacity.DEPARTMENT: LedgerAction.LOAN_APPROVE_DEPARTMENT,
                        Capacity.ARCHIVE: LedgerAction.LOAN_APPROVE_ARCHIVE}

#: The ledger action of one run of a duty: ``duty.<duty>`` (:func:`duty_action`).
DutyAction = NewType("DutyAction", str)
DUTY_ACTION_PREFIX = "duty."


def duty_action(duty: str) -> DutyAction:
    """The ledger action of a finished run of ``duty`` (Art. 22: figures traceable)."""
    return DutyAction(f"{DUTY_ACTION_PREFIX}{duty}")


#: The names of the vocabularies people read in reports, by enum. Keyed by the enum and then
#: the member: members of different enums with the same value (``Department.MARKET`` and
#: ``QueryScope.MARKET``) are equal as strings, so one flat mapping would mix them up.
NAMES: dict[type[StrEnum], Mapping[Any, tuple[str, str]]] = {
    Department: DEPARTMENT_NAMES,
    FindingStatus: FINDING_STATUS_NAMES,
    Severity: SEVERITY_NAMES,
    DocumentType: DOCUMENT_TYPE_NAMES,
    CollectionChannel: CHANNEL_NAMES,
}


def names(vocabulary: type[StrEnum], value: str) -> tuple[str, str] | None:
    """The (Chinese, English) name of ``value`` in ``vocabulary``; ``None`` when ``value`` is
    not one of its members (a word from outside it, e.g. the ``system`` actor's department)."""
    try:
        return NAMES[vocabulary][vocabulary(value)]
    except (KeyError, ValueError):
        return None
