"""What a drift comparison is asked and what it finds: the options, each column's verdict, the
dataset's verdict and the domain classifier's (computed by :mod:`carnet.monitoring.drift`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from carnet.errors import InvalidInput

__all__ = [
    "ADAPTIVE",
    "DISTANCES",
    "METHODS",
    "TESTS",
    "ColumnDrift",
    "DriftOptions",
    "DriftReport",
    "MultivariateResult",
]


#: Distance methods: drift when the statistic reaches the threshold.
DISTANCES = ("psi", "js", "wasserstein")


#: Test methods: drift when the p-value falls below the threshold.
TESTS = ("chi2", "ks")


METHODS = DISTANCES + TESTS


ADAPTIVE = "adaptive"


def _method(name: Any, where: str) -> str:
    m = ALIASES.get(name, name) if isinstance(name, str) else name
    if m not in METHODS:
        raise InvalidInput(
            f"unknown drift method {name!r} in {where}; choose one of {list(METHODS)}", field=where
        )
    return str(m)


def _number(value: Any, where: str, low: float, high: float, *, closed: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and (low <= value <= high if closed else low < value < high):
        return float(value)
    bounds = f"[{low}, {high}]" if closed else f"({low}, {high})"
    raise InvalidInput(f"{where} must be a number in {bounds}, got {value!r}", field=where)


@dataclass(frozen=True)
class DriftOptions:
    """How :func:`detect_drift` judges columns and the dataset.

    Attributes:
        methods: column kind (numeric, categorical, boolean) -> method; partial maps are merged
            over :data:`DEFAULT_METHODS`.
        column_methods: column -> method, overriding its kind's method.
        thresholds: method -> a fixed threshold or ``"adaptive"``; merged over
            :data:`DEFAULT_THRESHOLDS`. Adaptive applies to the distances (psi, js, wasserstein):
            mean + ``adaptive_k`` * std of the statistic of reference chunks against the reference.
        adaptive_k: the ``k`` of adaptive thresholds (default 3).
        significance: distances also need the two-sample chi-square (contingency form) on the
            same bins to give ``p < significance``, so that a distance that sampling noise explains
            (small samples) is not drift; None judges by the distance alone.
        drift_share: the dataset drifts when at least this share of feature columns drift.
        outputs: output columns to report apart; default the reference profile's.
        multivariate: run the domain-classifier check (opt-in; it trains a model).
        multivariate_threshold: the classifier's ROC AUC above which the data drift.
        multivariate_rows: rows per side the classifier sees at most.
        seed: seed of every random draw.
    """

    methods: Mapping[str, str] = field(default_factory=dict)
    column_methods: Mapping[str, str] = field(default_factory=dict)
    thresholds: Mapping[str, float | str] = field(default_factory=dict)
    adaptive_k: float = 3.0
    significance: float | None = 0.05
    drift_share: float = 0.5
    outputs: tuple[str, ...] | None = None
    multivariate: bool = False
    multivariate_threshold: float = 0.55
    multivariate_rows: int = 5000
    seed: int = 0

    def __post_init__(self) -> None:
        methods = dict(DEFAULT_METHODS)
        for kind, m in dict(self.methods).items():
            if kind not in METHODS_BY_KIND:
                raise InvalidInput(
                    f"methods has unknown column kind {kind!r}; use {list(METHODS_BY_KIND)}", field="methods"
                )
            methods[kind] = _method(m, f"methods.{kind}")
            if methods[kind] not in METHODS_BY_KIND[kind]:
                raise InvalidInput(
                    f"methods.{kind}: {m!r} does not apply to {kind} columns; "
                    f"use one of {list(METHODS_BY_KIND[kind])}",
                    field=f"methods.{kind}",
                )
        cols = {str(c): _method(m, f"column_methods.{c}") for c, m in dict(self.column_methods).items()}
        thresholds = dict(DEFAULT_THRESHOLDS)
        for m, t in dict(self.thresholds).items():
            key = _method(m, f"thresholds.{m}")
            where = f"thresholds.{m}"
            if t == ADAPTIVE:
                if key not in DISTANCES:
                    raise InvalidInput(
                        f"{where}: adaptive thresholds apply to {list(DISTANCES)}; "
                        f"{key} is judged by its p-value",
                        field=where,
                    )
                thresholds[key] = ADAPTIVE
            elif key in TESTS:
                thresholds[key] = _number(t, where, 0.0, 1.0)
            else:
                thresholds[key] = _number(t, where, 0.0, math.inf)
        set_ = object.__setattr__
        set_(self, "methods", methods)
        set_(self, "column_methods", cols)
        set_(self, "thresholds", thresholds)
        set_(self, "adaptive_k", _number(self.adaptive_k, "adaptive_k", 0.0, 100.0, closed=True))
        if self.significance is not None:
            set_(self, "significance", _number(self.significance, "significance", 0.0, 1.0))
        set_(self, "drift_share", _number(self.drift_share, "drift_share", 0.0, 1.0, closed=True))
        set_(
            self,
            "multivariate_threshold",
            _number(self.multivariate_threshold, "multivariate_threshold", 0.5, 1.0),
        )
        if not isinstance(self.multivariate, bool):
            raise InvalidInput("multivariate must be true or false", field="multivariate")
        rows = self.multivariate_rows
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 20:
            raise InvalidInput(
                f"multivariate_rows must be an integer >= 20, got {rows!r}", field="multivariate_rows"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidInput(f"seed must be an integer, got {self.seed!r}", field="seed")
        if self.outputs is not None:
            outs = [self.outputs] if isinstance(self.outputs, str) else self.outputs
            set_(self, "outputs", tuple(str(o) for o in outs))

    def method_for(self, column: str, kind: str) -> str:
        """The method that judges ``column`` of kind ``kind``.

        Raises:
            InvalidInput: the column's override does not apply to its kind.
        """
        method = self.column_methods.get(column) or self.methods[kind]
        if method not in METHODS_BY_KIND[kind]:
            raise InvalidInput(
                f"method {method!r} does not apply to column {column!r}, which is {kind}; "
                f"use one of {list(METHODS_BY_KIND[kind])}",
                field=column,
            )
        return method

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_dict` accepts."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("methods", "column_methods", "thresholds"):
            out[key] = dict(out[key])
        out["outputs"] = list(self.outputs) if self.outputs is not None else None
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> DriftOptions:
        """Options from a plain dict (a monitor's settings); missing keys keep their defaults.

        Raises:
            InvalidInput: an unknown key or a bad value, naming it.
        """
        if d is None:
            return cls()
        if not isinstance(d, Mapping):
            raise InvalidInput("drift options must be a mapping", field="options")
        known = {f.name for f in fields(cls)}
        for key in d:
            if key not in known:
                raise InvalidInput(f"unknown drift option {key!r}; known: {sorted(known)}", field=str(key))
        for key in ("methods", "column_methods", "thresholds"):
            if key in d and not isinstance(d[key], Mapping):
                raise InvalidInput(f"{key} must be a mapping", field=key)
        kwargs = dict(d)
        if kwargs.get("outputs") is not None:
            kwargs["outputs"] = tuple(kwargs["outputs"])
        return cls(**kwargs)


@dataclass(frozen=True)
class MultivariateResult:
    """The domain classifier's verdict.

    ``auc`` is the out-of-fold ROC AUC; ``p_value`` is its one-sided p-value against 0.5 under no
    drift (normal approximation of the Mann-Whitney statistic); ``drifted`` when ``auc >
    threshold`` and, if a significance level is set, ``p_value`` is below it.
    """

    method: str
    auc: float
    threshold: float
    p_value: float
    drifted: bool
    reference_rows: int
    current_rows: int
    columns: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["columns"] = list(self.columns)
        return out


def _json_float(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True)
class ColumnDrift:
    """The drift verdict of one column.

    ``statistic`` is the method's value (a distance, or the test statistic of chi2/ks);
    ``p_value`` is the test's p-value for chi2/ks, and for distances the p-value of the
    significance check (chi-square on the same bins), None when that check is off. ``threshold``
    is the distance threshold, or the p-value level for tests; ``adaptive`` says it came from the
    reference chunks. ``labels`` and the shares describe the bins (categories) for plots;
    ``note`` says why a column could not be judged.
    """

    column: str
    kind: str
    method: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool
    adaptive: bool = False
    output: bool = False
    labels: tuple[str, ...] = ()
    reference_shares: tuple[float, ...] = ()
    current_shares: tuple[float, ...] = ()
    reference_missing: float = 0.0
    current_missing: float = 0.0
    note: str | None = None
    #: the p-value level a distance's significance check used (None: no check; for a test the
    #: level is ``threshold``)
    significance: float | None = None
    #: what made the verdict: ``statistic`` (a distance below its threshold), ``p-value`` (a test,
    #: or a distance over its threshold that the significance check did not confirm), ``both``
    #: (a distance over its threshold, confirmed), or ``note`` (not judged)
    decided_by: str = "note"

    @property
    def statistic_threshold(self) -> float | None:
        """The threshold the statistic is compared with (None for a test, judged by its p-value)."""
        return self.threshold if self.method in DISTANCES else None

    @property
    def p_threshold(self) -> float | None:
        """The level the p-value must fall below (None when the p-value does not decide)."""
        return self.significance if self.method in DISTANCES else self.threshold

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "column": self.column,
            "kind": self.kind,
            "method": self.method,
            "statistic": _json_float(self.statistic),
            "p_value": _json_float(self.p_value),
            "threshold": self.threshold,
            "adaptive": self.adaptive,
            "drifted": self.drifted,
            "output": self.output,
            "labels": list(self.labels),
            "reference_shares": list(self.reference_shares),
            "current_shares": list(self.current_shares),
            "reference_missing": self.reference_missing,
            "current_missing": self.current_missing,
            "note": self.note,
            "statistic_threshold": self.statistic_threshold,
            "p_threshold": self.p_threshold,
            "decided_by": self.decided_by,
        }


@dataclass(frozen=True)
class DriftReport:
    """Drift of a dataset: feature columns, output columns, the dataset verdict.

    ``share_drifted`` is the share of drifted feature columns; ``dataset_drift`` is true when it
    reaches ``drift_share`` or when the multivariate check (if run) found drift.
    """

    columns: tuple[ColumnDrift, ...]
    outputs: tuple[ColumnDrift, ...]
    share_drifted: float
    dataset_drift: bool
    drift_share: float
    multivariate: MultivariateResult | None
    reference_rows: int
    current_rows: int
    options: DriftOptions

    @property
    def drifted_columns(self) -> tuple[str, ...]:
        """Names of the drifted feature columns."""
        return tuple(c.column for c in self.columns if c.drifted)

    @property
    def drifted_outputs(self) -> tuple[str, ...]:
        """Names of the drifted output columns."""
        return tuple(c.column for c in self.outputs if c.drifted)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "columns": [c.to_dict() for c in self.columns],
            "outputs": [c.to_dict() for c in self.outputs],
            "share_drifted": self.share_drifted,
            "drifted_columns": list(self.drifted_columns),
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "multivariate": self.multivariate.to_dict() if self.multivariate is not None else None,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "options": self.options.to_dict(),
        }


#: Default method per column kind: an effect size, guarded by a significance test (see DriftOptions).
DEFAULT_METHODS: dict[str, str] = {"numeric": "wasserstein", "categorical": "js", "boolean": "js"}


#: Fixed thresholds: distances drift at or above them, tests below them (a p-value).
DEFAULT_THRESHOLDS: dict[str, float | str] = {
    "psi": 0.2,
    "js": 0.1,
    "wasserstein": 0.1,
    "chi2": 0.05,
    "ks": 0.05,
}


METHODS_BY_KIND: dict[str, tuple[str, ...]] = {
    "numeric": METHODS,
    "categorical": ("psi", "js", "chi2"),
    "boolean": ("psi", "js", "chi2"),
}


#: Other spellings accepted for the methods (Evidently's names among them).
ALIASES: dict[str, str] = {
    "jensenshannon": "js",
    "jensen_shannon": "js",
    "chisquare": "chi2",
    "chi_square": "chi2",
    "wasserstein_distance": "wasserstein",
    "wasserstein_normed": "wasserstein",
    "kolmogorov_smirnov": "ks",
}
