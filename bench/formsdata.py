"""Synthetic, well-formed collection forms (CSV) for the import benchmark.

Every row is valid and names a distinct client, with realistic values: company names,
addresses and contacts from a dozen locales (some in CJK or Thai script, so the NFKC path
runs), a distinct e-mail domain and phone number per client, every stage, contracts for
active and terminated clients, fee ranges and credit ratings. Deterministic for a seed.
Faker is only used for small pools of values (fast); rows combine them with the row index.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

#: Faker locale -> (ISO 3166-1 country, e-mail top-level domain).
LOCALES: dict[str, tuple[str, str]] = {
    "en_US": ("US", "com"), "de_DE": ("DE", "de"), "ja_JP": ("JP", "co.jp"),
    "fr_FR": ("FR", "fr"), "en_GB": ("GB", "co.uk"), "pt_BR": ("BR", "com.br"),
    "es_MX": ("MX", "com.mx"), "it_IT": ("IT", "it"), "nl_NL": ("NL", "nl"),
    "ko_KR": ("KR", "co.kr"), "en_AU": ("AU", "com.au"), "th_TH": ("TH", "co.th"),
}
#: Locales whose company names are in Latin script (used for ``client_name_en``).
LATIN = ("en_US", "de_DE", "fr_FR", "en_GB", "pt_BR", "es_MX", "it_IT", "nl_NL", "en_AU")
TYPE_SPELLINGS = {"電商": ("電商", "ECOM", "电商"), "外貿": ("外貿", "MFG", "外贸"),
                  "本土": ("本土", "LOCAL"), "協會": ("協會", "ASSOC", "协会")}
ZH_PREFIX = "藍海 星河 遠航 金橋 環宇 長風 明德 華峰 瑞豐 新程 恒通 凱越 森林 晨光 安泰 嘉禾".split()
ZH_SUFFIX = {"電商": "品牌", "外貿": "製造", "本土": "商行", "協會": "行業協會"}

#: The columns written (a subset of the contract's, in the contract's order).
COLUMNS: tuple[str, ...] = (
    "client_name_zh", "client_name_en", "client_type", "stage", "target_markets", "liaison",
    "department", "authorisation_ref", "collection_channel",
    "collected_on", "registered_address", "founded_on",
    "legal_form", "registered_capital", "business_scope", "contact_name", "contact_title",
    "contact_email", "contact_phone", "contact_preference", "market_positioning",
    "target_customers", "contract_no", "contract_signed_on", "service_scope", "period_start",
    "period_end", "fee_range", "marketing_goals", "creative_preferences", "credit_rating",
    "dependence", "terminated_on",
)
POOL = 400  # Faker values per locale and kind


@dataclass(frozen=True)
class FormsFile:
    path: Path
    rows: int
    size_bytes: int
    columns: tuple[str, ...]


@dataclass(frozen=True)
class _Pools:
    companies: dict[str, list[str]]
    addresses: dict[str, list[str]]
    people: dict[str, list[str]]
    phrases: list[str]
    phones: dict[str, tuple[int, str]]  # region -> (country code, national mobile number)


def _pools(seed: int) -> _Pools:
    import phonenumbers
    from faker import Faker

    companies, addresses, people = {}, {}, {}
    for n, locale in enumerate(LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed + n)
        companies[locale] = [fake.company() for _ in range(POOL)]
        addresses[locale] = [fake.address().replace("\n", ", ") for _ in range(POOL)]
        people[locale] = [fake.name() for _ in range(POOL)]
    english = Faker("en_US")
    english.seed_instance(seed)
    phrases = [english.catch_phrase() for _ in range(POOL)]
    phones = {}
    for region, _ in LOCALES.values():
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        assert example is not None and example.country_code is not None, region
        phones[region] = (example.country_code, str(example.national_number))
    return _Pools(companies, addresses, people, phrases, phones)


def _label(text: str, fallback: str) -> str:
    """Lower-case ASCII letters and digits of *text* (a domain label or mailbox)."""
    kept = "".join(c for c in text.lower() if c.isascii() and c.isalnum())
    return kept[:20] or fallback


def write_forms(path: Path, rows: int, liaisons: list[tuple[str, str]], today: date,
                seed: int = 2026) -> FormsFile:
    """Write *rows* valid collection forms to *path* (UTF-8 CSV, header first).

    ``liaisons`` holds ``(username, department)`` of active liaisons; rows go round them.
    """
    rng = random.Random(seed)
    pools = _pools(seed)
    locales = list(LOCALES)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for i in range(rows):
            writer.writerow(_row(rng, pools, locales, i, liaisons[i % len(liaisons)], today))
    return FormsFile(path, rows, path.stat().st_size, COLUMNS)


def _row(rng: random.Random, pools: _Pools, locales: list[str], i: int,
         liaison: tuple[str, str], today: date) -> dict[str, str]:
    locale = rng.choice(locales)
    country, tld = LOCALES[locale]
    pick = rng.randrange(POOL)
    client_type = tuple(ZH_SUFFIX)[i % 4]
    stage = rng.choices(("potential", "active", "terminated"), (25, 60, 15))[0]
    collected = today - timedelta(days=rng.randint(1, 360))
    name_en = f"{pools.companies[rng.choice(LATIN)][pick]} {i:06d}"
    markets = [country, *rng.sample(["US", "de", "GB", "FR", "jp", "AU", "SG"], rng.randint(0, 2))]
    domain = f"{_label(name_en.split()[0], 'client')}{i}.{tld}"
    contact = pools.people[locale][rng.randrange(POOL)]
    code, national = pools.phones[country]
    phone = f"+{code} {national[:-5]}{(i * 7919) % 100_000:05d}"
    has_email, has_phone = rng.random() > 0.08, True
    if has_email and rng.random() < 0.05:
        has_phone = False
    row = {
        "client_name_zh": f"{rng.choice(ZH_PREFIX)}{ZH_SUFFIX[client_type]}{i:06d}",
        "client_name_en": name_en,
        "client_type": rng.choice(TYPE_SPELLINGS[client_type]),
        "stage": stage,
        "target_markets": ";".join(dict.fromkeys(markets)),
        "liaison": liaison[0],
        "department": liaison[1],
        "authorisation_ref": f"AUTH-{collected.year}-{i:06d}", "collection_channel": "email",
        "collected_on": collected.isoformat() if rng.random() > 0.1
        else collected.strftime("%Y/%m/%d"),
        "registered_address": pools.addresses[locale][pick],
        "founded_on": (collected - timedelta(days=rng.randint(400, 12_000))).isoformat(),
        "legal_form": rng.choice(["LLC", "GmbH", "Ltd", "S.A.", "K.K.", "B.V.", "Association"]),
        "registered_capital": f"{rng.randrange(10_000, 5_000_000, 1000)} "
                              f"{rng.choice(['USD', 'EUR', 'JPY', 'GBP', 'cny'])}",
        "business_scope": rng.choice(pools.phrases),
        "contact_name": contact,
        "contact_title": rng.choice(["CEO", "Marketing Director", "Brand Manager", "COO", ""]),
        "contact_email": f"{_label(contact.split()[-1], 'info')}.{i}@{domain}" if has_email else "",
        "contact_phone": phone if has_phone else "",
        "contact_preference": rng.choice(["email", "phone", "video", "im", "in_person", ""]),
        "market_positioning": rng.choice(["premium", "mid-market", "value", ""]),
        "target_customers": rng.choice(["young urban adults", "SMB buyers", "families", ""]),
        "fee_range": rng.choice(["10k-50k USD", "50k-200k USD", "200k+ USD", "< 10k EUR"]),
        "marketing_goals": ";".join(rng.sample(["brand_promotion", "sales_growth",
                                                "market_expansion", "other"], rng.randint(1, 2))),
        "creative_preferences": rng.choice(["minimalist", "bold colours", "storytelling", ""]),
        "credit_rating": rng.choice(["AAA", "AA", "A", "BBB", "BB"]),
        "dependence": rng.choice(["low", "medium", "high", ""]),
    }
    if stage != "potential":
        signed = collected - timedelta(days=rng.randint(0, 3) if stage == "active"
                                       else rng.randint(200, 700))
        row.update({
            "contract_no": f"C-{signed.year}-{i:06d}",
            "contract_signed_on": signed.isoformat(),
            "service_scope": rng.choice(["social media", "search ads", "full-funnel campaign"]),
            "period_start": signed.isoformat(),
            "period_end": (signed + timedelta(days=365)).isoformat(),
        })
    if stage == "terminated":
        row["terminated_on"] = (collected - timedelta(days=rng.randint(0, 30))).isoformat()
    return row
