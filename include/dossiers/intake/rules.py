"""Validate and normalise one collection-form row (``collection-form.md``, Art. 10, 11, 19).

:func:`validate_row` checks every field of a row, never stopping at the first problem,
and returns either a :class:`ValidForm` with properly typed, normalised values or one
:class:`RowError` per problem, with the contract's error codes. Duplicates are the
caller's (they need the database).

Messages name the field and the reason. They quote a short offending value only for
fields that are not personal data: a contact's name, e-mail or phone, the credit rating
and the fee range never appear in a message (contract, *Personal data*; Art. 19).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, ClassVar, Final

import email_validator
import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from dossiers.core.vocabulary import CLIENT_DEPARTMENTS, CollectionChannel, Dependence, Stage
from dossiers.intake.reader import (
    CONTACT_KEYS,
    CONTACTS_KEY,
    EXTRA_CONTACTS_KEY,
    ZERO_WIDTH_TABLE,
)

#: Contract, *Text*: 4,000 characters at most per cell; client names 1–200 characters.
MAX_TEXT_LENGTH: Final = 4000
MAX_NAME_LENGTH: Final = 200

#: Client types of Art. 11 step 4 (the code in the dossier number) and their English label.
CLIENT_TYPES: Mapping[str, str] = {
    "電商": "cross-border e-commerce brand",
    "外貿": "foreign-trade manufacturer",
    "本土": "overseas local business",
    "協會": "overseas industry association",
}
#: Accepted spellings (simplified characters, codes in any case) of each client type.
_CLIENT_TYPE_ALIASES: Mapping[str, str] = {
    **{code: code for code in CLIENT_TYPES},
    "电商": "電商",
    "外贸": "外貿",
    "协会": "協會",
    "ecom": "電商",
    "mfg": "外貿",
    "local": "本土",
    "assoc": "協會",
}

STAGES: Final = tuple(stage.value for stage in Stage)
DEPARTMENTS: Final = CLIENT_DEPARTMENTS
CONTACT_PREFERENCES: Final = ("email", "phone", "video", "im", "in_person")
MARKETING_GOALS: Final = ("brand_promotion", "sales_growth", "market_expansion", "other")
DEPENDENCE_LEVELS: Final = tuple(level.value for level in Dependence)

#: ISO 3166-1 alpha-2 and ISO 4217 codes, built once (lookups per row must be cheap).
COUNTRY_CODES: frozenset[str] = frozenset(country.alpha_2 for country in pycountry.countries)
CURRENCY_CODES: frozenset[str] = frozenset(cur.alpha_3 for cur in pycountry.currencies)

#: Form fields that are personal data, encrypted before they reach the database
#: (contract, *Personal data*; Art. 18). Extra contacts' ``name``/``email``/``phone`` too.
PERSONAL_FIELDS: frozenset[str] = frozenset(
    {"contact_name", "contact_email", "contact_phone", "credit_rating", "fee_range"}
)

#: Which fields must not be in the future, and which an ``active`` row must have.
_NOT_IN_FUTURE: Final = ("collected_on", "founded_on", "terminated_on")
_ACTIVE_REQUIRES: Final = ("registered_address", "contract_no", "contract_signed_on")

#: Free text that may span lines (tab, LF and CR allowed); all other text is one line.
_MULTILINE_FIELDS: Final = (
    "registered_address",
    "domestic_contact_address",
    "business_scope",
    "core_business",
    "org_structure",
    "market_positioning",
    "target_customers",
    "competition",
    "market_share",
    "policy_fit",
    "industry_trends",
    "service_scope",
    "fee_range",
    "brand_positioning",
    "creative_preferences",
    "selling_points",
    "consumer_traits",
    "service_expectations",
    "latent_needs",
    "credit_rating",
    "other_partners",
    "honours",
)
_LINE_FIELDS: Final = ("legal_form", "contract_no")
_DATE_FIELDS: Final = (
    "collected_on",
    "founded_on",
    "contract_signed_on",
    "period_start",
    "period_end",
    "terminated_on",
)

# Control characters (Unicode category Cc) other than tab, LF, CR, plus lone surrogates
# (JSON can smuggle "\ud800" in): refused everywhere. Tab, LF and CR: only in free text.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: What trimming removes: every character ``str.isspace`` accepts except the control
#: characters that are refused (VT, FF, U+001C–U+001F, NEL): those must not vanish.
TRIMMED_WHITESPACE: Final = (
    " \t\n\r\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
_ASCII_TRIMMED: Final = " \t\n\r"
_DATE = re.compile(r"([0-9]{4})([-/])([0-9]{1,2})\2([0-9]{1,2})")
_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_QUOTE_LIMIT: Final = 40
# A plain ASCII dot-atom local part (a subset of RFC 5322's), a lower-case LDH domain of
# two labels or more whose top-level label ends in a letter, and RFC 5321's limits.
_SIMPLE_LOCAL_PART = re.compile(r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*")
_SIMPLE_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z0-9][a-z0-9-]{0,61})?[a-z]")
_EMAIL_MAX_LENGTH: Final = 254
_DOMAIN_MAX_LENGTH: Final = 253
# "+49 30 1234567", "+1-212-555-0123": parsing is faster without the separators.
_PLAIN_PHONE = re.compile(r"\+[0-9][0-9 -]*")


def _choices(values: Sequence[str]) -> Mapping[str, str]:
    """Case-folded spelling -> canonical value, for :meth:`_RowCheck.enum`."""
    return {value.casefold(): value for value in values}


_STAGE_CHOICES: Final = _choices(STAGES)
_DEPARTMENT_CHOICES: Final = _choices(DEPARTMENTS)
_PREFERENCE_CHOICES: Final = _choices(CONTACT_PREFERENCES)
_GOAL_CHOICES: Final = _choices(MARKETING_GOALS)
_DEPENDENCE_CHOICES: Final = _choices(DEPENDENCE_LEVELS)
_CHANNEL_CHOICES: Final = _choices(tuple(c.value for c in CollectionChannel))


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem with one field of one row, as the import report lists it."""

    row: int
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, object]:
        """``{"row", "field", "code", "message"}`` for the report's ``rejected`` list."""
        return {"row": self.row, "field": self.field, "code": self.code, "message": self.message}


#: A row naming another liaison, filed by someone the matrix does not let file it for that
#: department (Art. 7). Not among ``collection-form.md``'s codes (that file is fixed): the
#: README lists it.
NOT_YOUR_DEPARTMENT: Final = "not_your_department"


def not_your_department(row: int, department: str, liaison: str, submitter: str) -> RowError:
    """The refusal of a row filed for another department's liaison (Art. 7: each liaison
    answers for their own clients; their department's head reviews what it collects)."""
    return RowError(row, "department", NOT_YOUR_DEPARTMENT,
                    f"the form names liaison {liaison} of department {department}: only that "
                    f"liaison, a head of {department} or the CS head may submit it, not "
                    f"{submitter}")


@dataclass(frozen=True, slots=True)
class Contact:
    """A key contact (Art. 10 *Basic*): name, title, contact details, preference."""

    #: Attributes that are personal data (encrypted at rest).
    PERSONAL: ClassVar[tuple[str, ...]] = ("name", "email", "phone")

    name: str
    title: str | None
    email: str | None
    phone: str | None
    preference: str | None

    def as_dict(self, *, personal: bool = True) -> dict[str, str | None]:
        """The contact's values; ``personal=False`` leaves out name, e-mail and phone."""
        values = {
            "name": self.name,
            "title": self.title,
            "email": self.email,
            "phone": self.phone,
            "preference": self.preference,
        }
        if not personal:
            for attr in self.PERSONAL:
                del values[attr]
        return values


@dataclass(frozen=True, kw_only=True)
class ValidForm:
    """A row that passed every rule, with normalised, typed values.

    Field names are the contract's columns, except that ``registered_capital`` is split
    into an amount and a currency and the ``contact_*`` columns are ``contacts[0]``.
    """

    row: int
    client_name_zh: str
    client_name_en: str
    client_type: str
    stage: str
    target_markets: tuple[str, ...]
    liaison: str
    department: str
    authorisation_ref: str
    collection_channel: str
    collected_on: date
    registered_address: str | None
    domestic_contact_address: str | None
    founded_on: date | None
    legal_form: str | None
    registered_capital_amount: Decimal | None
    registered_capital_currency: str | None
    business_scope: str | None
    core_business: str | None
    org_structure: str | None
    contacts: tuple[Contact, ...]
    market_positioning: str | None
    target_customers: str | None
    competition: str | None
    market_share: str | None
    policy_fit: str | None
    industry_trends: str | None
    contract_no: str | None
    contract_signed_on: date | None
    service_scope: str | None
    period_start: date | None
    period_end: date | None
    fee_range: str | None
    marketing_goals: tuple[str, ...]
    brand_positioning: str | None
    creative_preferences: str | None
    selling_points: str | None
    consumer_traits: str | None
    service_expectations: str | None
    latent_needs: str | None
    credit_rating: str | None
    other_partners: str | None
    honours: str | None
    dependence: str | None
    terminated_on: date | None

    @classmethod
    def _from_values(cls, values: Mapping[str, Any]) -> ValidForm:
        """Build from a complete ``{field: value}`` without the generated ``__init__``.

        The frozen ``__init__`` sets each of the ~45 fields through ``object.__setattr__``,
        a tenth of a row's validation time over a 100,000-row file; filling ``__dict__``
        is equivalent (the instance stays frozen) as long as every field is given.
        """
        if values.keys() != _VALID_FORM_FIELDS:
            missing = sorted(_VALID_FORM_FIELDS - values.keys())
            extra = sorted(values.keys() - _VALID_FORM_FIELDS)
            raise TypeError(f"ValidForm fields missing {missing}, unexpected {extra}")
        form = object.__new__(cls)
        form.__dict__.update(values)
        return form

    @property
    def name_key(self) -> str:
        """``client_name_en`` compared case- and space-insensitively (contract, *Duplicates*)."""
        return name_key(self.client_name_en)

    @property
    def contact(self) -> Contact:
        """The first key contact (the ``contact_*`` columns)."""
        return self.contacts[0]

    def personal_fields(self) -> dict[str, str]:
        """The personal data present, keyed by field, for the caller to encrypt.

        Keys are ``credit_rating``, ``fee_range``, ``contact_name``/``_email``/``_phone``
        for the first contact and ``contacts[i].name``/``.email``/``.phone`` for the others.
        """
        found: dict[str, str] = {}
        for name in ("credit_rating", "fee_range"):
            value = getattr(self, name)
            if value is not None:
                found[name] = value
        for index, contact in enumerate(self.contacts):
            for attr in Contact.PERSONAL:
                value = getattr(contact, attr)
                if value is not None:
                    found[_contact_field(index, attr)] = value
        return found

    def as_dict(self, *, personal: bool = True) -> dict[str, object]:
        """JSON-ready values: dates ISO, tuples as lists, the amount as a string.

        With ``personal=False`` the personal data (see :meth:`personal_fields`) is left
        out: ``credit_rating`` and ``fee_range`` are dropped, and each contact keeps only
        its title and preference.
        """
        result: dict[str, object] = {}
        values = self.__dict__  # every field is there (_from_values); read for each row
        for name in _FIELD_NAMES if personal else _NON_PERSONAL_FIELD_NAMES:
            value = values[name]
            if value is None or type(value) is str:  # most fields: nothing to convert
                result[name] = value
                continue
            if isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, Decimal):
                value = str(value)
            elif name == "contacts":
                value = [contact.as_dict(personal=personal) for contact in value]
            elif isinstance(value, tuple):
                value = list(value)
            result[name] = value
        return result


_FIELD_NAMES: Final = tuple(item.name for item in fields(ValidForm))
_NON_PERSONAL_FIELD_NAMES: Final = tuple(n for n in _FIELD_NAMES if n not in PERSONAL_FIELDS)
_VALID_FORM_FIELDS: Final = frozenset(_FIELD_NAMES)


def name_key(client_name_en: str) -> str:
    """Case-folded, every whitespace removed: ``"Acme  Ltd"`` and ``"ACME LTD"`` match."""
    return "".join(client_name_en.casefold().split())


def is_personal(field_name: str) -> bool:
    """Whether a form field (or ``contacts[i].x``) holds personal data."""
    if field_name in PERSONAL_FIELDS:
        return True
    return field_name.startswith(f"{CONTACTS_KEY}[") and (field_name.rsplit(".", 1)[-1] in Contact.PERSONAL)


def validate_row(
    row_no: int,
    raw: Mapping[str, object],
    *,
    known_liaisons: Mapping[str, str] | Container[str],
    today: date,
) -> tuple[ValidForm | None, list[RowError]]:
    """Validate one row of a collection form (Art. 11 step 1).

    ``known_liaisons`` holds the usernames of active staff; ``today`` bounds the dates
    that may not be in the future. Returns ``(form, [])`` or ``(None, errors)``.
    """
    check = _RowCheck(row_no, raw)
    values: dict[str, Any] = {"row": row_no}
    values.update(_identity(check, known_liaisons))
    values.update(_dates(check, today))
    values.update(_texts(check))
    values.update(_capital(check))
    values["contacts"] = _contacts(check)
    values.update(_enums_and_lists(check))
    _stage_rules(check, values)
    if check.errors:
        return None, check.errors
    return ValidForm._from_values(values), []


# --- one row's checks ------------------------------------------------------------------


class _Invalid:
    """Marks a value of a type that cannot be text (a JSON object, ``true``…)."""


_INVALID: Final = _Invalid()


class _RowCheck:
    """The errors of one row, and which fields already have one (no double reports)."""

    def __init__(self, row_no: int, raw: Mapping[str, object]) -> None:
        self.row_no = row_no
        self.raw = raw
        self.errors: list[RowError] = []
        self.failed: set[str] = set()

    def error(self, field_name: str, code: str, message: str) -> None:
        self.errors.append(RowError(self.row_no, field_name, code, message))
        self.failed.add(field_name)

    def require(self, field_name: str, value: object, message: str | None = None) -> None:
        """Report ``required`` when *value* is missing and the field has no other error."""
        if value is None and field_name not in self.failed:
            self.error(field_name, "required", message or f"{field_name} is required")

    def text(
        self,
        field_name: str,
        value: object = _INVALID,
        *,
        multiline: bool = False,
        max_length: int = MAX_TEXT_LENGTH,
    ) -> str | None:
        """The normalised text of a field, or ``None`` when missing or refused.

        Contract, *Columns* and *Text*: trimmed, NFKC, zero-width characters removed, empty
        means missing; control characters refused (``invalid_text``), at most
        *max_length* characters (``too_long``). Leading ``=``/``+``/``-``/``@`` are kept.
        """
        if value is _INVALID:
            value = self.raw.get(field_name)
        if isinstance(value, str):
            text = _normalise(value)
        elif value is None:
            return None
        else:
            coerced = _as_text(value)
            if isinstance(coerced, _Invalid):
                self.error(field_name, "invalid_text", f"{field_name} must be text")
                return None
            text = _normalise(coerced)
        if not text:
            return None
        if (_CONTROL if multiline else _CONTROL_ONE_LINE).search(text):
            self.error(field_name, "invalid_text", f"{field_name} contains a control character")
            return None
        if len(text) > max_length:
            self.error(
                field_name,
                "too_long",
                f"{field_name} has {len(text):,} characters; at most {max_length:,} are allowed",
            )
            return None
        return text

    def enum(
        self,
        field_name: str,
        allowed: Mapping[str, str],
        value: object = _INVALID,
        *,
        also: str = "",
    ) -> str | None:
        """A value from *allowed* (keys case-folded), as its canonical spelling.

        The message lists the canonical values, then *also* (other accepted spellings).
        """
        if value is _INVALID:
            value = self.raw.get(field_name)
        if isinstance(value, str):  # written exactly as an accepted spelling: no normalising
            exact = allowed.get(value.casefold())
            if exact is not None:
                return exact
        text = self.text(field_name, value)
        if text is None:
            return None
        canonical = allowed.get(text.casefold())
        if canonical is None:
            self.error(
                field_name,
                "invalid_enum",
                f"{field_name}{_quote(field_name, text)} is not one of: "
                f"{', '.join(dict.fromkeys(allowed.values()))}{also}",
            )
        return canonical

    def items(self, field_name: str) -> tuple[str, ...]:
        """A ``;``-separated list (a JSON array of strings is accepted too), empties dropped."""
        value = self.raw.get(field_name)
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            value = ";".join(value)
        text = self.text(field_name, value)
        if text is None:
            return ()
        return _split_items(text)

    def date(self, field_name: str) -> date | None:
        """Contract, *Dates*: ``YYYY-MM-DD``, ``YYYY/MM/DD`` or a real date cell; never a guess."""
        value = self.raw.get(field_name)
        if isinstance(value, str):
            exact = _parse_date(value)  # already clean: nothing to normalise
            if exact is not None:
                return exact
        elif isinstance(value, datetime):
            return value.date()
        elif isinstance(value, date):
            return value
        text = self.text(field_name, value)
        if text is None:
            return None
        parsed = _parse_date(text)
        if parsed is None:
            self.error(
                field_name,
                "invalid_date",
                f"{field_name}{_quote(field_name, text)} is not a date: "
                "write YYYY-MM-DD (for example 2026-03-05)",
            )
        return parsed


# --- field groups ----------------------------------------------------------------------


def _identity(check: _RowCheck, known_liaisons: Mapping[str, str] | Container[str]) -> dict[str, Any]:
    """Names, client type, markets, owner and authorisation (required columns, Art. 19)."""
    values: dict[str, Any] = {}
    for name in ("client_name_zh", "client_name_en"):
        values[name] = check.text(name, max_length=MAX_NAME_LENGTH)
        check.require(name, values[name])
    values["client_type"] = check.enum(
        "client_type",
        _CLIENT_TYPE_ALIASES,
        also=" (or 电商, 外贸, 协会, ECOM, MFG, LOCAL, ASSOC)",
    )
    values["stage"] = check.enum("stage", _STAGE_CHOICES)
    values["department"] = check.enum("department", _DEPARTMENT_CHOICES)
    for name in ("client_type", "stage", "department"):
        check.require(name, values[name])
    values["target_markets"] = _countries(check)
    values["liaison"] = _liaison(check, known_liaisons)
    values["authorisation_ref"] = check.text("authorisation_ref")
    _authorisation(check, values["authorisation_ref"])
    values["collection_channel"] = collection_channel(check)
    return values


def collection_channel(check: _RowCheck) -> str | None:
    """Art. 9: how the information was obtained, one of the channels; missing or unknown is
    ``invalid_channel`` (one code for both, so a submitter fixes one column)."""
    name = "collection_channel"
    value = check.text(name)
    if name in check.failed:
        return None
    channel = _CHANNEL_CHOICES.get(value.casefold()) if value is not None else None
    if channel is None:
        found = "is missing" if value is None else f"{_quote(name, value)} is unknown"
        check.error(name, "invalid_channel",
                    f"{name} {found.lstrip()}: one of {', '.join(_CHANNEL_CHOICES.values())} "
                    "(Art. 9)")
    return channel


def _authorisation(check: _RowCheck, value: str | None) -> None:
    """Art. 19: no collection without the client's authorisation."""
    if value is None and "authorisation_ref" not in check.failed:
        check.error(
            "authorisation_ref",
            "no_authorisation",
            "authorisation_ref is missing: the client's authorisation to collect its "
            "information is needed first (Art. 19)",
        )


def _countries(check: _RowCheck) -> tuple[str, ...]:
    """``target_markets``: ISO 3166-1 alpha-2 codes, case-insensitive, deduplicated."""
    codes, unknown = _split_countries(check.items("target_markets"))
    for part in unknown:
        hint = " (the United Kingdom is GB)" if part.upper() == "UK" else ""
        check.error(
            "target_markets",
            "invalid_country",
            f"target_markets{_quote('target_markets', part)} is not an ISO 3166-1 alpha-2 country code{hint}",
        )
    check.require("target_markets", codes or None)
    return codes


@lru_cache(maxsize=1024)  # a file has few distinct market lists
def _split_countries(parts: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(known codes upper-cased and deduplicated in order, parts that are not codes)."""
    codes: dict[str, None] = {}
    unknown: list[str] = []
    for part in parts:
        code = part.upper()
        if code in COUNTRY_CODES:
            codes[code] = None
        else:
            unknown.append(part)
    return tuple(codes), tuple(unknown)


def _liaison(check: _RowCheck, known_liaisons: Mapping[str, str] | Container[str]) -> str | None:
    """``liaison``: the username of an active staff member, the dossier's owner."""
    username = check.text("liaison")
    check.require("liaison", username)
    if username is not None and username not in known_liaisons:
        check.error(
            "liaison",
            "unknown_liaison",
            f"liaison{_quote('liaison', username)} is not an active staff member",
        )
        return None
    return username


def _dates(check: _RowCheck, today: date) -> dict[str, Any]:
    """Every date field, not-in-the-future and ``period_end`` ≥ ``period_start``."""
    values: dict[str, Any] = {name: check.date(name) for name in _DATE_FIELDS}
    check.require("collected_on", values["collected_on"])
    for name in _NOT_IN_FUTURE:
        if values[name] is not None and values[name] > today:
            check.error(name, "future_date", f"{name} {values[name].isoformat()} is in the future")
    _order(check, values, "period_start", "period_end")
    _order(check, values, "period_start", "terminated_on")
    return values


def _order(check: _RowCheck, values: Mapping[str, Any], first: str, then: str) -> None:
    if values[first] is not None and values[then] is not None and values[then] < values[first]:
        check.error(then, "date_order", f"{then} is before {first}")


def _texts(check: _RowCheck) -> dict[str, Any]:
    """Free text of Art. 10 (basic, market, cooperation, needs, other)."""
    values: dict[str, Any] = {name: check.text(name, multiline=True) for name in _MULTILINE_FIELDS}
    values.update({name: check.text(name) for name in _LINE_FIELDS})
    return values


def _capital(check: _RowCheck) -> dict[str, Any]:
    """``registered_capital``: ``<amount> <ISO 4217 currency>``, amount ≥ 0.

    The amount is plain digits with an optional decimal point: ``1,500`` could mean 1.5
    or 1500 depending on the writer's country, so separators are refused, not guessed.
    """
    empty: dict[str, Any] = {"registered_capital_amount": None, "registered_capital_currency": None}
    name = "registered_capital"
    text = check.text(name)
    if text is None:
        return empty
    parts = text.split()
    example = "write '<amount> <ISO 4217 currency>', for example 1500000 USD"
    if len(parts) != 2:
        if len(parts) == 1 and _AMOUNT.fullmatch(parts[0]):
            check.error(name, "invalid_currency", f"{name} has no currency: {example}")
        else:
            check.error(name, "invalid_amount", f"{name} is not an amount and currency: {example}")
        return empty
    amount, currency = parts[0], parts[1].upper()
    if not _AMOUNT.fullmatch(amount):
        reason = "must not be negative" if amount.startswith("-") else "is not a plain number"
        check.error(name, "invalid_amount", f"{name} amount{_quote(name, amount)} {reason}")
    if currency not in CURRENCY_CODES:
        check.error(
            name,
            "invalid_currency",
            f"{name} currency{_quote(name, parts[1])} is not an ISO 4217 code",
        )
    if name in check.failed:
        return empty
    return {"registered_capital_amount": Decimal(amount), "registered_capital_currency": currency}


def _enums_and_lists(check: _RowCheck) -> dict[str, Any]:
    """``marketing_goals`` (Art. 10 *Needs*) and ``dependence`` (Art. 10 *Other*)."""
    goals: dict[str, None] = {}
    for part in check.items("marketing_goals"):
        goal = check.enum("marketing_goals", _GOAL_CHOICES, part)
        if goal is not None:
            goals[goal] = None
    return {
        "marketing_goals": tuple(goals),
        "dependence": check.enum("dependence", _DEPENDENCE_CHOICES),
    }


def _stage_rules(check: _RowCheck, values: Mapping[str, Any]) -> None:
    """Contract: ``terminated`` only with ``terminated_on``; ``active`` needs the contract."""
    if values["stage"] == "terminated":
        check.require(
            "terminated_on",
            values["terminated_on"],
            "terminated_on is required when stage is terminated",
        )
    elif values["stage"] == "active":
        for name in _ACTIVE_REQUIRES:
            check.require(name, values[name], f"{name} is required when stage is active")


# --- contacts --------------------------------------------------------------------------


def _contacts(check: _RowCheck) -> tuple[Contact, ...]:
    """The first contact from the ``contact_*`` columns, then any further JSON contacts."""
    if CONTACTS_KEY in check.raw:
        _refuse_contacts_array(check, check.raw[CONTACTS_KEY])
    first = {key: check.raw.get(column) for key, column in CONTACT_KEYS.items()}
    found = [_contact(check, first, CONTACT_KEYS)]
    extras = check.raw.get(EXTRA_CONTACTS_KEY)
    if extras is not None:
        if not isinstance(extras, list) or not all(isinstance(c, dict) for c in extras):
            _refuse_contacts_array(check, extras)
            extras = []
        for index, extra in enumerate(extras, start=1):
            names = {key: _contact_field(index, key) for key in CONTACT_KEYS}
            found.append(_contact(check, extra, names))
    return tuple(c for c in found if c is not None)


def _refuse_contacts_array(check: _RowCheck, value: object) -> None:
    if isinstance(value, list) and all(isinstance(c, dict) for c in value):
        message = "give the first contact either as contact_* keys or as contacts[0], not both"
    else:
        message = "contacts must be an array of objects (name, title, email, phone, preference)"
    check.error(CONTACTS_KEY, "invalid_text", message)


def _contact(check: _RowCheck, given: Mapping[str, object], names: Mapping[str, str]) -> Contact | None:
    """One key contact: name required, at least one of e-mail and phone (contract)."""
    name = check.text(names["name"], given.get("name"))
    check.require(names["name"], name)
    title = check.text(names["title"], given.get("title"))
    email = _email(check, names["email"], given.get("email"))
    phone = _phone(check, names["phone"], given.get("phone"))
    if email is None and phone is None and not {names["email"], names["phone"]} & check.failed:
        check.require(names["email"], None, f"one of {names['email']} or {names['phone']} is required")
    preference = check.enum(names["preference"], _PREFERENCE_CHOICES, given.get("preference"))
    if name is None:
        return None
    return Contact(name=name, title=title, email=email, phone=phone, preference=preference)


def _email(check: _RowCheck, field_name: str, value: object) -> str | None:
    """Syntax and domain form only: no DNS lookups at intake. Stored normalised."""
    text = check.text(field_name, value)
    if text is None:
        return None
    normalised = _normalise_email(text)
    if normalised is None:
        check.error(field_name, "invalid_email", f"{field_name} is not a valid e-mail address")
    return normalised


def _normalise_email(text: str) -> str | None:
    """``email_validator``'s normalised form, or ``None`` when it refuses the address.

    Most addresses are plain ASCII (``anna.b@acme-trading.de``). For those the outcome of
    ``validate_email(..., check_deliverability=False)`` is known without running it: an
    ASCII dot-atom local part is kept as written and an LDH domain is lower-cased, unless
    the domain is special-use. :func:`_plain_email` decides only those cases (the tests
    compare it with the library); everything else goes through the library. Over a
    100,000-row file this is the difference between seconds and a minute.
    """
    plain = _plain_email(text)
    return plain if plain is not None else library_email(text)


def library_email(text: str) -> str | None:
    """The reference answer: ``email_validator``'s normalised form, no network lookup."""
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def _plain_email(text: str) -> str | None:
    """The normalised form of a plain ASCII address, or ``None`` if not that simple."""
    local, _, domain = text.rpartition("@")
    if (
        len(text) > _EMAIL_MAX_LENGTH
        or not _SIMPLE_LOCAL_PART.fullmatch(local)
        or local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES  # the library lower-cases these
    ):
        return None
    domain = domain.lower()
    if (
        len(domain) > _DOMAIN_MAX_LENGTH
        or not _SIMPLE_DOMAIN.fullmatch(domain)
        or "--" in domain  # punycode and the "ab--" rule: left to the library
        or any(domain == d or domain.endswith("." + d) for d in email_validator.SPECIAL_USE_DOMAIN_NAMES)
    ):
        return None
    return f"{local}@{domain}"


def _phone(check: _RowCheck, field_name: str, value: object) -> str | None:
    """An international number valid for its country, stored as E.164 (``;ext=`` kept)."""
    text = check.text(field_name, value)
    if text is None:
        return None
    normalised = _normalise_phone(text)
    if normalised is None:
        check.error(
            field_name,
            "invalid_phone",
            f"{field_name} is not a valid international phone number "
            "(write + and the country code, for example +49 30 1234567)",
        )
    return normalised


@lru_cache(maxsize=4096)  # a company's switchboard often recurs across rows
def _normalise_phone(text: str) -> str | None:
    """E.164 of a number that ``phonenumbers.parse(text, None)`` finds valid, else None.

    ``+49 30 1234567`` and the like are decided by :func:`_plain_e164` without
    ``parse`` (two thirds of the cost); anything it is not sure of is parsed.
    """
    if _PLAIN_PHONE.fullmatch(text):  # spaces and hyphens only separate digits
        text = text.replace(" ", "").replace("-", "")
        plain = _plain_e164(text[1:])
        if plain is not None:
            return plain
    return library_e164(text)


def library_e164(text: str) -> str | None:
    """The reference answer: ``phonenumbers`` parses and validates, E.164 (``;ext=`` kept)."""
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={number.extension}" if number.extension else e164


def _plain_e164(digits: str) -> str | None:
    """``"+" + digits`` when that is surely what ``parse`` would make of it, and valid.

    ``parse`` takes the country code as the shortest prefix that is one, and the rest as
    the national number unless the country's national-prefix pattern matches its start
    (then it may strip or transform it) or it starts with 0 (the "Italian leading zero").
    Outside those cases the number ``parse`` builds is exactly (country code, rest), so
    ``is_valid_number`` on that decides. Returns ``None`` ("ask ``parse``") otherwise.
    """
    if digits[:1] in ("", "0"):
        return None
    for size in (1, 2, 3):
        country_code = int(digits[:size])
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    if not 2 <= len(national) <= 17 or national[0] == "0":
        return None
    prefix = _national_prefix(country_code)
    if prefix is _NO_METADATA or (prefix is not None and prefix.match(national)):
        return None
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))
    return f"+{digits}" if phonenumbers.is_valid_number(number) else None


_NO_METADATA: Final = re.compile("(?!)")
_NATIONAL_PREFIXES: dict[int, re.Pattern[str] | None] = {}


def _national_prefix(country_code: int) -> re.Pattern[str] | None:
    """The compiled national-prefix-for-parsing of the country ``parse`` would use."""
    if country_code not in _NATIONAL_PREFIXES:
        region = phonenumbers.region_code_for_country_code(country_code)
        metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        pattern = None if metadata is None else metadata.national_prefix_for_parsing
        _NATIONAL_PREFIXES[country_code] = (
            _NO_METADATA if metadata is None else re.compile(pattern) if pattern else None
        )
    return _NATIONAL_PREFIXES[country_code]


# --- helpers ---------------------------------------------------------------------------


def _as_text(value: object) -> str | _Invalid:
    """A non-string cell or JSON value as text: numbers and dates spelled out, else invalid."""
    if isinstance(value, bool):
        return _INVALID
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return _INVALID
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, date):
        return value.isoformat()
    return _INVALID


def _normalise(text: str) -> str:
    """NFKC (full-width digits become ASCII), zero-width characters removed, trimmed."""
    if text.isascii():  # the common case: NFKC and the zero-width table change nothing
        return text.strip(_ASCII_TRIMMED)
    text = unicodedata.normalize("NFKC", text).translate(ZERO_WIDTH_TABLE)
    return text.strip(TRIMMED_WHITESPACE)


@lru_cache(maxsize=1024)
def _split_items(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(";") if part.strip())


@lru_cache(maxsize=4096)  # the same few dates recur on many rows
def _parse_date(text: str) -> date | None:
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[3]), int(match[4]))
    except ValueError:
        return None


def _quote(field_name: str, value: str) -> str:
    """`` 'value'`` for a message, shortened; nothing at all for personal fields."""
    if is_personal(field_name):
        return ""
    short = value if len(value) <= _QUOTE_LIMIT else value[: _QUOTE_LIMIT - 1] + "…"
    return f" {short!r}"


def _contact_field(index: int, attr: str) -> str:
    """``contact_name`` for the first contact, ``contacts[2].email`` for the third."""
    if index == 0:
        return CONTACT_KEYS[attr]
    return f"{CONTACTS_KEY}[{index}].{attr}"


# --- update forms (Art. 13) -----------------------------------------------------------


#: Fields an update form may change, by the collection form's own column names. Client
#: type and department are not among them: the type is part of the dossier number (Art. 11)
#: and the department follows the liaison (``dossier staff leave``).
UPDATABLE_FIELDS: Final = (
    "client_name_zh", "client_name_en", "target_markets",
    "registered_address", "domestic_contact_address", "founded_on", "legal_form",
    "registered_capital", "business_scope", "core_business", "org_structure",
    "contact_name", "contact_title", "contact_email", "contact_phone", "contact_preference",
    "market_positioning", "target_customers", "competition", "market_share", "policy_fit",
    "industry_trends",
    "contract_no", "contract_signed_on", "service_scope", "period_start", "period_end",
    "fee_range", "marketing_goals", "brand_positioning", "creative_preferences", "selling_points",
    "consumer_traits", "service_expectations", "latent_needs",
    "credit_rating", "other_partners", "honours", "dependence",
    # Art. 19: a renewed authorisation (a new reference, recorded first) replaces an expired one
    "authorisation_ref",
)
#: What an update may not empty: the dossier could no longer be identified or reached, or
#: its information would stand on no authorisation (Art. 19).
_NOT_EMPTIED: Final = ("client_name_zh", "client_name_en", "target_markets", "contact_name",
                       "contract_no", "authorisation_ref")


def validate_update(raw: Mapping[str, object], *, today: date,
                    record: int = 0) -> tuple[dict[str, Any], list[RowError]]:
    """Check the new values of an update form field by field, with the intake's own rules.

    Returns ``(values, errors)``: normalised values by field (``None`` empties a field;
    ``registered_capital`` becomes amount and currency), or every problem found.
    """
    check = _RowCheck(record, raw)
    values: dict[str, Any] = {}
    for name in raw:
        if name not in UPDATABLE_FIELDS:
            check.error(name, "not_updatable",
                        f"{name} cannot be changed by an update form (see `dossier updates "
                        "submit --help` for the fields that can)")
        elif name == "target_markets":
            values[name] = _countries(check)
        elif name == "registered_capital":
            values.update(_capital(check))
        elif name in _DATE_FIELDS:
            values[name] = check.date(name)
            if name == "founded_on" and values[name] is not None and values[name] > today:
                check.error(name, "future_date", f"{name} {values[name].isoformat()} is in the future")
        elif name == "contact_email":
            values[name] = _email(check, name, raw[name])
        elif name == "contact_phone":
            values[name] = _phone(check, name, raw[name])
        elif name == "contact_preference":
            values[name] = check.enum(name, _PREFERENCE_CHOICES)
        elif name == "dependence":
            values[name] = check.enum(name, _DEPENDENCE_CHOICES)
        elif name == "marketing_goals":
            goals = (check.enum(name, _GOAL_CHOICES, part) for part in check.items(name))
            values[name] = tuple(dict.fromkeys(g for g in goals if g is not None))
        elif name in ("client_name_zh", "client_name_en", "contact_name"):
            values[name] = check.text(name, max_length=MAX_NAME_LENGTH)
        else:
            values[name] = check.text(name, multiline=name in _MULTILINE_FIELDS)
    for name in _NOT_EMPTIED:
        if name in values and not values[name] and name not in check.failed:
            check.error(name, "required", f"{name} cannot be emptied by an update")
    if not raw:
        check.error("changes", "required", "an update form changes at least one field")
    return values, check.errors
