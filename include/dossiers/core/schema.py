"""The schema of the system of record, as SQLAlchemy Core tables.

One table (or small group) per dimension of Art. 10, plus the paper vault register
(Arts. 14, 15), numbering (Art. 11), staff and roles (Arts. 5-7), forms (Arts. 11, 13),
clocks (deadlines in working days), the data keys (``keyring`` schema, kept apart from the
data, Art. 18) and the ledger (檔案管理臺賬, Arts. 11, 13).

Columns ending in ``_enc`` hold AES-GCM ciphertext (see :mod:`dossiers.core.crypto`); columns
ending in ``_bidx`` hold an HMAC blind index for exact matching. No personal datum is
stored in any other column. No column defaults to the database's ``now()``: times come from
:mod:`dossiers.core.clock`. The schema changes only through an Alembic migration
(``sql/migrations``); this module is the current shape those migrations produce.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from dossiers.core.usernames import SQL_PATTERN as USERNAME_PATTERN
from dossiers.core.vocabulary import (
    BackupKind,
    BackupStatus,
    ChannelGroup,
    CollectionChannel,
    Complainant,
    ComplaintStatus,
    Condition,
    DelayStatus,
    Dependence,
    DestructionCondition,
    DestructionStatus,
    DisclosureBasis,
    DisclosureStatus,
    DocumentType,
    DossierStatus,
    DrillSource,
    ExtensionStatus,
    FeedbackKind,
    FindingStatus,
    FormKind,
    FormStatus,
    GrantStatus,
    HoldKind,
    IncidentKind,
    IncidentStatus,
    KeyedHashScheme,
    LoanStatus,
    Origin,
    PaperMethod,
    ProjectProgress,
    QueryScope,
    Remedy,
    ReminderKind,
    Severity,
    Stage,
    UpdateStatus,
    UpdateTrigger,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

KEYRING_SCHEMA = "keyring"


# No column takes a time from the database's clock (``now()``): every timestamp is written by
# the application from the domain's one clock, :mod:`dossiers.core.clock` (why: there), and a
# row written without its time is refused (NOT NULL) rather than stamped by a second clock.


def one_of(column: str, words: type[StrEnum], *, nullable: bool = False) -> CheckConstraint:
    """The CHECK constraint (named after ``column``) that ``column`` holds one of the members
    of ``words``: ``status IN ('requested', 'approved', …)``, in the members' order;
    ``nullable`` lets it be NULL too.

    The words are defined once (:mod:`dossiers.core.vocabulary`); the constraint keeps its
    enum in ``info["vocabulary"]`` so ``tests/integration/test_migrations.py`` can read each
    constraint back from the database and compare it with the members (a member added to
    the enum without a migration fails there).
    """
    listed = ", ".join(f"'{word.value}'" for word in words)
    condition = f"{column} IN ({listed})"
    return CheckConstraint(f"{column} IS NULL OR {condition}" if nullable else condition,
                           name=column,
                           info={"vocabulary": words, "nullable": nullable})


def _created_at() -> Column:
    return Column("created_at", DateTime(timezone=True), nullable=False)


def _dossier_fk(*, primary_key: bool = False) -> Column:
    return Column(
        "dossier_id", UUID(as_uuid=True), ForeignKey("dossier.id", ondelete="CASCADE"),
        primary_key=primary_key, nullable=False, index=not primary_key,
    )


# --- organisation (Arts. 5-7) -------------------------------------------------------------

department = Table(
    "department", metadata,
    Column("code", String(32), primary_key=True),
    Column("name_zh", Text, nullable=False),
    Column("name_en", Text, nullable=False),
)

role = Table(
    "role", metadata,
    Column("code", String(32), primary_key=True),
    Column("name_zh", Text, nullable=False),
    Column("name_en", Text, nullable=False),
)

staff = Table(
    "staff", metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("department", String(32), ForeignKey("department.code"), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    # Art. 19: everyone with access signs the confidentiality agreement.
    Column("confidentiality_signed_on", Date),
    Column("confidentiality_ref", Text),  # the agreement's reference (Art. 19)
    Column("joined_at", DateTime(timezone=True), nullable=False),
    Column("left_at", DateTime(timezone=True)),
    Column("handed_over_to", Integer, ForeignKey("staff.id")),
    # A login, a mail address and a report cell: one conservative pattern (core.usernames).
    CheckConstraint(f"username ~ '{USERNAME_PATTERN}'", name="username"),
)

staff_role = Table(
    "staff_role", metadata,
    Column("staff_id", Integer, ForeignKey("staff.id"), primary_key=True),
    Column("role", String(32), ForeignKey("role.code"), primary_key=True),
)

# --- classification (Art. 15) and the dossier itself --------------------------------------

client_type = Table(
    "client_type", metadata,
    Column("code", String(8), primary_key=True),  # 電商 外貿 本土 協會 (Art. 11 type code)
    Column("code_en", String(8), nullable=False, unique=True),
    Column("name_en", Text, nullable=False),
)

dossier = Table(
    "dossier", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("dossier_no", Text, unique=True),  # assigned at creation (Art. 11 step 4)
    Column("client_name_zh", Text, nullable=False),
    Column("client_name_en", Text, nullable=False),
    Column("name_en_key", Text, nullable=False),  # case- and space-insensitive, for duplicates
    Column("name_zh_key", Text, nullable=False),
    Column("client_type", String(8), ForeignKey("client_type.code"), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("status", String(24), nullable=False, server_default=DossierStatus.OPEN.value),
    Column("origin", String(16), nullable=False, server_default=Origin.NEW.value),
    Column("liaison_id", Integer, ForeignKey("staff.id"), nullable=False, index=True),
    Column("department", String(32), ForeignKey("department.code"), nullable=False),
    Column("form_id", UUID(as_uuid=True)),
    Column("authorisation_ref", Text, nullable=False),  # Art. 19: client's authorisation
    Column("collected_on", Date, nullable=False),
    _created_at(),
    Column("created_by", Integer, ForeignKey("staff.id")),
    Column("filed_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("terminated_on", Date),
    Column("further_cooperation", Boolean),
    one_of("stage", Stage),
    one_of("status", DossierStatus),
    one_of("origin", Origin),
    CheckConstraint(f"stage <> '{Stage.TERMINATED}' OR terminated_on IS NOT NULL",
                    name="terminated_on"),
    Index("ix_dossier_name_en_key", "name_en_key"),
    Index("ix_dossier_name_zh_key", "name_zh_key"),
)

dossier_market = Table(
    "dossier_market", metadata,
    _dossier_fk(primary_key=True),
    Column("country", String(2), primary_key=True),  # ISO 3166-1 alpha-2
    Column("ordinal", SmallInteger, nullable=False),
)

# --- numbering (Art. 11 step 4) -----------------------------------------------------------

dossier_number_counter = Table(
    "dossier_number_counter", metadata,
    Column("year", SmallInteger, primary_key=True),
    Column("type_code", String(8), primary_key=True),
    Column("last_serial", Integer, nullable=False),
)

# Every number ever assigned; rows survive destruction so no number is ever reused.
dossier_number = Table(
    "dossier_number", metadata,
    Column("dossier_no", Text, primary_key=True),
    Column("year", SmallInteger, nullable=False),
    Column("type_code", String(8), nullable=False),
    Column("serial", Integer, nullable=False),
    Column("dossier_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("year", "type_code", "serial"),
)

# --- Art. 10 dimensions -------------------------------------------------------------------

basic_info = Table(
    "basic_info", metadata,
    _dossier_fk(primary_key=True),
    Column("registered_address", Text),
    Column("domestic_contact_address", Text),
    Column("founded_on", Date),
    Column("legal_form", Text),
    Column("registered_capital_amount", Numeric(20, 2)),
    Column("registered_capital_currency", String(3)),
    Column("business_scope", Text),
    Column("core_business", Text),
    Column("org_structure", Text),
)

contact = Table(
    "contact", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _dossier_fk(),
    Column("ordinal", SmallInteger, nullable=False),
    Column("name_enc", LargeBinary, nullable=False),
    Column("title", Text),
    Column("email_enc", LargeBinary),
    Column("phone_enc", LargeBinary),
    Column("email_bidx", LargeBinary, index=True),
    Column("phone_bidx", LargeBinary, index=True),
    Column("preference", String(16)),
    CheckConstraint("email_enc IS NOT NULL OR phone_enc IS NOT NULL", name="reachable"),
)

qualification_document = Table(
    "qualification_document", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _dossier_fk(),
    Column("kind", String(32), nullable=False),  # business_licence, industry_permit
    Column("number_enc", LargeBinary, nullable=False),
    Column("number_masked", Text, nullable=False),  # desensitised form (Art. 10)
    Column("issued_by", Text),
    Column("valid_until", Date),
)

market_info = Table(
    "market_info", metadata,
    _dossier_fk(primary_key=True),
    Column("market_positioning", Text),
    Column("target_customers", Text),
    Column("competition", Text),
    Column("market_share", Text),
    Column("policy_fit", Text),
    Column("industry_trends", Text),
)

cooperation = Table(
    "cooperation", metadata,
    _dossier_fk(primary_key=True),
    Column("started_on", Date),
    Column("history", Text),
)

project = Table(
    "project", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _dossier_fk(),
    Column("name", Text, nullable=False),
    Column("project_type", String(32), nullable=False),
    Column("started_on", Date, nullable=False),
    Column("ended_on", Date),
    Column("progress", String(16), nullable=False, server_default=ProjectProgress.PLANNED.value),
    Column("deliverables", Text),
    Column("evaluation", Text),
    Column("evaluation_score", SmallInteger),
    one_of("progress", ProjectProgress),
)

contract = Table(
    "contract", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _dossier_fk(),
    Column("contract_no", Text, nullable=False, unique=True),
    Column("signed_on", Date, nullable=False),
    Column("service_scope", Text),  # desensitised key terms (Art. 10)
    Column("period_start", Date),
    Column("period_end", Date),
    Column("fee_range_enc", LargeBinary),
    Column("renewal_of", BigInteger, ForeignKey("contract.id")),
    Column("renewal_status", String(16), nullable=False, server_default="none"),
    CheckConstraint("period_end IS NULL OR period_start IS NULL OR period_end >= period_start",
                    name="period"),
)

needs = Table(
    "needs", metadata,
    _dossier_fk(primary_key=True),
    Column("marketing_goals", ARRAY(Text), nullable=False, server_default="{}"),
    Column("brand_positioning", Text),
    Column("creative_preferences", Text),
    Column("selling_points", Text),
    Column("consumer_traits", Text),
    Column("service_expectations", Text),
    Column("latent_needs", Text),
)

communication = Table(
    "communication", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _dossier_fk(),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("kind", String(32), nullable=False, server_default="communication"),
    Column("topic", Text, nullable=False),
    Column("agreements", Text),
    Column("disagreements", Text),
    Column("recorded_by", Integer, ForeignKey("staff.id")),
)

feedback = Table(
    "feedback", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _dossier_fk(),
    Column("received_on", Date, nullable=False),
    Column("kind", String(16), nullable=False),  # evaluation | complaint
    Column("aspect", String(16), nullable=False),  # proposal execution attitude responsiveness
    Column("rating", SmallInteger),
    Column("description", Text),
    Column("handling", Text),
    Column("result", Text),
    Column("satisfaction", SmallInteger),
    Column("closed_on", Date),
    one_of("kind", FeedbackKind),
    CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating"),
)

other_info = Table(
    "other_info", metadata,
    _dossier_fk(primary_key=True),
    Column("credit_rating_enc", LargeBinary),
    Column("other_partners", Text),
    Column("honours", Text),
    Column("dependence", String(8)),
    one_of("dependence", Dependence),
)

# --- where each dimension's information came from (Art. 9) -----------------------------------

# One row per dimension a form or an applied update brought in: its collection channel and
# the client's authorisation it was collected under. The latest row of a dimension is where
# the dossier's information on it came from.
dossier_source = Table(
    "dossier_source", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _dossier_fk(),
    Column("dimension", String(32), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("authorisation_ref", Text),
    Column("form_id", UUID(as_uuid=True)),
    Column("change_id", UUID(as_uuid=True)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    one_of("channel", CollectionChannel),
)

# The client's authorisation to collect its information (Art. 19): its reference (what the
# forms name), the scope of use (the Art. 9 channel groups it allows), when it was given and
# when it expires. Collection after expiry or outside the scope is refused.
client_authorisation = Table(
    "client_authorisation", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("reference", Text, nullable=False, unique=True),
    Column("scope", ARRAY(Text), nullable=False),
    Column("legal_basis", Text),  # compliant research: the target market's law relied on
    Column("granted_on", Date, nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("recorded_by", Integer, ForeignKey("staff.id")),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("cardinality(scope) > 0", name="scope"),
    CheckConstraint(f"scope <@ ARRAY[{', '.join(repr(g.value) for g in ChannelGroup)}]::text[]",
                    name="scope_groups"),
    CheckConstraint("expires_on >= granted_on", name="expiry"),
)

# A leaver's handover (Art. 19): the paper volumes, documents and storage devices returned,
# signed off by Customer Service.
staff_handover = Table(
    "staff_handover", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("staff_id", Integer, ForeignKey("staff.id"), nullable=False, unique=True),
    Column("paper_volumes", ARRAY(Text), nullable=False, server_default="{}"),
    Column("documents", ARRAY(Text), nullable=False, server_default="{}"),
    Column("storage_devices", ARRAY(Text), nullable=False, server_default="{}"),
    Column("recorded_by", Integer, ForeignKey("staff.id"), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("signed_off_by", Integer, ForeignKey("staff.id")),
    Column("signed_off_at", DateTime(timezone=True)),
)

# --- incidents (Art. 20) and complaints (Art. 21) ------------------------------------------

# A compliance incident or dispute: reported to management at once (the mail outbox), handled
# in steps with owners, closed by management. Free text here holds no personal data.
incident = Table(
    "incident", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("kind", String(24), nullable=False),
    Column("status", String(16), nullable=False, server_default=IncidentStatus.OPEN.value),
    Column("dossier_id", UUID(as_uuid=True), ForeignKey("dossier.id"), index=True),
    Column("summary", Text, nullable=False),
    Column("opened_by", Integer, ForeignKey("staff.id"), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("owner_id", Integer, ForeignKey("staff.id")),
    Column("closed_by", Integer, ForeignKey("staff.id")),
    Column("closed_at", DateTime(timezone=True)),
    Column("closure", Text),
    one_of("kind", IncidentKind),
    one_of("status", IncidentStatus),
    CheckConstraint(f"(status = '{IncidentStatus.CLOSED}') = (closed_at IS NOT NULL)",
                    name="closed"),
)

# One handling step of an incident: what was done or is to be done, by whom, by when.
incident_step = Table(
    "incident_step", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("incident_id", UUID(as_uuid=True), ForeignKey("incident.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("step", Text, nullable=False),
    Column("owner_id", Integer, ForeignKey("staff.id")),
    Column("due_on", Date),
    Column("recorded_by", Integer, ForeignKey("staff.id"), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# A complaint about dossier handling, investigated by QA (Art. 21): who complained (by
# kind), about what, the findings, the rectification (owner, deadline) and accountability.
complaint = Table(
    "complaint", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("complainant", String(16), nullable=False),
    Column("dossier_id", UUID(as_uuid=True), ForeignKey("dossier.id"), index=True),
    Column("about", Text, nullable=False),
    Column("status", String(16), nullable=False, server_default=ComplaintStatus.RECEIVED.value),
    Column("received_on", Date, nullable=False),
    Column("received_by", Integer, ForeignKey("staff.id"), nullable=False),
    Column("investigator_id", Integer, ForeignKey("staff.id")),
    Column("findings", Text),
    Column("upheld", Boolean),
    Column("rectification", Text),
    Column("rectification_owner_id", Integer, ForeignKey("staff.id")),
    Column("rectification_due_on", Date),
    Column("accountable_id", Integer, ForeignKey("staff.id")),
    Column("accountability", Text),
    Column("closed_by", Integer, ForeignKey("staff.id")),
    Column("closed_at", DateTime(timezone=True)),
    one_of("complainant", Complainant),
    one_of("status", ComplaintStatus),
)

# --- electronic documents and the paper vault (Arts. 14, 15) ------------------------------

document = Table(
    "document", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _dossier_fk(),
    Column("document_type", Text, nullable=False),
    Column("year", SmallInteger, nullable=False),
    Column("file_name", Text, nullable=False),  # <client name>-<document type>-<year>
    Column("category", Text, nullable=False),  # type/stage/market folder
    Column("sha256", String(64)),
    Column("important", Boolean, nullable=False, server_default=text("false")),
    Column("encrypted", Boolean, nullable=False, server_default=text("false")),
    Column("storage_uri", Text),
    Column("confirmed_on", Date, nullable=False),
    Column("filed_at", DateTime(timezone=True)),
    Column("filed_by", Integer, ForeignKey("staff.id")),
    CheckConstraint("NOT important OR encrypted", name="important_encrypted"),
)

# A file of a dossier (Arts. 6, 15, 18): its content is sealed under the dossier's data key
# and kept in the document store under ``storage_key``, a random token that says nothing
# about the client or the file. Its Art. 15 name, ``<client name>-<document type>-<year>``
# (with ``(serial)`` when the name repeats), and its type/stage/market folder are made from
# the dossier's current name and classification when read, so a renamed client's files
# follow the new name. ``content_hash`` is a keyed hash of the plaintext under a key derived
# from the data key (duplicates within the dossier), never a bare digest anyone holding a
# copy could confirm, made by the scheme ``content_hash_scheme`` names (HMAC-SHA256 for the
# first documents, keyed BLAKE3 since: dossiers.documents.keyed_hash); no original file name
# is kept.
dossier_file = Table(
    "dossier_file", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    _dossier_fk(),
    Column("document_type", String(32), nullable=False),
    Column("year", SmallInteger, nullable=False),
    Column("serial", SmallInteger, nullable=False),
    Column("extension", String(8), nullable=False),  # from the sniffed content
    Column("media_type", String(128), nullable=False),
    Column("size", BigInteger, nullable=False),  # plaintext bytes
    Column("stored_size", BigInteger, nullable=False),  # sealed bytes in the store
    Column("content_hash", LargeBinary, nullable=False),
    Column("content_hash_scheme", String(16), nullable=False),
    Column("storage_key", String(64), nullable=False, unique=True),
    Column("important", Boolean, nullable=False, server_default=text("false")),
    Column("confirmed_on", Date, nullable=False),
    Column("uploaded_by", Integer, ForeignKey("staff.id"), nullable=False),
    Column("uploaded_at", DateTime(timezone=True), nullable=False),
    Column("filed_at", DateTime(timezone=True)),
    Column("filed_by", Integer, ForeignKey("staff.id")),
    one_of("document_type", DocumentType),
    one_of("content_hash_scheme", KeyedHashScheme),
    CheckConstraint("size > 0", name="size"),
    UniqueConstraint("dossier_id", "document_type", "year", "serial"),
    UniqueConstraint("dossier_id", "content_hash"),
)

# An upload in progress (Art. 18): written and committed before the first byte reaches the
# store, removed in the transaction that records the document. A row left behind (a crash,
# a killed process) names an object the sweep removes; an object with neither a row here
# nor a document is an orphan the sweep removes too.
dossier_file_upload = Table(
    "dossier_file_upload", metadata,
    Column("storage_key", String(64), primary_key=True),
    _dossier_fk(),
    Column("started_by", Integer, ForeignKey("staff.id"), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
)

paper_volume = Table(
    "paper_volume", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _dossier_fk(),
    Column("volume_no", SmallInteger, nullable=False),
    Column("label_dossier_no", Text, nullable=False),
    Column("label_client_name", Text, nullable=False),
    Column("label_filed_on", Date, nullable=False),
    Column("cabinet", Text, nullable=False),
    Column("shelf", SmallInteger, nullable=False),
    Column("position", Integer, nullable=False),  # same order as the electronic dossier
    Column("condition", String(16), nullable=False, server_default=Condition.GOOD.value),
    UniqueConstraint("dossier_id", "volume_no"),
    UniqueConstraint("cabinet", "shelf", "position"),
    one_of("condition", Condition),
)

paper_condition_check = Table(
    "paper_condition_check", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("volume_id", BigInteger, ForeignKey("paper_volume.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("checked_on", Date, nullable=False),
    Column("checked_by", Integer, ForeignKey("staff.id"), nullable=False),
    Column("condition", String(16), nullable=False),
    Column("action", String(16), nullable=False, server_default=Remedy.NONE.value),
    Column("notes", Text),
)

# --- forms and clocks (Arts. 8, 11, 13) ---------------------------------------------------

form = Table(
    "form", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("kind", String(16), nullable=False),  # collection | update
    Column("status", String(16), nullable=False, server_default=FormStatus.SUBMITTED.value),
    # For a collection form, the id the dossier will have (its data key is made at intake).
    Column("dossier_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("client_name_zh", Text, nullable=False),
    Column("client_name_en", Text, nullable=False),
    Column("name_en_key", Text, nullable=False, index=True),
    Column("name_zh_key", Text, nullable=False, index=True),
    Column("client_type", String(8), ForeignKey("client_type.code"), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("department", String(32), ForeignKey("department.code"), nullable=False),
    Column("liaison_id", Integer, ForeignKey("staff.id"), nullable=False, index=True),
    Column("submitted_by", Integer, ForeignKey("staff.id"), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("source_file", Text),
    Column("source_row", Integer),
    Column("payload", JSONB, nullable=False),  # non-personal fields, normalised
    Column("personal_enc", LargeBinary, nullable=False),  # personal fields, encrypted
    Column("reviewed_by", Integer, ForeignKey("staff.id")),
    Column("reviewed_at", DateTime(timezone=True)),
    Column("rejection_reason", Text),
    one_of("kind", FormKind),
    one_of("status", FormStatus),
    # the order of the forms list's pages (core.paging)
    Index("ix_form_page", "submitted_at", "id"),
)

# A running deadline in working days (Arts. 8, 11, 13, 15, 16): what the SLA watch reads.
clock = Table(
    "clock", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("kind", String(32), nullable=False),  # form_review, dossier_creation, filing, ...
    Column("subject_type", String(32), nullable=False),
    Column("subject_id", Text, nullable=False),
    Column("article", Text, nullable=False),
    Column("owner_id", Integer, ForeignKey("staff.id"), index=True),
    Column("started_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("provisional", Boolean, nullable=False, server_default=text("false")),
    Column("met_at", DateTime(timezone=True)),
    UniqueConstraint("kind", "subject_type", "subject_id"),
    Index("ix_clock_open_due", "due_on", postgresql_where=text("met_at IS NULL")),
)

# --- updates (Arts. 12, 13) -----------------------------------------------------------------

#: The immediate-update triggers of Art. 12 (each starts a 2-wd clock for the liaison).
UPDATE_TRIGGERS = tuple(t.value for t in UpdateTrigger)

# A Dossier Information Update Form (Art. 13(1)): what changes, why, on what evidence.
dossier_change = Table(
    "dossier_change", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    _dossier_fk(),
    Column("status", String(16), nullable=False, server_default=UpdateStatus.SUBMITTED.value),
    Column("important", Boolean, nullable=False),  # Art. 13(3): needs the CS head first
    Column("trigger", String(16)),  # an Art. 12 immediate trigger; NULL for a routine update
    Column("occurred_on", Date),  # when the triggering event happened
    Column("reason", Text, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("requested_by", Integer, ForeignKey("staff.id"), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("reviewed_by", Integer, ForeignKey("staff.id")),
    Column("reviewed_at", DateTime(timezone=True)),
    Column("approved_by", Integer, ForeignKey("staff.id")),  # the CS head, important changes
    Column("approved_at", DateTime(timezone=True)),
    Column("applied_by", Integer, ForeignKey("staff.id")),
    Column("applied_at", DateTime(timezone=True)),
    Column("rejected_by", Integer, ForeignKey("staff.id")),
    Column("rejection_reason", Text),
    Column("collection_channel", String(32)),  # Art. 9; NULL on forms before it was asked
    one_of("status", UpdateStatus),
    one_of("trigger", UpdateTrigger, nullable=True),
    one_of("collection_channel", CollectionChannel, nullable=True),
    CheckConstraint("(trigger IS NULL) = (occurred_on IS NULL)", name="occurred_on"),
    Index("ix_dossier_change_page", "requested_at", "id"),  # the updates list's pages
)

# One changed field of an update form, with its value before and after (Art. 13(4)).
# Personal fields keep both values only as ciphertext (``*_enc``), others in the clear.
dossier_change_item = Table(
    "dossier_change_item", metadata,
    Column("change_id", UUID(as_uuid=True), ForeignKey("dossier_change.id", ondelete="CASCADE"),
           primary_key=True),
    Column("field", String(48), primary_key=True),
    Column("personal", Boolean, nullable=False),
    Column("before_value", Text),
    Column("after_value", Text),
    Column("before_enc", LargeBinary),
    Column("after_enc", LargeBinary),
    CheckConstraint("NOT personal OR (before_value IS NULL AND after_value IS NULL)",
                    name="personal_sealed"),
)

# A delayed filing (Art. 15): approved by the CS head, never beyond 5 wd.
filing_delay = Table(
    "filing_delay", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("clock_id", BigInteger, ForeignKey("clock.id"), nullable=False),
    Column("requested_by", Integer, ForeignKey("staff.id"), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("original_due_on", Date, nullable=False),
    Column("new_due_on", Date, nullable=False),
    Column("status", String(16), nullable=False, server_default=DelayStatus.REQUESTED.value),
    Column("decided_by", Integer, ForeignKey("staff.id")),
    Column("decided_at", DateTime(timezone=True)),
    Column("decision_reason", Text),
    one_of("status", DelayStatus),
    CheckConstraint("new_due_on > original_due_on", name="later"),
    # At most one pending or approved delay per clock.
    Index("uq_filing_delay_open", "clock_id", unique=True,
          postgresql_where=text(f"status <> '{DelayStatus.REJECTED}'")),
)

# --- paper borrowing (Art. 16) ----------------------------------------------------------------

# A Borrowing Request Form: purpose, period, the volumes; approved by the requester's
# department head and by the archivist; one extension at most.
loan = Table(
    "loan", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("requester_id", Integer, ForeignKey("staff.id"), nullable=False, index=True),
    Column("purpose", Text, nullable=False),
    Column("period_wd", SmallInteger, nullable=False),
    Column("status", String(16), nullable=False, server_default=LoanStatus.REQUESTED.value),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("department_approved_by", Integer, ForeignKey("staff.id")),
    Column("department_approved_at", DateTime(timezone=True)),
    Column("archive_approved_by", Integer, ForeignKey("staff.id")),
    Column("archive_approved_at", DateTime(timezone=True)),
    Column("rejected_by", Integer, ForeignKey("staff.id")),
    Column("rejection_reason", Text),
    Column("lent_on", Date),
    Column("due_on", Date),
    Column("extension_wd", SmallInteger),
    Column("extension_requested_on", Date),
    Column("extension_status", String(16)),
    Column("extension_decided_by", Integer, ForeignKey("staff.id")),
    Column("returned_on", Date),
    Column("returned_to", Integer, ForeignKey("staff.id")),
    one_of("status", LoanStatus),
    CheckConstraint("period_wd > 0", name="period"),
    one_of("extension_status", ExtensionStatus, nullable=True),
    Index("ix_loan_page", "requested_at", "id"),  # the loans list's pages
)

loan_volume = Table(
    "loan_volume", metadata,
    Column("loan_id", UUID(as_uuid=True), ForeignKey("loan.id", ondelete="CASCADE"),
           primary_key=True),
    Column("volume_id", BigInteger, ForeignKey("paper_volume.id"), primary_key=True,
           index=True),
    Column("returned_condition", String(16)),  # recorded at return (Art. 16: intact)
    Column("return_notes", Text),
)

# --- queries (Art. 16) -----------------------------------------------------------------------

#: What a query grant may cover: the Art. 10 dimensions, and whether personal data shows.
QUERY_SCOPES = tuple(s.value for s in QueryScope)

query_grant = Table(
    "query_grant", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    _dossier_fk(),
    Column("requester_id", Integer, ForeignKey("staff.id"), nullable=False, index=True),
    Column("purpose", Text, nullable=False),
    Column("scope", ARRAY(Text), nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("status", String(16), nullable=False, server_default=GrantStatus.REQUESTED.value),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", Integer, ForeignKey("staff.id")),
    Column("decided_at", DateTime(timezone=True)),
    Column("reason", Text),
    one_of("status", GrantStatus),
    CheckConstraint("cardinality(scope) > 0", name="scope"),
)

# --- scheduled duties (Arts. 12, 14, 21, 22) -------------------------------------------------

# One run of a duty for one period (``2026-10``, ``2026-Q4``, ``2026-H2``, ``2026``): the key
# that makes a retry or a second run of the same period change nothing.
duty_run = Table(
    "duty_run", metadata,
    Column("duty", String(32), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("seed", BigInteger),  # the sampling audit's random seed, recorded (Art. 14)
    Column("summary", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
)

# Something a duty found about one dossier: a gap, a stale part, an inconsistency. A finding
# of the sampling audit or the QA inspection is a rectification item with an owner and a
# deadline, re-checked by the next run (Arts. 14, 21).
finding = Table(
    "finding", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("duty", String(32), nullable=False),
    Column("period", String(16), nullable=False),
    # NULL for a finding about no one dossier (a staff member, a key, a backup: Art. 20),
    # which names its ``subject`` instead.
    Column("dossier_id", UUID(as_uuid=True), ForeignKey("dossier.id", ondelete="CASCADE"),
           index=True),
    Column("subject", Text),
    Column("check_id", String(64), nullable=False),
    Column("article", Text, nullable=False),
    Column("dimension", String(32), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("description", Text, nullable=False),
    Column("owner_id", Integer, ForeignKey("staff.id"), index=True),
    Column("due_on", Date),
    Column("status", String(16), nullable=False, server_default=FindingStatus.OPEN.value),
    Column("found_at", DateTime(timezone=True), nullable=False),
    Column("rechecked_in", String(16)),  # the period of the run that re-checked it
    Column("resolved_at", DateTime(timezone=True)),
    UniqueConstraint("duty", "period", "dossier_id", "check_id"),
    Index("uq_finding_subject", "duty", "period", "subject", "check_id", unique=True,
          postgresql_where=text("dossier_id IS NULL")),
    CheckConstraint("dossier_id IS NOT NULL OR subject IS NOT NULL", name="subject"),
    one_of("severity", Severity),
    one_of("status", FindingStatus),
)

# A reminder or escalation sent about a running clock, at most one of a kind per day.
reminder = Table(
    "reminder", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("clock_id", BigInteger, ForeignKey("clock.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # due_soon | overdue | escalation
    Column("for_date", Date, nullable=False),
    Column("recipient_id", Integer, ForeignKey("staff.id")),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("clock_id", "kind", "for_date"),
    one_of("kind", ReminderKind),
)

# A report written by a duty: where it is stored and its digest, one per kind/period/format.
report = Table(
    "report", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("period", String(16), nullable=False),
    Column("format", String(8), nullable=False),
    Column("uri", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    _created_at(),
    UniqueConstraint("kind", "period", "format"),
)

# A department's edition of a report with rows about each department or person (Art. 22):
# what that department's head reads instead of the whole (dossiers.reports.catalogue).
report_edition = Table(
    "report_edition", metadata,
    Column("report_id", BigInteger, ForeignKey("report.id", ondelete="CASCADE"),
           primary_key=True),
    Column("department", String(32), ForeignKey("department.code"), primary_key=True),
    Column("uri", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    _created_at(),
)

# The duties' e-mail, one row per message and recipient, written in the transaction that
# records what the message is about (dossiers.duties.mail): a retry sends only the rows
# still unsent, so nobody gets a mail twice and one refused recipient holds up nobody else.
# Subjects and bodies carry dossier numbers and what to do, never a client's personal data;
# recipients are staff (or configured report) addresses; last_error has addresses masked.
mail_outbox = Table(
    "mail_outbox", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("duty", String(32), nullable=False),
    Column("period", String(16), nullable=False),
    Column("kind", String(96), nullable=False),  # which message of the duty's period
    Column("recipient", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("html", Text),
    # attachments by name and digest: their bytes come from the report store's renderer
    Column("files", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    _created_at(),
    Column("sent_at", DateTime(timezone=True)),
    Column("attempts", SmallInteger, nullable=False, server_default=text("0")),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("last_error", Text),
    UniqueConstraint("duty", "period", "kind", "recipient"),
    Index("ix_mail_outbox_unsent", "duty", "period", postgresql_where=text("sent_at IS NULL")),
)

# --- backups (Arts. 14, 18) -----------------------------------------------------------------

# The backup catalogue (dossiers.backups.catalogue): one row per backup taken, full (database
# and documents) or of the key ring alone. The manifest in the vault is the backup's own
# account of itself (MAC'd); this row is where it stands: running until the manifest is
# sealed, verified once a drill matched it, shipped off-site, expired.
backup = Table(
    "backup", metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("location", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("snapshot_at", DateTime(timezone=True)),  # when the data was as the backup holds it
    Column("size_bytes", BigInteger),
    Column("manifest_sha256", String(64)),
    Column("ledger_seq", BigInteger),
    Column("keyring_backup_id", String(64)),
    Column("error", Text),
    Column("offsite_uri", Text),
    Column("offsite_at", DateTime(timezone=True)),
    Column("offsite_retain_until", DateTime(timezone=True)),
    Column("expired_at", DateTime(timezone=True)),
    Index("ix_backup_kind_started", "kind", "started_at"),
    one_of("kind", BackupKind),
    one_of("status", BackupStatus),
)

# A restore drill of a backup (Art. 18: able to restore quickly): restored into a scratch
# database and document store, checked, timed. rto = time to restore; rpo = age of the
# newest data in the backup when the drill finished.
backup_drill = Table(
    "backup_drill", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("backup_id", String(64), ForeignKey("backup.id"), nullable=False, index=True),
    Column("source", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("rto_seconds", Numeric(12, 3)),
    Column("rpo_seconds", Numeric(12, 3)),
    Column("problems", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    one_of("source", DrillSource),
)

# --- legal holds, destruction (Art. 17) -------------------------------------------------------

# A legal hold (litigation, a regulator's inspection): while released_at is NULL the dossier
# is not destroyed, whatever condition it meets.
legal_hold = Table(
    "legal_hold", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _dossier_fk(),
    Column("kind", String(16), nullable=False),
    Column("reference", Text, nullable=False),  # the case or inspection, never personal data
    Column("placed_by", Integer, ForeignKey("staff.id"), nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("released_by", Integer, ForeignKey("staff.id")),
    Column("released_at", DateTime(timezone=True)),
    Column("release_reason", Text),
    one_of("kind", HoldKind),
)

# A Destruction Request Form (Art. 17(2)(1)): prepared by the archivist, many dossiers each
# with the condition it meets; approved gate by gate (destruction_approval), executed under
# the QA supervisor's supervision, certified (a signed PDF).
destruction_request = Table(
    "destruction_request", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("status", String(16), nullable=False,
           server_default=DestructionStatus.REQUESTED.value),
    Column("requested_by", Integer, ForeignKey("staff.id"), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("rejected_by", Integer, ForeignKey("staff.id")),
    Column("rejection_reason", Text),
    Column("stopped_at", DateTime(timezone=True)),
    Column("stop_reason", Text),  # which condition changed, of which dossier
    Column("executed_by", Integer, ForeignKey("staff.id")),
    Column("executed_at", DateTime(timezone=True)),
    # Crypto-shredding: the last day a key ring backup taken before the execution exists.
    Column("unrecoverable_after", Date),
    Column("certificate_uri", Text),
    Column("certificate_sha256", String(64)),
    one_of("status", DestructionStatus),
    Index("ix_destruction_request_page", "requested_at", "id"),
)

# One dossier of a request: the form's columns (number, client name, filing time, reason),
# kept after the dossier itself is gone, so the form stays readable (Art. 17(2)(4)).
destruction_item = Table(
    "destruction_item", metadata,
    Column("request_id", UUID(as_uuid=True),
           ForeignKey("destruction_request.id", ondelete="CASCADE"), primary_key=True),
    Column("dossier_no", Text, primary_key=True),
    Column("dossier_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("client_name_zh", Text, nullable=False),
    Column("client_name_en", Text, nullable=False),
    Column("filed_at", DateTime(timezone=True)),
    Column("condition", String(24), nullable=False),
    Column("reason", Text, nullable=False),
    # the departments that worked with the client: each head is a gate (Art. 17(2)(2))
    Column("departments", ARRAY(Text), nullable=False),
    Column("paper_volumes", ARRAY(SmallInteger), nullable=False, server_default="{}"),
    one_of("condition", DestructionCondition),
)

# One gate's decision (CS head, each department head, management, the QA supervisor's
# confirmation; the archivist's confirmation after execution): one row per gate.
destruction_approval = Table(
    "destruction_approval", metadata,
    Column("request_id", UUID(as_uuid=True),
           ForeignKey("destruction_request.id", ondelete="CASCADE"), primary_key=True),
    Column("gate", String(48), primary_key=True),
    Column("decided_by", Integer, ForeignKey("staff.id"), nullable=False),
    Column("approved", Boolean, nullable=False),
    Column("reason", Text),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("via", String(16), nullable=False),  # cli | airflow
)

# A paper volume's destruction (Art. 17(2)(3), (4)): method, date and personnel.
paper_destruction = Table(
    "paper_destruction", metadata,
    Column("request_id", UUID(as_uuid=True),
           ForeignKey("destruction_request.id", ondelete="CASCADE"), primary_key=True),
    Column("dossier_no", Text, primary_key=True),
    Column("volume_no", SmallInteger, primary_key=True),
    Column("method", String(16), nullable=False),
    Column("destroyed_on", Date, nullable=False),
    Column("personnel", ARRAY(Text), nullable=False),
    Column("recorded_by", Integer, ForeignKey("staff.id"), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    one_of("method", PaperMethod),
    CheckConstraint("cardinality(personnel) > 0", name="personnel"),
)

# What remains of a destroyed dossier, forever (Art. 17(2)(4)): number, client name, filing
# time, reason; nothing personal. The number stays used (dossier_number keeps it too).
dossier_tombstone = Table(
    "dossier_tombstone", metadata,
    Column("dossier_no", Text, primary_key=True),
    Column("dossier_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("client_name_zh", Text, nullable=False),
    Column("client_name_en", Text, nullable=False),
    Column("filed_at", DateTime(timezone=True)),
    Column("condition", String(24), nullable=False),
    Column("reason", Text, nullable=False),
    Column("request_id", UUID(as_uuid=True), nullable=False),
    Column("destroyed_at", DateTime(timezone=True), nullable=False),
    Column("unrecoverable_after", Date),
    one_of("condition", DestructionCondition),
)

# --- external disclosure (Art. 16) ------------------------------------------------------------

# An external use: recipient, legal basis, purpose, scope, expiry and the confidentiality
# agreement; approved by management; then one desensitised package, which can be made again
# byte for byte from this row (its secret is sealed under the dossier's data key).
disclosure_request = Table(
    "disclosure_request", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    # no foreign key: the register of disclosures outlives a destroyed dossier (Arts. 16, 20)
    Column("dossier_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("dossier_no", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("recipient_country", String(2), nullable=False),  # ISO 3166-1: PIPL cross-border
    Column("legal_basis", String(24), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("scope", ARRAY(Text), nullable=False),  # Art. 10 dimensions
    Column("documents", ARRAY(Text), nullable=False, server_default="{}"),
    Column("expires_on", Date, nullable=False),
    Column("confidentiality_ref", Text, nullable=False),
    Column("status", String(16), nullable=False, server_default=DisclosureStatus.REQUESTED.value),
    Column("requested_by", Integer, ForeignKey("staff.id"), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", Integer, ForeignKey("staff.id")),
    Column("decided_at", DateTime(timezone=True)),
    Column("reason", Text),
    Column("secret_enc", LargeBinary, nullable=False),
    Column("packaged_by", Integer, ForeignKey("staff.id")),
    Column("packaged_at", DateTime(timezone=True)),
    Column("package_sha256", String(64)),
    Column("manifest", JSONB),  # files and their digests, and what was masked
    one_of("legal_basis", DisclosureBasis),
    one_of("status", DisclosureStatus),
    CheckConstraint("cardinality(scope) > 0", name="scope"),
    CheckConstraint("length(trim(confidentiality_ref)) > 0", name="confidentiality_ref"),
    Index("ix_disclosure_request_page", "requested_at", "id"),
)

# --- audit trail ----------------------------------------------------------------------------

# Every read of a dossier and every refused action (Art. 16); the ledger records changes.
access_log = Table(
    "access_log", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", Text),
    Column("allowed", Boolean, nullable=False),
    Column("reason", Text),
)

# 檔案管理臺賬 (Arts. 11, 13): append-only and hash-chained; see dossiers.core.ledger. ``body`` is
# the exact canonical JSON that was hashed; every other column but the two hashes is a stored
# generated column computed from it (LEDGER_DERIVED), which nobody can write, the owner with
# every trigger disabled included, so the columns the application reads are what was hashed.
#: column -> the SQL expression that derives it from ``body`` (migration 0007).
LEDGER_DERIVED = {
    "seq": "(body::json ->> 'seq')::bigint",
    "recorded_at": "ledger_timestamp(body::json ->> 'recorded_at')",
    "actor": "body::json ->> 'actor'",
    "action": "body::json ->> 'action'",
    "subject_type": "body::json ->> 'subject_type'",
    "subject_id": "body::json ->> 'subject_id'",
    "dossier_no": "body::json ->> 'dossier_no'",
    "details": "(body::json -> 'details')::jsonb",
}
#: The body of ``ledger_timestamp(text)``: generated columns must be immutable, the cast
#: is only stable (it reads TimeZone for a string without offset; the ledger's have one).
LEDGER_TIMESTAMP_SQL = "SELECT $1::timestamptz"


def _from_body(name: str) -> Computed:
    return Computed(LEDGER_DERIVED[name], persisted=True)


ledger_entry = Table(
    "ledger_entry", metadata,
    Column("seq", BigInteger, _from_body("seq"), primary_key=True, autoincrement=False),
    Column("body", Text, nullable=False),
    Column("prev_hash", LargeBinary, nullable=False),
    Column("entry_hash", LargeBinary, nullable=False),
    Column("recorded_at", DateTime(timezone=True), _from_body("recorded_at"), nullable=False),
    Column("actor", Text, _from_body("actor"), nullable=False),
    Column("action", Text, _from_body("action"), nullable=False),
    Column("subject_type", Text, _from_body("subject_type"), nullable=False),
    Column("subject_id", Text, _from_body("subject_id"), nullable=False),
    Column("dossier_no", Text, _from_body("dossier_no")),
    Column("details", JSONB, _from_body("details"), nullable=False),
    Index("ix_ledger_entry_subject", "subject_type", "subject_id"),
    Index("ix_ledger_entry_dossier_no", "dossier_no"),
    Index("ix_ledger_entry_action", "action", "recorded_at"),
)

# --- data keys, kept apart from the data (Art. 18, crypto-shredding) ----------------------

data_key = Table(
    "data_key", metadata,
    Column("dossier_id", UUID(as_uuid=True), primary_key=True),
    Column("wrapped_key", LargeBinary),  # NULL once destroyed: every copy becomes unreadable
    Column("master_key_id", Text, nullable=False),
    _created_at(),
    Column("destroyed_at", DateTime(timezone=True)),
    schema=KEYRING_SCHEMA,
)
