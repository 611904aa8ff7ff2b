"""The ``stress`` gate: named perturbations of the evaluation data, each with a degradation limit.

Scenarios add Gaussian noise to numeric columns, blank out values, push values beyond the
training range, inject categories the model never saw, or keep only a subpopulation. The
candidate predicts each perturbed table once; the metric may not drop by more than the
scenario's ``max_degradation`` (absolute, or relative with ``relative: true``), and the model
must not crash on any of them. Every perturbation is seeded.

    gates:
      - type: stress
        metric: roc_auc
        scenarios:
          - {type: gaussian_noise, scale: 0.1, max_degradation: 0.02}
          - {type: missing_values, fraction: 0.2, max_degradation: 0.05}
          - {type: subpopulation, column: age, quantile: [0.0, 0.25], max_degradation: 0.1}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from carnet.domain.policies import GateResult
from carnet.errors import InvalidInput
from carnet.gates.scenarios import scenario_result

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from carnet.domain import ColumnProfile
    from carnet.gates.context import GateContext

__all__ = ["DEFAULT_SCENARIOS", "SCENARIOS", "StressGate", "default_scenarios", "perturb"]

#: scenario type -> its own settings and their defaults (``None`` = see the docs; required for
#: ``subpopulation.column``). Every scenario also takes ``max_degradation`` (required),
#: ``relative`` (false) and ``name``.
SCENARIOS: dict[str, dict[str, Any]] = {
    "gaussian_noise": {"scale": 0.1, "columns": None},
    "missing_values": {"fraction": 0.2, "columns": None},
    "out_of_range": {"factor": 1.5, "fraction": 0.2, "columns": None},
    "unseen_categories": {"fraction": 0.2, "columns": None},
    "subpopulation": {"column": None, "value": None, "values": None, "quantile": None},
}
#: what runs when a policy names no scenarios (those that apply to the model's columns)
DEFAULT_SCENARIOS: tuple[dict[str, Any], ...] = (
    {"type": "gaussian_noise", "scale": 0.1, "max_degradation": 0.05, "relative": True},
    {"type": "missing_values", "fraction": 0.1, "max_degradation": 0.05, "relative": True},
    {"type": "out_of_range", "factor": 1.5, "fraction": 0.05, "max_degradation": 0.1, "relative": True},
    {"type": "unseen_categories", "fraction": 0.1, "max_degradation": 0.05, "relative": True},
)
_COMMON = ("type", "name", "max_degradation", "relative")
_SETTINGS = ("metric", "scenarios")
_IGNORED = ("type", "name", "label", "description")
_NEEDS = {"gaussian_noise": "numeric", "out_of_range": "numeric", "unseen_categories": "categorical"}
_CRASH = "the model must not crash"


# -- perturbations -------------------------------------------------------------------------------


def _profile_number(profile: ColumnProfile | None, attr: str) -> float | None:
    value = getattr(profile, attr, None) if profile is not None else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _pick(rng: np.random.Generator, n: int, fraction: float) -> np.ndarray:
    """A boolean mask selecting ``round(fraction * n)`` rows at random."""
    import numpy as np

    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=min(n, round(fraction * n)), replace=False)] = True
    return mask


def _columns(scenario: Mapping[str, Any], kinds: Mapping[str, list[str]], frame: pd.DataFrame) -> list[str]:
    """The columns a scenario perturbs: its ``columns`` or the default of its type, checked."""
    kind = _NEEDS.get(str(scenario["type"]))
    default = (
        list(kinds.get(kind, []))
        if kind
        else [c for k in ("numeric", "categorical") for c in kinds.get(k, [])]
    )
    columns = list(scenario.get("columns") or default)
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise ValueError(f"column(s) {', '.join(map(repr, absent))} not in the evaluation data")
    if kind:
        wrong = [c for c in columns if c not in kinds.get(kind, [])]
        if wrong:
            raise ValueError(
                f"{scenario['type']} applies to {kind} columns; {', '.join(map(repr, wrong))} not"
            )
    return columns


def _numbers(series: pd.Series) -> np.ndarray:
    import numpy as np

    return np.asarray(series.to_numpy(dtype=float, na_value=np.nan), dtype=float)


def _unseen(series: pd.Series, profile: ColumnProfile | None) -> str:
    """A category absent from the evaluation column and from the training profile's top values."""
    known = {str(v) for v in series.dropna().unique()}
    known |= {str(v) for v, _ in getattr(profile, "top", None) or []}
    token, k = "__unseen__", 1
    while token in known:
        token, k = f"__unseen_{k}__", k + 1
    return token


def perturb(
    frame: pd.DataFrame,
    scenario: Mapping[str, Any],
    features: list[str],
    kinds: Mapping[str, list[str]] | None = None,
    training_profile: Mapping[str, ColumnProfile] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """A perturbed copy of ``frame`` for one scenario (columns other than the perturbed ones kept).

    ``gaussian_noise``: adds N(0, (scale * std)²) to the numeric columns (std of the training
    profile when known, else of ``frame``). ``missing_values``: blanks ``fraction`` of the values
    of each column (default: every feature). ``out_of_range``: moves ``fraction`` of the values
    of each numeric column to ``max + factor * range`` or ``min - factor * range`` (training
    range when known, else ``frame``'s; the side is drawn at random). ``unseen_categories``:
    replaces ``fraction`` of each categorical column with a category seen neither in ``frame``
    nor among the training profile's top values. ``subpopulation``: only the rows whose
    ``column`` equals ``value`` (or is one of ``values``, or lies between the ``quantile``
    bounds of ``frame``), with their original index.

    Args:
        frame: the evaluation rows.
        scenario: one scenario, e.g. ``{"type": "missing_values", "fraction": 0.2}``.
        features: the model's input columns.
        kinds: ``numeric`` / ``categorical`` feature lists (default: from the dtypes).
        training_profile: per-column profile of the training data (ranges, std, categories).
        seed: seeds every random choice.

    Raises:
        ValueError: unknown type, or a column that is absent or of the wrong kind.
    """
    import numpy as np
    import pandas as pd

    kind = str(scenario.get("type"))
    if kind not in SCENARIOS:
        raise ValueError(f"unknown scenario type {kind!r}; known: {', '.join(SCENARIOS)}")
    settings = {**SCENARIOS[kind], **{k: v for k, v in scenario.items() if v is not None}}
    if kinds is None:
        from carnet.training import column_kinds

        kinds = column_kinds(frame, features)
    profile = training_profile or {}
    rng = np.random.default_rng(seed)
    n = len(frame)
    if kind == "subpopulation":
        return frame[_subpopulation(frame, settings)].copy()
    out = frame.copy()
    for column in _columns(settings, kinds, frame):
        series = frame[column]
        if kind == "gaussian_noise":
            values = _numbers(series)
            std = _profile_number(profile.get(column), "std")
            std = float(np.nanstd(values)) if std is None else std
            noisy = values + rng.normal(0.0, float(settings["scale"]) * (std if std > 0 else 0.0), size=n)
            out[column] = pd.Series(noisy, index=frame.index)
            continue
        mask = _pick(rng, n, float(settings["fraction"]))
        if kind == "missing_values":
            out[column] = series.astype(object).mask(mask) if series.dtype == bool else series.mask(mask)
        elif kind == "out_of_range":
            values = _numbers(series)
            low = _profile_number(profile.get(column), "min")
            high = _profile_number(profile.get(column), "max")
            low = float(np.nanmin(values)) if low is None else low
            high = float(np.nanmax(values)) if high is None else high
            span = (high - low) or max(abs(high), 1.0)
            shift = float(settings["factor"]) * span
            beyond = np.where(rng.random(n) < 0.5, low - shift, high + shift)
            out[column] = pd.Series(np.where(mask, beyond, values), index=frame.index)
        else:  # unseen_categories
            token = _unseen(series, profile.get(column))
            if isinstance(series.dtype, pd.CategoricalDtype):
                series = series.cat.add_categories([token])
            elif series.dtype == bool:
                series = series.astype(object)
            out[column] = series.mask(mask, token)
    return out


def _subpopulation(frame: pd.DataFrame, settings: Mapping[str, Any]) -> np.ndarray:
    """The rows of a ``subpopulation`` scenario, as a boolean mask."""
    import numpy as np

    column = settings.get("column")
    if column not in frame.columns:
        raise ValueError(f"subpopulation column {column!r} not in the evaluation data")
    series = frame[column]
    if settings.get("quantile") is not None:
        values = _numbers(series)
        low, high = np.nanquantile(values, [float(q) for q in settings["quantile"]])
        return np.asarray((values >= low) & (values <= high))
    wanted = settings["values"] if settings.get("values") is not None else [settings.get("value")]
    mask = series.isin(wanted).to_numpy()
    if not mask.any():  # "1" in a policy matches 1 in the data
        mask = series.astype(str).isin([str(v) for v in wanted]).to_numpy()
    return np.asarray(mask, dtype=bool)


def default_scenarios(kinds: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    """The :data:`DEFAULT_SCENARIOS` that apply to a model's columns (``kinds`` as :func:`perturb`)."""
    numeric, categorical = bool(kinds.get("numeric")), bool(kinds.get("categorical"))
    applies = {
        "gaussian_noise": numeric,
        "out_of_range": numeric,
        "unseen_categories": categorical,
        "missing_values": numeric or categorical,
    }
    return [dict(s) for s in DEFAULT_SCENARIOS if applies.get(str(s["type"]), True)]


# -- settings ------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _check_scenario(scenario: Any, where: str) -> None:
    """InvalidInput naming ``scenarios[i].<setting>`` for a bad scenario."""
    if not isinstance(scenario, dict):
        raise InvalidInput(f"{where} must be a mapping like {{type: missing_values, ...}}", field=where)
    from carnet.training.rl_stress import RL_SCENARIOS, check_rl_scenario

    kind = scenario.get("type")
    known_types = {**SCENARIOS, **RL_SCENARIOS}
    if kind not in known_types:
        raise InvalidInput(
            f"{where}.type must be one of {', '.join(SCENARIOS)} (data) or {', '.join(RL_SCENARIOS)} "
            f"(a policy's environment), got {kind!r}",
            field=f"{where}.type",
        )
    if kind in RL_SCENARIOS:
        check_rl_scenario(scenario, where)
    for key in scenario:
        if key not in _COMMON and key not in known_types[kind]:
            known = ", ".join((*_COMMON, *known_types[kind]))
            raise InvalidInput(f"unknown {kind} setting {key!r}; known: {known}", field=f"{where}.{key}")
    limit: Any = scenario.get("max_degradation")
    if not _is_number(limit) or limit < 0:
        raise InvalidInput(
            f"{where}.max_degradation is required: the largest metric drop allowed (a number >= 0), "
            f"got {limit!r}",
            field=f"{where}.max_degradation",
        )
    if not isinstance(scenario.get("relative", False), bool):
        raise InvalidInput(f"{where}.relative must be true or false", field=f"{where}.relative")
    for key in ("fraction", "scale", "factor"):
        if key in scenario and not (_is_number(scenario[key]) and scenario[key] > 0):
            raise InvalidInput(
                f"{where}.{key} must be a number > 0, got {scenario[key]!r}", field=f"{where}.{key}"
            )
    if "fraction" in scenario and scenario["fraction"] > 1:
        raise InvalidInput(
            f"{where}.fraction must be in (0, 1], got {scenario['fraction']!r}", field=f"{where}.fraction"
        )
    columns = scenario.get("columns")
    if columns is not None and (
        not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns)
    ):
        raise InvalidInput(
            f"{where}.columns must be a non-empty list of column names", field=f"{where}.columns"
        )
    if kind == "subpopulation":
        _check_subpopulation(scenario, where)


def _check_subpopulation(scenario: dict[str, Any], where: str) -> None:
    if not isinstance(scenario.get("column"), str):
        raise InvalidInput(
            f"{where}.column is required: the column that defines the subpopulation", field=f"{where}.column"
        )
    chosen = [k for k in ("value", "values", "quantile") if scenario.get(k) is not None]
    if len(chosen) != 1:
        raise InvalidInput(
            f"{where} needs exactly one of value, values or quantile (e.g. quantile: [0.0, 0.25])",
            field=f"{where}.value",
        )
    if "values" in chosen and (not isinstance(scenario["values"], list) or not scenario["values"]):
        raise InvalidInput(f"{where}.values must be a non-empty list", field=f"{where}.values")
    quantile = scenario.get("quantile")
    if quantile is not None and not (
        isinstance(quantile, list)
        and len(quantile) == 2
        and all(_is_number(q) for q in quantile)
        and 0 <= quantile[0] < quantile[1] <= 1
    ):
        raise InvalidInput(
            f"{where}.quantile must be [low, high] with 0 <= low < high <= 1, got {quantile!r}",
            field=f"{where}.quantile",
        )


# -- the gate ------------------------------------------------------------------------------------


def _fail(message: str, **details: Any) -> GateResult:
    return GateResult(gate="stress", type="stress", passed=False, error=message, details=details)


def _names(scenarios: list[dict[str, Any]]) -> list[str]:
    """Each scenario's ``name`` (default: its type), made unique with ``#2``, ``#3``..."""
    names: list[str] = []
    for scenario in scenarios:
        base = str(scenario.get("name") or scenario["type"])
        name, k = base, 2
        while name in names:
            name, k = f"{base}#{k}", k + 1
        names.append(name)
    return names


class StressGate:
    """Named perturbations of the evaluation data, each within a maximum metric degradation."""

    name = "stress"
    description = (
        "Gaussian noise, missing values, out-of-range values, unseen categories and subpopulations: "
        "the metric may not degrade beyond each scenario's limit and the model must not crash"
    )

    def validate(self, config: dict[str, Any]) -> None:
        """Check the settings; InvalidInput names the bad one (``scenarios[1].fraction``)."""
        for key in config:
            if key not in _SETTINGS and key not in _IGNORED:
                raise InvalidInput(
                    f"unknown stress setting {key!r}; known: {', '.join(_SETTINGS)}", field=key
                )
        if "metric" in config and not isinstance(config["metric"], str):
            raise InvalidInput("metric must be a metric name such as roc_auc or rmse", field="metric")
        scenarios = config.get("scenarios")
        if scenarios is None:
            return
        if not isinstance(scenarios, list) or not scenarios:
            raise InvalidInput(
                "scenarios must be a non-empty list, e.g. [{type: missing_values, fraction: 0.2, "
                "max_degradation: 0.05}]",
                field="scenarios",
            )
        for i, scenario in enumerate(scenarios):
            _check_scenario(scenario, f"scenarios[{i}]")

    def check(self, config: dict[str, Any], ctx: GateContext) -> GateResult:
        """Run every scenario on the candidate; never raises for a failing or crashing model."""
        from carnet.evaluation import get_metric, score
        from carnet.training import column_kinds

        family = ctx.task.family
        if family == "rl":  # a policy is stressed in its environment
            from carnet.gates.rl import rl_stress

            try:
                self.validate(config)
            except InvalidInput as exc:
                return _fail(f"{type(exc).__name__}: {exc}")
            return rl_stress(ctx, config, _names)
        try:
            self.validate(config)
            name = str(config.get("metric") or ctx.primary_metric()[0])
            greater = get_metric(family, name).greater_is_better
            frame = ctx.require_data()
            kinds = column_kinds(frame, ctx.features, ctx.options.get("date_columns", ()))
            base = score(family, name, ctx.truth(), ctx.predictions(), ctx.options)
        except Exception as exc:  # noqa: BLE001 - a model or data problem fails the gate
            return _fail(f"{type(exc).__name__}: {exc}")
        if not math.isfinite(base):
            return _fail(f"{name} is undefined on the evaluation data", metric=name)
        scenarios = list(config.get("scenarios") or default_scenarios(kinds))
        records = []
        for i, (label, scenario) in enumerate(zip(_names(scenarios), scenarios, strict=True)):
            record = self._run(ctx, scenario, label, kinds, i, base, name)
            records.append(record)
            frame, predictions = record.pop("_frame", None), record.pop("_pred", None)
            if record["error"] is None:
                try:
                    value = score(family, name, ctx.truth(frame), predictions, ctx.options)
                except Exception as exc:  # noqa: BLE001 - e.g. predictions the metric cannot read
                    record["error"] = f"cannot score the predictions: {type(exc).__name__}: {exc}"
                else:
                    self._judge(record, base, value, greater)
        errors = [f"{r['name']}: {r['error']}" for r in records if r["error"]]
        details = {"metric": name, "greater_is_better": greater, "base": base, "seed": ctx.seed}
        return scenario_result(self.name, records, details, error="; ".join(errors) or None)

    def _run(
        self,
        ctx: GateContext,
        scenario: dict[str, Any],
        label: str,
        kinds: Mapping[str, list[str]],
        index: int,
        base: float,
        metric: str,
    ) -> dict[str, Any]:
        """Perturb and predict one scenario; the record carries the error when either fails."""
        record: dict[str, Any] = {
            "name": label,
            "type": scenario["type"],
            "metric": metric,
            "base": base,
            "value": None,
            "degradation": None,
            "max_degradation": float(scenario["max_degradation"]),
            "relative": bool(scenario.get("relative", False)),
            "passed": False,
            "error": None,
            "rows": None,
            "settings": {k: v for k, v in scenario.items() if k not in _COMMON},
        }
        try:
            frame = perturb(
                ctx.require_data(), scenario, ctx.features, kinds, ctx.training_profile, seed=ctx.seed + index
            )
        except Exception as exc:  # noqa: BLE001 - a scenario that does not fit the data fails alone
            record["error"] = f"cannot build the scenario: {exc}"
            return record
        record["rows"] = len(frame)
        if not len(frame):
            record["error"] = "the scenario selects no rows"
            return record
        try:
            record["_pred"] = ctx.predict(frame)
        except Exception as exc:  # noqa: BLE001 - this is what the gate tests
            record["error"] = f"{_CRASH}, but it raised {type(exc).__name__}: {exc}"
            return record
        record["_frame"] = frame
        return record

    @staticmethod
    def _judge(record: dict[str, Any], base: float, value: float, greater: bool) -> None:
        """Fill value, degradation and verdict of a scenario that ran."""
        record["value"] = value
        if not math.isfinite(value):
            record["error"] = f"{record['metric']} is undefined on the {record['rows']} perturbed rows"
            return
        drop = base - value if greater else value - base
        if record["relative"]:
            drop = drop / abs(base) if base else (0.0 if drop <= 0 else math.inf)
        record["degradation"] = drop
        record["passed"] = drop <= record["max_degradation"] + 1e-12
