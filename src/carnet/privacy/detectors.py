"""Tier-1 PII detectors: patterns with check digits, dependency-light and always on.

Each detector says whether one value (a cell, as text) is an instance of its kind:

============== ================================================================================
kind           how a value is recognised
============== ================================================================================
email          local@domain.tld (RFC 5322's common form)
phone          a number ``phonenumbers`` parses and validates, in international form or for
               one of the regions tried (FR, US, GB, DE, ES, IT, BE, CH, NL)
payment_card   12 to 19 digits (spaces or dashes allowed) with a card prefix and a valid Luhn
iban           a valid IBAN (country format and mod-97 check, ``python-stdnum``)
fr_nir         French social security number (NIR, with its key)
fr_siren       French company number (SIREN, Luhn) — names a company, flagged as an identifier
fr_siret       French establishment number (SIRET, Luhn)
us_ssn         US social security number (area, group and serial rules)
uk_nino        UK national insurance number (prefix and suffix rules; it has no check digit)
es_dni         Spanish DNI / NIE (check letter)
de_idnr        German tax identification number (Steuer-IdNr, check digit)
ip_address     an IPv4 or IPv6 address
============== ================================================================================

Kinds that values alone cannot tell (``date_of_birth``, ``postal_address``, ``person_name``)
need a column-name hint as well: see :mod:`carnet.privacy.scan`. ``python-stdnum`` and
``phonenumbers`` are imported when a detector first runs.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import cache
from typing import Any

__all__ = ["DETECTORS", "EMBEDDED", "Detector", "detector"]

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})*\.[A-Za-z]{{2,24}}$")
_EMAIL_IN = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}")
_PHONE_IN = re.compile(r"(?:\+|\b0)\d[\d .\-()]{7,17}\d|(?:\(\d{3}\)\s?|\b\d{3}[-.\s])\d{3}[-.\s]\d{4}\b")
_CARD_IN = re.compile(r"\b(?:\d[ .-]?){11,18}\d\b")
_DIGITS = re.compile(r"[\s.\-]")
_CARD_PREFIX = re.compile(r"^(?:4|5|6|2[2-7]|3[0-9]|1800|2131)")  # Visa, Mastercard, Maestro, Amex, JCB...
_DATE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
_DECIMAL = re.compile(r"^[-+]?\d+[.,]\d+$")
_SSN = re.compile(r"^\d{3}[- ]\d{2}[- ]\d{4}$")
_NINO = re.compile(r"^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")
_REGIONS = ("FR", "US", "GB", "DE", "ES", "IT", "BE", "CH", "NL")


class Detector:
    """One kind of PII recognised in a value: its ``kind``, ``name`` and ``match(text)``.

    ``hinted`` is the looser test used when the column's name already says the kind (an SSN
    written as 9 bare digits is only told from an order number by its column's name).
    """

    def __init__(
        self,
        kind: str,
        name: str,
        match: Callable[[str], bool],
        description: str,
        hinted: Callable[[str], bool] | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.match = match
        self.hinted = hinted or match
        self.description = description

    def __repr__(self) -> str:
        return f"Detector({self.kind!r})"


def _email(text: str) -> bool:
    return len(text) <= 254 and _EMAIL.match(text) is not None


def _phone(text: str) -> bool:
    """A valid number written as a phone number: international (+...), with a trunk 0, or grouped."""
    stripped = text.strip()
    if _DECIMAL.match(stripped):
        return False  # a measurement, such as a latitude
    grouped = sum(stripped.lstrip("+-").count(c) for c in " -.()") >= 2
    if not (stripped.startswith(("+", "0", "(")) or grouped):
        return False  # bare digits: an order number as much as a phone number
    return _phone_number(stripped)


def _phone_number(text: str) -> bool:
    """Any number ``phonenumbers`` validates (dates and bare short runs excluded)."""
    digits = sum(c.isdigit() for c in text)
    if not 8 <= digits <= 15 or any(c.isalpha() for c in text.replace("ext", "").replace("x", "")):
        return False
    if _DATE.match(text.strip()):
        return False
    import phonenumbers

    regions = (None,) if text.lstrip().startswith("+") else _REGIONS
    for region in regions:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


def _card(text: str) -> bool:
    digits = _DIGITS.sub("", text)
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not _CARD_PREFIX.match(digits):
        return False
    from stdnum import luhn

    return bool(luhn.is_valid(digits))


@cache
def _stdnum(module: str) -> Any:
    import importlib

    return importlib.import_module(f"stdnum.{module}")


def _valid(module: str) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        if len(text) > 40:
            return False
        try:
            return bool(_stdnum(module).is_valid(text))
        except Exception:  # noqa: BLE001 - a value the library cannot read is simply not a match
            return False

    return check


def _ssn(text: str) -> bool:
    """A US SSN written as one (``123-45-6789``); bare digits need the column's name."""
    return _SSN.match(text.strip()) is not None and _valid("us.ssn")(text)


def _nino(text: str) -> bool:
    return _NINO.match(re.sub(r"\s", "", text).upper()) is not None


def _ip(text: str) -> bool:
    if not 2 <= len(text) <= 45 or not any(c in text for c in ".:"):
        return False
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return not (address.version == 4 and text.count(".") != 3)


#: every tier-1 detector, by kind (the order is the order of preference when several match)
DETECTORS: dict[str, Detector] = {
    d.kind: d
    for d in (
        Detector("email", "regex", _email, "an email address"),
        Detector("iban", "stdnum.iban", _valid("iban"), "an IBAN with a valid check"),
        Detector("payment_card", "luhn", _card, "a payment card number with a valid Luhn check"),
        Detector("fr_nir", "stdnum.fr.nir", _valid("fr.nir"), "a French social security number (NIR)"),
        Detector("fr_siret", "stdnum.fr.siret", _valid("fr.siret"), "a French SIRET number"),
        Detector("fr_siren", "stdnum.fr.siren", _valid("fr.siren"), "a French SIREN number"),
        Detector("us_ssn", "stdnum.us.ssn", _ssn, "a US social security number", _valid("us.ssn")),
        Detector("uk_nino", "regex", _nino, "a UK national insurance number"),
        Detector("es_dni", "stdnum.es.dni", _valid("es.dni"), "a Spanish DNI"),
        Detector("de_idnr", "stdnum.de.idnr", _valid("de.idnr"), "a German tax identification number"),
        Detector("ip_address", "ipaddress", _ip, "an IPv4 or IPv6 address"),
        Detector("phone", "phonenumbers", _phone, "a valid phone number", _phone_number),
    )
}


def detector(kind: str) -> Detector:
    """The detector of ``kind`` (KeyError when there is none)."""
    return DETECTORS[kind]


def _embedded_phone(text: str) -> bool:
    return any(_phone_number(m.group(0)) for m in _PHONE_IN.finditer(text))


def _embedded_card(text: str) -> bool:
    return any(_card(m.group(0)) for m in _CARD_IN.finditer(text))


#: what free text is searched for: kind -> whether some part of the text is one
EMBEDDED: dict[str, Callable[[str], bool]] = {
    "email": lambda text: _EMAIL_IN.search(text) is not None,
    "phone": _embedded_phone,
    "payment_card": _embedded_card,
}
