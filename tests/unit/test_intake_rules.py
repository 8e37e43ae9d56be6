"""Row rules of the collection form (``collection-form.md``; Art. 10, 11, 19).

Every error code the rules own appears at least once; ``duplicate`` is the caller's.
"""

from __future__ import annotations

import dataclasses
import pickle
import random
import unicodedata
from datetime import date, datetime
from decimal import Decimal

import phonenumbers
import pytest

from dossiers.core.exports import neutralise_for_spreadsheet
from dossiers.intake import rules
from dossiers.intake.rules import (
    CLIENT_TYPES,
    Contact,
    RowError,
    ValidForm,
    is_personal,
    name_key,
    validate_row,
)

TODAY = date(2026, 3, 10)
LIAISONS = {"wang.market": "market", "sun.plan": "planning"}


def form_row(**overrides: object) -> dict[str, object]:
    """A valid potential-client row; keyword arguments replace (or, as None, blank) cells."""
    raw: dict[str, object] = {
        "client_name_zh": "阿克米貿易",
        "client_name_en": "Acme Trading GmbH",
        "client_type": "電商",
        "stage": "potential",
        "target_markets": "DE;US",
        "liaison": "wang.market",
        "department": "market",
        "authorisation_ref": "AUTH-2026-0001", "collection_channel": "email",
        "collected_on": "2026-03-01",
        "contact_name": "Anna Schmidt",
        "contact_email": "anna.schmidt@acme-trading.de",
        "contact_phone": "+49 30 1234567",
    }
    raw.update(overrides)
    return raw


def check(**overrides: object) -> tuple[ValidForm | None, list[RowError]]:
    return validate_row(7, form_row(**overrides), known_liaisons=LIAISONS, today=TODAY)


def valid(**overrides: object) -> ValidForm:
    form, errors = check(**overrides)
    assert errors == []
    assert form is not None
    return form


def codes(errors: list[RowError]) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in errors]


# --- a valid row -----------------------------------------------------------------------


def test_valid_row_is_typed_and_normalised() -> None:
    form = valid(
        stage="Active",
        target_markets="us; de ;US;;gb",
        registered_address="Unter den Linden 1, Berlin",
        contract_no="C-2026-17",
        contract_signed_on="2026/2/3",
        registered_capital="1500000.50 eur",
        marketing_goals="Sales_Growth;other;sales_growth",
        contact_preference="In_Person",
        dependence="HIGH",
        department="Customer_Service",
    )
    assert form.row == 7
    assert form.stage == "active"
    assert form.target_markets == ("US", "DE", "GB")
    assert form.collected_on == date(2026, 3, 1)
    assert form.contract_signed_on == date(2026, 2, 3)
    assert form.registered_capital_amount == Decimal("1500000.50")
    assert form.registered_capital_currency == "EUR"
    assert form.marketing_goals == ("sales_growth", "other")
    assert form.dependence == "high"
    assert form.department == "customer_service"
    assert form.contacts == (
        Contact(
            name="Anna Schmidt",
            title=None,
            email="anna.schmidt@acme-trading.de",
            phone="+49301234567",
            preference="in_person",
        ),
    )
    assert form.contact is form.contacts[0]
    assert form.founded_on is None and form.business_scope is None


def test_valid_form_is_frozen_and_complete() -> None:
    form = valid()
    with pytest.raises(dataclasses.FrozenInstanceError):
        form.stage = "active"  # type: ignore[misc]
    assert {f.name for f in dataclasses.fields(form)} == set(vars(form))
    assert form == dataclasses.replace(form)


def test_from_values_refuses_an_incomplete_form() -> None:
    values = valid().as_dict()
    del values["honours"]
    with pytest.raises(TypeError, match="honours"):
        ValidForm._from_values(values)


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("電商", "電商"),
        ("电商", "電商"),
        ("ecom", "電商"),
        ("外貿", "外貿"),
        ("外贸", "外貿"),
        ("MFG", "外貿"),
        ("本土", "本土"),
        ("Local", "本土"),
        ("協會", "協會"),
        ("协会", "協會"),
        ("assoc", "協會"),
    ],
)
def test_client_type_spellings_become_the_traditional_code(written: str, code: str) -> None:
    assert valid(client_type=written).client_type == code


def test_client_types_have_english_labels() -> None:
    assert set(CLIENT_TYPES) == {"電商", "外貿", "本土", "協會"}
    assert CLIENT_TYPES["外貿"] == "foreign-trade manufacturer"


def test_known_liaisons_may_be_a_plain_set() -> None:
    form, errors = validate_row(2, form_row(), known_liaisons={"wang.market"}, today=TODAY)
    assert errors == [] and form is not None and form.liaison == "wang.market"


def test_name_key_ignores_case_and_every_space() -> None:
    assert valid(client_name_en="  ACME\u3000Trading  gmbh ").name_key == "acmetradinggmbh"
    assert name_key("Acme Trading GmbH") == name_key("acme tradinggmbh")


# --- normalisation ---------------------------------------------------------------------


def test_full_width_digits_in_dates_and_phones_become_ascii() -> None:
    form = valid(collected_on="２０２６－０３－０１", contact_phone="＋４９ ３０ １２３４５６７")
    assert form.collected_on == date(2026, 3, 1)
    assert form.contact.phone == "+49301234567"


def test_zero_width_characters_are_removed() -> None:
    form = valid(
        client_name_en="Acme\u200b Trading\u2060 GmbH\ufeff",
        target_markets="D\u200dE",
        liaison="\u200cwang.market",
    )
    assert form.client_name_en == "Acme Trading GmbH"
    assert form.target_markets == ("DE",)
    assert form.liaison == "wang.market"


def test_a_cell_of_only_zero_width_characters_is_missing() -> None:
    _, errors = check(client_name_zh="\u200b\u200b ", legal_form="\ufeff")
    assert codes(errors) == [("client_name_zh", "required")]


def test_values_are_trimmed_and_nfkc_normalised() -> None:
    form = valid(legal_form="  ＧｍｂＨ\t", business_scope="\n Import ﬁlms \n")
    assert form.legal_form == "GmbH"
    assert form.business_scope == "Import films"


def test_formula_like_values_are_kept_exactly_as_written() -> None:
    form = valid(
        client_name_en='=HYPERLINK("http://x")',
        legal_form="+GmbH",
        business_scope="-- everything --",
        honours="@award",
    )
    assert form.client_name_en == '=HYPERLINK("http://x")'
    assert form.legal_form == "+GmbH"
    assert form.business_scope == "-- everything --"
    assert form.honours == "@award"


def test_free_text_keeps_line_breaks_and_emoji() -> None:
    form = valid(business_scope="Line one\r\nLine two\twith tab 🚀", competition="多語言 ok")
    assert form.business_scope == "Line one\r\nLine two\twith tab 🚀"
    assert form.competition == "多語言 ok"


def test_numbers_and_date_cells_are_accepted_as_values() -> None:
    form = valid(
        contract_no=12345,
        collected_on=datetime(2026, 3, 1, 9, 30),
        founded_on=date(1999, 12, 31),
        registered_capital="2000 USD",
        market_share=12.5,
    )
    assert form.contract_no == "12345"
    assert form.collected_on == date(2026, 3, 1)
    assert form.founded_on == date(1999, 12, 31)
    assert form.market_share == "12.5"


def test_json_lists_are_accepted_for_list_columns() -> None:
    form = valid(target_markets=["fr", "IT"], marketing_goals=["other"])
    assert form.target_markets == ("FR", "IT")
    assert form.marketing_goals == ("other",)


def test_trimming_never_hides_a_refused_control_character() -> None:
    # U+001F is whitespace to str.strip(): trimming it away would accept a control char.
    _, errors = check(client_name_en="Acme\x1f", honours="\x0bx")
    assert codes(errors) == [("client_name_en", "invalid_text"), ("honours", "invalid_text")]


def test_trimmed_whitespace_is_every_space_except_refused_controls() -> None:
    refused = {c for c in map(chr, range(0x20)) if c not in "\t\n\r"} | {"\x85"}
    spaces = {chr(i) for i in range(0x110000) if chr(i).isspace()}
    assert set(rules.TRIMMED_WHITESPACE) == spaces - refused


# --- every error code ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"client_name_en": None}, ("client_name_en", "required")),
        ({"client_name_zh": ""}, ("client_name_zh", "required")),
        ({"target_markets": " ; "}, ("target_markets", "required")),
        ({"collected_on": None}, ("collected_on", "required")),
        ({"liaison": None}, ("liaison", "required")),
        ({"contact_name": None}, ("contact_name", "required")),
        ({"client_type": "wholesale"}, ("client_type", "invalid_enum")),
        ({"stage": "prospect"}, ("stage", "invalid_enum")),
        ({"department": "sales"}, ("department", "invalid_enum")),
        ({"contact_preference": "fax"}, ("contact_preference", "invalid_enum")),
        ({"marketing_goals": "sales_growth;world_peace"}, ("marketing_goals", "invalid_enum")),
        ({"dependence": "total"}, ("dependence", "invalid_enum")),
        ({"collected_on": "2026-02-30"}, ("collected_on", "invalid_date")),
        ({"collected_on": "1 March 2026"}, ("collected_on", "invalid_date")),
        ({"founded_on": "2026-03"}, ("founded_on", "invalid_date")),
        ({"period_start": "2026-03-01T00:00"}, ("period_start", "invalid_date")),
        ({"period_end": "2026/03-01"}, ("period_end", "invalid_date")),
        ({"collected_on": "٢٠٢٦-٠٣-٠١"}, ("collected_on", "invalid_date")),
        ({"collected_on": "2026-03-11"}, ("collected_on", "future_date")),
        ({"founded_on": "2030-01-01"}, ("founded_on", "future_date")),
        (
            {"stage": "terminated", "terminated_on": "2026-04-01"},
            ("terminated_on", "future_date"),
        ),
        ({"period_start": "2026-02-01", "period_end": "2026-01-31"}, ("period_end", "date_order")),
        (
            {"stage": "terminated", "period_start": "2026-02-01", "terminated_on": "2026-01-01"},
            ("terminated_on", "date_order"),
        ),
        ({"target_markets": "DE;XX"}, ("target_markets", "invalid_country")),
        ({"target_markets": "DEU"}, ("target_markets", "invalid_country")),
        ({"contact_email": "anna@@acme.de"}, ("contact_email", "invalid_email")),
        ({"contact_email": "anna@localhost"}, ("contact_email", "invalid_email")),
        ({"contact_phone": "030 1234567"}, ("contact_phone", "invalid_phone")),
        ({"contact_phone": "+49 1"}, ("contact_phone", "invalid_phone")),
        ({"registered_capital": "1,500,000 USD"}, ("registered_capital", "invalid_amount")),
        ({"registered_capital": "-5 USD"}, ("registered_capital", "invalid_amount")),
        ({"registered_capital": "USD"}, ("registered_capital", "invalid_amount")),
        ({"registered_capital": "1500000 XYZ"}, ("registered_capital", "invalid_currency")),
        ({"registered_capital": "1500000"}, ("registered_capital", "invalid_currency")),
        ({"client_name_en": "Acme\x00"}, ("client_name_en", "invalid_text")),
        ({"client_name_en": "Acme\nTrading"}, ("client_name_en", "invalid_text")),
        ({"business_scope": "bad\x07bell"}, ("business_scope", "invalid_text")),
        ({"honours": True}, ("honours", "invalid_text")),
        ({"competition": {"a": 1}}, ("competition", "invalid_text")),
        ({"market_share": float("nan")}, ("market_share", "invalid_text")),
        ({"legal_form": "\ud800"}, ("legal_form", "invalid_text")),
        ({"client_name_en": "A" * 201}, ("client_name_en", "too_long")),
        ({"business_scope": "x" * 4001}, ("business_scope", "too_long")),
        ({"liaison": "zhang.gone"}, ("liaison", "unknown_liaison")),
        ({"authorisation_ref": None}, ("authorisation_ref", "no_authorisation")),
        ({"authorisation_ref": "  "}, ("authorisation_ref", "no_authorisation")),
        ({"collection_channel": None}, ("collection_channel", "invalid_channel")),
        ({"collection_channel": "carrier pigeon"}, ("collection_channel", "invalid_channel")),
    ],
)
def test_each_problem_has_its_code(overrides: dict[str, object], expected: tuple[str, str]) -> None:
    form, errors = check(**overrides)
    assert form is None
    assert codes(errors) == [expected]
    assert all(e.row == 7 for e in errors)


def test_lengths_at_the_limits_are_accepted() -> None:
    form = valid(client_name_en="A" * 200, business_scope="x" * 4000)
    assert len(form.client_name_en) == 200
    assert form.business_scope is not None and len(form.business_scope) == 4000


def test_authorisation_is_no_authorisation_not_required() -> None:
    _, errors = check(authorisation_ref=None)
    assert errors[0].code == "no_authorisation"
    assert "Art. 19" in errors[0].message


def test_ambiguous_day_month_date_is_refused_not_guessed() -> None:
    _, errors = check(collected_on="03/05/2026")
    assert codes(errors) == [("collected_on", "invalid_date")]
    assert "YYYY-MM-DD" in errors[0].message


def test_one_of_email_or_phone_is_required() -> None:
    _, errors = check(contact_email=None, contact_phone="")
    assert codes(errors) == [("contact_email", "required")]
    assert "one of contact_email or contact_phone" in errors[0].message
    assert valid(contact_email=None).contact.email is None
    assert valid(contact_phone=None).contact.phone is None


def test_an_invalid_phone_is_not_also_reported_as_missing() -> None:
    _, errors = check(contact_email=None, contact_phone="12345")
    assert codes(errors) == [("contact_phone", "invalid_phone")]


def test_an_active_client_needs_its_contract() -> None:
    _, errors = check(stage="active")
    assert codes(errors) == [
        ("registered_address", "required"),
        ("contract_no", "required"),
        ("contract_signed_on", "required"),
    ]


def test_an_invalid_contract_date_is_not_also_reported_as_missing() -> None:
    _, errors = check(stage="active", registered_address="x", contract_no="C1", contract_signed_on="soon")
    assert codes(errors) == [("contract_signed_on", "invalid_date")]


def test_a_terminated_client_needs_its_termination_date() -> None:
    _, errors = check(stage="terminated")
    assert codes(errors) == [("terminated_on", "required")]
    assert valid(stage="TERMINATED", terminated_on="2026-03-10").terminated_on == TODAY


def test_a_row_with_several_problems_reports_each_one() -> None:
    form, errors = check(
        client_type="shop",
        collected_on="03/05/2026",
        target_markets="UK;DE;ZZ",
        liaison="nobody",
        authorisation_ref="", collection_channel="email",
        contact_email="not-an-address",
        contact_phone="+999 123",
        registered_capital="-1 ABC",
    )
    assert form is None
    assert sorted(codes(errors)) == sorted(
        [
            ("client_type", "invalid_enum"),
            ("collected_on", "invalid_date"),
            ("target_markets", "invalid_country"),
            ("target_markets", "invalid_country"),
            ("liaison", "unknown_liaison"),
            ("authorisation_ref", "no_authorisation"),
            ("contact_email", "invalid_email"),
            ("contact_phone", "invalid_phone"),
            ("registered_capital", "invalid_amount"),
            ("registered_capital", "invalid_currency"),
        ]
    )
    uk = next(e for e in errors if "'UK'" in e.message)
    assert "GB" in uk.message


def test_row_error_as_dict_has_exactly_the_report_keys() -> None:
    _, errors = check(stage="maybe")
    assert errors[0].as_dict() == {
        "row": 7,
        "field": "stage",
        "code": "invalid_enum",
        "message": errors[0].message,
    }
    assert "'maybe'" in errors[0].message and "potential" in errors[0].message


# --- personal data ---------------------------------------------------------------------


def test_messages_never_contain_personal_values() -> None:
    secrets = {
        "contact_name": "SecretName\x00",
        "contact_email": "SecretMail@@nowhere",
        "contact_phone": "+49 SecretPhone",
        "credit_rating": "SecretRating" * 400,
        "fee_range": "SecretFee\x07",
    }
    _, errors = check(**secrets)
    assert {e.field for e in errors} == set(secrets)
    for error in errors:
        assert "secret" not in error.message.casefold(), error
        assert error.field in error.message


def test_extra_contact_messages_never_contain_personal_values() -> None:
    extra = [{"name": "Hidden\x00Person", "email": "hidden@@x", "phone": "+1 hidden"}]
    _, errors = check(extra_contacts=extra)
    assert codes(errors) == [
        ("contacts[1].name", "invalid_text"),
        ("contacts[1].email", "invalid_email"),
        ("contacts[1].phone", "invalid_phone"),
    ]
    assert not any("hidden" in e.message.casefold() for e in errors)


def test_personal_fields_lists_what_the_caller_must_encrypt() -> None:
    form = valid(
        credit_rating="AA",
        fee_range="10k-20k USD",
        contact_title="CEO",
        extra_contacts=[{"name": "Bob", "phone": "+1 212 555 0123", "title": "CFO"}],
    )
    assert form.personal_fields() == {
        "credit_rating": "AA",
        "fee_range": "10k-20k USD",
        "contact_name": "Anna Schmidt",
        "contact_email": "anna.schmidt@acme-trading.de",
        "contact_phone": "+49301234567",
        "contacts[1].name": "Bob",
        "contacts[1].phone": "+12125550123",
    }
    public = form.as_dict(personal=False)
    assert "credit_rating" not in public and "fee_range" not in public
    assert public["contacts"] == [
        {"title": "CEO", "preference": None},
        {"title": "CFO", "preference": None},
    ]
    assert "Anna" not in repr(public) and "Bob" not in repr(public)


def test_is_personal_covers_every_contact() -> None:
    assert is_personal("contact_phone") and is_personal("contacts[3].email")
    assert is_personal("fee_range") and is_personal("credit_rating")
    assert not is_personal("contact_title") and not is_personal("contacts[3].preference")
    assert not is_personal("client_name_en")


def test_as_dict_is_json_ready() -> None:
    form = valid(registered_capital="100.5 usd", founded_on="2001-02-03")
    data = form.as_dict()
    assert data["registered_capital_amount"] == "100.5"
    assert data["founded_on"] == "2001-02-03"
    assert data["target_markets"] == ["DE", "US"]
    assert data["contacts"] == [form.contact.as_dict()]


# --- further JSON contacts -------------------------------------------------------------


def test_extra_contacts_follow_the_first() -> None:
    extras = [
        {"name": "Li Lei", "email": "LI.LEI@Example.CN", "preference": "IM"},
        {"name": "Bob", "phone": "+1 212 555 0123", "title": "=CFO"},
    ]
    form = valid(extra_contacts=extras)
    assert [c.name for c in form.contacts] == ["Anna Schmidt", "Li Lei", "Bob"]
    assert form.contacts[1].email == "LI.LEI@example.cn"
    assert form.contacts[1].preference == "im"
    assert form.contacts[2].title == "=CFO"


def test_extra_contacts_are_checked_like_the_first() -> None:
    extras = [{"name": "Li Lei"}, {"email": "x@example.org", "preference": "pigeon"}]
    _, errors = check(extra_contacts=extras)
    assert codes(errors) == [
        ("contacts[1].email", "required"),
        ("contacts[2].name", "required"),
        ("contacts[2].preference", "invalid_enum"),
    ]
    assert "one of contacts[1].email or contacts[1].phone" in errors[0].message


@pytest.mark.parametrize(
    ("contacts", "says"),
    [
        ("Anna", "array of objects"),
        ([{"name": "Anna"}, "Bob"], "array of objects"),
        ([{"name": "Other"}], "not both"),
    ],
)
def test_a_contacts_array_the_reader_could_not_place_refuses_the_row(contacts: object, says: str) -> None:
    _, errors = check(contacts=contacts)
    assert codes(errors) == [("contacts", "invalid_text")]
    assert says in errors[0].message


# --- equivalence of the fast paths with the libraries ----------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "Anna@Example.COM",
        "a.b+tag_1%x@sub.example.org",
        "a..b@example.com",
        ".a@example.com",
        "a.@example.com",
        "Postmaster@Example.com",
        "a@münchen.de",
        "a@xn--mnchen-3ya.de",
        "a@ab--cd.com",
        "ü@example.com",
        "a@example",
        "a@x.test",
        "a@sub.example.local",
        "a@x.onion",
        "a@LOCALHOST",
        "a@example.123",
        "a@1example.com",
        "a@ex-ample.co.uk",
        "a@-x.com",
        "a@x-.com",
        "a@example.com.",
        "a@.example.com",
        "a@example..com",
        "a@[192.0.2.1]",
        "a@" + "x" * 63 + ".com",
        "a@" + "x" * 64 + ".com",
        "x" * 65 + "@example.com",
        "a@" + "x" * 250 + ".com",
        "a@" + ("x" * 60 + ".") * 4 + "com",
        "a@exa_mple.com",
    ],
)
def test_email_normalisation_matches_email_validator(address: str) -> None:
    assert rules._normalise_email(address) == rules.library_email(address)


def test_email_normalisation_matches_email_validator_on_random_addresses() -> None:
    rng = random.Random(2026)
    alphabet = "aZ09._-+%@" + "bcXY"
    for _ in range(3000):
        local = "".join(rng.choice(alphabet.replace("@", "")) for _ in range(rng.randint(1, 6)))
        domain = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        address = f"{local}@{domain}"
        assert rules._normalise_email(address) == rules.library_email(address), address


def test_plain_addresses_take_the_fast_path() -> None:
    assert rules._plain_email("Anna.B@Acme-Trading.DE") == "Anna.B@acme-trading.de"
    assert rules._plain_email("a@münchen.de") is None  # left to the library


def _phone_variants(rng: random.Random) -> list[str]:
    """Every region's example numbers, as written and lightly mangled."""
    written: list[str] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (
            phonenumbers.PhoneNumberType.FIXED_LINE,
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.TOLL_FREE,
        ):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            national = phonenumbers.national_significant_number(example)
            tail = "".join(rng.choice("0123456789") for _ in range(3))
            for variant in (
                national,
                national[:-3] + tail,
                "0" + national,
                "1" + national,
                "8" + national,
                "9" + national,
                "15" + national,
                national[:-1],
                national + "5",
            ):
                written.append(f"+{example.country_code} {variant}")
                written.append(f"+{example.country_code}-{variant[:3]}-{variant[3:]}")
    return written


def test_phone_normalisation_matches_phonenumbers() -> None:
    variants = _phone_variants(random.Random(2026))
    assert len(variants) > 5000
    valid_seen = 0
    for written in variants:
        expected = rules.library_e164(written)
        assert rules._normalise_phone.__wrapped__(written) == expected, written
        valid_seen += expected is not None
    assert valid_seen > 1000  # the comparison covers valid numbers, not only refusals


def test_plain_phone_numbers_take_the_fast_path() -> None:
    assert rules._plain_e164("49301234567") == "+49301234567"
    assert rules._plain_e164("390612345678") is None  # Italian leading zero: parse decides


def test_phone_extension_is_kept() -> None:
    assert valid(contact_phone="+1 212 555 0123 ext. 45").contact.phone == "+12125550123;ext=45"


# --- exports ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("+49 30 1234567", "'+49 30 1234567"),
        ("-5", "'-5"),
        ("@cmd", "'@cmd"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Acme = good", "Acme = good"),
        ("", ""),
        ("'already", "'already"),
    ],
)
def test_neutralise_for_spreadsheet(value: str, written: str) -> None:
    assert neutralise_for_spreadsheet(value) == written


def test_nfkc_is_what_the_contract_means_by_full_width() -> None:
    # Guards the premise of the normalisation tests above.
    assert unicodedata.normalize("NFKC", "２０２６／０３／０１") == "2026/03/01"


def test_client_type_message_lists_every_accepted_spelling() -> None:
    _, errors = check(client_type="shop")
    assert "電商, 外貿, 本土, 協會" in errors[0].message
    assert "ECOM, MFG, LOCAL, ASSOC" in errors[0].message


def test_forms_and_errors_survive_pickling() -> None:
    # validate_row is pure: a caller may spread a large file over worker processes.
    form = valid(extra_contacts=[{"name": "Bob", "phone": "+1 212 555 0123"}])
    assert pickle.loads(pickle.dumps(form)) == form
    _, errors = check(stage="maybe")
    assert pickle.loads(pickle.dumps(errors)) == errors
