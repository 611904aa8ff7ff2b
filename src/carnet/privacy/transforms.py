"""De-identification inside a model: the transforms a training spec applied to its inputs
(``preprocess.deidentify``), applied again, with the same key, to every row the model is asked
about.

A model trained on pseudonymized (masked, generalized...) columns records the transforms in its
signature (``transforms``: the methods, the key's source and its fingerprint, never the key).
Loading it through carnet returns a :class:`DeidentifiedModel` that transforms raw inputs before
each call, so serving, batch prediction, evaluation and explanations send raw rows as before.
The key is read where the model is loaded (e.g. the server's ``CARNET_DEID_KEY``) and must be
the one the model was trained with: its fingerprint is compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from carnet.errors import InvalidInput
from carnet.privacy.deidentify import (
    DeidConfig,
    apply_deidentification,
    key_fingerprint,
    parse_config,
    read_key,
)

__all__ = [
    "DeidentifiedModel",
    "check_training_config",
    "deidentified",
    "deidentify_training_frame",
    "transforms_record",
]

#: the methods that need the key
KEYED_METHODS = ("pseudonymize", "encrypt_fpe", "shift_dates")
#: the model calls whose first argument is a table of inputs
_CALLS = frozenset({"predict", "predict_proba", "predict_log_proba", "decision_function", "score_samples",
                    "transform"})  # fmt: skip


def check_training_config(data: Any, where: str = "preprocess.deidentify") -> DeidConfig:
    """A training spec's ``preprocess.deidentify`` checked (as ``carnet data deidentify``'s config,
    without ``drop``: leave a column out of the features instead)."""
    config = parse_config(data)
    for column, spec in config.columns.items():
        if spec["method"] == "drop":
            raise InvalidInput(
                f"{where}.columns.{column}: drop is not a training transform; leave {column!r} out of "
                "features instead",
                field=f"{where}.columns.{column}",
            )
    return config


def deidentify_training_frame(config_data: Mapping[str, Any], frame: Any) -> tuple[Any, dict[str, Any]]:
    """A training frame with a spec's ``preprocess.deidentify`` applied (the key read from its
    source), and what the model's signature records of it."""
    config = parse_config(config_data)
    missing = [c for c in config.columns if c not in frame.columns]
    if missing:
        where = f"preprocess.deidentify.columns.{missing[0]}"
        raise InvalidInput(f"{where}: the dataset has no column {missing[0]!r}", field=where)
    keyed = any(s["method"] in KEYED_METHODS for s in config.columns.values())
    key = read_key(config.key_source) if keyed else None
    return apply_deidentification(frame, config, key), transforms_record(config, key)


def transforms_record(config: DeidConfig, key: bytes | None) -> dict[str, Any]:
    """What a signature records of the transforms: methods, the key's source and fingerprint."""
    return {**config.to_dict(), "key_fingerprint": None if key is None else key_fingerprint(key)}


def _config(record: Mapping[str, Any]) -> DeidConfig:
    return parse_config({k: v for k, v in record.items() if k in ("key", "columns")})


def _key_for(record: Mapping[str, Any], environ: Mapping[str, str] | None) -> bytes | None:
    config = _config(record)
    if not any(s["method"] in KEYED_METHODS for s in config.columns.values()):
        return None
    key = read_key(config.key_source, environ)
    expected = record.get("key_fingerprint")
    if expected and key_fingerprint(key) != expected:
        raise InvalidInput(
            f"the key in {config.key_source} is not the one the model was trained with "
            f"(fingerprint {expected}); set the training key there",
            field="key",
        )
    return key


class DeidentifiedModel:
    """A fitted model whose input tables are de-identified as at training before every call.

    Attributes other than the calls (``classes_``, ``feature_names_in_``...) are the model's own.
    """

    def __init__(
        self, model: Any, record: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> None:
        self.model = model
        self.record = dict(record)
        self.config = _config(record)
        self._key = _key_for(record, environ)

    def deidentify(self, frame: Any) -> Any:
        """``frame`` with the transformed columns as the model saw them at training."""
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise InvalidInput(
                "this model de-identifies its inputs by column: "
                "pass a DataFrame with the signature's columns",
                field="inputs",
            )
        return apply_deidentification(frame, self.config, self._key)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.model, name)
        if name in _CALLS and callable(attr):

            def call(X: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N803 - scikit-learn's name
                return attr(self.deidentify(X), *args, **kwargs)

            return call
        return attr

    def __repr__(self) -> str:
        return f"DeidentifiedModel({self.model!r}, columns={sorted(self.config.columns)})"


def deidentified(
    model: Any, record: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None
) -> Any:
    """``model`` as it must be called: wrapped in :class:`DeidentifiedModel` when its signature
    records transforms (``record``), else unchanged."""
    return model if not record else DeidentifiedModel(model, record, environ)
