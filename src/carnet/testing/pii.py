"""A labelled synthetic corpus of personal data, to measure a PII detector (needs ``faker``).

    from carnet.testing.pii import pii_corpus
    frame, labels = pii_corpus(rows=500, seed=0)   # labels: column -> kind, or None for no PII

Every kind carnet's tier-1 scan knows has columns in several locales and formats (a phone
number national or international, a card with or without spaces...), beside columns that hold
no personal data but look alike: order numbers, amounts, product codes, ZIP codes, cities,
dates that are not birth dates, company names, UUIDs, free text without PII.
"""

from __future__ import annotations

import random
import string
import uuid
from typing import Any

__all__ = ["pii_corpus"]


def _nino(rng: random.Random) -> str:
    first = rng.choice("ABCEGHJKLMNOPRSTWXYZ")
    second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    while first + second in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
        second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    digits = "".join(rng.choice(string.digits) for _ in range(6))
    return f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {rng.choice('ABCD')}"


def _idnr(rng: random.Random) -> str:
    from stdnum.de import idnr

    while True:
        body = str(rng.randint(1, 9)) + "".join(rng.choice(string.digits) for _ in range(9))
        if len(set(body)) >= 8:  # one digit repeated (twice or thrice), the others once
            for check in string.digits:
                if idnr.is_valid(body + check):
                    return body + check


def _us_phone(rng: random.Random) -> str:
    area = rng.choice(["212", "415", "617", "312", "202", "305", "713", "206"])
    return f"+1 ({area}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"


def _spaced_card(card: str) -> str:
    return " ".join(card[i : i + 4] for i in range(0, len(card), 4))


def pii_corpus(rows: int = 500, seed: int = 0) -> tuple[Any, dict[str, str | None]]:
    """A DataFrame of ``rows`` rows and the true kind of each column (None: no personal data)."""
    import pandas as pd
    from faker import Faker

    Faker.seed(seed)
    rng = random.Random(seed)
    fr, us, gb, es, de = (Faker(loc) for loc in ("fr_FR", "en_US", "en_GB", "es_ES", "de_DE"))
    for f in (fr, us, gb, es, de):
        f.seed_instance(seed)
    columns: dict[str, list[Any]] = {}
    labels: dict[str, str | None] = {}

    def add(name: str, kind: str | None, make: Any) -> None:
        columns[name] = [make() for _ in range(rows)]
        labels[name] = kind

    # personal data, under telling and neutral names
    add("email", "email", fr.email)
    add("contact", "email", lambda: us.free_email())
    add("telephone", "phone", fr.phone_number)
    add("mobile_us", "phone", lambda: _us_phone(rng))
    add("phone_de", "phone", de.phone_number)
    add("num_secu", "fr_nir", fr.ssn)
    add("siren", "fr_siren", fr.siren)
    add("siret", "fr_siret", fr.siret)
    add("iban", "iban", fr.iban)
    add("account", "iban", de.iban)
    add("card_number", "payment_card", us.credit_card_number)
    add("pan_spaced", "payment_card", lambda: _spaced_card(us.credit_card_number(card_type="visa16")))
    add("ssn", "us_ssn", us.ssn)
    add("nino", "uk_nino", lambda: _nino(rng))
    add("dni", "es_dni", es.nif)
    add("steuer_id", "de_idnr", lambda: _idnr(rng))
    add("ip", "ip_address", fr.ipv4)
    add("client_ipv6", "ip_address", fr.ipv6)
    add("date_of_birth", "date_of_birth", lambda: fr.date_of_birth(minimum_age=18).isoformat())
    add("birthdate", "date_of_birth", lambda: us.date_of_birth().strftime("%m/%d/%Y"))
    add("first_name", "person_name", fr.first_name)
    add("last_name", "person_name", us.last_name)
    add("customer_name", "person_name", de.name)
    add("address", "postal_address", lambda: fr.address().replace("\n", ", "))
    add("street", "postal_address", us.street_address)
    add(
        "notes",
        "free_text",
        lambda: rng.choice(
            [
                f"Called back, reach her at {fr.email()} after 5pm",
                f"Customer asked to be called on {fr.phone_number()} tomorrow",
                "Delivery was late, customer satisfied with the refund",
                "No issue reported by the customer during the call today",
            ]
        ),
    )
    # no personal data, some of it lookalike
    add("order_id", None, lambda: rng.randint(100_000, 999_999_999))
    add("amount", None, lambda: round(rng.uniform(1, 5000), 2))
    add("quantity", None, lambda: rng.randint(1, 40))
    code = string.ascii_uppercase + string.digits
    add("product_code", None, lambda: "".join(rng.choice(code) for _ in range(10)))
    add("zip_code", None, fr.postcode)
    add("city", None, fr.city)
    add("country", None, fr.country)
    add("order_date", None, lambda: fr.date_this_decade().isoformat())
    add("company", None, fr.company)
    add("uuid", None, lambda: str(uuid.UUID(int=rng.getrandbits(128))))
    add("plan", None, lambda: rng.choice(["basic", "pro", "enterprise"]))
    add("active", None, lambda: rng.random() < 0.5)
    add("score", None, lambda: rng.gauss(0, 1))
    add("product_name", None, lambda: fr.word().capitalize() + " " + rng.choice(["Pro", "Max", "Lite"]))
    add("comment", None, lambda: fr.sentence(nb_words=10))
    add("sku_digits", None, lambda: "".join(rng.choice(string.digits) for _ in range(13)))
    add("version", None, lambda: f"{rng.randint(0, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}")
    add("latitude", None, lambda: float(fr.latitude()))
    return pd.DataFrame(columns), labels
