"""Scan a table for personal data: every column classified on a seeded sample of its values.

A column is flagged with the kind whose detector matches the largest share of its sampled,
non-empty values, when that share reaches ``threshold`` (default 0.5), or ``hinted_threshold``
(default 0.2) when the column's name also hints at that kind (``email``, ``tel``, ``nir``...).
Some kinds need the name hint, because their values alone are ordinary words or dates:

- ``date_of_birth``: a hinted name (``dob``, ``birth``, ``naissance``...) and date values
  between 1900 and today;
- ``person_name``: a hinted name (``first_name``, ``surname``, ``nom``...) and values of one
  to four capitalised words;
- ``postal_address``: a hinted name (``address``, ``rue``, ``street``...) and values with a
  number and words; values with a house number and a kind of street in seven languages
  (``12 rue de la Paix``, ``Hauptstraße 5``, ``Via Roma, 3``) are flagged without a hint.

Free text (long values with spaces) that is none of these is searched for embedded emails,
phone numbers and card numbers: flagged ``free_text`` when at least ``text_threshold``
(default 0.05) of its values hold one. Each :class:`Finding` has the kind, the share, the
detector and the size of the sample, so a reader can judge it.

With ``tier=2`` (extra ``pii``, :mod:`carnet.privacy.tier2`), free text is also searched for
names of people and places (detector ``embedded:...,person,location``), and a column of
capitalised names whose name gives no hint is flagged ``person_name`` (detector
``presidio:PERSON``) when Presidio finds a person in at least ``threshold`` of its values.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from carnet.errors import InvalidInput
from carnet.privacy.detectors import DETECTORS, EMBEDDED

__all__ = ["NAME_HINTS", "Finding", "ScanOptions", "scan_columns", "scan_frame"]

#: words in a column's name that hint at a kind (compared with the name's words, lowercase)
NAME_HINTS: dict[str, tuple[str, ...]] = {
    "email": ("email", "mail", "courriel", "e_mail"),
    "phone": ("phone", "tel", "telephone", "mobile", "cell", "portable", "fax", "telefono"),
    "payment_card": ("card", "cc", "pan", "carte"),
    "iban": ("iban", "rib", "bank_account"),
    "fr_nir": ("nir", "secu", "insee", "securite_sociale"),
    "fr_siren": ("siren",),
    "fr_siret": ("siret",),
    "us_ssn": ("ssn", "social_security"),
    "uk_nino": ("nino", "national_insurance"),
    "es_dni": ("dni", "nie", "nif"),
    "de_idnr": ("idnr", "steuerid", "tax_id", "steuer"),
    "ip_address": ("ip", "ip_address", "ipv4", "ipv6", "remote_addr"),
    "date_of_birth": ("dob", "birth", "birthday", "birthdate", "naissance", "geburtsdatum", "nacimiento"),
    "person_name": (
        "name",
        "firstname",
        "first_name",
        "lastname",
        "last_name",
        "surname",
        "fullname",
        "full_name",
        "given_name",
        "family_name",
        "nom",
        "prenom",
        "prénom",
        "vorname",
        "nachname",
        "nombre",
        "apellido",
        "customer_name",
        "patient",
    ),
    "postal_address": (
        "address",
        "addr",
        "adresse",
        "street",
        "rue",
        "strasse",
        "calle",
        "via",
        "address_line",
        "domicile",
    ),
}
_NOT_NAMES = ("file", "user", "host", "product", "item", "model", "dataset", "column", "company", "brand")
_NAME_VALUE = re.compile(r"^[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ'\u2019-]+(?:[ -][A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ'\u2019.-]*){0,3}$")
#: words that name a kind of street, in English, French, German, Dutch, Italian, Spanish, Portuguese
_STREET_TEXT = """street st avenue ave av road rd lane ln drive dr way court ct place pl boulevard blvd bd
    terrace crescent close gardens square sq parkway pkwy circle cir highway hwy alley gateway
    trail row grove hill walk mews green greens lodge spurs spur knoll union ridge view views
    heights junction crossing path pike plaza loop bypass causeway freeway expressway turnpike
    manor meadow meadows mills estates point springs vista harbor harbour haven station track fork
    ford isle pass shore shores summit valley village ville wells brook branch bridge burg cape
    center centre cliff cliffs club common corner corners cove creek crest dale divide extension
    falls ferry fields flats forest forge glen hollow inlet island lakes landing lock mall mission
    motorway mount mountain neck orchard oval overpass pines plains prairie ranch rapids shoal
    skyway stream stravenue throughway trace trafficway tunnel underpass vale viaduct ways apt
    suite rue chemin allée allee impasse quai route cours passage voie sentier faubourg
    straße strasse str weg gasse platz ring damm ufer chaussee pfad steig markt straat laan
    steeg dreef hof plein kade gracht baan singel dijk via viale piazza corso vicolo largo
    strada contrada borgo canale stretto rotonda piazzale lungomare calle avenida paseo rambla
    camino carretera ronda travesía travesia pasaje pasadizo vial glorieta alameda cuesta rua
    travessa praça praca estrada beco"""
_STREET_WORDS = frozenset(_STREET_TEXT.split())
#: endings of compound street names (Hauptstraße, Kerkstraat, Dorfweg...)
_STREET_ENDINGS = ("straße", "strasse", "str.", "weg", "gasse", "platz", "allee", "damm", "ufer",
                   "straat", "laan", "steeg", "dreef", "plein", "kade", "gracht", "baan", "singel",
                   "dijk", "boulevard")  # fmt: skip
_HOUSE_NUMBER = re.compile(r"^\d{1,5}(?:[a-z]|bis|ter)?(?:[-/]\d{1,5})?,?$", re.IGNORECASE)
_WORD = re.compile(r"[^\s,]+")


def _is_street(text: str) -> bool:
    """Whether ``text`` reads like a street address: at most 12 words, a house number, and a
    word naming a kind of street (``rue``, ``Avenue``, ``Hauptstraße``, ``Kerkstraat``...)."""
    if len(text) > 120:
        return False
    words = _WORD.findall(text.lower())
    if not 2 <= len(words) <= 12 or not any(_HOUSE_NUMBER.match(w) for w in words):
        return False
    for word in words:
        bare = word.strip(".,;:()")
        if bare in _STREET_WORDS or any(bare.endswith(e) and len(bare) > len(e) + 2 for e in _STREET_ENDINGS):
            return True
    return False


# tier 2: name particles kept inside a name, and titles that are no name on their own
_PARTICLES = frozenset(
    ("de", "du", "des", "la", "le", "van", "von", "der", "den", "da", "di", "del", "dos", "bin", "al")
)
_TITLES = frozenset(("mr", "mrs", "ms", "miss", "dr", "sir", "madam", "mme", "mlle", "prof", "herr", "frau"))
_DATE_FORMS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y", "%Y%m%d")


@dataclass(frozen=True)
class ScanOptions:
    """How a scan samples and decides (see the module's docs for the defaults)."""

    sample: int = 1000
    threshold: float = 0.5
    hinted_threshold: float = 0.2
    text_threshold: float = 0.05
    seed: int = 0
    tier: int = 1  # 2: also names and places, with Presidio (extra pii)

    def __post_init__(self) -> None:
        if isinstance(self.tier, bool) or self.tier not in (1, 2) or not isinstance(self.tier, int):
            raise InvalidInput(
                "tier must be 1 (patterns and check digits) or 2 (also names and places, extra pii)",
                field="tier",
            )


@dataclass(frozen=True)
class Finding:
    """Personal data found in one column: its kind, the share of sampled values that matched,
    the detector, the sample's size, and whether the column's name hinted at it."""

    column: str
    kind: str
    share: float
    detector: str
    sampled: int
    hint: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """Inverse of :meth:`to_dict`."""
        return cls(
            str(data["column"]),
            str(data["kind"]),
            float(data["share"]),
            str(data["detector"]),
            int(data["sampled"]),
            bool(data.get("hint", False)),
        )


def _words(name: str) -> set[str]:
    text = re.sub(r"([a-z])([A-Z])", r"\1_\2", str(name)).lower()
    parts = [p for p in re.split(r"[^a-z0-9à-ÿ]+", text) if p]
    return set(parts) | {"_".join(parts)} | {"_".join(parts[i : i + 2]) for i in range(len(parts) - 1)}


def hinted_kinds(name: str) -> set[str]:
    """The kinds the column's name hints at."""
    words = _words(name)
    kinds = {k for k, hints in NAME_HINTS.items() if words & set(hints)}
    if "person_name" in kinds and words & set(_NOT_NAMES):
        kinds.discard("person_name")  # file_name, user_name, product_name: not a person's name
    return kinds


def _texts(values: Sequence[Any]) -> list[str]:
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            continue
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        text = str(v).strip()
        if text:
            out.append(text)
    return out


def _share(match: Any, texts: Sequence[str]) -> float:
    return sum(1 for t in texts if match(t)) / len(texts) if texts else 0.0


def _is_birth_date(value: Any) -> bool:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.year >= 1900 and value <= date.today()
    text = str(value).strip()[:10]
    for form in _DATE_FORMS:
        try:
            parsed = datetime.strptime(text, form).date()
        except ValueError:
            continue
        return parsed.year >= 1900 and parsed <= date.today()
    return False


def _is_address(text: str) -> bool:
    return (
        any(c.isdigit() for c in text) and any(c.isalpha() for c in text) and " " in text and len(text) >= 8
    )


def scan_values(name: str, values: Sequence[Any], options: ScanOptions = ScanOptions()) -> Finding | None:
    """The finding of one column from its sampled values (None when it holds no PII)."""
    hints = hinted_kinds(name)
    raw = [v for v in values if v is not None and not (isinstance(v, float) and v != v)]
    if not raw:
        return None
    if "date_of_birth" in hints:
        share = _share(_is_birth_date, raw)
        if share >= options.hinted_threshold:
            return Finding(name, "date_of_birth", share, "name+date", len(raw), True)
    if any(isinstance(v, date | datetime) for v in raw[:10]):
        return None  # other dates are not personal on their own
    if all(isinstance(v, bool) for v in raw[:50]) or all(
        isinstance(v, float) and not v.is_integer() for v in raw[:50]
    ):
        return None  # flags and measurements
    texts = _texts(raw)
    if not texts:
        return None
    best: Finding | None = None
    probe = texts[:100]  # a cheap first look: only detectors that match there see the whole sample
    for kind, det in DETECTORS.items():
        hinted = kind in hints
        limit = options.hinted_threshold if hinted else options.threshold
        match = det.hinted if hinted else det.match
        if _share(match, probe) < min(limit, 0.1):
            continue
        share = _share(match, texts)
        if share >= limit and (best is None or share > best.share):
            best = Finding(name, kind, share, det.name, len(texts), kind in hints)
    if best is not None:
        return best
    street = _share(_is_street, texts)
    if street >= options.threshold:
        return Finding(
            name, "postal_address", street, "street pattern", len(texts), "postal_address" in hints
        )
    if "postal_address" in hints:
        share = _share(_is_address, texts)
        if share >= options.hinted_threshold:
            return Finding(name, "postal_address", share, "name+address", len(texts), True)
    if "person_name" in hints:
        share = _share(lambda t: len(t) <= 60 and _NAME_VALUE.match(t) is not None, texts)
        if share >= options.hinted_threshold:
            return Finding(name, "person_name", share, "name+capitalised words", len(texts), True)
    if options.tier == 2 and (found := _people(name, texts, options, "person_name" in hints)):
        return found
    long = [t for t in texts if len(t) >= 20 and " " in t]
    if len(long) >= 0.3 * len(texts):
        hits = [k for k, search in EMBEDDED.items() if any(search(t) for t in long)]
        if options.tier == 2:
            return _named_text(name, long, hits, options)
        share = _share(lambda t: any(EMBEDDED[k](t) for k in hits), long) if hits else 0.0
        if share >= options.text_threshold:
            return Finding(name, "free_text", share, "embedded:" + ",".join(hits), len(long), False)
    return None


def _people(name: str, texts: Sequence[str], options: ScanOptions, hint: bool) -> Finding | None:
    """Tier 2: a column of capitalised names that Presidio reads as people's names.

    A value counts when a PERSON span covers at least half of it. A column whose values share
    a word (``Pro``, ``SARL``: product lines, company forms) is a vocabulary, not people.
    """
    names = [t for t in texts if len(t) <= 60 and _NAME_VALUE.match(t) is not None]
    if len(names) < options.threshold * len(texts):
        return None
    words = Counter(w for t in names for w in set(re.split(r"[ -]", t)))
    if words and words.most_common(1)[0][1] > 0.2 * len(names):
        return None
    from carnet.privacy import tier2

    spans = tier2.entities(names, ("PERSON",))
    share = sum(any(2 * (end - start) >= len(t) for _, start, end in found)
                for t, found in zip(names, spans, strict=True)) / len(texts)  # fmt: skip
    if share < options.threshold:
        return None
    return Finding(name, "person_name", share, "presidio:PERSON", len(texts), hint)


def _name_like(text: str, start: int, end: int) -> bool:
    """Whether a span Presidio found reads as a name: capitalised words (particles aside), not a
    title alone, and not one word opening a sentence (a capital there is no evidence)."""
    words = text[start:end].split()
    if not words or any(not w[:1].isupper() and w.lower() not in _PARTICLES for w in words):
        return False
    if all(w.rstrip(".").lower() in _TITLES for w in words):
        return False
    before = text[:start].rstrip()
    return len(words) > 1 or not (before == "" or before[-1] in ".!?:;")


def _named_text(name: str, long: Sequence[str], hits: list[str], options: ScanOptions) -> Finding | None:
    """Tier 2 free text: the tier-1 hits plus the names of people and places in the values."""
    from carnet.privacy import tier2

    labels = {"person_name": "person", "location": "location"}
    named = {
        text: {labels[kind] for kind, start, end in found if _name_like(text, start, end)}
        for text, found in zip(long, tier2.entities(long), strict=True)
    }
    kinds = hits + [k for k in ("person", "location") if any(k in n for n in named.values())]
    share = _share(lambda t: bool(named[t]) or any(EMBEDDED[k](t) for k in hits), long)
    if share < options.text_threshold:
        return None
    return Finding(name, "free_text", share, "embedded:" + ",".join(kinds), len(long), False)


def scan_columns(columns: Mapping[str, Sequence[Any]], options: ScanOptions = ScanOptions()) -> list[Finding]:
    """Findings of columns given as sampled values, in the columns' order."""
    found = [scan_values(name, values, options) for name, values in columns.items()]
    return [f for f in found if f is not None]


def scan_frame(frame: Any, options: ScanOptions = ScanOptions()) -> list[Finding]:
    """Findings of a pandas DataFrame, a pyarrow Table or a mapping of column -> values, on a
    seeded sample of ``options.sample`` rows."""
    import numpy as np

    if isinstance(frame, Mapping):
        n = len(next(iter(frame.values()), []))
        keep = None
        if n > options.sample:
            keep = np.sort(np.random.default_rng(options.seed).choice(n, options.sample, replace=False))
        return scan_columns(
            {str(k): (list(v) if keep is None else [v[i] for i in keep]) for k, v in frame.items()}, options
        )
    n = int(frame.num_rows if hasattr(frame, "num_rows") else len(frame))
    rows = np.arange(n)
    if n > options.sample:
        rows = np.sort(np.random.default_rng(options.seed).choice(n, options.sample, replace=False))
    if hasattr(frame, "num_rows"):  # pyarrow
        table = frame.take(rows)
        columns = {str(c): table.column(c).to_pylist() for c in table.column_names}
    else:
        part = frame.iloc[rows]
        columns = {str(c): part[c].tolist() for c in part.columns}
    return scan_columns(columns, options)
