"""The model registry's objects: registered models, versions, signatures, aliases and references."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from carnet.errors import InvalidInput, NotFound

__all__ = [
    "ALIAS_PATTERN",
    "MODEL_META_PATH",
    "MODEL_PATH",
    "ColumnSpec",
    "ModelRef",
    "ModelVersion",
    "RegisteredModel",
    "Signature",
    "check_alias",
    "check_model_name",
]

#: where a training run stores its model and the model's metadata, among its artifacts
MODEL_PATH = "model/model.skops"
MODEL_META_PATH = "model/meta.json"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
#: alias names: letters, digits, ``_`` and ``-``; not all digits (``NAME/3`` names a version)
ALIAS_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")


def check_model_name(name: str) -> str:
    """``name`` when it is a valid registered-model name; InvalidInput otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"model name {name!r} must be 1-128 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit",
            field="name",
        )
    return name


def check_alias(alias: str) -> str:
    """``alias`` when it is a valid alias name; InvalidInput otherwise."""
    if not isinstance(alias, str) or not ALIAS_PATTERN.match(alias):
        raise InvalidInput(
            f"alias {alias!r} must start with a letter or '_' and hold only letters, digits, '_' or '-' "
            "(at most 64 characters), e.g. production",
            field="alias",
        )
    return alias


@dataclass(frozen=True)
class ModelRef:
    """A way to name one model version: ``NAME/3`` (a version), ``NAME@alias``, or ``NAME`` (latest)."""

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str, version: int | str | None = None) -> ModelRef:
        """Parse ``NAME``, ``NAME/3``, ``NAME@alias`` (and an optional separate ``version``).

        Raises:
            InvalidInput: malformed reference, version not a positive integer, or both an
                alias and a version given.
        """
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("a model reference is NAME, NAME/VERSION or NAME@ALIAS", field="model")
        text = text.strip()
        alias: str | None = None
        number: int | None = None
        if "@" in text:
            text, alias = text.split("@", 1)
            check_alias(alias)
        elif "/" in text:
            text, raw = text.rsplit("/", 1)
            number = _version(raw)
        if version is not None:
            if alias is not None or number is not None:
                raise InvalidInput(
                    "give the version either in the reference (NAME/3, NAME@alias) or separately, not both",
                    field="version",
                )
            number = _version(version)
        return cls(check_model_name(text), number, alias)

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        if self.version is not None:
            return f"{self.name}/{self.version}"
        return self.name


def missing_alias(name: str, alias: str, aliases: Sequence[str]) -> NotFound:
    """NotFound for an alias a model does not have: the closest existing one suggested ("did you
    mean 'production'?"), else the model's aliases and how to set one."""
    import difflib

    close = difflib.get_close_matches(alias, list(aliases), n=1, cutoff=0.6)
    if close:
        hint = f"did you mean {close[0]!r}?"
    elif aliases:
        hint = f"its aliases: {', '.join(sorted(aliases))}"
    else:
        hint = f"it has none; set one with: carnet models alias {name} {alias} VERSION"
    return NotFound(f"model {name!r} has no alias {alias!r}; {hint}", field="alias")


def _version(raw: int | str) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if value < 1 or isinstance(raw, bool):
        raise InvalidInput(f"model version must be a positive integer, got {raw!r}", field="version")
    return value


@dataclass(frozen=True)
class ColumnSpec:
    """One input or output column of a signature: its name and dtype (pandas dtype string)."""

    name: str
    dtype: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "dtype": self.dtype}


@dataclass(frozen=True)
class Signature:
    """What a model takes and returns: input columns with dtypes, and its outputs.

    A reinforcement-learning policy also carries its ``spaces``: the observation space its
    input columns flatten and the action space it answers in (kind, shape, dtype, bounds, n).
    A model trained on de-identified columns carries its ``transforms`` (methods per column, the
    key's source and fingerprint): carnet applies them to raw inputs before the model sees them.
    """

    inputs: tuple[ColumnSpec, ...]
    outputs: tuple[ColumnSpec, ...] = ()
    spaces: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    transforms: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "inputs": [c.to_dict() for c in self.inputs],
            "outputs": [c.to_dict() for c in self.outputs],
        }
        if self.spaces:
            out["spaces"] = dict(self.spaces)
        if self.transforms:
            out["transforms"] = dict(self.transforms)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Signature:
        data = data or {}
        spaces = data.get("spaces")
        transforms = data.get("transforms")
        return cls(
            tuple(ColumnSpec(str(c["name"]), str(c["dtype"])) for c in data.get("inputs", [])),
            tuple(ColumnSpec(str(c["name"]), str(c["dtype"])) for c in data.get("outputs", [])),
            dict(spaces) if isinstance(spaces, dict) else None,
            dict(transforms) if isinstance(transforms, dict) else None,
        )

    def input_names(self) -> list[str]:
        return [c.name for c in self.inputs]


@dataclass(frozen=True)
class RegisteredModel:
    """A named model in a project; its versions are numbered from 1."""

    name: str
    project: str
    description: str
    created_at: float
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_version: int = 0


@dataclass(frozen=True)
class ModelVersion:
    """One immutable registered version of a model.

    ``artifact_digest`` is the content digest of the model file; loading verifies it.
    ``metrics`` are the source run's metrics at registration; ``datasets`` the
    ``name@version`` references the run read; ``reports`` maps report paths to digests.
    ``allow_pickle`` records the explicit opt-in a pickle-based flavor required.
    """

    name: str
    version: int
    flavor: str
    artifact_digest: str
    file_name: str
    run_id: str | None
    signature: Signature
    created_at: float
    created_by: str
    task: str | None = None
    description: str = ""
    input_example: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    reports: dict[str, str] = field(default_factory=dict)
    derived_from: int | None = None
    allow_pickle: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"
