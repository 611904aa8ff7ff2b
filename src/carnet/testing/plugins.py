"""Conformance checks for task, gate and notifier plugins (in the spirit of scikit-learn's
``check_estimator``): run them in your plugin's tests.

Each check runs the contract carnet relies on and raises ``AssertionError`` naming the first
violation; on success it returns a small report of what was checked. Example::

    from carnet.testing import check_task

    def test_my_task_honours_the_contract() -> None:
        report = check_task(MyTask(), frame, target="y")
        assert report["deterministic"]
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from carnet.errors import CarnetError, InvalidInput
from carnet.plugins.loader import PLUGIN_KINDS, protocol_members

__all__ = ["check_encoder", "check_gate", "check_notifier", "check_task"]

#: a setting no plugin has: validate() must refuse it
UNKNOWN_SETTING = "carnet_conformance_unknown_setting"


def _fail(kind: str, plugin: Any, message: str) -> AssertionError:
    return AssertionError(f"{kind} {getattr(plugin, 'name', plugin)!r}: {message}")


def _members(kind: str, plugin: Any) -> None:
    missing = [m for m in protocol_members(PLUGIN_KINDS[kind].protocol) if not hasattr(plugin, m)]
    if missing:
        raise _fail(kind, plugin, f"does not implement the {kind} protocol: missing {', '.join(missing)}")
    for attr in ("name", "description"):
        value = getattr(plugin, attr, None)
        if not isinstance(value, str) or not value.strip():
            raise _fail(kind, plugin, f"{attr} must be a non-empty string, got {value!r}")


def _refuses(kind: str, plugin: Any, call: Any, what: str) -> str:
    """Run ``call``; it must raise InvalidInput with a field. Returns the field."""
    try:
        call()
    except InvalidInput as exc:
        if not exc.field:
            raise _fail(kind, plugin, f"{what}: InvalidInput must name the field (field=...)") from exc
        return str(exc.field)
    except Exception as exc:  # noqa: BLE001 - anything but InvalidInput is the violation
        raise _fail(kind, plugin, f"{what} raised {type(exc).__name__} ({exc}), not InvalidInput") from exc
    raise _fail(kind, plugin, f"{what} was accepted; it must raise InvalidInput naming the field")


# -- tasks ----------------------------------------------------------------------------------------
def check_task(
    task: Any,
    frame: Any,
    target: str | None = None,
    *,
    model: str | None = None,
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Check that ``task`` honours the :class:`~carnet.plugins.api.Task` contract on ``frame``.

    Checks: the protocol members and their types, the family, the metrics (known to carnet's
    evaluation for that family, primary metric with its direction), the models (the default one
    resolves), ``check_target`` accepting the data and refusing a missing target column with
    InvalidInput, the default split (valid, disjoint row positions), a full fit / predict / truth /
    score through carnet's training engine, determinism with a seed, and safe persistence (the
    fitted model stored by an automatic flavor, never pickle, predicting the same after loading).

    Args:
        task: the task instance under test.
        frame: rows to train and evaluate on (features and the target).
        target: the target column (None for an unsupervised task).
        model: a model name the task accepts (default: its default model).
        options: task options (``task_options`` of a spec).
        seed: the spec's seed.

    Returns:
        A report: name, family, metrics, the model, the scores, ``deterministic``, the flavor.

    Raises:
        AssertionError: naming the first violation.
    """
    from carnet.domain.training import ModelSpec, TrainSpec
    from carnet.evaluation.catalog import metric_names
    from carnet.plugins.api import EVALUATION_FAMILIES, default_split
    from carnet.services.training import MetricScorer
    from carnet.training import known_models

    _members("task", task)
    for attr in ("supervised", "tabular"):
        if not isinstance(getattr(task, attr), bool):
            raise _fail("task", task, f"{attr} must be a bool, got {getattr(task, attr)!r}")
    if task.family not in EVALUATION_FAMILIES:
        raise _fail("task", task, f"family {task.family!r} is not one of {', '.join(EVALUATION_FAMILIES)}")
    known = set(metric_names(task.family))
    metrics = list(task.default_metrics())
    if not metrics or not all(isinstance(m, str) for m in metrics):
        raise _fail("task", task, f"default_metrics() must be a non-empty list of names, got {metrics!r}")
    unknown = [m for m in metrics if m not in known]
    if unknown:
        raise _fail("task", task, f"default_metrics() names metrics {task.family} does not have: {unknown}")
    primary = task.primary_metric()
    if not (isinstance(primary, tuple) and len(primary) == 2 and primary[1] in ("maximize", "minimize")):
        raise _fail("task", task, f"primary_metric() must be (name, 'maximize'|'minimize'), got {primary!r}")
    if primary[0] not in known:
        raise _fail("task", task, f"primary metric {primary[0]!r} is not a {task.family} metric")
    names = known_models(task)
    chosen = model or task.default_model()
    if task.default_model() not in names:
        raise _fail("task", task, f"default_model() {task.default_model()!r} is not among its models {names}")
    opts = dict(options or {})
    try:
        task.check_target(frame, target, opts)
    except Exception as exc:  # noqa: BLE001 - reported as a violation
        raise _fail("task", task, f"check_target refused the conformance data: {exc}") from exc
    if task.supervised:
        _refuses(
            "task",
            task,
            lambda: task.check_target(frame, "carnet_conformance_missing_column", opts),
            "check_target with a target column the data lacks",
        )
    spec = TrainSpec(
        dataset="conformance",
        task=task.name,
        target=target,
        model=ModelSpec(chosen),
        split=default_split(task),
        seed=seed,
        task_options=opts,
    )
    scorer = MetricScorer(task.family, tuple(metrics), opts)
    first = _fit(task, spec, frame, scorer)
    _check_split(task, first, len(frame))
    second = _fit(task, spec, frame, scorer)
    deterministic = _same_scores(first.scores, second.scores)
    if not deterministic:
        raise _fail(
            "task",
            task,
            f"two fits with seed {seed} scored differently: {first.scores} vs {second.scores}; "
            "seed the model and the split",
        )
    labelled = primary[0] in first.scores or target is not None
    if labelled and not math.isfinite(float(first.scores.get(primary[0], math.nan))):
        raise _fail("task", task, f"the primary metric {primary[0]} is not finite: {first.scores}")
    if not any(math.isfinite(float(v)) for v in first.scores.values()):
        raise _fail("task", task, f"no metric is finite: {first.scores}")
    flavor = _round_trip(task, first, frame, opts)
    return {
        "task": task.name,
        "family": task.family,
        "metrics": metrics,
        "model": chosen,
        "scores": first.scores,
        "deterministic": deterministic,
        "flavor": flavor,
    }


def _fit(task: Any, spec: Any, frame: Any, scorer: Any) -> Any:
    from carnet.training import fit_and_evaluate

    try:
        return fit_and_evaluate(task, spec, frame, scorer=scorer)
    except CarnetError as exc:
        raise _fail("task", task, f"training on the conformance data failed: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - reported as a violation
        raise _fail("task", task, f"fit/predict/truth crashed: {type(exc).__name__}: {exc}") from exc


def _check_split(task: Any, result: Any, rows: int) -> None:
    import numpy as np

    for fold in result.folds:
        train, test = np.asarray(fold.train_index), np.asarray(fold.test_index)
        if train.dtype.kind not in "iu" or test.dtype.kind not in "iu":
            raise _fail("task", task, "split() must return integer row positions")
        if len(test) == 0 or len(train) == 0:
            raise _fail("task", task, "split() returned an empty train or test part")
        if train.min() < 0 or test.min() < 0 or max(train.max(), test.max()) >= rows:
            raise _fail("task", task, "split() returned positions outside the frame")
        if task.supervised and np.intersect1d(train, test).size and result.spec.split.kind != "none":
            raise _fail("task", task, "split() put the same rows in train and test")
        predicted = fold.predictions.y_pred
        if predicted is not None and len(np.asarray(predicted)) != len(test):
            raise _fail("task", task, "predict() returned a number of predictions that is not the test rows'")


def _same_scores(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    if set(a) != set(b):
        return False
    return all((math.isnan(a[k]) and math.isnan(b[k])) or math.isclose(a[k], b[k], rel_tol=1e-9) for k in a)


def _round_trip(task: Any, result: Any, frame: Any, options: dict[str, Any]) -> str:
    import numpy as np

    from carnet.flavors import flavor_for
    from carnet.plugins.loader import registry

    try:
        flavor = flavor_for(result.fitted)
    except Exception as exc:  # noqa: BLE001 - reported as a violation
        raise _fail("task", task, f"no flavor stores the fitted model safely: {exc}") from exc
    if flavor.requires_opt_in:
        raise _fail("task", task, f"the fitted model needs flavor {flavor.name!r}, which runs code to load")
    loaded = registry("flavor").get(flavor.name).loads(flavor.dumps(result.fitted))
    rows = frame.iloc[result.holdout.test_index][result.features]
    before, after = task.predict(result.fitted, rows, options), task.predict(loaded, rows, options)
    if before.y_pred is not None and not np.array_equal(
        np.asarray(before.y_pred, dtype=object), np.asarray(after.y_pred, dtype=object)
    ):
        raise _fail("task", task, f"the model loaded from flavor {flavor.name!r} predicts differently")
    return str(flavor.name)


# -- gates ----------------------------------------------------------------------------------------
def check_gate(
    gate: Any,
    config: dict[str, Any],
    *,
    task: Any,
    model: Any,
    frame: Any,
    target: str | None = None,
    incumbent: Any = None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check that ``gate`` honours the :class:`~carnet.plugins.api.Gate` contract.

    Checks: the protocol members, ``validate(config)`` accepting ``config`` and refusing an
    unknown setting with InvalidInput naming it, ``check`` returning a ``GateResult`` whose
    details are JSON data, the same verdict twice (determinism), and a candidate whose
    ``predict`` crashes giving a result, never an exception.

    Args:
        gate: the gate instance under test.
        config: a valid configuration of the gate (as in a policy).
        task: the candidate's task plugin; ``model``: the fitted candidate; ``frame``: the
            evaluation rows (features and ``target``); ``incumbent``: a fitted incumbent, if any.

    Returns:
        A report: name, the verdict, what it measured, ``deterministic``, the crash verdict.

    Raises:
        AssertionError: naming the first violation.
    """
    from carnet.domain.policies import GateResult

    _members("gate", gate)
    try:
        gate.validate(dict(config))
    except Exception as exc:  # noqa: BLE001 - reported as a violation
        raise _fail("gate", gate, f"validate refused the given config {config}: {exc}") from exc
    _refuses(
        "gate",
        gate,
        lambda: gate.validate({**config, UNKNOWN_SETTING: 1}),
        f"validate with an unknown setting {UNKNOWN_SETTING!r}",
    )
    ctx = _context(task, model, frame, target, incumbent, options)
    results = []
    for _ in range(2):
        try:
            result = gate.check(dict(config), ctx)
        except Exception as exc:  # noqa: BLE001 - a gate never raises
            raise _fail(
                "gate", gate, f"check raised {type(exc).__name__}: {exc}; return a failed GateResult"
            ) from exc
        if not isinstance(result, GateResult):
            raise _fail("gate", gate, f"check returned {type(result).__name__}, not a GateResult")
        if not isinstance(result.passed, bool) or not result.gate or not result.type:
            raise _fail("gate", gate, f"the GateResult needs gate, type and a bool passed: {result}")
        try:
            json.dumps(result.details)
        except (TypeError, ValueError) as exc:
            raise _fail("gate", gate, f"GateResult.details must be JSON data: {exc}") from exc
        results.append(result)
        ctx = _context(task, model, frame, target, incumbent, options)
    deterministic = (results[0].passed, results[0].measured) == (results[1].passed, results[1].measured)
    if not deterministic:
        raise _fail("gate", gate, f"two checks disagree: {results[0].measured!r} vs {results[1].measured!r}")
    broken = _context(task, _Broken(model), frame, target, incumbent, options)
    try:
        crashed = gate.check(dict(config), broken)
    except Exception as exc:  # noqa: BLE001 - a crashing model is a failed gate, not an exception
        raise _fail(
            "gate",
            gate,
            f"check raised {type(exc).__name__} when the candidate crashed; return a failed result",
        ) from exc
    return {
        "gate": gate.name,
        "passed": results[0].passed,
        "measured": results[0].measured,
        "deterministic": deterministic,
        "with_a_crashing_model": {"passed": crashed.passed, "error": crashed.error},
    }


class _Broken:
    """A candidate whose every prediction fails (the gate must report, not raise)."""

    def __init__(self, model: Any) -> None:
        self.classes_ = getattr(model, "classes_", None)

    def predict(self, X: Any) -> Any:
        raise RuntimeError("the candidate crashed (conformance check)")

    def predict_proba(self, X: Any) -> Any:
        raise RuntimeError("the candidate crashed (conformance check)")


def _context(task: Any, model: Any, frame: Any, target: str | None, incumbent: Any, options: Any) -> Any:
    import time

    from carnet.domain.models import ColumnSpec, ModelVersion, Signature
    from carnet.gates import GateContext

    features = [c for c in frame.columns if c != target]
    signature = Signature(tuple(ColumnSpec(c, str(frame[c].dtype)) for c in features))

    def version(number: int) -> ModelVersion:
        return ModelVersion(
            name="conformance",
            version=number,
            flavor="sklearn",
            artifact_digest="blake3:" + "0" * 64,
            file_name="model",
            run_id=None,
            signature=signature,
            created_at=time.time(),
            created_by="conformance",
            task=task.name,
            extra={"target": target, "family": task.family},
        )

    return GateContext(
        task=task,
        candidate=model,
        candidate_version=version(2),
        alias="production",
        frame=frame,
        features=features,
        target=target,
        options=dict(options or {}),
        incumbent=incumbent,
        incumbent_version=version(1) if incumbent is not None else None,
        training_profile=_profile(frame),
        training_loader=lambda columns=None: frame if columns is None else frame[columns],
    )


def _profile(frame: Any) -> dict[str, Any]:
    """The column profiles of ``frame`` as a dataset version would store them (PII masked)."""
    import pyarrow as pa

    from carnet.data.profiling import TableProfiler
    from carnet.privacy import mask_profile, scan_frame

    table = pa.Table.from_pandas(frame, preserve_index=False)
    profiler = TableProfiler(table.schema)
    profiler.update(table)
    found = {f.column: f for f in scan_frame(frame)}
    return {p.name: mask_profile(p, found[p.name]) if p.name in found else p for p in profiler.finish()}


# -- notifiers ------------------------------------------------------------------------------------
def check_notifier(
    notifier: Any,
    config: dict[str, Any],
    *,
    failing_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Check that ``notifier`` honours the :class:`~carnet.plugins.api.Notifier` contract.

    Checks: the protocol members, ``validate(config)`` accepting ``config`` and refusing an
    unknown setting with InvalidInput naming it, ``send`` delivering a sample ``alert.opened``
    event, and, given ``failing_config`` (a valid config whose delivery cannot succeed, e.g. a
    closed port), ``send`` raising instead of failing silently.

    Returns:
        A report: name, ``delivered``, and the error the failing delivery raised.

    Raises:
        AssertionError: naming the first violation.
    """
    _members("notifier", notifier)
    try:
        notifier.validate(dict(config))
    except Exception as exc:  # noqa: BLE001 - reported as a violation
        raise _fail("notifier", notifier, f"validate refused the given config {config}: {exc}") from exc
    _refuses(
        "notifier",
        notifier,
        lambda: notifier.validate({**config, UNKNOWN_SETTING: 1}),
        f"validate with an unknown setting {UNKNOWN_SETTING!r}",
    )
    event = sample_event()
    try:
        notifier.send(dict(config), event)
    except Exception as exc:  # noqa: BLE001 - reported as a violation
        raise _fail(
            "notifier", notifier, f"send failed with a valid config: {type(exc).__name__}: {exc}"
        ) from exc
    report: dict[str, Any] = {"notifier": notifier.name, "delivered": True, "failure": None}
    if failing_config is not None:
        try:
            notifier.send(dict(failing_config), event)
        except Exception as exc:  # noqa: BLE001 - the expected outcome: a failure raises
            report["failure"] = f"{type(exc).__name__}: {exc}"
        else:
            raise _fail("notifier", notifier, "send did not raise for a delivery that cannot succeed")
    return report


def sample_event() -> dict[str, Any]:
    """An ``alert.opened`` event as monitoring sends it."""
    return {
        "event": "alert.opened",
        "alert": {"id": 1, "rule": "drift_share > 0.3", "status": "open", "value": 0.42, "window": 3},
        "monitor": "churn-prod",
        "model": "churn@production",
        "message": "drift_share 0.42 > 0.3 in window 3 of churn-prod",
    }


# -- encoders -------------------------------------------------------------------------------------
SAMPLE_TEXTS = [
    "the parcel arrived on time and works perfectly",
    "terrible support, the screen was broken",
    "",
    "Ünïcode, punctuation!? and numbers 42 3.14",
    "the parcel arrived on time and works perfectly",
]


def check_encoder(
    encoder: Any, params: dict[str, Any] | None = None, texts: list[str] | None = None
) -> dict[str, Any]:
    """Check that ``encoder`` honours the :class:`~carnet.plugins.api.Encoder` contract.

    Checks: the protocol members; ``validate`` accepting ``params`` and refusing an unknown setting
    with InvalidInput naming it; ``identity`` naming a package and a version; vectors of shape
    ``(n, d)``, finite, the same for the same text, for an empty text, and whatever the batch;
    two builds giving the same vectors (determinism); and a pipeline step over it surviving a
    round trip through carnet's safe model format with the same vectors.

    Returns:
        A report: name, dimension, identity, ``trainable``.

    Raises:
        AssertionError: naming the first violation.
    """
    import numpy as np

    from carnet.flavors import flavor_for
    from carnet.plugins.loader import registry
    from carnet.training.text import TextEmbedding

    _members("encoder", encoder)
    settings = dict(params or {})
    if not isinstance(encoder.trainable, bool):
        raise _fail("encoder", encoder, f"trainable must be a bool, got {encoder.trainable!r}")
    try:
        encoder.validate(dict(settings))
    except Exception as exc:  # noqa: BLE001 - reported as a violation
        raise _fail("encoder", encoder, f"validate refused the given params {settings}: {exc}") from exc
    _refuses(
        "encoder",
        encoder,
        lambda: encoder.validate({**settings, UNKNOWN_SETTING: 1}),
        "validate with an unknown setting",
    )
    identity = encoder.identity(dict(settings))
    if not isinstance(identity, dict) or not identity.get("package") or not identity.get("version"):
        raise _fail("encoder", encoder, f"identity must name a package and a version, got {identity!r}")
    corpus = list(texts or SAMPLE_TEXTS)
    first = np.asarray(_vectors(encoder, settings, corpus), dtype=float)
    if first.ndim != 2 or first.shape[0] != len(corpus) or first.shape[1] < 1:
        raise _fail("encoder", encoder, f"transform must give (n, d) vectors, got shape {first.shape}")
    if not np.isfinite(first).all():
        raise _fail("encoder", encoder, "transform gave NaN or infinite values (an empty text included)")
    second = np.asarray(_vectors(encoder, settings, corpus), dtype=float)
    if not np.allclose(first, second, atol=1e-5):
        raise _fail("encoder", encoder, "two builds with the same settings give different vectors")
    if corpus[0] == corpus[-1] and not np.allclose(first[0], first[-1], atol=1e-5):
        raise _fail("encoder", encoder, "the same text gave different vectors")
    fitted = encoder.transformer(dict(settings)).fit(corpus)
    alone = np.asarray(_dense(fitted.transform(corpus[:2])), dtype=float)
    if not np.allclose(alone, first[:2], atol=1e-4):
        raise _fail("encoder", encoder, "a text's vector depends on the other texts of the batch")
    previous = registry("encoder").names()
    if encoder.name not in previous:
        registry("encoder").register(encoder.name, encoder)
    step = TextEmbedding(encoder.name, settings or None).fit(corpus)
    flavor = flavor_for(step)
    loaded = registry("flavor").get(flavor.name).loads(flavor.dumps(step))
    if not np.allclose(loaded.transform(corpus), step.transform(corpus), atol=1e-5):
        raise _fail("encoder", encoder, "a pipeline step over it gives other vectors after a save and load")
    return {
        "encoder": encoder.name,
        "dimension": int(first.shape[1]),
        "identity": identity,
        "trainable": encoder.trainable,
    }


def _dense(values: Any) -> Any:
    return values.toarray() if hasattr(values, "toarray") else values


def _vectors(encoder: Any, settings: dict[str, Any], corpus: list[str]) -> Any:
    try:
        fitted = encoder.transformer(dict(settings)).fit(corpus)
        return _dense(fitted.transform(corpus))
    except Exception as exc:  # noqa: BLE001 - reported as a violation
        raise _fail(
            "encoder", encoder, f"fit/transform failed on sample texts: {type(exc).__name__}: {exc}"
        ) from exc
